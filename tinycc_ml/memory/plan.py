"""MemoryPlan: where every buffer sits in the one arena, and the proof that it is sound.

A Placement is offsets for buffer requests, nothing more; `Placement.check` is the proof:
every offset honours its alignment, the arena holds every buffer, and no two buffers
that are live at the same step share a byte, unless an overlap fact (memory/facts.py)
covers exactly that (input, output) pair and allows the placement (offset(input) -
offset(output) >= min_distance).

A MemoryPlan is a Placement that passed the check: the check runs when one is made
(`__post_init__`, so `dataclasses.replace` re-checks too), and there is no other way to
get one. A failure is a compiler bug, raised as PlanError before any C is written.
`check_plan` proves a plan once more, for codegen to call on the plan it is handed.
A bare Placement exists for the one job that needs placements a check refuses: running
them (interp/planned.py) to show what an unsound plan would do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ..errors import PlanError
from .bounds import (FactPair, layerwise_peak_bytes, live_bytes_per_step, lower_bound_bytes,
                     resolve_facts)
from .facts import OverlapFact
from .liveness import BufferRequest


@dataclass(frozen=True)
class Placement:
    """Offsets for buffer requests, not (yet) proven sound: see MemoryPlan."""

    requests: tuple[BufferRequest, ...]
    offsets: tuple[int, ...]  # parallel to requests
    arena_bytes: int
    planner: str
    facts: tuple[OverlapFact, ...] = ()  # the overlap facts the planner was given

    def offset(self, buffer: str) -> int:
        for request, offset in zip(self.requests, self.offsets):
            if request.name == buffer:
                return offset
        raise KeyError(buffer)

    def tensor_offsets(self) -> dict[str, int]:
        return {t: off for r, off in zip(self.requests, self.offsets) for t in r.tensors}

    def pairs(self) -> tuple[FactPair, ...]:
        return resolve_facts(self.requests, self.facts)

    def overlapping(self) -> tuple[FactPair, ...]:
        """The fact pairs this plan actually places sharing bytes (the facts it uses)."""
        used = []
        for pair in self.pairs():
            a, b = self.requests[pair.input], self.requests[pair.output]
            oa, ob = self.offsets[pair.input], self.offsets[pair.output]
            if a.size and b.size and oa < ob + b.size and ob < oa + a.size:
                used.append(pair)
        return tuple(used)

    def used_facts(self) -> tuple[OverlapFact, ...]:
        return tuple(f for pair in self.overlapping() for f in pair.facts)

    def layerwise_peak_bytes(self) -> int:
        return layerwise_peak_bytes(self.requests)

    def lower_bound_bytes(self) -> int:
        return lower_bound_bytes(self.requests, self.pairs())

    def live_bytes_per_step(self) -> tuple[int, ...]:
        return live_bytes_per_step(self.requests)

    def check(self) -> None:
        if len(self.offsets) != len(self.requests):
            raise PlanError(f"plan '{self.planner}' has {len(self.offsets)} offsets for {len(self.requests)} buffers")
        for r, off in zip(self.requests, self.offsets):
            if off < 0 or off % r.alignment:
                raise PlanError(f"plan '{self.planner}': buffer {r.name} at offset {off} breaks its {r.alignment}-byte alignment")
            if off + r.size > self.arena_bytes:
                raise PlanError(
                    f"plan '{self.planner}': buffer {r.name} [{off}, {off + r.size}) ends past the arena of {self.arena_bytes} bytes"
                )
        allowed = {(p.input, p.output): p for p in self.pairs()}
        # Sweep by offset: only buffers whose address ranges meet can collide.
        order = sorted(range(len(self.requests)), key=lambda i: self.offsets[i])
        for pos, i in enumerate(order):
            a, a_off = self.requests[i], self.offsets[i]
            if a.size == 0:
                continue
            for j in order[pos + 1:]:
                b, b_off = self.requests[j], self.offsets[j]
                if b_off >= a_off + a.size:
                    break
                if not b.size or not a.overlaps_in_time(b) or self._fact_allows(allowed, i, j):
                    continue
                pair = allowed.get((i, j)) or allowed.get((j, i))
                why = "" if pair is None else (
                    f" (their fact needs offset({self.requests[pair.input].name}) - "
                    f"offset({self.requests[pair.output].name}) >= {pair.min_distance})")
                raise PlanError(
                    f"plan '{self.planner}': buffers {a.name} [{a_off}, {a_off + a.size}) steps {a.first}-{a.last} "
                    f"and {b.name} [{b_off}, {b_off + b.size}) steps {b.first}-{b.last} overlap{why}"
                )

    def _fact_allows(self, allowed: dict[tuple[int, int], FactPair], i: int, j: int) -> bool:
        for key in ((i, j), (j, i)):
            pair = allowed.get(key)
            if pair is not None and pair.allows(self.offsets[pair.input], self.offsets[pair.output]):
                return True
        return False

    def table(self) -> str:
        """The plan as text, one buffer a line by offset, for reports and debugging."""
        rows = [f"memory plan '{self.planner}': arena {self.arena_bytes:,} bytes",
                f"{'offset':>8} {'size':>8} {'end':>8} {'steps':>9}  buffer"]
        for i in sorted(range(len(self.requests)), key=lambda k: (self.offsets[k], self.requests[k].first)):
            r, off = self.requests[i], self.offsets[i]
            rows.append(f"{off:>8} {r.size:>8} {off + r.size:>8} {f'{r.first}-{r.last}':>9}  {r.name}")
        return "\n".join(rows) + "\n"


@dataclass(frozen=True)
class MemoryPlan(Placement):
    """A Placement that passed `check` when it was made."""

    def __post_init__(self) -> None:
        self.check()


def check_plan(plan: object) -> MemoryPlan:
    """Prove `plan` once more (codegen calls this before it prints an offset): it must be a
    MemoryPlan, and it must still pass the overlap check. Returns it for chaining."""
    if not isinstance(plan, MemoryPlan):
        raise PlanError(f"codegen needs a checked MemoryPlan, got {type(plan).__name__}")
    plan.check()
    return plan


def make_plan(requests: Sequence[BufferRequest], offsets: Sequence[int], planner: str,
              facts: Sequence[OverlapFact] = ()) -> MemoryPlan:
    """A checked plan: the arena is exactly as long as its highest buffer end."""
    requests = tuple(requests)
    offsets = tuple(int(o) for o in offsets)
    arena = max((off + r.size for r, off in zip(requests, offsets)), default=0)
    return MemoryPlan(requests, offsets, arena, planner, tuple(facts))  # checks itself


__all__ = ["MemoryPlan", "Placement", "check_plan", "layerwise_peak_bytes", "make_plan"]
