"""Physical layouts and aliasing: where a tensor's bytes sit, and which nodes move none.

A tensor has a logical shape (ONNX's, e.g. NCHW) and a dim order (`Graph.dim_order`):
the logical axes in the order they sit in memory, outermost first. Reshape and
Transpose nodes whose input and output bytes are identical under their tensors' orders
are *aliases* (`is_alias`): they cost no copy, and the tensors they join form one
buffer (`alias_groups`). These are properties of a graph, so every stage (passes,
kernel selection, liveness, codegen) asks here instead of re-deriving them.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .graph import Graph, Node

Order = tuple[int, ...]

NHWC: Order = (0, 2, 3, 1)
CHW: Order = (0, 1, 2, 3)  # channel-major images: NCHW stored row-major


def row_major(rank: int) -> Order:
    return tuple(range(rank))


def stored_axes(shape: tuple[int, ...], order: Order) -> Order:
    """Axes in storage order, unit axes dropped: two orders with equal stored axes hold
    the same bytes in the same places."""
    return tuple(axis for axis in order if shape[axis] != 1)


def same_bytes(shape: tuple[int, ...], a: Order, b: Order) -> bool:
    return stored_axes(shape, a) == stored_axes(shape, b)


def is_row_major_bytes(shape: tuple[int, ...], order: Order) -> bool:
    return same_bytes(shape, order, row_major(len(shape)))


def transpose_alias_order(perm: Order, input_order: Order) -> Order:
    """The output order under which Transpose(perm) moves no byte.

    Output axis i is input axis perm[i]; storing the output axes so that they visit the
    input axes in the input's storage order keeps every byte in place.
    """
    inverse = [0] * len(perm)
    for i, axis in enumerate(perm):
        inverse[axis] = i
    return tuple(inverse[axis] for axis in input_order)


def storage_positions(shape: tuple[int, ...], order: Order) -> np.ndarray:
    """The logical row-major index of the element at each storage position."""
    return np.arange(int(np.prod(shape, dtype=np.int64))).reshape(shape).transpose(order).reshape(-1)


def non_unit(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(d for d in shape if d != 1)


def stored_ranks(shape: tuple[int, ...], order: Order) -> tuple[int, ...]:
    """Storage order of the non-unit axes, each named by its rank among the non-unit axes."""
    rank = {axis: k for k, axis in enumerate(a for a, d in enumerate(shape) if d != 1)}
    return tuple(rank[axis] for axis in stored_axes(shape, order))


def is_alias(node: Node, graph: Graph) -> bool:
    """True when the node's output holds exactly its input's bytes (no copy at run time)."""
    if node.kind not in ("Reshape", "Transpose"):
        return False
    x, y = graph.tensor(node.inputs[0]), graph.tensor(node.outputs[0])
    dx, dy = graph.dim_order(x.name), graph.dim_order(y.name)
    if node.kind == "Reshape":
        if non_unit(x.shape) == non_unit(y.shape):
            # Only unit axes come or go: non-unit axes pair up in order, so the bytes match
            # exactly when both tensors store those axes in the same order.
            return stored_ranks(x.shape, dx) == stored_ranks(y.shape, dy)
        if is_row_major_bytes(x.shape, dx) and is_row_major_bytes(y.shape, dy):
            return True
        # Axes merge or split and a side is not row-major: compare where each element sits.
        return bool(np.array_equal(storage_positions(x.shape, dx), storage_positions(y.shape, dy)))
    perm = node.attrs.perm or tuple(reversed(range(len(x.shape))))
    visited = tuple(perm[axis] for axis in dy)  # input axes in the output's storage order
    return stored_axes(x.shape, visited) == stored_axes(x.shape, dx)


def alias_groups(graph: Graph, schedule: Sequence[Node]) -> dict[str, str]:
    """tensor -> representative tensor of its alias group (union-find over alias nodes)."""
    parent: dict[str, str] = {t.name: t.name for t in graph.activations()}

    def find(name: str) -> str:
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    for node in schedule:
        if is_alias(node, graph):
            a, b = find(node.inputs[0]), find(node.outputs[0])
            if a != b:
                parent[b] = a  # the source stays the representative: groups are named by it
    return {name: find(name) for name in parent}


def is_layout(graph: Graph, name: str, order: Order) -> bool:
    """Is the 4-D tensor `name` stored in `order` (unit axes may sit anywhere)?"""
    shape = graph.tensor(name).shape
    return len(shape) == 4 and same_bytes(shape, graph.dim_order(name), order)
