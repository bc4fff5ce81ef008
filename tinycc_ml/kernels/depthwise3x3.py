"""The 3x3 depthwise conv DSP cores run (tinyc_depthwise_conv_3x3_s8): its record, weight
layout and builder.

Multiplier 1, dilation 1, channels a multiple of 4, NHWC, not in place: the depthwise layers
of MobileNet-like models. Per group of four channels the nine taps' weights are stored in a
row ([C / 4][3][3][4]), so an interior pixel loads them at fixed offsets; the bias argument
carries a second row, the interior bias (the input offset times the channel's weight sum
folded in: an interior window has no padding tap), so interior pixels add no offset; the
per-channel shift becomes requant_tail.h's packed constants (pointwise.requant_table), followed
by the constants of a requantize tail proved at compile time to need no guard (fast_tail_table). The
loop order is tinyc_depthwise_conv_s8's (access.depthwise), so every overlap stays as it was.
"""

from __future__ import annotations

import numpy as np

from ..errors import ModelError
from ..ir import ops
from ..ir.conv_shapes import is_plain_depthwise
from ..ir.graph import Graph, Node
from ..ir.layout import NHWC, is_layout
from ..quant import params as qparams
from . import access
from .call import ConstArg, KernelCall, TensorArg
from .common import per_channel_args, struct
from .pointwise import requant_table
from .target import KernelTarget
from .variant import KernelVariant, RowStrides

SYMBOL = "tinyc_depthwise_conv_3x3_s8"
INT32 = 1 << 31


def _biases(node: Node, graph: Graph) -> np.ndarray:
    """[2][C] int64: the model's bias (or 0), and the interior bias."""
    w, x = graph.tensor(node.inputs[1]), graph.tensor(node.inputs[0])
    channels = w.shape[0]
    bias = np.zeros(channels, dtype=np.int64)
    if len(node.inputs) > 2 and node.inputs[2]:
        bias = np.asarray(graph.tensor(node.inputs[2]).data, dtype=np.int64).reshape(-1)
    interior = bias + (-x.quant.zp) * w.data.astype(np.int64).reshape(channels, -1).sum(axis=1)
    return np.stack([bias, interior])


def _acc_bound(node: Node, graph: Graph) -> np.ndarray:
    """Per channel a bound of |acc| over every window, interior or clipped: the model's bias
    plus 255 * sum |w| (x + input_offset lies in [-255, 255]); the interior accumulator, the
    interior bias plus sum x * w, is the same number."""
    w = graph.tensor(node.inputs[1]).data.astype(np.int64)
    return np.abs(_biases(node, graph)[0]) + 255 * np.abs(w).reshape(w.shape[0], -1).sum(axis=1)


def applies(node: Node, graph: Graph, target: KernelTarget) -> bool:
    if not target.dsp or node.kind != "Conv2d" or node.attrs.in_place:  # type: ignore[attr-defined]
        return False
    x, y = node.inputs[0], node.outputs[0]
    if not (is_layout(graph, x, NHWC) and is_layout(graph, y, NHWC) and is_plain_depthwise(node, graph)):
        return False
    attrs: ops.Conv2d = node.attrs  # type: ignore[assignment]
    w = graph.tensor(node.inputs[1])
    if w.shape[2:] != (3, 3) or attrs.dilations != (1, 1) or w.shape[0] % 4 != 0:
        return False
    return bool(np.abs(_biases(node, graph)).max(initial=0) < INT32)


def fast_tail_table(
    multipliers: np.ndarray, shifts: np.ndarray, acc_bound: np.ndarray, output_offset: int
) -> np.ndarray:
    """[C][2] (k, right_shift) and one word for the kernel's proved requantize tail
    (tinyc_dw3_fast_tail): the double shift all channels share if, for every channel, with
    |acc| <= acc_bound: 2 * (acc << left) fits int32 (requant_tail.h's guard always passes),
    right_shift >= 1 (the sign fix-up is v >> 31), and v + k + (v >> 31) stays in int32 for
    every SMMULR result v, k = round + (output_offset << right_shift); 0 otherwise."""
    m = np.asarray(multipliers, dtype=np.int64)
    shift = np.asarray(shifts, dtype=np.int64)
    left = np.maximum(shift, 0)
    double_shift, right_shift = left + 1, left - shift
    round_term = np.where(right_shift > 0, np.left_shift(1, np.maximum(right_shift - 1, 0)), 0)
    k = round_term + np.int64(output_offset) * np.left_shift(np.int64(1), right_shift)
    doubled_bound = np.left_shift(np.asarray(acc_bound, dtype=np.int64), double_shift)
    v_bound = (doubled_bound * m >> 32) + 1  # |SMMULR(doubled, m)| for m in [0, 2^31)
    proved = (
        len(m) > 0
        and bool(np.all(double_shift == double_shift[0]))
        and bool(np.all(right_shift >= 1))
        and bool(np.all(doubled_bound < INT32))
        and bool(np.all(v_bound + k < INT32))
        and bool(np.all(k - v_bound - 1 >= -INT32))
    )
    table = np.stack([np.where(proved, k, 0), right_shift], axis=1).reshape(-1)
    flag = int(double_shift[0]) if proved else 0
    return np.concatenate([table, [flag]]).astype(np.int32)


def group_taps(w: np.ndarray) -> np.ndarray:
    """OIHW (I = 1, 3x3) -> [C / 4][3][3][4]."""
    channels = w.shape[0]
    return w[:, 0].reshape(channels // 4, 4, 3, 3).transpose(0, 2, 3, 1)


def build(node: Node, graph: Graph, variant: KernelVariant, strides: RowStrides) -> list[KernelCall]:
    del strides  # dense tensors only (the record does not take row strides)
    attrs: ops.Conv2d = node.attrs  # type: ignore[assignment]
    x_name, w_name = node.inputs[0], node.inputs[1]
    (y_name,) = node.outputs
    x, w, y = graph.tensor(x_name), graph.tensor(w_name), graph.tensor(y_name)
    if any(zp != 0 for zp in w.quant.zero_point):
        raise ModelError(f"node {node.name}: conv weights {w_name} must be symmetric (zero point 0)")
    n, channels, in_h, in_w = x.shape
    _, _, out_h, out_w = y.shape
    p = struct(
        batch=n, in_h=in_h, in_w=in_w, in_c=channels, out_h=out_h, out_w=out_w, out_c=channels,
        kernel_h=3, kernel_w=3, stride_h=attrs.strides[0], stride_w=attrs.strides[1], dilation_h=1, dilation_w=1,
        pad_top=attrs.pads[0], pad_left=attrs.pads[1], pad_bottom=attrs.pads[2], pad_right=attrs.pads[3],
        groups=attrs.groups, input_offset=-x.quant.zp, output_offset=y.quant.zp,
        act_min=attrs.act_min, act_max=attrs.act_max,
        input_row_stride=in_w * channels, output_row_stride=out_w * channels,
    )  # fmt: skip
    multiplier, shift = per_channel_args(qparams.conv_node_requant(attrs.fixed_requant, x.quant, w.quant, y.quant, attrs.semantics), channels)
    args = (
        TensorArg(x_name),
        ConstArg("weights", "int8_t", np.ascontiguousarray(group_taps(w.data), dtype=np.int8).reshape(-1)),
        ConstArg("bias", "int32_t", _biases(node, graph).astype(np.int32).reshape(-1)),
        multiplier,
        ConstArg("requant", "int32_t", np.concatenate([requant_table(shift.values), fast_tail_table(
            multiplier.values, shift.values, _acc_bound(node, graph), y.quant.zp)])),
        TensorArg(y_name),
    )
    return [KernelCall(node.name, variant.symbol, variant.params_type, p, args)]


DEPTHWISE_3X3 = KernelVariant(
    symbol=SYMBOL, params_type="tinyc_conv_params", op_kinds=("Conv2d",), c_args=6, source=f"{SYMBOL}.c",
    build=build, applies=applies, weight_layout="C/4,3,3,4", reorder_weights=group_taps,
    access=access.depthwise, reason="depthwise conv (HWC), pixel by pixel",
)
