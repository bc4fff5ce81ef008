"""Plans that prove themselves: a MemoryPlan exists only if it passed the overlap check,
codegen can prove it once more (check_plan), and when several overlap facts cover one
buffer pair the most restrictive one decides.

The two-fact case is what an op reading two tensors of one alias group produces (e.g.
Add(x, Reshape(x))): the access model states one distance per input tensor, and both
reads happen, so both distances must hold."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tinycc_ml.errors import PlanError
from tinycc_ml.memory import (PLANNER_NAMES, BufferRequest, MemoryPlan, OverlapFact, Placement, check_plan,
                              lower_bound_bytes, make_plan, plan, resolve_facts)

# x (and its reshape x2, one buffer of 128 B, steps 0-1) is read by op at step 1, which
# writes y (128 B, steps 1-2). The read of x allows y to start at x's start (d = 0), the
# read of x2 only 48 bytes below it (d = 48).
X = BufferRequest("x", 128, 0, 1, 16, ("x", "x2"))
Y = BufferRequest("y", 128, 1, 2, 16, ("y",))
WEAK = OverlapFact("op", "x", "y", 0, "reads x pixel by pixel")
STRONG = OverlapFact("op", "x2", "y", 48, "reads x2 row by row")


@pytest.mark.parametrize("facts", [(WEAK, STRONG), (STRONG, WEAK)], ids=["weak first", "strong first"])
def test_two_facts_on_one_pair_resolve_to_the_safer_one(facts):
    (pair,) = resolve_facts((X, Y), facts)
    assert (pair.input, pair.output, pair.min_distance) == (0, 1, 48)
    assert set(pair.facts) == {WEAK, STRONG}
    # The pair needs max(out, in + d) = 176 bytes, not the 128 the weak fact alone would allow.
    assert lower_bound_bytes((X, Y), (pair,)) == 176


@pytest.mark.parametrize("facts", [(WEAK, STRONG), (STRONG, WEAK)], ids=["weak first", "strong first"])
def test_a_placement_only_the_weaker_fact_allows_is_refused(facts):
    # offset(x) - offset(y) = 32: fine for the read of x (>= 0), not for the read of x2 (>= 48).
    with pytest.raises(PlanError) as err:
        MemoryPlan((X, Y), (32, 0), 160, "handmade", facts)
    assert str(err.value) == ("plan 'handmade': buffers y [0, 128) steps 1-2 and x [32, 160) steps 0-1 overlap "
                              "(their fact needs offset(x) - offset(y) >= 48)")
    with pytest.raises(PlanError, match=">= 48"):
        make_plan((X, Y), (32, 0), "handmade", facts)
    assert make_plan((X, Y), (48, 0), "handmade", facts).arena_bytes == 176  # exactly the strong distance: fine
    assert make_plan((X, Y), (32, 0), "handmade", (WEAK,)).arena_bytes == 160  # the weak fact alone allows it


@pytest.mark.parametrize("name", PLANNER_NAMES)
def test_planners_honour_the_stronger_fact(name):
    p = plan((X, Y), name, (WEAK, STRONG))
    assert p.offset("x") - p.offset("y") >= 48 or p.offset("y") >= p.offset("x") + X.size
    assert p.arena_bytes >= 176


def test_a_plan_with_overlapping_live_buffers_cannot_be_made():
    a, b = BufferRequest("a", 100, 0, 1), BufferRequest("b", 64, 1, 2)
    with pytest.raises(PlanError, match=r"^plan 'handmade': buffers a \[0, 100\) steps 0-1 and b \[96, 160\) "
                                        r"steps 1-2 overlap$"):
        MemoryPlan((a, b), (0, 96), 160, "handmade")
    good = MemoryPlan((a, b), (0, 112), 176, "handmade")
    with pytest.raises(PlanError, match="overlap$"):  # replace() makes a new plan: it is checked again
        replace(good, offsets=(0, 96))
    with pytest.raises(PlanError, match="ends past the arena of 150 bytes"):
        replace(good, arena_bytes=150)
    with pytest.raises(PlanError, match="overlap$"):
        make_plan((a, b), (0, 96), "handmade")


def test_codegen_check_proves_the_plan_again():
    a, b = BufferRequest("a", 100, 0, 1), BufferRequest("b", 64, 1, 2)
    good = make_plan((a, b), (0, 112), "handmade")
    assert check_plan(good) is good
    unproven = Placement((a, b), (0, 96), 160, "handmade")  # what the plan-aware interpreter may run
    with pytest.raises(PlanError, match="^codegen needs a checked MemoryPlan, got Placement$"):
        check_plan(unproven)
    tampered = make_plan((a, b), (0, 112), "handmade")
    object.__setattr__(tampered, "offsets", (0, 96))  # what no code may do; check_plan still sees it
    with pytest.raises(PlanError, match="overlap$"):
        check_plan(tampered)
