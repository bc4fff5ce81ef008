"""The patch search against brute force on a small stage: its choice is the lowest arena
of all (K, bands) candidates within the MAC budget, and it never patches for nothing."""

from __future__ import annotations

from patch_support import chain, nhwc_program
from tinycc_ml.patch.search import PatchRequest, candidate_splits, choose_patch
from tinycc_ml.patch.stage import StageError, patched_program, program_macs


def _all_candidates(straight, budget_pct):
    base = program_macs(straight)
    found = []
    for split in candidate_splits(straight):
        for n_h in range(2, straight.graph.tensor(split).shape[2] + 1):
            try:
                p = patched_program(straight, split, n_h, planner="greedy_by_size")
            except StageError:
                continue
            overhead = 100.0 * (program_macs(p) - base) / base
            if overhead <= budget_pct:
                found.append((p.plan.arena_bytes, overhead, split, n_h))
    return found


def test_auto_finds_the_lowest_arena_within_the_budget():
    straight = nhwc_program(chain(3, 1, 1, (1, 1, 1, 1), h=23, w=4))
    for budget in (15.0, 20.0, 60.0):
        best = min(_all_candidates(straight, budget))
        program, choice = choose_patch(straight, PatchRequest("auto", overhead_pct=budget), planner="greedy_by_size")
        if best[0] >= straight.plan.arena_bytes:
            assert choice is None and program is straight
            continue
        assert choice is not None and program.plan.arena_bytes == choice.arena_with == best[0]
        assert choice.mac_overhead_pct <= budget
    # On this net bands pay only beyond +15 % MACs (since K may overwrite the input's dead
    # rows, from +18.2 %; before, only beyond +20 %): 20 % patches, 15 % does not.
    assert choose_patch(straight, PatchRequest("auto", overhead_pct=20.0), planner="greedy_by_size")[1] is not None
    assert choose_patch(straight, PatchRequest("auto", overhead_pct=15.0), planner="greedy_by_size")[1] is None


def test_no_patch_without_budget_or_gain():
    straight = nhwc_program(chain(3, 1, 1, (1, 1, 1, 1), h=23, w=4))
    program, choice = choose_patch(straight, PatchRequest("auto", overhead_pct=0.0), planner="greedy_by_size")
    assert choice is None and program is straight
    program, choice = choose_patch(straight, PatchRequest("off"))
    assert choice is None and program is straight
