"""Liveness, the greedy-by-size planner and the plan's own overlap check, on graphs and
requests small enough to derive every byte by hand."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from codegen_support import act, graph, kws_like
from tinycc_ml.errors import PlanError, TinycError
from tinycc_ml.ir import ops
from tinycc_ml.ir.graph import Node
from tinycc_ml.kernels.call import KernelCall, ParamStruct, ScratchArg, TensorArg
from tinycc_ml.memory import BufferRequest, MemoryPlan, buffer_requests, layerwise_peak_bytes, plan
from tinycc_ml.passes import layout
from tinycc_ml.lowering import pass_context

HOST_PASSES = pass_context()  # the passes as a host compile runs them

RELU = ops.Lut(table=tuple(max(v, 0) for v in range(-128, 128)))


def chain():
    """x (100 B) -> a (200 B) -> b (50 B) -> y (30 B), one Lut-like op per step."""
    tensors = [act("x", (1, 100)), act("a", (1, 200)), act("b", (1, 50)), act("y", (1, 30))]
    nodes = [Node("op0", RELU, ("x",), ("a",)), Node("op1", RELU, ("a",), ("b",)), Node("op2", RELU, ("b",), ("y",))]
    return graph(tensors, nodes, "x", "y")


def test_chain_liveness():
    g = chain()
    reqs = buffer_requests(g, g.nodes, {})
    assert [(r.name, r.size, r.first, r.last, r.tensors) for r in reqs] == [
        ("a", 200, 0, 1, ("a",)), ("x", 100, 0, 0, ("x",)), ("b", 50, 1, 2, ("b",)), ("y", 30, 2, 2, ("y",)),
    ]
    assert layerwise_peak_bytes(reqs) == 300  # step 0: x + a


def test_chain_greedy_plan_by_hand():
    # a (largest) at 0; x overlaps a in time -> after it, aligned: 208; b overlaps a -> 208
    # (x is dead by then); y overlaps only b, which leaves [0, 208) free -> 0.
    g = chain()
    p = plan(buffer_requests(g, g.nodes, {}), "greedy_by_size")
    assert {r.name: off for r, off in zip(p.requests, p.offsets)} == {"a": 0, "x": 208, "b": 208, "y": 0}
    assert p.arena_bytes == 308
    assert p.tensor_offsets() == {"a": 0, "x": 208, "b": 208, "y": 0}


def test_output_lives_to_the_end_and_input_from_the_start():
    # y is written at step 0 but is the graph output: it must survive op1 (which writes z).
    tensors = [act("x", (1, 64)), act("y", (1, 64)), act("z", (1, 64))]
    nodes = [Node("op0", RELU, ("x",), ("y",)), Node("op1", RELU, ("x",), ("z",))]
    g = graph(tensors, nodes, "x", "y")
    reqs = {r.name: (r.first, r.last) for r in buffer_requests(g, g.nodes, {})}
    assert reqs == {"x": (0, 1), "y": (0, 1), "z": (1, 1)}
    assert plan(buffer_requests(g, g.nodes, {})).arena_bytes == 192


def test_alias_groups_share_one_buffer():
    g = layout(kws_like(), HOST_PASSES)
    reqs = buffer_requests(g, g.nodes, {})
    assert [(r.name, r.tensors, r.size, r.first, r.last) for r in reqs] == [
        ("in", ("in", "r"), 490, 0, 1),  # input + its Reshape alias, read by conv at step 1
        ("c", ("c",), 1000, 1, 2),
        ("p", ("p", "f"), 8, 2, 4),  # pool output + flatten alias, read by fc at step 4
        ("l", ("l",), 12, 4, 5),
        ("out", ("out",), 12, 5, 5),
    ]
    p = plan(reqs, "greedy_by_size")
    offsets = p.tensor_offsets()
    assert offsets["in"] == offsets["r"] and offsets["p"] == offsets["f"]
    # c (1000) at 0; in at 1008; p overlaps c -> 1008; l, out overlap p only -> 0 and 16.
    assert (offsets["c"], offsets["in"], offsets["p"], offsets["l"], offsets["out"]) == (0, 1008, 1008, 0, 16)
    assert p.arena_bytes == 1498
    assert layerwise_peak_bytes(reqs) == 1490  # step 1: in (490) + c (1000)


def test_scratch_is_a_one_step_buffer():
    g = chain()
    call = KernelCall("op1", "tinyc_fake_s8", "tinyc_fake_params", ParamStruct(()),
                      (TensorArg("a"), TensorArg("b"), ScratchArg(40)))
    reqs = buffer_requests(g, g.nodes, {"op1": (call,)})
    assert reqs[-1] == BufferRequest("scratch:op1#0.2", 40, 1, 1)
    p = plan(reqs, "greedy_by_size")
    # live at step 1: a [0,200), b [208,258); scratch goes after b at 272 (x is dead).
    assert p.offset("scratch:op1#0.2") == 272 and p.arena_bytes == 312
    assert layerwise_peak_bytes(reqs) == 300


def test_overlap_check_catches_a_bad_plan():
    reqs = (BufferRequest("a", 100, 0, 1), BufferRequest("b", 64, 1, 2))
    bad = MemoryPlan(reqs, (0, 96), 160, "handmade")
    with pytest.raises(PlanError) as err:
        bad.check()
    assert str(err.value) == ("plan 'handmade': buffers a [0, 100) steps 0-1 and b [96, 160) steps 1-2 overlap")
    MemoryPlan(reqs, (0, 112), 176, "handmade").check()  # apart in address: fine
    MemoryPlan((BufferRequest("a", 100, 0, 0), BufferRequest("b", 64, 1, 2)), (0, 0), 100, "handmade").check()


def test_check_catches_misalignment_and_short_arena():
    reqs = (BufferRequest("a", 100, 0, 1),)
    with pytest.raises(PlanError, match="offset 8 breaks its 16-byte alignment"):
        MemoryPlan(reqs, (8,), 108, "handmade").check()
    with pytest.raises(PlanError, match=r"ends past the arena of 99 bytes"):
        MemoryPlan(reqs, (0,), 99, "handmade").check()


def test_unknown_planner():
    with pytest.raises(TinycError) as err:
        plan((), "best_fit")
    assert str(err.value) == ("unknown planner 'best_fit'; planners: greedy_by_size, greedy_by_breadth, "
                              "greedy_by_conflicts, hill_climb, best")


def test_table_lists_buffers_by_offset():
    g = chain()
    text = plan(buffer_requests(g, g.nodes, {}), "greedy_by_size").table()
    assert text.splitlines()[0] == "memory plan 'greedy_by_size': arena 308 bytes"
    assert [line.split()[-1] for line in text.splitlines()[2:]] == ["a", "y", "x", "b"]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 300), st.integers(0, 12), st.integers(0, 5)), min_size=1, max_size=25))
def test_greedy_plans_are_sound_and_at_least_the_peak(items):
    reqs = tuple(BufferRequest(f"b{i}", size, first, first + length) for i, (size, first, length) in enumerate(items))
    p = plan(reqs)  # plan() runs the overlap check itself
    p.check()
    assert p.arena_bytes >= layerwise_peak_bytes(reqs)
    assert all(off % 16 == 0 for off in p.offsets)
