"""The scratch pass: which convs forgo a variant's kernel scratch, decided by planning.

On DSP cores a regular conv runs tinyc_conv_im2col_s8, which expands two output pixels'
windows into a scratch of 4 * K4 bytes (kernels/conv.py). That scratch is live only at the
conv's step, but where the step is the arena's peak (resnet8's second 3x3 conv of a block:
the residual, its input and its overlapping output), it grows the arena. Speed must not
cost SRAM, so such convs are marked `scratch_free` and run tinyc_conv_s8 instead.
"""

from __future__ import annotations

from dataclasses import replace

from ..ir.graph import Graph
from ..kernels.registry import select
from .context import PassContext


def scratch_candidates(graph: Graph, context: PassContext) -> list[str]:
    """Convs whose variant on the target has scratch and which have a scratch-free one."""
    found = []
    for node in graph.nodes:
        if node.kind != "Conv2d" or node.attrs.in_place:  # type: ignore[attr-defined]
            continue
        chosen = select(node, graph, context.target)
        if not chosen.has_scratch:
            continue
        free = replace(node, attrs=replace(node.attrs, scratch_free=True))
        if not select(free, graph, context.target).has_scratch:
            found.append(node.name)
    return found


def with_scratch_free(graph: Graph, names: set[str]) -> Graph:
    """The graph with exactly the convs in `names` marked scratch_free."""
    nodes = []
    for node in graph.nodes:
        if node.kind == "Conv2d" and node.attrs.scratch_free != (node.name in names):  # type: ignore[attr-defined]
            node = replace(node, attrs=replace(node.attrs, scratch_free=node.name in names))
        nodes.append(node)
    return graph.with_nodes(tuple(nodes))


def choose_scratch_free(graph: Graph, context: PassContext) -> Graph:
    """Keep every scratch whose conv's plan is no larger than with none at all.

    With every candidate scratch-free the arena is the one the scratch-free kernels give
    (the floor). If all scratches together fit under it, keep them all (one more plan);
    otherwise give each candidate its scratch back one at a time, in schedule order, and
    keep it where the arena stays at the floor.
    """
    candidates = scratch_candidates(graph, context)
    if not candidates:
        return graph
    everything = set(candidates)
    floor = context.arena_bytes(with_scratch_free(graph, everything))
    if context.arena_bytes(graph) <= floor:
        return graph
    free = set(everything)
    for name in candidates:
        trial = free - {name}
        if context.arena_bytes(with_scratch_free(graph, trial)) <= floor:
            free = trial
    return with_scratch_free(graph, free)
