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

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from kernel_support import NHWC, act, act_range, check_kernels, const, seeds, single_node
from overlap_support import check_grid

from tinycc_ml.ir import ops
from tinycc_ml.ir.graph import Graph, QuantParams
from tinycc_ml.kernels.registry import kernel_calls
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
