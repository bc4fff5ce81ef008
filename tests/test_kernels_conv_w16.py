"""tinyc_conv_w16_s8 and tinyc_conv_w16_single_s8, the scratch-free KxK conv with int16 weights
of DSP cores (TFLite's tail proved or guarded; the single-rounding tail): equal to the
interpreter bit for bit in the portable and emulated-SIMD host builds (ASan + UBSan) and on
qemu-m4 and qemu-m7, over hypothesis-randomised shapes (fixed seeds on the emulators):
channel counts multiples of 4 (odd multiples too), every padding, strides 1 and 2, zero
points at -128 and 127, weights at +-127 and -128, per-channel scales at the extremes, under
TFLite and ONNX semantics; the single-rounding twin chosen exactly where its tail is proved,
and either chosen only where the board's flash holds the doubled weights."""

from __future__ import annotations

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st
from kernel_support import NHWC, act, act_range, check_kernels_batch, const, draw_examples, per_tensor, scales, seeds, single_node
from test_kernels_conv_dsp import (
    DSP,
    QEMU_CASES,
    SETTINGS,
    _bias,
    _no_shift_overflow,
    _weight_quant,
    _weights,
    check_dsp,
    dsp_case,
)

from test_kernels_onnx_semantics import as_onnx

from tinycc_ml.ir import ops
from tinycc_ml.ir.graph import Graph, QuantParams
from tinycc_ml.kernels.registry import kernel_calls
from tinycc_ml.kernels.target import KernelTarget
from tinycc_ml.quant import params as qparams

W16 = "tinyc_conv_w16_s8"
W16_SINGLE = "tinyc_conv_w16_single_s8"
BOTH = {W16, W16_SINGLE}


def _single_expected(graph: Graph) -> bool:
    """Every channel's right shift is 0 (the single-rounding tail's condition; its proof's
    other condition, the doubled accumulator in int32, holds for these small layers)."""
    node = graph.nodes[0]
    x, w, y = (graph.tensor(n) for n in (node.inputs[0], node.inputs[1], node.outputs[0]))
    requant = qparams.conv_node_requant(node.attrs.fixed_requant, x.quant, w.quant, y.quant, node.attrs.semantics)
    return all(s >= 0 for s in requant.shifts) and len(set(requant.shifts)) == 1


@st.composite
def w16_conv_graphs(draw: st.DrawFn) -> Graph:
    """One-group convs with in_c, out_c multiples of 4 (4..40), kernels 1x2 to 4x4, strides
    1-2, any padding, input zero points at the extremes."""
    rng = np.random.default_rng(draw(seeds))
    in_c, out_c = 4 * draw(st.integers(1, 10)), 4 * draw(st.integers(1, 10))
    kh, kw = draw(st.sampled_from([(1, 2), (2, 1), (2, 2), (3, 3), (1, 3), (3, 1), (4, 4), (2, 4)]))
    sh, sw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    pads = tuple(draw(st.integers(0, e - 1)) for e in (kh, kw, kh, kw))
    h = draw(st.integers(max(1, kh - pads[0] - pads[2]), max(7, kh)))
    w = draw(st.integers(max(1, kw - pads[1] - pads[3]), max(7, kw)))
    n = draw(st.integers(1, 2))
    oh = (h + pads[0] + pads[2] - kh) // sh + 1
    ow = (w + pads[1] + pads[3] - kw) // sw + 1
    in_q = QuantParams.per_tensor(draw(scales(-4, 1)), draw(st.sampled_from([-128, 127, 0, 5, -77])))
    w_q = _weight_quant(draw, out_c)
    out_q = QuantParams.per_tensor(in_q.s * max(w_q.scale) * 10 ** draw(st.floats(-1.0, 4.0)), draw(per_tensor()).zp)
    weights = _weights(draw, rng, (out_c, in_c, kh, kw))
    bias = _bias(draw, rng, out_c)
    requant = qparams.conv_requant(in_q, w_q, out_q)
    max_acc = 255 * 128 * in_c * kh * kw + (0 if bias is None else int(np.abs(bias).max()))
    assume(_no_shift_overflow(requant, max_acc))
    act_min, act_max = draw(act_range())
    attrs = ops.Conv2d((sh, sw), (1, 1), pads, 1, act_min, act_max)
    inputs = [act("x", (n, in_c, h, w), in_q), const("w", weights, w_q), const("b", bias) if bias is not None else None]
    graph = single_node(attrs, inputs, act("y", (n, out_c, oh, ow), out_q), {"x": NHWC, "y": NHWC})
    return graph


@SETTINGS
@given(graph=w16_conv_graphs(), seed=seeds)
def test_int16_weight_conv_matches_interpreter(kernel_runners, graph, seed):
    assert check_dsp(graph, kernel_runners, seed) == (W16_SINGLE if _single_expected(graph) else W16)


@SETTINGS
@given(graph=w16_conv_graphs(), seed=seeds)
def test_int16_weight_conv_single_rounding_matches_interpreter(kernel_runners, graph, seed):
    graph = as_onnx(graph)
    assert check_dsp(graph, kernel_runners, seed) == (W16_SINGLE if _single_expected(graph) else W16)


def test_int16_weight_conv_on_cortex_m(qemu_kernel_runner):
    cases = draw_examples(st.tuples(w16_conv_graphs(), seeds), QEMU_CASES)
    checked = [dsp_case(graph, seed) for graph, seed in cases]
    assert {case.calls[0].symbol for case in checked} <= BOTH
    assert sum(case.calls[0].symbol == W16 for case in checked) > QEMU_CASES // 2
    assert check_kernels_batch(checked, qemu_kernel_runner) > 100


def test_int16_weight_conv_single_rounding_on_cortex_m(qemu_kernel_runner):
    cases = draw_examples(st.tuples(w16_conv_graphs(), seeds), QEMU_CASES)
    checked = [dsp_case(as_onnx(graph), seed) for graph, seed in cases]
    assert {case.calls[0].symbol for case in checked} <= BOTH
    assert sum(case.calls[0].symbol == W16_SINGLE for case in checked) > QEMU_CASES // 2
    assert check_kernels_batch(checked, qemu_kernel_runner) > 100


def test_int16_weight_conv_only_where_the_flash_has_room_and_the_shape_fits():
    graph = draw_examples(w16_conv_graphs(), 1)[0]
    node = graph.nodes[0]
    doubled = 2 * sum(t.nbytes for t in graph.constants()) - sum(t.nbytes for t in graph.constants() if t.name != "w")
    room = -(-doubled * 4 // 3)
    fits = W16_SINGLE if _single_expected(graph) else W16
    for flash, symbol in ((room, fits), (room - 2, "tinyc_conv_im2col_s8"), (0, "tinyc_conv_im2col_s8")):
        target = KernelTarget("cortex-m7", dsp=True, fpu="fpv5-d16", flash_bytes=flash)
        assert kernel_calls(node, graph, target)[0].symbol == symbol, flash
    q = QuantParams.per_tensor(0.1, 0)
    odd = single_node(ops.Conv2d((1, 1), (1, 1), (1, 1, 1, 1), 1),
                      [act("x", (1, 6, 5, 5), q), const("w", np.ones((4, 6, 3, 3), dtype=np.int8), q), None],
                      act("y", (1, 4, 5, 5), q), {"x": NHWC, "y": NHWC})
    assert kernel_calls(odd.nodes[0], odd, DSP)[0].symbol == "tinyc_conv_im2col_s8"
    pointwise_s2 = single_node(ops.Conv2d((2, 2), (1, 1), (0, 0, 0, 0), 1),
                               [act("x", (1, 8, 6, 6), q), const("w", np.ones((8, 8, 1, 1), dtype=np.int8), q), None],
                               act("y", (1, 8, 3, 3), q), {"x": NHWC, "y": NHWC})
    assert kernel_calls(pointwise_s2.nodes[0], pointwise_s2, DSP)[0].symbol == "tinyc_conv_gather_w16_s8"
