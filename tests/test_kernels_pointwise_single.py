"""The pointwise kernels' single-rounding twins (tinyc_pointwise_conv[_<variant>]_single_s8:
the proved loops with requant_tail.h tinyc_tail_single, for ONNX-semantics layers whose every
channel has right shift 0, where kernels/single_tail.py proves the tail): the registry picks
them exactly there (not for TFLite layers, not where the proof fails or the offset cannot be
folded), and they are bit-exact with the interpreter under ONNX semantics over the pointwise
tests' own strategies (host portable and emulated-SIMD builds, under the sanitizers, and on
qemu-m4 / m7), with constant (all-zero-weight) channels and fused clamps; their access models
and scratch twins are their twins'."""

from __future__ import annotations

import itertools
import os

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kernel_support import NHWC, act, check_kernels, check_kernels_batch, const, draw_examples, kernel_case, seeds, \
    single_node
from overlap_support import check_grid, single_node_distance
from test_kernels_onnx_semantics import as_onnx
from test_kernels_pointwise import (IN8_W16, IN16_W16, IN_PLACE, IN_PLACE_IN64_W16, IN_PLACE_W16, M7, M7_FLASH,
                                    SYMBOL, W16, X16_W16, _overlap_graph, in_place_w16_symbol, pointwise_graphs,
                                    w16_symbol)
from test_kernels_pointwise_tail import _graph

from tinycc_ml.ir import ops
from tinycc_ml.ir.graph import Graph, QuantParams
from tinycc_ml.kernels.pointwise import single_tail
from tinycc_ml.kernels.registry import kernel_calls, scratch_bytes

SETTINGS = settings(max_examples=50, deadline=None, derandomize="CI" in os.environ,
                    suppress_health_check=[HealthCheck.too_slow])


def single(symbol: str) -> str:
    return symbol.removesuffix("_s8") + "_single_s8"


def proved(symbol: str) -> str:
    return symbol.removesuffix("_s8") + "_proved_s8"


def _symbol(graph: Graph, target) -> str:
    (call,) = kernel_calls(graph.nodes[0], graph, target)
    return call.symbol


# the twins whose loops double their inputs once (in8, the expanded pair): double shift 1 only
DOUBLING = {IN8_W16, IN16_W16, X16_W16, IN_PLACE, IN_PLACE_W16, IN_PLACE_IN64_W16}


def _expected(graph: Graph, twin: str) -> str:
    """The single twin where the proof holds (with double shift 1 for the doubling ones), the
    twin itself otherwise."""
    tail = single_tail(graph.nodes[0], graph)
    ok = tail is not None and (tail.double_shift == 1 or twin not in DOUBLING)
    return single(twin) if ok else twin


# --- the choice ---------------------------------------------------------------------------


def test_onnx_layers_select_the_single_twin_and_tflite_layers_do_not():
    for in_c, out_c, width, twin in ((8, 16, 5, IN8_W16), (16, 32, 4, IN16_W16), (32, 64, 3, X16_W16),
                                     (12, 6, 3, W16)):
        tflite = _graph(in_c, out_c, width, 0)
        onnx = as_onnx(tflite)
        assert single_tail(onnx.nodes[0], onnx) is not None
        assert _symbol(onnx, M7_FLASH) == single(twin)
        assert single_tail(tflite.nodes[0], tflite) is None
        assert _symbol(tflite, M7_FLASH) == proved(twin)  # TFLite's tail, proved
        assert _symbol(onnx, M7) == single(SYMBOL)  # int8 weights (flash unknown)
        assert _symbol(tflite, M7) == proved(SYMBOL)
    for in_c, twin in ((64, IN_PLACE_IN64_W16), (32, IN_PLACE_W16)):
        tflite = _overlap_graph(1, 3, 5, in_c, 16, 0, in_place=True)
        onnx = as_onnx(tflite)
        assert _symbol(onnx, M7_FLASH) == single(twin) and _symbol(tflite, M7_FLASH) == proved(twin)
        assert _symbol(onnx, M7) == single(IN_PLACE) and _symbol(tflite, M7) == proved(IN_PLACE)


def test_tflite_multipliers_above_one_keep_their_kernels():
    """A TFLite layer with multipliers >= 1 (shift > 0) could take the tail too; the records
    leave it to the guarded kernels (ONNX semantics only)."""
    graph = _graph(16, 8, 5, 0, out_scale=1e-5)
    assert _symbol(graph, M7_FLASH) == w16_symbol(16, 8)


def test_single_twin_needs_the_proof():
    """Accumulators whose doubled, shifted value can leave int32 (an ONNX multiplier >= 1 with
    a left shift, 256 input channels at +-127): the twin with its guarded tail."""
    graph = as_onnx(_graph(256, 16, 3, 0, out_scale=1e-7))
    assert single_tail(graph.nodes[0], graph) is None
    assert _symbol(graph, M7_FLASH) == W16


def _large_multiplier_graph(in_c: int, out_c: int, width: int, seed: int) -> Graph:
    """Per-tensor scales whose multiplier is 3.2 (shift 2), small weights (the proof holds)."""
    rng = np.random.default_rng(seed)
    wt = rng.integers(-20, 21, size=(out_c, in_c, 1, 1)).astype(np.int8)
    b = rng.integers(-500, 500, size=out_c).astype(np.int32)
    q_in, q_w, q_out = QuantParams.per_tensor(0.05, 3), QuantParams.per_tensor(0.016, 0), QuantParams.per_tensor(0.00025, -5)
    return single_node(ops.Conv2d((1, 1), (1, 1), (0,) * 4, 1, -128, 127),
                       [act("x", (1, in_c, 3, width), q_in), const("w", wt, q_w), const("b", b)],
                       act("y", (1, out_c, 3, width), q_out), {"x": NHWC, "y": NHWC})


def test_doubling_twins_need_double_shift_one(kernel_runners):
    """An ONNX multiplier >= 1 (shift > 0, double shift > 1) with a small enough accumulator:
    the twins that shift every output (plain, w16) take it; the ones that double their inputs
    once (in8, the expanded pair) leave it to their twins' guarded tail. Bit-exact either way."""
    for seed, (in_c, out_c, width, twin, single_ok) in enumerate(((8, 16, 5, IN8_W16, False), (16, 32, 4, IN16_W16, False),
                                                                    (32, 64, 3, X16_W16, False), (12, 6, 3, W16, True))):
        graph = as_onnx(_large_multiplier_graph(in_c, out_c, width, seed))
        tail = single_tail(graph.nodes[0], graph)
        assert tail is not None and tail.double_shift > 1
        assert _symbol(graph, M7_FLASH) == (single(twin) if single_ok else twin)
        assert _symbol(graph, M7) == single(SYMBOL)
        check_kernels(graph, kernel_runners, seed, target=M7_FLASH)
        check_kernels(graph, kernel_runners, seed, target=M7)


# --- bit-exact under ONNX semantics ----------------------------------------------------------


@SETTINGS
@given(graph=pointwise_graphs().map(as_onnx), seed=seeds)
def test_single_matches_interpreter(kernel_runners, graph, seed):
    assert _symbol(graph, M7) == _expected(graph, SYMBOL)
    check_kernels(graph, kernel_runners, seed, target=M7)


@SETTINGS
@given(graph=pointwise_graphs(most_in=96, most_out=64).map(as_onnx), seed=seeds)
def test_single_w16_matches_interpreter(kernel_runners, graph, seed):
    (call,) = kernel_calls(graph.nodes[0], graph, M7_FLASH)
    assert call.symbol == _expected(graph, w16_symbol(call.params["in_c"], call.params["out_c"]))
    check_kernels(graph, kernel_runners, seed, target=M7_FLASH)


@SETTINGS
@given(graph=pointwise_graphs(in_place=True).map(as_onnx), seed=seeds)
def test_single_in_place_matches_interpreter(kernel_runners, graph, seed):
    assert _symbol(graph, M7) == _expected(graph, IN_PLACE)
    check_kernels(graph, kernel_runners, seed, target=M7)
    (call,) = kernel_calls(graph.nodes[0], graph, M7_FLASH)
    assert call.symbol == _expected(graph, in_place_w16_symbol(call.params["in_c"]))
    check_kernels(graph, kernel_runners, seed, target=M7_FLASH)


@SETTINGS
@given(graph=pointwise_graphs(in_place=True, in_c=64, most_out=80).map(as_onnx), seed=seeds)
def test_single_in_place_in64_matches_interpreter(kernel_runners, graph, seed):
    assert _symbol(graph, M7_FLASH) == _expected(graph, IN_PLACE_IN64_W16)
    check_kernels(graph, kernel_runners, seed, target=M7_FLASH)


def _fixed_graphs() -> list[Graph]:
    """Dead channels (all-zero weights, a bias near 2^30: constants), fused clamps, and the
    small-in_c kernels' counts, at odd and even widths."""
    shapes = ((8, 16, 5, 3, -128), (8, 6, 2, 1, -20), (16, 32, 3, 2, -128), (16, 40, 4, 0, 0), (32, 64, 5, 3, -128),
              (64, 34, 1, 1, -30), (12, 10, 3, 2, 5), (128, 128, 3, 1, -128))
    return [as_onnx(_graph(in_c, out_c, width, seed, dead=dead, act_min=lo, act_max=max(lo + 40, 60)))
            for seed, (in_c, out_c, width, dead, lo) in enumerate(shapes)]


def test_single_constant_channels_and_clamps_match_interpreter(kernel_runners):
    for seed, graph in enumerate(_fixed_graphs()):
        for target in (M7, M7_FLASH):
            assert _symbol(graph, target).endswith("_single_s8")
            check_kernels(graph, kernel_runners, seed, target=target)


# --- access models and scratch: the twins' -------------------------------------------------


def test_single_kernels_keep_their_overlap_distances(kernel_lib, kernel_lib_simd):
    plain = [as_onnx(_overlap_graph(*shape, seed)) for seed, shape in
             enumerate(itertools.product((1, 2), (1, 3), (1, 2, 5), (8, 16, 32), (2, 6, 32)))]
    in_place = [as_onnx(_overlap_graph(*shape, seed, True)) for seed, shape in
                enumerate(itertools.product((1, 2), (1, 3), (1, 2, 5), (8, 64), (2, 16, 64, 80)))]
    for target in (M7, M7_FLASH):
        tally = check_grid(kernel_lib, plain, replayable=True, tight=True, target=target)
        assert all(s.endswith("_single_s8") for s in tally.symbols) and tally.cases > 30 and tally.tight > 0, tally
        for lib in (kernel_lib, kernel_lib_simd):
            tally = check_grid(lib, in_place, replayable=False, tight=False, target=target)
            assert all(s.endswith("_single_s8") for s in tally.symbols) and tally.cases > 30, tally
        tally = check_grid(kernel_lib_simd, plain, replayable=True, tight=False, target=target)
        assert all(s.endswith("_single_s8") for s in tally.symbols) and tally.cases > 30, tally
    assert single_node_distance(as_onnx(_overlap_graph(1, 25, 5, 64, 64, 0, True)), "x", M7_FLASH) <= 0


def test_single_scratch_twins_equal_c(kernel_lib):
    for graph, target in ((_graph(32, 32, 5, 0), M7_FLASH), (_graph(16, 32, 4, 0), M7_FLASH),
                          (_overlap_graph(1, 3, 5, 64, 64, 0, True), M7_FLASH),
                          (_overlap_graph(1, 3, 5, 32, 16, 0, True), M7_FLASH),
                          (_overlap_graph(1, 3, 5, 8, 6, 0, True), M7)):
        graph = as_onnx(graph)
        (call,) = kernel_calls(graph.nodes[0], graph, target)
        assert call.symbol.endswith("_single_s8") and call.scratch_bytes > 0
        assert scratch_bytes(call) == call.scratch_bytes
        assert kernel_lib.call_int(f"{call.symbol}_get_buffer_size", call.params, call.params_type) == call.scratch_bytes


# --- the same on qemu-m4 / qemu-m7 -----------------------------------------------------------


def test_single_kernels_on_cortex_m(qemu_kernel_runner):
    built = []
    for in_place, target, most_in in ((False, M7, 64), (True, M7, 64), (False, M7_FLASH, 96), (True, M7_FLASH, 64)):
        cases = draw_examples(st.tuples(pointwise_graphs(most_in=most_in, in_place=in_place).map(as_onnx), seeds), 40)
        built += [kernel_case(graph, seed, target=target) for graph, seed in cases]
    cases = draw_examples(st.tuples(pointwise_graphs(in_place=True, in_c=64, most_out=80).map(as_onnx), seeds), 20)
    built += [kernel_case(graph, seed, target=M7_FLASH) for graph, seed in cases]
    built += [kernel_case(graph, seed, target=target) for seed, graph in enumerate(_fixed_graphs())
              for target in (M7, M7_FLASH)]
    symbols = {case.calls[0].symbol for case in built}
    assert {single(s) for s in (SYMBOL, IN_PLACE, IN8_W16, IN16_W16, X16_W16, W16, IN_PLACE_W16,
                                IN_PLACE_IN64_W16)} <= symbols, symbols
    assert check_kernels_batch(built, qemu_kernel_runner) > 150
