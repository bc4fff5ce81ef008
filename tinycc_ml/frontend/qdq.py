"""QDQ form: DequantizeLinear -> float op -> [Relu/Clip] -> QuantizeLinear becomes one integer op.

DequantizeLinear nodes only record facts (this float tensor is that int8 tensor or that
integer constant). Float compute nodes wait in `pending`. Each QuantizeLinear then looks
back: through a single-consumer Relu/Clip (a fused clamp) to the compute node, which it
lowers with the QuantizeLinear's output as the op's int8 output. A QuantizeLinear of a
plain DequantizeLinear is transparent (same parameters) or a requantize Lut.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import onnx

from ..errors import ModelError
from ..ir import ops
from ..ir.graph import BoundaryIO, QuantParams
from . import emit, integer_ops
from .emit import NO_CLAMP, Clamp, QConst
from .lowering import Lowering
from .activations import declarations
from .onnx_view import UINT8, attributes, node_label
from .qparams import constant_params, dtype_name
from .shape_ops import emit_shape_op

CLAMPS = ("Relu", "Clip")
# Ops whose integer form carries act_min/act_max, so a following Relu/Clip folds into them.
CLAMP_FUSABLE = frozenset({"Conv", "MatMul", "Gemm", "Add", "Mul", "AveragePool", "MaxPool", "GlobalAveragePool"})
LUT_FUNCTIONS = {"Sigmoid": "sigmoid", "Tanh": "tanh", "HardSigmoid": "hardsigmoid", "HardSwish": "hardswish",
                 "Relu": "relu", "Clip": "clip", "LeakyRelu": "leakyrelu"}

FloatLowering = Callable[[Lowering, onnx.NodeProto, str, QuantParams, Clamp], None]


# ---- Q and DQ ---------------------------------------------------------------------------


def lower_dequantize(ctx: Lowering, node: onnx.NodeProto) -> None:
    x, y = node.input[0], node.output[0]
    zp = node.input[2] if len(node.input) > 2 else ""
    if ctx.view.is_constant(x):
        data = ctx.view.constant(x)
        kind = dtype_name(data.dtype)
        if kind not in ("int8", "int32"):
            raise ModelError(
                f"{node_label(node)}: constant {x!r} is {kind}; tinyc supports int8 weights and int32 biases "
                "(quantize_static with weight_type=QuantType.QInt8)"
            )
        scale = ctx.view.constant(node.input[1]) if ctx.view.is_constant(node.input[1]) else None
        axis = attributes(node).get("axis", 1) if scale is not None and scale.size > 1 else None
        ctx.qconst[y] = QConst(x, data, constant_params(ctx.view, node, node.input[1], zp, data, axis, kind))
    elif x in ctx.int8:
        ctx.dq[y] = ctx.int8[x]
    else:
        raise ModelError(f"{node_label(node)}: it dequantizes {x!r}, which is not an int8 tensor")


def lower_quantize(ctx: Lowering, node: onnx.NodeProto) -> None:
    x, y = node.input[0], node.output[0]
    out_q = ctx.act_params(y)
    if x in ctx.dq:
        src = ctx.dq[x]
        if ctx.b.quant(src) == out_q:
            ctx.int8[y] = src  # Q(DQ(t)) with the same parameters is t itself
        else:
            ctx.int8[y] = emit.requantize(ctx.b, node.name or y, src, y, out_q)
        return
    if x in ctx.chain:
        _quantize_graph_input(ctx, node, x, y, out_q)
        return
    producer = ctx.pending.get(x)
    if producer is None or id(producer) in ctx.consumed:
        raise ModelError(
            f"{node_label(node)}: it quantizes {x!r}, which tinyc cannot trace back to int8 operations "
            "(expected DequantizeLinear -> op -> QuantizeLinear)"
        )
    _require_single_consumer(ctx, producer, node)
    clamp, compute = NO_CLAMP, producer
    if producer.op_type in CLAMPS:
        inner = ctx.pending.get(producer.input[0])
        if inner is not None and id(inner) not in ctx.consumed and inner.op_type in CLAMP_FUSABLE:
            _require_single_consumer(ctx, inner, producer)
            clamp, compute = clamp_of(ctx, producer), inner
            ctx.consume(producer)
    lowering = FLOAT_LOWERINGS.get(compute.op_type)
    if lowering is None:
        raise ModelError(
            f"{node_label(node)}: it quantizes the float output of {node_label(compute)}, which tinyc cannot turn into "
            "an int8 op there (expected DequantizeLinear -> op -> QuantizeLinear)"
        )
    ctx.consume(compute)
    lowering(ctx, compute, y, out_q, clamp)
    ctx.int8[y] = y


def _require_single_consumer(ctx: Lowering, node: onnx.NodeProto, consumer: onnx.NodeProto) -> None:
    if not ctx.single_consumer(node.output[0]):
        raise ModelError(
            f"{node_label(node)}: its float output {node.output[0]!r} is used by more than {node_label(consumer)}; "
            "tinyc needs every float result quantized once (the model is only partially quantized)"
        )


def _quantize_graph_input(ctx: Lowering, node: onnx.NodeProto, x: str, y: str, out_q: QuantParams) -> None:
    """Float input [-> Transpose/Reshape ...] -> QuantizeLinear: quantize first, then move the bytes."""
    chain = ctx.chain[x]
    origin = chain[0].input[0] if chain else x  # the graph input the chain starts from
    inp = next(i for i in ctx.view.graph.input if i.name == origin)
    if inp.name in ctx.input_ios:
        raise ModelError(f"{node_label(node)}: graph input {inp.name!r} is quantized more than once; tinyc needs one QuantizeLinear")
    for link in chain:
        if not ctx.single_consumer(link.output[0]):
            raise ModelError(f"{node_label(link)}: its float output is used by more than one node before quantization")
    shape = ctx.view.shapes[inp.name]
    first = y if not chain else inp.name
    ctx.b.activation(first, shape, out_q)
    current = first
    for i, link in enumerate(chain):
        current = emit_shape_op(ctx, link, current, y if i == len(chain) - 1 else link.output[0])
    ctx.input_ios[inp.name] = BoundaryIO(inp.name, "float32", shape, first, out_q)
    ctx.int8[y] = y


def clamp_of(ctx: Lowering, node: onnx.NodeProto) -> Clamp:
    if node.op_type == "Relu":
        return Clamp(0.0, None)
    low, high = _clip_bounds(ctx, node)
    return Clamp(low, high)


def _real_scalar(ctx: Lowering, node: onnx.NodeProto, name: str) -> float:
    if name in ctx.qconst:
        const = ctx.qconst[name]
        return float((int(const.data.reshape(-1)[0]) - const.quant.zero_point[0]) * const.quant.scale[0])
    if ctx.view.is_constant(name):
        return float(np.asarray(ctx.view.constant(name)).reshape(-1)[0])
    raise ModelError(f"{node_label(node)}: {name!r} is computed at run time; tinyc needs a constant")


def _clip_bounds(ctx: Lowering, node: onnx.NodeProto) -> tuple[float | None, float | None]:
    if ctx.view.opset < 11:
        attrs = attributes(node)
        low, high = attrs.get("min"), attrs.get("max")
    else:
        low = _real_scalar(ctx, node, node.input[1]) if len(node.input) > 1 and node.input[1] else None
        high = _real_scalar(ctx, node, node.input[2]) if len(node.input) > 2 and node.input[2] else None
    # Opset-6 Clip defaults to +-FLT_MAX, and exporters write huge bounds for "no bound": no clamp.
    unbounded = lambda v: v is None or not np.isfinite(v) or abs(v) >= 1e30  # noqa: E731
    return (None if unbounded(low) else float(low)), (None if unbounded(high) else float(high))


# ---- float ops, lowered when their QuantizeLinear is reached ----------------------------


def defer(ctx: Lowering, node: onnx.NodeProto) -> None:
    ctx.pending[node.output[0]] = node


def lower_maxpool_or_defer(ctx: Lowering, node: onnx.NodeProto) -> None:
    """MaxPool on an int8 tensor (QOperator form) is an int8 op as it stands."""
    x = node.input[0]
    if x in ctx.int8:
        if len(node.output) > 1 and node.output[1]:
            raise ModelError(f"{node_label(node)}: the Indices output of MaxPool is not supported")
        y = node.output[0]
        ctx.int8[y] = emit.max_pool(ctx.b, node.name, node_label(node), ctx.int8[x], attributes(node), y,
                                    ctx.act_params(y), NO_CLAMP)
        return
    defer(ctx, node)


def _conv(ctx: Lowering, node: onnx.NodeProto, out: str, out_q: QuantParams, clamp: Clamp) -> None:
    label = node_label(node)
    x = ctx.float_input(node, node.input[0])
    w = ctx.constant_input(node, node.input[1], "weight")
    bias = ctx.constant_input(node, node.input[2], "bias") if len(node.input) > 2 and node.input[2] else None
    emit.conv2d(ctx.b, node.name, label, x, w, bias, attributes(node), out, out_q, clamp)


def _matmul(ctx: Lowering, node: onnx.NodeProto, out: str, out_q: QuantParams, clamp: Clamp,
            bias: QConst | None = None, name: str | None = None) -> None:
    label = node_label(node)
    x = ctx.float_input(node, node.input[0])
    if node.input[1] not in ctx.qconst:
        if node.input[1] in ctx.dq:
            raise ModelError(f"{label}: MatMul of two activations is not supported; tinyc supports MatMul by constant weights")
        ctx.constant_input(node, node.input[1], "weight")
    w = emit.fc_weight(label, ctx.qconst[node.input[1]], trans_b=False)
    emit.fully_connected(ctx.b, name or node.name, label, x, w, bias, out, out_q, clamp)


def _gemm(ctx: Lowering, node: onnx.NodeProto, out: str, out_q: QuantParams, clamp: Clamp) -> None:
    label = node_label(node)
    attrs = attributes(node)
    if int(attrs.get("transA", 0)):
        raise ModelError(f"{label}: transA=1 is not supported")
    has_bias = len(node.input) > 2 and bool(node.input[2])
    if float(attrs.get("alpha", 1.0)) != 1.0 or (has_bias and float(attrs.get("beta", 1.0)) != 1.0):
        raise ModelError(f"{label}: alpha and beta other than 1.0 are not supported")
    x = ctx.float_input(node, node.input[0])
    w = emit.fc_weight(label, ctx.constant_input(node, node.input[1], "weight"), bool(attrs.get("transB", 0)))
    bias = ctx.constant_input(node, node.input[2], "bias") if has_bias else None
    emit.fully_connected(ctx.b, node.name, label, x, w, bias, out, out_q, clamp)


def _binary(ctx: Lowering, node: onnx.NodeProto, out: str, out_q: QuantParams, clamp: Clamp) -> None:
    a_name, c_name = node.input[0], node.input[1]
    scaled = integer_ops.scaled_integer_op(ctx, node)
    if scaled is not None:  # Mul(Cast(ConvInteger|MatMulInteger), scale)
        integer_ops.lower_scaled_integer_op(ctx, node, scaled, None, out, out_q, clamp)
        return
    if node.op_type == "Add":
        # ConvInteger|MatMulInteger -> Cast -> Mul(scale) -> Add(int32 bias)
        for mul_name, bias_name in ((a_name, c_name), (c_name, a_name)):
            mul = ctx.pending.get(mul_name)
            bias = ctx.qconst.get(bias_name)
            scaled = integer_ops.scaled_integer_op(ctx, mul) if mul is not None and id(mul) not in ctx.consumed else None
            if scaled is not None and bias is not None:
                integer_ops.lower_scaled_integer_op(ctx, mul, scaled, bias, out, out_q, clamp)
                return
        # tf2onnx's fully connected: MatMul -> Add(DequantizeLinear(int32 bias)).
        for mm_name, bias_name in ((a_name, c_name), (c_name, a_name)):
            matmul = ctx.pending.get(mm_name)
            bias = ctx.qconst.get(bias_name)
            if (matmul is not None and matmul.op_type == "MatMul" and id(matmul) not in ctx.consumed
                    and bias is not None and bias.data.dtype == np.int32):
                _require_single_consumer(ctx, matmul, node)
                ctx.consume(matmul)
                _matmul(ctx, matmul, out, out_q, clamp, bias=bias, name=matmul.name or node.name)
                return
    a = ctx.operand(node, a_name)
    c = ctx.operand(node, c_name)
    emit.binary(ctx.b, node.op_type, node.name, node_label(node), a, c, out, out_q, clamp)


def _avgpool(ctx: Lowering, node: onnx.NodeProto, out: str, out_q: QuantParams, clamp: Clamp) -> None:
    x = ctx.float_input(node, node.input[0])
    emit.average_pool(ctx.b, node.name, node_label(node), x, attributes(node), out, out_q, clamp,
                      global_pool=node.op_type == "GlobalAveragePool")


def _maxpool(ctx: Lowering, node: onnx.NodeProto, out: str, out_q: QuantParams, clamp: Clamp) -> None:
    if len(node.output) > 1 and node.output[1]:
        raise ModelError(f"{node_label(node)}: the Indices output of MaxPool is not supported")
    x = ctx.float_input(node, node.input[0])
    emit.max_pool(ctx.b, node.name, node_label(node), x, attributes(node), out, out_q, clamp)


def _softmax(ctx: Lowering, node: onnx.NodeProto, out: str, out_q: QuantParams, clamp: Clamp) -> None:
    x = ctx.float_input(node, node.input[0])
    axis = int(attributes(node).get("axis", -1 if ctx.view.opset >= 13 else 1))
    emit.softmax(ctx.b, node.name, node_label(node), x, axis, ctx.view.opset, out, out_q)


def _reduce_axes(ctx: Lowering, node: onnx.NodeProto, rank: int) -> list[int] | None:
    """ReduceMean's axes, normalised and sorted (None: every axis), from the attribute (opset < 18)
    or the input (opset 18)."""
    label = node_label(node)
    if ctx.view.opset >= 18:
        if len(node.input) < 2 or not node.input[1]:
            if int(attributes(node).get("noop_with_empty_axes", 0)):
                raise ModelError(f"{label}: ReduceMean with noop_with_empty_axes=1 and no axes is an identity; "
                                 "remove it from the model")
            return None
        if not ctx.view.is_constant(node.input[1]):
            raise ModelError(f"{label}: its axes are computed at run time; tinyc needs constant axes")
        axes = [int(a) for a in ctx.view.constant(node.input[1]).reshape(-1)]
    else:
        raw = attributes(node).get("axes")
        if raw is None:
            return None
        axes = [int(a) for a in raw]
    if any(not -rank <= a < rank for a in axes):
        raise ModelError(f"{label}: axes {axes} are out of range for a rank-{rank} tensor")
    return sorted({a % rank for a in axes})


def _reduce_mean(ctx: Lowering, node: onnx.NodeProto, out: str, out_q: QuantParams, clamp: Clamp) -> None:
    """tf2onnx's form of TFLite's MEAN: the spatial mean of a 4-D tensor, over axes [2, 3] of an NCHW
    tensor or [1, 2] of an NHWC one (moved to NCHW by a Transpose the layout pass cancels), with
    TFLite Micro's arithmetic (emit.spatial_mean) or, under ONNX semantics, onnxruntime's float32
    reduction (emit.onnx_spatial_mean); keepdims 0 or 1."""
    label = node_label(node)
    x = ctx.float_input(node, node.input[0])
    shape = ctx.b.shape(x)
    axes = _reduce_axes(ctx, node, len(shape))
    if len(shape) != 4 or axes not in ([2, 3], [1, 2]):
        raise ModelError(f"{label}: ReduceMean over axes {axes if axes is not None else 'all'} of a rank-{len(shape)} "
                         "tensor; tinyc supports the spatial mean of a 4-D tensor (axes [2, 3] of NCHW or [1, 2] of "
                         "NHWC, as tf2onnx writes TFLite's MEAN)")
    nhwc = axes == [1, 2]
    onnx_arithmetic = ctx.b.semantics == ops.ONNX
    if onnx_arithmetic and nhwc and shape[0] != 1:
        raise ModelError(f"{label}: ReduceMean over axes [1, 2] of a batch of {shape[0]}; under ONNX semantics tinyc "
                         "follows onnxruntime's summation order for a batch of 1 only (export with batch 1, or use "
                         "--semantics tflite)")
    if nhwc:
        x = emit.transpose(ctx.b, ctx.b.fresh_name(f"{node.name or out}/to_nchw"), x, (0, 3, 1, 2),
                           ctx.b.fresh_name(f"{out}/nchw"))
    n, c = ctx.b.shape(x)[:2]
    keep = bool(int(attributes(node).get("keepdims", 1)))
    final = (n, 1, 1, c) if keep and nhwc else (n, c, 1, 1) if keep else (n, c)
    pooled = out if final == (n, c, 1, 1) else ctx.b.fresh_name(f"{out}/mean")
    name = node.name or ctx.b.fresh_name("ReduceMean")
    if onnx_arithmetic:
        emit.onnx_spatial_mean(ctx.b, name, x, ops.MEAN_NHWC if nhwc else ops.MEAN_NCHW, pooled, out_q)
    else:
        emit.spatial_mean(ctx.b, name, label, x, pooled, out_q)
    if pooled != out:  # only unit axes move: the same bytes
        emit.reshape(ctx.b, ctx.b.fresh_name(f"{node.name or out}/reshape"), pooled, final, out)


def _concat(ctx: Lowering, node: onnx.NodeProto, out: str, out_q: QuantParams, clamp: Clamp) -> None:
    inputs = [ctx.float_input(node, name) for name in node.input]
    emit.concat(ctx.b, node.name, node_label(node), inputs, int(attributes(node)["axis"]), out, out_q)


def _pad_arguments(ctx: Lowering, node: onnx.NodeProto) -> tuple[list[int], str | float | None]:
    """(pads, constant value): the value as a float (opset < 11), its tensor name, or None (0)."""
    label = node_label(node)
    attrs = attributes(node)
    if attrs.get("mode", "constant") != "constant":
        raise ModelError(f"{label}: pad mode {attrs.get('mode')!r} is not supported; tinyc supports mode='constant'")
    if ctx.view.opset < 11:
        return list(attrs.get("pads", [])), float(attrs.get("value", 0.0))
    if len(node.input) > 3 and node.input[3]:
        raise ModelError(f"{label}: Pad with an axes input is not supported")
    if not ctx.view.is_constant(node.input[1]):
        raise ModelError(f"{label}: pads computed at run time are not supported")
    pads = [int(p) for p in ctx.view.constant(node.input[1]).reshape(-1)]
    return pads, node.input[2] if len(node.input) > 2 and node.input[2] else None


def _pad(ctx: Lowering, node: onnx.NodeProto, out: str, out_q: QuantParams, clamp: Clamp) -> None:
    x = ctx.float_input(node, node.input[0])
    pads, value = _pad_arguments(ctx, node)
    real = _real_scalar(ctx, node, value) if isinstance(value, str) else float(value or 0.0)
    emit.pad(ctx.b, node.name, node_label(node), x, pads, real, out, out_q)


def _is_uint8(ctx: Lowering, name: str) -> bool:
    """Whether the model holds activation `name` as uint8 bytes: its inferred type, or (the
    com.microsoft QLinear ops infer none) the zero point a node declares it with."""
    elem = ctx.view.elem_type(name)
    if elem is not None:
        return elem == UINT8
    for node in ctx.view.nodes:
        for tensor, _, zero_point in declarations(node):
            if tensor == name and zero_point and ctx.view.is_constant(zero_point):
                return ctx.view.constant(zero_point).dtype == np.uint8
    return False


def lower_pad_or_defer(ctx: Lowering, node: onnx.NodeProto) -> None:
    """Pad on an int8 tensor (tf2onnx's PAD; onnxruntime's QOperator models pad uint8 tensors so)
    pads with the raw byte constant (0 by default), in the input's quantization; otherwise it
    waits for its QuantizeLinear."""
    x = node.input[0]
    if x not in ctx.int8:
        defer(ctx, node)
        return
    pads, value = _pad_arguments(ctx, node)
    y, q = node.output[0], ctx.b.quant(ctx.int8[x])
    raw = 0
    if isinstance(value, str):
        if not ctx.view.is_constant(value):
            raise ModelError(f"{node_label(node)}: {value!r} is computed at run time; tinyc needs a constant pad value")
        raw = int(np.asarray(ctx.view.constant(value)).reshape(-1)[0])
    elif value:
        raise ModelError(f"{node_label(node)}: a float pad value on an int8 tensor is not valid ONNX")
    if _is_uint8(ctx, x):  # a uint8 byte (0 by default) in the int8 twin: 128 lower
        raw -= 128
    # The raw byte as the real value it stands for: emit.pad quantizes it back to exactly `raw`.
    ctx.int8[y] = emit.pad(ctx.b, node.name, node_label(node), ctx.int8[x], pads, (raw - q.zp) * q.s, y, q)


def lower_concat_or_defer(ctx: Lowering, node: onnx.NodeProto) -> None:
    """Concat of int8 tensors (tf2onnx's CONCATENATION of QuantizeLinear outputs) joins bytes
    that share one quantization (activations.py checks that); otherwise it waits."""
    if not node.input or not all(name in ctx.int8 for name in node.input):
        defer(ctx, node)
        return
    y = node.output[0]
    inputs = [ctx.int8[name] for name in node.input]
    ctx.int8[y] = emit.concat(ctx.b, node.name, node_label(node), inputs, int(attributes(node)["axis"]), y,
                              ctx.act_params(y))


def _elementwise(ctx: Lowering, node: onnx.NodeProto, out: str, out_q: QuantParams, clamp: Clamp) -> None:
    x = ctx.float_input(node, node.input[0])
    attrs: dict[str, float] = {}
    if node.op_type == "HardSigmoid":
        a = attributes(node)
        attrs = {"alpha": float(a.get("alpha", 0.2)), "beta": float(a.get("beta", 0.5))}
    elif node.op_type == "LeakyRelu":
        attrs = {"alpha": float(attributes(node).get("alpha", 0.01))}
    elif node.op_type == "Clip":
        low, high = _clip_bounds(ctx, node)
        attrs = {k: v for k, v in (("min", low), ("max", high)) if v is not None}
    emit.lut(ctx.b, node.name, node_label(node), LUT_FUNCTIONS[node.op_type], attrs, x, out, out_q)


FLOAT_LOWERINGS: dict[str, FloatLowering] = {
    "Conv": _conv,
    "MatMul": _matmul,
    "Gemm": _gemm,
    "Add": _binary,
    "Mul": _binary,
    "AveragePool": _avgpool,
    "GlobalAveragePool": _avgpool,
    "MaxPool": _maxpool,
    "Softmax": _softmax,
    "Concat": _concat,
    "Pad": _pad,
    "ReduceMean": _reduce_mean,
    **{op: _elementwise for op in LUT_FUNCTIONS},
}
