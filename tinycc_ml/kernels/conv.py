"""The convolution family (regular, grouped, depthwise, pointwise, in-place and channel-
major variants) and fully connected: their records and their one builder.

Which conv variant runs follows from the node's geometry, its tensors' layouts (the
layout pass may store a depthwise conv's tensors channel-major) and its `in_place` flag
(the in-place pass); the first record of CONV_VARIANTS that applies wins, so the order
below is the priority. Weights are reordered here, at compile time, into the layout the
variant's C loop reads.
"""

from __future__ import annotations

import numpy as np

from ..errors import ModelError
from ..ir import ops
from ..ir.conv_shapes import is_depthwise, is_plain_depthwise, is_pointwise
from ..ir.graph import Graph, Node
from ..ir.layout import CHW, NHWC, is_layout
from ..quant import params as qparams
from . import access
from .call import ConstArg, KernelCall, ParamStruct, ScratchArg, TensorArg
from .common import (
    KernelLayoutError,
    bias_arg,
    conv_requant_args,
    conv_struct,
    fold_input_offset,
    require_nhwc,
    require_same_layout,
    struct,
)
from . import conv_gather, conv_w16, fc_single
from .depthwise3x3 import DEPTHWISE_3X3, DEPTHWISE_3X3_SINGLE
from .depthwise_inplace4 import (
    DEPTHWISE_IN_PLACE_C4, DEPTHWISE_IN_PLACE_C4_PROVED, DEPTHWISE_IN_PLACE_C4_PROVED_W16, DEPTHWISE_IN_PLACE_C4_SINGLE,
    DEPTHWISE_IN_PLACE_C4_SINGLE_W16, DEPTHWISE_IN_PLACE_C4_W16,
    ring_scratch,
)
from .pointwise import (POINTWISE_NHWC, POINTWISE_NHWC_IN_PLACE, POINTWISE_NHWC_IN_PLACE_IN64_W16,
                        POINTWISE_NHWC_IN_PLACE_W16, POINTWISE_NHWC_W16,
                        POINTWISE_NHWC_W16_SMALL, POINTWISE_NHWC_X16_W16,
                        POINTWISE_NHWC_IN16_X16_W16, POINTWISE_NHWC_IN_PLACE_IN64_W16_SINGLE,
                        POINTWISE_NHWC_IN_PLACE_W16_SINGLE, POINTWISE_NHWC_IN_PLACE_SINGLE,
                        POINTWISE_NHWC_W16_SMALL_SINGLE, POINTWISE_NHWC_IN16_X16_W16_SINGLE,
                        POINTWISE_NHWC_X16_W16_SINGLE, POINTWISE_NHWC_W16_SINGLE, POINTWISE_NHWC_SINGLE,
                        POINTWISE_NHWC_IN_PLACE_IN64_W16_PROVED, POINTWISE_NHWC_IN_PLACE_W16_PROVED,
                        POINTWISE_NHWC_IN_PLACE_PROVED, POINTWISE_NHWC_W16_SMALL_PROVED,
                        POINTWISE_NHWC_IN16_X16_W16_PROVED, POINTWISE_NHWC_X16_W16_PROVED,
                        POINTWISE_NHWC_W16_PROVED, POINTWISE_NHWC_PROVED)
from .target import KernelTarget
from .variant import KernelVariant, RowStrides
from .wide_weights import fc_w16_shape, wide_weights_fit

CONV = ("Conv2d",)


def in_place_capable(node: Node, graph: Graph) -> bool:
    """Has the conv an in-place variant: tinyc_depthwise_conv_inplace_s8 (depthwise
    multiplier 1, stride 1, an output as large as the input) or
    tinyc_pointwise_conv_inplace_s8 (pointwise)?"""
    if node.kind != "Conv2d":
        return False
    if is_pointwise(node, graph):
        return True
    if not is_plain_depthwise(node, graph):
        return False
    attrs: ops.Conv2d = node.attrs  # type: ignore[assignment]
    x, y = graph.tensor(node.inputs[0]), graph.tensor(node.outputs[0])
    return attrs.strides == (1, 1) and x.shape == y.shape


# --- when each variant applies ---------------------------------------------------------


def _nhwc(node: Node, graph: Graph) -> bool:
    return is_layout(graph, node.inputs[0], NHWC) and is_layout(graph, node.outputs[0], NHWC)


def _in_place(node: Node) -> bool:
    return bool(node.attrs.in_place)  # type: ignore[attr-defined]


def _pointwise_in_place(node: Node, graph: Graph, target: KernelTarget) -> bool:
    return _nhwc(node, graph) and _in_place(node) and is_pointwise(node, graph)


def _depthwise_in_place(node: Node, graph: Graph, target: KernelTarget) -> bool:
    return _nhwc(node, graph) and _in_place(node) and in_place_capable(node, graph) and not is_pointwise(node, graph)


def _depthwise_chw(node: Node, graph: Graph, target: KernelTarget) -> bool:
    x, y = node.inputs[0], node.outputs[0]
    return (not _nhwc(node, graph) and is_layout(graph, x, CHW) and is_layout(graph, y, CHW)
            and is_plain_depthwise(node, graph))


def _pointwise_layouts(x_chw: bool, y_chw: bool):
    """A pointwise conv reading CHW (x_chw) or NHWC, writing CHW (y_chw) or NHWC, where at
    least one side is channel-major only (an extent-1 side counts as both)."""

    def applies(node: Node, graph: Graph, target: KernelTarget) -> bool:
        if not is_pointwise(node, graph) or _nhwc(node, graph):
            return False
        x, y = node.inputs[0], node.outputs[0]
        sides = []
        for name, chw in ((x, x_chw), (y, y_chw)):
            is_chw, is_nhwc = is_layout(graph, name, CHW), is_layout(graph, name, NHWC)
            if not (is_chw or is_nhwc):
                return False
            sides.append((is_chw and not is_nhwc) == chw)
        return all(sides)

    return applies


def _nhwc_depthwise(node: Node, graph: Graph, target: KernelTarget) -> bool:
    # One input channel (kws's first layer, 1 -> 64) runs here too: the depthwise kernel's
    # one-channel SIMD path uses each input word for four taps, ahead of tinyc_conv_s8's.
    return _nhwc(node, graph) and not _in_place(node) and is_depthwise(node, graph)


def _nhwc_conv(node: Node, graph: Graph, target: KernelTarget) -> bool:
    return _nhwc(node, graph) and not _in_place(node)


def _nhwc_conv_im2col(node: Node, graph: Graph, target: KernelTarget) -> bool:
    """DSP cores, one group, not pointwise (a 1x1 stride-1 conv has no window to expand)
    (passes/scratch.py avoids it where its scratch would grow the arena):
    KxK convs, first layers with one to three input channels (kws's one-channel 10x4 conv
    too: at 64 output channels the matrix product beats the depthwise kernel's taps), and
    strided 1x1 convs."""
    attrs: ops.Conv2d = node.attrs  # type: ignore[assignment]
    return (target.dsp and _nhwc(node, graph) and not _in_place(node) and attrs.groups == 1
            and not is_pointwise(node, graph))


def _nhwc_conv_im2col8(node: Node, graph: Graph, target: KernelTarget) -> bool:
    """As tinyc_conv_im2col_s8 (the pass picks this one where that scratch is too large),
    when the input offset folds into the bias within int32."""
    if not _nhwc_conv_im2col(node, graph, target):
        return False
    x, w = graph.tensor(node.inputs[0]), graph.tensor(node.inputs[1])
    folded = -x.quant.zp * w.data.astype(np.int64).reshape(w.shape[0], -1).sum(axis=1)
    if len(node.inputs) > 2 and node.inputs[2]:
        folded = folded + np.asarray(graph.tensor(node.inputs[2]).data, dtype=np.int64).reshape(-1)
    return bool(np.abs(folded).max(initial=0) < 1 << 31)


def explain_conv(node: Node, graph: Graph) -> KernelLayoutError:
    """Why no conv variant applies (always a bug of a pass upstream)."""
    if _nhwc(node, graph) and _in_place(node):
        return KernelLayoutError(f"node {node.name}: marked in_place, but only pointwise convs and stride-1, "
                                 "same-size depthwise convs with multiplier 1 run in place (pass bug)")
    x, y = node.inputs[0], node.outputs[0]
    for name in (x, y):
        require_nhwc(node, graph, name)  # raises, naming the tensor in the wrong layout
    return KernelLayoutError(f"node {node.name}: no conv kernel reads {x} and writes {y} in these layouts")


# --- weight layouts and scratch twins --------------------------------------------------


def _ohwi(w: np.ndarray) -> np.ndarray:
    return w.transpose(0, 2, 3, 1)  # OIHW -> [OUT_C][KH][KW][IN_C / groups]


def _im2col_row_values(kernel_w: int, in_c: int) -> int:
    """tinyc_conv_im2col_s8's values per kernel row: kernel_w * in_c rounded up to 4."""
    return -(-(kernel_w * in_c) // 4) * 4


def _im2col_pairs(w: np.ndarray) -> np.ndarray:
    """OIHW -> tinyc_conv_im2col_s8's order: OHWI rows, each kernel row zero-padded to a
    multiple of 4 values (K4 per channel in all), channel pairs interleaved by groups of
    four values ([pair][group][2][4]), an odd last channel's K4 values alone at the end."""
    out_c, in_c, kernel_h, kernel_w = w.shape
    rows = _ohwi(w).reshape(out_c, kernel_h, kernel_w * in_c)
    row_values = _im2col_row_values(kernel_w, in_c)
    padded = np.zeros((out_c, kernel_h, row_values), dtype=w.dtype)
    padded[:, :, :kernel_w * in_c] = rows
    padded = padded.reshape(out_c, -1)
    k4 = padded.shape[1]
    pairs = out_c // 2
    interleaved = padded[:2 * pairs].reshape(pairs, 2, k4 // 4, 4).transpose(0, 2, 1, 3).reshape(-1)
    return np.concatenate([interleaved, padded[2 * pairs:].reshape(-1)])


def _im2col8_pairs(w: np.ndarray) -> np.ndarray:
    """OIHW -> tinyc_conv_im2col8_s8's order: OHWI rows zero-padded to K4 (the window
    rounded up to 4), channel pairs interleaved by groups of four ([pair][group][2][4]), an
    odd last channel's row alone at the end."""
    out_c = w.shape[0]
    rows = _ohwi(w).reshape(out_c, -1)
    k4 = -(-rows.shape[1] // 4) * 4
    padded = np.zeros((out_c, k4), dtype=w.dtype)
    padded[:, :rows.shape[1]] = rows
    pairs = out_c // 2
    interleaved = padded[:2 * pairs].reshape(pairs, 2, k4 // 4, 4).transpose(0, 2, 1, 3).reshape(-1)
    return np.concatenate([interleaved, padded[2 * pairs:].reshape(-1)])


def _hwo(w: np.ndarray) -> np.ndarray:
    return w[:, 0, :, :].transpose(1, 2, 0)  # OIHW (I = 1) -> [KH][KW][OUT_C] (TFLite's 1HWC)


def _chw_taps(w: np.ndarray) -> np.ndarray:
    return w[:, 0, :, :]  # OIHW (I = 1) -> [C][KH][KW]


def _oi(w: np.ndarray) -> np.ndarray:
    return w[:, :, 0, 0]  # [OUT_C][IN_C]


def _im2col_scratch(params: ParamStruct) -> int:
    """tinyc_conv_im2col_s8: two columns of K4 int16 (K4: kernel_h rows of kernel_w * in_c
    values, each rounded up to 4)."""
    k4 = params["kernel_h"] * _im2col_row_values(params["kernel_w"], params["in_c"])
    return 2 * k4 * 2


def _im2col8_scratch(params: ParamStruct) -> int:
    """tinyc_conv_im2col8_s8: two columns of K4 int8 (K4: the window rounded up to 4)."""
    return 2 * (-(-(params["kernel_h"] * params["kernel_w"] * params["in_c"]) // 4) * 4)


def _pixel_scratch(params: ParamStruct) -> int:
    """tinyc_pointwise_conv_inplace_s8: one input pixel."""
    return params["in_c"]


def _plane_scratch(params: ParamStruct) -> int:
    """tinyc_depthwise_conv_chw_inplace_s8: one output channel."""
    return params["out_h"] * params["out_w"]


def _conv_reason(params: ParamStruct) -> str:
    return "pointwise conv, pixel by pixel" if params["kernel_h"] == params["kernel_w"] == 1 else "conv, pixel by pixel"


# --- the builders ----------------------------------------------------------------------


# Variants whose DSP path runs the offset-free loop when the input offset is folded into the
# bias: NHWC-input kernels without padding (a skipped padding tap must add nothing).
_FOLDS_INPUT_OFFSET = frozenset({"tinyc_conv_s8", "tinyc_pointwise_conv_inplace_s8", "tinyc_pointwise_conv_hwc_chw_s8"})


def _folds_input_offset(variant: KernelVariant, attrs: ops.Conv2d, kernel_h: int, kernel_w: int) -> bool:
    """Only 1x1 kernels: a patch of a larger kernel gains or loses pads with its place in
    the image (top and bottom for a band, left and right too for a tile), and every patch
    of a loop must get the same constant bias."""
    return variant.symbol in _FOLDS_INPUT_OFFSET and not any(attrs.pads) and kernel_h == kernel_w == 1


def build_conv(node: Node, graph: Graph, variant: KernelVariant, strides: RowStrides) -> list[KernelCall]:
    attrs: ops.Conv2d = node.attrs  # type: ignore[assignment]
    x_name, w_name = node.inputs[0], node.inputs[1]
    b_name = node.inputs[2] if len(node.inputs) > 2 else ""
    (y_name,) = node.outputs
    x, w = graph.tensor(x_name), graph.tensor(w_name)
    out_c, _, kernel_h, kernel_w = w.shape
    assert variant.reorder_weights is not None, variant.symbol
    weights = variant.reorder_weights(w.data)
    input_offset, bias = -x.quant.zp, bias_arg(graph, b_name)
    folded = fold_input_offset(weights, bias, input_offset) if _folds_input_offset(variant, attrs, kernel_h, kernel_w) else None
    if folded is not None:
        bias, input_offset = folded
    elif variant.symbol == "tinyc_conv_im2col8_s8":
        # Every tap, padding included (it holds the zero point), is in the kernel's columns:
        # the offset folds for every pixel. The kernel keeps input_offset as the padding value.
        folded = fold_input_offset(_ohwi(w.data).reshape(out_c, -1), bias, input_offset)
        if folded is not None:
            bias = folded[0]
    p = conv_struct(node, graph, strides, input_offset)
    multiplier, shift = conv_requant_args(node, graph)
    if weights.dtype == np.int32:  # int16 pairs packed in int32 words
        weight_arg = ConstArg("weights", "int32_t", np.ascontiguousarray(weights).reshape(-1))
    else:
        weight_arg = ConstArg("weights", "int8_t", np.ascontiguousarray(weights, dtype=np.int8).reshape(-1))
    args = (
        TensorArg(x_name),
        weight_arg,
        bias,
        multiplier,
        shift,
        TensorArg(y_name),
    )
    if variant.has_scratch:
        args += (ScratchArg(variant.scratch(p)),)
    return [KernelCall(node.name, variant.symbol, variant.params_type, p, args)]


def build_fully_connected(node: Node, graph: Graph, variant: KernelVariant, strides: RowStrides) -> list[KernelCall]:
    attrs: ops.FullyConnected = node.attrs  # type: ignore[assignment]
    x_name, w_name = node.inputs[0], node.inputs[1]
    b_name = node.inputs[2] if len(node.inputs) > 2 else ""
    (y_name,) = node.outputs
    x, w, y = graph.tensor(x_name), graph.tensor(w_name), graph.tensor(y_name)
    for name in (x_name, y_name):
        require_same_layout(node, graph, name, tuple(range(len(graph.tensor(name).shape))))
    out_features, in_features = w.shape
    zero_points = set(w.quant.zero_point)
    if len(zero_points) != 1:
        raise ModelError(f"node {node.name}: per-channel weights {w_name} need one common zero point")
    requant = qparams.fully_connected_requant(x.quant, w.quant, y.quant, attrs.semantics)
    per_channel = len(requant.multipliers) > 1
    input_offset, filter_offset, bias = -x.quant.zp, -zero_points.pop(), bias_arg(graph, b_name)
    folded = fold_input_offset(w.data, bias, input_offset) if filter_offset == 0 else None
    if folded is not None:
        bias, input_offset = folded
    p = struct(
        batch=x.size // in_features, in_features=in_features, out_features=out_features,
        input_offset=input_offset, filter_offset=filter_offset, output_offset=y.quant.zp,
        per_channel=int(per_channel), act_min=attrs.act_min, act_max=attrs.act_max,
    )  # fmt: skip
    if variant.reorder_weights is None:
        weights = ConstArg("weights", "int8_t", np.ascontiguousarray(w.data, dtype=np.int8).reshape(-1))
    else:  # int16 pairs packed in int32 words (tinyc_fully_connected_w16_s8)
        weights = ConstArg("weights", "int32_t", variant.reorder_weights(w.data))
    args = (
        TensorArg(x_name),
        weights,
        bias,
        ConstArg("multiplier", "int32_t", np.asarray(requant.multipliers, dtype=np.int32)),
        ConstArg("shift", "int32_t", np.asarray(requant.shifts, dtype=np.int32)),
        TensorArg(y_name),
    )
    return [KernelCall(node.name, variant.symbol, variant.params_type, p, args)]


def _conv_variant(symbol: str, source: str | None = None, **fields) -> KernelVariant:
    c_args = 7 if fields.get("scratch") is not None else 6
    return KernelVariant(symbol=symbol, params_type="tinyc_conv_params", op_kinds=CONV, c_args=c_args,
                         source=source or f"{symbol}.c", build=build_conv, **fields)


# NHWC first: a tensor with unit spatial or channel extent is NHWC and CHW at once, and
# then runs the NHWC kernels. Only tinyc_conv_s8 and tinyc_depthwise_conv_s8 take row
# strides (regions of a larger image): the in-place variants' overlap contract and the
# channel-major ones' planes are defined on whole tensors, so a strided region never
# selects them (the registry skips them; a patch stage runs no conv in place).
CONV_VARIANTS: tuple[KernelVariant, ...] = (
    # each pointwise record's _single_s8 and _proved_s8 twins just ahead of it: layers whose
    # every channel has right shift 0 (ONNX semantics) where the single-rounding tail is proved
    # (pointwise.single_tail), and layers whose TFLite-form tail is (pointwise.proved_tail_holds);
    # the record itself holds the general loops, for the rest
    POINTWISE_NHWC_IN_PLACE_IN64_W16_SINGLE,
    POINTWISE_NHWC_IN_PLACE_IN64_W16_PROVED,
    POINTWISE_NHWC_IN_PLACE_IN64_W16,  # in_c 64, the count a constant of the loop
    POINTWISE_NHWC_IN_PLACE_W16_SINGLE,
    POINTWISE_NHWC_IN_PLACE_W16_PROVED,
    POINTWISE_NHWC_IN_PLACE_W16,  # the same with int16 weights, where the flash has room
    POINTWISE_NHWC_IN_PLACE_SINGLE,
    POINTWISE_NHWC_IN_PLACE_PROVED,
    POINTWISE_NHWC_IN_PLACE,  # DSP cores, in_c % 4 == 0 and even out_c: two pixels a block
    _conv_variant("tinyc_pointwise_conv_inplace_s8", applies=_pointwise_in_place, weight_layout="OI",
                  reorder_weights=_oi, scratch=_pixel_scratch, access=access.pointwise_inplace,
                  reason="pointwise conv, pixel by pixel through a one-pixel scratch"),
    DEPTHWISE_IN_PLACE_C4_SINGLE_W16,  # the two below for layers that round once (onnxruntime's constants)
    DEPTHWISE_IN_PLACE_C4_SINGLE,
    DEPTHWISE_IN_PLACE_C4_PROVED_W16,  # the one below for layers whose TFLite-form tail is proved
    DEPTHWISE_IN_PLACE_C4_W16,  # the same with int16 weights, where the flash has room
    DEPTHWISE_IN_PLACE_C4_PROVED,  # the one below for layers whose TFLite-form tail is proved
    DEPTHWISE_IN_PLACE_C4,  # DSP cores: channels % 4 == 0, up to 25 taps, ahead of the general in-place kernel
    _conv_variant("tinyc_depthwise_conv_inplace_s8", applies=_depthwise_in_place, weight_layout="HWO",
                  reorder_weights=_hwo, scratch=ring_scratch, access=access.depthwise_inplace,
                  reason="depthwise conv (HWC), in place through a ring of input pixels"),
    DEPTHWISE_3X3_SINGLE,  # the same for layers that round once (onnxruntime's constants)
    DEPTHWISE_3X3,  # DSP cores: 3x3, multiplier 1, channels % 4 == 0, ahead of the general depthwise kernel
    # DSP cores with flash to spare: KxK convs (not 1x1) with in_c, out_c % 4 == 0, ahead of
    # the im2col variants: no scratch, and faster at these channel counts (kernels/conv_w16.py);
    # the single-rounding twin first, where its tail is proved.
    conv_w16.CONV_W16_SINGLE,
    conv_w16.CONV_W16,
    # DSP cores with flash to spare: first layers (in_c 1-4) and strided 1x1 convs, ahead of
    # im2col: the window gathered once per pixel, int16 weights (kernels/conv_gather.py).
    conv_gather.GATHER_SINGLE_W16,  # the same for ONNX-semantics layers, the single-rounding tail proved
    conv_gather.GATHER_W16,
    _conv_variant("tinyc_conv_im2col_s8", applies=_nhwc_conv_im2col, weight_layout="OHWI/K4, pairs by 4",
                  reorder_weights=_im2col_pairs, scratch=_im2col_scratch, access=access.conv_im2col,
                  reason="conv by im2col, two pixels at a time"),
    _conv_variant("tinyc_conv_im2col8_s8", applies=_nhwc_conv_im2col8, weight_layout="OHWI/K4, pairs by 4",
                  reorder_weights=_im2col8_pairs, scratch=_im2col8_scratch, access=access.conv_im2col,
                  reason="conv by im2col (int8 columns), two pixels at a time"),
    _conv_variant("tinyc_depthwise_conv_s8", applies=_nhwc_depthwise, weight_layout="HWO", reorder_weights=_hwo,
                  access=access.depthwise, reason="depthwise conv (HWC), pixel by pixel", row_strides=True),
    *POINTWISE_NHWC_W16_SMALL_SINGLE,  # (each single and proved twin ahead of its record, as above)
    *POINTWISE_NHWC_W16_SMALL_PROVED,
    *POINTWISE_NHWC_W16_SMALL,  # the one below for in_c 8 and 16, the count a constant of the loop
    POINTWISE_NHWC_IN16_X16_W16_SINGLE,
    POINTWISE_NHWC_IN16_X16_W16_PROVED,
    POINTWISE_NHWC_IN16_X16_W16,  # the one below for in_c 16, the count a constant of the loop
    POINTWISE_NHWC_X16_W16_SINGLE,
    POINTWISE_NHWC_X16_W16_PROVED,
    POINTWISE_NHWC_X16_W16,  # the one below for in_c >= 32, each pixel pair expanded to int16 in a scratch
    POINTWISE_NHWC_W16_SINGLE,
    POINTWISE_NHWC_W16_PROVED,
    POINTWISE_NHWC_W16,  # the same with int16 weights, where the flash has room
    POINTWISE_NHWC_SINGLE,
    POINTWISE_NHWC_PROVED,
    POINTWISE_NHWC,  # DSP cores: 1x1 convs with in_c % 4 == 0 and even out_c, ahead of tinyc_conv_s8
    _conv_variant("tinyc_conv_s8", applies=_nhwc_conv, weight_layout="OHWI", reorder_weights=_ohwi,
                  access=access.conv, describe=_conv_reason, row_strides=True),
    _conv_variant("tinyc_depthwise_conv_chw_inplace_s8", applies=_depthwise_chw, weight_layout="C,KH,KW",
                  reorder_weights=_chw_taps, scratch=_plane_scratch, access=access.depthwise_chw_inplace,
                  reason="depthwise conv (CHW), channel by channel via a one-channel scratch"),
    _conv_variant("tinyc_pointwise_conv_chw_s8", applies=_pointwise_layouts(True, True), weight_layout="OI",
                  reorder_weights=_oi, access=access.pointwise(True, True),
                  reason="pointwise conv (CHW to CHW), pixel by pixel"),
    _conv_variant("tinyc_pointwise_conv_chw_hwc_s8", applies=_pointwise_layouts(True, False), weight_layout="OI",
                  reorder_weights=_oi, access=access.pointwise(True, False),
                  reason="pointwise conv (CHW to HWC), pixel by pixel"),
    _conv_variant("tinyc_pointwise_conv_hwc_chw_s8", applies=_pointwise_layouts(False, True), weight_layout="OI",
                  reorder_weights=_oi, access=access.pointwise(False, True),
                  reason="pointwise conv (HWC to CHW), pixel by pixel"),
)

def _fc_w16(node: Node, graph: Graph, target: KernelTarget) -> bool:
    """DSP cores whose flash holds the model's constants with the int16 copies
    (kernels/wide_weights.py): ad01 on the STM32F746 (1 MB) takes 528 KB."""
    return target.dsp and fc_w16_shape(node, graph) and wide_weights_fit(graph, target)


def _fc_int16_words(w: np.ndarray) -> np.ndarray:
    """[out][in] int8 -> tinyc_fully_connected_w16_s8's words: [out / 4][in / 4][4 rows][2],
    word 0 = {w[4g], w[4g + 2]}, word 1 = {w[4g + 1], w[4g + 3]} (low half first)."""
    out_features, in_features = w.shape
    blocks = w.astype(np.int64).reshape(out_features // 4, 4, in_features // 4, 4).transpose(0, 2, 1, 3)
    lo, hi = blocks[..., [0, 1]], blocks[..., [2, 3]]
    words = (lo & 0xFFFF) | ((hi & 0xFFFF) << 16)
    return words.astype(np.uint32).view(np.int32).reshape(-1)


FULLY_CONNECTED_VARIANTS: tuple[KernelVariant, ...] = (
    # the same loop where every channel has right shift 0 (ONNX semantics) and the
    # single-rounding tail is proved (kernels/fc_single.py)
    KernelVariant(fc_single.SYMBOL, "tinyc_fully_connected_params", ("FullyConnected",), 5,
                  "tinyc_fully_connected_w16_s8.c", fc_single.build, applies=fc_single.applies,
                  weight_layout="int16 pairs, 4 rows by 4", reorder_weights=_fc_int16_words,
                  access=access.fully_connected, reason="fully connected, four rows at a time",
                  int16_weights=True),
    KernelVariant("tinyc_fully_connected_w16_s8", "tinyc_fully_connected_params", ("FullyConnected",), 6,
                  "tinyc_fully_connected_w16_s8.c", build_fully_connected, applies=_fc_w16,
                  weight_layout="int16 pairs, 4 rows by 4", reorder_weights=_fc_int16_words,
                  access=access.fully_connected, reason="fully connected, four rows at a time",
                  int16_weights=True),
    KernelVariant("tinyc_fully_connected_s8", "tinyc_fully_connected_params", ("FullyConnected",), 6,
                  "tinyc_fully_connected_s8.c", build_fully_connected, weight_layout="OI",
                  access=access.fully_connected, reason="fully connected, row by row"),
)
