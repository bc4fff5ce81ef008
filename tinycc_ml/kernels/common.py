"""What the kernel families share: parameter structs, operands as arguments, layout checks.

Every constant in a call comes from tinycc_ml/quant (the interpreter uses the same
functions). Parameter structs list their fields in the C declaration order of
runtime_c/include/tinyc/tinyc_nn.h.
"""

from __future__ import annotations

import numpy as np

from ..errors import ModelError
from ..ir.graph import Graph, Node, Tensor
from ..ir.layout import NHWC, Order, same_bytes
from ..quant import params as qparams
from .call import ConstArg, KernelArg, NullArg, ParamStruct, TensorArg
from .variant import RowStrides


class KernelLayoutError(RuntimeError):
    """A tensor's physical layout is not what its kernel reads: a compiler bug upstream."""


def struct(**fields: int | tuple[int, ...] | ParamStruct) -> ParamStruct:
    """A ParamStruct in keyword order (Python keeps it), i.e. the C declaration order."""
    return ParamStruct(tuple(fields.items()))


def data_arg(graph: Graph, name: str, label: str) -> KernelArg:
    """An operand as an argument: an arena buffer, or a constant emitted to flash in its
    physical order."""
    tensor = graph.tensor(name)
    if tensor.is_constant:
        data = np.transpose(tensor.data, graph.dim_order(name))
        return ConstArg(label, "int8_t", np.ascontiguousarray(data, dtype=np.int8).reshape(-1))
    return TensorArg(name)


def require_nhwc(node: Node, graph: Graph, name: str) -> None:
    shape = graph.tensor(name).shape
    order = graph.dim_order(name)
    if len(shape) != 4 or not same_bytes(shape, order, NHWC):
        raise KernelLayoutError(
            f"node {node.name} ({node.kind}): tensor {name} has shape {list(shape)} and dim order "
            f"{list(order)}; the kernel reads NHWC, dim order [0, 2, 3, 1] (layout pass bug)"
        )


def image_row_stride(graph: Graph, strides: RowStrides, name: str) -> int:
    """Elements from one row (y) of an NHWC image to the next: its own row (w * c), or the
    row of the larger image it is a region of."""
    _, c, _, w = graph.tensor(name).shape
    pitch = strides.get(name, w * c)
    if pitch < w * c:
        raise KernelLayoutError(f"tensor {name}: row stride {pitch} is shorter than its rows ({w * c} elements)")
    return pitch


def require_same_layout(node: Node, graph: Graph, name: str, order: Order) -> None:
    shape = graph.tensor(name).shape
    if not same_bytes(shape, graph.dim_order(name), order):
        raise KernelLayoutError(
            f"node {node.name} ({node.kind}): tensor {name} has dim order {list(graph.dim_order(name))}, "
            f"the kernel needs {list(order)} (layout pass bug)"
        )


def per_channel_args(requant: qparams.ChannelRequant, channels: int) -> tuple[ConstArg, ConstArg]:
    """Multiplier and shift arrays with one entry per output channel (per-tensor weights
    repeat their single pair)."""
    repeat = channels if len(requant.multipliers) == 1 else 1
    multipliers = np.asarray(requant.multipliers * repeat, dtype=np.int32)
    shifts = np.asarray(requant.shifts * repeat, dtype=np.int32)
    return ConstArg("multiplier", "int32_t", multipliers), ConstArg("shift", "int32_t", shifts)


def conv_struct(node: Node, graph: Graph, strides: RowStrides, input_offset: int | None = None) -> ParamStruct:
    """A conv node's tinyc_conv_params, from its attributes and shapes. `input_offset`: the one
    the kernel adds (the input's -zero point unless the builder folded it into the bias). The
    kernels take symmetric weights only: a ModelError names any other."""
    attrs = node.attrs
    x_name, w_name, y_name = node.inputs[0], node.inputs[1], node.outputs[0]
    x, w, y = graph.tensor(x_name), graph.tensor(w_name), graph.tensor(y_name)
    if any(zp != 0 for zp in w.quant.zero_point):
        raise ModelError(f"node {node.name}: conv weights {w_name} must be symmetric (zero point 0)")
    n, in_c, in_h, in_w = x.shape
    _, out_c, out_h, out_w = y.shape
    kernel_h, kernel_w = w.shape[2:]
    return struct(
        batch=n, in_h=in_h, in_w=in_w, in_c=in_c, out_h=out_h, out_w=out_w, out_c=out_c,
        kernel_h=kernel_h, kernel_w=kernel_w,
        stride_h=attrs.strides[0], stride_w=attrs.strides[1],  # type: ignore[attr-defined]
        dilation_h=attrs.dilations[0], dilation_w=attrs.dilations[1],  # type: ignore[attr-defined]
        pad_top=attrs.pads[0], pad_left=attrs.pads[1], pad_bottom=attrs.pads[2], pad_right=attrs.pads[3],  # type: ignore[attr-defined]
        groups=attrs.groups,  # type: ignore[attr-defined]
        input_offset=-x.quant.zp if input_offset is None else input_offset, output_offset=y.quant.zp,
        act_min=attrs.act_min, act_max=attrs.act_max,  # type: ignore[attr-defined]
        input_row_stride=image_row_stride(graph, strides, x_name), output_row_stride=image_row_stride(graph, strides, y_name),
    )  # fmt: skip


def conv_requant_args(node: Node, graph: Graph) -> tuple[ConstArg, ConstArg]:
    """A conv node's multiplier and shift arrays, one entry per output channel, under its
    semantics (quant/params.conv_node_requant)."""
    attrs = node.attrs
    x, w, y = graph.tensor(node.inputs[0]), graph.tensor(node.inputs[1]), graph.tensor(node.outputs[0])
    requant = qparams.conv_node_requant(attrs.fixed_requant, x.quant, w.quant, y.quant,  # type: ignore[attr-defined]
                                        attrs.semantics)  # type: ignore[attr-defined]
    return per_channel_args(requant, w.shape[0])


def bias_arg(graph: Graph, name: str) -> KernelArg:
    if not name:
        return NullArg()
    return ConstArg("bias", "int32_t", np.asarray(graph.tensor(name).data, dtype=np.int32).reshape(-1))


def operand_tensors(node: Node, graph: Graph) -> list[Tensor | None]:
    return [graph.tensor(name) if name else None for name in node.inputs]


def fold_input_offset(weights: np.ndarray, bias: KernelArg, input_offset: int) -> tuple[KernelArg, int] | None:
    """The input offset folded into the bias, for a kernel whose every tap reads the input
    (fully connected, unpadded conv): sum (x + off) * w + b == sum x * w + (b + off * sum w),
    exactly, so the kernel's inner loop needs no offset (its DSP path then keeps every value
    in registers: runtime_c/include/tinyc/dot_s8.h). `weights` is [out][taps]; returns the
    new bias argument and input offset 0, or None when the offset is already 0 or a folded
    bias would leave int32."""
    if input_offset == 0:
        return None
    folded = input_offset * weights.astype(np.int64).reshape(weights.shape[0], -1).sum(axis=1)
    if isinstance(bias, ConstArg):
        folded = folded + np.asarray(bias.values, dtype=np.int64)
    if np.abs(folded).max(initial=0) >= 1 << 31:
        return None
    return ConstArg("bias", "int32_t", folded.astype(np.int32)), 0
