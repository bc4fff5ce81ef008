"""IR emission shared by the QDQ and QOperator lowerings.

Each function takes IR tensor names (already int8 activations or integer constants),
checks what tinyc supports, computes the output shape, and appends the IR node(s).
Where the IR needs equal quantization on both sides of an op (MaxPool, Concat inputs,
Pad) or a fixed output quantization (TFLite's Softmax), a requantize Lut is inserted.

The builder's semantics (frontend/semantics.py) picks the tables computed here: TFLite
Micro's integer kernels (quant/tflite_tables.py, TFLite's Quantize) for `tflite`, the float
formula rounded once (quant/lut.py, ONNX's DequantizeLinear -> f -> QuantizeLinear) for `onnx`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..errors import ModelError
from ..ir import ops
from ..ir.graph import DType, QuantParams
from ..quant.fixedpoint import ScaleRangeError
from ..quant import tflite_tables
from ..quant.lut import elementwise_table, requantize_table
from ..quant.params import activation_range, mean_requant, quantize_real
from . import shapes
from .builder import GraphBuilder
from .qparams import check_symmetric_weight

SOFTMAX_OUTPUT_Q = QuantParams.per_tensor(1.0 / 256.0, -128)
BIAS_SCALE_TOLERANCE = 0.02  # TFLite: |s_in * s_w - s_bias| / s_out <= 0.02


@dataclass(frozen=True)
class Clamp:
    """A fused Relu/Clip in real values (None = unbounded); folded into act_min/act_max."""

    low: float | None = None
    high: float | None = None

    def quantized(self, q: QuantParams) -> tuple[int, int]:
        return activation_range(q, self.low, self.high)


NO_CLAMP = Clamp()


@dataclass(frozen=True, eq=False)
class QConst:
    """An integer constant (weight or bias) and its quantization, from an ONNX initializer."""

    name: str
    data: np.ndarray
    quant: QuantParams


def _ints(values: Any, default: Sequence[int]) -> tuple[int, ...]:
    return tuple(int(v) for v in (values if values is not None else default))


def _window_ints(label: str, attrs: dict[str, Any], key: str, default: Sequence[int] | None = (1, 1)) -> tuple[int, ...]:
    """strides / dilations / kernel_shape of a 2-D window: two positive numbers (ONNX requires it;
    a 0 would divide by zero, a wrong count would index past the list)."""
    if key not in attrs and default is None:
        raise ModelError(f"{label}: the {key} attribute is missing; it must be 2 positive integers")
    values = _ints(attrs.get(key), default or ())
    if len(values) != 2 or any(v < 1 for v in values):
        raise ModelError(f"{label}: {key} {list(values)} must be 2 positive integers (one per spatial axis)")
    return values


def requantize(b: GraphBuilder, base_name: str, src: str, out: str, out_q: QuantParams) -> str:
    """Lut "requantize" from src's quantization to out_q: TFLite's int8 -> int8 Quantize, or
    under ONNX semantics QuantizeLinear(DequantizeLinear(x)) in float32, as onnxruntime runs it."""
    try:
        if b.semantics == ops.ONNX:
            table = elementwise_table("identity", {}, b.quant(src), out_q)
        else:
            table = requantize_table(b.quant(src), out_q)
    except ScaleRangeError as exc:
        raise ModelError(f"cannot requantize tensor {src!r} (scale {b.quant(src).s!r}) to {out!r} (scale {out_q.s!r}): "
                         f"{exc}; {exc.advice}") from None
    b.activation(out, b.shape(src), out_q)
    b.node(b.fresh_name(f"{base_name}/requantize"), ops.Lut(table=table, function="requantize"), (src,), (out,))
    return out


def requantized_to(b: GraphBuilder, base_name: str, src: str, target_q: QuantParams) -> str:
    """`src` itself if it already has target_q, else a fresh requantized copy."""
    if b.quant(src) == target_q:
        return src
    return requantize(b, base_name, src, b.fresh_name(f"{src}/requantized"), target_q)


def _weight_for_conv(label: str, w: QConst, out_channels: int, allow_tensor_zero_point: bool = False) -> None:
    """allow_tensor_zero_point: fully connected kernels subtract one weight zero point
    (TFLite's filter_offset); convolutions, like TFLite's, need symmetric weights."""
    if w.data.dtype != np.int8:
        raise ModelError(f"{label}: weight {w.name!r} is {w.data.dtype}; tinyc supports int8 weights")
    if not (allow_tensor_zero_point and w.quant.is_per_tensor):
        check_symmetric_weight(label, w.name, w.quant)
    if not w.quant.is_per_tensor and (w.quant.axis != 0 or len(w.quant.scale) != out_channels):
        raise ModelError(
            f"{label}: weight {w.name!r} is quantized per channel along axis {w.quant.axis}; tinyc supports "
            "per-tensor or per-output-channel (axis 0 of the [out, in, kh, kw] / [out, in] weight) quantization"
        )


def _bias(b: GraphBuilder, label: str, bias: QConst | None, in_q: QuantParams, w_q: QuantParams,
          out_q: QuantParams, channels: int) -> str:
    if bias is None:
        return ""
    if bias.data.dtype != np.int32:
        raise ModelError(f"{label}: bias {bias.name!r} is {bias.data.dtype}; tinyc needs int32 biases (scale s_in * s_w)")
    if bias.data.size != channels:
        raise ModelError(f"{label}: bias {bias.name!r} has {bias.data.size} values for {channels} output channels")
    if any(z != 0 for z in bias.quant.zero_point):
        raise ModelError(f"{label}: bias {bias.name!r} has a nonzero zero point; tinyc needs zero point 0")
    bias_scales = bias.quant.scale if len(bias.quant.scale) == channels else bias.quant.scale * channels
    weight_scales = w_q.scale if len(w_q.scale) == channels else w_q.scale * channels
    for c, (s_b, s_w) in enumerate(zip(bias_scales, weight_scales)):
        product = float(in_q.s) * float(s_w)
        if abs(product - float(s_b)) / float(out_q.s) > BIAS_SCALE_TOLERANCE:
            raise ModelError(
                f"{label}: bias {bias.name!r} channel {c} has scale {s_b!r} but input scale x weight scale is "
                f"{product!r} (they differ by {abs(product - float(s_b)) / float(out_q.s):.3g} x the output scale "
                f"{float(out_q.s)!r}, TFLite allows {BIAS_SCALE_TOLERANCE}); tinyc (like TFLite) needs the bias "
                "scale to be s_in * s_w"
            )
    quant = bias.quant if bias.quant.is_per_tensor else QuantParams(tuple(bias.quant.scale), (0,) * channels, 0)
    return b.constant(bias.name, bias.data.reshape(channels).astype(np.int32), DType.INT32, quant)


def conv2d(b: GraphBuilder, name: str, label: str, x: str, w: QConst, bias: QConst | None, attrs: dict[str, Any],
           out: str, out_q: QuantParams, clamp: Clamp) -> str:
    x_shape = b.shape(x)
    if len(x_shape) != 4 or w.data.ndim != 4:
        raise ModelError(f"{label}: only 2-D convolution on [N, C, H, W] tensors is supported (input {list(x_shape)})")
    groups = int(attrs.get("group", 1))
    out_channels, per_group, kh, kw = (int(d) for d in w.data.shape)
    if per_group * groups != x_shape[1] or out_channels % groups:
        raise ModelError(f"{label}: weight {list(w.data.shape)} with group={groups} does not fit input channels {x_shape[1]}")
    if "kernel_shape" in attrs and tuple(attrs["kernel_shape"]) != (kh, kw):
        raise ModelError(f"{label}: kernel_shape {list(attrs['kernel_shape'])} differs from the weight's {[kh, kw]}")
    _weight_for_conv(label, w, out_channels)
    strides = _window_ints(label, attrs, "strides")
    dilations = _window_ints(label, attrs, "dilations")
    try:
        pads = shapes.resolve_pads(attrs.get("auto_pad", "NOTSET"), attrs.get("pads"), x_shape[2:], (kh, kw), strides, dilations)
        oh = shapes.window_output(x_shape[2], kh, strides[0], dilations[0], pads[0], pads[2], False)
        ow = shapes.window_output(x_shape[3], kw, strides[1], dilations[1], pads[1], pads[3], False)
    except ValueError as exc:
        raise ModelError(f"{label}: {exc}") from None
    in_q = b.quant(x)
    w_name = b.constant(w.name, w.data, DType.INT8, w.quant)
    bias_name = _bias(b, label, bias, in_q, w.quant, out_q, out_channels)
    act_min, act_max = clamp.quantized(out_q)
    b.activation(out, (x_shape[0], out_channels, oh, ow), out_q)
    b.node(name, ops.Conv2d(strides=strides, dilations=dilations, pads=shapes.onnx_to_ir_pads(pads), groups=groups,
                            act_min=act_min, act_max=act_max), (x, w_name, bias_name), (out,))
    return out


def fc_weight(label: str, w: QConst, trans_b: bool) -> QConst:
    """An ONNX MatMul/Gemm weight as the IR's out-major [M, K] (TFLite's layout)."""
    if w.data.ndim != 2:
        raise ModelError(f"{label}: weight {w.name!r} must be 2-D, got {list(w.data.shape)}")
    if trans_b:
        return w
    quant = w.quant
    if not quant.is_per_tensor:
        if quant.axis != 1:
            raise ModelError(
                f"{label}: weight {w.name!r} [K, M] is quantized per channel along K (axis 0); tinyc supports "
                "per-tensor or per-output-channel (axis 1 of a [K, M] MatMul weight) quantization"
            )
        quant = QuantParams(quant.scale, quant.zero_point, 0)
    return QConst(w.name, np.ascontiguousarray(w.data.T), quant)


def fully_connected(b: GraphBuilder, name: str, label: str, x: str, w_mk: QConst, bias: QConst | None,
                    out: str, out_q: QuantParams, clamp: Clamp) -> str:
    """x [N, K] times w [M, K] (already out-major) plus bias [M]."""
    x_shape = b.shape(x)
    if len(x_shape) != 2:
        raise ModelError(f"{label}: fully connected input must be 2-D [N, K], got {list(x_shape)}")
    m, k = (int(d) for d in w_mk.data.shape)
    if k != x_shape[1]:
        raise ModelError(f"{label}: weight [{m}, {k}] (out-major) does not fit input {list(x_shape)}")
    _weight_for_conv(label, w_mk, m, allow_tensor_zero_point=True)
    in_q = b.quant(x)
    w_name = b.constant(w_mk.name, w_mk.data, DType.INT8, w_mk.quant)
    bias_name = _bias(b, label, bias, in_q, w_mk.quant, out_q, m)
    act_min, act_max = clamp.quantized(out_q)
    b.activation(out, (x_shape[0], m), out_q)
    b.node(name, ops.FullyConnected(act_min=act_min, act_max=act_max), (x, w_name, bias_name), (out,))
    return out


def binary(b: GraphBuilder, kind: str, name: str, label: str, a: str, c: str, out: str, out_q: QuantParams,
           clamp: Clamp) -> str:
    try:
        shape = shapes.broadcast(b.shape(a), b.shape(c))
    except ValueError as exc:
        raise ModelError(f"{label}: {exc}") from None
    act_min, act_max = clamp.quantized(out_q)
    attrs = ops.Add(act_min=act_min, act_max=act_max) if kind == "Add" else ops.Mul(act_min=act_min, act_max=act_max)
    b.activation(out, shape, out_q)
    b.node(name, attrs, (a, c), (out,))
    return out


def _pool_geometry(label: str, x_shape: tuple[int, ...], attrs: dict[str, Any], global_pool: bool):
    if len(x_shape) != 4:
        raise ModelError(f"{label}: only 2-D pooling on [N, C, H, W] tensors is supported (input {list(x_shape)})")
    if global_pool:
        return (x_shape[2], x_shape[3]), (1, 1), (0, 0, 0, 0), (1, 1)
    kernel = _window_ints(label, attrs, "kernel_shape", None)
    dilations = _window_ints(label, attrs, "dilations")
    if dilations != (1, 1):
        raise ModelError(f"{label}: dilations {list(dilations)} on pooling are not supported; tinyc supports dilations 1 on pools")
    if int(attrs.get("storage_order", 0)) != 0:
        raise ModelError(f"{label}: storage_order=1 is not supported")
    strides = _window_ints(label, attrs, "strides")
    ceil_mode = bool(attrs.get("ceil_mode", 0))
    try:
        pads = shapes.resolve_pads(attrs.get("auto_pad", "NOTSET"), attrs.get("pads"), x_shape[2:], kernel, strides, (1, 1))
        oh = shapes.window_output(x_shape[2], kernel[0], strides[0], 1, pads[0], pads[2], ceil_mode)
        ow = shapes.window_output(x_shape[3], kernel[1], strides[1], 1, pads[1], pads[3], ceil_mode)
    except ValueError as exc:
        raise ModelError(f"{label}: {exc}") from None
    return kernel, strides, pads, (oh, ow)


def average_pool(b: GraphBuilder, name: str, label: str, x: str, attrs: dict[str, Any], out: str,
                 out_q: QuantParams, clamp: Clamp, global_pool: bool = False) -> str:
    x_shape = b.shape(x)
    kernel, strides, pads, (oh, ow) = _pool_geometry(label, x_shape, attrs, global_pool)
    act_min, act_max = clamp.quantized(out_q)
    b.activation(out, (x_shape[0], x_shape[1], oh, ow), out_q)
    b.node(name, ops.AveragePool2d(kernel=tuple(kernel), strides=tuple(strides), pads=shapes.onnx_to_ir_pads(pads),
                                   count_include_pad=bool(attrs.get("count_include_pad", 0)),
                                   act_min=act_min, act_max=act_max), (x,), (out,))
    return out


def max_pool(b: GraphBuilder, name: str, label: str, x: str, attrs: dict[str, Any], out: str,
             out_q: QuantParams, clamp: Clamp) -> str:
    """MaxPool runs in its input's quantization; a different output quantization is a Lut after it
    (after, not before: the pooled tensor is the smaller one, so the table runs on fewer values)."""
    x_shape = b.shape(x)
    kernel, strides, pads, (oh, ow) = _pool_geometry(label, x_shape, attrs, False)
    in_q = b.quant(x)
    target = out if in_q == out_q else b.fresh_name(f"{out}/maxpool")
    act_min, act_max = clamp.quantized(in_q)
    b.activation(target, (x_shape[0], x_shape[1], oh, ow), in_q)
    b.node(name, ops.MaxPool2d(kernel=tuple(kernel), strides=tuple(strides), pads=shapes.onnx_to_ir_pads(pads),
                               act_min=act_min, act_max=act_max), (x,), (target,))
    if target != out:
        requantize(b, name, target, out, out_q)
    return out


def softmax(b: GraphBuilder, name: str, label: str, x: str, axis: int, opset: int, out: str, out_q: QuantParams) -> str:
    """The IR's Softmax runs over the last axis. Over another axis (tf2onnx's SOFTMAX on an NCHW
    tensor next to its layout Transpose, axis=1) the axis is moved last by a Transpose and back
    after; the layout pass cancels such Transposes against the tensors' NHWC storage."""
    rank = len(b.shape(x))
    if not -rank <= axis < rank:
        raise ModelError(f"{label}: softmax over axis {axis} of a rank-{rank} tensor is out of range")
    axis %= rank
    if axis != rank - 1 and opset < 13:
        # Before opset 13 Softmax flattens from `axis` on; for the last axis both definitions agree.
        raise ModelError(f"{label}: opset-{opset} softmax over axis {axis} of a rank-{rank} tensor (a softmax over "
                         "the flattened trailing axes); tinyc supports the last axis, or any single axis from opset 13")
    perm = tuple(i for i in range(rank) if i != axis) + (axis,)
    source = x if axis == rank - 1 else transpose(b, f"{name}/to_last", x, perm, b.fresh_name(f"{out}/axis_last"))
    moved = source != x
    # TFLite's softmax writes (1/256, -128) and a requantize Lut follows for another output
    # quantization; ONNX's (quantized once from the float softmax) writes the model's own.
    softmax_q = out_q if b.semantics == ops.ONNX else SOFTMAX_OUTPUT_Q
    target = out if out_q == softmax_q and not moved else b.fresh_name(f"{out}/softmax")
    b.activation(target, b.shape(source), softmax_q)
    b.node(name, ops.Softmax(beta=1.0), (source,), (target,))
    if moved:
        inverse = tuple(int(i) for i in np.argsort(perm))
        back = out if out_q == softmax_q else b.fresh_name(f"{out}/softmax_back")
        target = transpose(b, f"{name}/from_last", target, inverse, back)
    if target != out:
        requantize(b, name, target, out, out_q)
    return out


def spatial_mean(b: GraphBuilder, name: str, label: str, x: str, out: str, out_q: QuantParams) -> str:
    """The mean over H and W of NCHW `x` into [N, C, 1, 1] `out`, as TFLite Micro computes MEAN
    (and tf2onnx's ReduceMean of it): a depthwise Conv2d of ones, whose accumulator is the sum of
    the centred inputs, with TFLite's multiplier fixed on the node (quant/params.py mean_requant:
    divided by the element count and, below 2^30, left unnormalised as TFLite Micro leaves it)."""
    n, c, h, w = b.shape(x)
    try:
        fixed = mean_requant(b.quant(x), out_q, h * w)
    except ScaleRangeError as exc:
        raise ModelError(f"{label}: {exc}; {exc.advice}") from None
    # Weight scale 1/(H*W): the conv's real arithmetic is the mean (the multiplier is fixed anyway).
    ones = b.constant(b.fresh_name(f"{name}/ones"), np.ones((c, 1, h, w), np.int8), DType.INT8,
                      QuantParams.per_tensor(1.0 / (h * w), 0))
    b.activation(out, (n, c, 1, 1), out_q)
    b.node(name, ops.Conv2d(groups=c, fixed_requant=fixed), (x, ones, ""), (out,))
    return out


def onnx_spatial_mean(b: GraphBuilder, name: str, x: str, mean_of: str, out: str, out_q: QuantParams) -> str:
    """The mean over H and W of NCHW `x` into [N, C, 1, 1] `out` as onnxruntime computes a QDQ
    ReduceMean (ONNX semantics): a whole-plane AveragePool2d that names the ONNX layout the mean
    was written in (`mean_of`, ops.MEAN_NCHW or MEAN_NHWC), which decides onnxruntime's float32
    summation order (quant/ort_reduce.py)."""
    n, c, h, w = b.shape(x)
    b.activation(out, (n, c, 1, 1), out_q)
    b.node(name, ops.AveragePool2d(kernel=(h, w), mean_of=mean_of), (x,), (out,))
    return out


def concat(b: GraphBuilder, name: str, label: str, inputs: Sequence[str], axis: int, out: str, out_q: QuantParams) -> str:
    in_shapes = [b.shape(x) for x in inputs]
    rank = len(in_shapes[0])
    if not -rank <= axis < rank:
        raise ModelError(f"{label}: axis {axis} is out of range for rank {rank}")
    axis %= rank
    for s in in_shapes:
        if len(s) != rank or any(s[i] != in_shapes[0][i] for i in range(rank) if i != axis):
            raise ModelError(f"{label}: inputs {[list(s) for s in in_shapes]} cannot be concatenated on axis {axis}")
    shape = list(in_shapes[0])
    shape[axis] = sum(s[axis] for s in in_shapes)
    # The IR's Concat copies bytes, so every input must already be in the output's quantization.
    same = tuple(requantized_to(b, name, x, out_q) for x in inputs)
    b.activation(out, tuple(shape), out_q)
    b.node(name, ops.Concat(axis=axis), same, (out,))
    return out


def pad(b: GraphBuilder, name: str, label: str, x: str, pads: Sequence[int], value: float, out: str, out_q: QuantParams) -> str:
    x_shape = b.shape(x)
    rank = len(x_shape)
    if len(pads) != 2 * rank or any(p < 0 for p in pads):
        raise ModelError(f"{label}: pads {list(pads)} must be {2 * rank} non-negative numbers")
    q_value = quantize_real(value, out_q)
    if not -128 <= q_value <= 127:
        raise ModelError(f"{label}: the pad value {value} is outside the int8 range of the output")
    src = requantized_to(b, name, x, out_q)
    shape = tuple(d + pads[i] + pads[i + rank] for i, d in enumerate(x_shape))
    b.activation(out, shape, out_q)
    b.node(name, ops.Pad(pads=tuple(int(p) for p in pads), value=q_value), (src,), (out,))
    return out


def _tflite_table(function: str, attrs: dict[str, float], in_q: QuantParams,
                  out_q: QuantParams) -> tuple[int, ...] | None:
    """TFLite Micro's integer kernel for `function` as a table, where TFLite defines one for these
    quantizations (LOGISTIC and TANH only write their fixed output quantization); else None."""
    if function == "leakyrelu":
        try:
            return tflite_tables.leaky_relu_table(in_q, out_q, attrs.get("alpha", 0.01))
        except ScaleRangeError:
            return None  # a negative alpha, which TFLite's LEAKY_RELU rejects: the float definition
    if function == "sigmoid" and out_q == SOFTMAX_OUTPUT_Q:
        return tflite_tables.logistic_table(in_q)
    if function == "tanh" and out_q == QuantParams.per_tensor(1.0 / 128.0, 0):
        return tflite_tables.tanh_table(in_q)
    if function == "hardswish":
        try:
            return tflite_tables.hard_swish_table(in_q, out_q)
        except ScaleRangeError:
            return None  # an output scale TFLite's HARD_SWISH rejects: the float definition it is
    return None


def lut(b: GraphBuilder, name: str, label: str, function: str, attrs: dict[str, float], x: str, out: str,
        out_q: QuantParams) -> str:
    """An elementwise function as a table: TFLite's integer kernel for a TFLite-born model (tf2onnx
    writes LOGISTIC, TANH, HARD_SWISH, LEAKY_RELU as these ONNX ops), else ONNX's float formula
    rounded once."""
    table = _tflite_table(function, attrs, b.quant(x), out_q) if b.semantics == ops.TFLITE else None
    if table is None:
        table = elementwise_table(function, attrs, b.quant(x), out_q)
    b.activation(out, b.shape(x), out_q)
    b.node(name, ops.Lut(table=table, function=function), (x,), (out,))
    return out


def reshape(b: GraphBuilder, name: str, x: str, shape: tuple[int, ...], out: str) -> str:
    b.activation(out, shape, b.quant(x))
    b.node(name, ops.Reshape(), (x,), (out,))
    return out


def transpose(b: GraphBuilder, name: str, x: str, perm: tuple[int, ...], out: str) -> str:
    _, shape = shapes.transpose(b.shape(x), perm)
    b.activation(out, shape, b.quant(x))
    b.node(name, ops.Transpose(perm=tuple(perm)), (x,), (out,))
    return out
