"""MemoryPlan: where every buffer sits in the one arena, and the proof that it is sound.

A plan is checked when it is made (`MemoryPlan.check`): no two buffers that are live at
the same step may share a byte, every offset honours its alignment, and the arena
holds every buffer. A failure is a compiler bug, raised as PlanError before any C is
written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ..errors import PlanError
from .liveness import BufferRequest


@dataclass(frozen=True)
class MemoryPlan:
    requests: tuple[BufferRequest, ...]
    offsets: tuple[int, ...]  # parallel to requests
    arena_bytes: int
    planner: str

    def offset(self, buffer: str) -> int:
        for request, offset in zip(self.requests, self.offsets):
            if request.name == buffer:
                return offset
        raise KeyError(buffer)

    def tensor_offsets(self) -> dict[str, int]:
        return {t: off for r, off in zip(self.requests, self.offsets) for t in r.tensors}

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
                if b.size and a.overlaps_in_time(b):
                    raise PlanError(
                        f"plan '{self.planner}': buffers {a.name} [{a_off}, {a_off + a.size}) steps {a.first}-{a.last} "
                        f"and {b.name} [{b_off}, {b_off + b.size}) steps {b.first}-{b.last} overlap"
                    )

    def table(self) -> str:
        """The plan as text, one buffer a line by offset, for reports and debugging."""
        rows = [f"memory plan '{self.planner}': arena {self.arena_bytes:,} bytes",
                f"{'offset':>8} {'size':>8} {'end':>8} {'steps':>9}  buffer"]
        for i in sorted(range(len(self.requests)), key=lambda k: (self.offsets[k], self.requests[k].first)):
            r, off = self.requests[i], self.offsets[i]
            rows.append(f"{off:>8} {r.size:>8} {off + r.size:>8} {f'{r.first}-{r.last}':>9}  {r.name}")
        return "\n".join(rows) + "\n"


def layerwise_peak_bytes(requests: Sequence[BufferRequest]) -> int:
    """Max over steps of the bytes of all buffers live at that step (no packing can beat it)."""
    if not requests:
        return 0
    steps = max(r.last for r in requests) + 1
    live = [0] * (steps + 1)
    for r in requests:  # difference array: +size at first, -size after last
        live[r.first] += r.size
        live[r.last + 1] -= r.size
    peak = running = 0
    for delta in live[:steps]:
        running += delta
        peak = max(peak, running)
    return peak
