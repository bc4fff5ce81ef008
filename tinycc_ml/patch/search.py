"""The choice of a patch stage: for every candidate split tensor K and band count, the
exact arena of the patched Program (planned by the same planner, with the stage as a
LoopStep) and the MACs its halos recompute; the lowest arena within the MAC budget wins,
and nothing is patched unless it lowers the arena. Candidates are planned in the order
of their lower bounds (memory/bounds.py), and only until no other can do better.

    --patch off        layer by layer
    --patch auto       the search
    --patch K:NHxNW    this split tensor and grid (NW = 1: row bands; NW > 1: tiles)

Grids: for every split, full-width bands (n_w = 1) and n_h x n_w tiles with n_w up to
MAX_COLUMNS whose tiles are near square (aspect within 2: a square tile has the least
halo per byte of patch buffer, and every candidate costs a full plan); each (split, n_w)
series over n_h stops at the MAC budget or after PATIENCE grids that do not lower its arena,
and a split stops widening after COLUMN_PATIENCE column counts that do not lower its arena.

Cost: a candidate's MACs come from its Layout (the patches' regions and shapes, no kernel
call), so a grid past the budget costs no call; the kernel calls, access models and stages
of one search are shared through one SearchMemo (memo.py): a band of one height and pads
recurs across band counts and across the stages of later splits. Each candidate within the
budget still gets its exact lower bound (its calls' scratch and in-band facts), since the
series' patience compares them; only the planning is left to the few that can win.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import TinycError
from ..kernels.target import HOST_TARGET, KernelTarget
from ..kernels.wide_weights import decide_for_model
from ..memory.picture import short
from ..memory.planners import DEFAULT_PLANNER
from ..program import LoopStep, NodeStep, Program
from .memo import SearchMemo
from .rows import STAGE_KINDS
from .stage import Candidate, StageError, layout_candidate, patch_layout, patched_program, program_macs

DEFAULT_OVERHEAD_PCT = 20.0
MAX_BANDS = 32  # more bands only add halo: the per-band buffers stop shrinking long before
MAX_COLUMNS = 4  # column counts tried (tiles); beyond, the halo of narrow tiles eats the MAC budget
PATIENCE = 4  # tallest-band sizes in a row that do not lower a split's arena end its search
COLUMN_PATIENCE = 2  # column counts in a row that do not lower a split's arena end its widening


@dataclass(frozen=True)
class PatchRequest:
    mode: str  # "off", "auto" or "forced"
    split: str = ""
    n_h: int = 0
    overhead_pct: float = DEFAULT_OVERHEAD_PCT
    n_w: int = 1
    max_columns: int = MAX_COLUMNS  # auto: the widest grid tried (1: full-width bands only)

    @staticmethod
    def parse(text: str, overhead_pct: float = DEFAULT_OVERHEAD_PCT) -> "PatchRequest":
        if text in ("off", "auto"):
            return PatchRequest(text, overhead_pct=overhead_pct)
        split, sep, grid = text.rpartition(":")
        n_h, x, n_w = grid.partition("x")
        if not sep or not split or not x or not n_h.isdigit() or not n_w.isdigit():
            raise TinycError(f"--patch {text!r}: expected off, auto or TENSOR:NHxNW (e.g. conv1_out:4x1)")
        if int(n_h) < 1 or int(n_w) < 1:
            raise TinycError(f"--patch {text!r}: NH and NW must be at least 1")
        return PatchRequest("forced", split, int(n_h), overhead_pct, int(n_w))


@dataclass(frozen=True)
class PatchChoice:
    split: str
    n_h: int
    n_w: int
    arena_without: int
    arena_with: int
    macs_without: int
    macs_with: int
    halo_rows: tuple[tuple[str, int], ...]  # per stage op: rows computed twice (summed over bands)
    candidates: int  # (K, grid) pairs the search considered (their lower bounds)
    halo_cols: tuple[tuple[str, int], ...] = ()  # per stage op: columns computed twice (summed over column bands)
    planned: int = 1  # of those, the ones it planned (by increasing lower bound)
    stage_steps: tuple[int, int] = (0, 0)  # first and last step of the schedule the stage's loop runs

    @property
    def mac_overhead_pct(self) -> float:
        return 100.0 * (self.macs_with - self.macs_without) / max(self.macs_without, 1)

    def as_report(self) -> dict:
        return {"split": self.split, "grid": [self.n_h, self.n_w], "arena_without_bytes": self.arena_without,
                "arena_with_bytes": self.arena_with, "macs_without": self.macs_without, "macs_with": self.macs_with,
                "mac_overhead_pct": round(self.mac_overhead_pct, 2), "candidates": self.candidates,
                "planned": self.planned, "stage_steps": list(self.stage_steps),
                "stage_ops": [name for name, _ in self.halo_rows],
                "halo_rows": {name: rows for name, rows in self.halo_rows},
                "halo_cols": {name: cols for name, cols in self.halo_cols}}

    def summary(self) -> str:
        return (f"  patch: {self.split} in {self.n_h}x{self.n_w} {'bands' if self.n_w == 1 else 'patches'}: "
                f"arena {self.arena_with:,} B "
                f"(layer by layer {self.arena_without:,} B), +{self.mac_overhead_pct:.1f} % MACs")

    def summary_lines(self) -> list[str]:
        """The compile summary's patch lines: the choice, its memory and MACs, the halo per op."""
        halo = ", ".join(f"{short(name, 24)} +{rows}" for name, rows in self.halo_rows)
        kind = "bands" if self.n_w == 1 else "patches"
        lines = [f"  patch: stage ending at {short(self.split, 40)} in {self.n_h}x{self.n_w} {kind}: arena "
                f"{self.arena_with:,} B (layer by layer {self.arena_without:,} B, "
                f"{self.arena_without / max(self.arena_with, 1):.2f}x less), +{self.mac_overhead_pct:.1f} % MACs "
                f"({self.macs_with - self.macs_without:,} recomputed; {self.planned} of {self.candidates} "
                "candidates planned)",
                f"  patch halo (output rows computed twice, per stage op): {halo}"]
        if self.n_w > 1:
            cols = ", ".join(f"{short(name, 24)} +{n}" for name, n in self.halo_cols)
            lines.append(f"  patch halo (output columns computed twice, per stage op): {cols}")
        return lines


def halo_rows(program: Program, n_w: int = 1, axis: int = 2) -> tuple[tuple[str, int], ...]:
    """Per stage op, the output rows its bands compute beyond the image's height (axis 3:
    the columns its column bands compute beyond the image's width). The patches run
    row-major, n_w to a band: one patch per band (per column band) counts."""
    rows = []
    for step in program.steps:
        if isinstance(step, LoopStep):
            n_h = len(step.iterations) // n_w
            firsts = step.iterations[::n_w] if axis == 2 else step.iterations[:n_w]
            assert len(firsts) == (n_h if axis == 2 else n_w)
            for j, node in enumerate(step.nodes):
                full = program.graph.tensor(node.outputs[0]).shape[axis]
                done = sum(it.graph.tensor(it.steps[j].node.outputs[0]).shape[axis] for it in firsts)
                rows.append((node.name, done - full))
    return tuple(rows)


def _choice(straight: Program, patched: Program, split: str, n_h: int, candidates: int, n_w: int = 1,
            planned: int = 1) -> PatchChoice:
    return PatchChoice(split, n_h, n_w, straight.plan.arena_bytes, patched.plan.arena_bytes, program_macs(straight),
                       program_macs(patched), halo_rows(patched, n_w), candidates, halo_rows(patched, n_w, axis=3),
                       planned, _stage_steps(patched))


def _stage_steps(program: Program) -> tuple[int, int]:
    t = 0
    for step in program.steps:
        if isinstance(step, LoopStep):
            return t, t + step.body_length - 1
        t += 1
    raise ValueError("the patched program has no loop")


def band_counts(height: int, width: int, n_w: int) -> range:
    """The n_h the search tries with n_w columns: every count from 2 for bands; for tiles
    those whose patches are at most twice as tall as wide or as wide as tall."""
    if n_w == 1:
        return range(2, min(height, MAX_BANDS) + 1)
    lo = max(2, -(-n_w * height // (2 * width)))
    return range(lo, min(height, MAX_BANDS, 2 * n_w * height // width) + 1)


def candidate_splits(program: Program) -> list[str]:
    """Outputs of the stage-capable ops of the straight program, in order."""
    return [step.node.outputs[0] for step in program.steps
            if isinstance(step, NodeStep) and step.node.kind in STAGE_KINDS
            and len(program.graph.tensor(step.node.outputs[0]).shape) == 4]


def choose_patch(straight: Program, request: PatchRequest, target: KernelTarget = HOST_TARGET,
                 planner: str = DEFAULT_PLANNER) -> tuple[Program, PatchChoice | None]:
    """The Program to emit and the patch stage it runs (None: layer by layer)."""
    if request.mode == "off":
        return straight, None
    # The int16-weight flash rule, once for the whole model (it walks every constant): the
    # candidates' band graphs select their kernels under it.
    target = decide_for_model(straight.graph, target)
    if request.mode == "forced":
        if request.split not in straight.graph.tensors:
            raise TinycError(f"--patch: the lowered graph has no tensor {request.split!r} "
                             f"(split points: {', '.join(candidate_splits(straight)) or 'none'})")
        try:
            patched = patched_program(straight, request.split, request.n_h, target, planner, request.n_w)
        except StageError as exc:
            raise TinycError(f"--patch {request.split}:{request.n_h}x{request.n_w}: {exc}") from None
        return patched, _choice(straight, patched, request.split, request.n_h, 1, request.n_w)
    base_macs = program_macs(straight)
    # (lower bound, overhead, columns, order, candidate, split, n_h, n_w)
    found: list[tuple[int, float, int, int, Candidate, str, int, int]] = []
    memo = SearchMemo()
    for split in candidate_splits(straight):
        height, width = straight.graph.tensor(split).shape[2:]
        narrower: int | None = None  # the split's best bound with fewer columns
        widen = 0  # column counts in a row that did not lower it
        for n_w in range(1, min(width, request.max_columns) + 1):
            split_best, worse = None, 0
            counts = band_counts(height, width, n_w)
            for n_h in counts:
                try:
                    layout = patch_layout(straight, split, n_h, n_w, memo)
                    overhead = 100.0 * (layout.macs - base_macs) / max(base_macs, 1)
                    if overhead > request.overhead_pct:
                        break  # more bands only add halo (checked before any kernel call is built)
                    candidate = layout_candidate(layout, target, memo)
                except StageError:
                    break  # the stage cannot end here (or cannot be cut finer): no finer grid either
                bound = candidate.lower_bound_bytes()
                found.append((bound, overhead, n_w, len(found), candidate, split, n_h, n_w))
                # Band counts with the same tallest band size their buffers alike: only a new
                # tallest band counts against the patience (24 rows: 13 to 23 bands all have 2-row bands).
                new_tallest = n_h == counts.start or -(-height // n_h) < -(-height // (n_h - 1))
                worse = 0 if split_best is None or bound < split_best else worse + new_tallest
                split_best = bound if split_best is None else min(split_best, bound)
                if worse >= PATIENCE:
                    break  # the band buffers stopped shrinking; the halo only grows from here
            if split_best is None:
                break  # no grid with n_w columns fits the budget: narrower tiles only add halo
            widen = 0 if narrower is None or split_best < narrower else widen + 1
            if widen >= COLUMN_PATIENCE:
                break  # wider grids stopped paying for this split
            narrower = split_best if narrower is None else min(narrower, split_best)
    # Branch and bound: plan the candidates by increasing lower bound, until no unplanned
    # one can beat the best planned (arena, overhead, columns): the arena of planning them all.
    best: tuple[int, float, int, Program, str, int, int] | None = None
    planned = 0
    for bound, overhead, columns, _, candidate, split, n_h, n_w in sorted(found, key=lambda f: f[:4]):
        if best is not None and (bound, overhead, columns) >= best[:3]:
            break
        program = candidate.program(planner)
        planned += 1
        key = (program.plan.arena_bytes, overhead, columns)  # ties: fewer columns (fewer, longer kernel calls)
        if best is None or key < best[:3]:
            best = (*key, program, split, n_h, n_w)
    if best is None or best[0] >= straight.plan.arena_bytes:
        return straight, None
    _, _, _, patched, split, n_h, n_w = best
    return patched, _choice(straight, patched, split, n_h, len(found), n_w, planned)
