"""tinyc_fully_connected_single_w16_s8, the int16-weight fully connected with the proved
single-rounding tail (kernels/fc_single.py): equal to the interpreter bit for bit under ONNX
semantics in the portable and emulated-SIMD host builds (ASan + UBSan) and on qemu-m4/m7, over
the int16 variant's randomised shapes (weights and zero points at their extremes); chosen for
an ONNX layer whose tail is proved, never for a TFLite layer, and the proof refuses an
accumulator whose doubled value could leave int32."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from kernel_support import act, check_kernels_batch, const, draw_examples, seeds, single_node
from test_kernels_conv_dsp import DSP, FC16, QEMU_CASES, SETTINGS, check_dsp, dsp_case, dsp_fc_graphs
from test_kernels_onnx_semantics import as_onnx

from tinycc_ml.ir import ops
from tinycc_ml.ir.graph import QuantParams
from tinycc_ml.kernels import fc_single
from tinycc_ml.kernels.registry import kernel_calls

FC_SINGLE = fc_single.SYMBOL


def _expected(graph) -> str:
    return FC_SINGLE if fc_single.single_tail(graph.nodes[0], graph) is not None else FC16


@SETTINGS
@given(graph=dsp_fc_graphs(), seed=seeds)
def test_single_fully_connected_matches_interpreter(kernel_runners, graph, seed):
    graph = as_onnx(graph)
    assert check_dsp(graph, kernel_runners, seed) == _expected(graph)


def test_single_fully_connected_on_cortex_m(qemu_kernel_runner):
    cases = draw_examples(st.tuples(dsp_fc_graphs(), seeds), QEMU_CASES)
    checked = [dsp_case(as_onnx(graph), seed) for graph, seed in cases]
    assert sum(case.calls[0].symbol == FC_SINGLE for case in checked) > QEMU_CASES // 2
    assert check_kernels_batch(checked, qemu_kernel_runner) > 100


def _fc(in_zp: int = 3, weight: int = 1, bias: int = 0, features: int = 8) -> object:
    x_q, w_q, y_q = QuantParams.per_tensor(0.1, in_zp), QuantParams.per_tensor(0.01, 0), QuantParams.per_tensor(0.3, -4)
    w = np.full((8, features), weight, dtype=np.int8)
    return single_node(ops.FullyConnected(-4, 127), [act("x", (1, features), x_q), const("w", w, w_q),
                                                   const("b", np.full(8, bias, dtype=np.int32))],
                       act("y", (1, 8), y_q))


def test_single_variant_for_onnx_layers_only():
    """An ONNX layer runs the single tail; the same layer under TFLite semantics (right shift
    >= 1) keeps tinyc_fully_connected_w16_s8, as does an ONNX layer on a core without DSP."""
    graph = _fc()
    assert kernel_calls(graph.nodes[0], graph, DSP)[0].symbol == FC16
    onnx = as_onnx(graph)
    (call,) = kernel_calls(onnx.nodes[0], onnx, DSP)
    assert call.symbol == FC_SINGLE
    table = call.args[3].values
    assert table[-1] == 1 and table[1] == -4  # double shift 1 (shift 0), the output offset
    host = replace(DSP, dsp=False)
    assert kernel_calls(onnx.nodes[0], onnx, host)[0].symbol == "tinyc_fully_connected_s8"


def test_single_tail_refused_where_the_doubled_accumulator_could_overflow():
    """|bias| + 128 * sum |w| with the doubled value reaching 2^31: no proof, the guarded kernel."""
    near = as_onnx(_fc(bias=(1 << 30) - 128 * 127 * 8 - 1, weight=127, in_zp=0))
    assert fc_single.single_tail(near.nodes[0], near) is not None
    over = as_onnx(_fc(bias=(1 << 30) - 128 * 127 * 8, weight=127, in_zp=0))
    assert fc_single.single_tail(over.nodes[0], over) is None
    assert kernel_calls(over.nodes[0], over, DSP)[0].symbol == FC16
