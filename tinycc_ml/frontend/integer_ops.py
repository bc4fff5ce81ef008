"""ConvInteger / MatMulInteger in the one "plain" static form tinyc accepts:

    int8 x (known scale s_x) -> ConvInteger|MatMulInteger(x, int8 weight constant, [x_zp], [w_zp = 0])
        -> Cast(to=FLOAT) -> Mul(constant float scale c) -> [Add(DequantizeLinear(int32 bias))]
        -> [Relu | Clip] -> QuantizeLinear

That is a statically quantized conv / fully connected whose weight scale is c / s_x (per
tensor, or per output channel when c is a vector along the channel axis). Anything else
around these ops (a scale computed at run time, DynamicQuantizeLinear, a float bias) is
dynamic or partial quantization and stays pending, to be reported as such.
"""

from __future__ import annotations

import numpy as np
import onnx

from ..errors import ModelError
from ..ir.graph import QuantParams
from . import emit
from .emit import Clamp, QConst

from .integer_patterns import INTEGER_OPS, STATIC_PATTERN, integer_leftover_message
from .lowering import Lowering
from .onnx_view import FLOAT, attributes, node_label

__all__ = ["INTEGER_OPS", "STATIC_PATTERN", "integer_leftover_message", "lower_scaled_integer_op",
           "scaled_integer_op"]


def scaled_integer_op(ctx: Lowering, mul: onnx.NodeProto) -> tuple[onnx.NodeProto, onnx.NodeProto, np.ndarray] | None:
    """(integer op, cast, scale) when `mul` is Mul(Cast(ConvInteger|MatMulInteger), constant)."""
    if mul.op_type != "Mul":
        return None
    for cast_name, scale_name in ((mul.input[0], mul.input[1]), (mul.input[1], mul.input[0])):
        cast = ctx.pending.get(cast_name)
        if cast is None or cast.op_type != "Cast" or not ctx.view.is_constant(scale_name):
            continue
        integer = ctx.pending.get(cast.input[0])
        if integer is None or integer.op_type not in INTEGER_OPS:
            continue
        if int(attributes(cast).get("to", 0)) != FLOAT:
            return None
        return integer, cast, np.asarray(ctx.view.constant(scale_name), dtype=np.float32)
    return None


def lower_scaled_integer_op(ctx: Lowering, mul: onnx.NodeProto, match: tuple[onnx.NodeProto, onnx.NodeProto, np.ndarray],
                            bias: QConst | None, out: str, out_q: QuantParams, clamp: Clamp) -> None:
    integer, cast, scale = match
    label = node_label(integer)
    for node in (integer, cast, mul):
        if not ctx.single_consumer(node.output[0]):
            raise ModelError(f"{node_label(node)}: its output is used more than once; expected {STATIC_PATTERN}")
        ctx.consume(node)
    x = ctx.int8_input(integer, integer.input[0])
    x_q = ctx.b.quant(x)
    x_zp = _int_constant(ctx, integer, 2, 0)
    if x_zp.size != 1 or int(x_zp.reshape(-1)[0]) != x_q.zp:
        raise ModelError(f"{label}: input zero point {x_zp.reshape(-1).tolist()} differs from {x!r}'s zero point {x_q.zp}")
    w_name = integer.input[1]
    if not ctx.view.is_constant(w_name) or ctx.view.constant(w_name).dtype != np.int8:
        raise ModelError(f"{label}: weight {w_name!r} must be an int8 constant; expected {STATIC_PATTERN}")
    data = ctx.view.constant(w_name)
    if np.any(_int_constant(ctx, integer, 3, 0) != 0):
        raise ModelError(f"{label}: weight {w_name!r} has a nonzero zero point (asymmetric weights); tinyc supports "
                         "symmetric int8 weights (zero point 0)")
    conv = integer.op_type == "ConvInteger"
    channels = data.shape[0] if conv else data.shape[-1]
    # The scale broadcasts against the output ([N, O, H, W] or [N, M]): it may vary along axis 1 only.
    out_rank = 4 if conv else 2
    padded = (1,) * (out_rank - scale.ndim) + tuple(scale.shape)
    if len(padded) != out_rank or any(d != 1 for i, d in enumerate(padded) if i != 1) or padded[1] not in (1, channels):
        raise ModelError(f"{node_label(mul)}: scale of shape {list(scale.shape)} is neither per tensor nor per output channel")
    scales = scale.reshape(-1)
    # weight scale = c / s_x, in float32 like every ONNX scale
    w_scales = tuple(float(np.float32(s) / np.float32(x_q.s)) for s in scales)
    axis = None if len(w_scales) == 1 else (0 if conv else data.ndim - 1)
    weight = QConst(w_name, data, QuantParams(w_scales, (0,) * len(w_scales), axis))
    name = integer.name or mul.name
    if conv:
        emit.conv2d(ctx.b, name, label, x, weight, bias, attributes(integer), out, out_q, clamp)
    else:
        emit.fully_connected(ctx.b, name, label, x, emit.fc_weight(label, weight, trans_b=False), bias, out, out_q, clamp)


def _int_constant(ctx: Lowering, node: onnx.NodeProto, index: int, default: int) -> np.ndarray:
    if len(node.input) <= index or not node.input[index]:
        return np.array([default])
    name = node.input[index]
    if not ctx.view.is_constant(name):
        raise ModelError(f"{node_label(node)}: zero point {name!r} is computed at run time; expected {STATIC_PATTERN}")
    return ctx.view.constant(name).astype(np.int64)

