"""The DSP-core conv and fully connected variants (tinyc_conv_im2col_s8, ...): the kernels the
registry picks for a Cortex-M7 with the DSP extension equal the interpreter bit for bit, in
the portable and the emulated-SIMD host builds (also under ASan + UBSan) and on qemu-m4 and
qemu-m7, over hypothesis-randomised shapes (fixed seeds on the emulators): odd and even
channel counts, counts not divisible by 4, every padding, strides 1 and 2, dilation, zero
points at -128 and 127, weights at +-127 and -128, per-channel scales at the extremes."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from kernel_support import (
    NHWC,
    KernelCase,
    act,
    act_range,
    assert_same,
    check_kernels_batch,
    const,
    draw_examples,
    from_physical,
    per_tensor,
    random_int8,
    scales,
    seeds,
    single_node,
    to_physical,
)

from tinycc_ml.interp import run_core
from tinycc_ml.ir import ops
from tinycc_ml.ir.graph import Graph, QuantParams
from tinycc_ml.kernels.harness import run_calls
from tinycc_ml.kernels.registry import kernel_calls
from tinycc_ml.kernels.target import KernelTarget
from tinycc_ml.quant import params as qparams

DSP = KernelTarget("cortex-m7", dsp=True, fpu="fpv5-d16", flash_bytes=1 << 20)  # the STM32F746
SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
QEMU_CASES = 150


def dsp_case(graph: Graph, seed: int) -> KernelCase:
    """The graph's calls as a DSP core runs them, random inputs, the interpreter's output."""
    rng = np.random.default_rng(seed)
    inputs = {name: random_int8(rng, graph.tensor(name).shape) for name in graph.input_tensors()}
    calls = tuple(call for node in graph.nodes for call in kernel_calls(node, graph, DSP))
    contents = {name: to_physical(graph, name, value) for name, value in inputs.items()}
    sizes = {t.name: t.nbytes for t in graph.activations()}
    (out_name,) = graph.output_tensors()
    return KernelCase(graph, calls, contents, sizes, None, run_core(graph, inputs)[out_name])


def check_dsp(graph: Graph, runners, seed: int) -> str:
    case = dsp_case(graph, seed)
    for runner in runners:
        result = run_calls(runner, case.calls, case.contents, case.sizes, None)[case.output]
        got = from_physical(graph, case.output, result)
        assert_same(got, case.want, f"{type(runner).__name__}: {case.calls[0].symbol} {case.calls[0].params}")
    return case.calls[0].symbol


def _weights(draw: st.DrawFn, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Random int8 weights, or all at an extreme (+127, -127 or -128), or a mix of the extremes."""
    kind = draw(st.sampled_from(["random", "random", "max", "min", "extremes"]))
    if kind == "random":
        return rng.integers(-128, 128, size=shape).astype(np.int8)
    if kind == "extremes":
        return rng.choice(np.array([-128, -127, 127], dtype=np.int8), size=shape)
    return np.full(shape, 127 if kind == "max" else -127, dtype=np.int8)


def _weight_quant(draw: st.DrawFn, channels: int) -> QuantParams:
    if draw(st.booleans()):
        return QuantParams.per_tensor(draw(scales(-6, 2)), 0)
    extremes = draw(st.booleans())  # per-channel scales 10^-6 .. 10^2 apart in one layer
    values = [draw(st.sampled_from([1e-6, 1e2])) if extremes else draw(scales(-6, 2)) for _ in range(channels)]
    return QuantParams(tuple(float(np.float32(v)) for v in values), (0,) * channels, axis=0)


def _no_shift_overflow(requant: qparams.ChannelRequant, max_abs_acc: int) -> bool:
    return all(max_abs_acc << max(shift, 0) < (1 << 31) for shift in requant.shifts)


def _bias(draw: st.DrawFn, rng: np.random.Generator, channels: int) -> np.ndarray | None:
    kind = draw(st.sampled_from(["none", "small", "large"]))
    if kind == "none":
        return None
    bound = 5000 if kind == "small" else 1 << 20
    return rng.integers(-bound, bound + 1, size=channels).astype(np.int32)


@st.composite
def dsp_conv_graphs(draw: st.DrawFn) -> Graph:
    """One-group convs the im2col variant runs: KxK up to 4x4 (1x1 only strided or padded),
    1 to 40 input and output channels, strides 1-2, dilation 1-2, any padding."""
    rng = np.random.default_rng(draw(seeds))
    in_c = draw(st.one_of(st.integers(1, 4), st.integers(1, 40)))
    out_c = draw(st.one_of(st.integers(1, 5), st.integers(1, 40)))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    sh, sw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    eff_h, eff_w = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    pads = tuple(draw(st.integers(0, e - 1)) for e in (eff_h, eff_w, eff_h, eff_w))
    if (kh, kw, sh, sw) == (1, 1, 1, 1):
        sh = 2  # a 1x1 stride-1 unpadded conv is pointwise: another variant
    h = draw(st.integers(max(1, eff_h - pads[0] - pads[2]), max(7, eff_h)))
    w = draw(st.integers(max(1, eff_w - pads[1] - pads[3]), max(7, eff_w)))
    n = draw(st.integers(1, 2))
    oh = (h + pads[0] + pads[2] - eff_h) // sh + 1
    ow = (w + pads[1] + pads[3] - eff_w) // sw + 1
    in_q = QuantParams.per_tensor(draw(scales(-4, 1)), draw(st.sampled_from([-128, 127, 0, 5, -77])))
    w_q = _weight_quant(draw, out_c)
    out_scale = in_q.s * max(w_q.scale) * 10 ** draw(st.floats(-1.0, 4.0))
    out_q = QuantParams.per_tensor(out_scale, draw(per_tensor()).zp)
    weights = _weights(draw, rng, (out_c, in_c, kh, kw))
    bias = _bias(draw, rng, out_c)
    requant = qparams.conv_requant(in_q, w_q, out_q)
    max_acc = 255 * 128 * in_c * kh * kw + (0 if bias is None else int(np.abs(bias).max()))
    assume(_no_shift_overflow(requant, max_acc))
    act_min, act_max = draw(act_range())
    attrs = ops.Conv2d((sh, sw), (dh, dw), pads, 1, act_min, act_max)
    x = act("x", (n, in_c, h, w), in_q)
    y = act("y", (n, out_c, oh, ow), out_q)
    inputs = [x, const("w", weights, w_q), const("b", bias) if bias is not None else None]
    return single_node(attrs, inputs, y, {"x": NHWC, "y": NHWC})


IM2COL = "tinyc_conv_im2col_s8"
IM2COL8 = "tinyc_conv_im2col8_s8"  # where passes/scratch.py avoids the int16 columns
W16 = "tinyc_conv_w16_s8"  # ahead of both where it applies (tests/test_kernels_conv_w16.py): avoided here
GATHER = "tinyc_conv_gather_w16_s8"  # ahead of both for in_c <= 4 and 1x1 (tests/test_kernels_conv_gather.py): avoided


def avoiding(graph: Graph, symbols: tuple[str, ...]) -> Graph:
    """The graph's conv with the given variants avoided (as passes/scratch.py marks it)."""
    (node,) = graph.nodes
    return graph.with_nodes((replace(node, attrs=replace(node.attrs, avoid_variants=symbols)),))


@SETTINGS
@given(graph=dsp_conv_graphs(), seed=seeds)
def test_im2col_conv_matches_interpreter(kernel_runners, graph, seed):
    assert check_dsp(avoiding(graph, (W16, GATHER)), kernel_runners, seed) == IM2COL


@SETTINGS
@given(graph=dsp_conv_graphs(), seed=seeds)
def test_im2col8_conv_matches_interpreter(kernel_runners, graph, seed):
    graph = avoiding(graph, (W16, GATHER, IM2COL))
    (call,) = kernel_calls(graph.nodes[0], graph, DSP)
    assume(call.symbol == IM2COL8)  # else the folded bias would leave int32: tinyc_conv_s8 runs
    assert check_dsp(graph, kernel_runners, seed) == IM2COL8


@pytest.mark.parametrize("symbol", [IM2COL, IM2COL8])
def test_im2col_conv_on_cortex_m(qemu_kernel_runner, symbol):
    cases = draw_examples(st.tuples(dsp_conv_graphs(), seeds), QEMU_CASES)
    avoid = (W16, GATHER) if symbol == IM2COL else (W16, GATHER, IM2COL)
    checked = [dsp_case(avoiding(graph, avoid), seed) for graph, seed in cases]
    assert sum(case.calls[0].symbol == symbol for case in checked) > QEMU_CASES * 0.9
    assert check_kernels_batch(checked, qemu_kernel_runner) > 100


# --- fully connected with int16 weights (tinyc_fully_connected_w16_s8) ----------------------

FC16 = "tinyc_fully_connected_w16_s8"


@st.composite
def dsp_fc_graphs(draw: st.DrawFn) -> Graph:
    """Feature counts multiples of 4 (the int16 variant's shapes), per-tensor or per-channel
    symmetric weights at random or at their extremes, input zero points at the extremes."""
    rng = np.random.default_rng(draw(seeds))
    batch = draw(st.integers(1, 3))
    k, m = 4 * draw(st.integers(1, 40)), 4 * draw(st.integers(1, 12))
    in_q = QuantParams.per_tensor(draw(scales(-4, 1)), draw(st.sampled_from([-128, 127, 0, 3])))
    w_q = _weight_quant(draw, m)
    out_q = QuantParams.per_tensor(in_q.s * max(w_q.scale) * 10 ** draw(st.floats(-1.0, 4.0)), draw(per_tensor()).zp)
    weights = _weights(draw, rng, (m, k))
    bias = _bias(draw, rng, m)
    requant = qparams.fully_connected_requant(in_q, w_q, out_q)
    max_acc = 255 * 128 * k + (0 if bias is None else int(np.abs(bias).max()))
    assume(_no_shift_overflow(requant, max_acc))
    act_min, act_max = draw(act_range())
    inputs = [act("x", (batch, k), in_q), const("w", weights, w_q), const("b", bias) if bias is not None else None]
    return single_node(ops.FullyConnected(act_min, act_max), inputs, act("y", (batch, m), out_q))


@SETTINGS
@given(graph=dsp_fc_graphs(), seed=seeds)
def test_int16_weight_fully_connected_matches_interpreter(kernel_runners, graph, seed):
    assert check_dsp(graph, kernel_runners, seed) == FC16


def test_int16_weight_fully_connected_on_cortex_m(qemu_kernel_runner):
    cases = draw_examples(st.tuples(dsp_fc_graphs(), seeds), QEMU_CASES)
    checked = [dsp_case(graph, seed) for graph, seed in cases]
    assert {case.calls[0].symbol for case in checked} == {FC16}
    assert check_kernels_batch(checked, qemu_kernel_runner) > 100


def test_int16_weights_only_where_the_flash_has_room():
    """The flash-for-speed layout needs the model's constants, with those weights doubled, in
    three quarters of the board's flash; on a board without that room (or of unknown flash)
    the int8 kernel runs, as on feature counts that are not multiples of 4."""
    graph = draw_examples(dsp_fc_graphs(), 1)[0]
    node = graph.nodes[0]
    constants = sum(t.nbytes for t in graph.constants())
    doubled = constants + graph.tensor("w").nbytes
    room = -(-doubled * 4 // 3)  # the least flash whose three quarters hold them
    for flash, symbol in ((room, FC16), (room - 2, "tinyc_fully_connected_s8"), (0, "tinyc_fully_connected_s8")):
        target = KernelTarget("cortex-m7", dsp=True, fpu="fpv5-d16", flash_bytes=flash)
        assert kernel_calls(node, graph, target)[0].symbol == symbol, flash
    odd = single_node(ops.FullyConnected(), [act("x", (1, 6), QuantParams.per_tensor(0.1, 0)),
                                             const("w", np.ones((4, 6), dtype=np.int8), QuantParams.per_tensor(0.1, 0)),
                                             None], act("y", (1, 4), QuantParams.per_tensor(0.1, 0)))
    assert kernel_calls(odd.nodes[0], odd, DSP)[0].symbol == "tinyc_fully_connected_s8"
