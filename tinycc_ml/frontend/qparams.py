"""Reading quantization parameters from ONNX scale/zero-point inputs, with tinyc's rules.

tinyc runs TFLite's int8 scheme: activations int8 (or uint8, shifted to int8) asymmetric per tensor, weights int8
symmetric (zero point 0) per tensor or per output channel, biases int32 with zero point 0.
Every violation is a ModelError that names the node and says what tinyc supports instead.
"""

from __future__ import annotations

import math

import numpy as np
import onnx

from ..errors import ModelError
from ..ir.graph import QuantParams
from .onnx_view import ModelView, node_label

_TYPE_ADVICE = (
    "tinyc supports int8 activations and weights (onnxruntime.quantization.quantize_static with "
    "activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)"
)


def dtype_name(dtype: np.dtype) -> str:
    return np.dtype(dtype).name


def _constant(view: ModelView, node: onnx.NodeProto, name: str, what: str) -> np.ndarray:
    if not view.is_constant(name):
        raise ModelError(f"{node_label(node)}: its {what} {name!r} is computed at run time; tinyc needs it to be a constant")
    return view.constant(name)


def _scale_values(view: ModelView, node: onnx.NodeProto, name: str) -> np.ndarray:
    scale = _constant(view, node, name, "scale")
    if scale.dtype != np.float32:
        raise ModelError(f"{node_label(node)}: scale {name!r} is {dtype_name(scale.dtype)}; tinyc needs float32 scales")
    values = scale.reshape(-1)
    if not all(math.isfinite(float(s)) and float(s) > 0 for s in values):
        raise ModelError(f"{node_label(node)}: scale {name!r} must be finite and positive")
    return values


def _zero_point_values(view: ModelView, node: onnx.NodeProto, name: str, quantized_type: str) -> np.ndarray:
    """Zero points as an int array; the type of the quantized tensor must be int8 (or int32 for biases)."""
    zp = _constant(view, node, name, "zero point")
    if dtype_name(zp.dtype) != quantized_type:
        raise ModelError(
            f"{node_label(node)}: zero point {name!r} is {dtype_name(zp.dtype)}, so the quantized tensor is "
            f"{dtype_name(zp.dtype)}; {_TYPE_ADVICE}"
        )
    return zp.reshape(-1).astype(np.int64)


def quantized_type_of(view: ModelView, node: onnx.NodeProto) -> str:
    """The integer type a QuantizeLinear produces (zero point type, output_dtype, or uint8 by default)."""
    if len(node.input) > 2 and node.input[2]:
        zp = _constant(view, node, node.input[2], "zero point")
        return dtype_name(zp.dtype)
    for attr in node.attribute:
        if attr.name == "output_dtype" and attr.i:
            return dtype_name(onnx.helper.tensor_dtype_to_np_dtype(attr.i))
    return "uint8"


# uint8 activations (onnxruntime's QUInt8) are int8 ones with the zero point moved by 128: the
# real value (q - zp) * s is unchanged when both q and zp shift, so the arithmetic is identical.
UINT8_ZERO_POINT_SHIFT = 128
ACTIVATION_TYPES = ("int8", "uint8")


def activation_params(view: ModelView, node: onnx.NodeProto, scale: str, zero_point: str, tensor: str) -> QuantParams:
    """Per-tensor int8 parameters of activation `tensor` as declared by `node` (uint8: zp - 128)."""
    scales = _scale_values(view, node, scale)
    if not zero_point:
        kind = quantized_type_of(view, node) if node.op_type == "QuantizeLinear" else "int8"
        if kind not in ACTIVATION_TYPES:
            raise ModelError(f"{node_label(node)}: it quantizes {tensor!r} to {kind}; {_TYPE_ADVICE}")
        zps = np.zeros(1, dtype=np.int64) - (UINT8_ZERO_POINT_SHIFT if kind == "uint8" else 0)
    else:
        zp = _constant(view, node, zero_point, "zero point")
        kind = "uint8" if dtype_name(zp.dtype) == "uint8" else "int8"
        zps = _zero_point_values(view, node, zero_point, kind) - (UINT8_ZERO_POINT_SHIFT if kind == "uint8" else 0)
    if scales.size != 1 or zps.size != 1:
        raise ModelError(
            f"{node_label(node)}: activation {tensor!r} is quantized per channel ({scales.size} scales); "
            "tinyc supports per-tensor activation quantization only (per-channel is for weights)"
        )
    return QuantParams.per_tensor(float(scales[0]), int(zps[0]))


def constant_params(
    view: ModelView,
    node: onnx.NodeProto,
    scale: str,
    zero_point: str,
    data: np.ndarray,
    axis: int | None,
    quantized_type: str,
) -> QuantParams:
    """Parameters of a constant (weight or bias) tensor: per tensor, or per channel along `axis`."""
    scales = _scale_values(view, node, scale)
    zps = _zero_point_values(view, node, zero_point, quantized_type) if zero_point else np.zeros(scales.size, np.int64)
    if zps.size != scales.size:
        raise ModelError(f"{node_label(node)}: scale and zero point have different lengths")
    if scales.size == 1 and (axis is None or data.ndim == 0 or data.shape[axis % data.ndim] != 1):
        return QuantParams((float(scales[0]),), (int(zps[0]),))
    rank = data.ndim
    axis = 1 if axis is None else axis
    if not -rank <= axis < rank:
        raise ModelError(f"{node_label(node)}: axis {axis} is out of range for a tensor of rank {rank}")
    axis %= rank
    if data.shape[axis] != scales.size:
        raise ModelError(
            f"{node_label(node)}: {scales.size} scales for axis {axis} of a tensor of shape {list(data.shape)}"
        )
    return QuantParams(tuple(float(s) for s in scales), tuple(int(z) for z in zps), axis)


def check_symmetric_weight(node_desc: str, weight_name: str, quant: QuantParams) -> None:
    if any(z != 0 for z in quant.zero_point):
        raise ModelError(
            f"{node_desc}: weight {weight_name!r} has a nonzero zero point (asymmetric weights); "
            "tinyc supports symmetric int8 weights (zero point 0), which quantize_static produces by default"
        )
