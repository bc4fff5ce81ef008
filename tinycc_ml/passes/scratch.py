"""The scratch pass: which convs forgo a variant's kernel scratch, decided by planning.

On DSP cores a regular conv runs tinyc_conv_im2col_s8, which expands two output pixels'
windows to int16 in a scratch of 4 * K4 bytes; the next record, tinyc_conv_im2col8_s8,
needs half (int8 columns, a little slower); tinyc_conv_s8 none (kernels/conv.py). A
scratch is live only at its conv's step, but where that step is the arena's peak (resnet8's
3x3 convs of the first block: the residual, the input and the output overlapping it) it
grows the arena. Speed must not cost SRAM: the pass marks such convs `avoid_variants`, so
the registry picks the next record down the list, the first whose scratch fits.
"""

from __future__ import annotations

from dataclasses import replace

from ..ir.graph import Graph, Node
from ..kernels.registry import select
from .context import PassContext


def _avoiding(node: Node, avoid: tuple[str, ...]) -> Node:
    return replace(node, attrs=replace(node.attrs, avoid_variants=avoid))


def scratch_ladder(node: Node, graph: Graph, context: PassContext) -> list[tuple[str, ...]]:
    """The avoid lists that walk a conv down its variants while they need scratch: [(),
    (first,), (first, second), ...], the last one choosing a scratch-free variant. [] when
    the conv has no scratch, or no scratch-free variant to fall back to."""
    ladder: list[tuple[str, ...]] = [()]
    while True:
        chosen = select(_avoiding(node, ladder[-1]), graph, context.target)
        if not chosen.has_scratch:
            return ladder if len(ladder) > 1 else []
        ladder.append(ladder[-1] + (chosen.symbol,))
        try:
            select(_avoiding(node, ladder[-1]), graph, context.target)
        except Exception:  # nothing below: the conv keeps its scratch
            return []


def with_avoided(graph: Graph, avoid: dict[str, tuple[str, ...]]) -> Graph:
    """The graph with each conv in `avoid` avoiding exactly those variants."""
    nodes = tuple(_avoiding(node, avoid[node.name]) if node.name in avoid else node for node in graph.nodes)
    return graph.with_nodes(nodes)


def choose_scratch(graph: Graph, context: PassContext) -> Graph:
    """Keep every scratch that leaves the arena at its scratch-free size.

    With every candidate on its scratch-free variant the arena is the floor. If the graph as
    it is plans no larger, nothing changes (one more plan). Otherwise each candidate, in
    graph order, takes the first rung of its ladder (most scratch, fastest first) whose plan
    stays at the floor.
    """
    if not context.target.dsp:
        return graph  # the host's kernels have no scratch variants to weigh
    ladders = {n.name: ladder for n in graph.nodes
               if n.kind == "Conv2d" and not n.attrs.in_place  # type: ignore[attr-defined]
               and (ladder := scratch_ladder(n, graph, context))}
    if not ladders:
        return graph
    chosen = {name: ladder[-1] for name, ladder in ladders.items()}
    floor = context.arena_bytes(with_avoided(graph, chosen))
    if context.arena_bytes(graph) <= floor:
        return graph
    for name, ladder in ladders.items():
        for rung in ladder[:-1]:
            trial = {**chosen, name: rung}
            if context.arena_bytes(with_avoided(graph, trial)) <= floor:
                chosen = trial
                break
    return with_avoided(graph, chosen)
