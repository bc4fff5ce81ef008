"""Memory planners: buffer requests -> offsets in one arena, chosen by name.

Every planner has the same signature and is deterministic (ties broken by request
order), and every plan is checked for overlaps before it is returned.

greedy_by_size (TFLite Micro's GreedyMemoryPlanner idea): take buffers largest first;
put each at the lowest aligned offset where it does not overlap, in address, any
already placed buffer whose lifetime overlaps its own. Large buffers are the hard
ones to fit, so placing them first leaves the small ones to fill the gaps.
"""

from __future__ import annotations

from typing import Callable, Sequence

from ..errors import TinycError
from .liveness import BufferRequest
from .plan import MemoryPlan

Planner = Callable[[Sequence[BufferRequest]], tuple[int, ...]]


def _align_up(value: int, alignment: int) -> int:
    return -(-value // alignment) * alignment


def greedy_by_size(requests: Sequence[BufferRequest]) -> tuple[int, ...]:
    offsets: list[int | None] = [None] * len(requests)
    placed: list[int] = []
    for i in sorted(range(len(requests)), key=lambda k: (-requests[k].size, requests[k].first, k)):
        r = requests[i]
        conflicts = sorted(
            (offsets[j], requests[j].size) for j in placed
            if requests[j].size and requests[j].overlaps_in_time(r)
        )
        candidate = 0
        for off, size in conflicts:
            if off >= candidate + r.size:
                break  # the gap before this buffer is large enough
            candidate = max(candidate, _align_up(off + size, r.alignment))
        offsets[i] = candidate
        placed.append(i)
    return tuple(int(o) for o in offsets)  # type: ignore[arg-type]


PLANNERS: dict[str, Planner] = {
    "greedy_by_size": greedy_by_size,
}


def plan(requests: Sequence[BufferRequest], name: str = "greedy_by_size") -> MemoryPlan:
    if name not in PLANNERS:
        raise TinycError(f"unknown planner '{name}'; planners: {', '.join(PLANNERS)}")
    requests = tuple(requests)
    offsets = PLANNERS[name](requests)
    arena = max((off + r.size for r, off in zip(requests, offsets)), default=0)
    result = MemoryPlan(requests, offsets, arena, name)
    result.check()
    return result
