"""Shapes and strides in physical memory: what the strided kernels (broadcast, transpose,
pad, concat) are told.

A tensor has a logical shape (ONNX, e.g. NCHW) and a dim order (`Graph.dim_order`): the
logical axes in the order they sit in memory, outermost first. Its bytes are dense and
row-major over the *physical* shape `shape[order[0]], shape[order[1]], ...`. Everything
here is pure arithmetic on tuples; the registry turns the results into parameter structs.
"""

from __future__ import annotations

from typing import Sequence

Shape = tuple[int, ...]


def physical_shape(shape: Shape, order: Sequence[int]) -> Shape:
    return tuple(shape[axis] for axis in order)


def row_major_strides(dims: Sequence[int]) -> Shape:
    strides = [1] * len(dims)
    for k in range(len(dims) - 2, -1, -1):
        strides[k] = strides[k + 1] * dims[k + 1]
    return tuple(strides)


def region_strides(dims: Sequence[int], row_stride: int | None = None) -> Shape:
    """Row-major strides of physical `dims`; with `row_stride`, those of a region of a larger
    image: physical dim 1 (an NHWC image's rows) is row_stride elements apart, and the dims
    outside it scale with it."""
    strides = list(row_major_strides(dims))
    if row_stride is not None and len(dims) >= 2:
        strides[1] = row_stride
        strides[0] = row_stride * dims[1]
    return tuple(strides)


def logical_strides(shape: Shape, order: Sequence[int], row_stride: int | None = None) -> Shape:
    """Element stride of each *logical* axis of a tensor laid out in `order` (a region of a
    larger image with `row_stride`: region_strides)."""
    physical = region_strides(physical_shape(shape, order), row_stride)
    strides = [0] * len(shape)
    for position, axis in enumerate(order):
        strides[axis] = physical[position]
    return tuple(strides)


def same_layout(shape: Shape, order_a: Sequence[int], order_b: Sequence[int]) -> bool:
    """True when both orders put the bytes of a tensor of `shape` in the same places
    (axes of extent 1 may sit anywhere)."""
    return [a for a in order_a if shape[a] != 1] == [b for b in order_b if shape[b] != 1]


def is_row_major(shape: Shape, order: Sequence[int]) -> bool:
    return same_layout(shape, order, range(len(shape)))


def simplify(dims: Sequence[int], *strides: Sequence[int]) -> tuple[Shape, tuple[Shape, ...]]:
    """Drop extent-1 dims and merge neighbours that every stride list walks contiguously
    (outer stride == inner stride * inner extent), so kernels loop over fewer, longer dims.
    The element visiting order is unchanged."""
    kept = [k for k, d in enumerate(dims) if d != 1]
    out_dims: list[int] = []
    out_strides: list[list[int]] = [[] for _ in strides]
    for k in kept:
        if out_dims and all(s_out[-1] == s[k] * dims[k] for s_out, s in zip(out_strides, strides)):
            out_dims[-1] *= dims[k]
            for s_out, s in zip(out_strides, strides):
                s_out[-1] = s[k]
            continue
        out_dims.append(dims[k])
        for s_out, s in zip(out_strides, strides):
            s_out.append(s[k])
    return tuple(out_dims), tuple(tuple(s) for s in out_strides)


def pad_leading(values: Sequence[int], count: int, fill: int) -> Shape:
    """Prefix `values` with `fill` up to `count` entries (the caller checked the length)."""
    assert len(values) <= count, (values, count)
    return (fill,) * (count - len(values)) + tuple(values)


def broadcast_strides(out_shape: Shape, out_order: Sequence[int], in_shape: Shape, in_order: Sequence[int],
                      in_row_stride: int | None = None) -> Shape:
    """Stride of an input along each *physical* axis of the output, numpy broadcasting
    (right-aligned logical axes; an input extent of 1 or a missing axis reads stride 0)."""
    in_strides = logical_strides(in_shape, in_order, in_row_stride)
    skip = len(out_shape) - len(in_shape)
    result = []
    for axis in out_order:
        in_axis = axis - skip
        broadcast = in_axis < 0 or in_shape[in_axis] == 1
        result.append(0 if broadcast else in_strides[in_axis])
    return tuple(result)


def transpose_strides(perm: Sequence[int], out_order: Sequence[int], in_shape: Shape, in_order: Sequence[int]) -> Shape:
    """Input stride along each physical axis of y = x.transpose(perm): y's logical axis m is
    x's logical axis perm[m]."""
    in_strides = logical_strides(in_shape, in_order)
    return tuple(in_strides[perm[axis]] for axis in out_order)


def reshape_copy(
    in_shape: Shape, in_order: Sequence[int], out_shape: Shape, out_order: Sequence[int]
) -> tuple[Shape, Shape] | None:
    """(out_dims, in_strides) of a strided copy implementing a reshape across layouts, or
    None when one strided copy cannot do it.

    A reshape keeps the logical row-major (flat) index. When the input's bytes are in flat
    order, walk the output's physical axes and read the flat index of each element; when
    the output's bytes are in flat order, walk the input's logical axes in flat order and
    read each element where the input's layout put it.
    """
    if is_row_major(in_shape, in_order):
        flat = row_major_strides(out_shape)
        return physical_shape(out_shape, out_order), tuple(flat[axis] for axis in out_order)
    if is_row_major(out_shape, out_order):
        return tuple(in_shape), logical_strides(in_shape, in_order)
    return None
