"""The in-place NHWC depthwise conv DSP cores run (tinyc_depthwise_conv_inplace_c4_s8): its
record, weight layout and builder, and the ring scratch both in-place depthwise kernels use.

Where the in-place pass marked a stride-1, same-size depthwise conv with multiplier 1 (kws's
four 3x3 layers), on a DSP core with channels % 4 == 0 and at most 25 taps: four channels at
a time, tap pairs through SMLAD. The compiler prepares every constant: the weights in tap
pairs ([C / 4][taps], pair_taps), the input offset folded into the bias (a tap outside the
image reads a row of input zero points, `pad`, so every window has all its taps), and the
requantize tail of tinyc_depthwise_conv_3x3_s8 (packed constants, then the tail proved at
compile time, depthwise3x3.fast_tail_table). The loop order and the ring are
tinyc_depthwise_conv_inplace_s8's (access.depthwise_inplace), so the overlap and the arena
stay as they were.
"""

from __future__ import annotations

import numpy as np

from ..errors import ModelError
from ..ir import ops
from ..ir.conv_shapes import is_plain_depthwise, is_pointwise
from ..ir.graph import Graph, Node
from ..ir.layout import NHWC, is_layout
from ..quant import params as qparams
from . import access
from .call import ConstArg, KernelCall, ParamStruct, ScratchArg, TensorArg
from .common import per_channel_args, struct
from .depthwise3x3 import fast_tail_table
from .pointwise import requant_table
from .target import KernelTarget
from .variant import KernelVariant, RowStrides

SYMBOL = "tinyc_depthwise_conv_inplace_c4_s8"
MAX_TAPS = 25  # TINYC_DWI4_MAX_TAPS: the tap list the C keeps per pixel
INT32 = 1 << 31


def ring_scratch(params: ParamStruct) -> int:
    """The in-place depthwise kernels' ring: pad_top * in_w + pad_left + 1 input pixels."""
    pixels = params["in_h"] * params["in_w"]
    return min(params["pad_top"] * params["in_w"] + params["pad_left"] + 1, pixels) * params["in_c"]


def _model_bias(node: Node, graph: Graph, channels: int) -> np.ndarray:
    if len(node.inputs) > 2 and node.inputs[2]:
        return np.asarray(graph.tensor(node.inputs[2]).data, dtype=np.int64).reshape(-1)
    return np.zeros(channels, dtype=np.int64)


def folded_bias(node: Node, graph: Graph) -> np.ndarray:
    """[C] int64: the model's bias (or 0) plus input_offset * the channel's weight sum."""
    x, w = graph.tensor(node.inputs[0]), graph.tensor(node.inputs[1])
    channels = w.shape[0]
    sums = w.data.astype(np.int64).reshape(channels, -1).sum(axis=1)
    return _model_bias(node, graph, channels) + (-x.quant.zp) * sums


def _abs_weight_sums(node: Node, graph: Graph) -> np.ndarray:
    w = graph.tensor(node.inputs[1]).data.astype(np.int64)
    return np.abs(w).reshape(w.shape[0], -1).sum(axis=1)


def applies(node: Node, graph: Graph, target: KernelTarget) -> bool:
    """DSP cores; an in-place NHWC depthwise conv (multiplier 1, stride 1, same size) with
    channels % 4 == 0 and at most MAX_TAPS taps, whose accumulator stays in int32 on the way
    (folded bias + sum x * w, x in [-128, 127])."""
    if not target.dsp or node.kind != "Conv2d" or not node.attrs.in_place:  # type: ignore[attr-defined]
        return False
    x, y = node.inputs[0], node.outputs[0]
    if not (is_layout(graph, x, NHWC) and is_layout(graph, y, NHWC)):
        return False
    if not is_plain_depthwise(node, graph) or is_pointwise(node, graph):
        return False
    attrs: ops.Conv2d = node.attrs  # type: ignore[assignment]
    xt, yt, w = graph.tensor(x), graph.tensor(y), graph.tensor(node.inputs[1])
    kernel_h, kernel_w = w.shape[2:]
    if attrs.strides != (1, 1) or xt.shape != yt.shape or xt.shape[1] % 4 or kernel_h * kernel_w > MAX_TAPS:
        return False
    running = np.abs(folded_bias(node, graph)) + 128 * _abs_weight_sums(node, graph)
    return bool(running.max(initial=0) < INT32)


def pair_taps(w: np.ndarray) -> np.ndarray:
    """OIHW (I = 1) -> [C / 4][taps] bytes: per group of four channels, tap pairs (2p, 2p + 1)
    as {a0, a1, b0, b1} {a2, a3, b2, b3}, an odd last tap as {w0, w1, w2, w3}."""
    channels, _, kernel_h, kernel_w = w.shape
    taps = kernel_h * kernel_w
    groups = w[:, 0].reshape(channels // 4, 4, taps).transpose(0, 2, 1)  # [group][tap][channel]
    pairs = taps // 2
    paired = (groups[:, :2 * pairs].reshape(channels // 4, pairs, 2, 2, 2)  # [g][pair][tap][half][lane]
              .transpose(0, 1, 3, 2, 4).reshape(channels // 4, 8 * pairs))
    return np.concatenate([paired, groups[:, 2 * pairs:].reshape(channels // 4, -1)], axis=1).reshape(-1)


def build(node: Node, graph: Graph, variant: KernelVariant, strides: RowStrides) -> list[KernelCall]:
    del strides  # dense tensors only (an in-place kernel never takes row strides)
    attrs: ops.Conv2d = node.attrs  # type: ignore[assignment]
    x_name, w_name = node.inputs[0], node.inputs[1]
    (y_name,) = node.outputs
    x, w, y = graph.tensor(x_name), graph.tensor(w_name), graph.tensor(y_name)
    if any(zp != 0 for zp in w.quant.zero_point):
        raise ModelError(f"node {node.name}: conv weights {w_name} must be symmetric (zero point 0)")
    n, channels, in_h, in_w = x.shape
    _, _, kernel_h, kernel_w = w.shape
    p = struct(
        batch=n, in_h=in_h, in_w=in_w, in_c=channels, out_h=in_h, out_w=in_w, out_c=channels,
        kernel_h=kernel_h, kernel_w=kernel_w, stride_h=1, stride_w=1,
        dilation_h=attrs.dilations[0], dilation_w=attrs.dilations[1],
        pad_top=attrs.pads[0], pad_left=attrs.pads[1], pad_bottom=attrs.pads[2], pad_right=attrs.pads[3],
        groups=attrs.groups, input_offset=-x.quant.zp, output_offset=y.quant.zp,
        act_min=attrs.act_min, act_max=attrs.act_max,
        input_row_stride=in_w * channels, output_row_stride=in_w * channels,
    )  # fmt: skip
    multiplier, shift = per_channel_args(
        qparams.conv_node_requant(attrs.fixed_requant, x.quant, w.quant, y.quant, attrs.semantics), channels)
    # |acc| <= |bias| + 255 * sum |w| for every window (x + input_offset in [-255, 255])
    acc_bound = np.abs(_model_bias(node, graph, channels)) + 255 * _abs_weight_sums(node, graph)
    requant = np.concatenate([requant_table(shift.values),
                              fast_tail_table(multiplier.values, shift.values, acc_bound, y.quant.zp)])
    args = (
        TensorArg(x_name),
        ConstArg("weights", "int8_t", np.ascontiguousarray(pair_taps(w.data), dtype=np.int8)),
        ConstArg("bias", "int32_t", folded_bias(node, graph).astype(np.int32)),
        multiplier,
        ConstArg("requant", "int32_t", requant.astype(np.int32)),
        ConstArg("pad", "int8_t", np.full(channels, x.quant.zp, dtype=np.int8)),
        TensorArg(y_name),
        ScratchArg(variant.scratch(p)),
    )
    return [KernelCall(node.name, variant.symbol, variant.params_type, p, args)]


DEPTHWISE_IN_PLACE_C4 = KernelVariant(
    symbol=SYMBOL, params_type="tinyc_conv_params", op_kinds=("Conv2d",), c_args=8, source=f"{SYMBOL}.c",
    build=build, applies=applies, weight_layout="C/4,taps in pairs", reorder_weights=pair_taps,
    scratch=ring_scratch, access=access.depthwise_inplace,
    reason="depthwise conv (HWC), in place through a ring of input pixels, four channels at a time",
)
