"""tinyc_conv_gather_w16_s8, the gathered-window conv with int16 weights of DSP cores (first
layers with one to four input channels, strided 1x1 convs): equal to the interpreter bit for
bit in the portable and emulated-SIMD host builds (ASan + UBSan) and on qemu-m4 and qemu-m7,
over hypothesis-randomised shapes (fixed seeds on the emulators): in_c 1..4, kernels 1..11 in
each dimension (non-square too), strides 1 and 2, dilation 1 and 2, every padding (asymmetric
too), odd sizes, out_c not a multiple of 4, zero points at -128 and 127, weights at +-127 and
-128, per-channel scales at the extremes; its scratch twin equals the C one and is never
larger than the im2col scratch it replaces; chosen only where the shape and the flash fit."""

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
from test_overlap_im2col import GRID, shared_output
from test_overlap_im2col import conv as overlap_conv

from tinycc_ml.ir import ops
from tinycc_ml.ir.graph import Graph, QuantParams
from tinycc_ml.kernels import conv_gather
from tinycc_ml.kernels.access import min_distance
from tinycc_ml.kernels.registry import kernel_calls, variant
from tinycc_ml.kernels.target import HOST_TARGET, KernelTarget
from tinycc_ml.kernels.traffic import node_traffic
from tinycc_ml.quant import params as qparams

GATHER = conv_gather.SYMBOL
GATHER_SINGLE = conv_gather.SINGLE_SYMBOL


def _conv_graph(draw: st.DrawFn, in_c: int, out_c: int, kh: int, kw: int) -> Graph:
    rng = np.random.default_rng(draw(seeds))
    dh, dw = draw(st.sampled_from([1, 1, 2])), draw(st.sampled_from([1, 1, 2]))
    sh, sw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    eff_h, eff_w = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    pads = tuple(draw(st.integers(0, e - 1)) for e in (eff_h, eff_w, eff_h, eff_w))
    if (kh, kw, sh, sw) == (1, 1, 1, 1) and not any(pads):
        sh = 2  # a 1x1 stride-1 unpadded conv is pointwise: another variant
    h = draw(st.integers(max(1, eff_h - pads[0] - pads[2]), max(9, eff_h)))
    w = draw(st.integers(max(1, eff_w - pads[1] - pads[3]), max(9, eff_w)))
    n = draw(st.integers(1, 2))
    oh = (h + pads[0] + pads[2] - eff_h) // sh + 1
    ow = (w + pads[1] + pads[3] - eff_w) // sw + 1
    in_q = QuantParams.per_tensor(draw(scales(-4, 1)), draw(st.sampled_from([-128, 127, 0, 5, -77])))
    w_q = _weight_quant(draw, out_c)
    out_q = QuantParams.per_tensor(in_q.s * max(w_q.scale) * 10 ** draw(st.floats(-1.0, 4.0)), draw(per_tensor()).zp)
    weights = _weights(draw, rng, (out_c, in_c, kh, kw))
    bias = _bias(draw, rng, out_c)
    requant = qparams.conv_requant(in_q, w_q, out_q)
    max_acc = 255 * 128 * in_c * kh * kw + (0 if bias is None else int(np.abs(bias).max()))
    assume(_no_shift_overflow(requant, max_acc))
    act_min, act_max = draw(act_range())
    # tinyc_conv_w16_s8 is ahead for in_c 4 and out_c % 4 == 0 (tests/test_kernels_conv_w16.py):
    # avoided, so those shapes run here too
    attrs = ops.Conv2d((sh, sw), (dh, dw), pads, 1, act_min, act_max, avoid_variants=("tinyc_conv_w16_s8",))
    inputs = [act("x", (n, in_c, h, w), in_q), const("w", weights, w_q), const("b", bias) if bias is not None else None]
    return single_node(attrs, inputs, act("y", (n, out_c, oh, ow), out_q), {"x": NHWC, "y": NHWC})


@st.composite
def first_layer_graphs(draw: st.DrawFn) -> Graph:
    """in_c 1..4, out_c 1..40 (often not a multiple of 4), kernels 1..11 in each dimension."""
    in_c = draw(st.integers(1, 4))
    out_c = draw(st.one_of(st.integers(1, 9), st.integers(1, 40)))
    kh, kw = draw(st.integers(1, 11)), draw(st.integers(1, 11))
    return _conv_graph(draw, in_c, out_c, kh, kw)


@st.composite
def strided_1x1_graphs(draw: st.DrawFn) -> Graph:
    """1x1 convs that are not pointwise (strided or padded): in_c and out_c 1..40."""
    in_c, out_c = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    return _conv_graph(draw, in_c, out_c, 1, 1)


gather_graphs = st.one_of(first_layer_graphs(), strided_1x1_graphs())


@SETTINGS
@given(graph=first_layer_graphs(), seed=seeds)
def test_first_layer_gather_conv_matches_interpreter(kernel_runners, graph, seed):
    assert check_dsp(graph, kernel_runners, seed) == GATHER


@SETTINGS
@given(graph=strided_1x1_graphs(), seed=seeds)
def test_strided_1x1_gather_conv_matches_interpreter(kernel_runners, graph, seed):
    assert check_dsp(graph, kernel_runners, seed) == GATHER


def test_gather_conv_on_cortex_m(qemu_kernel_runner):
    cases = draw_examples(st.tuples(gather_graphs, seeds), QEMU_CASES)
    checked = [dsp_case(graph, seed) for graph, seed in cases]
    assert {case.calls[0].symbol for case in checked} == {GATHER}
    assert check_kernels_batch(checked, qemu_kernel_runner) > 100


def test_gather_scratch_is_never_larger_than_the_im2col_scratch():
    im2col = variant("tinyc_conv_im2col_s8")
    for graph in draw_examples(gather_graphs, 60):
        (call,) = kernel_calls(graph.nodes[0], graph, DSP)
        assert call.symbol == GATHER
        assert 0 < variant(GATHER).scratch(call.params) <= im2col.scratch(call.params)


def test_gather_weights_are_the_ohwi_rows_in_int16_pairs():
    w = np.arange(-60, 60, dtype=np.int64).reshape(5, 3, 2, 4).astype(np.int8)  # out 5, in 3, 2x4: K = 24
    words = conv_gather.int16_words(w).view(np.uint32).astype(np.int64)
    lo = ((words & 0xFFFF) ^ 0x8000) - 0x8000
    hi = ((words >> 16) ^ 0x8000) - 0x8000
    values = np.stack([lo, hi], axis=-1).reshape(2, 24 // 4, 4, 2, 2)  # [block][group][channel][word][lane]
    rows = values.transpose(0, 2, 1, 3, 4).reshape(8, 24)  # [channel of the padded 8][K]
    want = np.zeros((8, 24), dtype=np.int64)
    want[:5] = w.transpose(0, 2, 3, 1).reshape(5, 24)
    assert np.array_equal(rows, want)


def test_gather_conv_only_where_the_flash_has_room_and_the_shape_fits():
    q = QuantParams.per_tensor(0.1, 0)

    def conv(in_c: int, kernel: int, stride: int, pads=(0, 0, 0, 0)) -> Graph:
        size = 6
        out = (size + pads[0] + pads[2] - kernel) // stride + 1
        return single_node(ops.Conv2d((stride, stride), (1, 1), pads, 1),
                           [act("x", (1, in_c, size, size), q),
                            const("w", np.ones((8, in_c, kernel, kernel), dtype=np.int8), q), None],
                           act("y", (1, 8, out, out), q), {"x": NHWC, "y": NHWC})

    first = conv(3, 3, 2, (1, 1, 1, 1))
    doubled = 2 * sum(t.nbytes for t in first.constants()) - sum(t.nbytes for t in first.constants() if t.name != "w")
    room = -(-doubled * 4 // 3)
    for flash, symbol in ((room, GATHER), (room - 2, "tinyc_conv_im2col_s8"), (0, "tinyc_conv_im2col_s8")):
        target = KernelTarget("cortex-m7", dsp=True, fpu="fpv5-d16", flash_bytes=flash)
        assert kernel_calls(first.nodes[0], first, target)[0].symbol == symbol, flash
    host = KernelTarget("host", dsp=False, fpu="none", flash_bytes=1 << 20)
    assert kernel_calls(first.nodes[0], first, host)[0].symbol == "tinyc_conv_s8"
    assert kernel_calls(conv(5, 3, 1).nodes[0], conv(5, 3, 1), DSP)[0].symbol == "tinyc_conv_im2col_s8"
    assert kernel_calls(conv(8, 1, 2).nodes[0], conv(8, 1, 2), DSP)[0].symbol == GATHER
    assert kernel_calls(conv(4, 3, 1).nodes[0], conv(4, 3, 1), DSP)[0].symbol == "tinyc_conv_w16_s8"


def test_gather_conv_keeps_the_per_pixel_overlap_distances(kernel_lib, kernel_lib_simd):
    """access.conv (tinyc_conv_s8's model) for this kernel: each pixel's window is gathered
    before any of its bytes is written, which reads no later than that model says, so at
    D = min_distance on one shared buffer the output is the plain one (portable and
    emulated-SIMD builds), and D is never more than tinyc_conv_s8's."""
    cases = 0
    for seed, (h, w, cin, cout, k, s, p, n) in enumerate(GRID):
        graph = overlap_conv(h, w, cin, cout, k, s, p, n=n)
        if graph is None:
            continue
        calls = kernel_calls(graph.nodes[0], graph, DSP)
        assert calls[0].symbol == GATHER
        d = min_distance(node_traffic(calls), "x", graph.tensor("x").nbytes)
        per_pixel = min_distance(node_traffic(kernel_calls(graph.nodes[0], graph, HOST_TARGET)), "x",
                                 graph.tensor("x").nbytes)
        assert d == per_pixel
        if d >= graph.tensor("y").nbytes:
            continue
        cases += 1
        for lib in (kernel_lib, kernel_lib_simd):
            got, want = shared_output(lib, graph, d, seed)
            assert got.tobytes() == want.tobytes(), f"{GATHER} at d={d}: {graph.nodes[0]}"
    assert cases > 100


def test_gather_conv_on_m33_and_m3(qemu_other_core_runner):
    """The SIMD path as -mcpu=cortex-m33 compiles it, and the portable one on a Cortex-M3."""
    cases = draw_examples(st.tuples(gather_graphs, seeds), 24)
    checked = [dsp_case(graph, seed) for graph, seed in cases]
    assert {case.calls[0].symbol for case in checked} == {GATHER}
    assert check_kernels_batch(checked, qemu_other_core_runner) == len(checked)


# --- tinyc_conv_gather_single_w16_s8: ONNX-semantics layers, the single-rounding tail ------


def as_onnx_conv(graph: Graph) -> Graph:
    """The case under ONNX semantics (tests/test_kernels_onnx_semantics.py as_onnx)."""
    return as_onnx(graph)


def single_expected(graph: Graph) -> str:
    """The single variant where its tail is proved, else the guarded kernel."""
    (node,) = graph.nodes
    proved = conv_gather.applies_single(node, graph, DSP)
    return GATHER_SINGLE if proved else GATHER


@SETTINGS
@given(graph=gather_graphs, seed=seeds)
def test_single_gather_conv_matches_interpreter(kernel_runners, graph, seed):
    graph = as_onnx_conv(graph)
    assert check_dsp(graph, kernel_runners, seed) == single_expected(graph)


def test_single_gather_conv_on_cortex_m(qemu_kernel_runner):
    cases = draw_examples(st.tuples(gather_graphs, seeds), QEMU_CASES)
    checked = [dsp_case(as_onnx_conv(graph), seed) for graph, seed in cases]
    assert sum(case.calls[0].symbol == GATHER_SINGLE for case in checked) > QEMU_CASES // 2
    assert check_kernels_batch(checked, qemu_kernel_runner) > 100


def test_single_gather_conv_on_m33_and_m3(qemu_other_core_runner):
    cases = draw_examples(st.tuples(gather_graphs, seeds), 24)
    checked = [dsp_case(as_onnx_conv(graph), seed) for graph, seed in cases]
    assert check_kernels_batch(checked, qemu_other_core_runner) == len(checked)


def _first_layer(bias: int = 0, weight: int = 1, zp: int = 3) -> Graph:
    q, w_q, y_q = QuantParams.per_tensor(0.1, zp), QuantParams.per_tensor(0.01, 0), QuantParams.per_tensor(0.05, -7)
    return single_node(ops.Conv2d((2, 2), (1, 1), (1, 1, 1, 1), 1, -7, 127),
                       [act("x", (1, 3, 6, 6), q), const("w", np.full((8, 3, 3, 3), weight, dtype=np.int8), w_q),
                        const("b", np.full(8, bias, dtype=np.int32))],
                       act("y", (1, 8, 3, 3), y_q), {"x": NHWC, "y": NHWC})


def test_single_gather_for_onnx_layers_only():
    """An ONNX layer takes the single tail (table {multiplier, offset} per channel, the double
    shift last); the same layer under TFLite semantics keeps tinyc_conv_gather_w16_s8, and the
    proof refuses a doubled accumulator that could reach 2^31."""
    graph = _first_layer()
    assert kernel_calls(graph.nodes[0], graph, DSP)[0].symbol == GATHER
    onnx = as_onnx_conv(graph)
    (call,) = kernel_calls(onnx.nodes[0], onnx, DSP)
    assert call.symbol == GATHER_SINGLE
    table = call.args[3].values
    assert len(table) == 2 * 8 + 1 and table[-1] == 1 and table[1] == -7
    assert variant(GATHER_SINGLE).scratch(call.params) == variant(GATHER).scratch(call.params)
    limit = (1 << 30) - 255 * 127 * 27
    fits = as_onnx_conv(_first_layer(bias=limit - 1, weight=127))
    assert kernel_calls(fits.nodes[0], fits, DSP)[0].symbol == GATHER_SINGLE
    over = as_onnx_conv(_first_layer(bias=limit, weight=127))
    assert kernel_calls(over.nodes[0], over, DSP)[0].symbol == GATHER
