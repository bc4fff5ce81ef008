"""tinyc_depthwise_conv_3x3_s8's pixel pairs (runtime_c/src/tinyc_depthwise_conv_3x3_s8.c,
kernels/depthwise3x3.py): rows wide enough that every kind of unit runs (interior pairs in
runs, left and right edge pairs, single pixels at odd ends and clipped corners), channel
counts 4..132 (and not multiples of 4, which take tinyc_depthwise_conv_s8), both strides,
TF-style asymmetric and symmetric pads; bit-exact against the interpreter on the host
(portable and SIMD-emulated, each also under ASan/UBSan) and on qemu-m4/m7; the lane table's
layout and the access model's units checked against their definitions."""

from __future__ import annotations

import os

import numpy as np
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

from tinycc_ml.ir import ops
from tinycc_ml.ir.graph import Graph, QuantParams
from tinycc_ml.kernels.depthwise3x3 import PAIR_MAX_CHANNELS, fast_tail_table, lane_table, run_units
from tinycc_ml.kernels.registry import kernel_calls
from tinycc_ml.kernels.target import KernelTarget
from tinycc_ml.quant import params as qparams

M7 = KernelTarget("cortex-m7", dsp=True, fpu="fpv5-d16", flash_bytes=1 << 20)  # room for int16 weights
DW3 = "tinyc_depthwise_conv_3x3_s8"
SETTINGS = settings(max_examples=60, deadline=None, derandomize="CI" in os.environ,
                    suppress_health_check=[HealthCheck.too_slow])
ZERO_POINTS = st.sampled_from([-128, 127, 0, -3])


def _weights(draw: st.DrawFn, rng: np.random.Generator, channels: int) -> np.ndarray:
    shape = (channels, 1, 3, 3)
    kind = draw(st.sampled_from(["random", "extreme", "plus127", "minus127"]))
    if kind == "random":
        return rng.integers(-127, 128, size=shape).astype(np.int8)
    if kind == "extreme":
        return rng.choice(np.array([-127, 127], dtype=np.int8), size=shape)
    return np.full(shape, 127 if kind == "plus127" else -127, dtype=np.int8)


def _weight_quant(draw: st.DrawFn, channels: int) -> QuantParams:
    if draw(st.booleans()):
        return QuantParams.per_tensor(float(np.float32(10.0 ** draw(st.floats(-4.0, -1.0)))), 0)
    low, high = float(np.float32(1e-6)), float(np.float32(0.5))  # per-channel scales at the extremes
    values = [draw(st.sampled_from([low, high, float(np.float32(0.003 * (1 + c % 7)))])) for c in range(channels)]
    return QuantParams(tuple(values), (0,) * channels, axis=0)


@st.composite
def pair_graphs(draw: st.DrawFn, max_channels: int = 132, max_width: int = 21):
    rng = np.random.default_rng(draw(seeds))
    c = draw(st.one_of(st.integers(1, max_channels // 4).map(lambda k: 4 * k), st.integers(5, max_channels)))
    stride = draw(st.integers(1, 2))
    if draw(st.booleans()):  # TF SAME: the padding's odd pixel at the bottom and right
        pads = tuple(draw(st.integers(0, 2)) for _ in range(4))
    else:
        pad = draw(st.integers(0, 1))
        pads = (pad,) * 4
    h = draw(st.integers(max(1, 3 - pads[0] - pads[2]), 7))
    w = draw(st.integers(max(1, 3 - pads[1] - pads[3]), max_width))
    n = draw(st.integers(1, 2))
    oh, ow = (h + pads[0] + pads[2] - 3) // stride + 1, (w + pads[1] + pads[3] - 3) // stride + 1
    assume(oh >= 1 and ow >= 1 and n * c * h * w <= 12_000)
    in_q = QuantParams.per_tensor(float(np.float32(10.0 ** draw(st.floats(-3.0, 0.0)))), draw(ZERO_POINTS))
    w_q = _weight_quant(draw, c)
    out_q = QuantParams.per_tensor(in_q.s * max(w_q.scale) * 10 ** draw(st.floats(-1.0, 3.0)), draw(ZERO_POINTS))
    weights = _weights(draw, rng, c)
    bias = None if draw(st.booleans()) else rng.integers(-(1 << 15), 1 << 15, size=c).astype(np.int32)
    requant = qparams.conv_requant(in_q, w_q, out_q)
    acc = 255 * 127 * 9 + (0 if bias is None else int(np.abs(bias).max()))
    assume(all(acc << max(s, 0) < (1 << 31) for s in requant.shifts))
    act_min, act_max = draw(act_range())
    attrs = ops.Conv2d((stride, stride), (1, 1), pads, c, act_min, act_max)
    inputs = [act("x", (n, c, h, w), in_q), const("w", weights, w_q), const("b", bias) if bias is not None else None]
    return single_node(attrs, inputs, act("y", (n, c, oh, ow), out_q), {"x": NHWC, "y": NHWC})


def _symbol(graph: Graph) -> str:
    (call,) = kernel_calls(graph.nodes[0], graph, M7)
    return call.symbol


@SETTINGS
@given(graph=pair_graphs(), seed=seeds)
def test_pairs_match_the_interpreter(kernel_runners, graph, seed):
    c = graph.tensor("x").shape[1]
    assert _symbol(graph) == (DW3 if c % 4 == 0 else "tinyc_depthwise_conv_s8")
    check_kernels(graph, kernel_runners, seed, target=M7)


def test_pairs_on_cortex_m(qemu_kernel_runner):
    cases = draw_examples(st.tuples(pair_graphs(max_channels=68, max_width=13), seeds), 60)
    assert check_kernels_batch([kernel_case(g, seed, target=M7) for g, seed in cases], qemu_kernel_runner) > 40


def _graph(c: int, h: int, w: int, stride: int, pads: tuple[int, int, int, int], seed: int = 0) -> Graph:
    rng = np.random.default_rng(seed)
    in_q, w_q = QuantParams.per_tensor(0.02, -128), QuantParams.per_tensor(0.01, 0)
    out_q = QuantParams.per_tensor(0.05, 127 if seed % 2 else -128)
    weights = rng.integers(-127, 128, size=(c, 1, 3, 3)).astype(np.int8)
    bias = rng.integers(-3000, 3000, size=c).astype(np.int32)
    oh, ow = (h + pads[0] + pads[2] - 3) // stride + 1, (w + pads[1] + pads[3] - 3) // stride + 1
    attrs = ops.Conv2d((stride, stride), (1, 1), pads, c, -128, 127)
    return single_node(attrs, [act("x", (1, c, h, w), in_q), const("w", weights, w_q), const("b", bias)],
                       act("y", (1, c, oh, ow), out_q), {"x": NHWC, "y": NHWC})


def test_vww_shapes_and_wide_layers_match(kernel_runners):
    """vww's depthwise shapes (small images, same channel counts), and layers wider than the
    pair buffer, which run pixel by pixel."""
    shapes = [(8, 6, 8, 1, (1, 1, 1, 1)), (16, 8, 8, 2, (0, 0, 1, 1)), (128, 6, 6, 1, (1, 1, 1, 1)),
              (128, 6, 6, 2, (0, 0, 1, 1)), (256, 3, 3, 1, (1, 1, 1, 1)), (PAIR_MAX_CHANNELS + 4, 3, 5, 1, (1, 1, 1, 1)),
              (12, 5, 9, 2, (1, 1, 1, 1)), (4, 4, 2, 1, (1, 1, 1, 1))]
    for seed, (c, h, w, stride, pads) in enumerate(shapes):
        graph = _graph(c, h, w, stride, pads, seed)
        assert _symbol(graph) == DW3
        check_kernels(graph, kernel_runners, seed, target=M7)


def test_units_cover_every_pixel_once_and_pair_where_the_columns_allow():
    graph = _graph(8, 6, 6, 1, (1, 1, 1, 1))
    (call,) = kernel_calls(graph.nodes[0], graph, M7)
    rows = run_units(call.params)
    # a 6-wide row with pad 1: a left edge pair, an interior pair, a right edge pair
    assert rows[0] == [(0, 2), (2, 2), (4, 2)]
    assert all(sorted(q for s, n in row for q in range(s, s + n)) == list(range(r * 6, r * 6 + 6))
               for r, row in enumerate(rows))
    wide = _graph(PAIR_MAX_CHANNELS + 4, 3, 5, 1, (1, 1, 1, 1))
    (call,) = kernel_calls(wide.nodes[0], wide, M7)
    assert all(n == 1 for row in run_units(call.params) for _, n in row)
    odd = _graph(8, 3, 3, 1, (1, 1, 1, 1))  # 3 wide: a left pair, then the right pixel alone
    (call,) = kernel_calls(odd.nodes[0], odd, M7)
    assert run_units(call.params)[1] == [(3, 2), (5, 1)]


def test_lane_table_layout():
    """Per group of four channels, per lane (ch = c, then c + 1): bias[ch], bias[ch + 2], then
    (multiplier, k, right shift) of ch and of ch + 2."""
    bias = np.arange(8, dtype=np.int64) * 10 - 30
    m = np.arange(8, dtype=np.int64) + (1 << 30)
    fast = fast_tail_table(m, np.full(8, -4), np.full(8, 1000), 3)
    table = lane_table(bias, m, fast).reshape(2, 2, 8)
    k, rs = fast[0:16:2], fast[1:16:2]
    for g in range(2):
        for lane in range(2):
            ch = 4 * g + lane
            assert table[g, lane].tolist() == [bias[ch], bias[ch + 2], m[ch], k[ch], rs[ch],
                                               m[ch + 2], k[ch + 2], rs[ch + 2]]


def test_pairs_keep_overlap_distances(kernel_lib, kernel_lib_simd):
    """At the access model's distance the kernel overlapping its own input is still exact
    (portable and SIMD paths: both run the same units)."""
    graphs = [_graph(c, h, w, s, pads, seed) for seed, (c, h, w, s, pads) in enumerate(
        [(4, 3, 8, 1, (1, 1, 1, 1)), (8, 4, 9, 1, (1, 1, 1, 1)), (4, 5, 10, 2, (0, 0, 1, 1)), (8, 5, 7, 2, (1, 1, 1, 1)),
         (12, 3, 6, 1, (0, 0, 0, 0)), (4, 6, 6, 2, (1, 1, 1, 1)), (16, 3, 7, 1, (0, 1, 2, 1))])]
    for lib in (kernel_lib, kernel_lib_simd):
        tally = check_grid(lib, graphs, tight=False, target=M7)
        assert tally.symbols == {DW3} and tally.cases >= 5, tally


def test_pairs_when_the_tail_proof_refuses(kernel_runners):
    """Channels whose left shifts differ (one scale above 1, one far below): the compiler
    proves no fast tail (flag word 0), every lane takes requant_tail.h's guarded tail, and
    the output is still exact; likewise a clamped activation range on the proved tail."""
    c, h, w = 8, 4, 9
    rng = np.random.default_rng(3)
    in_q = QuantParams.per_tensor(0.5, -128)
    w_q = QuantParams(tuple(float(np.float32(s)) for s in (4.0, 1e-4) * (c // 2)), (0,) * c, axis=0)
    out_q = QuantParams.per_tensor(0.25, 127)
    weights = rng.integers(-3, 4, size=(c, 1, 3, 3)).astype(np.int8)
    for act_min, act_max in ((-128, 127), (-20, 90)):
        attrs = ops.Conv2d((1, 1), (1, 1), (1, 1, 1, 1), c, act_min, act_max)
        graph = single_node(attrs, [act("x", (1, c, h, w), in_q), const("w", weights, w_q), None],
                            act("y", (1, c, h, w), out_q), {"x": NHWC, "y": NHWC})
        (call,) = kernel_calls(graph.nodes[0], graph, M7)
        assert call.symbol == DW3 and call.args[4].values[2 * c] == 0  # not proved
        check_kernels(graph, kernel_runners, 11, target=M7)
    clamped = _graph(8, 4, 9, 1, (1, 1, 1, 1))
    attrs = ops.Conv2d((1, 1), (1, 1), (1, 1, 1, 1), 8, -100, 50)
    node = clamped.nodes[0]
    graph = single_node(attrs, [clamped.tensor(n) for n in node.inputs], clamped.tensor("y"), {"x": NHWC, "y": NHWC})
    (call,) = kernel_calls(graph.nodes[0], graph, M7)
    assert call.args[4].values[2 * 8] != 0  # proved, clamped
    check_kernels(graph, kernel_runners, 12, target=M7)
