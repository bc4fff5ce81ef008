"""In-place and overlapping buffers, stated as facts about the schedule.

For every op that reads an input buffer for the last time, the kernel's access pattern
(tinycc_ml/kernels/access.py, read off the C loop order) says how far its output may
reach into that input without a write landing on a byte the kernel still has to read.
That distance becomes an OverlapFact (memory/facts.py); the planner may then place the
two buffers sharing bytes, and the plan check accepts exactly the placements the fact
allows. Nothing here moves a buffer: the planner decides, these are only the facts.

What comes out for the kernels tinyc has (d = min_distance, in bytes):
  * elementwise Add, Mul, Lut and softmax on same-layout operands: d = 0 (exact in place);
  * pointwise conv (tinyc_conv_s8) and FC, pixel by pixel: the output may start inside
    the input, (output - input + one pixel of input - 1) before it;
  * 3x3 and strided convs, depthwise in HWC and pooling: a row and a pixel or so;
  * the in-place variants: depthwise in CHW with its one-channel scratch (TinyEngine's),
    depthwise in HWC with a ring of input pixels, pointwise with a one-pixel copy: d = 0.
A fact is only stated when the input dies at that op (its whole alias group is read for
the last time there and is not a graph output) and some overlap is possible at all.

The second half is the "inplace" pass (choose_in_place): which convs run an in-place
variant is decided by planning the arena both ways (estimate_arena).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Mapping, Sequence

from ..ir.graph import Graph, Node
from ..kernels.access import Traffic, min_distance, node_traffic
from ..kernels.call import KernelCall
from ..memory.facts import OverlapFact
from .layout import is_alias

REASONS = {
    "tinyc_add_s8": "elementwise add",
    "tinyc_mul_s8": "elementwise mul",
    "tinyc_lut_s8": "elementwise table lookup",
    "tinyc_softmax_s8": "softmax, row by row",
    "tinyc_fully_connected_s8": "fully connected, row by row",
    "tinyc_avgpool_s8": "average pooling, window by window",
    "tinyc_maxpool_s8": "max pooling, window by window",
    "tinyc_depthwise_conv_s8": "depthwise conv (HWC), pixel by pixel",
    "tinyc_depthwise_conv_chw_inplace_s8": "depthwise conv (CHW), channel by channel via a one-channel scratch",
    "tinyc_depthwise_conv_inplace_s8": "depthwise conv (HWC), in place through a ring of input pixels",
    "tinyc_pointwise_conv_inplace_s8": "pointwise conv, pixel by pixel through a one-pixel scratch",
    "tinyc_pointwise_conv_chw_s8": "pointwise conv (CHW to CHW), pixel by pixel",
    "tinyc_pointwise_conv_chw_hwc_s8": "pointwise conv (CHW to HWC), pixel by pixel",
    "tinyc_pointwise_conv_hwc_chw_s8": "pointwise conv (HWC to CHW), pixel by pixel",
    "tinyc_transpose_s8": "strided copy, element by element",
}


def _reason(calls: Sequence[KernelCall], d: int) -> str:
    symbol = calls[0].symbol
    if symbol == "tinyc_conv_s8":
        p = calls[0].params
        what = "pointwise conv" if p["kernel_h"] == p["kernel_w"] == 1 else "conv"
        text = f"{what}, pixel by pixel"
    else:
        text = REASONS.get(symbol, symbol)
    return f"{text}: in place" if d == 0 else f"{text}: output may start {d} B before the input" if d > 0 else (
        f"{text}: output may start up to {-d} B after the input")


def last_reads(graph: Graph, schedule: Sequence[Node]) -> tuple[dict[str, str], dict[str, int]]:
    """(tensor -> alias group root, root -> last step reading the group); a group holding
    a graph output is read after the last step (len(schedule))."""
    from ..memory.liveness import alias_groups  # noqa: PLC0415 (memory imports passes)

    groups = alias_groups(graph, schedule)
    last: dict[str, int] = {}
    for step, node in enumerate(schedule):
        for name in node.inputs:
            if name and name in groups:
                last[groups[name]] = step
    for name in graph.output_tensors():
        last[groups[name]] = len(schedule)
    return groups, last


def node_calls_for(node: Node, graph: Graph) -> tuple[KernelCall, ...]:
    from ..kernels.registry import kernel_calls  # noqa: PLC0415

    return () if is_alias(node, graph) else tuple(kernel_calls(node, graph))


def overlap_facts(graph: Graph, schedule: Sequence[Node],
                  calls: Mapping[str, Sequence[KernelCall]] | None = None) -> tuple[OverlapFact, ...]:
    """The overlap facts of `schedule` (the graph after the passes, in execution order);
    `calls` are the nodes' kernel calls when the caller has them already."""
    groups, last = last_reads(graph, schedule)
    facts: list[OverlapFact] = []
    for step, node in enumerate(schedule):
        calls_of = calls.get(node.name) if calls is not None else None
        calls_of = node_calls_for(node, graph) if calls_of is None else calls_of
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


# --- choosing the in-place variants -----------------------------------------------------

ESTIMATE_SCHEDULE_SECONDS = 0.5  # the op-order search per estimate (chains finish at once)


def estimate_arena(graph: Graph) -> int:
    """The arena the compiler would plan for this graph as it stands: its kernel calls, the
    best op order, these facts, the default planner (the steps of compiler.lower)."""
    from ..memory.liveness import buffer_requests  # noqa: PLC0415 (memory imports passes)
    from ..memory.planners import DEFAULT_PLANNER, plan  # noqa: PLC0415
    from .schedule import schedule, scratch_bytes  # noqa: PLC0415

    calls = {node.name: node_calls_for(node, graph) for node in graph.nodes}
    order = schedule(graph, scratch_bytes(calls), ESTIMATE_SCHEDULE_SECONDS).order
    facts = overlap_facts(graph, order, calls)
    return plan(buffer_requests(graph, order, calls), DEFAULT_PLANNER, facts).arena_bytes


def in_place_candidates(graph: Graph) -> list[str]:
    """NHWC convs with an in-place variant whose input has no other reader (only those can
    gain): depthwise (multiplier 1, stride 1, same size; a ring of input pixels) and
    pointwise with out_c <= in_c (a one-pixel copy; with more output channels it saves less
    than the copy costs)."""
    from ..kernels.registry import NHWC, in_place_capable, is_pointwise  # noqa: PLC0415
    from ..kernels.physical import same_layout  # noqa: PLC0415

    readers = graph.consumers()
    found = []
    for node in graph.nodes:
        if node.kind != "Conv2d" or not in_place_capable(node, graph):
            continue
        if is_pointwise(node, graph) and graph.tensor(node.outputs[0]).shape[1] > graph.tensor(node.inputs[0]).shape[1]:
            continue
        x, y = node.inputs[0], node.outputs[0]
        if not all(same_layout(graph.tensor(t).shape, graph.dim_order(t), NHWC) for t in (x, y)):
            continue
        if len(readers[x]) == 1 and x not in graph.output_tensors():
            found.append(node.name)
    return found


def with_in_place(graph: Graph, names: set[str]) -> Graph:
    """The graph with exactly the depthwise convs in `names` marked in_place."""
    nodes = []
    for node in graph.nodes:
        if node.kind == "Conv2d" and node.attrs.in_place != (node.name in names):  # type: ignore[attr-defined]
            node = replace(node, attrs=replace(node.attrs, in_place=node.name in names))
        nodes.append(node)
    return graph.with_nodes(tuple(nodes))


def choose_in_place(graph: Graph) -> Graph:
    """The in-place pass: mark the convs that run in place (depthwise through a ring of input
    pixels, pointwise through a one-pixel copy, so the output may sit exactly on the input),
    where that makes the plan smaller.

    In place removes the drift a chain of overlapping layers accumulates (each streaming
    layer's output must start a little before its input, e.g. a row and a pixel for a 3x3
    depthwise conv, Cout - 1 bytes for a pointwise one), but costs its scratch (a row of
    pixels for the ring) at that step. Which wins depends on
    the whole plan, so the plan decides: all candidates in place or none, whichever plans
    smaller; if all won, each candidate is then flipped back once, kept where the arena
    shrinks strictly. (When none wins, the peak is elsewhere and single flips are not
    tried: that keeps the pass at two plans for such models.)
    """
    candidates = in_place_candidates(graph)
    if not candidates:
        return graph
    best = estimate_arena(graph)
    size = estimate_arena(with_in_place(graph, set(candidates)))
    if size >= best:
        return graph
    chosen, best = set(candidates), size
    for name in candidates:
        trial = chosen ^ {name}
        if (size := estimate_arena(with_in_place(graph, trial))) < best:
            chosen, best = trial, size
    return with_in_place(graph, chosen)
