"""The stage output K over the stage input's dead rows: an overlap fact between two
resident tensors of a patch stage (issue 9, point 7; MCUNetV2 keeps both whole).

Bands run top to bottom, and within a band the ops run in order, K's producer last.
Band b writes K's bytes up to k1_b (offsets into K's buffer). It must not overwrite an
input byte that is still to be read: by a later band (lo_b' is the lowest input byte
band b' reads, halo included), or by K's producer itself in band b if it reads the
input (lo'_b; the ops before it have read theirs already). So the writes are safe when

    offset(K) + k1_b <= offset(input) + min(lo'_b, min over b' > b of lo_b')

for every band, i.e. offset(input) - offset(K) >= max over b of (k1_b - that minimum):
the fact's min_distance, read off the very regions the loop runs. Too small a distance
puts some band's K bytes over input rows a later band reads, which the plan-aware
interpreter (it runs the bands in order on one arena) shows as a wrong output. A stage
input read after the loop (or by the caller after invoke) is not dead: no fact.
"""

from __future__ import annotations

from typing import Sequence

from ..ir.graph import Graph
from ..ir.layout import alias_groups
from ..memory.facts import OverlapFact
from ..steps import Iteration, LoopStep, NodeStep, Step


def _lowest_read(iteration: Iteration, buffer: str, nodes: slice = slice(None)) -> int | None:
    """The lowest byte of `buffer` the iteration's nodes (a slice of its body) read."""
    regions = {r.tensor: r for r in iteration.regions if r.buffer == buffer}
    reads = [regions[n].offset for step in iteration.steps[nodes] for n in step.node.inputs if n in regions]
    return min(reads, default=None)


def _written_end(iteration: Iteration, buffer: str) -> int:
    return max(r.offset + iteration.graph.tensor(r.tensor).nbytes for r in iteration.regions if r.buffer == buffer)


def resident_distance(loop: LoopStep, stage_input: str, split: str, input_bytes: int) -> int:
    """The least offset(stage_input) - offset(split) at which no band writes K over an
    input byte still to be read (module doc)."""
    distance, later = None, None  # later: the lowest byte the bands after b read
    for it in reversed(loop.iterations):
        own = _lowest_read(it, stage_input, slice(-1, None))  # K's producer reads while it writes
        pending = [lo for lo in (own, later) if lo is not None]
        if pending:
            need = _written_end(it, split) - min(pending)
            distance = need if distance is None else max(distance, need)
        band = _lowest_read(it, stage_input)
        if band is not None:
            later = band if later is None else min(later, band)
    # No band reads after another one writes (one band): every overlap is safe.
    return distance if distance is not None else -input_bytes


def resident_facts(graph: Graph, steps: Sequence[Step], loop: LoopStep, inputs: Sequence[str],
                   split: str) -> tuple[OverlapFact, ...]:
    """The facts letting K share bytes with each stage input that dies at the loop."""
    nodes = [n for step in steps for n in ((step.node,) if isinstance(step, NodeStep) else step.nodes)]
    groups = alias_groups(graph, nodes)
    after = steps[list(steps).index(loop) + 1:]
    read_later = {groups[name] for name in graph.read_after_invoke()}
    for step in after:
        for node in (step.node,) if isinstance(step, NodeStep) else step.nodes:
            read_later.update(groups[n] for n in node.inputs if n in groups)
    k_bytes = graph.tensor(split).nbytes
    facts = []
    for name in inputs:
        if groups[name] in read_later or groups[name] == groups[split]:
            continue
        d = resident_distance(loop, name, split, graph.tensor(name).nbytes)
        if d >= k_bytes:
            continue  # K would have to start past the input's rows it overwrites: no overlap is safe
        where = f"{d} B before" if d >= 0 else f"up to {-d} B after"
        facts.append(OverlapFact(loop.name, name, split, d,
                                 f"patch stage, bands top to bottom: {split} may start {where} {name}, "
                                 "over rows no later band reads", steps=loop.body_length))
    return tuple(facts)
