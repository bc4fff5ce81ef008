"""CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED: TFLite weights -> the IR's Conv2d / FullyConnected.

Weight layouts: CONV_2D [O, KH, KW, I] and DEPTHWISE_CONV_2D [1, KH, KW, C*M] become the IR's
[O, I/groups, KH, KW]; FULLY_CONNECTED [M, K] is already the IR's out-major layout. The
arithmetic is the one the ONNX frontend emits for tf2onnx models (quant/params.py follows
TFLite Micro's Prepare), so the op is emitted through the same emit functions. The bias's
own quantization is not read: TFLite Micro never reads it (person_detect.tflite's biases
carry a malformed quantized_dimension), and the IR records the scale TFLite implies,
s_in * s_w[c].
"""

from __future__ import annotations

import numpy as np

from ...ir.graph import QuantParams
from .. import emit
from ..emit import NO_CLAMP, Clamp, QConst
from .context import NCHW, NHWC, Context
from .reader import TfOperator
from .schema import ACTIVATIONS, PADDINGS

_CLAMPS = {"NONE": NO_CLAMP, "RELU": Clamp(0.0, None), "RELU6": Clamp(0.0, 6.0), "RELU_N1_TO_1": Clamp(-1.0, 1.0)}


def fused_clamp(ctx: Context, op: TfOperator) -> Clamp:
    code = int(op.options.get("FusedActivationFunction", 0))
    name = ACTIVATIONS.get(code, f"code {code}")
    if name not in _CLAMPS:
        raise ctx.error(op, f"fused activation {name} is not supported; tinyc fuses NONE, RELU, RELU6 and RELU_N1_TO_1")
    return _CLAMPS[name]


def same_or_valid_pads(ctx: Context, op: TfOperator, spatial: tuple[int, int], kernel: tuple[int, int],
                       strides: tuple[int, int], dilations: tuple[int, int]) -> list[int]:
    """ONNX-order pads [top, left, bottom, right] of TFLite's SAME / VALID (ComputePaddingHeightWidth)."""
    padding = PADDINGS.get(int(op.options.get("Padding", 0)))
    if padding not in ("SAME", "VALID"):
        raise ctx.error(op, f"padding code {op.options.get('Padding')} is neither SAME nor VALID")
    for size, k, d in zip(spatial, kernel, dilations):
        # SAME pads grow with the window; a window far larger than the image is a corrupt field,
        # refused before it turns into millions of padding cells.
        if (k - 1) * d + 1 > 2 * size + 1:
            raise ctx.error(op, f"its {k}-wide window (dilation {d}) is far larger than the {size}-wide input")
    begins, ends = [], []
    for size, k, s, d in zip(spatial, kernel, strides, dilations):
        if padding == "VALID":
            begins.append(0)
            ends.append(0)
            continue
        effective = (k - 1) * d + 1
        out = (size + s - 1) // s
        total = max((out - 1) * s + effective - size, 0)
        begins.append(total // 2)
        ends.append(total - total // 2)
    return begins + ends


def _window(ctx: Context, op: TfOperator) -> tuple[tuple[int, int], tuple[int, int]]:
    strides = (int(op.options.get("StrideH", 0)), int(op.options.get("StrideW", 0)))
    dilations = (int(op.options.get("DilationHFactor", 1)), int(op.options.get("DilationWFactor", 1)))
    if min(strides) < 1 or min(dilations) < 1:
        raise ctx.error(op, f"strides {list(strides)} and dilations {list(dilations)} must be positive")
    return strides, dilations


def _weight_quant(ctx: Context, op: TfOperator, index: int, channels: int, channel_axis: int) -> QuantParams:
    t = ctx.tensor(index)
    if t.dtype != "int8":
        raise ctx.error(op, f"weight {ctx.tensor_label(index)} is {t.dtype}; tinyc supports int8 weights")
    if t.quant is None:
        raise ctx.error(op, f"weight {ctx.tensor_label(index)} has no quantization parameters (a float model?)")
    scales = t.quant.scale
    zps = t.quant.zero_point or (0,) * len(scales)
    if len(scales) == 1:
        return QuantParams((float(scales[0]),), (int(zps[0]),))
    if len(scales) != channels or t.quant.quantized_dimension != channel_axis:
        raise ctx.error(op, f"weight {ctx.tensor_label(index)} has {len(scales)} scales along dimension "
                            f"{t.quant.quantized_dimension}; tinyc needs one per output channel (dimension {channel_axis}, "
                            f"{channels} channels) or one per tensor")
    return QuantParams(tuple(float(s) for s in scales), tuple(int(z) for z in zps), 0)


def _bias(ctx: Context, op: TfOperator, in_q: QuantParams, w_q: QuantParams, channels: int) -> QConst | None:
    index = ctx.optional_input(op, 2)
    if index is None:
        return None
    t = ctx.constant(op, index, "bias")
    if t.dtype != "int32":
        raise ctx.error(op, f"bias {ctx.tensor_label(index)} is {t.dtype}; tinyc supports int32 biases (int64 biases "
                            "belong to int16 activations)")
    if t.data.size != channels:
        raise ctx.error(op, f"bias {ctx.tensor_label(index)} has {t.data.size} values for {channels} output channels")
    scales = tuple(float(np.float32(in_q.s) * np.float32(s)) for s in w_q.scale)
    quant = QuantParams(scales, (0,) * len(scales), None if len(scales) == 1 else 0)
    return QConst(ctx.names[index], t.data.reshape(channels), quant)


def conv_2d(ctx: Context, op: TfOperator) -> None:
    ctx.expect_arity(op, (2, 3))
    x_index, w_index = ctx.input_index(op, 0), ctx.input_index(op, 1, "filter")
    depthwise = op.opcode == "DEPTHWISE_CONV_2D"
    x = ctx.activation(op, x_index, NCHW)
    in_q = ctx.quant(op, x_index)
    n, c, h, w = ctx.b.shape(x)
    filt = ctx.constant(op, w_index, "filter")
    if filt.data.ndim != 4:
        raise ctx.error(op, f"filter {ctx.tensor_label(w_index)} has shape {list(filt.shape)}; expected 4-D")
    if depthwise:
        one, kh, kw, out_ch = filt.shape
        if one != 1 or out_ch % c:
            raise ctx.error(op, f"depthwise filter {list(filt.shape)} does not fit {c} input channels")
        data = np.ascontiguousarray(np.transpose(filt.data, (3, 0, 1, 2)))  # [C*M, 1, KH, KW]
        groups, w_q = c, _weight_quant(ctx, op, w_index, out_ch, 3)
    else:
        out_ch, kh, kw, per_group = filt.shape
        if c % per_group or out_ch % (c // per_group):
            raise ctx.error(op, f"filter {list(filt.shape)} does not fit {c} input channels")
        data = np.ascontiguousarray(np.transpose(filt.data, (0, 3, 1, 2)))  # [O, I, KH, KW]
        groups, w_q = c // per_group, _weight_quant(ctx, op, w_index, out_ch, 0)
    strides, dilations = _window(ctx, op)
    pads = same_or_valid_pads(ctx, op, (h, w), (kh, kw), strides, dilations)
    out_index, out, out_q = ctx.output(op)
    weight = QConst(ctx.names[w_index], data, w_q)
    attrs = {"group": groups, "strides": list(strides), "dilations": list(dilations), "pads": pads}
    emit.conv2d(ctx.b, ctx.node_name(op), op.label, x, weight, _bias(ctx, op, in_q, w_q, out_ch), attrs, out, out_q,
                fused_clamp(ctx, op))
    ctx.define(op, out_index, out, NCHW)


def fully_connected(ctx: Context, op: TfOperator) -> None:
    ctx.expect_arity(op, (2, 3))
    if int(op.options.get("WeightsFormat", 0)) != 0:
        raise ctx.error(op, "shuffled weights (weights_format SHUFFLED4x16INT8) are not supported")
    x_index, w_index = ctx.input_index(op, 0), ctx.input_index(op, 1, "weights")
    filt = ctx.constant(op, w_index, "weights")
    if filt.data.ndim != 2:
        raise ctx.error(op, f"weights {ctx.tensor_label(w_index)} have shape {list(filt.shape)}; expected [M, K]")
    m, k = filt.shape
    x = ctx.activation(op, x_index, NHWC)
    in_q = ctx.quant(op, x_index)
    size = ctx.elements(x_index)
    if size % k:
        raise ctx.error(op, f"input {ctx.tensor_label(x_index)} of {size} elements is not a multiple of K = {k}")
    if ctx.b.shape(x) != (size // k, k):  # TFLite flattens any input to [size / K, K]
        flat = ctx.b.fresh_name(f"{ctx.names[x_index]}/flat")
        emit.reshape(ctx.b, ctx.b.fresh_name(f"{ctx.node_name(op)}/flatten"), x, (size // k, k), flat)
        x = flat
    w_q = _weight_quant(ctx, op, w_index, m, 0)
    out_index, out, out_q = ctx.output(op)
    declared = ctx.tensor(out_index).shape
    target = out if declared == (size // k, m) else ctx.b.fresh_name(f"{out}/2d")
    emit.fully_connected(ctx.b, ctx.node_name(op), op.label, x, QConst(ctx.names[w_index], filt.data, w_q),
                         _bias(ctx, op, in_q, w_q, m), target, out_q, fused_clamp(ctx, op))
    if target != out:  # keep_num_dims, or a declared [1, 1, M]
        if int(np.prod(declared)) != (size // k) * m:
            raise ctx.error(op, f"output {ctx.tensor_label(out_index)} is declared {list(declared)} but the product "
                                f"is [{size // k}, {m}]")
        emit.reshape(ctx.b, ctx.b.fresh_name(f"{ctx.node_name(op)}/unflatten"), target, tuple(declared), out)
    ctx.define(op, out_index, out, NHWC)
