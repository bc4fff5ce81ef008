"""Each interpreter op (vectorised NumPy) against a direct loop transcription of the TFLite
Micro reference kernel, on hand-built single-op IR graphs. The loops use plain Python
ints and the reference MultiplyByQuantizedMultiplier from quant_reference.py; the
per-op constants come from quant/params.py, which is the contract both sides share."""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinycc_ml.interp.registry import IMPLEMENTATIONS
from tinycc_ml.ir import ops
from tinycc_ml.ir.graph import QuantParams
from tinycc_ml.quant import params

from interp_support import act, const, per_channel, random_int8, run_single
from quant_reference import c_div, clamp, ref_mbqm

QX = QuantParams.per_tensor(0.05, 7)
QY = QuantParams.per_tensor(0.11, -9)


def test_every_ir_op_has_an_implementation() -> None:
    assert set(IMPLEMENTATIONS) == {op.kind for op in ops.ALL_OPS}


# ---------------------------------------------------------------- Conv2d


def conv_out_size(size: int, k: int, s: int, d: int, p0: int, p1: int) -> int:
    return (size + p0 + p1 - d * (k - 1) - 1) // s + 1


def ref_conv(x, w, b, in_q, w_q, out_q, a: ops.Conv2d, out_shape):
    n_, c_, h_, w_ = x.shape
    o_, cg, kh, kw = w.shape
    og = o_ // a.groups
    req = params.conv_requant(in_q, w_q, out_q)
    out = np.zeros(out_shape, dtype=np.int8)
    for n, o, oy, ox in itertools.product(range(n_), range(o_), range(out_shape[2]), range(out_shape[3])):
        g = o // og
        acc = int(b[o]) if b is not None else 0
        for c, ky, kx in itertools.product(range(cg), range(kh), range(kw)):
            iy = oy * a.strides[0] - a.pads[0] + ky * a.dilations[0]
            ix = ox * a.strides[1] - a.pads[1] + kx * a.dilations[1]
            if 0 <= iy < h_ and 0 <= ix < w_:
                acc += (int(x[n, g * cg + c, iy, ix]) - in_q.zp) * int(w[o, c, ky, kx])
        ch = o if len(req.multipliers) > 1 else 0
        v = ref_mbqm(acc, req.multipliers[ch], req.shifts[ch]) + out_q.zp
        out[n, o, oy, ox] = clamp(v, a.act_min, a.act_max)
    return out


CONV_CASES = {
    "plain_pad1": dict(c=3, o=4, h=6, w=6, k=(3, 3), attrs=dict(pads=(1, 1, 1, 1))),
    "stride2_asym_pads": dict(c=3, o=4, h=7, w=6, k=(3, 3), attrs=dict(strides=(2, 2), pads=(0, 1, 1, 0))),
    "dilation2": dict(c=2, o=3, h=8, w=7, k=(3, 3), attrs=dict(dilations=(2, 2), pads=(2, 1, 2, 1))),
    "grouped": dict(c=4, o=6, h=5, w=5, k=(3, 3), attrs=dict(groups=2, pads=(1, 1, 1, 1))),
    "depthwise": dict(c=5, o=5, h=6, w=6, k=(3, 3), attrs=dict(groups=5, pads=(1, 1, 1, 1), strides=(2, 2))),
    "depthwise_mult2": dict(c=3, o=6, h=5, w=5, k=(3, 3), attrs=dict(groups=3, pads=(0, 0, 1, 1))),
    "pointwise_no_bias": dict(c=6, o=4, h=4, w=3, k=(1, 1), attrs=dict(), bias=False, per_tensor=True),
    "rect_kernel_stride": dict(c=2, o=3, h=7, w=9, k=(3, 1), attrs=dict(strides=(1, 2), pads=(1, 0, 1, 0))),
    "clamped_relu": dict(c=3, o=4, h=5, w=5, k=(3, 3), attrs=dict(act_min=-20, act_max=50)),
    "batch2": dict(c=2, o=2, h=4, w=4, k=(2, 2), attrs=dict(strides=(2, 2)), n=2),
}


def _conv_check(case: dict, seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = ops.Conv2d(**case["attrs"])
    n, c, h, w_, (kh, kw), o = case.get("n", 1), case["c"], case["h"], case["w"], case["k"], case["o"]
    x = random_int8(rng, (n, c, h, w_))
    w = random_int8(rng, (o, c // a.groups, kh, kw))
    b = rng.integers(-5000, 5000, size=o).astype(np.int32) if case.get("bias", True) else None
    w_q = QuantParams.per_tensor(0.004, 0) if case.get("per_tensor") else per_channel(rng.uniform(0.001, 0.01, o))
    oh = conv_out_size(h, kh, a.strides[0], a.dilations[0], a.pads[0], a.pads[2])
    ow = conv_out_size(w_, kw, a.strides[1], a.dilations[1], a.pads[1], a.pads[3])
    out_shape = (n, o, oh, ow)
    tx, ty = act("x", x.shape, QX), act("y", out_shape, QY)
    tw = const("w", w, w_q)
    tb = const("b", b) if b is not None else None
    got = run_single(a, [tx, tw, tb], ty, {"x": x})
    np.testing.assert_array_equal(got, ref_conv(x, w, b, QX, w_q, QY, a, out_shape))


@pytest.mark.parametrize("name", sorted(CONV_CASES))
def test_conv2d_matches_loop_reference(name: str) -> None:
    _conv_check(CONV_CASES[name], seed=sum(map(ord, name)))


@settings(max_examples=25, deadline=None)
@given(
    st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(1, 2), st.integers(1, 2),
    st.tuples(*[st.integers(0, 2)] * 4), st.integers(3, 7), st.sampled_from(["conv", "dw", "group"]),
    st.integers(0, 10_000),
)
def test_conv2d_random_geometry(kh, kw, s, d, cm, pads, size, kind, seed) -> None:
    c = {"conv": 3, "dw": 4, "group": 4}[kind]
    groups = {"conv": 1, "dw": 4, "group": 2}[kind]
    o = groups * cm if kind != "conv" else 3
    if conv_out_size(size, kh, s, d, pads[0], pads[2]) < 1 or conv_out_size(size, kw, s, d, pads[1], pads[3]) < 1:
        return
    case = dict(c=c, o=o, h=size, w=size, k=(kh, kw), attrs=dict(strides=(s, s), dilations=(d, d), pads=pads, groups=groups))
    _conv_check(case, seed)


# ---------------------------------------------------------------- FullyConnected


@pytest.mark.parametrize("variant", ["per_tensor", "per_channel", "weight_zero_point", "no_bias_batch3"])
def test_fully_connected_matches_loop_reference(variant: str) -> None:
    rng = np.random.default_rng(3)
    batch, k, m = (3 if variant == "no_bias_batch3" else 1), 17, 5
    x = random_int8(rng, (batch, k))
    w = random_int8(rng, (m, k))
    w_q = {
        "per_tensor": QuantParams.per_tensor(0.0037, 0),
        "per_channel": per_channel(rng.uniform(0.001, 0.01, m)),
        "weight_zero_point": QuantParams.per_tensor(0.0037, 5),
        "no_bias_batch3": QuantParams.per_tensor(0.0021, 0),
    }[variant]
    b = None if variant == "no_bias_batch3" else rng.integers(-3000, 3000, size=m).astype(np.int32)
    a = ops.FullyConnected(act_min=-100, act_max=120)
    got = run_single(a, [act("x", x.shape, QX), const("w", w, w_q), const("b", b) if b is not None else None],
                     act("y", (batch, m), QY), {"x": x})
    req = params.fully_connected_requant(QX, w_q, QY)
    expected = np.zeros((batch, m), dtype=np.int8)
    for i, j in itertools.product(range(batch), range(m)):
        zw = w_q.zero_point[j] if len(w_q.zero_point) > 1 else w_q.zero_point[0]
        acc = sum((int(x[i, t]) - QX.zp) * (int(w[j, t]) - zw) for t in range(k)) + (int(b[j]) if b is not None else 0)
        ch = j if len(req.multipliers) > 1 else 0
        expected[i, j] = clamp(ref_mbqm(acc, req.multipliers[ch], req.shifts[ch]) + QY.zp, -100, 120)
    np.testing.assert_array_equal(got, expected)


def test_fully_connected_per_tensor_multiplier_uses_float32_product() -> None:
    """TFLite FC: float32(s_in * s_w) then double; differs from conv's double product here."""
    s_in, s_w, s_out = 0.3910152316093445, 0.0036506282631307840, 0.3174796998500824
    qi, qw, qo = QuantParams.per_tensor(s_in, 0), QuantParams.per_tensor(s_w, 0), QuantParams.per_tensor(s_out, 0)
    fc = params.fully_connected_requant(qi, qw, qo)
    prod32 = float(np.float32(np.float32(qi.s) * np.float32(qw.s)))
    from tinycc_ml.quant.fixedpoint import quantize_multiplier
    assert (fc.multipliers[0], fc.shifts[0]) == quantize_multiplier(prod32 / qo.s)


# ---------------------------------------------------------------- Add / Mul


BROADCASTS = [((1, 4, 3, 3), (1, 4, 3, 3)), ((1, 4, 3, 3), (1, 4, 1, 1)), ((1, 1, 3, 3), (1, 4, 3, 3)), ((2, 5), (5,))]


def _binary_inputs(rng, sa, sb):
    return random_int8(rng, sa), random_int8(rng, sb), np.broadcast_shapes(sa, sb)


@pytest.mark.parametrize("shapes", BROADCASTS, ids=str)
def test_add_matches_loop_reference(shapes) -> None:
    rng = np.random.default_rng(5)
    qa, qb, qo = QuantParams.per_tensor(0.07, -3), QuantParams.per_tensor(0.031, 12), QuantParams.per_tensor(0.09, 4)
    a, b, out_shape = _binary_inputs(rng, *shapes)
    got = run_single(ops.Add(act_min=-120, act_max=126), [act("a", a.shape, qa), act("b", b.shape, qb)],
                     act("y", out_shape, qo), {"a": a, "b": b})
    p = params.add_params(qa, qb, qo)
    ab, bb = np.broadcast_to(a, out_shape), np.broadcast_to(b, out_shape)
    expected = np.zeros(out_shape, dtype=np.int8)
    for idx in np.ndindex(*out_shape):
        s1 = ref_mbqm((int(ab[idx]) + p.input1_offset) << 20, p.input1_multiplier, p.input1_shift)
        s2 = ref_mbqm((int(bb[idx]) + p.input2_offset) << 20, p.input2_multiplier, p.input2_shift)
        expected[idx] = clamp(ref_mbqm(s1 + s2, p.output_multiplier, p.output_shift) + p.output_offset, -120, 126)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("shapes", BROADCASTS, ids=str)
def test_mul_matches_loop_reference(shapes) -> None:
    rng = np.random.default_rng(6)
    qa, qb, qo = QuantParams.per_tensor(0.07, -3), QuantParams.per_tensor(0.0041, -128), QuantParams.per_tensor(0.05, 2)
    a, b, out_shape = _binary_inputs(rng, *shapes)
    got = run_single(ops.Mul(), [act("a", a.shape, qa), act("b", b.shape, qb)], act("y", out_shape, qo), {"a": a, "b": b})
    p = params.mul_params(qa, qb, qo)
    ab, bb = np.broadcast_to(a, out_shape), np.broadcast_to(b, out_shape)
    expected = np.zeros(out_shape, dtype=np.int8)
    for idx in np.ndindex(*out_shape):
        prod = (int(ab[idx]) + p.input1_offset) * (int(bb[idx]) + p.input2_offset)
        expected[idx] = clamp(ref_mbqm(prod, p.output_multiplier, p.output_shift) + p.output_offset, -128, 127)
    np.testing.assert_array_equal(got, expected)


# ---------------------------------------------------------------- pooling


def pool_out_size(size: int, k: int, s: int, p0: int, p1: int, ceil: bool) -> int:
    span = size + p0 + p1 - k
    return (-(-span // s) if ceil else span // s) + 1


def ref_avgpool(x, a: ops.AveragePool2d, in_q, out_q, out_shape):
    p = params.avgpool_params(in_q, out_q)
    n_, c_, h, w = x.shape
    out = np.zeros(out_shape, dtype=np.int8)
    for n, c, oy, ox in itertools.product(range(n_), range(c_), range(out_shape[2]), range(out_shape[3])):
        y0, x0 = oy * a.strides[0] - a.pads[0], ox * a.strides[1] - a.pads[1]
        acc = count = 0
        for iy, ix in itertools.product(range(y0, y0 + a.kernel[0]), range(x0, x0 + a.kernel[1])):
            inside = 0 <= iy < h and 0 <= ix < w
            in_pads = -a.pads[0] <= iy < h + a.pads[2] and -a.pads[1] <= ix < w + a.pads[3]
            if inside:
                acc += int(x[n, c, iy, ix]) - (in_q.zp if p.requantize else 0)
                count += 1
            elif a.count_include_pad and in_pads:
                acc += 0 if p.requantize else in_q.zp
                count += 1
        if p.requantize:
            acc = ref_mbqm(acc, p.multiplier, p.shift)
        v = c_div(acc + count // 2, count) if acc > 0 else c_div(acc - count // 2, count)
        out[n, c, oy, ox] = clamp(v + (out_q.zp if p.requantize else 0), a.act_min, a.act_max)
    return out


POOL_CASES = {
    "global": dict(h=5, w=4, k=(5, 4), s=(1, 1), pads=(0, 0, 0, 0)),
    "k3s2_pad1": dict(h=7, w=7, k=(3, 3), s=(2, 2), pads=(1, 1, 1, 1)),
    "k3s2_pad1_incl": dict(h=7, w=7, k=(3, 3), s=(2, 2), pads=(1, 1, 1, 1), incl=True),
    "ceil_mode": dict(h=6, w=7, k=(3, 3), s=(2, 2), pads=(0, 0, 0, 0), ceil=True),
    "ceil_mode_incl_asym": dict(h=6, w=7, k=(3, 2), s=(2, 2), pads=(1, 0, 0, 1), ceil=True, incl=True),
    "asym_pads": dict(h=5, w=6, k=(2, 3), s=(1, 2), pads=(0, 2, 1, 0)),
    "clamped": dict(h=4, w=4, k=(2, 2), s=(2, 2), pads=(0, 0, 0, 0), act=(-10, 60)),
}


def _pool_setup(case, seed):
    rng = np.random.default_rng(seed)
    x = random_int8(rng, (1, 3, case["h"], case["w"]))
    (kh, kw), (sh, sw), pads = case["k"], case["s"], case["pads"]
    ceil = case.get("ceil", False)
    oh = pool_out_size(case["h"], kh, sh, pads[0], pads[2], ceil)
    ow = pool_out_size(case["w"], kw, sw, pads[1], pads[3], ceil)
    lo, hi = case.get("act", (-128, 127))
    return x, (1, 3, oh, ow), dict(kernel=(kh, kw), strides=(sh, sw), pads=pads, act_min=lo, act_max=hi)


@pytest.mark.parametrize("requant", [False, True], ids=["same_quant", "requantize"])
@pytest.mark.parametrize("name", sorted(POOL_CASES))
def test_avgpool_matches_loop_reference(name: str, requant: bool) -> None:
    case = POOL_CASES[name]
    x, out_shape, kw = _pool_setup(case, seed=len(name))
    a = ops.AveragePool2d(count_include_pad=case.get("incl", False), **kw)
    out_q = QuantParams.per_tensor(0.023, -20) if requant else QX
    got = run_single(a, [act("x", x.shape, QX)], act("y", out_shape, out_q), {"x": x})
    np.testing.assert_array_equal(got, ref_avgpool(x, a, QX, out_q, out_shape))


@settings(max_examples=60, deadline=None)
@given(st.floats(0.05, 20.0), st.integers(-128, 127), st.integers(-128, 127), st.sampled_from(sorted(POOL_CASES)),
       st.integers(0, 1000))
def test_avgpool_requantize_within_one_lsb_of_float(ratio: float, zp_in: int, zp_out: int, name: str, seed: int) -> None:
    """The requantizing average is within 1 LSB of ONNX float semantics for any scale ratio:
    round_half_even(mean(float32 dequantized) / s_out) + zp_out, saturated."""
    case = POOL_CASES[name]
    x, out_shape, kw = _pool_setup(case, seed)
    kw.update(act_min=-128, act_max=127)
    a = ops.AveragePool2d(count_include_pad=case.get("incl", False), **kw)
    in_q = QuantParams.per_tensor(0.02, zp_in)
    out_q = QuantParams.per_tensor(0.02 / ratio, zp_out)
    got = run_single(a, [act("x", x.shape, in_q)], act("y", out_shape, out_q), {"x": x}).astype(np.int64)
    # exact real average over the same windows, with explicit pads as 0.0 when counted
    expected = np.zeros(out_shape, dtype=np.int64)
    h, w = case["h"], case["w"]
    for c, oy, ox in itertools.product(range(3), range(out_shape[2]), range(out_shape[3])):
        y0, x0 = oy * a.strides[0] - a.pads[0], ox * a.strides[1] - a.pads[1]
        total, count = Fraction(0), 0
        for iy, ix in itertools.product(range(y0, y0 + a.kernel[0]), range(x0, x0 + a.kernel[1])):
            if 0 <= iy < h and 0 <= ix < w:
                total += Fraction(int(x[0, c, iy, ix]) - zp_in) * Fraction(in_q.s)
                count += 1
            elif a.count_include_pad and -a.pads[0] <= iy < h + a.pads[2] and -a.pads[1] <= ix < w + a.pads[3]:
                count += 1
        expected[0, c, oy, ox] = clamp(round(total / count / Fraction(out_q.s)) + zp_out, -128, 127)
    assert np.max(np.abs(got - expected)) <= 1


@pytest.mark.parametrize("name", sorted(POOL_CASES))
def test_maxpool_matches_loop_reference(name: str) -> None:
    case = POOL_CASES[name]
    x, out_shape, kw = _pool_setup(case, seed=7 + len(name))
    a = ops.MaxPool2d(**kw)
    got = run_single(a, [act("x", x.shape, QX)], act("y", out_shape, QX), {"x": x})
    expected = np.zeros(out_shape, dtype=np.int8)
    h, w = case["h"], case["w"]
    for c, oy, ox in itertools.product(range(3), range(out_shape[2]), range(out_shape[3])):
        y0, x0 = oy * a.strides[0] - a.pads[0], ox * a.strides[1] - a.pads[1]
        cells = [int(x[0, c, iy, ix]) for iy in range(max(y0, 0), min(y0 + a.kernel[0], h))
                 for ix in range(max(x0, 0), min(x0 + a.kernel[1], w))]
        expected[0, c, oy, ox] = clamp(max(cells), a.act_min, a.act_max)
    np.testing.assert_array_equal(got, expected)


def test_maxpool_rejects_requantization() -> None:
    x = np.zeros((1, 1, 2, 2), dtype=np.int8)
    with pytest.raises(ValueError, match="quantization differ"):
        run_single(ops.MaxPool2d(kernel=(2, 2)), [act("x", x.shape, QX)], act("y", (1, 1, 1, 1), QY), {"x": x})


# ---------------------------------------------------------------- data movement, lut, softmax


def test_reshape_transpose_concat() -> None:
    rng = np.random.default_rng(9)
    x = random_int8(rng, (1, 2, 3, 4))
    got = run_single(ops.Reshape(), [act("x", x.shape, QX)], act("y", (1, 24), QX), {"x": x})
    assert got.tolist() == x.reshape(1, 24).tolist()
    got = run_single(ops.Transpose(perm=(0, 2, 3, 1)), [act("x", x.shape, QX)], act("y", (1, 3, 4, 2), QX), {"x": x})
    assert got.tolist() == [[[[x[0, c, h, w] for c in range(2)] for w in range(4)] for h in range(3)]]
    y = random_int8(rng, (1, 3, 3, 4))
    got = run_single(ops.Concat(axis=1), [act("x", x.shape, QX), act("z", y.shape, QX)], act("o", (1, 5, 3, 4), QX),
                     {"x": x, "z": y})
    assert got[:, :2].tolist() == x.tolist() and got[:, 2:].tolist() == y.tolist()
    with pytest.raises(ValueError, match="not quantized like the output"):
        run_single(ops.Concat(axis=1), [act("x", x.shape, QX), act("z", y.shape, QY)], act("o", (1, 5, 3, 4), QX),
                   {"x": x, "z": y})


def test_pad_grows_and_crops() -> None:
    x = np.arange(12, dtype=np.int8).reshape(1, 1, 3, 4)
    a = ops.Pad(pads=(0, 0, 1, -1, 0, 0, -1, 2), value=-5)
    got = run_single(a, [act("x", x.shape, QX)], act("y", (1, 1, 3, 5), QX), {"x": x})
    assert got[0, 0].tolist() == [[-5, -5, -5, -5, -5], [1, 2, 3, -5, -5], [5, 6, 7, -5, -5]]


def test_lut_indexes_by_value_plus_128() -> None:
    table = tuple(((i * 37) % 256) - 128 for i in range(256))
    x = np.arange(-128, 128, dtype=np.int8).reshape(1, 256)
    got = run_single(ops.Lut(table=table), [act("x", x.shape, QX)], act("y", x.shape, QY), {"x": x})
    assert got[0].tolist() == list(table)


def test_softmax_op_requires_tflite_output_quantization() -> None:
    x = np.array([[1, 2, 3]], dtype=np.int8)
    out_q = QuantParams.per_tensor(1 / 256, -128)
    got = run_single(ops.Softmax(), [act("x", x.shape, QX)], act("y", x.shape, out_q), {"x": x})
    from tinycc_ml.quant.softmax import softmax_int8
    assert got.tolist() == softmax_int8(x, params.softmax_params(QX)).tolist()
    with pytest.raises(ValueError, match="1/256"):
        run_single(ops.Softmax(), [act("x", x.shape, QX)], act("y", x.shape, QuantParams.per_tensor(1 / 255, -128)), {"x": x})
