"""Conv2d (regular, grouped, depthwise with multiplier) and FullyConnected: the C kernels the
registry picks equal the interpreter bit for bit, under the sanitizers too."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from kernel_support import (
    NHWC,
    act,
    act_range,
    check_kernels,
    check_kernels_batch,
    const,
    draw_examples,
    kernel_case,
    per_tensor,
    scales,
    seeds,
    single_node,
)

from tinycc_ml.ir import ops
from tinycc_ml.ir.graph import QuantParams
from tinycc_ml.kernels.registry import kernel_calls
from tinycc_ml.quant import params as qparams

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _weight_quant(draw: st.DrawFn, channels: int) -> QuantParams:
    if draw(st.booleans()):
        return QuantParams.per_tensor(draw(scales(-6, 2)), 0)
    values = [draw(scales(-6, 2)) for _ in range(channels)]
    return QuantParams(tuple(values), (0,) * channels, axis=0)


def _no_shift_overflow(requant: qparams.ChannelRequant, max_abs_acc: int) -> bool:
    """TFLite (and C) shift the accumulator left in int32 when a multiplier exceeds 1;
    only cases where that cannot overflow are defined, so only those are compared."""
    return all(max_abs_acc << max(shift, 0) < (1 << 31) for shift in requant.shifts)


def _bias(draw: st.DrawFn, rng: np.random.Generator, channels: int) -> np.ndarray | None:
    kind = draw(st.sampled_from(["none", "small", "large"]))
    if kind == "none":
        return None
    bound = 5000 if kind == "small" else 1 << 20
    return rng.integers(-bound, bound + 1, size=channels).astype(np.int32)


@st.composite
def conv_graphs(draw: st.DrawFn, wide: bool = False):
    """wide: channel counts up to 40 (the DSP paths' four-channel blocks, runs of 4 and their
    leftovers) on kernels up to 3x3 and small images, so a case stays cheap."""
    rng = np.random.default_rng(draw(seeds))
    kind = draw(st.sampled_from(["regular", "regular", "grouped"] if wide else ["regular", "grouped", "depthwise"]))
    most = 40 if wide else 7
    if kind == "regular":
        groups, in_c = 1, draw(st.integers(1, most))
        out_c = draw(st.integers(1, most))
    elif kind == "grouped":
        groups = draw(st.integers(2, 3))
        in_c = groups * draw(st.integers(1, most // 3 + 1))
        out_c = groups * draw(st.integers(1, most // 3 + 1))
    else:
        in_c = draw(st.integers(1, 7))
        groups, out_c = in_c, in_c * draw(st.integers(1, 3))
    kh, kw = (draw(st.integers(1, 3)), draw(st.integers(1, 3))) if wide else (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    eff_h, eff_w = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    pads = tuple(draw(st.integers(0, e - 1)) for e in (eff_h, eff_w, eff_h, eff_w))
    size = 5 if wide else 9
    h = draw(st.integers(max(1, eff_h - pads[0] - pads[2]), max(size, eff_h)))
    w = draw(st.integers(max(1, eff_w - pads[1] - pads[3]), max(size, eff_w)))
    n = draw(st.integers(1, 2))
    oh = (h + pads[0] + pads[2] - eff_h) // sh + 1
    ow = (w + pads[1] + pads[3] - eff_w) // sw + 1

    in_q = draw(per_tensor(-4, 1))
    w_q = _weight_quant(draw, out_c)
    # Output scale near the typical accumulator scale, up to 1e4 x either way: saturates often.
    out_scale = in_q.s * max(w_q.scale) * 10 ** draw(st.floats(-1.0, 4.0))
    out_q = QuantParams.per_tensor(out_scale, draw(per_tensor()).zp)
    weights = rng.integers(-128, 128, size=(out_c, in_c // groups, kh, kw)).astype(np.int8)
    bias = _bias(draw, rng, out_c)
    requant = qparams.conv_requant(in_q, w_q, out_q)
    max_acc = 255 * 128 * (in_c // groups) * kh * kw + (0 if bias is None else int(np.abs(bias).max()))
    assume(_no_shift_overflow(requant, max_acc))
    act_min, act_max = draw(act_range())

    attrs = ops.Conv2d((sh, sw), (dh, dw), pads, groups, act_min, act_max)
    x = act("x", (n, in_c, h, w), in_q)
    y = act("y", (n, out_c, oh, ow), out_q)
    inputs = [x, const("w", weights, w_q), const("b", bias) if bias is not None else None]
    return single_node(attrs, inputs, y, {"x": NHWC, "y": NHWC}), kind


@SETTINGS
@given(case=conv_graphs(), seed=seeds)
def test_conv2d_matches_interpreter(kernel_runners, case, seed):
    graph, kind = case
    (call,) = kernel_calls(graph.nodes[0], graph)
    depthwise = kind == "depthwise" or call.params["in_c"] == call.params["groups"]  # 1 channel, 1 group
    assert call.symbol == ("tinyc_depthwise_conv_s8" if depthwise else "tinyc_conv_s8")
    check_kernels(graph, kernel_runners, seed)


@SETTINGS
@given(case=conv_graphs(wide=True), seed=seeds)
def test_wide_conv2d_matches_interpreter(kernel_runners, case, seed):
    check_kernels(case[0], kernel_runners, seed)


@st.composite
def fully_connected_graphs(draw: st.DrawFn):
    rng = np.random.default_rng(draw(seeds))
    batch, k, m = draw(st.integers(1, 3)), draw(st.integers(1, 40)), draw(st.integers(1, 20))
    in_q = draw(per_tensor(-4, 1))
    if draw(st.booleans()):
        w_q = QuantParams.per_tensor(draw(scales(-6, 2)), draw(st.sampled_from([0, 0, -128, 127, 5])))
    else:
        w_q = QuantParams(tuple(draw(scales(-6, 2)) for _ in range(m)), (0,) * m, axis=0)
    out_q = QuantParams.per_tensor(in_q.s * max(w_q.scale) * 10 ** draw(st.floats(-1.0, 4.0)), draw(per_tensor()).zp)
    weights = rng.integers(-128, 128, size=(m, k)).astype(np.int8)
    bias = _bias(draw, rng, m)
    requant = qparams.fully_connected_requant(in_q, w_q, out_q)
    max_acc = 255 * 255 * k + (0 if bias is None else int(np.abs(bias).max()))
    assume(_no_shift_overflow(requant, max_acc))
    act_min, act_max = draw(act_range())
    inputs = [act("x", (batch, k), in_q), const("w", weights, w_q), const("b", bias) if bias is not None else None]
    return single_node(ops.FullyConnected(act_min, act_max), inputs, act("y", (batch, m), out_q))


@SETTINGS
@given(graph=fully_connected_graphs(), seed=seeds)
def test_fully_connected_matches_interpreter(kernel_runners, graph, seed):
    check_kernels(graph, kernel_runners, seed)


# --- the same strategies on qemu-m4 / qemu-m7 (the DSP builds), one emulator run per test ----

QEMU_CASES = 150


@pytest.mark.parametrize("wide", [False, True], ids=["narrow", "wide"])
def test_conv2d_on_cortex_m(qemu_kernel_runner, wide):
    cases = draw_examples(st.tuples(conv_graphs(wide=wide), seeds), QEMU_CASES)
    assert check_kernels_batch([kernel_case(graph, seed) for (graph, _), seed in cases], qemu_kernel_runner) > 100


def test_fully_connected_on_cortex_m(qemu_kernel_runner):
    cases = draw_examples(st.tuples(fully_connected_graphs(), seeds), QEMU_CASES)
    assert check_kernels_batch([kernel_case(graph, seed) for graph, seed in cases], qemu_kernel_runner) > 100
