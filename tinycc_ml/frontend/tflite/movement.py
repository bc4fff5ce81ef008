"""Pools, MEAN, SOFTMAX and the data-movement operators.

TFLite Micro runs the pools, CONCATENATION, PAD, RESHAPE, SQUEEZE and TRANSPOSE on the raw
int8 values and never looks at a difference between the input's and the output's
quantization parameters (the converter makes them equal). The IR ops need equal parameters
on both sides, so where a model declares different ones the result is reinterpreted by an
identity Lut (Context.reinterpret): the same bytes as TFLite Micro's.
"""

from __future__ import annotations

from ...ir import ops
from ...ir.graph import QuantParams
from ...quant.fixedpoint import ScaleRangeError
from ...quant.params import softmax_params
from .. import emit
from .context import NCHW, NHWC, NHWC_AXIS_IN_NCHW, TO_NCHW, Context
from .conv import fused_clamp, same_or_valid_pads
from .reader import TfOperator

SOFTMAX_Q = QuantParams.per_tensor(1.0 / 256.0, -128)


def pool_2d(ctx: Context, op: TfOperator) -> None:
    ctx.expect_arity(op, 1)
    x_index = ctx.input_index(op, 0)
    x = ctx.activation(op, x_index, NCHW)
    in_q = ctx.quant(op, x_index)
    n, c, h, w = ctx.b.shape(x)
    kernel = (int(op.options.get("FilterHeight", 0)), int(op.options.get("FilterWidth", 0)))
    strides = (int(op.options.get("StrideH", 0)), int(op.options.get("StrideW", 0)))
    if min(kernel) < 1 or min(strides) < 1:
        raise ctx.error(op, f"filter {list(kernel)} and strides {list(strides)} must be positive")
    top, left, bottom, right = same_or_valid_pads(ctx, op, (h, w), kernel, strides, (1, 1))
    oh, ow = (h + top + bottom - kernel[0]) // strides[0] + 1, (w + left + right - kernel[1]) // strides[1] + 1
    if oh < 1 or ow < 1:
        raise ctx.error(op, f"the {list(kernel)} window does not fit the {h}x{w} input")
    out_index, out, out_q = ctx.output(op)
    if abs(in_q.s - out_q.s) > 1e-6 * in_q.s or in_q.zp != out_q.zp:  # TFLite Micro's Prepare refuses these
        raise ctx.error(op, f"input quantization {in_q} and output quantization {out_q} differ; TFLite's int8 "
                            "pooling needs them equal")
    # TFLite clamps the raw values to the fused activation's range in the output's parameters.
    act_min, act_max = fused_clamp(ctx, op).quantized(out_q)
    target = out if in_q == out_q else ctx.b.fresh_name(f"{out}/raw")
    ctx.b.activation(target, (n, c, oh, ow), in_q)
    pads = (top, left, bottom, right)
    if op.opcode == "AVERAGE_POOL_2D":
        attrs: ops.OpAttrs = ops.AveragePool2d(kernel=kernel, strides=strides, pads=pads, act_min=act_min,
                                               act_max=act_max)
    else:
        attrs = ops.MaxPool2d(kernel=kernel, strides=strides, pads=pads, act_min=act_min, act_max=act_max)
    ctx.b.node(ctx.node_name(op), attrs, (x,), (target,))
    if target != out:
        ctx.reinterpret(op, target, out_q, out)
    ctx.define(op, out_index, out, NCHW)


def mean(ctx: Context, op: TfOperator) -> None:
    """MEAN over H and W of a 4-D tensor: emit.spatial_mean (a depthwise Conv2d of ones carrying
    TFLite Micro's multiplier, QuantizedMeanOrSum's arithmetic), + a Reshape without keep_dims."""
    ctx.expect_arity(op, 2)
    x_index = ctx.input_index(op, 0)
    if len(ctx.tensor(x_index).shape) != 4:
        raise ctx.error(op, "MEAN is supported over the spatial axes of a 4-D [N, H, W, C] tensor only")
    axes = sorted({a % 4 for a in ctx.int_list(op, ctx.input_index(op, 1, "axis"), "axis")})
    if axes != [1, 2]:
        raise ctx.error(op, f"MEAN over axes {axes}; tinyc supports the spatial mean (axes [1, 2]) of a 4-D tensor")
    x = ctx.activation(op, x_index, NCHW)
    n, c, _, _ = ctx.b.shape(x)
    out_index, out, out_q = ctx.output(op)
    keep = bool(op.options.get("KeepDims", False))
    pooled = out if keep else ctx.b.fresh_name(f"{out}/pooled")
    emit.spatial_mean(ctx.b, ctx.node_name(op), op.label, x, pooled, out_q)
    if keep:
        ctx.define(op, out_index, out, NCHW)
        return
    ctx.b.activation(out, (n, c), out_q)
    ctx.b.node(ctx.b.fresh_name(f"{ctx.node_name(op)}/squeeze"), ops.Reshape(), (pooled,), (out,))
    ctx.define(op, out_index, out, NHWC)


def softmax(ctx: Context, op: TfOperator) -> None:
    ctx.expect_arity(op, 1)
    x_index = ctx.input_index(op, 0)
    x = ctx.activation(op, x_index, NHWC)  # over the last TFLite axis
    beta = float(op.options.get("Beta", 0.0))
    out_index, out, out_q = ctx.output(op)
    if out_q.zp != -128:
        raise ctx.error(op, f"output {ctx.tensor_label(out_index)} has zero point {out_q.zp}; TFLite's int8 softmax "
                            "writes scale 1/256, zero point -128")
    try:
        softmax_params(ctx.quant(op, x_index), beta)
    except ScaleRangeError as exc:
        raise ctx.error(op, str(exc)) from None
    target = out if out_q == SOFTMAX_Q else ctx.b.fresh_name(f"{out}/softmax")
    ctx.b.activation(target, ctx.b.shape(x), SOFTMAX_Q)
    ctx.b.node(ctx.node_name(op), ops.Softmax(beta=beta), (x,), (target,))
    if target != out:
        ctx.reinterpret(op, target, out_q, out)
    ctx.define(op, out_index, out, NHWC)


def reshape(ctx: Context, op: TfOperator) -> None:
    """RESHAPE / SQUEEZE: the declared output shape, same elements in TFLite's order."""
    if not op.inputs or len(op.outputs) != 1:
        raise ctx.error(op, f"has {len(op.inputs)} inputs and {len(op.outputs)} outputs")
    x_index = ctx.input_index(op, 0)
    x = ctx.activation(op, x_index, NHWC)
    out_index, out, out_q = ctx.output(op)
    if ctx.elements(out_index) != ctx.elements(x_index):
        raise ctx.error(op, f"output {ctx.tensor_label(out_index)} {list(ctx.tensor(out_index).shape)} does not hold "
                            f"the {ctx.elements(x_index)} elements of its input")
    target = out if ctx.b.quant(x) == out_q else ctx.b.fresh_name(f"{out}/reshaped")
    ctx.b.activation(target, ctx.tensor(out_index).shape, ctx.b.quant(x))
    ctx.b.node(ctx.node_name(op), ops.Reshape(), (x,), (target,))
    if target != out:
        ctx.reinterpret(op, target, out_q, out)
    ctx.define(op, out_index, out, NHWC)


def transpose(ctx: Context, op: TfOperator) -> None:
    ctx.expect_arity(op, 2)
    x_index = ctx.input_index(op, 0)
    rank = len(ctx.tensor(x_index).shape)
    perm = [p % rank if -rank <= p < rank else -1 for p in ctx.int_list(op, ctx.input_index(op, 1, "perm"), "perm")]
    if sorted(perm) != list(range(rank)):
        raise ctx.error(op, f"perm {perm} is not a permutation of {rank} axes")
    x = ctx.activation(op, x_index, NHWC)
    out_index, out, out_q = ctx.output(op)
    shape = tuple(ctx.tensor(x_index).shape[p] for p in perm)
    target = out if ctx.b.quant(x) == out_q else ctx.b.fresh_name(f"{out}/transposed")
    ctx.b.activation(target, shape, ctx.b.quant(x))
    ctx.b.node(ctx.node_name(op), ops.Transpose(perm=tuple(perm)), (x,), (target,))
    if target != out:
        ctx.reinterpret(op, target, out_q, out)
    ctx.define(op, out_index, out, NHWC)


def concatenation(ctx: Context, op: TfOperator) -> None:
    if len(op.inputs) < 1 or len(op.outputs) != 1:
        raise ctx.error(op, f"has {len(op.inputs)} inputs and {len(op.outputs)} outputs")
    if fused_clamp(ctx, op).low is not None or fused_clamp(ctx, op).high is not None:
        raise ctx.error(op, "a fused activation on CONCATENATION is not supported")
    out_index, out, out_q = ctx.output(op)
    rank = len(ctx.tensor(out_index).shape)
    axis = int(op.options.get("Axis", 0))
    if not -rank <= axis < rank:
        raise ctx.error(op, f"axis {axis} is out of range for rank {rank}")
    axis %= rank
    form = NCHW if rank == 4 and any(ctx.form_of(i) == NCHW for i in op.inputs if i >= 0) else NHWC
    inputs = []
    for k in range(len(op.inputs)):
        index = ctx.input_index(op, k)
        if len(ctx.tensor(index).shape) != rank:
            raise ctx.error(op, f"input {ctx.tensor_label(index)} has rank {len(ctx.tensor(index).shape)}, not {rank}")
        if ctx.quant(op, index) != out_q:  # TFLite Micro's Prepare refuses this too
            raise ctx.error(op, f"input {ctx.tensor_label(index)} has quantization {ctx.quant(op, index)} but the output "
                                f"has {out_q}; TFLite's int8 CONCATENATION needs them equal")
        inputs.append(ctx.activation(op, index, form))
    ir_axis = NHWC_AXIS_IN_NCHW[axis] if form == NCHW else axis
    shapes = [ctx.b.shape(x) for x in inputs]
    for s in shapes:
        if any(s[i] != shapes[0][i] for i in range(rank) if i != ir_axis):
            raise ctx.error(op, f"inputs {[list(s) for s in shapes]} cannot be concatenated on axis {axis}")
    shape = list(shapes[0])
    shape[ir_axis] = sum(s[ir_axis] for s in shapes)
    ctx.b.activation(out, tuple(shape), out_q)
    ctx.b.node(ctx.node_name(op), ops.Concat(axis=ir_axis), tuple(inputs), (out,))
    ctx.define(op, out_index, out, form)


def pad(ctx: Context, op: TfOperator) -> None:
    """PAD (pads with the output zero point, a real 0) and PADV2 (with its int8 constant's raw value)."""
    ctx.expect_arity(op, (2,) if op.opcode == "PAD" else (2, 3))
    x_index = ctx.input_index(op, 0)
    rank = len(ctx.tensor(x_index).shape)
    paddings = ctx.int_list(op, ctx.input_index(op, 1, "paddings"), "paddings")
    if len(paddings) != 2 * rank or any(p < 0 for p in paddings):
        raise ctx.error(op, f"paddings {paddings} must be {rank} non-negative (before, after) pairs")
    out_index, out, out_q = ctx.output(op)
    value = out_q.zp
    value_index = ctx.optional_input(op, 2)
    if value_index is not None:
        t = ctx.constant(op, value_index, "constant value")
        if t.dtype != "int8" or t.data.size != 1:
            raise ctx.error(op, f"constant value {ctx.tensor_label(value_index)} must be one int8 value")
        value = int(t.data.reshape(-1)[0])
    form = NCHW if rank == 4 and ctx.form_of(x_index) == NCHW else NHWC
    order = TO_NCHW if form == NCHW else tuple(range(rank))  # IR axis i is TFLite axis order[i]
    begins = [paddings[2 * a] for a in order]
    ends = [paddings[2 * a + 1] for a in order]
    x = ctx.reinterpret(op, ctx.activation(op, x_index, form), out_q)
    shape = tuple(d + begins[i] + ends[i] for i, d in enumerate(ctx.b.shape(x)))
    ctx.b.activation(out, shape, out_q)
    ctx.b.node(ctx.node_name(op), ops.Pad(pads=tuple(begins + ends), value=value), (x,), (out,))
    ctx.define(op, out_index, out, form)
