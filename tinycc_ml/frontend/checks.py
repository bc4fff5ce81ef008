"""Checks on the ONNX model before any lowering, each a ModelError that says what to change.

Order matters: the most basic problem is reported first (not a model, wrong number of
inputs, not quantized at all, dynamic quantization), then every unsupported op at once,
then shapes and integer types.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import onnx

from ..errors import ModelError
from .onnx_view import FLOAT, INT8, UINT8, DTYPE_NAMES, ModelView, describe_dims, node_label, op_key
from .activations import declarations
from .qparams import quantized_type_of

QUANTIZE_HINT = (
    "onnxruntime.quantization.quantize_static (QuantFormat.QDQ, activation_type=QuantType.QInt8, "
    "weight_type=QuantType.QInt8)"
)
PIN_HINT = (
    "pin the shape (onnx.tools.update_model_dims.update_inputs_outputs_dims, or re-export the model with a "
    "fixed input shape and batch 1)"
)
_QUANTIZED_OPS = frozenset({
    "QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "QGemm", "QLinearAdd", "QLinearMul",
    "QLinearAveragePool", "QLinearGlobalAveragePool", "QLinearConcat", "QLinearSigmoid", "QLinearLeakyRelu", "QLinearSoftmax",
    "ConvInteger", "MatMulInteger", "DynamicQuantizeLinear",
})


def load(path: str | Path) -> onnx.ModelProto:
    p = Path(path)
    if not p.is_file():
        raise ModelError(f"{p}: no such file (tinyc needs the path of an ONNX model file)")
    try:
        model = onnx.load(str(p))
    except Exception as exc:  # noqa: BLE001 - any parse failure means the same thing to the user
        raise ModelError(f"{p} is not a valid ONNX model (onnx.load failed: {type(exc).__name__})") from None
    if model.ir_version == 0 or not model.HasField("graph") or not model.graph.node:
        raise ModelError(f"{p} is not a valid ONNX model (it holds no graph)")
    return model


MIN_OPSET = 10  # QuantizeLinear, DequantizeLinear and QLinearConv first appear in opset 10


def check_opset(view: ModelView) -> None:
    """Op semantics depend on the opset (Clip, Softmax, Reshape changed): read only those that exist."""
    newest = onnx.defs.onnx_opset_version()
    if not MIN_OPSET <= view.opset <= newest:
        raise ModelError(
            f"the model imports ONNX opset {view.opset} (default domain); tinyc reads opsets {MIN_OPSET} (the first "
            f"with QuantizeLinear) to {newest} (the newest onnx {onnx.__version__} knows): convert it with "
            "onnx.version_converter.convert_version(model, 17)"
        )


def _real_inputs(view: ModelView) -> list[onnx.ValueInfoProto]:
    return [i for i in view.graph.input if not view.is_constant(i.name)]


def check_io_count(view: ModelView) -> None:
    """At least one graph input and one output (several of each are fine: one C accessor each)."""
    if not _real_inputs(view):
        raise ModelError("the model has no graph input (every input is an initializer); tinyc needs at least one")
    if not view.graph.output:
        raise ModelError("the model has no graph output; tinyc needs at least one")


def check_quantized(view: ModelView) -> None:
    int8_io = any(io.type.tensor_type.elem_type in (INT8, UINT8) for io in list(view.graph.input) + list(view.graph.output))
    if not int8_io and not any(node.op_type in _QUANTIZED_OPS or node.op_type.startswith("QLinear") for node in view.nodes):
        raise ModelError(f"the model is a float model that is not quantized; tinyc compiles int8 models: quantize it with {QUANTIZE_HINT}")
    dynamic = [node for node in view.nodes if node.op_type == "DynamicQuantizeLinear"]
    if dynamic:
        raise ModelError(
            "the model uses dynamic quantization (activations quantized at run time), which tinyc does not support; "
            f"tinyc needs static quantization: {QUANTIZE_HINT}",
            [node_label(n) for n in dynamic],
        )


def check_supported_ops(view: ModelView, handlers: Mapping[tuple[str, str], object]) -> None:
    unsupported = [node for node in view.nodes if op_key(node) not in handlers]
    if unsupported:
        names = sorted({op for _, op in handlers})
        raise ModelError(
            f"the model uses {len(unsupported)} node(s) with ops tinyc does not support (supported: {', '.join(names)})",
            [node_label(n) + (f" in domain {n.domain!r}" if op_key(n)[0] else "") + _why_left(view, n)
             for n in unsupported],
        )


def _why_left(view: ModelView, node: onnx.NodeProto) -> str:
    """Why shape arithmetic was not folded at import (shape_folding.py): a Shape of a tensor
    whose dims are not all fixed."""
    if op_key(node) == ("", "Shape") and node.input and view.shape(node.input[0]) is None:
        return f": the shape of {node.input[0]!r} is not fixed, so it cannot be folded at compile time; {PIN_HINT}"
    return ""


def check_io_types_and_shapes(view: ModelView) -> None:
    for io, kind in [(i, "input") for i in _real_inputs(view)] + [(o, "output") for o in view.graph.output]:
        elem = io.type.tensor_type.elem_type
        if elem not in (INT8, UINT8, FLOAT):
            raise ModelError(
                f"graph {kind} {io.name!r} is {DTYPE_NAMES.get(elem, elem)}; tinyc supports int8 or uint8 {kind}s, or "
                f"float32 ones with a QuantizeLinear/DequantizeLinear to int8 or uint8 (quantize with {QUANTIZE_HINT})"
            )
    for io in _real_inputs(view):
        if io.name not in view.shapes:
            raise ModelError(
                f"graph input {io.name!r} has a dynamic or unknown shape {describe_dims(io.type)}; tinyc needs static "
                f"shapes: {PIN_HINT}"
            )


def check_edge_types(view: ModelView) -> None:
    """An int8 or uint8 graph input/output must be quantized as its declared type: the zero point
    of every node that states its parameters has that type (uint8 edges stay uint8 in the C API)."""
    edges = {io.name: io.type.tensor_type.elem_type for io in list(_real_inputs(view)) + list(view.graph.output)
             if io.type.tensor_type.elem_type in (INT8, UINT8)}
    for node in view.nodes:
        for tensor, _, zero_point in declarations(node):
            if tensor not in edges or not zero_point or not view.is_constant(zero_point):
                continue
            kind = view.constant(zero_point).dtype.name
            declared = DTYPE_NAMES.get(edges[tensor], edges[tensor])
            if kind != declared:
                raise ModelError(f"{node_label(node)}: graph edge {tensor!r} is declared {declared} but its zero point "
                                 f"{zero_point!r} is {kind}; make the two agree (both int8 or both uint8)")


def check_integer_types(view: ModelView) -> None:
    for node in view.nodes:
        if op_key(node) == ("", "QuantizeLinear"):
            kind = quantized_type_of(view, node)
            if kind not in ("int8", "uint8"):
                raise ModelError(
                    f"{node_label(node)}: it quantizes {node.input[0]!r} to {kind}; tinyc supports int8 (or uint8) activations "
                    f"(quantize with {QUANTIZE_HINT})"
                )
        if op_key(node) == ("", "DequantizeLinear") and not view.is_constant(node.input[0]):
            elem = view.elem_type(node.input[0])
            if elem is not None and elem not in (INT8, UINT8):
                raise ModelError(
                    f"{node_label(node)}: it dequantizes {node.input[0]!r} of type {DTYPE_NAMES.get(elem, elem)}; "
                    f"tinyc supports int8 activations (quantize with {QUANTIZE_HINT})"
                )


def check_model(view: ModelView, handlers: Mapping[tuple[str, str], object]) -> None:
    check_opset(view)
    check_io_count(view)
    check_quantized(view)
    check_supported_ops(view, handlers)
    check_io_types_and_shapes(view)
    check_integer_types(view)
    check_edge_types(view)
