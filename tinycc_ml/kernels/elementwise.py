"""Elementwise kernels (Add, Mul with broadcasting; table lookups) and softmax."""

from __future__ import annotations

import numpy as np

from ..errors import ModelError
from ..ir import ops
from ..ir.graph import Graph, Node
from ..quant import params as qparams
from . import access, physical
from .call import ConstArg, KernelArg, KernelCall, ParamStruct, TensorArg
from .common import KernelLayoutError, data_arg, operand_tensors, require_same_layout, struct
from .variant import KernelVariant

BROADCAST_DIMS = 4  # tinyc_broadcast
SOFTMAX_MAX_DEPTH = 4095  # a Q12.19 sum of up to 4095 exps (each <= 2^19) fits int32


def _broadcast(node: Node, graph: Graph) -> ParamStruct:
    a_name, b_name = node.inputs
    (y_name,) = node.outputs
    a, b, y = graph.tensor(a_name), graph.tensor(b_name), graph.tensor(y_name)
    y_order = graph.dim_order(y_name)
    dims = physical.physical_shape(y.shape, y_order)
    a_strides = physical.broadcast_strides(y.shape, y_order, a.shape, graph.dim_order(a_name))
    b_strides = physical.broadcast_strides(y.shape, y_order, b.shape, graph.dim_order(b_name))
    dims, (a_strides, b_strides) = physical.simplify(dims, a_strides, b_strides)
    if len(dims) > BROADCAST_DIMS:
        raise ModelError(
            f"node {node.name} ({node.kind}): broadcasting {list(a.shape)} with {list(b.shape)} needs "
            f"{len(dims)} strided dims in memory; the kernel supports {BROADCAST_DIMS}"
        )
    return struct(
        dims=physical.pad_leading(dims, BROADCAST_DIMS, 1),
        a_strides=physical.pad_leading(a_strides, BROADCAST_DIMS, 0),
        b_strides=physical.pad_leading(b_strides, BROADCAST_DIMS, 0),
    )


def _binary_args(node: Node, graph: Graph) -> tuple[KernelArg, ...]:
    a_name, b_name = node.inputs
    return (data_arg(graph, a_name, "a"), data_arg(graph, b_name, "b"), TensorArg(node.outputs[0]))


def build_add(node: Node, graph: Graph, variant: KernelVariant) -> list[KernelCall]:
    attrs: ops.Add = node.attrs  # type: ignore[assignment]
    a, b = operand_tensors(node, graph)
    y = graph.tensor(node.outputs[0])
    q = qparams.add_params(a.quant, b.quant, y.quant, attrs.semantics)
    p = struct(
        shape=_broadcast(node, graph),
        input1_offset=q.input1_offset, input2_offset=q.input2_offset, output_offset=q.output_offset,
        input1_multiplier=q.input1_multiplier, input1_shift=q.input1_shift,
        input2_multiplier=q.input2_multiplier, input2_shift=q.input2_shift,
        output_multiplier=q.output_multiplier, output_shift=q.output_shift,
        left_shift=q.left_shift, act_min=attrs.act_min, act_max=attrs.act_max,
    )  # fmt: skip
    return [KernelCall(node.name, variant.symbol, variant.params_type, p, _binary_args(node, graph))]


def build_mul(node: Node, graph: Graph, variant: KernelVariant) -> list[KernelCall]:
    attrs: ops.Mul = node.attrs  # type: ignore[assignment]
    a, b = operand_tensors(node, graph)
    y = graph.tensor(node.outputs[0])
    q = qparams.mul_params(a.quant, b.quant, y.quant, attrs.semantics)
    p = struct(
        shape=_broadcast(node, graph),
        input1_offset=q.input1_offset, input2_offset=q.input2_offset, output_offset=q.output_offset,
        output_multiplier=q.output_multiplier, output_shift=q.output_shift,
        act_min=attrs.act_min, act_max=attrs.act_max,
    )  # fmt: skip
    return [KernelCall(node.name, variant.symbol, variant.params_type, p, _binary_args(node, graph))]


def build_lut(node: Node, graph: Graph, variant: KernelVariant) -> list[KernelCall]:
    attrs: ops.Lut = node.attrs  # type: ignore[assignment]
    x_name, (y_name,) = node.inputs[0], node.outputs
    require_same_layout(node, graph, x_name, graph.dim_order(y_name))
    table = ConstArg("table", "int8_t", np.asarray(attrs.table, dtype=np.int8))
    p = struct(size=graph.tensor(y_name).size)
    args = (table, data_arg(graph, x_name, "x"), TensorArg(y_name))
    return [KernelCall(node.name, variant.symbol, variant.params_type, p, args)]


def build_softmax(node: Node, graph: Graph, variant: KernelVariant) -> list[KernelCall]:
    attrs: ops.Softmax = node.attrs  # type: ignore[assignment]
    x_name, (y_name,) = node.inputs[0], node.outputs
    x, y = graph.tensor(x_name), graph.tensor(y_name)
    order = graph.dim_order(x_name)
    moving = [axis for axis in order if x.shape[axis] != 1]
    if not physical.same_layout(x.shape, order, graph.dim_order(y_name)) or (
        x.shape[-1] != 1 and moving[-1] != len(x.shape) - 1
    ):
        raise KernelLayoutError(
            f"node {node.name} (Softmax): {x_name} and {y_name} must share a layout whose innermost "
            f"axis is the softmax axis; dim orders {list(order)}, {list(graph.dim_order(y_name))}"
        )
    if y.quant.s != 1.0 / 256.0 or y.quant.zp != -128:
        raise ModelError(f"node {node.name}: Softmax output {y_name} must be quantized (1/256, -128)")
    depth = x.shape[-1]
    if depth > SOFTMAX_MAX_DEPTH:
        raise ModelError(f"node {node.name}: Softmax over {depth} values; the int8 kernel supports {SOFTMAX_MAX_DEPTH}")
    q = qparams.softmax_params(x.quant, attrs.beta)
    p = struct(
        outer=x.size // depth, depth=depth,
        input_multiplier=q.input_multiplier, input_left_shift=q.input_left_shift, diff_min=q.diff_min,
    )  # fmt: skip
    return [KernelCall(node.name, variant.symbol, variant.params_type, p, (TensorArg(x_name), TensorArg(y_name)))]


ELEMENTWISE_VARIANTS: tuple[KernelVariant, ...] = (
    KernelVariant("tinyc_add_s8", "tinyc_add_params", (ops.Add.kind,), 3, "tinyc_add_s8.c", build_add,
                  access=access.broadcast, reason="elementwise add", nested_types=("tinyc_broadcast",)),
    KernelVariant("tinyc_mul_s8", "tinyc_mul_params", (ops.Mul.kind,), 3, "tinyc_mul_s8.c", build_mul,
                  access=access.broadcast, reason="elementwise mul", nested_types=("tinyc_broadcast",)),
    KernelVariant("tinyc_lut_s8", "tinyc_lut_params", (ops.Lut.kind,), 3, "tinyc_lut_s8.c", build_lut,
                  access=access.lut, reason="elementwise table lookup"),
    KernelVariant("tinyc_softmax_s8", "tinyc_softmax_params", (ops.Softmax.kind,), 2, "tinyc_softmax_s8.c",
                  build_softmax, access=access.softmax, reason="softmax, row by row"),
)
