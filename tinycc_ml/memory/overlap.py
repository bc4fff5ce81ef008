"""In-place and overlapping buffers, stated as facts about the schedule.

For every op that reads an input buffer for the last time, the kernel's access pattern
(the model its variant record names, kernels/access.py, read off the C loop order) says
how far its output may reach into that input without a write landing on a byte the
kernel still has to read. That distance becomes an OverlapFact (memory/facts.py); the
planner may then place the two buffers sharing bytes, and the plan check accepts exactly
the placements the fact allows. Nothing here moves a buffer: the planner decides, these
are only the facts.

What comes out for the kernels tinyc has (d = min_distance, in bytes):
  * elementwise Add, Mul, Lut and softmax on same-layout operands: d = 0 (exact in place);
  * pointwise conv (tinyc_conv_s8) and FC, pixel by pixel: the output may start inside
    the input, (output - input + one pixel of input - 1) before it;
  * 3x3 and strided convs, depthwise in HWC and pooling: a row and a pixel or so;
  * the in-place variants: depthwise in CHW with its one-channel scratch (TinyEngine's),
    depthwise in HWC with a ring of input pixels, pointwise with a one-pixel copy: d = 0.
A fact is only stated when the input dies at that op (its whole alias group is read for
the last time there and is not a graph output) and some overlap is possible at all.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from ..ir.graph import Graph, Node
from ..ir.layout import alias_groups
from ..kernels.access import Traffic, min_distance
from ..kernels.call import KernelCall
from ..kernels.registry import variant
from ..kernels.traffic import node_traffic
from .facts import OverlapFact


def _reason(calls: Sequence[KernelCall], d: int) -> str:
    text = variant(calls[0].symbol).fact_reason(calls[0].params)
    return f"{text}: in place" if d == 0 else f"{text}: output may start {d} B before the input" if d > 0 else (
        f"{text}: output may start up to {-d} B after the input")


def last_reads(graph: Graph, schedule: Sequence[Node]) -> tuple[dict[str, str], dict[str, int]]:
    """(tensor -> alias group root, root -> last step reading the group); a group holding
    a graph output (or a preserved input) is read after the last step (len(schedule))."""
    groups = alias_groups(graph, schedule)
    last: dict[str, int] = {}
    for step, node in enumerate(schedule):
        for name in node.inputs:
            if name and name in groups:
                last[groups[name]] = step
    for name in graph.read_after_invoke():
        last[groups[name]] = len(schedule)
    return groups, last


def overlap_facts(graph: Graph, schedule: Sequence[Node],
                  calls: Mapping[str, Sequence[KernelCall]]) -> tuple[OverlapFact, ...]:
    """The overlap facts of `schedule` (the graph after the passes, in execution order),
    given every node's kernel calls."""
    groups, last = last_reads(graph, schedule)
    facts: list[OverlapFact] = []
    for step, node in enumerate(schedule):
        calls_of = calls.get(node.name, ())
        traffic = node_traffic(calls_of) if calls_of else None
        if traffic is None:
            continue
        facts.extend(_node_facts(graph, node, step, calls_of, traffic, groups, last))
    return tuple(facts)


def _node_facts(graph: Graph, node: Node, step: int, calls: Sequence[KernelCall], traffic: Traffic,
                groups: dict[str, str], last: dict[str, int]) -> list[OverlapFact]:
    out = traffic.output
    out_size = graph.tensor(out).nbytes
    facts = []
    for name in dict.fromkeys(n for n in node.inputs if n and not graph.tensor(n).is_constant):
        if name not in traffic.reads or groups[name] == groups[out] or last.get(groups[name]) != step:
            continue
        d = min_distance(traffic, name, graph.tensor(name).nbytes)
        if d >= out_size:
            continue  # only placements without any overlap are safe: nothing to state
        facts.append(OverlapFact(node.name, name, out, d, _reason(calls, d)))
    return facts
