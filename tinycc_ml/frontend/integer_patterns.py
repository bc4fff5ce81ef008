"""The one static form of ConvInteger / MatMulInteger tinyc accepts, as the import's
leftover check (lowering.py) and the pattern's lowering (integer_ops.py) both name it."""

from __future__ import annotations

import onnx

from .onnx_view import node_label

INTEGER_OPS = ("ConvInteger", "MatMulInteger")
STATIC_PATTERN = ("int8 tensor -> ConvInteger|MatMulInteger(int8 weight constant) -> Cast(to=FLOAT) -> "
                  "Mul(constant scale) -> [Add(int32 bias)] -> QuantizeLinear")


def integer_leftover_message(node: onnx.NodeProto) -> str:
    return (f"{node_label(node)}: {node.op_type} outside the static pattern tinyc accepts ({STATIC_PATTERN}); an integer "
            "result rescaled at run time is dynamic quantization: use onnxruntime.quantization.quantize_static "
            "(QDQ or QOperator, QInt8 activations and weights)")
