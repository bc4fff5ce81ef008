"""The typed IR: tensors with quantization, nodes with frozen attributes, and the graph.

Shapes are *logical* shapes with ONNX semantics (NCHW for images). Where a tensor's
bytes actually sit (NHWC, CHW, row-major) is a separate decision of the layout pass,
recorded in `Graph.dim_orders`, so the frontend and the interpreter never think about it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Iterator, Mapping

import numpy as np

from .ops import TFLITE, OpAttrs


class DType(str, Enum):
    INT8 = "int8"
    INT32 = "int32"
    # Only at a graph edge of a uint8 model: the caller's uint8 bytes, turned into the int8
    # core's (zero point - 128, same real values) by one SignFlip node and back.
    UINT8 = "uint8"

    @property
    def itemsize(self) -> int:
        return {"int8": 1, "int32": 4, "uint8": 1}[self.value]

    @property
    def numpy(self) -> type:
        return {"int8": np.int8, "int32": np.int32, "uint8": np.uint8}[self.value]


@dataclass(frozen=True)
class QuantParams:
    """real = scale * (q - zero_point). Per tensor (axis None, one entry) or per channel."""

    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    axis: int | None = None

    def __post_init__(self) -> None:
        if len(self.scale) != len(self.zero_point):
            raise ValueError("scale and zero_point must have the same length")
        if self.axis is None and len(self.scale) != 1:
            raise ValueError("per-tensor quantization has exactly one scale")

    @staticmethod
    def per_tensor(scale: float, zero_point: int) -> "QuantParams":
        return QuantParams((float(np.float32(scale)),), (int(zero_point),))

    @property
    def is_per_tensor(self) -> bool:
        return self.axis is None

    @property
    def s(self) -> float:
        """The single scale of a per-tensor quantized tensor."""
        assert self.axis is None, "per-channel quantization has no single scale"
        return self.scale[0]

    @property
    def zp(self) -> int:
        assert self.axis is None, "per-channel quantization has no single zero point"
        return self.zero_point[0]


@dataclass(frozen=True, eq=False)
class Tensor:
    """A value in the graph. `data` is set for constants (weights, biases), None for activations."""

    name: str
    shape: tuple[int, ...]
    dtype: DType
    quant: QuantParams | None = None
    data: np.ndarray | None = field(default=None, repr=False)

    @property
    def is_constant(self) -> bool:
        return self.data is not None

    @property
    def size(self) -> int:
        return int(math.prod(self.shape))  # exact Python ints; 1 for a scalar

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize


@dataclass(frozen=True)
class Node:
    """One integer op. `inputs`/`outputs` are tensor names; "" marks an absent optional input."""

    name: str
    attrs: OpAttrs
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]

    @property
    def kind(self) -> str:
        return self.attrs.kind


@dataclass(frozen=True)
class BoundaryIO:
    """How a graph input/output looks to the caller.

    The int8 core always works on `tensor` (an int8 activation). When the ONNX model's
    input/output is float (onnxruntime's QDQ models), the caller-facing wrapper
    quantizes/dequantizes with `quant`; `onnx_dtype` records which of the two it is.
    A uint8 edge is a uint8 `tensor` (the caller's bytes, `quant` in uint8 terms) that one
    SignFlip node converts to or from the int8 core inside invoke.
    """

    onnx_name: str
    onnx_dtype: str  # "int8", "uint8" or "float32"
    shape: tuple[int, ...]
    tensor: str
    quant: QuantParams


@dataclass(frozen=True)
class Graph:
    name: str
    tensors: Mapping[str, Tensor]
    nodes: tuple[Node, ...]
    inputs: tuple[BoundaryIO, ...]
    outputs: tuple[BoundaryIO, ...]
    # Physical order of logical axes per activation tensor (e.g. (0, 2, 3, 1) = NHWC for an
    # NCHW-shaped tensor). Filled in by the layout pass; empty before it.
    dim_orders: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    # The caller needs the inputs intact after invoke (tinyc compile --preserve-input): the
    # plan then treats them like outputs, live to the last step and never written over.
    preserve_inputs: bool = False
    # Whose arithmetic the model follows, "tflite" or "onnx" (ops.SEMANTICS): chosen by the
    # frontend from the model's origin or forced by --semantics. Every node whose arithmetic
    # differs carries the same value in its attributes (ir/verify checks it).
    semantics: str = TFLITE

    def tensor(self, name: str) -> Tensor:
        return self.tensors[name]

    def producers(self) -> dict[str, Node]:
        return {out: node for node in self.nodes for out in node.outputs}

    def consumers(self) -> dict[str, list[Node]]:
        result: dict[str, list[Node]] = {name: [] for name in self.tensors}
        for node in self.nodes:
            for name in node.inputs:
                if name:
                    result[name].append(node)
        return result

    def activations(self) -> Iterator[Tensor]:
        return (t for t in self.tensors.values() if not t.is_constant)

    def constants(self) -> Iterator[Tensor]:
        return (t for t in self.tensors.values() if t.is_constant)

    def input_tensors(self) -> tuple[str, ...]:
        return tuple(io.tensor for io in self.inputs)

    def output_tensors(self) -> tuple[str, ...]:
        return tuple(io.tensor for io in self.outputs)

    def read_after_invoke(self) -> tuple[str, ...]:
        """Tensors the caller reads after invoke: the outputs, and the inputs when preserved."""
        return self.output_tensors() + (self.input_tensors() if self.preserve_inputs else ())

    def with_nodes(self, nodes: tuple[Node, ...], tensors: Mapping[str, Tensor] | None = None) -> "Graph":
        return replace(self, nodes=nodes, tensors=dict(tensors if tensors is not None else self.tensors))

    def dim_order(self, name: str) -> tuple[int, ...]:
        """Physical axis order of a tensor; row-major when the layout pass said nothing."""
        rank = len(self.tensors[name].shape)
        return tuple(self.dim_orders.get(name, tuple(range(rank))))
