"""The register-blocked NHWC pointwise conv (tinyc_pointwise_conv_s8): its record, its
weight interleaving and its builder.

A 1x1, stride-1, unpadded, ungrouped conv on NHWC tensors is a matrix product per image
row. On a core with the DSP extension it runs here instead of tinyc_conv_s8: two pixels
times two output channels per inner iteration (runtime_c/src/tinyc_pointwise_conv_s8.c),
the weights interleaved at compile time into the order that loop loads them, the input
offset folded into the bias (every tap reads the input). conv.py lists the record ahead of
tinyc_conv_s8, so the channel counts it needs (in_c % 4 == 0, out_c % 2 == 0) decide.
Its in-place twin (tinyc_pointwise_conv_inplace_pairs_s8, where the in-place pass marked the
node) copies each pixel pair into a scratch first. With int16 weights (where the flash has
room): tinyc_pointwise_conv_in8_w16_s8 (in_c 8, the count a constant of the loop),
_in16_w16_s8 and _x16_w16_s8 (in_c 16, >= 32: each pixel pair expanded to int16 into a scratch
first), _w16_s8 for the other counts. Each of these runs the general loops (any input offset,
the guarded requantize tail); its _proved_s8 twin, listed just ahead of it, runs the same loops
and order with the tail proved at compile time (proved_tail_table) for layers where the proof
holds for every channel and the input offset folds away (proved_tail_holds), which is nearly
every TFLite layer, so a firmware links the general loops only where a layer needs them.
Layers whose every channel has right shift 0 (ONNX semantics, TFLite multipliers >= 1), where
that proof never holds, run the _single_s8 twin instead: the same loops and order, the
single-rounding tail (kernels/single_tail.py) where it is proved and the input offset folded.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..errors import ModelError
from ..ir import ops
from ..ir.graph import Graph, Node
from ..quant import fixedpoint
from . import access
from .call import ConstArg, KernelCall, ParamStruct, ScratchArg, TensorArg
from .common import bias_arg, conv_requant_args, fold_input_offset, struct
from .single_tail import SingleTail, prove_single_tail
from .target import KernelTarget
from .variant import KernelVariant, RowStrides
from .wide_weights import pointwise_nhwc_shape, wide_weights_fit

SYMBOL = "tinyc_pointwise_conv_s8"


def _shape_applies(node: Node, graph: Graph, target: KernelTarget, in_place: bool) -> bool:
    return pointwise_nhwc_shape(node, graph, target, in_place)


def applies(node: Node, graph: Graph, target: KernelTarget) -> bool:
    return _shape_applies(node, graph, target, in_place=False)


def applies_in_place(node: Node, graph: Graph, target: KernelTarget) -> bool:
    return _shape_applies(node, graph, target, in_place=True)


def applies_w16(node: Node, graph: Graph, target: KernelTarget) -> bool:
    return applies(node, graph, target) and wide_weights_fit(graph, target)


def applies_w16_in(in_c: int):
    """applies_w16 for one input channel count (the kernels specialised for it)."""

    def applies_class(node: Node, graph: Graph, target: KernelTarget) -> bool:
        return applies_w16(node, graph, target) and graph.tensor(node.inputs[0]).shape[1] == in_c

    return applies_class


def _expansion_pays(node: Node, graph: Graph) -> bool:
    """At least 32 output channels: the pair's expansion (8 instructions per four input
    channels) is spread over out_c / 2 blocks that each save 4 there, and a layer that narrow
    is rarely where its scratch would set the arena (a few output channels are: the inception
    test's 32 -> 4 branch ends)."""
    return graph.tensor(node.outputs[0]).shape[1] >= 32


def applies_in16_x16(node: Node, graph: Graph, target: KernelTarget) -> bool:
    return applies_w16_in(16)(node, graph, target) and _expansion_pays(node, graph)


def applies_in_place_w16(node: Node, graph: Graph, target: KernelTarget) -> bool:
    return applies_in_place(node, graph, target) and wide_weights_fit(graph, target)


def applies_in_place_in64_w16(node: Node, graph: Graph, target: KernelTarget) -> bool:
    """applies_in_place_w16 for exactly 64 input channels (kws's 64 -> 64 layers)."""
    return applies_in_place_w16(node, graph, target) and graph.tensor(node.inputs[0]).shape[1] == 64


def inplace_pair_scratch(params: ParamStruct) -> int:
    """Twin of tinyc_pointwise_conv_inplace_pairs_s8_get_buffer_size: pair_scratch, the pairs
    running over the whole image."""
    return 2 * (2 if params["batch"] * params["in_h"] * params["in_w"] > 1 else 1) * params["in_c"] + 3


def pair_scratch(params: ParamStruct) -> int:
    """Twin of tinyc_pointwise_conv_inplace_pairs_s8_get_buffer_size: one pixel pair expanded
    to int16, and 3 bytes to start it on a word."""
    return 2 * (2 if params["in_w"] > 1 else 1) * params["in_c"] + 3


def interleave(oi: np.ndarray) -> np.ndarray:
    """[out_c][in_c] -> [out_c / 2][in_c / 4][2][4]: per pair of output channels, per block of
    four input channels, the first channel's four weights, then the second's."""
    out_c, in_c = oi.shape
    return oi.reshape(out_c // 2, 2, in_c // 4, 4).transpose(0, 2, 1, 3)


def _reorder(w: np.ndarray) -> np.ndarray:
    return interleave(w[:, :, 0, 0])  # OIHW, 1x1


def int16_words(oi: np.ndarray) -> np.ndarray:
    """[out_c][in_c] int8 -> the w16 kernels' int32 words [out_c / 2][in_c / 4][2][2]: per pair
    of output channels, per block of four input channels, per channel {w0, w2} then {w1, w3}
    (low half first), the order the SMLADs read them."""
    blocks = interleave(oi).astype(np.int64)  # [out/2][in/4][2][4]
    lo, hi = blocks[..., [0, 1]], blocks[..., [2, 3]]
    words = (lo & 0xFFFF) | ((hi & 0xFFFF) << 16)
    return words.astype(np.uint32).view(np.int32).reshape(-1)


def _reorder_w16(w: np.ndarray) -> np.ndarray:
    return int16_words(w[:, :, 0, 0])


def requant_table(shifts: np.ndarray) -> np.ndarray:
    """Per channel the two words the kernel's requantize tail reads instead of the shift
    (tinyc_pw_channel in the C): double_shift | right_shift << 8 | (right_shift != 0) << 16,
    and round = 2^(right_shift - 1) (0 when right_shift is 0); the constants
    tinyc_requant_channel_of (requant.h) would derive at run time."""
    shift = np.asarray(shifts, dtype=np.int64)
    left = np.maximum(shift, 0)
    double_shift, right_shift = left + 1, left - shift
    round_term = np.where(right_shift > 0, np.left_shift(1, np.maximum(right_shift - 1, 0)), 0)
    packed = double_shift | (right_shift << 8) | ((right_shift != 0).astype(np.int64) << 16)
    return np.stack([packed, round_term], axis=1).astype(np.int32).reshape(-1)


INT32 = 1 << 31


def proved_tail_table(multipliers: np.ndarray, shifts: np.ndarray, acc_bound: np.ndarray, output_offset: int,
                      constant: np.ndarray | None = None) -> np.ndarray:
    """One word, then [C][3] (multiplier, k, right_shift): the proved requantize tail of
    tinyc_pointwise_conv_s8 (requant_tail.h tinyc_tail_proved). The word is the double
    shift every channel shares where the tail without a guard is exact for every channel,
    0 otherwise (the kernel then takes its guarded tail). Exact means, for |acc| <=
    acc_bound: 2 * (acc << left) fits int32 (the guard would always pass), right_shift >= 1
    (the sign fix-up is v >> 31), and v + k + (v >> 31) stays in int32 for every SMMULR
    result v, with k = round + (output_offset << right_shift), so ((v + round + (v >> 31))
    >> right_shift) + output_offset == (v + k + (v >> 31)) >> right_shift (the proof of
    kernels/depthwise3x3.py's fast_tail_table). A channel whose output is the same for every
    input (`constant`, the byte or -1000: its weights are all 0) needs no proof: multiplier
    0, right_shift 1, k twice the byte plus one, so that both sign fix-ups give the byte:
    (k + (v >> 31)) >> 1 with v = 0, and tinyc_pointwise_conv_in8_w16_s8's (k + (acc >> 31))
    >> 1 for an accumulator (the channel's bias) of either sign."""
    m = np.asarray(multipliers, dtype=np.int64)
    shift = np.asarray(shifts, dtype=np.int64)
    fixed = np.zeros(len(m), dtype=bool) if constant is None else np.asarray(constant) > -1000
    left = np.maximum(shift, 0)
    double_shift, right_shift = left + 1, left - shift
    round_term = np.where(right_shift > 0, np.left_shift(1, np.maximum(right_shift - 1, 0)), 0)
    k = round_term + np.int64(output_offset) * np.left_shift(np.int64(1), np.minimum(right_shift, 62))
    doubled_bound = np.left_shift(np.asarray(acc_bound, dtype=np.int64), np.minimum(double_shift, 32))
    v_bound = (doubled_bound * m >> 32) + 1  # |SMMULR(doubled, m)| for m in [0, 2^31)
    live = ~fixed
    shared = double_shift[live][0] if live.any() else 1
    proved = bool(np.all(~live | ((double_shift == shared) & (right_shift >= 1) & (right_shift < 32)
                                  & (doubled_bound < INT32) & (v_bound + k < INT32) & (k - v_bound - 1 >= -INT32))))
    if constant is not None:
        m, k, right_shift = np.where(fixed, 0, m), np.where(fixed, 2 * np.asarray(constant, dtype=np.int64) + 1, k), \
            np.where(fixed, 1, right_shift)
    table = np.stack([m, k, right_shift], axis=1) if proved else np.zeros((len(m), 3), dtype=np.int64)
    return np.concatenate([[int(shared) if proved else 0], table.reshape(-1)]).astype(np.int32)


def constant_outputs(weights_oi: np.ndarray, bias: np.ndarray | None, multipliers: np.ndarray, shifts: np.ndarray,
                     output_offset: int, act_min: int, act_max: int) -> np.ndarray:
    """Per output channel the byte it writes for every input where its weights are all 0
    (then acc is the bias: the reference tail of it), -1000 elsewhere."""
    b = np.zeros(weights_oi.shape[0], dtype=np.int64) if bias is None else np.asarray(bias, dtype=np.int64).reshape(-1)
    value = fixedpoint.multiply_by_quantized_multiplier(b, np.asarray(multipliers), np.asarray(shifts)) + output_offset
    value = np.clip(value, act_min, act_max)
    return np.where(np.all(weights_oi == 0, axis=1), value, -1000)


def acc_bound(weights_oi: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    """Per output channel a bound of |acc| = |bias + sum (x + input_offset) * w| over every
    input: x + input_offset lies in [-255, 255] (the model's bias, before any folding: the
    folded form sums to the same number)."""
    w = np.abs(weights_oi.astype(np.int64)).sum(axis=1)
    b = np.zeros_like(w) if bias is None else np.abs(np.asarray(bias, dtype=np.int64).reshape(-1))
    return b + 255 * w


def requant_args(multipliers: np.ndarray, shifts: np.ndarray, bias: np.ndarray | None, bound: np.ndarray,
                 output_offset: int, constant: np.ndarray | None = None, single: SingleTail | None = None,
                 doubled_bias: bool = False) -> np.ndarray:
    """The kernels' `requant` argument: requant_table (2 words a channel), then the proved
    tail's double-shift word (proved_tail_table) and per channel (bias or 0, multiplier, k,
    right_shift): what the SIMD path's block reads, from one pointer. With `single` (the
    _single_s8 kernels): its double shift, and per channel (bias or 0, multiplier, offset, 0).
    doubled_bias (tinyc_pointwise_conv_in8_w16_s8 and the expanded-pair kernels, whose proved
    loops double their inputs instead of shifting each accumulator): where the tail is proved, per channel 2 * bias (it fits:
    the proof bounds 2 * acc), 0 for a constant channel (its k gives the byte for any sign)."""
    b = np.zeros(len(shifts), dtype=np.int64) if bias is None else np.asarray(bias, dtype=np.int64).reshape(-1)
    if single is not None:
        head = np.array([single.double_shift], dtype=np.int64)
        tail = np.stack([single.multiplier, single.offset, np.zeros_like(single.offset)], axis=1)
        if doubled_bias:
            assert single.double_shift == 1  # the doubling loops' records (pointwise._single_twin)
            b = np.where(single.multiplier == 0, 0, 2 * b)  # a constant channel's SMMLAR returns its byte
    else:
        proved = proved_tail_table(multipliers, shifts, bound, output_offset, constant)
        head, tail = proved[:1], proved[1:].reshape(-1, 3)
        if doubled_bias and head[0] != 0:
            assert head[0] == 1  # right_shift >= 1: shift < 0, double shift 1
            fixed = np.zeros(len(b), dtype=bool) if constant is None else np.asarray(constant).reshape(-1) > -1000
            b = np.where(fixed, 0, 2 * b)
    per_channel = np.concatenate([b[:, None], tail], axis=1)
    return np.concatenate([requant_table(shifts), head, per_channel.reshape(-1)]).astype(np.int32)


def single_tail(node: Node, graph: Graph) -> SingleTail | None:
    """The layer's proved single-rounding tail (single_tail.prove_single_tail over the
    accumulators build's call can produce), or None: not every channel has right shift 0, the
    proof fails, the weights are not symmetric, or the input offset cannot be folded into the
    bias (the _single_s8 kernels have no loop that adds it). ONNX semantics only: the tail is
    as exact for a TFLite layer whose multipliers are all >= 1, but such layers are rare and
    are what the guarded tail's tests (test_kernels_pointwise_tail.py) run on."""
    attrs: ops.Conv2d = node.attrs  # type: ignore[assignment]
    if attrs.semantics != ops.ONNX:
        return None
    x, w, y = graph.tensor(node.inputs[0]), graph.tensor(node.inputs[1]), graph.tensor(node.outputs[0])
    if any(zp != 0 for zp in w.quant.zero_point):
        return None
    oi = w.data[:, :, 0, 0]
    bias = bias_arg(graph, node.inputs[2] if len(node.inputs) > 2 else "")
    if x.quant.zp != 0 and fold_input_offset(oi, bias, -x.quant.zp) is None:
        return None
    bias_values = bias.values if isinstance(bias, ConstArg) else None
    multiplier, shift = conv_requant_args(node, graph)
    constant = constant_outputs(oi, bias_values, multiplier.values, shift.values, y.quant.zp, attrs.act_min,
                                attrs.act_max)
    return prove_single_tail(multiplier.values, shift.values, acc_bound(oi, bias_values), y.quant.zp, constant)


def build(node: Node, graph: Graph, variant: KernelVariant, strides: RowStrides) -> list[KernelCall]:
    del strides  # dense tensors only (the record does not take row strides)
    return _build(node, graph, variant, None)


def build_single(node: Node, graph: Graph, variant: KernelVariant, strides: RowStrides) -> list[KernelCall]:
    """build for the _single_s8 kernels: the single-rounding tail's constants in `requant`."""
    del strides
    single = single_tail(node, graph)
    if single is None:
        raise ModelError(f"node {node.name}: {variant.symbol} needs the single-rounding tail proved")
    return _build(node, graph, variant, single)


def _build(node: Node, graph: Graph, variant: KernelVariant, single: SingleTail | None) -> list[KernelCall]:
    attrs: ops.Conv2d = node.attrs  # type: ignore[assignment]
    x_name, w_name = node.inputs[0], node.inputs[1]
    b_name = node.inputs[2] if len(node.inputs) > 2 else ""
    (y_name,) = node.outputs
    x, w, y = graph.tensor(x_name), graph.tensor(w_name), graph.tensor(y_name)
    if any(zp != 0 for zp in w.quant.zero_point):
        raise ModelError(f"node {node.name}: conv weights {w_name} must be symmetric (zero point 0)")
    n, in_c, in_h, in_w = x.shape
    out_c = w.shape[0]
    input_offset, bias = -x.quant.zp, bias_arg(graph, b_name)
    bound = acc_bound(w.data[:, :, 0, 0], bias.values if isinstance(bias, ConstArg) else None)
    folded = fold_input_offset(w.data[:, :, 0, 0], bias, input_offset)  # [out][in]: every tap is real
    if folded is not None:
        bias, input_offset = folded
    p = struct(
        batch=n, in_h=in_h, in_w=in_w, in_c=in_c, out_h=in_h, out_w=in_w, out_c=out_c,
        kernel_h=1, kernel_w=1, stride_h=1, stride_w=1, dilation_h=attrs.dilations[0], dilation_w=attrs.dilations[1],
        pad_top=0, pad_left=0, pad_bottom=0, pad_right=0,
        groups=1, input_offset=input_offset, output_offset=y.quant.zp,
        act_min=attrs.act_min, act_max=attrs.act_max,
        input_row_stride=in_w * in_c, output_row_stride=in_w * out_c,
    )  # fmt: skip
    multiplier, shift = conv_requant_args(node, graph)
    if variant.reorder_weights is _reorder_w16:
        weights = ConstArg("weights", "int32_t", _reorder_w16(w.data))
    else:
        weights = ConstArg("weights", "int8_t", np.ascontiguousarray(_reorder(w.data), dtype=np.int8).reshape(-1))
    constant = constant_outputs(w.data[:, :, 0, 0], bias.values if isinstance(bias, ConstArg) else None,
                                multiplier.values, shift.values, y.quant.zp, attrs.act_min, attrs.act_max)
    requant = ConstArg("requant", "int32_t", requant_args(multiplier.values, shift.values,
                                                         bias.values if isinstance(bias, ConstArg) else None, bound,
                                                         y.quant.zp, constant, single,
                                                         doubled_bias=_doubles_its_inputs(variant)))
    args = (TensorArg(x_name), weights, bias, multiplier, requant, TensorArg(y_name))
    if variant.has_scratch:
        args += (ScratchArg(variant.scratch(p)),)
    return [KernelCall(node.name, variant.symbol, variant.params_type, p, args)]


POINTWISE_NHWC = KernelVariant(
    symbol=SYMBOL, params_type="tinyc_conv_params", op_kinds=("Conv2d",), c_args=6, source=f"{SYMBOL}.c",
    build=build, applies=applies, weight_layout="O/2,I/4,2,4", reorder_weights=_reorder,
    access=access.pointwise_pairs, reason="pointwise conv, two pixels at a time",
)

# Listed ahead of tinyc_pointwise_conv_inplace_s8 (conv.py): the same in-place guarantee (a
# pixel's whole input read before any of its output is written) for pairs of pixels.
POINTWISE_NHWC_IN_PLACE = KernelVariant(
    symbol="tinyc_pointwise_conv_inplace_pairs_s8", params_type="tinyc_conv_params", op_kinds=("Conv2d",), c_args=7,
    source=f"{SYMBOL}.c", build=build, applies=applies_in_place, weight_layout="O/2,I/4,2,4", reorder_weights=_reorder,
    scratch=inplace_pair_scratch, access=access.pointwise_inplace_pairs,
    reason="pointwise conv, two pixels at a time through a two-pixel scratch",
)

# The int16-weight twins, listed ahead of the two above (conv.py): where the flash has room
# (applies_w16), the same loops without SXTB16 on the weight side.
POINTWISE_NHWC_W16 = KernelVariant(
    symbol="tinyc_pointwise_conv_w16_s8", params_type="tinyc_conv_params", op_kinds=("Conv2d",), c_args=6,
    source=f"{SYMBOL}.c", build=build, applies=applies_w16,
    int16_weights=True, weight_layout="int16 pairs, O/2,I/4,2,2",
    reorder_weights=_reorder_w16, access=access.pointwise_pairs,
    reason="pointwise conv, two pixels at a time, int16 weights",
)

IN8_W16_SYMBOL = "tinyc_pointwise_conv_in8_w16_s8"


def _doubles_its_inputs(variant: KernelVariant) -> bool:
    """The kernels whose proved loops double their inputs (in8 and its twins: per pixel; the
    ones with a scratch: in the expanded pair) and so take requant_args' doubled bias."""
    return variant.symbol.startswith(IN8_W16_SYMBOL.removesuffix("_s8")) or variant.has_scratch

# The int16-weight kernel with in_c a constant of its loop (8, 16: vww's first 1x1 layers,
# where the per-output cost dominates), listed ahead of POINTWISE_NHWC_W16 (conv.py).
POINTWISE_NHWC_W16_SMALL = tuple(
    KernelVariant(
        symbol=f"tinyc_pointwise_conv_in{in_c}_w16_s8", params_type="tinyc_conv_params", op_kinds=("Conv2d",), c_args=6,
        source=f"{SYMBOL}.c", build=build, applies=applies_w16_in(in_c),
        int16_weights=True, weight_layout="int16 pairs, O/2,I/4,2,2",
        reorder_weights=_reorder_w16, access=access.pointwise_pairs,
        reason=f"pointwise conv, two pixels at a time, int16 weights, {in_c} input channels unrolled",
    )
    for in_c in (8,)
)

# in_c 16 (vww's 24x24 layer): the expanded pair of tinyc_pointwise_conv_x16_w16_s8 with the
# count a constant of the loop.
POINTWISE_NHWC_IN16_X16_W16 = KernelVariant(
    symbol="tinyc_pointwise_conv_in16_w16_s8", params_type="tinyc_conv_params", op_kinds=("Conv2d",), c_args=7,
    source=f"{SYMBOL}.c", build=build, applies=applies_in16_x16,
    int16_weights=True, weight_layout="int16 pairs, O/2,I/4,2,2",
    reorder_weights=_reorder_w16, scratch=pair_scratch, access=access.pointwise_pairs,
    reason="pointwise conv, two pixels at a time expanded to int16 in a scratch, int16 weights, 16 input channels unrolled",
)

def applies_x16(node: Node, graph: Graph, target: KernelTarget) -> bool:
    """applies_w16 from 32 input and 32 output channels on: there the expanded pair's scratch pays."""
    return (applies_w16(node, graph, target) and graph.tensor(node.inputs[0]).shape[1] >= 32
            and _expansion_pays(node, graph))


# The int16-weight kernel that expands each pixel pair to int16 into a scratch first (the
# blocks then load input words, no SXTB16), listed ahead of POINTWISE_NHWC_W16 (conv.py).
# Its SIMD path reads a pair's input before any block of the pair, earlier than
# pointwise_pairs says, so the model's distances hold; the portable path is the model's.
POINTWISE_NHWC_X16_W16 = KernelVariant(
    symbol="tinyc_pointwise_conv_x16_w16_s8", params_type="tinyc_conv_params", op_kinds=("Conv2d",), c_args=7,
    source=f"{SYMBOL}.c", build=build, applies=applies_x16,
    int16_weights=True, weight_layout="int16 pairs, O/2,I/4,2,2",
    reorder_weights=_reorder_w16, scratch=pair_scratch, access=access.pointwise_pairs,
    reason="pointwise conv, two pixels at a time expanded to int16 in a scratch, int16 weights",
)

POINTWISE_NHWC_IN_PLACE_W16 = KernelVariant(
    symbol="tinyc_pointwise_conv_inplace_pairs_w16_s8", params_type="tinyc_conv_params", op_kinds=("Conv2d",),
    c_args=7, source=f"{SYMBOL}.c", build=build, applies=applies_in_place_w16,
    int16_weights=True, weight_layout="int16 pairs, O/2,I/4,2,2",
    reorder_weights=_reorder_w16, scratch=inplace_pair_scratch,
    access=access.pointwise_inplace_pairs,
    reason="pointwise conv, two pixels at a time through a two-pixel scratch, int16 weights",
)

# in_c 64 (kws's four 64 -> 64 layers), listed ahead of POINTWISE_NHWC_IN_PLACE_W16 (conv.py):
# the same loops and order with the count a constant (each channel pair's 16 blocks
# unrolled); 1.16 -> 0.96 instructions per MAC on qemu-m7.
POINTWISE_NHWC_IN_PLACE_IN64_W16 = KernelVariant(
    symbol="tinyc_pointwise_conv_inplace_pairs_in64_w16_s8", params_type="tinyc_conv_params", op_kinds=("Conv2d",),
    c_args=7, source=f"{SYMBOL}.c", build=build, applies=applies_in_place_in64_w16,
    int16_weights=True, weight_layout="int16 pairs, O/2,I/4,2,2",
    reorder_weights=_reorder_w16, scratch=inplace_pair_scratch,
    access=access.pointwise_inplace_pairs,
    reason="pointwise conv, two pixels at a time through a two-pixel scratch, int16 weights, 64 input channels unrolled",
)


def proved_tail_holds(node: Node, graph: Graph, variant: KernelVariant) -> bool:
    """Whether build gives the layer what the SIMD path's proved loops need: the input offset
    folded into the bias (params input_offset 0) and the proved tail for every channel
    (requant's double-shift word not 0, proved_tail_table)."""
    (call,) = _build(node, graph, variant, None)
    requant = next(a.values for a in call.args if isinstance(a, ConstArg) and a.name == "requant")
    return call.params["input_offset"] == 0 and int(requant[2 * int(call.params["out_c"])]) != 0


def _proved_twin(base: KernelVariant) -> KernelVariant:
    """base's proved-tail twin (tinyc_<op>[_<variant>]_proved_s8): the same loops, order,
    scratch, weights and constants, only the proved loops, for layers where proved_tail_holds;
    listed just ahead of base (conv.py), which keeps the general loops for the others."""

    def applies_proved(node: Node, graph: Graph, target: KernelTarget) -> bool:
        return base.applies(node, graph, target) and proved_tail_holds(node, graph, base)

    symbol = base.symbol.removesuffix("_s8") + "_proved_s8"
    return replace(base, symbol=symbol, applies=applies_proved, reason=f"{base.reason}, proved tail")


def _single_twin(base: KernelVariant) -> KernelVariant:
    """base's single-rounding twin (tinyc_<op>[_<variant>]_single_s8): the same loops, order,
    scratch and weights, for layers whose tail single_tail proves; listed just ahead of base
    (conv.py)."""

    def applies_single(node: Node, graph: Graph, target: KernelTarget) -> bool:
        if not base.applies(node, graph, target):
            return False
        tail = single_tail(node, graph)
        # the loops that double their inputs (in8, the expanded pair) need double shift 1
        return tail is not None and (tail.double_shift == 1 or not _doubles_its_inputs(base))

    symbol = base.symbol.removesuffix("_s8") + "_single_s8"
    return replace(base, symbol=symbol, build=build_single, applies=applies_single,
                   reason=f"{base.reason}, single-rounding tail")


POINTWISE_NHWC_PROVED = _proved_twin(POINTWISE_NHWC)
POINTWISE_NHWC_IN_PLACE_PROVED = _proved_twin(POINTWISE_NHWC_IN_PLACE)
POINTWISE_NHWC_W16_PROVED = _proved_twin(POINTWISE_NHWC_W16)
POINTWISE_NHWC_W16_SMALL_PROVED = tuple(_proved_twin(v) for v in POINTWISE_NHWC_W16_SMALL)
POINTWISE_NHWC_IN16_X16_W16_PROVED = _proved_twin(POINTWISE_NHWC_IN16_X16_W16)
POINTWISE_NHWC_X16_W16_PROVED = _proved_twin(POINTWISE_NHWC_X16_W16)
POINTWISE_NHWC_IN_PLACE_W16_PROVED = _proved_twin(POINTWISE_NHWC_IN_PLACE_W16)
POINTWISE_NHWC_IN_PLACE_IN64_W16_PROVED = _proved_twin(POINTWISE_NHWC_IN_PLACE_IN64_W16)

POINTWISE_NHWC_SINGLE = _single_twin(POINTWISE_NHWC)
POINTWISE_NHWC_IN_PLACE_SINGLE = _single_twin(POINTWISE_NHWC_IN_PLACE)
POINTWISE_NHWC_W16_SINGLE = _single_twin(POINTWISE_NHWC_W16)
POINTWISE_NHWC_W16_SMALL_SINGLE = tuple(_single_twin(v) for v in POINTWISE_NHWC_W16_SMALL)
POINTWISE_NHWC_IN16_X16_W16_SINGLE = _single_twin(POINTWISE_NHWC_IN16_X16_W16)
POINTWISE_NHWC_X16_W16_SINGLE = _single_twin(POINTWISE_NHWC_X16_W16)
POINTWISE_NHWC_IN_PLACE_W16_SINGLE = _single_twin(POINTWISE_NHWC_IN_PLACE_W16)
POINTWISE_NHWC_IN_PLACE_IN64_W16_SINGLE = _single_twin(POINTWISE_NHWC_IN_PLACE_IN64_W16)
