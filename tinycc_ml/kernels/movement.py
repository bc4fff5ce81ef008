"""Data movement: strided copies (Transpose, layout changes, Reshape across layouts),
concatenation and constant padding. The layout copy takes a band of a channel-major image
(a patch stage's CHW input, steps.Region.planes) as its input: the band's rows of every
plane, a whole plane apart, which the copy's input strides address directly."""

from __future__ import annotations

import numpy as np

from ..errors import ModelError
from ..ir import ops
from ..ir.graph import Graph, Node
from ..ir.layout import CHW, storage_positions
from . import access, physical
from .call import KernelCall, TensorArg
from .common import KernelLayoutError, data_arg, image_row_stride, require_nhwc, require_same_layout, struct
from .variant import KernelVariant, RowStrides

TRANSPOSE_DIMS = 6  # TINYC_MAX_DIMS
PAD_DIMS = 4  # tinyc_pad_params


def _strided_copy(node: Node, graph: Graph, variant: KernelVariant, dims: tuple[int, ...],
                  strides: tuple[int, ...]) -> list[KernelCall]:
    dims, (strides,) = physical.simplify(dims, strides)
    if len(dims) > TRANSPOSE_DIMS:
        raise ModelError(
            f"node {node.name} ({node.kind}): needs a {len(dims)}-D strided copy; the kernel supports {TRANSPOSE_DIMS}"
        )
    p = struct(
        out_dims=physical.pad_leading(dims, TRANSPOSE_DIMS, 1),
        in_strides=physical.pad_leading(strides, TRANSPOSE_DIMS, 0),
    )
    args = (data_arg(graph, node.inputs[0], "x"), TensorArg(node.outputs[0]))
    return [KernelCall(node.name, variant.symbol, variant.params_type, p, args)]


def _transpose(node: Node, graph: Graph, variant: KernelVariant, strides: RowStrides) -> list[KernelCall]:
    attrs: ops.Transpose = node.attrs  # type: ignore[assignment]
    x_name, (y_name,) = node.inputs[0], node.outputs
    x, y = graph.tensor(x_name), graph.tensor(y_name)
    y_order = graph.dim_order(y_name)
    if y_name in strides:
        raise KernelLayoutError(f"node {node.name} (Transpose): writes {y_name}, a region of a larger image; "
                                "a layout copy writes dense tensors only (patch stage bug)")
    if x_name in strides:
        in_strides = _plane_window_strides(node, graph, x_name, strides[x_name])
        copy_strides = tuple(in_strides[attrs.perm[axis]] for axis in y_order)
    else:
        copy_strides = physical.transpose_strides(attrs.perm, y_order, x.shape, graph.dim_order(x_name))
    return _strided_copy(node, graph, variant, physical.physical_shape(y.shape, y_order), copy_strides)


def _plane_window_strides(node: Node, graph: Graph, name: str, plane_stride: int) -> tuple[int, ...]:
    """Logical strides (elements) of a band of a channel-major image: its rows of every
    plane, `plane_stride` elements from one plane to the next (a patch stage's CHW input)."""
    shape, order = graph.tensor(name).shape, graph.dim_order(name)
    if len(shape) != 4 or tuple(order) != CHW or shape[0] != 1:
        raise KernelLayoutError(f"node {node.name} ({node.kind}): {name} (shape {list(shape)}, dim order "
                                f"{list(order)}) is a strided region, but only bands of a CHW image are (patch stage bug)")
    _, c, h, w = shape
    if plane_stride < h * w:
        raise KernelLayoutError(f"tensor {name}: plane stride {plane_stride} is shorter than its planes ({h * w} elements)")
    return (c * plane_stride, plane_stride, w, 1)


def _reshape(node: Node, graph: Graph, variant: KernelVariant) -> list[KernelCall]:
    x_name, (y_name,) = node.inputs[0], node.outputs
    x, y = graph.tensor(x_name), graph.tensor(y_name)
    x_order, y_order = graph.dim_order(x_name), graph.dim_order(y_name)
    if np.array_equal(storage_positions(x.shape, x_order), storage_positions(y.shape, y_order)):
        return []  # same bytes in the same places: the planner may alias the two buffers
    copy = physical.reshape_copy(x.shape, x_order, y.shape, y_order)
    if copy is None:
        raise ModelError(
            f"node {node.name} (Reshape): {x_name} (dim order {list(x_order)}) to {y_name} "
            f"(dim order {list(y_order)}) needs two copies; the layout pass must make one side row-major"
        )
    return _strided_copy(node, graph, variant, *copy)


def build_strided_copy(node: Node, graph: Graph, variant: KernelVariant, strides: RowStrides) -> list[KernelCall]:
    if node.kind != ops.Reshape.kind:
        return _transpose(node, graph, variant, strides)
    if any(name in strides for name in (*node.inputs, *node.outputs)):
        raise KernelLayoutError(f"node {node.name} (Reshape): a region of a larger image; a reshape copies "
                                "dense tensors only (patch stage bug)")
    return _reshape(node, graph, variant)


def build_concat(node: Node, graph: Graph, variant: KernelVariant, strides: RowStrides) -> list[KernelCall]:
    attrs: ops.Concat = node.attrs  # type: ignore[assignment]
    (y_name,) = node.outputs
    y = graph.tensor(y_name)
    y_order = graph.dim_order(y_name)
    position = y_order.index(attrs.axis)
    y_dims = physical.physical_shape(y.shape, y_order)
    outer = int(np.prod(y_dims[:position], dtype=np.int64))
    inner_unit = int(np.prod(y_dims[position + 1 :], dtype=np.int64))
    calls = []
    offset = 0
    for index, name in enumerate(n for n in node.inputs if n):
        x = graph.tensor(name)
        require_same_layout(node, graph, name, y_order)
        inner = x.shape[attrs.axis] * inner_unit
        p = struct(outer=outer, inner=inner, out_inner=y.shape[attrs.axis] * inner_unit, offset=offset)
        args = (data_arg(graph, name, f"x{index}"), TensorArg(y_name))
        calls.append(KernelCall(node.name, variant.symbol, variant.params_type, p, args))
        offset += inner
    return calls


def _pad_image_region(node: Node, graph: Graph, variant: KernelVariant, strides: RowStrides) -> list[KernelCall]:
    """Pad on a region of a larger NHWC image: rows (dim 2) of w * c elements (dim 3), so
    the row strides address it; only rows and columns may be padded."""
    attrs: ops.Pad = node.attrs  # type: ignore[assignment]
    x_name, (y_name,) = node.inputs[0], node.outputs
    for name in (x_name, y_name):
        require_nhwc(node, graph, name)
    n, c, h, w = graph.tensor(x_name).shape
    pads = attrs.pads
    if pads[0] or pads[1] or pads[4] or pads[5]:
        raise KernelLayoutError(f"node {node.name} (Pad): pads batch or channels of a region of a larger image; "
                                "only rows and columns can be padded there (patch stage bug)")
    p = struct(
        in_dims=(1, n, h, w * c),
        pad_before=(0, 0, pads[2], pads[3] * c),
        pad_after=(0, 0, pads[6], pads[7] * c),
        value=attrs.value,
        input_row_stride=image_row_stride(graph, strides, x_name),
        output_row_stride=image_row_stride(graph, strides, y_name),
    )
    args = (data_arg(graph, x_name, "x"), TensorArg(y_name))
    return [KernelCall(node.name, variant.symbol, variant.params_type, p, args)]


def build_pad(node: Node, graph: Graph, variant: KernelVariant, strides: RowStrides) -> list[KernelCall]:
    attrs: ops.Pad = node.attrs  # type: ignore[assignment]
    x_name, (y_name,) = node.inputs[0], node.outputs
    if x_name in strides or y_name in strides:
        return _pad_image_region(node, graph, variant, strides)
    x = graph.tensor(x_name)
    order = graph.dim_order(y_name)
    require_same_layout(node, graph, x_name, order)
    rank = len(x.shape)
    in_dims = [x.shape[axis] for axis in order]
    before = [attrs.pads[axis] for axis in order]
    after = [attrs.pads[rank + axis] for axis in order]
    # Drop untouched extent-1 dims; fold a dim into its outer neighbour when it has no pads.
    merged: list[list[int]] = []
    for d, pb, pa in zip(in_dims, before, after):
        if d == 1 and pb == 0 and pa == 0:
            continue
        if merged and pb == 0 and pa == 0:
            merged[-1] = [merged[-1][0] * d, merged[-1][1] * d, merged[-1][2] * d]
            continue
        merged.append([d, pb, pa])
    if len(merged) > PAD_DIMS:
        raise ModelError(f"node {node.name} (Pad): pads {len(merged)} dims in memory; the kernel supports {PAD_DIMS}")
    merged = [[1, 0, 0]] * (PAD_DIMS - len(merged)) + merged
    p = struct(
        in_dims=tuple(m[0] for m in merged),
        pad_before=tuple(m[1] for m in merged),
        pad_after=tuple(m[2] for m in merged),
        value=attrs.value,
        input_row_stride=merged[-1][0],
        output_row_stride=merged[-1][1] + merged[-1][0] + merged[-1][2],
    )
    args = (data_arg(graph, x_name, "x"), TensorArg(y_name))
    return [KernelCall(node.name, variant.symbol, variant.params_type, p, args)]


# Concat and pad copy with memcpy, whose overlapping arguments are undefined behaviour in
# C: no access model, so no overlap fact ever covers them.
MOVEMENT_VARIANTS: tuple[KernelVariant, ...] = (
    KernelVariant("tinyc_transpose_s8", "tinyc_transpose_params", (ops.Transpose.kind, ops.Reshape.kind), 2,
                  "tinyc_transpose_s8.c", build_strided_copy, access=access.transpose,
                  reason="strided copy, element by element", row_strides=True),
    KernelVariant("tinyc_concat_s8", "tinyc_concat_params", (ops.Concat.kind,), 2, "tinyc_concat_s8.c",
                  build_concat),
    KernelVariant("tinyc_pad_s8", "tinyc_pad_params", (ops.Pad.kind,), 2, "tinyc_pad_s8.c", build_pad,
                  row_strides=True),
)
