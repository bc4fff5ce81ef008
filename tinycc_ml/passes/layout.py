"""The layout pass: decide where every activation tensor's bytes sit (Graph.dim_orders).

Logical shapes stay ONNX's (NCHW); this pass only says in which physical order the
axes are stored. The kernels want images NHWC, so every 4-D tensor a spatial op
(Conv2d, pooling, 4-D Pad) reads or writes is NHWC, i.e. order (0, 2, 3, 1). The
graph's input and output stay row-major, as the caller lays them out. Elementwise
ops keep their inputs' order. Where a consumer needs another order than its producer
gives, the pass inserts an explicit Transpose node (identity logical perm, a physical
copy between two orders), so later stages never meet an implicit layout change.

Depthwise convs may instead run channel-major (CHW), in place, where that makes the memory
plan smaller (see "channel-major islands" below; tinyc_depthwise_conv_chw_inplace_s8).

Reshape and Transpose nodes whose input and output bytes are identical under the
chosen orders are *aliases* (`is_alias`): they cost no copy and share one buffer.
The pass picks orders to make them so where it can: tf2onnx's NHWC image input
followed by Transpose(0, 3, 1, 2) is already NHWC bytes, and a Reshape between
tensors whose non-unit axes are stored in logical order moves no byte.
"""

from __future__ import annotations

from dataclasses import replace

from ..ir import ops
from ..ir.conv_shapes import is_plain_depthwise, is_pointwise
from ..ir.graph import Graph, Node, Tensor
from ..ir.layout import (CHW, NHWC, Order, is_alias, is_row_major_bytes, non_unit, row_major, same_bytes,
                         stored_ranks, transpose_alias_order)
from .context import PassContext

SPATIAL_KINDS = ("Conv2d", "AveragePool2d", "MaxPool2d")
ELEMENTWISE_KINDS = ("Add", "Mul", "Lut", "Concat", "SignFlip")

__all__ = ["CHW", "NHWC", "chw_islands", "is_alias", "is_spatial", "layout", "transpose_alias_order"]


def is_spatial(node: Node, graph: Graph) -> bool:
    if node.kind in SPATIAL_KINDS:
        return True
    return node.kind == "Pad" and len(graph.tensor(node.inputs[0]).shape) == 4


def layout(graph: Graph, context: PassContext) -> Graph:
    """NHWC everywhere a kernel wants it; channel-major islands where the plan gets smaller
    (each island tried is planned by `context.arena_bytes`)."""
    base = _Layout(graph).run()
    islands = [i for i in chw_islands(graph) if _touches_copy(base, i)]
    if not islands:
        return base
    best, size, chosen = base, context.arena_bytes(base), frozenset()
    for island in islands:
        trial = _Layout(graph, chosen | island).run()
        if (trial_size := context.arena_bytes(trial)) < size:
            best, size, chosen = trial, trial_size, chosen | island
    return best


# --- channel-major (CHW) islands ------------------------------------------------------------
#
# A plain depthwise conv (multiplier 1) can run on channel-major images, in place, one
# channel at a time (tinyc_depthwise_conv_chw_inplace_s8), and the pointwise convs next to it
# can read or write CHW (tinyc_pointwise_conv_*_s8), as can elementwise ops, Reshape and the
# caller (an NCHW graph input or output is CHW bytes). An island is a set of 4-D tensors
# that must share one order (a depthwise conv's input and output, an elementwise op's
# operands and result) and holds a depthwise input. CHW costs what it saves elsewhere:
# the pointwise convs around a CHW tensor lose their pixel-by-pixel overlap (a pixel's
# channels are a plane apart), so it pays only where it removes layout copies, e.g. an
# NCHW model's input or output next to a depthwise conv. Only islands next to a copy of
# the all-NHWC layout are tried, each kept if the planned arena shrinks.


def _chw_linked(node: Node, graph: Graph) -> list[str]:
    """The activations of `node` that must share one order if it runs channel-major."""
    acts = [n for n in (*node.inputs, *node.outputs) if n and not graph.tensor(n).is_constant]
    if node.kind == "Conv2d" and is_plain_depthwise(node, graph):
        return [node.inputs[0], node.outputs[0]]
    if node.kind in ("Add", "Mul", "Lut") and all(len(graph.tensor(a).shape) == 4 for a in acts) and \
            len({graph.tensor(a).shape for a in acts}) == 1:
        return acts
    return []


def chw_islands(graph: Graph) -> list[frozenset[str]]:
    """Groups of 4-D tensors that would turn channel-major together, each holding the input
    of a plain depthwise conv, in graph order."""
    parent: dict[str, str] = {}

    def find(t: str) -> str:
        parent.setdefault(t, t)
        while parent[t] != t:
            t = parent[t]
        return t

    for node in graph.nodes:
        linked = _chw_linked(node, graph)
        for t in linked[1:]:
            a, b = find(linked[0]), find(t)
            if a != b:
                parent[b] = a
    seeds = [n.inputs[0] for n in graph.nodes if n.kind == "Conv2d" and is_plain_depthwise(n, graph)]
    islands: dict[str, set[str]] = {}
    for t in list(parent):
        islands.setdefault(find(t), set()).add(t)
    boundary = set(graph.input_tensors()) | set(graph.output_tensors())
    ordered = []
    for seed in seeds:
        island = set(islands[find(seed)])
        # A pointwise conv at the island's edge reads or writes CHW as well, so an NCHW
        # graph input or output on its other side joins for free (no copy either way).
        for node in graph.nodes:
            if node.kind == "Conv2d" and is_pointwise(node, graph):
                x, y = node.inputs[0], node.outputs[0]
                if x in island and y in boundary and len(graph.tensor(y).shape) == 4:
                    island.add(y)
                if y in island and x in boundary and len(graph.tensor(x).shape) == 4:
                    island.add(x)
        if frozenset(island) not in ordered:
            ordered.append(frozenset(island))
    return ordered


def _touches_copy(laid_out: Graph, island: frozenset[str]) -> bool:
    """Does the all-NHWC layout copy one of these tensors into another order?"""
    for node in laid_out.nodes:
        if node.name.startswith("layout:") and (node.inputs[0] in island or node.outputs[0] in island
                                                or node.outputs[0].split("__")[0] in island):
            return True
    return False


class _Layout:
    """One walk over the nodes in order; the state lives only for the call."""

    def __init__(self, graph: Graph, chw: frozenset[str] = frozenset()):
        self.graph = graph
        self.chw = chw  # tensors stored channel-major (row-major NCHW)
        self.tensors: dict[str, Tensor] = dict(graph.tensors)
        self.orders: dict[str, Order] = {}
        self.nodes: list[Node] = []
        self.copies: dict[tuple[str, Order], str] = {}  # (tensor, order) -> converted tensor
        self.graph_outputs = set(graph.output_tensors())
        self.spatial_reads = {
            node.inputs[0] for node in graph.nodes if is_spatial(node, graph) and node.inputs
        }

    def run(self) -> Graph:
        for name in self.graph.input_tensors():
            self.orders[name] = row_major(len(self.tensors[name].shape))
        for node in self.graph.nodes:
            self._place(node)
        activations = {n for n, t in self.tensors.items() if not t.is_constant}
        dim_orders = {n: o for n, o in self.orders.items() if n in activations}
        return replace(self.graph, nodes=tuple(self.nodes), tensors=self.tensors, dim_orders=dim_orders)

    # -- decisions -------------------------------------------------------------------------

    def _demanded(self, name: str) -> Order | None:
        """The order a tensor's consumers want it in, if they agree on one."""
        rank = len(self.tensors[name].shape)
        if name in self.graph_outputs or name in self.chw:
            return row_major(rank)
        if rank == 4 and name in self.spatial_reads:
            return NHWC
        return None

    def _plan(self, node: Node) -> tuple[list[Order | None], Order]:
        """Per input: the order it must be in (None: any). And the output's order."""
        acts = [name for name in node.inputs if name and not self.tensors[name].is_constant]
        out = self.tensors[node.outputs[0]]
        rank = len(out.shape)
        if is_spatial(node, self.graph):
            return self._plan_spatial(node)
        if node.kind == "Transpose":
            perm = node.attrs.perm or tuple(reversed(range(rank)))
            natural = transpose_alias_order(perm, self.orders[node.inputs[0]])
            demanded = self._demanded(out.name)
            if demanded is not None and not same_bytes(out.shape, natural, demanded):
                natural = demanded  # it copies anyway: write what the consumer wants
            return [None], natural
        if node.kind == "Reshape":
            source = self.tensors[node.inputs[0]]
            demanded = self._demanded(out.name)
            if non_unit(source.shape) == non_unit(out.shape):
                # Only unit axes come or go: any input order works; store the output's
                # non-unit axes as the input stores them (an alias), preferring an order
                # the consumers want, then row-major, when it is one of those.
                ranks = stored_ranks(source.shape, self.orders[source.name])
                for candidate in (demanded, row_major(rank)):
                    if candidate is not None and stored_ranks(out.shape, candidate) == ranks:
                        return [None] * len(node.inputs), candidate
                non_unit_axes = [a for a, d in enumerate(out.shape) if d != 1]
                units = tuple(a for a, d in enumerate(out.shape) if d == 1)
                return [None] * len(node.inputs), units + tuple(non_unit_axes[r] for r in ranks)
            natural = row_major(rank)
            if demanded is not None and is_row_major_bytes(out.shape, demanded):
                natural = demanded
            return [row_major(len(source.shape))] + [None] * (len(node.inputs) - 1), natural
        if node.kind == "SignFlip":
            # A uint8 edge touches the caller's row-major bytes: any layout copy happens on
            # the int8 side, never on the uint8 tensor.
            return [row_major(rank)], row_major(rank)
        if node.kind in ELEMENTWISE_KINDS and acts:
            first = self.orders[acts[0]]
            if all(len(self.tensors[a].shape) == rank for a in acts):
                return [first if name in acts else None for name in node.inputs], first
        # FullyConnected, Softmax (over the last axis) and anything unknown: row-major.
        return [
            row_major(len(self.tensors[name].shape)) if name in acts else None for name in node.inputs
        ], row_major(rank)

    def _plan_spatial(self, node: Node) -> tuple[list[Order | None], Order]:
        """NHWC, except the conv variants that read or write channel-major islands."""
        x, y = node.inputs[0], node.outputs[0]
        rest: list[Order | None] = [None] * (len(node.inputs) - 1)
        if node.kind == "Conv2d" and x in self.chw and is_plain_depthwise(node, self.graph):
            return [CHW, *rest], CHW
        if node.kind == "Conv2d" and (x in self.chw or y in self.chw) and is_pointwise(node, self.graph):
            return [CHW if x in self.chw else NHWC, *rest], CHW if y in self.chw else NHWC
        return [NHWC, *rest], NHWC

    # -- rewriting -------------------------------------------------------------------------

    def _place(self, node: Node) -> None:
        wanted, out_order = self._plan(node)
        inputs = tuple(
            self._in_order(name, order) if order is not None else name
            for name, order in zip(node.inputs, wanted)
        )
        outputs = []
        pending: list[Node] = []
        for name in node.outputs:
            shape = self.tensors[name].shape
            if name in self.graph_outputs and not is_row_major_bytes(shape, out_order):
                # The caller reads the output row-major: write a temporary, then copy.
                temp = self._new_tensor(name, out_order)
                self.orders[name] = row_major(len(shape))
                self.copies[(name, out_order)] = temp  # later readers wanting out_order read temp
                pending.append(self._copy_node(temp, name))
                outputs.append(temp)
            else:
                self.orders[name] = out_order
                outputs.append(name)
        self.nodes.append(replace(node, inputs=inputs, outputs=tuple(outputs)))
        self.nodes.extend(pending)

    def _in_order(self, name: str, order: Order) -> str:
        if not name or self.tensors[name].is_constant:
            return name
        if same_bytes(self.tensors[name].shape, self.orders[name], order):
            return name
        key = (name, order)
        if key not in self.copies:
            converted = self._new_tensor(name, order)
            self.nodes.append(self._copy_node(name, converted))
            self.copies[key] = converted
        return self.copies[key]

    def _new_tensor(self, base: str, order: Order) -> str:
        tag = "nhwc" if order == NHWC else "rowmajor" if order == row_major(len(order)) else "order" + "".join(map(str, order))
        name = f"{base}__{tag}"
        k = 1
        while name in self.tensors:
            k += 1
            name = f"{base}__{tag}{k}"
        source = self.tensors[base]
        self.tensors[name] = Tensor(name, source.shape, source.dtype, source.quant)
        self.orders[name] = order
        return name

    def _copy_node(self, source: str, dest: str) -> Node:
        rank = len(self.tensors[source].shape)
        return Node(f"layout:{dest}", ops.Transpose(perm=row_major(rank)), (source,), (dest,))
