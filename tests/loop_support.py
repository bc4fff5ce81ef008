"""Row bands and tiles by hand: a chain of NHWC convs (and pools) run region by region
as one LoopStep.

For each band of the chain's last output rows, walk the chain backwards: an op whose
output rows [o0, o1) are wanted reads input rows [o0*s - pad_top, (o1-1)*s - pad_top +
(k-1)*d + 1), clipped to the image; what the clip cuts off at the image border becomes
the region's pad, and nothing else does (inner band edges read real neighbouring rows).
"""

from __future__ import annotations

from dataclasses import replace

from tinycc_ml.ir import ops
from tinycc_ml.ir.graph import Graph, Node, Tensor
from tinycc_ml.kernels.registry import kernel_calls
from tinycc_ml.kernels.target import HOST_TARGET
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


# --- 2-D windows by hand: column bands and tiles over a larger buffer ---------------------

Span = tuple[int, int]


def _span_needed(node: Node, graph: Graph, out: Span, axis: int) -> tuple[Span, int, int]:
    """(clipped input span, pad before, pad after) along `axis` (2: rows, 3: columns) that
    produce output span `out` of a conv or pooling node."""
    attrs, a = node.attrs, axis - 2
    if isinstance(attrs, ops.Conv2d):
        k, s, d = graph.tensor(node.inputs[1]).shape[axis], attrs.strides[a], attrs.dilations[a]
    else:
        k, s, d = attrs.kernel[a], attrs.strides[a], 1
    size = graph.tensor(node.inputs[0]).shape[axis]
    lo, hi = out[0] * s - attrs.pads[a], (out[1] - 1) * s - attrs.pads[a] + (k - 1) * d + 1
    clipped = (max(lo, 0), min(hi, size))
    return clipped, clipped[0] - lo, min(hi - clipped[1], attrs.pads[2 + a])


def tile_iteration(graph: Graph, chain: list[Node], index: int, rows: Span, cols: Span) -> Iteration:
    """One tile of the chain's last output: the chain's input and output are read and
    written in place in their whole buffers (windows with the buffer's row stride); every
    tensor between two ops of the chain is scoped, packed at offset 0."""
    tensors: dict[str, Tensor] = {}
    regions: list[Region] = []
    nodes: list[Node] = []
    want = (rows, cols)
    resident = {chain[0].inputs[0], chain[-1].outputs[0]}

    def add_region(name: str, window: tuple[Span, Span]) -> str:
        source = graph.tensor(name)
        n, c, height, width = source.shape
        (r0, r1), (c0, c1) = window
        region = f"{name}@{index}"
        tensors[region] = Tensor(region, (n, c, r1 - r0, c1 - c0), source.dtype, source.quant)
        if name in resident:  # a window of the whole image: its rows are the image's rows apart
            regions.append(Region(region, name, (r0 * width + c0) * c, width * c))
        else:
            regions.append(Region(region, name, 0))
        return region

    y_region = add_region(chain[-1].outputs[0], want)
    for node in reversed(chain):
        (in_rows, top, bottom), (in_cols, left, right) = (_span_needed(node, graph, w, axis)
                                                         for w, axis in zip(want, (2, 3)))
        x_region = add_region(node.inputs[0], (in_rows, in_cols))
        nodes.insert(0, replace(node, attrs=replace(node.attrs, pads=(top, left, bottom, right)),
                                inputs=(x_region, *node.inputs[1:]), outputs=(y_region,)))
        want, y_region = (in_rows, in_cols), x_region
    for node in chain:
        for name in node.inputs[1:]:
            if name:
                tensors[name] = graph.tensor(name)
    dim_orders = {r.tensor: graph.dim_order(r.buffer) for r in regions}
    it_graph = replace(graph, nodes=tuple(nodes), tensors=tensors, dim_orders=dim_orders, inputs=(), outputs=())
    strides = {r.tensor: r.row_stride for r in regions if r.is_strided(tensors[r.tensor])}
    steps = tuple(NodeStep(n, tuple(kernel_calls(n, it_graph, HOST_TARGET, strides))) for n in nodes)
    return Iteration(it_graph, steps, tuple(regions))


def tiled_program(straight: Program, chain_names: list[str], tiles: list[tuple[Span, Span]],
                  planner: str = "greedy_by_size", name: str = "tiles0") -> Program:
    """`straight` with the consecutive nodes `chain_names` run as one loop over `tiles`
    ((rows, columns) of the chain's last output)."""
    graph = straight.graph
    chain = [next(n for n in graph.nodes if n.name == name) for name in chain_names]
    scoped = {n.outputs[0] for n in chain[:-1]}
    iterations = tuple(tile_iteration(graph, chain, i, rows, cols) for i, (rows, cols) in enumerate(tiles))
    loop = LoopStep(name, tuple(chain), iterations, tuple(sorted(scoped)))
    steps = []
    for step in straight.steps:
        if isinstance(step, NodeStep) and step.node.name in chain_names:
            if step.node.name == chain_names[0]:
                steps.append(loop)
            continue
        steps.append(step)
    memory = plan(step_requests(graph, steps), planner)
    return Program(graph, tuple(steps), memory, straight.scheduling)
