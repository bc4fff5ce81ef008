"""The pointwise kernels' requantize tail proved at compile time (pointwise.proved_tail_table,
requant_tail.h tinyc_tail_proved) and the int16-weight kernels with in_c a constant of the loop
(tinyc_pointwise_conv_in8_w16_s8, _in16_): the proof's table against the reference
requantization at the accumulator bound, the proved tail (the _proved_s8 twins) and the
guarded one (the kernels without a suffix: unproved layers, and each proved layer again with
its twin avoided) both taken and bit-exact with the interpreter (host portable and emulated-SIMD builds, under the
sanitizers, and qemu-m4 / m7), channels with all-zero weights and an extreme bias (vww has
them) turned into constants, and the small-in_c kernels over drawn shapes."""

from __future__ import annotations

import itertools
import os

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kernel_support import NHWC, act, act_range, both_tails, check_kernels, check_kernels_batch, const, \
    draw_examples, general, kernel_case, seeds, single_node, tails_seen
from overlap_support import check_grid
from test_kernels_pointwise import IN8_W16, IN16_W16, M7_FLASH, W16, X16_W16, pointwise_graphs, w16_symbol

from tinycc_ml.ir import ops
from tinycc_ml.ir.graph import Graph, QuantParams
from tinycc_ml.kernels.pointwise import proved_tail_table
from tinycc_ml.kernels.registry import kernel_calls, scratch_bytes
from tinycc_ml.quant import fixedpoint

SETTINGS = settings(max_examples=60, deadline=None, derandomize="CI" in os.environ,
                    suppress_health_check=[HealthCheck.too_slow])


def _proved_word(graph: Graph) -> int:
    """The double-shift word of the call's requant argument (0: the guarded tail)."""
    (call,) = kernel_calls(graph.nodes[0], graph, M7_FLASH)
    requant = next(a for a in call.args if getattr(a, "name", "") == "requant")
    return int(requant.values[2 * call.params["out_c"]])


def _tail_proved(acc: np.ndarray, m: int, k: int, right_shift: int, double_shift: int) -> np.ndarray:
    """requant_tail.h tinyc_tail_proved in int64: SMMULR((acc << ds) wrapped to int32, m)."""
    doubled = ((acc.astype(np.int64) << double_shift) + (1 << 31)) % (1 << 32) - (1 << 31)
    v = (doubled * m + (1 << 31)) >> 32
    return (v + k + (v >> 31)) >> right_shift


def test_proved_table_equals_the_reference_tail_up_to_the_bound():
    rng = np.random.default_rng(5)
    for _ in range(200):
        channels = int(rng.integers(1, 6))
        m = rng.integers(1 << 30, (1 << 31) - 1, size=channels)
        shifts = rng.integers(-12, 1, size=channels)
        bound = rng.integers(1, 1 << 22, size=channels)
        out_zp = int(rng.integers(-128, 128))
        table = proved_tail_table(m, shifts, bound, out_zp)
        if table[0] == 0:
            continue
        per = table[1:].reshape(-1, 3)
        for c in range(channels):
            acc = np.concatenate([[-bound[c], bound[c], 0, -1, 1], rng.integers(-bound[c], bound[c] + 1, size=200)])
            want = fixedpoint.multiply_by_quantized_multiplier(acc, m[c], shifts[c]) + out_zp
            assert per[c, 0] == m[c]
            got = _tail_proved(acc, int(per[c, 0]), int(per[c, 1]), int(per[c, 2]), int(table[0]))
            assert np.array_equal(got, want), (c, m[c], shifts[c])


def test_proof_refuses_what_the_guard_is_for():
    m = np.array([1 << 30, 1 << 30])
    assert proved_tail_table(m, np.array([-3, -3]), np.array([1000, 1000]), 0)[0] == 1
    assert proved_tail_table(m, np.array([-3, 1]), np.array([1000, 1000]), 0)[0] == 0  # right_shift 0
    assert proved_tail_table(m, np.array([-3, -3]), np.array([1000, 1 << 30]), 0)[0] == 0  # 2 * acc leaves int32
    assert proved_tail_table(m, np.array([-1, -2]), np.array([1000, 1000]), 0)[0] == 1  # one double shift: 1
    # a constant channel needs no proof: multiplier 0, right_shift 1, k twice the byte plus one
    # (the in8 kernel's fix-up adds acc >> 31, -1 for a negative bias: (k - 1) >> 1 is the byte too)
    table = proved_tail_table(m, np.array([-3, -31]), np.array([1000, 1 << 30]), 5, np.array([-1000, -7]))
    assert table[0] == 1 and table[4:].tolist() == [0, -13, 1]


def _graph(in_c: int, out_c: int, width: int, seed: int, dead: int = 0, out_scale: float = 0.02,
           act_min: int = -128, act_max: int = 127, dead_sign: int = 1) -> Graph:
    """A pointwise conv; `dead` output channels get all-zero weights and a bias near 2^30 (as
    vww's layers have: the accumulator bound alone would refuse the proof), or near -2^30
    (dead_sign -1)."""
    rng = np.random.default_rng(seed)
    wt = rng.integers(-128, 128, size=(out_c, in_c, 1, 1)).astype(np.int8)
    b = rng.integers(-5000, 5000, size=out_c).astype(np.int64)
    wt[:dead] = 0
    b[:dead] = [dead_sign * ((1 << 30) - 7 * c) for c in range(dead)]
    w_q = QuantParams(tuple([1e-9] * dead + [0.004 + 0.001 * c for c in range(out_c - dead)]), (0,) * out_c, axis=0)
    q_in, q_out = QuantParams.per_tensor(0.05, -128), QuantParams.per_tensor(out_scale, 7)
    return single_node(ops.Conv2d((1, 1), (1, 1), (0,) * 4, 1, act_min, act_max),
                       [act("x", (1, in_c, 3, width), q_in), const("w", wt, w_q), const("b", b.astype(np.int32))],
                       act("y", (1, out_c, 3, width), q_out), {"x": NHWC, "y": NHWC})


def test_dead_channels_keep_the_proof_and_match_the_interpreter(kernel_runners):
    for seed, (in_c, out_c, width) in enumerate(((8, 16, 5), (16, 12, 4), (128, 10, 3), (64, 6, 1))):
        graph = _graph(in_c, out_c, width, seed, dead=3)
        assert _proved_word(graph) == 1
        for g in both_tails(graph, M7_FLASH):
            check_kernels(g, kernel_runners, seed, target=M7_FLASH)


def test_dead_channels_with_a_negative_bias_match_the_interpreter(kernel_runners, qemu_kernel_runner):
    """A negative constant accumulator: the in8 kernel's sign fix-up (acc >> 31) is -1 there,
    which the constant's k (twice the byte plus one) absorbs (it wrote the byte minus one)."""
    graphs = [_graph(in_c, out_c, width, seed, dead=3, dead_sign=-1)
              for seed, (in_c, out_c, width) in enumerate(((8, 16, 5), (16, 32, 4), (32, 32, 3), (12, 6, 3)))]
    for seed, graph in enumerate(graphs):
        assert _proved_word(graph) == 1
        for g in both_tails(graph, M7_FLASH):
            check_kernels(g, kernel_runners, seed, target=M7_FLASH)
    built = [kernel_case(g, seed, target=M7_FLASH) for seed, graph in enumerate(graphs)
             for g in both_tails(graph, M7_FLASH)]
    assert {general(case.calls[0].symbol) for case in built} == {IN8_W16, IN16_W16, X16_W16, W16}
    assert tails_seen(built) == {"proved", "general"}
    assert check_kernels_batch(built, qemu_kernel_runner) == len(built)


def test_unproved_layers_take_the_guarded_tail(kernel_runners):
    """An output scale small enough for a multiplier above one (shift > 0, right_shift 0)."""
    for seed, in_c in enumerate((8, 16, 24)):
        graph = _graph(in_c, 8, 5, seed, out_scale=1e-5)
        assert _proved_word(graph) == 0
        assert not kernel_calls(graph.nodes[0], graph, M7_FLASH)[0].symbol.endswith("_proved_s8")
        check_kernels(graph, kernel_runners, seed, target=M7_FLASH)


def test_proved_tail_with_a_fused_clamp(kernel_runners):
    for seed, in_c in enumerate((8, 16, 32)):
        graph = _graph(in_c, 10, 3, seed, act_min=-20, act_max=60)
        assert _proved_word(graph) == 1
        for g in both_tails(graph, M7_FLASH):
            check_kernels(g, kernel_runners, seed, target=M7_FLASH)


@st.composite
def small_in_c_graphs(draw: st.DrawFn) -> Graph:
    in_c = draw(st.sampled_from([8, 16]))
    out_c = 2 * draw(st.integers(1, 20))
    width = draw(st.integers(1, 7))
    seed = draw(seeds)
    act_min, act_max = draw(act_range())
    dead = draw(st.integers(0, 2)) if out_c > 2 else 0
    return _graph(in_c, out_c, width, seed, dead=dead, out_scale=draw(st.sampled_from([0.02, 0.3, 1e-5])),
                  act_min=act_min, act_max=act_max)


@SETTINGS
@given(graph=small_in_c_graphs(), seed=seeds)
def test_small_in_c_kernels_match_interpreter(kernel_runners, graph, seed):
    (call,) = kernel_calls(graph.nodes[0], graph, M7_FLASH)
    assert general(call.symbol) == w16_symbol(call.params["in_c"], call.params["out_c"])
    for g in both_tails(graph, M7_FLASH):
        check_kernels(g, kernel_runners, seed, target=M7_FLASH)


def test_small_in_c_and_proved_tail_on_cortex_m(qemu_kernel_runner):
    cases = draw_examples(st.tuples(small_in_c_graphs(), seeds), 60)
    built = [kernel_case(g, seed, target=M7_FLASH) for graph, seed in cases for g in both_tails(graph, M7_FLASH)]
    built += [kernel_case(g, s, target=M7_FLASH)
              for s, (in_c, out_c, w, d, scale) in enumerate(((8, 16, 6, 2, 0.02), (16, 32, 3, 0, 0.02),
                                                               (32, 64, 5, 3, 0.02), (128, 128, 3, 1, 0.02),
                                                               (256, 16, 3, 0, 1e-5), (64, 64, 5, 0, 0.02)))
              for g in both_tails(_graph(in_c, out_c, w, s, dead=d, out_scale=scale), M7_FLASH)]
    assert {general(case.calls[0].symbol) for case in built} == {IN8_W16, IN16_W16, X16_W16, W16}
    assert tails_seen(built) == {"proved", "general"}
    assert check_kernels_batch(built, qemu_kernel_runner) == len(built)


# --- tinyc_pointwise_conv_x16_w16_s8: each pixel pair expanded into a scratch first ---------


def _x16_grid():
    shapes = itertools.product((1, 2, 3, 5), (32, 36, 64), (32, 34, 40, 64))
    return [_graph(in_c, out_c, width, seed) for seed, (width, in_c, out_c) in enumerate(shapes)]


def test_x16_keeps_the_pairs_overlap_distances(kernel_lib, kernel_lib_simd):
    """Its access model is pointwise_pairs: tight on the portable build (which reads the
    input where it is, block by block), safe at D on the SIMD one (which reads a pair's input
    into the scratch before the pair's first block)."""
    tally = check_grid(kernel_lib, _x16_grid(), replayable=True, tight=True, target=M7_FLASH)
    assert {general(s) for s in tally.symbols} == {X16_W16} and tally.cases > 30 and tally.tight > 0, tally
    tally = check_grid(kernel_lib_simd, _x16_grid(), replayable=True, tight=False, target=M7_FLASH)
    assert {general(s) for s in tally.symbols} == {X16_W16} and tally.cases > 30, tally


def test_x16_scratch_twin_equals_c(kernel_lib):
    for width, in_c, want in ((5, 32, 131), (1, 36, 75), (2, 64, 259)):
        for g in both_tails(_graph(in_c, 32, width, 0), M7_FLASH):  # the proved twin, the general kernel
            (call,) = kernel_calls(g.nodes[0], g, M7_FLASH)
            assert general(call.symbol) == X16_W16
            assert scratch_bytes(call) == call.scratch_bytes == want
            assert kernel_lib.call_int(f"{call.symbol}_get_buffer_size", call.params, call.params_type) == want


@SETTINGS
@given(graph=pointwise_graphs(most_in=96, most_out=64), seed=seeds)
def test_x16_matches_interpreter(kernel_runners, graph, seed):
    (call,) = kernel_calls(graph.nodes[0], graph, M7_FLASH)
    assert general(call.symbol) == w16_symbol(call.params["in_c"], call.params["out_c"])
    for g in both_tails(graph, M7_FLASH):
        check_kernels(g, kernel_runners, seed, target=M7_FLASH)


def test_x16_on_cortex_m(qemu_kernel_runner):
    cases = draw_examples(st.tuples(pointwise_graphs(most_in=96, most_out=64), seeds), 80)
    built = [kernel_case(g, seed, target=M7_FLASH) for graph, seed in cases for g in both_tails(graph, M7_FLASH)]
    built = [case for case in built if general(case.calls[0].symbol) == X16_W16]
    built += [kernel_case(g, s, target=M7_FLASH)
              for s, (in_c, out_c, w, d, scale, lo) in enumerate(((32, 32, 5, 1, 0.02, -128), (36, 34, 3, 0, 1e-5, -128),
                                                                  (64, 128, 1, 2, 0.02, -30), (256, 32, 3, 0, 0.3, -128)))
              for g in both_tails(_graph(in_c, out_c, w, s, dead=d, out_scale=scale, act_min=lo), M7_FLASH)]
    assert len(built) > 15 and {general(case.calls[0].symbol) for case in built} == {X16_W16}
    assert tails_seen(built) == {"proved", "general"}
    assert check_kernels_batch(built, qemu_kernel_runner) == len(built)
