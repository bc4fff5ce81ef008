"""QOperator form: onnxruntime's QLinear* ops (and com.microsoft contrib ops) map one to one.

Every input and output is already int8 with its scale and zero point given as inputs of
the node (checked against the tensor's parameters in activations.py). Weights are int8
initializers, biases int32 initializers with the implicit scale s_in * s_w.
"""

from __future__ import annotations

import numpy as np
import onnx

from ..errors import ModelError
from ..ir.graph import DType, QuantParams
from . import emit
from .emit import NO_CLAMP, QConst
from .lowering import Lowering
from .onnx_view import attributes, node_label
from .qparams import constant_params


def _has(node: onnx.NodeProto, index: int) -> bool:
    return len(node.input) > index and bool(node.input[index])


def _weight(ctx: Lowering, node: onnx.NodeProto, data_i: int, scale_i: int, zp_i: int, channel_axis: int) -> QConst:
    name = node.input[data_i]
    if not ctx.view.is_constant(name):
        raise ModelError(f"{node_label(node)}: weight {name!r} is computed at run time; tinyc needs constant weights")
    data = ctx.view.constant(name)
    scale = ctx.view.constant(node.input[scale_i]) if ctx.view.is_constant(node.input[scale_i]) else None
    axis = channel_axis if scale is not None and scale.size > 1 else None
    zp = node.input[zp_i] if _has(node, zp_i) else ""
    return QConst(name, data, constant_params(ctx.view, node, node.input[scale_i], zp, data, axis, "int8"))


def _implicit_bias(ctx: Lowering, node: onnx.NodeProto, index: int, in_q: QuantParams, w: QConst) -> QConst | None:
    """QLinearConv/QGemm biases are int32 with scale s_in * s_w[c] by definition."""
    if not _has(node, index):
        return None
    name = node.input[index]
    if not ctx.view.is_constant(name):
        raise ModelError(f"{node_label(node)}: bias {name!r} is computed at run time; tinyc needs constant biases")
    data = ctx.view.constant(name)
    if data.dtype != np.int32:
        raise ModelError(f"{node_label(node)}: bias {name!r} is {data.dtype}; tinyc needs int32 biases")
    scales = tuple(float(np.float32(in_q.s) * np.float32(s)) for s in w.quant.scale)
    quant = QuantParams(scales, (0,) * len(scales), 0 if len(scales) > 1 else None)
    return QConst(name, data.reshape(-1), quant)


def _output(ctx: Lowering, node: onnx.NodeProto) -> tuple[str, QuantParams]:
    out = node.output[0]
    ctx.int8[out] = out
    return out, ctx.act_params(out)


def qlinear_conv(ctx: Lowering, node: onnx.NodeProto) -> None:
    x = ctx.int8_input(node, node.input[0])
    w = _weight(ctx, node, 3, 4, 5, channel_axis=0)
    bias = _implicit_bias(ctx, node, 8, ctx.b.quant(x), w)
    out, out_q = _output(ctx, node)
    emit.conv2d(ctx.b, node.name, node_label(node), x, w, bias, attributes(node), out, out_q, NO_CLAMP)


def qlinear_matmul(ctx: Lowering, node: onnx.NodeProto) -> None:
    label = node_label(node)
    x = ctx.int8_input(node, node.input[0])
    if not ctx.view.is_constant(node.input[3]):
        raise ModelError(f"{label}: MatMul of two activations is not supported; tinyc supports MatMul by constant weights")
    w = emit.fc_weight(label, _weight(ctx, node, 3, 4, 5, channel_axis=1), trans_b=False)
    out, out_q = _output(ctx, node)
    emit.fully_connected(ctx.b, node.name, label, x, w, None, out, out_q, NO_CLAMP)


def qgemm(ctx: Lowering, node: onnx.NodeProto) -> None:
    label = node_label(node)
    attrs = attributes(node)
    if not _has(node, 7):
        raise ModelError(f"{label}: QGemm with a float output is not supported; tinyc needs int8 outputs")
    if int(attrs.get("transA", 0)) or float(attrs.get("alpha", 1.0)) != 1.0:
        raise ModelError(f"{label}: transA=1 or alpha other than 1.0 is not supported")
    trans_b = bool(attrs.get("transB", 0))
    x = ctx.int8_input(node, node.input[0])
    w = emit.fc_weight(label, _weight(ctx, node, 3, 4, 5, channel_axis=0 if trans_b else 1), trans_b)
    bias = _implicit_bias(ctx, node, 6, ctx.b.quant(x), w)
    out, out_q = _output(ctx, node)
    emit.fully_connected(ctx.b, node.name, label, x, w, bias, out, out_q, NO_CLAMP)


def _operand(ctx: Lowering, node: onnx.NodeProto, index: int) -> str:
    name = node.input[index]
    if ctx.view.is_constant(name):
        const = QConst(name, ctx.view.constant(name),
                       constant_params(ctx.view, node, node.input[index + 1], node.input[index + 2],
                                       ctx.view.constant(name), None, "int8"))
        if not const.quant.is_per_tensor:
            raise ModelError(f"{node_label(node)}: constant operand {name!r} must be quantized per tensor")
        return ctx.b.constant(name, const.data, DType.INT8, const.quant)
    return ctx.int8_input(node, name)


def qlinear_binary(ctx: Lowering, node: onnx.NodeProto) -> None:
    a = _operand(ctx, node, 0)
    c = _operand(ctx, node, 3)
    out, out_q = _output(ctx, node)
    kind = "Add" if node.op_type == "QLinearAdd" else "Mul"
    emit.binary(ctx.b, kind, node.name, node_label(node), a, c, out, out_q, NO_CLAMP)


def _channels_first(node: onnx.NodeProto) -> dict:
    attrs = attributes(node)
    if int(attrs.get("channels_last", 0)):
        raise ModelError(f"{node_label(node)}: channels_last=1 is not supported; tinyc expects NCHW tensors")
    return attrs


def qlinear_average_pool(ctx: Lowering, node: onnx.NodeProto) -> None:
    attrs = _channels_first(node)
    x = ctx.int8_input(node, node.input[0])
    out, out_q = _output(ctx, node)
    emit.average_pool(ctx.b, node.name, node_label(node), x, attrs, out, out_q, NO_CLAMP,
                      global_pool=node.op_type == "QLinearGlobalAveragePool")


def qlinear_sigmoid(ctx: Lowering, node: onnx.NodeProto) -> None:
    x = ctx.int8_input(node, node.input[0])
    out, out_q = _output(ctx, node)
    emit.lut(ctx.b, node.name, node_label(node), "sigmoid", {}, x, out, out_q)


def qlinear_leaky_relu(ctx: Lowering, node: onnx.NodeProto) -> None:
    x = ctx.int8_input(node, node.input[0])
    out, out_q = _output(ctx, node)
    alpha = float(attributes(node).get("alpha", 0.01))
    emit.lut(ctx.b, node.name, node_label(node), "leakyrelu", {"alpha": alpha}, x, out, out_q)


def qlinear_softmax(ctx: Lowering, node: onnx.NodeProto) -> None:
    attrs = attributes(node)
    opset = int(attrs.get("opset", ctx.view.opset))
    axis = int(attrs.get("axis", -1 if opset >= 13 else 1))
    x = ctx.int8_input(node, node.input[0])
    out, out_q = _output(ctx, node)
    emit.softmax(ctx.b, node.name, node_label(node), x, axis, opset, out, out_q)


def qlinear_concat(ctx: Lowering, node: onnx.NodeProto) -> None:
    inputs = [ctx.int8_input(node, node.input[i]) for i in range(2, len(node.input), 3)]
    out, out_q = _output(ctx, node)
    emit.concat(ctx.b, node.name, node_label(node), inputs, int(attributes(node)["axis"]), out, out_q)
