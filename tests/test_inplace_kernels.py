"""The in-place conv variants: tinyc_depthwise_conv_inplace_s8 (NHWC, ring of input pixels),
tinyc_depthwise_conv_chw_inplace_s8 (CHW, one-channel scratch) and the channel-major
pointwise convs. Each equals the interpreter bit for bit (in-process and under the
sanitizers), its scratch twin equals C's, and its overlap distance holds on one shared
buffer and is tight."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kernel_support import NHWC, act, check_kernels, check_kernels_batch, const, draw_examples, kernel_case, seeds, single_node
from overlap_support import check_grid, single_node_distance
from tinycc_ml.ir import ops
from tinycc_ml.ir.graph import Graph, QuantParams
from tinycc_ml.kernels.registry import KernelLayoutError, kernel_calls, scratch_bytes
from tinycc_ml.targets.runtime_build import LIBRARY_SOURCES, runtime_sources_for

CHW = (0, 1, 2, 3)
QI = QuantParams.per_tensor(0.05, 3)
QO = QuantParams.per_tensor(0.02, -5)
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _conv(x_shape, out_c, k, stride, pads, groups, dil, orders, in_place=False, seed=0, kh=None) -> Graph:
    n, c, h, w = x_shape
    kh = kh or k
    eff_h, eff_w = (kh - 1) * dil + 1, (k - 1) * dil + 1
    oh = (h + pads[0] + pads[2] - eff_h) // stride + 1
    ow = (w + pads[1] + pads[3] - eff_w) // stride + 1
    rng = np.random.default_rng(seed)
    wt = rng.integers(-128, 128, size=(out_c, c // groups, kh, k)).astype(np.int8)
    wq = QuantParams(tuple(0.004 + 0.001 * i for i in range(out_c)), (0,) * out_c, axis=0)
    b = rng.integers(-3000, 3000, size=out_c).astype(np.int32)
    attrs = ops.Conv2d((stride, stride), (dil, dil), pads, groups, -100, 120, in_place)
    return single_node(attrs, [act("x", x_shape, QI), const("w", wt, wq), const("b", b)],
                       act("y", (n, out_c, oh, ow), QO), {"x": orders[0], "y": orders[1]})


def same_size_depthwise(n, c, h, w, kh, kw, dil, top, left, seed=0) -> Graph:
    eh, ew = (kh - 1) * dil + 1, (kw - 1) * dil + 1
    pads = (top, left, eh - 1 - top, ew - 1 - left)
    return _conv((n, c, h, w), c, kw, 1, pads, c, dil, (NHWC, NHWC), True, seed, kh=kh)


@st.composite
def ring_graphs(draw):
    kh, kw, dil = draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 2))
    top = draw(st.integers(0, (kh - 1) * dil))
    left = draw(st.integers(0, (kw - 1) * dil))
    # 2+ channels: a 1-channel 1x1 "depthwise" conv is pointwise and runs that kernel
    shape = (draw(st.integers(1, 2)), draw(st.integers(2, 5)), draw(st.integers(1, 6)), draw(st.integers(1, 6)))
    return same_size_depthwise(*shape, kh, kw, dil, top, left, draw(seeds))


@st.composite
def pointwise_inplace_graphs(draw, most: int = 7):
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, most)), draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    return _conv(shape, draw(st.integers(1, most)), 1, 1, (0, 0, 0, 0), 1, 1, (NHWC, NHWC), True, draw(seeds))


@st.composite
def chw_depthwise_graphs(draw):
    k, stride, dil = draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(st.integers(1, 2))
    eff = (k - 1) * dil + 1
    pads = tuple(draw(st.integers(0, eff - 1)) for _ in range(4))
    c, h = draw(st.integers(2, 5)), draw(st.integers(max(2, eff - pads[0] - pads[2]), 7))
    w = draw(st.integers(max(1, eff - pads[1] - pads[3]), 7))  # h > 1: CHW and NHWC differ
    return _conv((draw(st.integers(1, 2)), c, h, w), c, k, stride, pads, c, dil, (CHW, CHW), seed=draw(seeds))


@st.composite
def pointwise_graphs(draw, most: int = 6):
    orders = draw(st.sampled_from([(CHW, CHW), (CHW, NHWC), (NHWC, CHW)]))
    shape = (draw(st.integers(1, 2)), draw(st.integers(2, most)), draw(st.integers(1, 5)), draw(st.integers(2, 5)))
    return _conv(shape, draw(st.integers(2, most)), 1, 1, (0, 0, 0, 0), 1, 1, orders, seed=draw(seeds))


@SETTINGS
@given(graph=ring_graphs(), seed=seeds)
def test_ring_depthwise_matches_interpreter(kernel_runners, graph, seed):
    assert kernel_calls(graph.nodes[0], graph)[0].symbol == "tinyc_depthwise_conv_inplace_s8"
    check_kernels(graph, kernel_runners, seed)


@SETTINGS
@given(graph=pointwise_inplace_graphs(), seed=seeds)
def test_pointwise_inplace_matches_interpreter(kernel_runners, graph, seed):
    assert kernel_calls(graph.nodes[0], graph)[0].symbol == "tinyc_pointwise_conv_inplace_s8"
    check_kernels(graph, kernel_runners, seed)


@SETTINGS
@given(graph=chw_depthwise_graphs(), seed=seeds)
def test_chw_depthwise_matches_interpreter(kernel_runners, graph, seed):
    assert kernel_calls(graph.nodes[0], graph)[0].symbol == "tinyc_depthwise_conv_chw_inplace_s8"
    check_kernels(graph, kernel_runners, seed)


@SETTINGS
@given(graph=pointwise_graphs(), seed=seeds)
def test_pointwise_layout_variants_match_interpreter(kernel_runners, graph, seed):
    assert kernel_calls(graph.nodes[0], graph)[0].symbol.startswith("tinyc_pointwise_conv_")
    check_kernels(graph, kernel_runners, seed)


@SETTINGS
@given(graph=st.one_of(pointwise_inplace_graphs(most=37), pointwise_graphs(most=37)), seed=seeds)
def test_wide_pointwise_variants_match_interpreter(kernel_runners, graph, seed):
    """Channel counts past the DSP paths' four-channel blocks and four-byte runs."""
    check_kernels(graph, kernel_runners, seed)


def test_pointwise_variants_on_cortex_m(qemu_kernel_runner):
    strategy = st.tuples(st.one_of(pointwise_inplace_graphs(), pointwise_graphs(), pointwise_inplace_graphs(most=37),
                                   pointwise_graphs(most=37)), seeds)
    cases = [kernel_case(graph, seed) for graph, seed in draw_examples(strategy, 120)]
    assert check_kernels_batch(cases, qemu_kernel_runner) == len(cases)


def test_variant_choice_scratch_twins_and_sources(kernel_lib):
    graphs = {
        "tinyc_depthwise_conv_inplace_s8": same_size_depthwise(1, 3, 5, 4, 3, 3, 1, 1, 1),
        "tinyc_depthwise_conv_chw_inplace_s8": _conv((1, 3, 5, 4), 3, 3, 2, (1, 1, 1, 1), 3, 1, (CHW, CHW)),
        "tinyc_pointwise_conv_inplace_s8": _conv((1, 3, 5, 4), 2, 1, 1, (0,) * 4, 1, 1, (NHWC, NHWC), True),
        "tinyc_pointwise_conv_chw_s8": _conv((1, 3, 5, 4), 4, 1, 1, (0,) * 4, 1, 1, (CHW, CHW)),
        "tinyc_pointwise_conv_chw_hwc_s8": _conv((1, 3, 5, 4), 4, 1, 1, (0,) * 4, 1, 1, (CHW, NHWC)),
        "tinyc_pointwise_conv_hwc_chw_s8": _conv((1, 3, 5, 4), 4, 1, 1, (0,) * 4, 1, 1, (NHWC, CHW)),
    }
    expected_scratch = {"tinyc_depthwise_conv_inplace_s8": (1 * 4 + 1 + 1) * 3,  # ring: a row and 2 pixels
                        "tinyc_depthwise_conv_chw_inplace_s8": 3 * 2,  # one output channel, 3 x 2
                        "tinyc_pointwise_conv_inplace_s8": 3}  # one input pixel
    for symbol, graph in graphs.items():
        (call,) = kernel_calls(graph.nodes[0], graph)
        assert call.symbol == symbol
        assert [p.name for p in runtime_sources_for([call])] == sorted([f"{symbol}.c", *LIBRARY_SOURCES])
        want = expected_scratch.get(symbol, 0)
        assert scratch_bytes(call) == call.scratch_bytes == want
        if want:
            assert kernel_lib.call_int(f"{symbol}_get_buffer_size", call.params, call.params_type) == want
    # A 3x3 conv with a channel-major side has no kernel; in_place on a strided conv neither.
    bad = _conv((1, 3, 5, 4), 4, 3, 1, (1, 1, 1, 1), 1, 1, (CHW, NHWC))
    with pytest.raises(KernelLayoutError, match="tensor x has shape"):
        kernel_calls(bad.nodes[0], bad)
    strided = _conv((1, 3, 5, 4), 3, 3, 2, (1, 1, 1, 1), 3, 1, (NHWC, NHWC), in_place=True)  # depthwise, stride 2
    with pytest.raises(KernelLayoutError, match="marked in_place"):
        kernel_calls(strided.nodes[0], strided)


def test_ring_depthwise_is_in_place_and_tight(kernel_lib):
    grid = itertools.product((1, 2), (2, 3), (1, 3, 4), (2, 5), (1, 3), (1, 3), (1, 2), (0, 1, 2), (0, 1, 2))
    graphs = [same_size_depthwise(n, c, h, w, kh, kw, dil, top, left, seed=i)
              for i, (n, c, h, w, kh, kw, dil, top, left) in enumerate(grid)
              if top <= (kh - 1) * dil and left <= (kw - 1) * dil]
    assert all(single_node_distance(g, "x") <= 0 for g in graphs)  # the output may sit exactly on the input
    tally = check_grid(kernel_lib, graphs, replayable=False)  # ring taps: the interpreter refuses to replay
    assert tally.cases == len(graphs) > 200 and tally.tight > tally.cases // 3


def test_pointwise_inplace_distance_and_tightness(kernel_lib):
    grid = itertools.product((1, 2), (1, 2, 3), (2, 3), (1, 2, 4), (1, 2, 4))
    graphs = [_conv((n, c, h, w), oc, 1, 1, (0,) * 4, 1, 1, (NHWC, NHWC), True, seed=i)
              for i, (n, h, w, c, oc) in enumerate(grid)]
    for g in graphs:
        pixels = g.tensor("x").size // g.tensor("x").shape[1]
        c, oc = g.tensor("x").shape[1], g.tensor("y").shape[1]
        # Pixel k (k >= 1) is read after k * out_c bytes were written and k * in_c consumed:
        # d = max over k of k * (out_c - in_c), so k = 1 (in place or better) for
        # out_c <= in_c and the last pixel otherwise. One pixel: no read follows a write.
        if pixels == 1:
            want = 1 - g.tensor("x").nbytes
        else:
            want = oc - c if oc <= c else (pixels - 1) * (oc - c)
        assert single_node_distance(g, "x") == want, (g.tensor("x").shape, oc)
    tally = check_grid(kernel_lib, graphs, replayable=False)
    assert tally.cases == len(graphs) and tally.tight > tally.cases // 2


def test_chw_depthwise_is_in_place_and_tight(kernel_lib):
    grid = itertools.product((1, 2), (2, 3), (2, 4), (3, 5), (1, 3), (1, 2), (0, 1))
    graphs = [_conv((n, c, h, w), c, k, s, (p,) * 4, c, 1, (CHW, CHW), seed=i)
              for i, (n, c, h, w, k, s, p) in enumerate(grid) if p < k]
    same = [g for g in graphs if g.tensor("x").shape == g.tensor("y").shape]
    assert same and all(single_node_distance(g, "x") == 0 for g in same)  # TinyEngine's in place
    tally = check_grid(kernel_lib, graphs)
    assert tally.cases == len(graphs) and tally.tight > tally.cases // 3


def test_pointwise_layout_variants_overlap_grid(kernel_lib):
    grid = itertools.product(((CHW, CHW), (CHW, NHWC), (NHWC, CHW)), (1, 2), (1, 2, 3), (2, 3), (1, 3), (1, 2, 4))
    graphs = [_conv((n, c, h, w), oc, 1, 1, (0,) * 4, 1, 1, orders, seed=i)
              for i, (orders, n, c, h, w, oc) in enumerate(grid)]
    tally = check_grid(kernel_lib, graphs)
    # (1 channel or 1 pixel: CHW and NHWC coincide and the NHWC kernels run)
    assert {s for s in tally.symbols if "pointwise" in s} == {
        "tinyc_pointwise_conv_chw_s8", "tinyc_pointwise_conv_chw_hwc_s8", "tinyc_pointwise_conv_hwc_chw_s8"}
    assert tally.cases > 150 and tally.tight > tally.cases // 2


def test_in_place_flag_changes_only_the_kernel(kernel_lib):
    plain = same_size_depthwise(1, 4, 6, 5, 3, 3, 1, 1, 1)
    flagged = replace(plain, nodes=(replace(plain.nodes[0], attrs=replace(plain.nodes[0].attrs, in_place=False)),))
    assert kernel_calls(flagged.nodes[0], flagged)[0].symbol == "tinyc_depthwise_conv_s8"
    # Same weights and constants, one more argument: the ring.
    a, b = kernel_calls(plain.nodes[0], plain)[0], kernel_calls(flagged.nodes[0], flagged)[0]
    assert a.params == b.params and len(a.args) == len(b.args) + 1
    assert single_node_distance(flagged, "x") == 5 * 4 + 4  # without the ring: a row and a pixel
    assert single_node_distance(plain, "x") <= 0
