"""Reshape, Flatten, Squeeze, Unsqueeze, Transpose and Identity, in every position they appear.

On an int8 activation, or on the DequantizeLinear of one, they become IR Reshape/Transpose
on int8 with unchanged quantization. On a quantized constant they are folded into the
constant. On the float graph input they are remembered and replayed on the int8 side by
the QuantizeLinear that follows (quantization is elementwise, so the two commute).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import onnx

from ..errors import ModelError
from ..ir import ops
from ..ir.graph import QuantParams
from . import emit, shapes
from .emit import QConst
from .lowering import Lowering
from .onnx_view import ModelView, attributes, node_label

SHAPE_OPS = ("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose")


def _axes(view: ModelView, node: onnx.NodeProto) -> list[int] | None:
    if len(node.input) > 1 and node.input[1]:
        if not view.is_constant(node.input[1]):
            raise ModelError(f"{node_label(node)}: its axes are computed at run time; tinyc needs constant axes")
        return [int(a) for a in view.constant(node.input[1]).reshape(-1)]
    axes = attributes(node).get("axes")
    return None if axes is None else [int(a) for a in axes]


def shape_op(view: ModelView, node: onnx.NodeProto, in_shape: tuple[int, ...]) -> tuple[ops.OpAttrs, tuple[int, ...]]:
    """The IR op and output shape of a shape op applied to a tensor of `in_shape`."""
    op = node.op_type
    attrs = attributes(node)
    try:
        if op == "Transpose":
            perm, out = shapes.transpose(in_shape, attrs.get("perm"))
            return ops.Transpose(perm=perm), out
        if op == "Reshape":
            if not view.is_constant(node.input[1]):
                raise ModelError(
                    f"{node_label(node)}: the target shape is computed at run time (a dynamic shape); pin the "
                    "shapes (onnx.tools.update_model_dims, or re-export with a fixed input shape)"
                )
            target = view.constant(node.input[1]).reshape(-1)
            return ops.Reshape(), shapes.reshape_target(in_shape, target, bool(attrs.get("allowzero", 0)))
        if op == "Flatten":
            return ops.Reshape(), shapes.flatten(in_shape, int(attrs.get("axis", 1)))
        if op == "Squeeze":
            return ops.Reshape(), shapes.squeeze(in_shape, _axes(view, node))
        if op == "Unsqueeze":
            axes = _axes(view, node)
            if axes is None:
                raise ModelError(f"{node_label(node)}: Unsqueeze without axes")
            return ops.Reshape(), shapes.unsqueeze(in_shape, axes)
    except ValueError as exc:
        raise ModelError(f"{node_label(node)}: {exc}") from None
    raise AssertionError(op)


def emit_shape_op(ctx: Lowering, node: onnx.NodeProto, src: str, out: str) -> str:
    attrs, out_shape = shape_op(ctx.view, node, ctx.b.shape(src))
    if isinstance(attrs, ops.Transpose):
        return emit.transpose(ctx.b, node.name, src, attrs.perm, out)
    return emit.reshape(ctx.b, node.name, src, out_shape, out)


def _fold_constant(ctx: Lowering, node: onnx.NodeProto, const: QConst) -> QConst:
    attrs, out_shape = shape_op(ctx.view, node, tuple(const.data.shape))
    quant = const.quant
    if isinstance(attrs, ops.Transpose):
        data = np.transpose(const.data, attrs.perm)
        if not quant.is_per_tensor:
            quant = replace(quant, axis=attrs.perm.index(quant.axis))
    else:
        data = const.data.reshape(out_shape)
        if not quant.is_per_tensor:
            axis = shapes.remap_axis_after_reshape(const.data.shape, out_shape, quant.axis)
            if axis is None:
                raise ModelError(f"{node_label(node)}: reshaping per-channel constant {const.name!r} splits its channel axis")
            quant = QuantParams(quant.scale, quant.zero_point, axis)
    return QConst(const.name, data, quant)


def lower_shape_op(ctx: Lowering, node: onnx.NodeProto) -> None:
    x, y = node.input[0], node.output[0]
    if node.op_type == "Identity":
        for table in (ctx.int8, ctx.dq, ctx.qconst, ctx.chain):
            if x in table:
                table[y] = table[x]  # type: ignore[index]
                return
        ctx.pending[y] = node
        return
    if x in ctx.int8:
        ctx.int8[y] = emit_shape_op(ctx, node, ctx.int8[x], y)
    elif x in ctx.dq:
        ctx.dq[y] = emit_shape_op(ctx, node, ctx.dq[x], y)
    elif x in ctx.qconst:
        ctx.qconst[y] = _fold_constant(ctx, node, ctx.qconst[x])
    elif x in ctx.chain:
        ctx.chain[y] = ctx.chain[x] + (node,)
    else:
        ctx.pending[y] = node
