"""Elementwise kernels (Add, Mul with broadcasting; table lookups; the uint8 edge's sign flip) and softmax."""

from __future__ import annotations

import numpy as np

from ..errors import ModelError
from ..ir import ops
from ..ir.graph import Graph, Node
from ..quant import params as qparams
from ..quant.fixedpoint import multiply_by_quantized_multiplier
from . import access, physical
from .call import ConstArg, KernelArg, KernelCall, ParamStruct, TensorArg
from .common import KernelLayoutError, data_arg, image_row_stride, operand_tensors, require_nhwc, require_same_layout, struct
from .target import KernelTarget
from .variant import KernelVariant, RowStrides

BROADCAST_DIMS = 4  # tinyc_broadcast
SOFTMAX_MAX_DEPTH = 4095  # a Q12.19 sum of up to 4095 exps (each <= 2^19) fits int32
# tinyc_add_table_s8 costs 2 KB of flash (two 256-entry int32 tables) and saves about 45
# instructions per output element: worth it from this many elements on.
ADD_TABLE_MIN_ELEMENTS = 256
ADD_TABLE_SUM_LIMIT = 1 << 29  # |ta + tb| below it: SMMULR's input fits, |result| <= 2^28


def _region_stride(node: Node, graph: Graph, strides: RowStrides, name: str) -> int | None:
    """The row stride of a tensor that is a region of a larger NHWC image, else None."""
    if name not in strides:
        return None
    require_nhwc(node, graph, name)
    return image_row_stride(graph, strides, name)


def _broadcast(node: Node, graph: Graph, strides: RowStrides) -> ParamStruct:
    a_name, b_name = node.inputs
    (y_name,) = node.outputs
    a, b, y = graph.tensor(a_name), graph.tensor(b_name), graph.tensor(y_name)
    y_order = graph.dim_order(y_name)
    dims = physical.physical_shape(y.shape, y_order)
    a_strides = physical.broadcast_strides(y.shape, y_order, a.shape, graph.dim_order(a_name),
                                           _region_stride(node, graph, strides, a_name))
    b_strides = physical.broadcast_strides(y.shape, y_order, b.shape, graph.dim_order(b_name),
                                           _region_stride(node, graph, strides, b_name))
    y_strides = physical.region_strides(dims, _region_stride(node, graph, strides, y_name))
    dims, (a_strides, b_strides, y_strides) = physical.simplify(dims, a_strides, b_strides, y_strides)
    if len(dims) > BROADCAST_DIMS:
        raise ModelError(
            f"node {node.name} ({node.kind}): broadcasting {list(a.shape)} with {list(b.shape)} needs "
            f"{len(dims)} strided dims in memory; the kernel supports {BROADCAST_DIMS}"
        )
    return struct(
        dims=physical.pad_leading(dims, BROADCAST_DIMS, 1),
        a_strides=physical.pad_leading(a_strides, BROADCAST_DIMS, 0),
        b_strides=physical.pad_leading(b_strides, BROADCAST_DIMS, 0),
        y_strides=physical.pad_leading(y_strides, BROADCAST_DIMS, 0),
    )


def _binary_args(node: Node, graph: Graph) -> tuple[KernelArg, ...]:
    a_name, b_name = node.inputs
    return (data_arg(graph, a_name, "a"), data_arg(graph, b_name, "b"), TensorArg(node.outputs[0]))


def _binary_call(node: Node, graph: Graph, variant: KernelVariant, strides: RowStrides,
                 consts: tuple[KernelArg, ...] = (), **fields: int | tuple[int, ...]) -> list[KernelCall]:
    """The one call of a broadcasting binary kernel: its tinyc_broadcast shape, then the
    variant's own fields; constant arrays go before the operands."""
    p = struct(shape=_broadcast(node, graph, strides), **fields)
    return [KernelCall(node.name, variant.symbol, variant.params_type, p, (*consts, *_binary_args(node, graph)))]


def build_add(node: Node, graph: Graph, variant: KernelVariant, strides: RowStrides) -> list[KernelCall]:
    attrs: ops.Add = node.attrs  # type: ignore[assignment]
    a, b = operand_tensors(node, graph)
    y = graph.tensor(node.outputs[0])
    q = qparams.add_params(a.quant, b.quant, y.quant, attrs.semantics)
    return _binary_call(
        node, graph, variant, strides,
        input1_offset=q.input1_offset, input2_offset=q.input2_offset, output_offset=q.output_offset,
        input1_multiplier=q.input1_multiplier, input1_shift=q.input1_shift,
        input2_multiplier=q.input2_multiplier, input2_shift=q.input2_shift,
        output_multiplier=q.output_multiplier, output_shift=q.output_shift,
        left_shift=q.left_shift, act_min=attrs.act_min, act_max=attrs.act_max,
    )  # fmt: skip


def add_table(node: Node, graph: Graph) -> tuple[np.ndarray, int, int, int] | None:
    """tinyc_add_table_s8's table (512 int32: input 1's, then input 2's rescaled value of
    x = -128..127, shifted left by max(output_shift, 0) + 1), its output multiplier, bias
    (rounding constant + output zero point << right shift) and right shift; None where the
    kernel would not be exact (a sum of two entries reaching 2^29, no right shift, or a bias
    that could overflow). The entries are the interpreter's own arithmetic
    (interp/ops/add.py) under the node's semantics, so the table kernel's sum is the
    interpreter's bit for bit."""
    a, b = operand_tensors(node, graph)
    assert a is not None and b is not None
    attrs: ops.Add = node.attrs  # type: ignore[assignment]
    q = qparams.add_params(a.quant, b.quant, graph.tensor(node.outputs[0]).quant, attrs.semantics)
    table = _scaled_tables(q) << (max(q.output_shift, 0) + 1)
    right_shift = max(-q.output_shift, 0)
    if int(np.abs(table[:256]).max()) + int(np.abs(table[256:]).max()) >= ADD_TABLE_SUM_LIMIT:
        return None
    if not 0 <= q.output_multiplier < 1 << 31 or not 1 <= right_shift <= 30:
        return None
    bias = (1 << (right_shift - 1)) + (q.output_offset << right_shift)
    # |SMMULR(t, m)| <= 2^28 for |t| < 2^29: v + bias + (v >> 31) must stay in int32.
    if abs(bias) + (1 << 28) + 1 >= 1 << 31:
        return None
    return table.astype(np.int32), q.output_multiplier, bias, right_shift


def _scaled_tables(q: qparams.AddParams) -> np.ndarray:
    """int64 [512]: input 1's, then input 2's rescaled value of x = -128..127 (the
    interpreter's arithmetic, interp/ops/add.py)."""
    values = np.arange(-128, 128, dtype=np.int64)
    scaled_a = multiply_by_quantized_multiplier((values + q.input1_offset) << q.left_shift, q.input1_multiplier,
                                                q.input1_shift)
    scaled_b = multiply_by_quantized_multiplier((values + q.input2_offset) << q.left_shift, q.input2_multiplier,
                                                q.input2_shift)
    return np.concatenate([scaled_a, scaled_b]).astype(np.int64)


def add_table_single(node: Node, graph: Graph) -> tuple[np.ndarray, int, int] | None:
    """tinyc_add_table_single_s8's table (512 int32, each rescaled value shifted left by
    output_shift + 1), output multiplier and offset (the output zero point), for an Add whose
    output stage has no right shift (output_shift >= 0: ONNX semantics' power-of-two output
    multiplier), or None: another shift, a multiplier outside [0, 2^31), or a sum of two
    entries that could leave int32. Then MBQM(sa + sb, m, shift) = SRDHM((sa + sb) << shift,
    m) = SMMULR(ta + tb, m) exactly (kernels/single_tail.py), and the kernel's one SMMLAR
    adds the offset: the interpreter's byte before the clamp."""
    a, b = operand_tensors(node, graph)
    assert a is not None and b is not None
    attrs: ops.Add = node.attrs  # type: ignore[assignment]
    q = qparams.add_params(a.quant, b.quant, graph.tensor(node.outputs[0]).quant, attrs.semantics)
    if not 0 <= q.output_shift <= 30 or not 0 <= q.output_multiplier < 1 << 31:
        return None
    table = _scaled_tables(q) << (q.output_shift + 1)
    if int(np.abs(table[:256]).max()) + int(np.abs(table[256:]).max()) >= 1 << 31:
        return None
    return table.astype(np.int32), q.output_multiplier, q.output_offset


def _add_table_applies(node: Node, graph: Graph, target: KernelTarget) -> bool:
    return graph.tensor(node.outputs[0]).size >= ADD_TABLE_MIN_ELEMENTS and add_table(node, graph) is not None


def build_add_table(node: Node, graph: Graph, variant: KernelVariant, strides: RowStrides) -> list[KernelCall]:
    attrs: ops.Add = node.attrs  # type: ignore[assignment]
    found = add_table(node, graph)
    if found is None:
        raise ModelError(f"node {node.name} (Add): its scales leave the table kernel's exact range; use tinyc_add_s8")
    table, multiplier, bias, right_shift = found
    return _binary_call(
        node, graph, variant, strides, (ConstArg("table", "int32_t", table),),
        output_multiplier=multiplier, output_bias=bias, output_right_shift=right_shift,
        act_min=attrs.act_min, act_max=attrs.act_max,
    )  # fmt: skip


def _add_table_single_applies(node: Node, graph: Graph, target: KernelTarget) -> bool:
    """ONNX-semantics Adds (a TFLite Add keeps its kernels) of the table's sizes whose single
    table is exact."""
    return (node.attrs.semantics == ops.ONNX  # type: ignore[attr-defined]
            and graph.tensor(node.outputs[0]).size >= ADD_TABLE_MIN_ELEMENTS
            and add_table_single(node, graph) is not None)


def build_add_table_single(node: Node, graph: Graph, variant: KernelVariant, strides: RowStrides) -> list[KernelCall]:
    attrs: ops.Add = node.attrs  # type: ignore[assignment]
    found = add_table_single(node, graph)
    if found is None:
        raise ModelError(f"node {node.name} (Add): its scales leave the single table's exact range; use tinyc_add_s8")
    table, multiplier, offset = found
    return _binary_call(
        node, graph, variant, strides, (ConstArg("table", "int32_t", table),),
        output_multiplier=multiplier, output_bias=offset, output_right_shift=0,
        act_min=attrs.act_min, act_max=attrs.act_max,
    )  # fmt: skip


def build_mul(node: Node, graph: Graph, variant: KernelVariant, strides: RowStrides) -> list[KernelCall]:
    attrs: ops.Mul = node.attrs  # type: ignore[assignment]
    a, b = operand_tensors(node, graph)
    y = graph.tensor(node.outputs[0])
    q = qparams.mul_params(a.quant, b.quant, y.quant, attrs.semantics)
    return _binary_call(
        node, graph, variant, strides,
        input1_offset=q.input1_offset, input2_offset=q.input2_offset, output_offset=q.output_offset,
        output_multiplier=q.output_multiplier, output_shift=q.output_shift,
        act_min=attrs.act_min, act_max=attrs.act_max,
    )  # fmt: skip


def build_lut(node: Node, graph: Graph, variant: KernelVariant, strides: RowStrides) -> list[KernelCall]:
    attrs: ops.Lut = node.attrs  # type: ignore[assignment]
    x_name, (y_name,) = node.inputs[0], node.outputs
    require_same_layout(node, graph, x_name, graph.dim_order(y_name))
    table = ConstArg("table", "int8_t", np.asarray(attrs.table, dtype=np.int8))
    y = graph.tensor(y_name)
    if x_name in strides or y_name in strides:  # regions of larger images: one run per image row
        in_pitch, out_pitch = (_region_stride(node, graph, strides, n) for n in (x_name, y_name))
        n, c, h, w = y.shape
        p = struct(size=w * c, rows=n * h, input_row_stride=in_pitch or w * c, output_row_stride=out_pitch or w * c)
    else:
        p = struct(size=y.size, rows=1, input_row_stride=y.size, output_row_stride=y.size)
    args = (table, data_arg(graph, x_name, "x"), TensorArg(y_name))
    return [KernelCall(node.name, variant.symbol, variant.params_type, p, args)]


def build_sign_flip(node: Node, graph: Graph, variant: KernelVariant, strides: RowStrides) -> list[KernelCall]:
    """A uint8 model's edge: the same bytes in the same order, each XOR 0x80."""
    x_name, (y_name,) = node.inputs[0], node.outputs
    require_same_layout(node, graph, x_name, graph.dim_order(y_name))
    p = struct(size=graph.tensor(y_name).size)
    return [KernelCall(node.name, variant.symbol, variant.params_type, p, (TensorArg(x_name), TensorArg(y_name)))]


def require_softmax_rows(node: Node, graph: Graph) -> None:
    """The softmax kernels run over rows of the innermost physical axis: input and output must
    share a layout whose innermost moving axis is the softmax axis (the last)."""
    x_name, (y_name,) = node.inputs[0], node.outputs
    x = graph.tensor(x_name)
    order = graph.dim_order(x_name)
    moving = [axis for axis in order if x.shape[axis] != 1]
    if not physical.same_layout(x.shape, order, graph.dim_order(y_name)) or (
        x.shape[-1] != 1 and moving[-1] != len(x.shape) - 1
    ):
        raise KernelLayoutError(
            f"node {node.name} (Softmax): {x_name} and {y_name} must share a layout whose innermost "
            f"axis is the softmax axis; dim orders {list(order)}, {list(graph.dim_order(y_name))}"
        )


def build_softmax(node: Node, graph: Graph, variant: KernelVariant, strides: RowStrides) -> list[KernelCall]:
    attrs: ops.Softmax = node.attrs  # type: ignore[assignment]
    x_name, (y_name,) = node.inputs[0], node.outputs
    x, y = graph.tensor(x_name), graph.tensor(y_name)
    require_softmax_rows(node, graph)
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
    KernelVariant("tinyc_add_table_s8", "tinyc_add_table_params", (ops.Add.kind,), 4, "tinyc_add_table_s8.c",
                  build_add_table, applies=_add_table_applies, access=access.broadcast, reason="elementwise add",
                  nested_types=("tinyc_broadcast",)),
    KernelVariant("tinyc_add_table_single_s8", "tinyc_add_table_params", (ops.Add.kind,), 4, "tinyc_add_table_s8.c",
                  build_add_table_single, applies=_add_table_single_applies, access=access.broadcast,
                  reason="elementwise add", nested_types=("tinyc_broadcast",)),
    KernelVariant("tinyc_add_s8", "tinyc_add_params", (ops.Add.kind,), 3, "tinyc_add_s8.c", build_add,
                  access=access.broadcast, reason="elementwise add", nested_types=("tinyc_broadcast",), row_strides=True),
    KernelVariant("tinyc_mul_s8", "tinyc_mul_params", (ops.Mul.kind,), 3, "tinyc_mul_s8.c", build_mul,
                  access=access.broadcast, reason="elementwise mul", nested_types=("tinyc_broadcast",), row_strides=True),
    KernelVariant("tinyc_lut_s8", "tinyc_lut_params", (ops.Lut.kind,), 3, "tinyc_lut_s8.c", build_lut,
                  access=access.lut, reason="elementwise table lookup", row_strides=True),
    KernelVariant("tinyc_sign_flip_s8", "tinyc_sign_flip_params", (ops.SignFlip.kind,), 2, "tinyc_sign_flip_s8.c",
                  build_sign_flip, access=access.sign_flip, reason="uint8 edge, XOR 0x80 word by word"),
    KernelVariant("tinyc_softmax_s8", "tinyc_softmax_params", (ops.Softmax.kind,), 2, "tinyc_softmax_s8.c",
                  build_softmax, access=access.softmax, reason="softmax, row by row"),
)
