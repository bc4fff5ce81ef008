"""Overlap facts: what the schedule states about buffers that may share bytes.

In-place and overlapping execution are decisions of the compiler's passes, made from
each kernel's actual loop order, and handed to the planner as facts; the planner never
invents an overlap, and the plan check accepts an overlap only when a fact covers it.

A fact says: op `node` reads `input` for the last time and writes `output`, and it is
safe for the two buffers to overlap in memory as long as

    offset(input) - offset(output) >= min_distance

because the kernel's write frontier then never passes its read frontier. min_distance
may be negative (output may start after the input starts, over input bytes already
consumed) or zero (exact in-place, e.g. elementwise ops). Placements that do not
overlap at all are always allowed, fact or not.

An op reads and writes in one step. A patch stage (patch/resident.py) reads its input
and writes its output K over the whole loop, `steps` body steps: its fact spans them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OverlapFact:
    node: str
    input: str  # tensor name (its buffer: the alias group containing it)
    output: str  # tensor name
    min_distance: int  # bytes: offset(input) - offset(output) >= min_distance is safe
    reason: str  # e.g. "elementwise in place", "pointwise conv, pixel by pixel"
    steps: int = 1  # the steps where the last reads of input and the writes of output interleave

    def allows(self, input_offset: int, output_offset: int) -> bool:
        return input_offset - output_offset >= self.min_distance
