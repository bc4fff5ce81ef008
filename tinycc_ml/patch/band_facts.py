"""Overlap facts inside a patch stage's band: the per-band buffers are a small program
of their own, with the same in-place and overlap facts as the layer-by-layer one.

A body op that reads a band buffer (scoped to the loop) for the last time in the band
and writes another band buffer may write over it as its kernel's access model allows
(kernels/access.py, the model memory/overlap.py states the layer-by-layer facts with).
Each band runs the op on its own regions: the input region sits r_in bytes into its
buffer, the output region r_out bytes into its own, and the kernel, called with that
band's shapes and pads, is safe when offset(in region) - offset(out region) >= d_band.
In buffer offsets that is offset(in) - offset(out) >= d_band - r_in + r_out; one
placement serves every band, so the fact states the largest of these. Resident tensors
(the stage inputs, K) get no in-band fact: their lifetimes span the loop (resident.py
states the one between K and a dying stage input).
"""

from __future__ import annotations

from ..kernels.access import min_distance
from ..kernels.registry import variant
from ..kernels.traffic import node_traffic
from ..memory.facts import OverlapFact
from ..steps import LoopStep


# (node, attrs, region shapes, kernel symbols) -> the kernel's min_distance per activation
# input (None: no access model): bands of one shape and pads share one model, and so do the
# candidates of one search, which passes the same dict to every loop it builds (the
# symbols: two stages may run one node's band on different variants, e.g. int16 weights).
Models = dict[tuple, "dict[int, int] | None"]


def band_facts(loop: LoopStep, scoped_sizes: dict[str, int], models: Models | None = None) -> tuple[OverlapFact, ...]:
    """The in-band facts of `loop`; `scoped_sizes`: band buffer -> its planned size."""
    models = {} if models is None else models
    facts = []
    scoped = set(loop.scoped)
    for j, node in enumerate(loop.nodes):
        out = node.outputs[0]
        if out not in scoped:
            continue
        read_later = {n for later in loop.nodes[j + 1:] for n in later.inputs}
        for buffer in dict.fromkeys(n for n in node.inputs if n in scoped and n not in read_later and n != out):
            distance = _distance(loop, j, buffer, models)
            if distance is None or distance >= scoped_sizes[out]:
                continue
            symbol = loop.iterations[0].steps[j].calls[0]
            text = variant(symbol.symbol).fact_reason(symbol.params)
            facts.append(OverlapFact(node.name, buffer, out, distance, f"{text}, band by band: output may start "
                                     f"{distance} B before the input" if distance > 0 else f"{text}, band by band"))
    return tuple(facts)


def _distance(loop: LoopStep, j: int, buffer: str, per_shape: Models) -> int | None:
    """The largest over bands of d_band - r_in + r_out (module doc); None without a model."""
    worst = None
    for it in loop.iterations:
        body = it.steps[j]
        names = [n for n in body.node.inputs if n and not it.graph.tensor(n).is_constant]
        key = (loop.nodes[j].name, body.node.attrs, tuple(it.graph.tensor(n).shape for n in (*names, body.node.outputs[0])),
               tuple(c.symbol for c in body.calls))
        if key not in per_shape:
            traffic = node_traffic(body.calls) if body.calls else None
            per_shape[key] = None if traffic is None else {
                i: min_distance(traffic, name, it.graph.tensor(name).nbytes) for i, name in enumerate(names)}
        distances = per_shape[key]
        if distances is None:
            return None
        out = it.region(body.node.outputs[0])
        for i, name in enumerate(names):
            if it.region(name).buffer == buffer:
                d = distances[i] - it.region(name).offset + out.offset
                worst = d if worst is None else max(worst, d)
    return worst
