"""Receptive field: the input rows (or columns) an op needs for some output rows (columns).

An op whose output rows [o0, o1) are wanted reads the input rows
[o0*s - pad_top, (o1-1)*s - pad_top + (k-1)*d + 1). Clipped to the image, what the
clip cuts off at the border becomes the region's pad, and nothing else does: an inner
band edge reads real neighbouring rows. Pooling's ceil_mode overhang (past the explicit
bottom pad) is not a pad; the kernels derive it from the output height, as for the
whole image.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..ir import ops
from ..ir.graph import Graph, Node

Rows = tuple[int, int]  # [first, end) of an image's rows

# The ops a patch stage can hold: everything else ends the stage. A Transpose only as the
# layout pass's copy of a channel-major (CHW) stage input into NHWC (stage._can_hold): each
# band copies its own rows of every plane, so the NHWC image never exists whole.
STAGE_KINDS = frozenset({"Conv2d", "Add", "Lut", "Pad", "AveragePool2d", "MaxPool2d", "Transpose"})


@dataclass(frozen=True)
class InputRows:
    """An input span in one direction: rows (axis 2), or columns (axis 3), where pad_top /
    pad_bottom are the left / right pads."""

    tensor: str
    rows: Rows  # clipped to the input image
    pad_top: int  # rows of padding above `rows` (only where the window crosses the image top)
    pad_bottom: int


def _window(lo: int, hi: int, height: int, pad_bottom_limit: int, tensor: str) -> InputRows:
    clipped = (max(lo, 0), min(hi, height))
    return InputRows(tensor, clipped, clipped[0] - lo, min(hi - clipped[1], pad_bottom_limit))


def input_rows(node: Node, graph: Graph, out: Rows, axis: int = 2) -> tuple[InputRows, ...]:
    """For each activation input of `node`, the rows producing output rows `out` (axis 3:
    the columns producing output columns `out`; the same arithmetic with the op's width
    kernel, stride, dilation and left/right pads)."""
    attrs = node.attrs
    x = node.inputs[0]
    height = graph.tensor(x).shape[axis]
    a = axis - 2  # 0: the (h, w) pairs' h, 1: their w
    if isinstance(attrs, ops.Conv2d):
        k, s, d = graph.tensor(node.inputs[1]).shape[axis], attrs.strides[a], attrs.dilations[a]
        lo = out[0] * s - attrs.pads[a]
        return (_window(lo, (out[1] - 1) * s - attrs.pads[a] + (k - 1) * d + 1, height, attrs.pads[2 + a], x),)
    if isinstance(attrs, (ops.AveragePool2d, ops.MaxPool2d)):
        k, s = attrs.kernel[a], attrs.strides[a]
        lo = out[0] * s - attrs.pads[a]
        return (_window(lo, (out[1] - 1) * s - attrs.pads[a] + k, height, attrs.pads[2 + a], x),)
    if isinstance(attrs, ops.Pad):
        top = attrs.pads[axis]
        return (_window(out[0] - top, out[1] - top, height, attrs.pads[4 + axis], x),)
    if isinstance(attrs, ops.Add):
        return tuple(InputRows(name, out, 0, 0) for name in dict.fromkeys(node.inputs))
    if isinstance(attrs, ops.Transpose) and attrs.perm != tuple(range(4)):
        raise ValueError(f"node {node.name} (Transpose) permutes axes {list(attrs.perm)}: not a layout copy")
    if isinstance(attrs, (ops.Lut, ops.Transpose)):  # a layout copy keeps logical rows and columns
        return (InputRows(x, out, 0, 0),)
    raise ValueError(f"node {node.name} ({node.kind}) cannot run in a patch stage")


def band_attrs(node: Node, window: InputRows, columns: InputRows | None = None) -> ops.OpAttrs:
    """The node's attributes on a band (or, with `columns`, a tile): the image-border pads
    of the window it reads."""
    attrs = node.attrs
    if isinstance(attrs, (ops.Conv2d, ops.AveragePool2d, ops.MaxPool2d)):
        left, right = (attrs.pads[1], attrs.pads[3]) if columns is None else (columns.pad_top, columns.pad_bottom)
    if isinstance(attrs, ops.Conv2d):
        # The in-place variants write over their input, which a band's halo still needs.
        return replace(attrs, pads=(window.pad_top, left, window.pad_bottom, right), in_place=False)
    if isinstance(attrs, (ops.AveragePool2d, ops.MaxPool2d)):
        return replace(attrs, pads=(window.pad_top, left, window.pad_bottom, right))
    if isinstance(attrs, ops.Pad):
        pads = list(attrs.pads)
        pads[2], pads[6] = window.pad_top, window.pad_bottom
        if columns is not None:
            pads[3], pads[7] = columns.pad_top, columns.pad_bottom
        return replace(attrs, pads=tuple(pads))
    return attrs
