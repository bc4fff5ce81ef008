"""ADD, SUB, MUL, the elementwise activations and QUANTIZE, each as existing IR ops.

* ADD and MUL are the IR's Add and Mul (TFLite Micro's arithmetic, quant/params.py).
* SUB(a, b) is Add(a, ~b): ~b with zero point -zp - 1 holds exactly -b (tflite_tables), and
  TFLite Micro's Sub computes what Add computes on it, except that Sub's Prepare derives
  its three multipliers in float32 where Add's uses double. Those multipliers are a function
  of the scales, so the IR tensors Add sees get scales for which Add's double arithmetic
  yields Sub's float32 multipliers (a float32 quotient has 24 significant bits: any double
  within 2^-32 of it quantizes to the same 31-bit multiplier); the result is reinterpreted
  to the real output parameters by an identity Lut. Bit-exact, no new kernel.
* LOGISTIC, TANH, HARD_SWISH, RELU, RELU6, LEAKY_RELU and int8 -> int8 QUANTIZE are Lut ops
  whose tables run TFLite Micro's own integer kernels on all 256 inputs.
"""

from __future__ import annotations

import numpy as np

from ...ir import ops
from ...ir.graph import DType, QuantParams
from ...quant import tflite_tables as tables
from ...quant.fixedpoint import ScaleRangeError
from ...quant.lut import requantize_table
from .. import emit, shapes
from .context import NCHW, NHWC, TO_NCHW, Context
from .conv import fused_clamp
from .reader import TfOperator


def _operand(ctx: Context, op: TfOperator, index: int, out_rank: int, form: str) -> str:
    """An Add/Mul operand in the output's form: an activation, or an int8 constant broadcast like TFLite's."""
    t = ctx.tensor(index)
    rank = len(t.shape)
    if t.data is not None:
        if t.dtype != "int8":
            raise ctx.error(op, f"constant operand {ctx.tensor_label(index)} is {t.dtype}; tinyc needs int8")
        q = ctx.quant(op, index)
        data = t.data.reshape((1,) * (out_rank - rank) + t.shape)
        if form == NCHW:
            data = np.transpose(data, TO_NCHW)
        return ctx.b.constant(ctx.names[index], np.ascontiguousarray(data), DType.INT8, q)
    if form == NHWC or rank == 4:
        return ctx.activation(op, index, form)
    # a lower-rank activation broadcast against a 4-D one: TFLite aligns shapes on the right
    src = ctx.activation(op, index, NHWC)
    padded = (1,) * (4 - rank) + t.shape
    name = ctx.b.fresh_name(f"{ctx.names[index]}/rank4")
    emit.reshape(ctx.b, ctx.b.fresh_name(f"{ctx.node_name(op)}/expand"), src, padded, name)
    nchw = ctx.b.fresh_name(f"{name}/nchw")
    emit.transpose(ctx.b, ctx.b.fresh_name(f"{ctx.node_name(op)}/expand_nchw"), name, TO_NCHW, nchw)
    return nchw


def _binary_form(ctx: Context, op: TfOperator, out_index: int) -> str:
    """NCHW when the result is 4-D and an activation operand already lives NCHW, else TFLite's order."""
    if len(ctx.tensor(out_index).shape) != 4:
        return NHWC
    activations = [i for i in op.inputs[:2] if ctx.tensor(i).data is None]
    return NCHW if any(ctx.form_of(i) == NCHW for i in activations) else NHWC


def add_or_mul(ctx: Context, op: TfOperator) -> None:
    ctx.expect_arity(op, 2)
    a_index, c_index = ctx.input_index(op, 0), ctx.input_index(op, 1)
    out_index, out, out_q = ctx.output(op)
    form = _binary_form(ctx, op, out_index)
    rank = len(ctx.tensor(out_index).shape)
    a = _operand(ctx, op, a_index, rank, form)
    c = _operand(ctx, op, c_index, rank, form)
    kind = "Add" if op.opcode == "ADD" else "Mul"
    emit.binary(ctx.b, kind, ctx.node_name(op), op.label, a, c, out, out_q, fused_clamp(ctx, op))
    ctx.define(op, out_index, out, form)


def _f32(x: float) -> np.float32:
    return np.float32(x)


def sub(ctx: Context, op: TfOperator) -> None:
    ctx.expect_arity(op, 2)
    a_index, b_index = ctx.input_index(op, 0), ctx.input_index(op, 1)
    out_index, out, out_q = ctx.output(op)
    form = _binary_form(ctx, op, out_index)
    rank = len(ctx.tensor(out_index).shape)
    a = _operand(ctx, op, a_index, rank, form)
    b = _operand(ctx, op, b_index, rank, form)
    qa, qb = ctx.b.quant(a), ctx.b.quant(b)
    # TFLite Micro's CalculateOpDataSub, in float32.
    twice_max = _f32(2) * max(_f32(qa.s), _f32(qb.s))
    real_a = float(_f32(qa.s) / twice_max)
    real_b = float(_f32(qb.s) / twice_max)
    with np.errstate(over="ignore", under="ignore"):
        real_out = float(twice_max / (_f32(1 << 20) * _f32(out_q.s)))
    if not 0.0 < real_out < 1.0:  # TFLite's QuantizeMultiplierSmallerThanOneExp needs (0, 1)
        raise ctx.error(op, f"the scales of its inputs ({qa.s!r}, {qb.s!r}) and output ({out_q.s!r}) are too far "
                            "apart for int8 SUB")
    # Scales for which add_params' double arithmetic reproduces those quotients.
    tm = 2.0 * max(qa.s, qb.s)
    scale_a = real_a * tm if qa.s != max(qa.s, qb.s) else qa.s
    scale_b = real_b * tm if qb.s != max(qa.s, qb.s) else qb.s
    scale_out = tm / (real_out * (1 << 20))
    name = ctx.node_name(op)
    if scale_a != qa.s:
        adjusted = QuantParams((scale_a,), (qa.zp,))
        if ctx.tensor(a_index).data is not None:  # a constant just gets the adjusted scale
            a = ctx.b.constant(f"{ctx.names[a_index]}/rescaled", ctx.b.tensors[a].data, DType.INT8, adjusted)
        else:
            a = ctx.reinterpret(op, a, adjusted)
    negated = QuantParams((scale_b,), (-qb.zp - 1,))
    t_b = ctx.tensor(b_index)
    if t_b.data is not None:
        data = np.bitwise_not(ctx.b.tensors[b].data)
        neg_b = ctx.b.constant(f"{ctx.names[b_index]}/negated", data, DType.INT8, negated)
    else:
        neg_b = ctx.b.fresh_name(f"{ctx.names[b_index]}/negated")
        ctx.b.activation(neg_b, ctx.b.shape(b), negated)
        ctx.b.node(f"{name}/negate", ops.Lut(table=tables.bitwise_not_table(), function="negate"), (b,), (neg_b,))
    sum_q = QuantParams((scale_out,), (out_q.zp,))
    target = out if sum_q == out_q else ctx.b.fresh_name(f"{out}/sub")
    try:
        shape = shapes.broadcast(ctx.b.shape(a), ctx.b.shape(neg_b))
    except ValueError as exc:
        raise ctx.error(op, str(exc)) from None
    act_min, act_max = fused_clamp(ctx, op).quantized(out_q)  # TFLite's clamp, from the real output scale
    ctx.b.activation(target, shape, sum_q)
    ctx.b.node(name, ops.Add(act_min=act_min, act_max=act_max), (a, neg_b), (target,))
    if target != out:
        ctx.reinterpret(op, target, out_q, out)
    ctx.define(op, out_index, out, form)


def _table(ctx: Context, op: TfOperator, in_q: QuantParams, out_q: QuantParams) -> tuple[int, ...]:
    opcode = op.opcode
    try:
        if opcode == "LOGISTIC":
            return tables.logistic_table(in_q)
        if opcode == "TANH":
            return tables.tanh_table(in_q)
        if opcode == "HARD_SWISH":
            return tables.hard_swish_table(in_q, out_q)
        if opcode == "RELU":
            return tables.relu_table(in_q, out_q)
        if opcode == "RELU6":
            return tables.relu6_table(in_q)
        if opcode == "LEAKY_RELU":
            return tables.leaky_relu_table(in_q, out_q, float(op.options.get("Alpha", 0.0)))
        if opcode == "QUANTIZE":
            return requantize_table(in_q, out_q)
    except ScaleRangeError as exc:
        raise ctx.error(op, f"{exc}; {exc.advice}") from None
    raise AssertionError(opcode)


def elementwise(ctx: Context, op: TfOperator) -> None:
    """A unary int8 op as a Lut, in its input's form."""
    ctx.expect_arity(op, 1)
    x_index = ctx.input_index(op, 0)
    if op.opcode == "QUANTIZE" and ctx.tensor(x_index).dtype == "float32":
        raise ctx.error(op, f"it quantizes float {ctx.tensor_label(x_index)}, which is not the graph input; tinyc "
                            "computes int8 only (a float input is quantized once, at the graph input)")
    form = ctx.form_of(x_index)
    x = ctx.activation(op, x_index, form)
    out_index, out, out_q = ctx.output(op)
    table = _table(ctx, op, ctx.quant(op, x_index), out_q)
    ctx.b.activation(out, ctx.b.shape(x), out_q)
    function = "requantize" if op.opcode == "QUANTIZE" else op.opcode.lower()
    ctx.b.node(ctx.node_name(op), ops.Lut(table=table, function=function), (x,), (out,))
    ctx.define(op, out_index, out, form)
