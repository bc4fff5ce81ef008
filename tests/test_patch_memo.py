"""The patch search's shortcuts change nothing: a search-wide memo of kernel calls, access
models and stages, and the MAC budget checked on a candidate's Layout before its calls are
built. The reference is the search without them: every candidate built on its own (a fresh
memo, as one loop's calls were shared before), its calls, requests and facts derived before
its MACs are checked, by the same series, patience and branch and bound."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest

import frontend_support as fs
from patch_models import small_mobilenet
from patch_support import chain, nhwc_program
from tinycc_ml.boards import load_board
from tinycc_ml.compiler import import_model, lower
from tinycc_ml.kernels.call import ConstArg, KernelCall
from tinycc_ml.kernels.target import HOST_TARGET, KernelTarget
from tinycc_ml.memory.planners import DEFAULT_PLANNER
from tinycc_ml.patch.memo import SearchMemo
from tinycc_ml.patch.search import (COLUMN_PATIENCE, PATIENCE, PatchRequest, band_counts, candidate_splits,
                                    choose_patch)
from tinycc_ml.patch.stage import StageError, patch_candidate, program_macs
from tinycc_ml.program import LoopStep

DIGITS = Path(__file__).resolve().parents[1] / "examples" / "digits" / "digits_int8.onnx"


def _reference(straight, request, target, planner=DEFAULT_PLANNER):
    """(split, n_h, n_w, arena, MACs, candidates, planned) of the unshortened search, and its
    candidates within the budget as (split, n_h, n_w, Candidate)."""
    base = program_macs(straight)
    found = []
    for split in candidate_splits(straight):
        height, width = straight.graph.tensor(split).shape[2:]
        narrower, widen = None, 0
        for n_w in range(1, min(width, request.max_columns) + 1):
            split_best, worse = None, 0
            counts = band_counts(height, width, n_w)
            for n_h in counts:
                try:
                    candidate = patch_candidate(straight, split, n_h, target, columns=n_w)
                except StageError:
                    break
                overhead = 100.0 * (candidate.macs - base) / max(base, 1)
                if overhead > request.overhead_pct:
                    break
                bound = candidate.lower_bound_bytes()
                found.append((bound, overhead, n_w, len(found), candidate, split, n_h, n_w))
                new_tallest = n_h == counts.start or -(-height // n_h) < -(-height // (n_h - 1))
                worse = 0 if split_best is None or bound < split_best else worse + new_tallest
                split_best = bound if split_best is None else min(split_best, bound)
                if worse >= PATIENCE:
                    break
            if split_best is None:
                break
            widen = 0 if narrower is None or split_best < narrower else widen + 1
            if widen >= COLUMN_PATIENCE:
                break
            narrower = split_best if narrower is None else min(narrower, split_best)
    best, planned = None, 0
    for bound, overhead, columns, _, candidate, split, n_h, n_w in sorted(found, key=lambda f: f[:4]):
        if best is not None and (bound, overhead, columns) >= best[:3]:
            break
        program = candidate.program(planner)
        planned += 1
        key = (program.plan.arena_bytes, overhead, columns)
        if best is None or key < best[:3]:
            best = (*key, program, split, n_h, n_w)
    candidates = [(f[5], f[6], f[7], f[4]) for f in found]
    if best is None or best[0] >= straight.plan.arena_bytes:
        return None, candidates
    arena, _, _, program, split, n_h, n_w = best
    return (split, n_h, n_w, arena, program_macs(program), len(found), planned), candidates


def _calls(candidate) -> list:
    """Every kernel call of the candidate's loop, comparable (ConstArg values by bytes)."""
    loop = next(s for s in candidate.steps if isinstance(s, LoopStep))

    def arg(a):
        return (a.name, a.ctype, a.values.dtype.str, a.values.shape, a.values.tobytes()) if isinstance(a, ConstArg) else a

    return [(c.node, c.symbol, c.params_type, c.params, tuple(arg(a) for a in c.args))
            for it in loop.iterations for step in it.steps for c in step.calls if isinstance(c, KernelCall)]


def _same_search(straight, target, request):
    want, candidates = _reference(straight, request, target)
    program, choice = choose_patch(straight, request, target)
    got = None if choice is None else (choice.split, choice.n_h, choice.n_w, choice.arena_with, choice.macs_with,
                                       choice.candidates, choice.planned)
    assert got == want
    if choice is not None:
        assert program.plan.arena_bytes == choice.arena_with and program_macs(program) == choice.macs_with
    # One memo shared by all of them, in the search's order, builds every candidate as built alone.
    memo = SearchMemo()
    for split, n_h, n_w, alone in candidates:
        shared = patch_candidate(straight, split, n_h, target, memo, columns=n_w)
        assert shared.requests == alone.requests and shared.facts == alone.facts
        assert shared.macs == alone.macs and shared.lower_bound_bytes() == alone.lower_bound_bytes()
        assert _calls(shared) == _calls(alone)
    return want, candidates


def test_memoized_search_matches_the_reference_on_a_chain():
    straight = nhwc_program(chain(3, 1, 1, (1, 1, 1, 1), h=23, w=4))
    for budget in (15.0, 20.0, 60.0):
        want, candidates = _same_search(straight, HOST_TARGET, PatchRequest("auto", overhead_pct=budget))
        assert candidates
    assert want is not None  # 60 %: bands pay (test_patch_search.py)


def _lowered(path: Path, board: str):
    target = KernelTarget.of_board(load_board(board))
    straight, _ = lower(import_model(path), target=target)
    return straight, target


def test_memoized_search_matches_the_reference_on_digits():
    straight, target = _lowered(DIGITS, "stm32f746")
    want, candidates = _same_search(straight, target, PatchRequest("auto"))
    assert want is not None and len(candidates) >= 10


@pytest.mark.slow
def test_memoized_search_matches_the_reference_on_a_small_mobilenet(tmp_path):
    """48x48, residual Adds, a dilated and an asymmetric-padded 5x5 depthwise; the DSP
    kernels of a Cortex-M7 (bands and tiles: every grid the search tries)."""
    path = tmp_path / "small_mobilenet.onnx"
    onnx.save(fs.quantize(small_mobilenet()), path)
    straight, target = _lowered(path, "stm32f746")
    want, candidates = _same_search(straight, target, PatchRequest("auto"))
    assert want is not None and any(n_w > 1 for _, _, n_w, _ in candidates)
