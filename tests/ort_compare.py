"""Per-node comparison of the interpreter with onnxruntime on a QDQ model: each IR node
runs on onnxruntime's own int8 inputs, so its error is its own, not inherited."""

from __future__ import annotations

import numpy as np

from tinycc_ml.interp.registry import Operand, implementation
from tinycc_ml.ir.graph import Graph
from tinycc_ml.quant.qdq import quantize_f32


def per_node_max_diff(graph: Graph, ort_values: dict, x: np.ndarray) -> dict[str, int]:
    """Max |ours - onnxruntime| in LSB for every node whose output onnxruntime also computes.

    Inputs a node reads come from onnxruntime where it has them (int8 tensors of the same
    name), else from the interpreter's own run of the earlier nodes (IR-only tensors)."""
    io = graph.inputs[0]
    core_input = quantize_f32(x, io.quant) if io.onnx_dtype == "float32" else x
    ours = {io.tensor: core_input.reshape(graph.tensor(io.tensor).shape)}
    result: dict[str, int] = {}
    for node in graph.nodes:
        operands = []
        for name in node.inputs:
            if not name:
                operands.append(None)
                continue
            tensor = graph.tensor(name)
            if tensor.is_constant:
                value = tensor.data
            elif name in ort_values and ort_values[name].dtype == np.int8:
                value = ort_values[name].reshape(tensor.shape)
            else:
                value = ours[name]
            operands.append(Operand(tensor, value))
        out = graph.tensor(node.outputs[0])
        ours[out.name] = implementation(node.kind)(node.attrs, operands, out)
        if out.name in ort_values and ort_values[out.name].dtype == np.int8:
            ref = ort_values[out.name].reshape(out.shape).astype(np.int64)
            result[node.name] = int(np.abs(ours[out.name].astype(np.int64) - ref).max())
    return result
