"""The memory figures tinyc reports, defined once, and the fact pairs they are built on.

Steps are positions in the schedule (the emitted op order); a buffer is live at every
step from the one that writes it to the last one that reads it (memory/liveness.py).
Sizes are the requests' byte sizes; alignment padding is never counted in a bound.

layer-wise peak
    For the emitted order: max over steps of the bytes of all buffers live at that
    step, with no credit for overlap. What a planner without in-place facts can at
    best reach for this order (`layerwise_peak_bytes`).

best layer-wise bound
    min over all topological op orders of the layer-wise peak. passes/schedule.py
    computes it exactly (dynamic programming over sets of executed ops) when the
    graph is small enough and the time limit allows; otherwise it reports the best
    order found and says the figure is not proven minimal.

lower bound
    For the emitted order and the overlap facts, no plan the checker accepts can use
    fewer bytes (`lower_bound_bytes`). Derivation: at step t the arena holds the union
    of the live buffers' address ranges, and by inclusion-exclusion (Bonferroni)

        |union| >= sum of live sizes - sum over pairs of |intersection of the pair|.

    A checked plan lets two buffers intersect only when a fact covers that pair, so
    only fact pairs subtract. For a fact with input size si, output size so and
    min_distance d, write k = offset(input) - offset(output) >= d. The intersection is
    min(so - k, si) for k >= 0 and min(so, si + k) for k < 0, so its largest value is

        max_overlap = max(0, min(si, so - max(d, 0)))

    (k = max(d, 0)), i.e. the pair needs at least si + so - max_overlap =
    max(so, si + d) bytes when d >= 0, and max(si, so) when d <= 0. Hence

        lower bound = max over t of (live bytes at t - sum of max_overlap over the
                                     fact pairs live together at t).

    Without facts it equals the layer-wise peak. It ignores alignment, so an aligned
    arena may sit a few bytes above it even when optimal.

arena_bytes
    The exact length of the one generated `uint8_t` arena array: max over buffers of
    offset + size. It holds every activation, the model's input and output buffers
    (as TFLite Micro's planned region does) and kernel scratch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ..errors import PlanError
from .facts import OverlapFact
from .liveness import BufferRequest


@dataclass(frozen=True)
class FactPair:
    """The facts about one (input buffer, output buffer) pair, resolved to request indices."""

    input: int  # index into the requests
    output: int
    min_distance: int  # the most restrictive (largest) of the pair's facts: every one must hold
    facts: tuple[OverlapFact, ...]

    def allows(self, input_offset: int, output_offset: int) -> bool:
        return input_offset - output_offset >= self.min_distance

    def max_overlap(self, requests: Sequence[BufferRequest]) -> int:
        si, so = requests[self.input].size, requests[self.output].size
        return max(0, min(si, so - max(self.min_distance, 0)))


def resolve_facts(requests: Sequence[BufferRequest], facts: Sequence[OverlapFact]) -> tuple[FactPair, ...]:
    """Map each fact's tensors to their buffers and merge the facts of one pair.

    A fact must join two different buffers whose lifetimes meet in exactly the fact's
    steps (one for an op, which reads its input for the last time where it writes its
    output; a patch loop's body length for a stage); anything else is a compiler bug,
    raised as PlanError.

    Several facts can cover one pair (an op reading two tensors of one alias group, as
    Add(x, Reshape(x))): each states what is safe for the reads of ITS tensor, and all
    those reads happen, so the pair may overlap only where every fact allows it: the
    largest min_distance wins.
    """
    owner = {t: i for i, r in enumerate(requests) for t in r.tensors}
    merged: dict[tuple[int, int], list[OverlapFact]] = {}
    for fact in facts:
        for tensor in (fact.input, fact.output):
            if tensor not in owner:
                raise PlanError(f"overlap fact of node {fact.node}: tensor {tensor} has no buffer in the plan")
        i, o = owner[fact.input], owner[fact.output]
        if i == o:
            raise PlanError(f"overlap fact of node {fact.node}: {fact.input} and {fact.output} are one buffer")
        a, b = requests[i], requests[o]
        if a.last - b.first + 1 != fact.steps or a.first > b.first:
            where = "where" if fact.steps == 1 else f"{fact.steps} steps after"
            raise PlanError(
                f"overlap fact of node {fact.node}: input buffer {a.name} (steps {a.first}-{a.last}) must end "
                f"{where} output buffer {b.name} (steps {b.first}-{b.last}) begins"
            )
        merged.setdefault((i, o), []).append(fact)
    return tuple(
        FactPair(i, o, max(f.min_distance for f in group), tuple(group))
        for (i, o), group in sorted(merged.items())
    )


def live_bytes_per_step(requests: Sequence[BufferRequest]) -> tuple[int, ...]:
    """Bytes of all buffers live at each step (no overlap credit)."""
    if not requests:
        return ()
    steps = max(r.last for r in requests) + 1
    delta = [0] * (steps + 1)
    for r in requests:  # difference array: +size at first, -size after last
        delta[r.first] += r.size
        delta[r.last + 1] -= r.size
    live, running = [], 0
    for d in delta[:steps]:
        running += d
        live.append(running)
    return tuple(live)


def layerwise_peak_bytes(requests: Sequence[BufferRequest]) -> int:
    """Max over steps of the bytes of all buffers live at that step (see the module doc)."""
    return max(live_bytes_per_step(requests), default=0)


def lower_bound_per_step(requests: Sequence[BufferRequest], pairs: Sequence[FactPair]) -> tuple[int, ...]:
    live = list(live_bytes_per_step(requests))
    for pair in pairs:
        a, b = requests[pair.input], requests[pair.output]
        credit = pair.max_overlap(requests)
        for step in range(max(a.first, b.first), min(a.last, b.last) + 1):
            live[step] -= credit
    return tuple(live)


def lower_bound_bytes(requests: Sequence[BufferRequest], pairs: Sequence[FactPair] = ()) -> int:
    """No checked plan of these requests under these fact pairs is smaller (module doc)."""
    largest = max((r.size for r in requests), default=0)
    return max(max(lower_bound_per_step(requests, pairs), default=0), largest)
