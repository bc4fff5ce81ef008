"""Execute a Graph with NumPy: the reference semantics every other backend must match."""

from __future__ import annotations

from typing import Mapping

import numpy as np

from ..errors import TinycError
from ..ir.graph import BoundaryIO, Graph
from ..quant.qdq import dequantize_f32, quantize_f32
from .registry import Operand, implementation


def run_core(graph: Graph, int8_inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run the int8 core on inputs keyed by tensor name; returns every activation by name
    (graph inputs included), each with its IR shape and dtype (int8; uint8 at a uint8 edge)."""
    values: dict[str, np.ndarray] = {}
    for name in graph.input_tensors():
        if name not in int8_inputs:
            raise TinycError(f"no value given for graph input tensor {name!r}")
        values[name] = _checked_input(graph, name, int8_inputs[name])

    for node in graph.nodes:
        operands: list[Operand | None] = []
        for name in node.inputs:
            if not name:
                operands.append(None)
                continue
            tensor = graph.tensor(name)
            if tensor.is_constant:
                operands.append(Operand(tensor, tensor.data))
            elif name in values:
                operands.append(Operand(tensor, values[name]))
            else:
                raise TinycError(f"node {node.name} reads {name!r} before any node writes it")
        (out_name,) = node.outputs
        out_tensor = graph.tensor(out_name)
        result = implementation(node.kind)(node.attrs, operands, out_tensor)
        if result.shape != tuple(out_tensor.shape) or result.dtype != out_tensor.dtype.numpy:
            raise AssertionError(
                f"interpreter bug: node {node.name} ({node.kind}) produced {result.dtype}{list(result.shape)}, "
                f"IR says {out_tensor.dtype.value}{list(out_tensor.shape)}"
            )
        values[out_name] = result
    return values


def run_graph(graph: Graph, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run the model as its ONNX caller sees it: inputs/outputs keyed by ONNX name, in the
    ONNX dtype and shape (float32 boundaries quantized/dequantized as ONNX does)."""
    core_inputs: dict[str, np.ndarray] = {}
    for io in graph.inputs:
        if io.onnx_name not in inputs:
            raise TinycError(f"no value given for model input {io.onnx_name!r}")
        core_inputs[io.tensor] = _to_core(graph, io, inputs[io.onnx_name])
    values = run_core(graph, core_inputs)
    return {io.onnx_name: _from_core(io, values[io.tensor]) for io in graph.outputs}


def _to_core(graph: Graph, io: BoundaryIO, value: np.ndarray) -> np.ndarray:
    value = np.asarray(value)
    if tuple(value.shape) != tuple(io.shape):
        raise TinycError(f"model input {io.onnx_name!r} has shape {list(value.shape)}, expected {list(io.shape)}")
    if io.onnx_dtype == "float32":
        if value.dtype != np.float32:
            raise TinycError(f"model input {io.onnx_name!r} must be float32, got {value.dtype}")
        value = quantize_f32(value, io.quant)
    elif value.dtype != np.dtype(io.onnx_dtype):
        raise TinycError(f"model input {io.onnx_name!r} must be {io.onnx_dtype}, got {value.dtype}")
    return value.reshape(graph.tensor(io.tensor).shape)


def _from_core(io: BoundaryIO, value: np.ndarray) -> np.ndarray:
    value = value.reshape(io.shape)
    if io.onnx_dtype == "float32":
        return dequantize_f32(value, io.quant)
    return value.copy()


def _checked_input(graph: Graph, name: str, value: np.ndarray) -> np.ndarray:
    tensor = graph.tensor(name)
    value = np.asarray(value)
    if value.dtype != tensor.dtype.numpy:
        raise TinycError(f"input tensor {name!r} must be {tensor.dtype.value}, got {value.dtype}")
    if tuple(value.shape) != tuple(tensor.shape):
        raise TinycError(f"input tensor {name!r} has shape {list(value.shape)}, expected {list(tensor.shape)}")
    return value
