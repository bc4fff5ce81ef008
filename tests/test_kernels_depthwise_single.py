"""The depthwise kernels' single-rounding variants (tinyc_depthwise_conv_inplace_c4_single_s8,
_c4_single_w16_s8, tinyc_depthwise_conv_3x3_single_s8): what onnxruntime-quantized models'
depthwise layers run on DSP cores, their requantize tail the one SMMLAR kernels/single_tail.py
proves. Over the TFLite kernels' own strategies turned to ONNX semantics (odd and even channel
groups, every padding, strides 1 and 2, zero points at the extremes, per-channel scales six
decades apart) each equals the interpreter byte for byte, portable and SIMD (emulated on the
host), under the sanitizers, and on qemu-m4/m7; the registry gives ONNX layers the single
variants and TFLite layers their own kernels; the in-place ones keep the ring and the overlap.
"""

from __future__ import annotations

import os

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kernel_support import check_kernels, check_kernels_batch, draw_examples, general, kernel_case, seeds
from overlap_support import check_grid, single_node_distance
from test_kernels_depthwise import _grid, depthwise3x3_graphs
from test_kernels_depthwise_inplace4 import M7, M7_FLASH, _overlap_grid, ring_graphs
from test_kernels_onnx_semantics import as_onnx

from tinycc_ml.ir.graph import Graph
from tinycc_ml.kernels import depthwise3x3 as dw3
from tinycc_ml.kernels import depthwise_inplace4 as dwi4
from tinycc_ml.kernels.registry import kernel_calls, scratch_bytes
from tinycc_ml.kernels.target import HOST_TARGET, KernelTarget

SETTINGS = settings(max_examples=80, deadline=None, derandomize="CI" in os.environ,
                    suppress_health_check=[HealthCheck.too_slow])
RING = {dwi4.SYMBOL_SINGLE: M7, dwi4.SYMBOL_SINGLE_W16: M7_FLASH}
RING_TFLITE = {dwi4.SYMBOL_SINGLE: dwi4.SYMBOL, dwi4.SYMBOL_SINGLE_W16: dwi4.SYMBOL_W16}


def _symbol(graph: Graph, target: KernelTarget) -> str:
    (call,) = kernel_calls(graph.nodes[0], graph, target)
    return call.symbol


def _ring_symbol(graph: Graph, symbol: str) -> str:
    """The single variant where its proof holds, else the TFLite-form kernel (its guarded tail)."""
    return symbol if dwi4.single_tail(graph.nodes[0], graph) is not None else RING_TFLITE[symbol]


# --- in place: tinyc_depthwise_conv_inplace_c4_single(_w16)_s8 ---------------------------

@SETTINGS
@given(graph=ring_graphs().map(as_onnx), seed=seeds, symbol=st.sampled_from(sorted(RING)))
def test_in_place_single_matches_interpreter(kernel_runners, graph, seed, symbol):
    assert _symbol(graph, RING[symbol]) == _ring_symbol(graph, symbol)
    check_kernels(graph, kernel_runners, seed, target=RING[symbol])


@SETTINGS
@given(graph=ring_graphs(kws_like=True).map(as_onnx), seed=seeds, symbol=st.sampled_from(sorted(RING)))
def test_in_place_single_nine_tap_loop_matches_interpreter(kernel_runners, graph, seed, symbol):
    """kws's case (3x3, scales within a factor 2): the proof always holds."""
    assert _symbol(graph, RING[symbol]) == symbol
    check_kernels(graph, kernel_runners, seed, target=RING[symbol])


def test_in_place_registry_gives_onnx_layers_the_single_variant():
    graphs = _overlap_grid()
    for single, target in RING.items():
        assert all(general(_symbol(g, target)) == RING_TFLITE[single] for g in graphs)  # TFLite layers: theirs
        onnx = [as_onnx(g) for g in graphs]
        assert all(_symbol(g, target) == single for g in onnx)
        assert all(_symbol(g, HOST_TARGET) == "tinyc_depthwise_conv_inplace_s8" for g in onnx[:20])


def test_in_place_single_constants():
    """consts: the folded biases and multipliers as the other kernel's, then per channel
    (output offset, 0); requant: the packed shifts and the single tail's double shift; the
    int16 kernel's weights and biases shifted by it."""
    graph = as_onnx(_overlap_grid()[7])
    tail = dwi4.single_tail(graph.nodes[0], graph)
    assert tail is not None and tail.double_shift == 1
    c = graph.tensor("x").shape[1]
    zp_out = graph.tensor("y").quant.zp
    calls = {symbol: kernel_calls(graph.nodes[0], graph, target)[0] for symbol, target in RING.items()}
    args = {symbol: {a.name: a for a in call.args if hasattr(a, "values")} for symbol, call in calls.items()}
    narrow = np.asarray(args[dwi4.SYMBOL_SINGLE]["consts"].values).reshape(c // 4, 16)
    wide = np.asarray(args[dwi4.SYMBOL_SINGLE_W16]["consts"].values).reshape(c // 4, 16)
    assert narrow[:, :4].reshape(-1).tolist() == dwi4.folded_bias(graph.nodes[0], graph).tolist()
    assert narrow[:, 4:8].reshape(-1).tolist() == tail.multiplier.tolist()
    assert narrow[:, 8:16:2].reshape(-1).tolist() == [zp_out] * c and not narrow[:, 9:16:2].any()
    assert wide[:, :4].tolist() == (narrow[:, :4].astype(np.int64) << 1).tolist()
    assert wide[:, 4:].tolist() == narrow[:, 4:].tolist()
    for symbol in RING:
        assert int(np.asarray(args[symbol]["requant"].values)[-1]) == 1


def test_in_place_single_keeps_the_ring_and_the_overlap(kernel_lib, kernel_lib_simd):
    graphs = [as_onnx(g) for g in _overlap_grid()]
    for symbol, target in RING.items():
        assert all(single_node_distance(g, "x", target=target) <= 0 for g in graphs)
        for g in graphs[:8]:
            (call,) = kernel_calls(g.nodes[0], g, target)
            assert call.symbol == symbol and scratch_bytes(call) == call.scratch_bytes
            assert kernel_lib.call_int(f"{symbol}_get_buffer_size", call.params, call.params_type) == call.scratch_bytes
        for lib in (kernel_lib, kernel_lib_simd):
            tally = check_grid(lib, graphs, replayable=False, target=target)
            assert tally.symbols == {symbol} and tally.cases == len(graphs) > 200, tally


def test_in_place_single_on_cortex_m(qemu_kernel_runner):
    strategy = st.tuples(st.one_of(ring_graphs(), ring_graphs(kws_like=True)).map(as_onnx), seeds,
                         st.sampled_from(sorted(RING)))
    cases = draw_examples(strategy, 150)
    batch = [kernel_case(g, seed, target=RING[symbol]) for g, seed, symbol in cases]
    assert {call.symbol for case in batch for call in case.calls} >= set(RING)
    assert check_kernels_batch(batch, qemu_kernel_runner) > 140


# --- 3x3, not in place: tinyc_depthwise_conv_3x3_single_s8 ------------------------------

def _dw3_symbol(graph: Graph) -> str:
    return dw3.SYMBOL_SINGLE if dw3.single_tail(graph.nodes[0], graph) is not None else dw3.SYMBOL


@SETTINGS
@given(graph=depthwise3x3_graphs().map(as_onnx), seed=seeds)
def test_3x3_single_matches_interpreter(kernel_runners, graph, seed):
    assert _symbol(graph, M7_FLASH) == _dw3_symbol(graph)
    check_kernels(graph, kernel_runners, seed, target=M7_FLASH)


def _dw3_grid() -> list[Graph]:
    return [g for g in _grid("plain") if g is not None and g.tensor("w").shape[2:] == (3, 3)
            and g.nodes[0].attrs.dilations == (1, 1) and g.tensor("y").shape[1] == g.tensor("x").shape[1]
            and g.tensor("x").shape[1] % 4 == 0]


def test_3x3_registry_gives_onnx_layers_the_single_variant():
    graphs = _dw3_grid()
    assert graphs and all(_symbol(g, M7_FLASH) == dw3.SYMBOL for g in graphs)  # TFLite layers: unchanged
    onnx = [as_onnx(g) for g in graphs]
    assert all(_symbol(g, M7_FLASH) == dw3.SYMBOL_SINGLE for g in onnx)
    assert all(_symbol(g, HOST_TARGET) == "tinyc_depthwise_conv_s8" for g in onnx)


def test_3x3_single_lane_table():
    """Per group, per lane (channels ch, ch + 2): the biases, then per channel its multiplier,
    the output offset and 0; requant: the packed shifts, then the single tail's double shift."""
    graph = as_onnx(_dw3_grid()[0])
    tail = dw3.single_tail(graph.nodes[0], graph)
    assert tail is not None
    (call,) = kernel_calls(graph.nodes[0], graph, M7_FLASH)
    c = graph.tensor("x").shape[1]
    lanes = np.asarray(call.args[2].values).reshape(c // 4, 2, 8)
    zp_out = graph.tensor("y").quant.zp
    for ch in range(c):
        lane = lanes[ch // 4, ch % 2]
        k = ch // 2 % 2
        assert lane[2 + 3 * k:5 + 3 * k].tolist() == [tail.multiplier[ch], zp_out, 0]
    assert int(np.asarray(call.args[4].values)[-1]) == tail.double_shift >= 1


def test_3x3_single_keeps_overlap_distances(kernel_lib, kernel_lib_simd):
    graphs = [as_onnx(g) for g in _dw3_grid()]
    for lib in (kernel_lib, kernel_lib_simd):
        tally = check_grid(lib, graphs, tight=False, target=M7_FLASH)
        assert tally.symbols == {dw3.SYMBOL_SINGLE} and tally.cases > 10, tally


def test_3x3_single_on_cortex_m(qemu_kernel_runner):
    cases = draw_examples(st.tuples(depthwise3x3_graphs().map(as_onnx), seeds), 150)
    batch = [kernel_case(g, seed, target=M7_FLASH) for g, seed in cases]
    assert dw3.SYMBOL_SINGLE in {call.symbol for case in batch for call in case.calls}
    assert check_kernels_batch(batch, qemu_kernel_runner) > 100
