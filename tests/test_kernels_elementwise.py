"""Add and Mul (broadcasting over arbitrary dim orders, in-place), Lut and Softmax: the C
kernels the registry picks equal the interpreter bit for bit, under the sanitizers too."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kernel_support import (act, act_range, check_kernels, check_kernels_batch, const, draw_examples, kernel_case,
                            per_tensor, permutations, scales, seeds, single_node)

from tinycc_ml.ir import ops
from tinycc_ml.ir.graph import QuantParams
from tinycc_ml.kernels.elementwise import ADD_TABLE_MIN_ELEMENTS, add_table
from tinycc_ml.kernels.harness import run_calls
from tinycc_ml.kernels.registry import kernel_calls

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def broadcast_shapes(draw: st.DrawFn, max_rank: int = 4):
    """(y shape, a shape, b shape) with numpy broadcasting: either input may drop leading
    axes or hold 1 where y does not."""
    rank = draw(st.integers(0, max_rank))
    y_shape = tuple(draw(st.integers(1, 5)) for _ in range(rank))

    def operand() -> tuple[int, ...]:
        keep = draw(st.integers(0, rank))
        tail = y_shape[rank - keep :]
        return tuple(d if draw(st.integers(0, 2)) else 1 for d in tail)

    a_shape, b_shape = operand(), operand()
    # The output's shape is the broadcast of the inputs' (a 1 only where both have 1).
    y_shape = np.broadcast_shapes(a_shape, b_shape, (1,) * rank) if rank else ()
    return tuple(y_shape), a_shape, b_shape


@st.composite
def binary_graphs(draw: st.DrawFn, op: str):
    y_shape, a_shape, b_shape = draw(broadcast_shapes())
    a_q, b_q = draw(per_tensor()), draw(per_tensor())
    if op == "add":
        # Output scale at least 1/1000 of the larger input's: TFLite's output multiplier
        # then stays below one, where its int32 left shift cannot overflow.
        out_q = QuantParams.per_tensor(max(a_q.s, b_q.s) * 10 ** draw(st.floats(-3.0, 4.0)), draw(per_tensor()).zp)
        attrs = ops.Add(*draw(act_range()))
    else:
        out_q = QuantParams.per_tensor(a_q.s * b_q.s * 10 ** draw(st.floats(-4.0, 5.0)), draw(per_tensor()).zp)
        attrs = ops.Mul(*draw(act_range()))
    rng = np.random.default_rng(draw(seeds))
    a = act("a", a_shape, a_q)
    if draw(st.integers(0, 4)) == 0:  # now and then a constant operand, emitted to flash
        b = const("b", rng.integers(-128, 128, size=b_shape).astype(np.int8), b_q)
    else:
        b = act("b", b_shape, b_q)
    y = act("y", y_shape, out_q)
    orders = {"a": draw(permutations(len(a_shape))), "y": draw(permutations(len(y_shape)))}
    if not b.is_constant:
        orders["b"] = draw(permutations(len(b_shape)))
    return single_node(attrs, [a, b], y, orders)


@SETTINGS
@given(graph=binary_graphs("add"), seed=seeds)
def test_add_matches_interpreter(kernel_runners, graph, seed):
    check_kernels(graph, kernel_runners, seed)


@SETTINGS
@given(graph=binary_graphs("mul"), seed=seeds)
def test_mul_matches_interpreter(kernel_runners, graph, seed):
    check_kernels(graph, kernel_runners, seed)


@st.composite
def in_place_graphs(draw: st.DrawFn):
    """y written over a (same shape and layout), b broadcast or even a itself."""
    op = draw(st.sampled_from(["add", "mul", "lut"]))
    rank = draw(st.integers(1, 4))
    shape = tuple(draw(st.integers(1, 5)) for _ in range(rank))
    order = draw(permutations(rank))
    a_q = draw(per_tensor(-3, 0))
    a = act("a", shape, a_q)
    same = draw(st.booleans())
    b = a if same else act("b", tuple(d if draw(st.booleans()) else 1 for d in shape), draw(per_tensor(-3, 0)))
    if op == "lut":
        table = tuple(int(v) for v in np.random.default_rng(draw(seeds)).integers(-128, 128, 256))
        return single_node(ops.Lut(table, "random"), [a], act("y", shape, draw(per_tensor())), {"a": order, "y": order})
    if op == "add":
        out_q = QuantParams.per_tensor(max(a_q.s, b.quant.s) * 10 ** draw(st.floats(-2.0, 2.0)), draw(per_tensor()).zp)
        attrs: ops.OpAttrs = ops.Add(*draw(act_range()))
    else:
        out_q = QuantParams.per_tensor(a_q.s * b.quant.s * 10 ** draw(st.floats(-2.0, 4.0)), draw(per_tensor()).zp)
        attrs = ops.Mul(*draw(act_range()))
    orders = {"a": order, "y": order} | ({} if same else {"b": draw(permutations(rank))})
    return single_node(attrs, [a, b], act("y", shape, out_q), orders)


@SETTINGS
@given(graph=in_place_graphs(), seed=seeds)
def test_elementwise_kernels_work_in_place(kernel_runners, graph, seed):
    check_kernels(graph, kernel_runners, seed, aliases={"y": "a"})


@st.composite
def lut_graphs(draw: st.DrawFn):
    rank = draw(st.integers(0, 4))
    shape = tuple(draw(st.integers(1, 6)) for _ in range(rank))
    order = draw(permutations(rank))
    table = tuple(int(v) for v in np.random.default_rng(draw(seeds)).integers(-128, 128, 256))
    x, y = act("x", shape, draw(per_tensor())), act("y", shape, draw(per_tensor()))
    return single_node(ops.Lut(table, "random"), [x], y, {"x": order, "y": order})


@SETTINGS
@given(graph=lut_graphs(), seed=seeds)
def test_lut_matches_interpreter(kernel_runners, graph, seed):
    check_kernels(graph, kernel_runners, seed)


@st.composite
def softmax_graphs(draw: st.DrawFn):
    rank = draw(st.integers(1, 3))
    depth = draw(st.one_of(st.integers(1, 40), st.integers(100, 400)))
    shape = tuple(draw(st.integers(1, 4)) for _ in range(rank - 1)) + (depth,)
    # The softmax axis innermost; the outer axes in any order.
    outer = draw(permutations(rank - 1))
    order = outer + (rank - 1,)
    beta = draw(st.sampled_from([1.0, 1.0, 0.5, 2.0, 0.125]))
    # Scales up to 100 reach the cap of the input multiplier (2^31 - 1, left shift 31).
    x = act("x", shape, QuantParams.per_tensor(draw(scales(-4, 2)), draw(st.integers(-128, 127))))
    y = act("y", shape, QuantParams.per_tensor(1.0 / 256.0, -128))
    return single_node(ops.Softmax(beta), [x], y, {"x": order, "y": order})


@SETTINGS
@given(graph=softmax_graphs(), seed=seeds)
def test_softmax_matches_interpreter(kernel_runners, graph, seed):
    check_kernels(graph, kernel_runners, seed)


def test_softmax_saturates_a_single_winner(kernel_runners):
    """One large logit among tiny ones: its output must saturate at 127, the rest -128."""
    x = act("x", (1, 10), QuantParams.per_tensor(1.0, 0))
    graph = single_node(ops.Softmax(), [x], act("y", (1, 10), QuantParams.per_tensor(1.0 / 256.0, -128)))
    values = np.array([[100, -5, 0, 3, -128, 1, 2, -1, 4, 5]], dtype=np.int8)
    y = check_kernels(graph, kernel_runners, seed=0, inputs={"x": values})
    assert y.tolist() == [[127] + [-128] * 9]


def test_softmax_at_the_largest_defined_sum(kernel_runners):
    """511 equal logits: the Q12.19 sum of exps is just below 2^28, the last sum whose final
    shift (31) TFLite defines."""
    q = QuantParams.per_tensor(0.1, 0)
    graph = single_node(ops.Softmax(), [act("x", (2, 511), q)], act("y", (2, 511), QuantParams.per_tensor(1.0 / 256.0, -128)))
    values = np.full((2, 511), 7, dtype=np.int8)
    values[1, :100] = -128  # and a row where some exps fall below diff_min
    y = check_kernels(graph, kernel_runners, seed=0, inputs={"x": values})
    assert set(y[0].tolist()) == {-127}  # 256 / 511 rounds to 1 above the zero point


def test_softmax_beyond_tflites_defined_shift_outputs_zero(kernel_runners):
    """4095 equal logits: TFLite's final shift would exceed 31 (undefined there; the
    interpreter refuses); each probability 1/4095 is below half an LSB, so C writes -128."""
    q = QuantParams.per_tensor(0.1, 0)
    graph = single_node(ops.Softmax(), [act("x", (1, 4095), q)], act("y", (1, 4095), QuantParams.per_tensor(1.0 / 256.0, -128)))
    calls = kernel_calls(graph.nodes[0], graph)
    for runner in kernel_runners:
        out = run_calls(runner, calls, {"x": bytes([7]) * 4095}, {"y": 4095})["y"]
        assert set(np.frombuffer(out, dtype=np.int8).tolist()) == {-128}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(a_q=per_tensor(), b_q=per_tensor(), out_exp=st.floats(-3.0, 4.0), out_zp=st.integers(-128, 127), seed=seeds)
def test_add_every_input_pair(kernel_runners, a_q, b_q, out_exp, out_zp, seed):
    """Every (a, b) pair of int8 values through one Add: the fast path's int32 rescale
    (tinyc_add_s8.c) equals the interpreter on all 65,536 of them, for random scales and
    zero points (the extreme -128 and 127 included by the strategy)."""
    out_q = QuantParams.per_tensor(max(a_q.s, b_q.s) * 10**out_exp, out_zp)
    values = np.arange(-128, 128, dtype=np.int8)
    graph = single_node(ops.Add(), [act("a", (256, 1), a_q), act("b", (1, 256), b_q)], act("y", (256, 256), out_q))
    check_kernels(graph, kernel_runners, seed, inputs={"a": values.reshape(256, 1), "b": values.reshape(1, 256)})


# --- tinyc_add_table_s8: the compile-time table variant of Add --------------------------


@st.composite
def large_add_graphs(draw: st.DrawFn):
    """Adds with at least ADD_TABLE_MIN_ELEMENTS outputs (the table variant's domain), with
    or without broadcasting, in any dim order, at the scale extremes."""
    inner = draw(st.integers(1, 40))
    outer = draw(st.integers(-(-ADD_TABLE_MIN_ELEMENTS // inner), 300 // inner + 12))
    y_shape = (outer, inner)
    shapes = [y_shape, (1, inner), (outer, 1), y_shape]
    a_shape, b_shape = draw(st.sampled_from(shapes)), draw(st.sampled_from(shapes))
    if a_shape != y_shape and b_shape != y_shape:
        a_shape = y_shape
    a_q, b_q = draw(per_tensor()), draw(per_tensor())
    out_q = QuantParams.per_tensor(max(a_q.s, b_q.s) * 10 ** draw(st.floats(-3.0, 4.0)), draw(per_tensor()).zp)
    orders = {name: draw(permutations(2)) for name in ("a", "b", "y")}
    graph = single_node(ops.Add(*draw(act_range())), [act("a", a_shape, a_q), act("b", b_shape, b_q)],
                        act("y", y_shape, out_q), orders)
    return graph


def _table_variant_chosen(graph) -> bool:
    (call,) = kernel_calls(graph.nodes[0], graph)
    expected = add_table(graph.nodes[0], graph) is not None
    assert (call.symbol == "tinyc_add_table_s8") == expected, call.symbol
    return expected


@SETTINGS
@given(graph=large_add_graphs(), seed=seeds)
def test_add_table_matches_interpreter(kernel_runners, graph, seed):
    _table_variant_chosen(graph)
    check_kernels(graph, kernel_runners, seed)


def test_add_table_every_input_pair_at_the_extremes(kernel_runners):
    """All 65,536 (a, b) pairs through the table kernel, at zero points -128 / 127 and scales
    1000x apart either way, with and without a fused clamp."""
    values = np.arange(-128, 128, dtype=np.int8)
    inputs = {"a": values.reshape(256, 1), "b": values.reshape(1, 256)}
    cases = [((1e-3, -128), (1.0, 127), (2e-3, 0), (-128, 127)), ((0.5, 127), (0.5, -128), (1.0, -128), (-128, 127)),
             ((1.0, 0), (1e-3, 5), (1e3, 0), (-128, 127)), ((0.02, 3), (0.03, -7), (0.01, -20), (-20, 90))]
    for (sa, za), (sb, zb), (so, zo), clamp in cases:
        graph = single_node(ops.Add(*clamp), [act("a", (256, 1), QuantParams.per_tensor(sa, za)),
                                              act("b", (1, 256), QuantParams.per_tensor(sb, zb))],
                            act("y", (256, 256), QuantParams.per_tensor(so, zo)))
        assert _table_variant_chosen(graph)
        check_kernels(graph, kernel_runners, seed=0, inputs=inputs)


def test_small_adds_keep_the_table_free_kernel():
    """Below ADD_TABLE_MIN_ELEMENTS outputs a 2 KB table costs more flash than it saves."""
    q = QuantParams.per_tensor(0.1, 0)
    graph = single_node(ops.Add(), [act("a", (1, 255), q), act("b", (1, 255), q)], act("y", (1, 255), q))
    assert [c.symbol for c in kernel_calls(graph.nodes[0], graph)] == ["tinyc_add_s8"]


def test_add_table_works_in_place(kernel_runners):
    q = QuantParams.per_tensor(0.05, -3)
    for b_shape in ((16, 32), (1, 32), (16, 1)):
        graph = single_node(ops.Add(), [act("a", (16, 32), q), act("b", b_shape, QuantParams.per_tensor(0.07, 9))],
                            act("y", (16, 32), QuantParams.per_tensor(0.1, 4)))
        assert _table_variant_chosen(graph)
        check_kernels(graph, kernel_runners, seed=3, aliases={"y": "a"})


def test_add_on_cortex_m(qemu_kernel_runner):
    """Both Add variants (table and arithmetic) on qemu-m4 / qemu-m7, one emulator run."""
    cases = draw_examples(st.tuples(large_add_graphs(), seeds), 60)
    cases += draw_examples(st.tuples(binary_graphs("add"), seeds), 60)
    symbols = {kernel_calls(g.nodes[0], g)[0].symbol for g, _ in cases}
    assert symbols == {"tinyc_add_s8", "tinyc_add_table_s8"}
    assert check_kernels_batch([kernel_case(graph, seed) for graph, seed in cases], qemu_kernel_runner) >= 100


def test_mul_on_cortex_m(qemu_kernel_runner):
    cases = draw_examples(st.tuples(binary_graphs("mul"), seeds), 100)
    assert check_kernels_batch([kernel_case(graph, seed) for graph, seed in cases], qemu_kernel_runner) >= 80


def test_softmax_on_cortex_m(qemu_kernel_runner):
    cases = draw_examples(st.tuples(softmax_graphs(), seeds), 60)
    assert check_kernels_batch([kernel_case(graph, seed) for graph, seed in cases], qemu_kernel_runner) >= 50
