"""Building small ONNX models and running them in onnxruntime the way tinyc compares against it."""

from __future__ import annotations

import onnx
import onnxruntime as ort
from onnx import helper

# onnxruntime 1.31 reads IR version <= 13; onnx 1.23 writes 14 by default.
IR_VERSION = 9


def make_model(graph: onnx.GraphProto, opset: int = 17) -> onnx.ModelProto:
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=IR_VERSION)


def ort_session(model: onnx.ModelProto | bytes | str) -> ort.InferenceSession:
    """Graph optimizations off: onnxruntime's fused int8 kernels saturate; unfused it follows QDQ exactly."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    if isinstance(model, onnx.ModelProto):
        model = model.SerializeToString()
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def expose_int8_tensors(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of the model whose every int8 node output is also a graph output."""
    inferred = onnx.shape_inference.infer_shapes(model)
    int8 = {v.name for v in inferred.graph.value_info if v.type.tensor_type.elem_type == onnx.TensorProto.INT8}
    present = {o.name for o in inferred.graph.output}
    for node in inferred.graph.node:
        for name in node.output:
            if name in int8 and name not in present:
                inferred.graph.output.append(helper.make_tensor_value_info(name, onnx.TensorProto.INT8, None))
                present.add(name)
    return inferred


def run_all_int8(session: ort.InferenceSession, feeds: dict) -> dict:
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds)))
