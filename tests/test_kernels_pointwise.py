"""tinyc_pointwise_conv_s8, the register-blocked NHWC pointwise conv DSP cores run (2 pixels x
2 output channels per inner iteration, weights interleaved at compile time, input offset folded
into the bias): bit-exact with the interpreter over hypothesis-drawn shapes (input channels a
multiple of 4, even output channels, odd and even row widths, one or two images), zero points
at -128 and 127, weights at +-127, per-channel scales six decades apart, fused clamps; in its
portable and emulated-SIMD builds, in-process and under the sanitizers, and on qemu-m4 / m7.
Its access model (a block is two pixels and two channels) is checked on shared buffers.
Where the registry picks a record's _proved_s8 twin (the proved tail, nearly every layer drawn
here), the same layer also runs the record's own kernel (its general loops: both_tails)."""

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
    assert_same,
    both_tails,
    check_kernels,
    check_kernels_batch,
    const,
    draw_examples,
    from_physical,
    general,
    kernel_case,
    seeds,
    single_node,
    tails_seen,
)
from overlap_support import check_grid, single_node_distance

from tinycc_ml.ir import ops
from tinycc_ml.ir.graph import Graph, QuantParams
from tinycc_ml.kernels.access import Traffic, min_distance, pointwise_pairs
from tinycc_ml.kernels.call import ConstArg, NullArg
from tinycc_ml.kernels.harness import run_calls
from tinycc_ml.kernels.pointwise import int16_words, interleave, requant_table
from tinycc_ml.kernels.registry import kernel_calls, scratch_bytes
from tinycc_ml.kernels.target import HOST_TARGET, KernelTarget
from tinycc_ml.quant import params as qparams

M7 = KernelTarget("cortex-m7", dsp=True, fpu="fpv5-d16")
M7_FLASH = KernelTarget("cortex-m7", dsp=True, fpu="fpv5-d16", flash_bytes=1 << 20)  # room for int16 weights
W16, IN_PLACE_W16 = "tinyc_pointwise_conv_w16_s8", "tinyc_pointwise_conv_inplace_pairs_w16_s8"
IN8_W16, IN16_W16 = "tinyc_pointwise_conv_in8_w16_s8", "tinyc_pointwise_conv_in16_w16_s8"
X16_W16 = "tinyc_pointwise_conv_x16_w16_s8"  # in_c >= 32: each pixel pair expanded to int16 in a scratch
W16_FAMILY = {W16, IN8_W16, IN16_W16, X16_W16}  # in_c 8 and 16: the count a constant of the loop
IN_PLACE_IN64_W16 = "tinyc_pointwise_conv_inplace_pairs_in64_w16_s8"  # in_c 64 unrolled (kws)
IN_PLACE_W16_FAMILY = {IN_PLACE_W16, IN_PLACE_IN64_W16}


def in_place_w16_symbol(in_c: int) -> str:
    return IN_PLACE_IN64_W16 if in_c == 64 else IN_PLACE_W16


def w16_symbol(in_c: int, out_c: int) -> str:
    """The int16-weight kernel the registry picks (not in place): the expanded pair (x16, in16)
    from 32 output channels on."""
    if in_c == 8:
        return IN8_W16
    if out_c >= 32 and in_c == 16:
        return IN16_W16
    if out_c >= 32 and in_c >= 32:
        return X16_W16
    return W16
SYMBOL = "tinyc_pointwise_conv_s8"
IN_PLACE = "tinyc_pointwise_conv_inplace_pairs_s8"
SETTINGS = settings(max_examples=80, deadline=None, derandomize="CI" in os.environ,
                    suppress_health_check=[HealthCheck.too_slow])


def _weights(draw: st.DrawFn, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    kind = draw(st.sampled_from(["random", "random", "extreme", "plus127"]))
    if kind == "random":
        return rng.integers(-128, 128, size=shape).astype(np.int8)
    if kind == "extreme":
        return rng.choice(np.array([-127, 127], dtype=np.int8), size=shape)
    return np.full(shape, 127, dtype=np.int8)


def _weight_quant(draw: st.DrawFn, channels: int) -> QuantParams:
    if draw(st.booleans()):
        return QuantParams.per_tensor(float(np.float32(10.0 ** draw(st.floats(-5.0, 0.0)))), 0)
    low, high = float(np.float32(1e-6)), float(np.float32(1.0))
    values = [draw(st.sampled_from([low, high, float(np.float32(0.01 * (1 + c)))])) for c in range(channels)]
    return QuantParams(tuple(values), (0,) * channels, axis=0)


@st.composite
def pointwise_graphs(draw: st.DrawFn, most_in: int = 64, most_out: int = 40, in_place: bool = False,
                     in_c: int | None = None) -> Graph:
    rng = np.random.default_rng(draw(seeds))
    in_c = 4 * draw(st.integers(1, most_in // 4)) if in_c is None else in_c
    out_c = 2 * draw(st.integers(1, most_out // 2))
    n, h, w = draw(st.integers(1, 2)), draw(st.integers(1, 5)), draw(st.integers(1, 7))
    in_q = QuantParams.per_tensor(float(np.float32(10.0 ** draw(st.floats(-3.0, 0.0)))),
                                  draw(st.sampled_from([-128, 127, 0, -5, 64])))
    w_q = _weight_quant(draw, out_c)
    out_q = QuantParams.per_tensor(in_q.s * max(w_q.scale) * 10 ** draw(st.floats(-1.0, 3.0)),
                                   draw(st.sampled_from([-128, 127, 0, 3])))
    weights = _weights(draw, rng, (out_c, in_c, 1, 1))
    bias = None if draw(st.booleans()) else rng.integers(-(1 << 16), 1 << 16, size=out_c).astype(np.int32)
    requant = qparams.conv_requant(in_q, w_q, out_q)
    max_acc = 255 * 128 * in_c + (0 if bias is None else int(np.abs(bias).max()))
    assume(all(max_acc << max(s, 0) < (1 << 31) for s in requant.shifts))
    act_min, act_max = draw(act_range())
    attrs = ops.Conv2d((1, 1), (1, 1), (0, 0, 0, 0), 1, act_min, act_max, in_place)
    inputs = [act("x", (n, in_c, h, w), in_q), const("w", weights, w_q), const("b", bias) if bias is not None else None]
    return single_node(attrs, inputs, act("y", (n, out_c, h, w), out_q), {"x": NHWC, "y": NHWC})


@SETTINGS
@given(graph=pointwise_graphs(), seed=seeds)
def test_pointwise_matches_interpreter(kernel_runners, graph, seed):
    (call,) = kernel_calls(graph.nodes[0], graph, M7)
    assert general(call.symbol) == SYMBOL
    assert call.params["input_offset"] == 0  # folded into the bias
    for g in both_tails(graph, M7):
        check_kernels(g, kernel_runners, seed, target=M7)


@SETTINGS
@given(graph=pointwise_graphs(in_place=True), seed=seeds)
def test_in_place_pointwise_pairs_match_interpreter(kernel_runners, graph, seed):
    (call,) = kernel_calls(graph.nodes[0], graph, M7)
    assert general(call.symbol) == IN_PLACE
    for g in both_tails(graph, M7):
        check_kernels(g, kernel_runners, seed, target=M7)


@SETTINGS
@given(graph=pointwise_graphs(most_in=32, most_out=12), seed=seeds)
def test_pointwise_unfolded_offset_matches_interpreter(kernel_runners, graph, seed):
    """The path for an input offset the registry could not fold (a bias that would leave
    int32): the call rebuilt with the offset in the params and the original bias."""
    case = kernel_case(graph, seed, target=M7)
    (call,) = case.calls
    zero_point = graph.tensor("x").quant.zp
    assume(zero_point != 0)
    bias = graph.tensor("b").data if "b" in graph.tensors else None
    args = list(call.args)  # the folded bias replaced by the model's own (or none)
    args[2] = ConstArg("bias", "int32_t", np.asarray(bias, dtype=np.int32)) if bias is not None else NullArg()
    params = replace(call.params, fields=tuple((k, -zero_point if k == "input_offset" else v)
                                               for k, v in call.params.fields))
    # the general loops: a _proved_s8 twin's record applies only where the offset is folded
    unfolded = replace(call, symbol=general(call.symbol), params=params, args=tuple(args))
    for runner in kernel_runners:
        result = run_calls(runner, [unfolded], case.contents, case.sizes, None)[case.output]
        assert_same(from_physical(graph, case.output, result), case.want, f"{type(runner).__name__}: {params}")


def test_pointwise_needs_a_dsp_core_and_its_channel_counts():
    def graph(in_c: int, out_c: int) -> Graph:
        q = QuantParams.per_tensor(0.05, 3)
        wt = np.ones((out_c, in_c, 1, 1), dtype=np.int8)
        return single_node(ops.Conv2d((1, 1), (1, 1), (0,) * 4, 1, -128, 127),
                           [act("x", (1, in_c, 2, 3), q), const("w", wt, QuantParams.per_tensor(0.01, 0))],
                           act("y", (1, out_c, 2, 3), q), {"x": NHWC, "y": NHWC})

    def symbol(g: Graph, target: KernelTarget) -> str:
        return kernel_calls(g.nodes[0], g, target)[0].symbol

    assert symbol(graph(8, 16), M7) == "tinyc_pointwise_conv_proved_s8"  # its tail proved
    assert symbol(graph(8, 16), HOST_TARGET) == "tinyc_conv_s8"  # no DSP: the portable conv
    assert symbol(graph(6, 16), M7) == "tinyc_conv_s8"  # in_c not a multiple of 4
    assert symbol(graph(8, 15), M7) == "tinyc_conv_s8"  # odd out_c


def test_in_place_pairs_scratch_twin_equals_c(kernel_lib):
    for width, in_c, want in ((5, 8, 35), (1, 12, 51), (2, 4, 19)):  # a pair as int16 (pairs span rows), 3 bytes to align it
        g = _overlap_graph(1, 3, width, in_c, 6, 0, in_place=True)
        for graph in both_tails(g, M7):  # the proved twin and the general kernel: the same scratch
            (call,) = kernel_calls(graph.nodes[0], graph, M7)
            assert general(call.symbol) == IN_PLACE
            assert scratch_bytes(call) == call.scratch_bytes == want
            assert kernel_lib.call_int(f"{call.symbol}_get_buffer_size", call.params, call.params_type) == want


def test_requant_table_holds_what_requant_h_derives_from_each_shift():
    """The twin of tinyc_requant_channel_of (requant.h), per shift TFLite can produce."""
    shifts = np.arange(-31, 31)
    table = requant_table(shifts).reshape(-1, 2)
    for shift, (packed, round_term) in zip(shifts.tolist(), table.tolist()):
        left = max(shift, 0)
        right = left - shift
        assert packed & 0xFF == left + 1 and (packed >> 8) & 0xFF == right
        assert (packed >> 16) & 1 == (right != 0)
        assert round_term == ((1 << right) >> 1)
        assert (packed & 0xFF) - 1 - ((packed >> 8) & 0xFF) == shift  # tinyc_pw_shift's inverse


def test_interleave_puts_each_block_where_the_loop_loads_it():
    oi = np.arange(4 * 8).reshape(4, 8)  # weight (oc, ic) = oc * 8 + ic
    flat = interleave(oi).reshape(-1)
    # channels 0 and 1, input block 0: w[0][0..3], w[1][0..3]; then block 1; then channels 2, 3
    assert flat[:16].tolist() == [0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 12, 13, 14, 15]
    assert flat[16:20].tolist() == [16, 17, 18, 19]


# --- the access model: two pixels and two channels a block ---------------------------


def _overlap_graph(n: int, h: int, w: int, in_c: int, out_c: int, seed: int, in_place: bool = False) -> Graph:
    rng = np.random.default_rng(seed)
    wt = rng.integers(-128, 128, size=(out_c, in_c, 1, 1)).astype(np.int8)
    b = rng.integers(-500, 500, size=out_c).astype(np.int32)
    q_in, q_out = QuantParams.per_tensor(0.05, 3), QuantParams.per_tensor(0.02, -5)
    return single_node(ops.Conv2d((1, 1), (1, 1), (0,) * 4, 1, -128, 127, in_place),
                       [act("x", (n, in_c, h, w), q_in), const("w", wt, QuantParams.per_tensor(0.01, 0)),
                        const("b", b)],
                       act("y", (n, out_c, h, w), q_out), {"x": NHWC, "y": NHWC})


def _grid(in_place: bool = False):
    shapes = itertools.product((1, 2), (1, 2, 3), (1, 2, 3, 5), (4, 8, 12), (2, 4, 6, 16))
    return [_overlap_graph(*shape, seed, in_place) for seed, shape in enumerate(shapes)]


def test_pointwise_keeps_its_overlap_distances(kernel_lib, kernel_lib_simd):
    """At D = min_distance both builds on one shared buffer give the plain result; the
    portable build (which writes each block after its reads, as modelled) breaks at D - 1
    for some shapes, so the model is tight there."""
    tally = check_grid(kernel_lib, _grid(), replayable=True, tight=True, target=M7)
    assert {general(s) for s in tally.symbols} == {SYMBOL} and tally.cases > 100 and tally.tight > 0, tally
    tally = check_grid(kernel_lib_simd, _grid(), replayable=True, tight=False, target=M7)
    assert {general(s) for s in tally.symbols} == {SYMBOL} and tally.cases > 100, tally


def test_in_place_pairs_keep_their_overlap_distances(kernel_lib, kernel_lib_simd):
    """The two-pixel scratch variant: exactly in place whenever out_c <= in_c, and at the
    model's distance otherwise (both builds, one shared buffer)."""
    for lib in (kernel_lib, kernel_lib_simd):
        tally = check_grid(lib, _grid(in_place=True), replayable=False, tight=False, target=M7)
        assert {general(s) for s in tally.symbols} == {IN_PLACE} and tally.cases > 100, tally
    for in_c, out_c in ((8, 8), (12, 4), (64, 64)):
        assert single_node_distance(_overlap_graph(1, 3, 5, in_c, out_c, 0, True), "x", M7) <= 0


def test_pair_blocks_need_more_distance_than_pixel_blocks_only_by_the_pair():
    """Worked example: 1 row of 4 pixels, 4 -> 8 channels. The last pair (pixels 2, 3) reads
    pixel 2's input (bytes 8..11) until its last channel block, after which pixels 2's and
    3's first six channels are written (bytes up to 3 * 8 + 5 = 29): D = 29 - 8 + 1 = 22."""
    p = kernel_calls(_overlap_graph(1, 1, 4, 4, 8, 0).nodes[0], _overlap_graph(1, 1, 4, 4, 8, 0), M7)[0].params
    traffic = pointwise_pairs(p)
    whole = Traffic("y", traffic.blocks, traffic.write_pos, traffic.write_block, {"x": traffic.reads[0]})
    assert traffic.blocks == 2 * 4
    assert min_distance(whole, "x", 16) == 22
    assert single_node_distance(_overlap_graph(1, 1, 4, 4, 8, 0), "x", M7) == 22


# --- the same strategies on qemu-m4 / qemu-m7 (the DSP builds), one emulator run per test ----


@pytest.mark.parametrize("in_place", [False, True], ids=["plain", "in_place"])
def test_pointwise_on_cortex_m(qemu_kernel_runner, in_place):
    cases = draw_examples(st.tuples(pointwise_graphs(in_place=in_place), seeds), 150)
    built = [kernel_case(g, seed, target=M7) for graph, seed in cases for g in both_tails(graph, M7)]
    assert tails_seen(built) == {"proved", "general"}
    assert check_kernels_batch(built, qemu_kernel_runner) > 150


@pytest.mark.parametrize("in_c,out_c", [(8, 16), (16, 32), (32, 64), (128, 128), (256, 256)])
def test_vww_pointwise_shapes_on_cortex_m(qemu_kernel_runner, in_c, out_c):
    """The channel counts of vww's 1x1 layers, on odd and even widths."""
    graphs = [_overlap_graph(1, 3, w, in_c, out_c, seed) for seed, w in enumerate((3, 6))]
    cases = [kernel_case(g, seed, target=M7) for seed, graph in enumerate(graphs) for g in both_tails(graph, M7)]
    assert all(general(case.calls[0].symbol) == SYMBOL for case in cases) and tails_seen(cases) == {"proved", "general"}
    assert check_kernels_batch(cases, qemu_kernel_runner) == 4


# --- the int16-weight twins (chosen where the board's flash has room) ----------------------


@SETTINGS
@given(graph=pointwise_graphs(), seed=seeds)
def test_pointwise_w16_matches_interpreter(kernel_runners, graph, seed):
    (call,) = kernel_calls(graph.nodes[0], graph, M7_FLASH)
    assert general(call.symbol) == w16_symbol(call.params["in_c"], call.params["out_c"])
    assert call.params["input_offset"] == 0  # folded into the bias
    for g in both_tails(graph, M7_FLASH):
        check_kernels(g, kernel_runners, seed, target=M7_FLASH)


@SETTINGS
@given(graph=pointwise_graphs(in_place=True), seed=seeds)
def test_in_place_pointwise_pairs_w16_match_interpreter(kernel_runners, graph, seed):
    (call,) = kernel_calls(graph.nodes[0], graph, M7_FLASH)
    assert general(call.symbol) == in_place_w16_symbol(call.params["in_c"])
    for g in both_tails(graph, M7_FLASH):
        check_kernels(g, kernel_runners, seed, target=M7_FLASH)


@SETTINGS
@given(graph=pointwise_graphs(in_place=True, in_c=64, most_out=80), seed=seeds)
def test_in_place_pointwise_pairs_in64_w16_match_interpreter(kernel_runners, graph, seed):
    """in_c 64: the kernel with the count a constant, every output count, width and range."""
    (call,) = kernel_calls(graph.nodes[0], graph, M7_FLASH)
    assert general(call.symbol) == IN_PLACE_IN64_W16
    for g in both_tails(graph, M7_FLASH):
        check_kernels(g, kernel_runners, seed, target=M7_FLASH)


def test_w16_needs_the_flash_for_the_doubled_weights():
    g = _overlap_graph(1, 2, 3, 64, 64, 0)  # 4,096 B of weights: doubled 8,192 + the bias
    constants = sum(t.nbytes for t in g.constants())
    fits = KernelTarget("cortex-m7", dsp=True, fpu="fpv5-d16", flash_bytes=(constants + 4096) * 4 // 3 + 4)
    short = replace(fits, flash_bytes=fits.flash_bytes - 8)
    assert general(kernel_calls(g.nodes[0], g, fits)[0].symbol) == X16_W16
    assert general(kernel_calls(g.nodes[0], g, short)[0].symbol) == SYMBOL
    assert general(kernel_calls(g.nodes[0], g, M7)[0].symbol) == SYMBOL  # flash unknown: int8 weights


def test_int16_words_hold_each_block_in_smlad_order():
    oi = np.arange(4 * 8).reshape(4, 8) - 16  # weight (oc, ic) = oc * 8 + ic - 16, some negative
    words = int16_words(oi).view(np.uint32).astype(np.int64)
    halves = [[int(np.int16(np.uint16(v & 0xFFFF))), int(np.int16(np.uint16(v >> 16)))] for v in words]
    # channel 0, block 0: {w0, w2}, {w1, w3}; then channel 1's; then block 1 of the pair
    assert halves[:4] == [[-16, -14], [-15, -13], [-8, -6], [-7, -5]]
    assert halves[4:6] == [[-12, -10], [-11, -9]]
    assert halves[8:10] == [[0, 2], [1, 3]]  # channels 2, 3


def test_pointwise_w16_keeps_its_overlap_distances(kernel_lib, kernel_lib_simd):
    tally = check_grid(kernel_lib, _grid(), replayable=True, tight=True, target=M7_FLASH)
    assert {general(s) for s in tally.symbols} == {W16, IN8_W16} and tally.cases > 100 and tally.tight > 0, tally
    for lib in (kernel_lib, kernel_lib_simd):
        tally = check_grid(lib, _grid(in_place=True), replayable=False, tight=False, target=M7_FLASH)
        assert {general(s) for s in tally.symbols} <= IN_PLACE_W16_FAMILY and tally.cases > 100, tally
    tally = check_grid(kernel_lib_simd, _grid(), replayable=True, tight=False, target=M7_FLASH)
    assert {general(s) for s in tally.symbols} == {W16, IN8_W16} and tally.cases > 100, tally



def test_in_place_pairs_in64_w16_keep_their_overlap_distances(kernel_lib, kernel_lib_simd):
    """The in_c 64 kernel: the model's distances on both builds (exactly in place for kws's
    64 -> 64 layers, a positive distance where out_c > in_c)."""
    shapes = itertools.product((1, 2), (1, 3), (1, 2, 5), (64,), (2, 16, 64, 80))
    graphs = [_overlap_graph(*shape, seed, True) for seed, shape in enumerate(shapes)]
    for lib in (kernel_lib, kernel_lib_simd):
        tally = check_grid(lib, graphs, replayable=False, tight=False, target=M7_FLASH)
        assert {general(s) for s in tally.symbols} == {IN_PLACE_IN64_W16} and tally.cases > 40, tally
    assert single_node_distance(_overlap_graph(1, 25, 5, 64, 64, 0, True), "x", M7_FLASH) <= 0


@pytest.mark.parametrize("in_place", [False, True], ids=["plain", "in_place"])
def test_pointwise_w16_on_cortex_m(qemu_kernel_runner, in_place):
    cases = draw_examples(st.tuples(pointwise_graphs(in_place=in_place), seeds), 120)
    built = [kernel_case(g, seed, target=M7_FLASH) for graph, seed in cases for g in both_tails(graph, M7_FLASH)]
    assert {general(case.calls[0].symbol) for case in built} <= (IN_PLACE_W16_FAMILY if in_place else W16_FAMILY)
    assert tails_seen(built) == {"proved", "general"}
    assert check_kernels_batch(built, qemu_kernel_runner) > 120


def test_in_place_pointwise_in64_w16_on_cortex_m(qemu_kernel_runner):
    cases = draw_examples(st.tuples(pointwise_graphs(in_place=True, in_c=64, most_out=80), seeds), 60)
    built = [kernel_case(g, seed, target=M7_FLASH) for graph, seed in cases for g in both_tails(graph, M7_FLASH)]
    assert {general(case.calls[0].symbol) for case in built} == {IN_PLACE_IN64_W16}
    assert tails_seen(built) == {"proved", "general"}
    assert check_kernels_batch(built, qemu_kernel_runner) > 50
