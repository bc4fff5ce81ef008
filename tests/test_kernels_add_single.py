"""tinyc_add_table_single_s8, the compile-time table Add for ONNX semantics (an output stage
without right shift, the sum rounded once): equal to the interpreter bit for bit in the
portable and emulated-SIMD host builds (ASan + UBSan), in place too, for every input pair at
the scale extremes, and on qemu-m4/m7; chosen for ONNX Adds of the table's sizes, never for
a TFLite Add (tinyc_add_table_s8 keeps those, and refuses these: no right shift)."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from kernel_support import act, check_kernels, check_kernels_batch, draw_examples, kernel_case, seeds, single_node
from test_kernels_elementwise import SETTINGS, large_add_graphs
from test_kernels_onnx_semantics import as_onnx

from tinycc_ml.ir import ops
from tinycc_ml.ir.graph import QuantParams
from tinycc_ml.kernels.elementwise import add_table, add_table_single
from tinycc_ml.kernels.registry import kernel_calls

SINGLE = "tinyc_add_table_single_s8"


def _symbol(graph) -> str:
    (call,) = kernel_calls(graph.nodes[0], graph)
    return call.symbol


@SETTINGS
@given(graph=large_add_graphs(), seed=seeds)
def test_single_add_table_matches_interpreter(kernel_runners, graph, seed):
    graph = as_onnx(graph)
    assert add_table(graph.nodes[0], graph) is None  # no right shift: the TFLite table refuses it
    assert _symbol(graph) == (SINGLE if add_table_single(graph.nodes[0], graph) is not None else "tinyc_add_s8")
    check_kernels(graph, kernel_runners, seed)


def _pairs(sa, za, sb, zb, so, zo, clamp=(-128, 127)):
    return single_node(ops.Add(*clamp), [act("a", (256, 1), QuantParams.per_tensor(sa, za)),
                                         act("b", (1, 256), QuantParams.per_tensor(sb, zb))],
                       act("y", (256, 256), QuantParams.per_tensor(so, zo)))


def test_single_add_table_every_input_pair_at_the_extremes(kernel_runners):
    """All 65,536 (a, b) pairs, at zero points -128 / 127 and scales 1000x apart either way,
    with and without a fused clamp."""
    values = np.arange(-128, 128, dtype=np.int8)
    inputs = {"a": values.reshape(256, 1), "b": values.reshape(1, 256)}
    cases = [((1e-3, -128), (1.0, 127), (2e-3, 0), (-128, 127)), ((0.5, 127), (0.5, -128), (1.0, -128), (-128, 127)),
             ((1.0, 0), (1e-3, 5), (1e3, 0), (-128, 127)), ((0.02, 3), (0.03, -7), (0.01, -20), (-20, 90)),
             ((0.02, 3), (0.03, -7), (0.04, -20), (-20, 127))]
    for (sa, za), (sb, zb), (so, zo), clamp in cases:
        graph = as_onnx(_pairs(sa, za, sb, zb, so, zo, clamp))
        assert _symbol(graph) == SINGLE
        check_kernels(graph, kernel_runners, seed=0, inputs=inputs)


def test_single_add_table_works_in_place(kernel_runners):
    q = QuantParams.per_tensor(0.05, -3)
    for b_shape in ((16, 32), (1, 32), (16, 1)):
        graph = as_onnx(single_node(ops.Add(-3, 127), [act("a", (16, 32), q),
                                                      act("b", b_shape, QuantParams.per_tensor(0.07, 9))],
                                    act("y", (16, 32), QuantParams.per_tensor(0.1, 4))))
        assert _symbol(graph) == SINGLE
        check_kernels(graph, kernel_runners, seed=3, aliases={"y": "a"})


def test_single_add_table_for_onnx_adds_only():
    """The same Add: TFLite semantics -> tinyc_add_table_s8 (and no single table: its output
    shift is negative); ONNX -> the single table (output shift 0, the offset the zero point);
    below ADD_TABLE_MIN_ELEMENTS outputs either way tinyc_add_s8."""
    graph = _pairs(0.02, 3, 0.03, -7, 0.04, -20)
    assert _symbol(graph) == "tinyc_add_table_s8"
    assert add_table_single(graph.nodes[0], graph) is None
    onnx = as_onnx(graph)
    (call,) = kernel_calls(onnx.nodes[0], onnx)
    assert call.symbol == SINGLE
    assert call.params["output_bias"] == -20 and call.params["output_right_shift"] == 0
    q = QuantParams.per_tensor(0.1, 0)
    small = as_onnx(single_node(ops.Add(), [act("a", (1, 255), q), act("b", (1, 255), q)], act("y", (1, 255), q)))
    assert _symbol(small) == "tinyc_add_s8"


def test_single_add_table_on_cortex_m(qemu_kernel_runner):
    cases = [(as_onnx(graph), seed) for graph, seed in draw_examples(st.tuples(large_add_graphs(), seeds), 60)]
    assert {_symbol(graph) for graph, _ in cases} == {SINGLE}
    assert check_kernels_batch([kernel_case(graph, seed) for graph, seed in cases], qemu_kernel_runner) >= 50
