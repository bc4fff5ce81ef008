"""Overlap facts of a patch stage. Point 7 of issue 9: the stage output K over its input's
dead rows (the in-band facts between band buffers follow at the end). The fact's
distance is exact: at it the plan-aware interpreter (one byte arena, bands in order)
gives the layer-by-layer output; one byte closer the plan check refuses the placement,
and one input row closer some band's K bytes land on input a later band reads and the
interpreter's output goes wrong."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from patch_support import chain, nhwc_program, split_tensor
from tinycc_ml.errors import PlanError
from tinycc_ml.interp import run_core
from tinycc_ml.interp.planned import run_planned_core
from tinycc_ml.memory.plan import Placement, make_plan
from tinycc_ml.memory.planners import plan
from tinycc_ml.patch.stage import patched_program
from tinycc_ml.program import LoopStep, Program


def _inputs(shape, count=4):
    rng = np.random.default_rng(11)
    # Small values around the zero point: the chain saturates less, so a clobbered row shows.
    return [rng.integers(-10, 5, size=shape).astype(np.int8) for _ in range(count)]


def _patched(g, bands):
    straight = nhwc_program(g)
    return patched_program(straight, split_tensor(straight.graph), bands, planner="greedy_by_size")


def _resident_fact(program: Program):
    (loop,) = [s for s in program.steps if isinstance(s, LoopStep)]
    facts = [f for f in program.plan.facts if f.node == loop.name]
    return loop, facts


def _placed(program: Program, input_minus_k: int, pair: tuple[str, str] = ("x", "")) -> tuple[list, list[int], int]:
    """Every buffer in a range of its own, except the pair (by default the stage input x
    and K), which sits `input_minus_k` bytes apart (offset(input) - offset(output));
    alignment aside, so that the check judges the overlap alone."""
    plan = program.plan
    source, target = pair[0], pair[1] or split_tensor(program.graph)
    offsets, end = [], 0
    for r in plan.requests:
        offsets.append(end)
        end += -(-max(r.size, 1) // 16) * 16
    ik = next(i for i, r in enumerate(plan.requests) if target in r.tensors)
    ix = next(i for i, r in enumerate(plan.requests) if source in r.tensors)
    base = end + max(0, -input_minus_k)
    offsets[ik], offsets[ix] = base, base + input_minus_k
    arena = max(o + r.size for o, r in zip(offsets, plan.requests))
    return [replace(r, alignment=1) for r in plan.requests], offsets, arena


@pytest.mark.parametrize("case", [((3, 1, 1, (1, 1, 1, 1)), 23, 3), ((5, 2, 1, (2, 2, 2, 2)), 23, 4),
                                  ((3, 1, 2, (2, 1, 2, 1)), 17, 2), ((7, 2, 1, (3, 3, 3, 3)), 29, 5)])
def test_resident_fact_distance_is_exact(case):
    (k, s, d, pads), h, bands = case
    g = chain(k, s, d, pads, h=h, w=4)
    program = _patched(g, bands)
    loop, facts = _resident_fact(program)
    (fact,) = facts
    assert (fact.input, fact.output, fact.steps) == ("x", split_tensor(program.graph), loop.body_length)
    xs = _inputs(g.tensor("x").shape)
    wants = [run_core(g, {"x": x})["y"].tobytes() for x in xs]

    requests, offsets, arena = _placed(program, fact.min_distance)
    exact = replace(program, plan=make_plan(requests, offsets, "by hand", program.plan.facts))
    assert exact.plan.used_facts() == (fact,)  # K and x do share bytes
    assert [run_planned_core(exact, {"x": x}).outputs["y"].tobytes() for x in xs] == wants

    requests, offsets, arena = _placed(program, fact.min_distance - 1)
    with pytest.raises(PlanError, match=f">= {fact.min_distance}"):
        make_plan(requests, offsets, "by hand", program.plan.facts)
    # One input row closer (one byte may be masked by saturation downstream): K's bytes
    # land on a row a later band still reads, and the output changes.
    row = g.tensor("x").nbytes // g.tensor("x").shape[2]
    requests, offsets, arena = _placed(program, fact.min_distance - row)
    closer = replace(program, plan=Placement(tuple(requests), tuple(offsets), arena, "by hand", program.plan.facts))
    assert [run_planned_core(closer, {"x": x}).outputs["y"].tobytes() for x in xs] != wants


def test_the_planner_puts_k_over_the_dead_input_rows():
    """With the fact the stage costs about max(input, K) + the band buffers: the same
    requests planned without it need more arena."""
    g = chain(3, 1, 1, (1, 1, 1, 1), h=23, w=4)
    program = _patched(g, 4)
    _, (fact,) = _resident_fact(program)
    assert fact in program.plan.used_facts()
    others = tuple(f for f in program.plan.facts if f != fact)
    apart = plan(program.plan.requests, "greedy_by_size", others)
    assert program.plan.arena_bytes < apart.arena_bytes
    assert program.plan.lower_bound_bytes() < apart.lower_bound_bytes()
    x = _inputs(g.tensor("x").shape, 1)[0]
    assert run_planned_core(program, {"x": x}).outputs["y"].tobytes() == run_core(g, {"x": x})["y"].tobytes()


def test_no_resident_fact_when_the_input_stays_alive():
    g = replace(chain(3, 1, 1, (1, 1, 1, 1), h=23, w=4), preserve_inputs=True)
    _, facts = _resident_fact(_patched(g, 3))
    assert facts == []


@pytest.mark.parametrize("node, row_of", [("cb", "t0"), ("lut", "t2")])
def test_in_band_facts_let_band_buffers_share_bytes_as_their_kernels_allow(node, row_of):
    """The band buffers get the overlap facts of their kernels (a 3x3 conv, a Lut in
    place): at the fact's distance the bands compute the layer-by-layer output, one byte
    closer the plan check refuses, one row closer the interpreter replays the kernel's
    order over the overlap and the output goes wrong."""
    g = chain(3, 1, 1, (1, 1, 1, 1), h=23, w=4)
    program = _patched(g, 3)
    (loop,) = [s for s in program.steps if isinstance(s, LoopStep)]
    (fact,) = [f for f in program.plan.facts if f.node == node]
    assert fact.steps == 1 and {fact.input, fact.output} <= set(loop.scoped)
    xs = _inputs(g.tensor("x").shape)
    wants = [run_core(g, {"x": x})["y"].tobytes() for x in xs]
    assert [run_planned_core(program, {"x": x}).outputs["y"].tobytes() for x in xs] == wants

    pair = (fact.input, fact.output)
    requests, offsets, arena = _placed(program, fact.min_distance, pair)
    exact = replace(program, plan=make_plan(requests, offsets, "by hand", program.plan.facts))
    assert exact.plan.used_facts() == (fact,)
    assert [run_planned_core(exact, {"x": x}).outputs["y"].tobytes() for x in xs] == wants
    requests, offsets, arena = _placed(program, fact.min_distance - 1, pair)
    with pytest.raises(PlanError, match=f">= {fact.min_distance}"):
        make_plan(requests, offsets, "by hand", program.plan.facts)
    row = g.tensor(row_of).nbytes // g.tensor(row_of).shape[2]
    requests, offsets, arena = _placed(program, fact.min_distance - row, pair)
    closer = replace(program, plan=Placement(tuple(requests), tuple(offsets), arena, "by hand", program.plan.facts))
    assert [run_planned_core(closer, {"x": x}).outputs["y"].tobytes() for x in xs] != wants
