"""Typed IR: Graph, Tensor, QuantParams, Node and the op attribute dataclasses."""

from .graph import BoundaryIO, DType, Graph, Node, QuantParams, Tensor
from . import ops

__all__ = ["BoundaryIO", "DType", "Graph", "Node", "QuantParams", "Tensor", "ops"]
