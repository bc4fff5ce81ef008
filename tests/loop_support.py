"""Row bands by hand: a chain of NHWC convs run band by band as one LoopStep.

For each band of the chain's last output rows, walk the chain backwards: an op whose
output rows [o0, o1) are wanted reads input rows [o0*s - pad_top, (o1-1)*s - pad_top +
(k-1)*d + 1), clipped to the image; what the clip cuts off at the image border becomes
the region's pad, and nothing else does (inner band edges read real neighbouring rows).
"""

from __future__ import annotations

from dataclasses import replace

from tinycc_ml.ir.graph import Graph, Node, Tensor
from tinycc_ml.kernels.registry import kernel_calls
from tinycc_ml.memory.liveness import step_requests
from tinycc_ml.memory.planners import plan
from tinycc_ml.program import Iteration, LoopStep, NodeStep, Program, Region


def _rows_needed(node: Node, graph: Graph, out_rows: tuple[int, int]) -> tuple[tuple[int, int], int, int]:
    """(clipped input rows, pad top, pad bottom) that produce `out_rows` of the output."""
    attrs = node.attrs
    k = graph.tensor(node.inputs[1]).shape[2]
    s, d, pad_top = attrs.strides[0], attrs.dilations[0], attrs.pads[0]
    in_h = graph.tensor(node.inputs[0]).shape[2]
    lo, hi = out_rows[0] * s - pad_top, (out_rows[1] - 1) * s - pad_top + (k - 1) * d + 1
    clipped = (max(lo, 0), min(hi, in_h))
    return clipped, clipped[0] - lo, hi - clipped[1]


def _row_bytes(graph: Graph, name: str) -> int:
    _, c, _, w = graph.tensor(name).shape
    return c * w  # NHWC: one row of the image


def band_iteration(graph: Graph, chain: list[Node], rows: tuple[int, int], scoped: set[str]) -> Iteration:
    tensors: dict[str, Tensor] = {}
    regions: list[Region] = []
    nodes: list[Node] = []
    want = rows
    out_name = chain[-1].outputs[0]
    out_region = f"{out_name}@{rows[0]}"
    for node in reversed(chain):
        (in_rows, pad_top, pad_bottom) = _rows_needed(node, graph, want)
        x, y = node.inputs[0], node.outputs[0]
        x_region = f"{x}@{rows[0]}"
        y_region = out_region if node is chain[-1] else f"{y}@{rows[0]}"
        for name, region, span in ((x, x_region, in_rows), (y, y_region, want)):
            source = graph.tensor(name)
            n, c, _, w = source.shape
            tensors[region] = Tensor(region, (n, c, span[1] - span[0], w), source.dtype, source.quant)
            offset = 0 if name in scoped else span[0] * _row_bytes(graph, name)
            if region not in {r.tensor for r in regions}:
                regions.append(Region(region, name, offset))
        pads = (pad_top, node.attrs.pads[1], pad_bottom, node.attrs.pads[3])
        nodes.insert(0, replace(node, attrs=replace(node.attrs, pads=pads), inputs=(x_region, *node.inputs[1:]),
                                outputs=(y_region,)))
        want = in_rows
    for node in chain:
        for name in node.inputs[1:]:
            if name:
                tensors[name] = graph.tensor(name)
    dim_orders = {t: graph.dim_order(r.buffer) for r in regions for t in (r.tensor,)}
    it_graph = replace(graph, nodes=tuple(nodes), tensors=tensors, dim_orders=dim_orders, inputs=(), outputs=())
    steps = tuple(NodeStep(n, tuple(kernel_calls(n, it_graph))) for n in nodes)
    return Iteration(it_graph, steps, tuple(regions))


def banded_program(straight: Program, chain_names: list[str], bands: list[tuple[int, int]],
                   planner: str = "greedy_by_size") -> Program:
    """`straight` with the consecutive nodes `chain_names` run as one loop over `bands`."""
    graph = straight.graph
    chain = [next(n for n in graph.nodes if n.name == name) for name in chain_names]
    scoped = {n.outputs[0] for n in chain[:-1]}
    loop = LoopStep("loop0", tuple(chain), tuple(band_iteration(graph, chain, b, scoped) for b in bands),
                    tuple(sorted(scoped)))
    steps = []
    for step in straight.steps:
        if isinstance(step, NodeStep) and step.node.name in chain_names:
            if step.node.name == chain_names[0]:
                steps.append(loop)
            continue
        steps.append(step)
    memory = plan(step_requests(graph, steps), planner)
    return Program(graph, tuple(steps), memory, straight.scheduling)
