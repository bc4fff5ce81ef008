"""Single-op IR graphs built by hand, for the interpreter tests (no frontend needed)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from tinycc_ml.interp import run_core
from tinycc_ml.ir.graph import BoundaryIO, DType, Graph, Node, QuantParams, Tensor
from tinycc_ml.ir.ops import OpAttrs


def act(name: str, shape: Sequence[int], q: QuantParams) -> Tensor:
    return Tensor(name, tuple(shape), DType.INT8, q)


def const(name: str, data: np.ndarray, q: QuantParams | None = None) -> Tensor:
    dtype = DType.INT8 if data.dtype == np.int8 else DType.INT32
    return Tensor(name, tuple(data.shape), dtype, q, data)


def single_op(attrs: OpAttrs, inputs: Sequence[Tensor | None], output: Tensor) -> Graph:
    """A graph with one node; activations among `inputs` become graph inputs."""
    tensors = {t.name: t for t in [*inputs, output] if t is not None}
    node = Node("op", attrs, tuple(t.name if t is not None else "" for t in inputs), (output.name,))
    graph_inputs = tuple(
        BoundaryIO(t.name, "int8", t.shape, t.name, t.quant) for t in inputs if t is not None and not t.is_constant
    )
    return Graph("single_op", tensors, (node,), graph_inputs, (BoundaryIO(output.name, "int8", output.shape, output.name, output.quant),))


def run_single(attrs: OpAttrs, inputs: Sequence[Tensor | None], output: Tensor, values: dict[str, np.ndarray]) -> np.ndarray:
    return run_core(single_op(attrs, inputs, output), values)[output.name]


def random_int8(rng: np.random.Generator, shape: Sequence[int]) -> np.ndarray:
    return rng.integers(-128, 128, size=tuple(shape), dtype=np.int64).astype(np.int8)


def per_channel(scales: Sequence[float], axis: int = 0) -> QuantParams:
    return QuantParams(tuple(float(np.float32(s)) for s in scales), (0,) * len(scales), axis=axis)
