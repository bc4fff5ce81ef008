"""The in-place pass: which convs run an in-place variant, decided by planning the
arena both ways (the overlap facts these variants allow are memory/overlap.py's)."""

from __future__ import annotations

from dataclasses import replace

from ..ir.conv_shapes import is_pointwise
from ..ir.graph import Graph
from ..ir.layout import NHWC, same_bytes
from ..kernels.conv import in_place_capable
from .context import PassContext


def in_place_candidates(graph: Graph) -> list[str]:
    """NHWC convs with an in-place variant whose input has no other reader (only those can
    gain): depthwise (multiplier 1, stride 1, same size; a ring of input pixels) and
    pointwise with out_c <= in_c (a one-pixel copy; with more output channels it saves less
    than the copy costs)."""
    readers = graph.consumers()
    found = []
    for node in graph.nodes:
        if node.kind != "Conv2d" or not in_place_capable(node, graph):
            continue
        if is_pointwise(node, graph) and graph.tensor(node.outputs[0]).shape[1] > graph.tensor(node.inputs[0]).shape[1]:
            continue
        x, y = node.inputs[0], node.outputs[0]
        if not all(same_bytes(graph.tensor(t).shape, graph.dim_order(t), NHWC) for t in (x, y)):
            continue
        if len(readers[x]) == 1 and x not in graph.read_after_invoke():
            found.append(node.name)
    return found


def with_in_place(graph: Graph, names: set[str]) -> Graph:
    """The graph with exactly the convs in `names` marked in_place."""
    nodes = []
    for node in graph.nodes:
        if node.kind == "Conv2d" and node.attrs.in_place != (node.name in names):  # type: ignore[attr-defined]
            node = replace(node, attrs=replace(node.attrs, in_place=node.name in names))
        nodes.append(node)
    return graph.with_nodes(tuple(nodes))


def choose_in_place(graph: Graph, context: PassContext) -> Graph:
    """Mark the convs that run in place (depthwise through a ring of input pixels,
    pointwise through a one-pixel copy, so the output may sit exactly on the input),
    where that makes the plan smaller.

    In place removes the drift a chain of overlapping layers accumulates (each streaming
    layer's output must start a little before its input, e.g. a row and a pixel for a 3x3
    depthwise conv, Cout - 1 bytes for a pointwise one), but costs its scratch (a row of
    pixels for the ring) at that step. Which wins depends on the whole plan, so the plan
    decides (`context.arena_bytes`): all candidates in place or none, whichever plans
    smaller; if all won, each candidate is then flipped back once, kept where the arena
    shrinks strictly. (When none wins, the peak is elsewhere and single flips are not
    tried: that keeps the pass at two plans for such models.)
    """
    candidates = in_place_candidates(graph)
    if not candidates:
        return graph
    best = context.arena_bytes(graph)
    size = context.arena_bytes(with_in_place(graph, set(candidates)))
    if size >= best:
        return graph
    chosen, best = set(candidates), size
    for name in candidates:
        trial = chosen ^ {name}
        if (size := context.arena_bytes(with_in_place(graph, trial))) < best:
            chosen, best = trial, size
    return with_in_place(graph, chosen)
