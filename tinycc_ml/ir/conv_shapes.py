"""Geometric predicates of convolutions that several stages ask (layout, kernel choice)."""

from __future__ import annotations

from . import ops
from .graph import Graph, Node


def is_pointwise(node: Node, graph: Graph) -> bool:
    """1x1, stride 1, unpadded, ungrouped: a per-pixel matrix product, any layout."""
    attrs: ops.Conv2d = node.attrs  # type: ignore[assignment]
    return (node.kind == "Conv2d" and graph.tensor(node.inputs[1]).shape[2:] == (1, 1) and attrs.groups == 1
            and attrs.strides == (1, 1) and attrs.pads == (0, 0, 0, 0))


def is_depthwise(node: Node, graph: Graph) -> bool:
    """groups == input channels (any depth multiplier)."""
    attrs: ops.Conv2d = node.attrs  # type: ignore[assignment]
    x, y = graph.tensor(node.inputs[0]), graph.tensor(node.outputs[0])
    return node.kind == "Conv2d" and attrs.groups == x.shape[1] and y.shape[1] % x.shape[1] == 0


def is_plain_depthwise(node: Node, graph: Graph) -> bool:
    """Depthwise with multiplier 1: what the in-place depthwise kernels run."""
    attrs: ops.Conv2d = node.attrs  # type: ignore[assignment]
    x, y = graph.tensor(node.inputs[0]), graph.tensor(node.outputs[0])
    return node.kind == "Conv2d" and len(x.shape) == 4 and attrs.groups == x.shape[1] == y.shape[1]
