"""The three depthwise kernels (tinyc_depthwise_conv_s8, the ring in-place NHWC kernel and the
channel-major in-place kernel) over shapes that reach every branch of their SIMD paths:
channel counts below, at and off multiples of 4, depth multipliers 1 to 8, full and clipped
windows, strides 1 and 2, dilation, zero points and weights at their extremes, per-channel
scales spread over six decades. Each equals the interpreter byte for byte, portable and SIMD
(emulated on the host), in-process and under the sanitizers (the kernel_runners fixture).
The SIMD paths also keep the overlap their access model allows (the distance stays safe)."""

from __future__ import annotations

import itertools
import os
from dataclasses import replace

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
    seeds,
    single_node,
)
from overlap_support import check_grid

from tinycc_ml.errors import ModelError
from tinycc_ml.ir import ops
from tinycc_ml.ir.graph import Graph, QuantParams
from tinycc_ml.kernels.registry import kernel_calls
from tinycc_ml.kernels.target import HOST_TARGET, KernelTarget
from tinycc_ml.quant import params as qparams

CHW = (0, 1, 2, 3)
SETTINGS = settings(max_examples=80, deadline=None, derandomize="CI" in os.environ,
                    suppress_health_check=[HealthCheck.too_slow])
EXTREME_ZERO_POINTS = st.sampled_from([-128, 127, 0, -5, 64])


def _weights(draw: st.DrawFn, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    kind = draw(st.sampled_from(["random", "extreme", "plus127"]))
    if kind == "random":
        return rng.integers(-128, 128, size=shape).astype(np.int8)
    if kind == "extreme":  # symmetric int8 weights saturate at +-127
        return rng.choice(np.array([-127, 127], dtype=np.int8), size=shape)
    return np.full(shape, 127, dtype=np.int8)


def _weight_quant(draw: st.DrawFn, channels: int) -> QuantParams:
    if draw(st.booleans()):
        return QuantParams.per_tensor(float(np.float32(10.0 ** draw(st.floats(-5.0, 0.0)))), 0)
    # per-channel scales at the extremes, alternating six decades apart
    low, high = float(np.float32(1e-6)), float(np.float32(1.0))
    values = [draw(st.sampled_from([low, high, float(np.float32(0.01 * (1 + c)))])) for c in range(channels)]
    return QuantParams(tuple(values), (0,) * channels, axis=0)


def _no_shift_overflow(requant: qparams.ChannelRequant, max_abs_acc: int) -> bool:
    return all(max_abs_acc << max(shift, 0) < (1 << 31) for shift in requant.shifts)


@st.composite
def depthwise_graphs(draw: st.DrawFn, layout: str = "plain"):
    """layout: plain (tinyc_depthwise_conv_s8), ring (same size, stride 1, in place, NHWC) or
    chw (channel-major in place)."""
    rng = np.random.default_rng(draw(seeds))
    in_c = draw(st.sampled_from([1, 2, 3, 4, 5, 7, 8, 9, 12, 13, 16]))
    mult = 1 if layout != "plain" else draw(st.sampled_from([1, 1, 2, 3, 4, 5, 8]))
    if in_c == 1 and mult == 1:
        in_c = 2  # one channel, multiplier 1: a pointwise conv, another kernel
    out_c = in_c * mult
    kh, kw = draw(st.sampled_from([1, 2, 3, 3, 3, 5])), draw(st.sampled_from([1, 2, 3, 3, 3, 4]))
    dh, dw = draw(st.sampled_from([1, 1, 2])), draw(st.sampled_from([1, 1, 2]))
    eff_h, eff_w = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    if layout == "ring":
        sh = sw = 1
        top, left = draw(st.integers(0, eff_h - 1)), draw(st.integers(0, eff_w - 1))
        pads = (top, left, eff_h - 1 - top, eff_w - 1 - left)
    else:
        sh, sw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
        pads = tuple(draw(st.integers(0, e - 1)) for e in (eff_h, eff_w, eff_h, eff_w))
    # At least one full window (a dilated 5-tall kernel spans 9 rows), at most 8 rows beyond that.
    least_h = max(1 if layout != "chw" else 2, eff_h - pads[0] - pads[2])
    least_w = max(1, eff_w - pads[1] - pads[3])
    h = draw(st.integers(least_h, max(least_h, 8)))
    w = draw(st.integers(least_w, max(least_w, 8)))
    n = draw(st.integers(1, 2))
    oh = (h + pads[0] + pads[2] - eff_h) // sh + 1
    ow = (w + pads[1] + pads[3] - eff_w) // sw + 1

    in_q = QuantParams.per_tensor(float(np.float32(10.0 ** draw(st.floats(-3.0, 0.0)))), draw(EXTREME_ZERO_POINTS))
    w_q = _weight_quant(draw, out_c)
    out_scale = in_q.s * max(w_q.scale) * 10 ** draw(st.floats(-1.0, 3.0))
    out_q = QuantParams.per_tensor(out_scale, draw(EXTREME_ZERO_POINTS))
    weights = _weights(draw, rng, (out_c, 1, kh, kw))
    bias = None if draw(st.booleans()) else rng.integers(-(1 << 16), 1 << 16, size=out_c).astype(np.int32)
    requant = qparams.conv_requant(in_q, w_q, out_q)
    max_acc = 255 * 128 * kh * kw + (0 if bias is None else int(np.abs(bias).max()))
    assume(_no_shift_overflow(requant, max_acc))
    act_min, act_max = draw(act_range())

    attrs = ops.Conv2d((sh, sw), (dh, dw), pads, in_c, act_min, act_max, layout == "ring")
    order = CHW if layout == "chw" else NHWC
    inputs = [act("x", (n, in_c, h, w), in_q), const("w", weights, w_q), const("b", bias) if bias is not None else None]
    return single_node(attrs, inputs, act("y", (n, out_c, oh, ow), out_q), {"x": order, "y": order})


def _check(graph: Graph, runners, seed: int, symbol: str) -> None:
    (call,) = kernel_calls(graph.nodes[0], graph)
    assert call.symbol == symbol
    check_kernels(graph, runners, seed)


@SETTINGS
@given(graph=depthwise_graphs("plain"), seed=seeds)
def test_depthwise_matches_interpreter(kernel_runners, graph, seed):
    _check(graph, kernel_runners, seed, "tinyc_depthwise_conv_s8")


@SETTINGS
@given(graph=depthwise_graphs("ring"), seed=seeds)
def test_ring_depthwise_simd_shapes_match_interpreter(kernel_runners, graph, seed):
    _check(graph, kernel_runners, seed, "tinyc_depthwise_conv_inplace_s8")


@SETTINGS
@given(graph=depthwise_graphs("chw"), seed=seeds)
def test_chw_depthwise_simd_shapes_match_interpreter(kernel_runners, graph, seed):
    _check(graph, kernel_runners, seed, "tinyc_depthwise_conv_chw_inplace_s8")


# --- the SIMD paths keep the overlap distances of the access models ----------------

QI = QuantParams.per_tensor(0.05, 3)
QO = QuantParams.per_tensor(0.02, -5)
QW = QuantParams.per_tensor(0.01, 0)


def _grid_graph(h, w, c, mult, k, stride, pad, dil, layout, seed) -> Graph | None:
    eff = (k - 1) * dil + 1
    if layout == "ring":
        if stride != 1 or mult != 1:
            return None
        pads = (pad, pad, eff - 1 - pad, eff - 1 - pad)
        if min(pads) < 0:
            return None
    else:
        if pad >= eff or (layout == "chw" and mult != 1):
            return None
        pads = (pad,) * 4
    oh, ow = (h + pads[0] + pads[2] - eff) // stride + 1, (w + pads[1] + pads[3] - eff) // stride + 1
    if oh < 1 or ow < 1:
        return None
    rng = np.random.default_rng(seed)
    wt = rng.integers(-128, 128, size=(c * mult, 1, k, k)).astype(np.int8)
    b = rng.integers(-500, 500, size=c * mult).astype(np.int32)
    attrs = ops.Conv2d((stride, stride), (dil, dil), pads, c, -128, 127, layout == "ring")
    order = CHW if layout == "chw" else NHWC
    return single_node(attrs, [act("x", (1, c, h, w), QI), const("w", wt, QW), const("b", b)],
                       act("y", (1, c * mult, oh, ow), QO), {"x": order, "y": order})


def _grid(layout: str):
    shapes = itertools.product((2, 4), (3, 5), (4, 5, 8), (1, 4), (1, 3), (1, 2), (0, 1, 2), (1, 2))
    return [_grid_graph(*shape, layout, seed) for seed, shape in enumerate(shapes)]


def test_simd_depthwise_keeps_overlap_distances(kernel_lib_simd):
    for layout, symbol in (("plain", "tinyc_depthwise_conv_s8"), ("ring", "tinyc_depthwise_conv_inplace_s8"),
                           ("chw", "tinyc_depthwise_conv_chw_inplace_s8")):
        graphs = _grid(layout)
        tally = check_grid(kernel_lib_simd, graphs, replayable=layout != "ring", tight=False)
        assert tally.symbols == {symbol}
        assert tally.cases > 20, (layout, tally.cases)


# --- tinyc_depthwise_conv_3x3_s8: the DSP cores' 3x3 depthwise (multiplier 1, channels % 4 == 0) ---

# the STM32F746's flash: room for the int16 lane words (kernels/wide_weights.py)
M7 = KernelTarget("cortex-m7", dsp=True, fpu="fpv5-d16", flash_bytes=1 << 20)
DW3 = "tinyc_depthwise_conv_3x3_s8"


@st.composite
def depthwise3x3_graphs(draw: st.DrawFn):
    """Channels 4..32 in fours, images from one window up, strides 1 and 2, every padding
    0..2 on each side (windows clipped on any side, interior ones unrolled)."""
    rng = np.random.default_rng(draw(seeds))
    c = 4 * draw(st.integers(1, 8))
    sh, sw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    pads = tuple(draw(st.integers(0, 2)) for _ in range(4))
    h = draw(st.integers(max(1, 3 - pads[0] - pads[2]), 9))
    w = draw(st.integers(max(1, 3 - pads[1] - pads[3]), 9))
    n = draw(st.integers(1, 2))
    oh, ow = (h + pads[0] + pads[2] - 3) // sh + 1, (w + pads[1] + pads[3] - 3) // sw + 1
    in_q = QuantParams.per_tensor(float(np.float32(10.0 ** draw(st.floats(-3.0, 0.0)))), draw(EXTREME_ZERO_POINTS))
    w_q = _weight_quant(draw, c)
    out_q = QuantParams.per_tensor(in_q.s * max(w_q.scale) * 10 ** draw(st.floats(-1.0, 3.0)), draw(EXTREME_ZERO_POINTS))
    weights = _weights(draw, rng, (c, 1, 3, 3))
    bias = None if draw(st.booleans()) else rng.integers(-(1 << 16), 1 << 16, size=c).astype(np.int32)
    requant = qparams.conv_requant(in_q, w_q, out_q)
    assume(_no_shift_overflow(requant, 255 * 128 * 9 + (0 if bias is None else int(np.abs(bias).max()))))
    act_min, act_max = draw(act_range())
    attrs = ops.Conv2d((sh, sw), (1, 1), pads, c, act_min, act_max)
    inputs = [act("x", (n, c, h, w), in_q), const("w", weights, w_q), const("b", bias) if bias is not None else None]
    return single_node(attrs, inputs, act("y", (n, c, oh, ow), out_q), {"x": NHWC, "y": NHWC})


@SETTINGS
@given(graph=depthwise3x3_graphs(), seed=seeds)
def test_depthwise_3x3_matches_interpreter(kernel_runners, graph, seed):
    (call,) = kernel_calls(graph.nodes[0], graph, M7)
    assert call.symbol == DW3
    check_kernels(graph, kernel_runners, seed, target=M7)


def test_depthwise_3x3_needs_a_dsp_core_and_its_shape():
    def graph(c: int, k: int = 3, dil: int = 1, mult: int = 1):
        wt = np.ones((c * mult, 1, k, k), dtype=np.int8)
        attrs = ops.Conv2d((1, 1), (dil, dil), (dil,) * 4 if k == 3 else (0,) * 4, c, -128, 127)
        size = 5 + 2 * (dil - 1) if k == 3 else 5
        out = size if k == 3 else size - k + 1
        return single_node(attrs, [act("x", (1, c, size, size), QI), const("w", wt, QW)],
                           act("y", (1, c * mult, out, out), QO), {"x": NHWC, "y": NHWC})

    def symbol(g: Graph, target: KernelTarget) -> str:
        return kernel_calls(g.nodes[0], g, target)[0].symbol

    assert symbol(graph(8), M7) == DW3
    assert symbol(graph(8), HOST_TARGET) == "tinyc_depthwise_conv_s8"
    # int16 lane words only where the flash rule holds: a DSP core of unknown flash, or one
    # whose flash the doubled weights would not fit, keeps the int8 kernel
    assert symbol(graph(8), replace(M7, flash_bytes=0)) == "tinyc_depthwise_conv_s8"
    assert symbol(graph(8), replace(M7, wide_weights=False)) == "tinyc_depthwise_conv_s8"
    for other in (graph(6), graph(8, k=5), graph(8, dil=2), graph(4, mult=2)):
        assert symbol(other, M7) == "tinyc_depthwise_conv_s8"


def _halves(words: np.ndarray) -> np.ndarray:
    """int32 words of int16 pairs -> the int16 values, low half first."""
    u = np.asarray(words).view(np.uint32).astype(np.int64)
    return np.stack([u & 0xFFFF, u >> 16], axis=1).reshape(-1).astype(np.uint16).view(np.int16).astype(np.int64)


def test_depthwise_3x3_bias_and_weight_groups():
    """The bias argument's lane table carries the model's bias (the kernel adds the input
    offset on every tap); the weights of four channels' nine taps lie in a row, as int16 lane
    words {c, c + 2} {c + 1, c + 3}; where the tail is proved both come shifted by its double
    shift (the last requant word)."""
    from tinycc_ml.kernels.depthwise3x3 import group_taps, lane_taps

    wt = np.arange(8 * 9, dtype=np.int64).reshape(8, 1, 3, 3) % 7 - 3
    flat = group_taps(wt).reshape(-1)
    assert flat[:4].tolist() == wt[0:4, 0, 0, 0].tolist() and flat[4:8].tolist() == wt[0:4, 0, 0, 1].tolist()
    assert flat[36:40].tolist() == wt[4:8, 0, 0, 0].tolist()
    halves = _halves(lane_taps(wt))
    assert halves[:8].tolist() == wt[[0, 2, 1, 3, 0, 2, 1, 3], 0, 0, [0, 0, 0, 0, 1, 1, 1, 1]].tolist()
    assert halves[36:40].tolist() == wt[[4, 6, 5, 7], 0, 0, 0].tolist()
    b = np.arange(8, dtype=np.int32) * 100
    g = single_node(ops.Conv2d((1, 1), (1, 1), (1,) * 4, 8, -128, 127),
                    [act("x", (1, 8, 4, 4), QI), const("w", wt.astype(np.int8), QW), const("b", b)],
                    act("y", (1, 8, 4, 4), QO), {"x": NHWC, "y": NHWC})
    (call,) = kernel_calls(g.nodes[0], g, M7)
    shift = int(np.asarray(call.args[4].values)[-1])
    assert shift >= 1  # this layer's tail is proved
    lanes = np.asarray(call.args[2].values).reshape(2, 2, 8)  # the lane table: [group][lane][8]
    assert [lanes[c // 4, c % 2, c // 2 % 2] for c in range(8)] == (b.astype(np.int64) << shift).tolist()
    assert _halves(call.args[1].values).tolist() == (_halves(lane_taps(wt)) << shift).tolist()


def test_depthwise_3x3_keeps_overlap_distances(kernel_lib, kernel_lib_simd):
    graphs = [g for g in _grid("plain") if g is not None and g.tensor("w").shape[2:] == (3, 3)
              and g.nodes[0].attrs.dilations == (1, 1) and g.tensor("y").shape[1] == g.tensor("x").shape[1]
              and g.tensor("x").shape[1] % 4 == 0]
    for lib in (kernel_lib, kernel_lib_simd):
        tally = check_grid(lib, graphs, tight=False, target=M7)
        assert tally.symbols == {DW3} and tally.cases > 10, tally


def test_depthwise_3x3_on_cortex_m(qemu_kernel_runner):
    cases = draw_examples(st.tuples(depthwise3x3_graphs(), seeds), 150)
    assert check_kernels_batch([kernel_case(g, seed, target=M7) for g, seed in cases], qemu_kernel_runner) > 100


def test_depthwise_3x3_fast_tail_table_proves_only_safe_layers():
    """The proved tail's constants: k = round + (output_offset << right_shift), the shared
    double shift in the last word; 0 there where a channel could overflow, has no right shift,
    or the channels' left shifts differ."""
    from tinycc_ml.kernels.depthwise3x3 import fast_tail_table

    m = np.array([1 << 30, (1 << 31) - 1], dtype=np.int64)
    table = fast_tail_table(m, np.array([-8, -3]), np.array([40_000, 40_000]), -5)
    assert table.tolist() == [(1 << 7) - 5 * (1 << 8), 8, (1 << 2) - 5 * (1 << 3), 3, 1]
    assert fast_tail_table(m, np.array([-8, 0]), np.array([1, 1]), 0)[-1] == 0  # right shift 0
    assert fast_tail_table(m, np.array([1, -2]), np.array([1, 1]), 0)[-1] == 0  # left shifts differ
    assert fast_tail_table(m, np.array([-8, -8]), np.array([1 << 30, 1]), 0)[-1] == 0  # 2 * acc overflows
    assert fast_tail_table(m, np.array([2, 2]), np.array([1, 1]), 0)[-1] == 0
    assert fast_tail_table(m, np.array([-31, -31]), np.array([1 << 29, 1]), 127)[-1] == 0  # k overflows
    assert fast_tail_table(m[:1], np.array([-7]), np.array([1 << 20]), 127)[-1] == 1


def test_conv_kernels_refuse_asymmetric_weights_naming_the_tensor():
    """Every conv builder's params come from common.conv_struct, which names the node and the
    weight tensor whose zero point is not 0 (the frontend refuses such models first; this is
    the kernels' own guard)."""
    wt = np.ones((8, 1, 3, 3), dtype=np.int8)
    attrs = ops.Conv2d((1, 1), (1, 1), (1, 1, 1, 1), 8, -128, 127)
    graph = single_node(attrs, [act("x", (1, 8, 5, 5), QI), const("w", wt, QuantParams.per_tensor(0.01, 2))],
                        act("y", (1, 8, 5, 5), QO), {"x": NHWC, "y": NHWC})
    for target in (M7, HOST_TARGET):
        with pytest.raises(ModelError, match="conv weights w must be symmetric"):
            kernel_calls(graph.nodes[0], graph, target)
