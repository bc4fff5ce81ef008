"""Memory planners: buffer requests (+ overlap facts) -> offsets in one arena, by name.

Every planner has one signature, `(requests, pairs) -> offsets`, where `pairs` are the
overlap facts resolved to buffers (bounds.resolve_facts), and is deterministic: ties
are broken by request order and the one randomised planner uses a fixed seed and a
fixed number of steps. Every plan is checked (plan.MemoryPlan.check) before it is
returned, so a planner bug is a PlanError, never wrong C.

All planners share one placement rule, first fit: given an order of the buffers, put
each at the lowest offset (aligned as the buffer asks) where it shares no byte with an
already placed buffer whose lifetime meets its own, except where a fact allows the
pair to overlap at that offset. They differ in the order:

greedy_by_size       largest first (TFLite Micro's GreedyMemoryPlanner): large
                     buffers are the hard ones to fit, small ones fill the gaps.
greedy_by_breadth    first the buffers live at the busiest steps (the step's total
                     live bytes), then by size: the peak steps decide the arena.
greedy_by_conflicts  by the bytes a buffer conflicts with (its size plus its time
                     neighbours'), as TVM's greedy_by_conflicts.
hill_climb           local search over orders, starting from the best of the above
                     and of two "backwards" orders (latest buffers first, one-step
                     scratch buffers last): move one buffer to another place in the
                     order (seeded random choice), keep the move unless the arena
                     grows. Facts make the greedy orders fragile: a chain of pairs
                     whose outputs may start d bytes below their inputs packs as a
                     staircase only when each output is placed before its input,
                     which the backwards orders do and the search repairs.
best (the default)   run every planner above and keep the smallest arena; ties go to
                     the earlier planner in PLANNERS.
"""

from __future__ import annotations

import random
from typing import Callable, Sequence

from ..errors import TinycError
from .bounds import FactPair, live_bytes_per_step, lower_bound_bytes, resolve_facts
from .facts import OverlapFact
from .liveness import BufferRequest
from .plan import MemoryPlan, make_plan

Planner = Callable[[Sequence[BufferRequest], Sequence[FactPair]], tuple[int, ...]]

HILL_CLIMB_SEED = 0
HILL_CLIMB_WORK = 150_000  # placements + neighbour checks per run: well under a second
HILL_CLIMB_PATIENCE = 40  # stop after this many moves per buffer without a smaller arena


def _align_up(value: int, alignment: int) -> int:
    return -(-value // alignment) * alignment


class _FirstFit:
    """First-fit placement in a given order, honouring time conflicts and fact pairs."""

    def __init__(self, requests: Sequence[BufferRequest], pairs: Sequence[FactPair]):
        self.requests = tuple(requests)
        n = len(self.requests)
        self.neighbours: list[list[int]] = [[] for _ in range(n)]
        for i, a in enumerate(self.requests):
            for j in range(i + 1, n):
                b = self.requests[j]
                if a.size and b.size and a.overlaps_in_time(b):
                    self.neighbours[i].append(j)
                    self.neighbours[j].append(i)
        self.distance: dict[tuple[int, int], int] = {(p.input, p.output): p.min_distance for p in pairs}

    def offset_for(self, i: int, offsets: Sequence[int | None]) -> int:
        """Lowest aligned offset for buffer i given the placed buffers (offset not None)."""
        r = self.requests[i]
        forbidden = []  # open intervals (lo, hi) of start offsets that would collide
        for j in self.neighbours[i]:
            oj = offsets[j]
            if oj is None:
                continue
            lo, hi = oj - r.size, oj + self.requests[j].size
            d = self.distance.get((j, i))  # j is the input, i the output: oj - x >= d is fine
            if d is not None:
                lo = max(lo, oj - d)
            d = self.distance.get((i, j))  # i is the input, j the output: x - oj >= d is fine
            if d is not None:
                hi = min(hi, oj + d)
            if lo < hi:
                forbidden.append((lo, hi))
        forbidden.sort()
        x = 0
        for lo, hi in forbidden:
            if lo >= x:
                break  # sorted by lo: no later interval contains x either
            if hi > x:
                x = _align_up(hi, r.alignment)
        return x

    def place(self, order: Sequence[int]) -> list[int]:
        offsets: list[int | None] = [None] * len(self.requests)
        for i in order:
            offsets[i] = self.offset_for(i, offsets)
        return offsets  # type: ignore[return-value]

    def arena(self, offsets: Sequence[int]) -> int:
        return max((o + r.size for o, r in zip(offsets, self.requests)), default=0)


def _breadth(requests: Sequence[BufferRequest]) -> list[int]:
    live = live_bytes_per_step(requests)
    return [max(live[r.first:r.last + 1], default=0) for r in requests]


def _order_by_size(requests: Sequence[BufferRequest], fit: _FirstFit) -> list[int]:
    return sorted(range(len(requests)), key=lambda k: (-requests[k].size, requests[k].first, k))


def _order_by_breadth(requests: Sequence[BufferRequest], fit: _FirstFit) -> list[int]:
    breadth = _breadth(requests)
    return sorted(range(len(requests)), key=lambda k: (-breadth[k], -requests[k].size, requests[k].first, k))


def _order_by_conflicts(requests: Sequence[BufferRequest], fit: _FirstFit) -> list[int]:
    weight = [r.size + sum(requests[j].size for j in fit.neighbours[k]) for k, r in enumerate(requests)]
    return sorted(range(len(requests)), key=lambda k: (-weight[k], -requests[k].size, requests[k].first, k))


def _order_backwards(requests: Sequence[BufferRequest], fit: _FirstFit) -> list[int]:
    """Latest buffers first: an output placed before its input lets the input settle just
    above it, so a chain of facts whose outputs must sit below their inputs becomes a
    staircase instead of two ping-pong halves."""
    return sorted(range(len(requests)), key=lambda k: (-requests[k].last, -requests[k].first, -requests[k].size, k))


def _order_backwards_brief_last(requests: Sequence[BufferRequest], fit: _FirstFit) -> list[int]:
    """As _order_backwards, but one-step buffers (kernel scratch) after all others: they
    fill the gaps the staircase leaves instead of breaking it."""
    return sorted(range(len(requests)), key=lambda k: (requests[k].first == requests[k].last, -requests[k].last,
                                                        -requests[k].first, -requests[k].size, k))


def _greedy(order_of: Callable[[Sequence[BufferRequest], _FirstFit], list[int]]) -> Planner:
    def planner(requests: Sequence[BufferRequest], pairs: Sequence[FactPair] = ()) -> tuple[int, ...]:
        fit = _FirstFit(requests, pairs)
        return tuple(fit.place(order_of(requests, fit)))
    return planner


greedy_by_size = _greedy(_order_by_size)
greedy_by_breadth = _greedy(_order_by_breadth)
greedy_by_conflicts = _greedy(_order_by_conflicts)


def hill_climb(requests: Sequence[BufferRequest], pairs: Sequence[FactPair] = ()) -> tuple[int, ...]:
    requests = tuple(requests)
    n = len(requests)
    fit = _FirstFit(requests, pairs)
    starts = [order(requests, fit) for order in (_order_by_size, _order_by_breadth, _order_by_conflicts,
                                                 _order_backwards, _order_backwards_brief_last)]
    placed = [fit.place(order) for order in starts]
    arenas = [fit.arena(offsets) for offsets in placed]
    k = arenas.index(min(arenas))
    order, offsets, arena = starts[k], placed[k], arenas[k]
    if n < 2:
        return tuple(offsets)
    floor = lower_bound_bytes(requests, pairs)
    rng = random.Random(HILL_CLIMB_SEED)
    work_per_step = max(1, sum(len(nb) for nb in fit.neighbours) // 2 + n)
    stall = 0
    for _ in range(max(50, HILL_CLIMB_WORK // work_per_step)):
        if arena <= floor or stall > HILL_CLIMB_PATIENCE * n:
            break  # nothing can be smaller, or nothing got smaller for long
        src, dst = rng.randrange(n), rng.randrange(n)
        if src == dst:
            continue
        trial = order[:]
        trial.insert(dst, trial.pop(src))
        start = min(src, dst)
        new = offsets[:]
        for i in trial[start:]:
            new[i] = None  # type: ignore[call-overload]
        for i in trial[start:]:
            new[i] = fit.offset_for(i, new)
        size = fit.arena(new)
        stall = 0 if size < arena else stall + 1
        if size <= arena:  # equal moves too: they walk along plateaus
            order, offsets, arena = trial, new, size
    return tuple(offsets)


PLANNERS: dict[str, Planner] = {
    "greedy_by_size": greedy_by_size,
    "greedy_by_breadth": greedy_by_breadth,
    "greedy_by_conflicts": greedy_by_conflicts,
    "hill_climb": hill_climb,
}
BEST = "best"
DEFAULT_PLANNER = BEST
PLANNER_NAMES: tuple[str, ...] = (*PLANNERS, BEST)


def plan(requests: Sequence[BufferRequest], name: str = DEFAULT_PLANNER,
         facts: Sequence[OverlapFact] = ()) -> MemoryPlan:
    """A checked plan by the planner `name` ("best": the smallest of all, named by the winner)."""
    if name not in PLANNER_NAMES:
        raise TinycError(f"unknown planner '{name}'; planners: {', '.join(PLANNER_NAMES)}")
    requests, facts = tuple(requests), tuple(facts)
    pairs = resolve_facts(requests, facts)
    names = tuple(PLANNERS) if name == BEST else (name,)
    plans = [make_plan(requests, PLANNERS[n](requests, pairs), n, facts) for n in names]
    return min(plans, key=lambda p: p.arena_bytes)  # min keeps the first of equals
