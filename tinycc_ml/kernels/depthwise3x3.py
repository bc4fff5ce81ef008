"""The 3x3 depthwise conv DSP cores run (tinyc_depthwise_conv_3x3_s8): its record, weight
layout, builder and access model.

Multiplier 1, dilation 1, channels a multiple of 4, NHWC, not in place: the depthwise layers
of MobileNet-like models. Per group of four channels the nine taps' weights are stored in a
row as int16 lane words ([C / 4][3][3][2], lane_taps: {c, c + 2}, {c + 1, c + 3}), so a lane
multiplies them without widening, at fixed offsets; the bias is the model's (the kernel adds
the input offset on every tap with SXTAB16, at no cost); the per-channel shift becomes
requant_tail.h's packed constants (pointwise.requant_table) and the flag word of a requantize
tail proved at compile time to need no guard (fast_tail_table), whose double shift the
weights and biases then carry (the tail shifts nothing); the bias argument is the lane table
(lane_table): biases, multipliers and the proved tail's constants in the order a pixel pair's
lanes load them. The kernel runs output pixels in pairs where it can (run_units);
pairs_traffic is its access model. tinyc_depthwise_conv_3x3_single_s8 (ONNX-semantics
layers): the same with the single-rounding tail (single_tail.py), (multiplier, offset, 0) per
channel in the lane table.
"""

from __future__ import annotations

import numpy as np

from ..ir import ops
from ..ir.graph import Graph, Node
from .access import CallTraffic, Reads
from .call import ConstArg, KernelCall, ParamStruct, TensorArg
from .common import conv_requant_args, conv_struct
from .pointwise import requant_table
from .single_tail import SingleTail, prove_single_tail
from .target import KernelTarget
from .variant import NO_STRIDES, KernelVariant, RowStrides
from .wide_weights import depthwise3x3_shape, wide_weights_fit

SYMBOL = "tinyc_depthwise_conv_3x3_s8"
SYMBOL_SINGLE = "tinyc_depthwise_conv_3x3_single_s8"
INT32 = 1 << 31
PRESHIFT_MAX = 8  # the weights pre-shifted by the tail's double shift: 127 << 8 (and -128 << 8) fit int16


def _bias(node: Node, graph: Graph) -> np.ndarray:
    """[C] int64: the model's bias (or 0)."""
    channels = graph.tensor(node.inputs[1]).shape[0]
    if len(node.inputs) > 2 and node.inputs[2]:
        return np.asarray(graph.tensor(node.inputs[2]).data, dtype=np.int64).reshape(-1)
    return np.zeros(channels, dtype=np.int64)


def _acc_bound(node: Node, graph: Graph) -> np.ndarray:
    """Per channel a bound of |acc| over every window, interior or clipped: the model's bias
    plus 255 * sum |w| (x + input_offset lies in [-255, 255])."""
    w = graph.tensor(node.inputs[1]).data.astype(np.int64)
    return np.abs(_bias(node, graph)) + 255 * np.abs(w).reshape(w.shape[0], -1).sum(axis=1)


def applies(node: Node, graph: Graph, target: KernelTarget) -> bool:
    """DSP cores, the shapes wide_weights.depthwise3x3_shape names, where the model's constants
    fit the flash with every int16 copy (the lane words are int16: wide_weights.py's rule)."""
    return target.dsp and depthwise3x3_shape(node, graph) and wide_weights_fit(graph, target)


def _requant(node: Node, graph: Graph) -> tuple[np.ndarray, np.ndarray]:
    """[C] multipliers and shifts of the layer (per-tensor constants repeated)."""
    multiplier, shift = conv_requant_args(node, graph)
    return multiplier.values, shift.values


def single_tail(node: Node, graph: Graph) -> SingleTail | None:
    """The layer's proved single-rounding tail (kernels/single_tail.py), or None."""
    multipliers, shifts = _requant(node, graph)
    return prove_single_tail(multipliers, shifts, _acc_bound(node, graph), graph.tensor(node.outputs[0]).quant.zp)


def applies_single(node: Node, graph: Graph, target: KernelTarget) -> bool:
    """applies, for an ONNX-semantics layer (onnxruntime's single-rounding constants) whose
    single-rounding tail is proved; TFLite layers keep tinyc_depthwise_conv_3x3_s8."""
    if node.kind != "Conv2d" or getattr(node.attrs, "semantics", None) != ops.ONNX or not applies(node, graph, target):
        return False
    tail = single_tail(node, graph)
    return tail is not None and tail.double_shift <= PRESHIFT_MAX


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


def lane_table(bias: np.ndarray, multipliers: np.ndarray, fast: np.ndarray) -> np.ndarray:
    """[C / 4][2][8] int32, what a pixel pair's lane loads (tinyc_dw3_pair_lane): per group of
    four channels c..c + 3, per lane (channels ch, ch + 2; ch = c, then c + 1): the two
    biases, then per channel its multiplier, k and right shift (fast_tail_table's pairs)."""
    channels = len(bias)
    ch = (np.arange(channels // 4)[:, None] * 4 + np.arange(2)[None, :]).reshape(-1)  # each lane's ch
    k, rs = fast[0:2 * channels:2], fast[1:2 * channels:2]
    m = np.asarray(multipliers, dtype=np.int64)
    table = np.stack([bias[ch], bias[ch + 2], m[ch], k[ch], rs[ch], m[ch + 2], k[ch + 2], rs[ch + 2]], axis=1)
    return table.reshape(-1).astype(np.int32)


def group_taps(w: np.ndarray) -> np.ndarray:
    """OIHW (I = 1, 3x3) -> [C / 4][3][3][4]."""
    channels = w.shape[0]
    return w[:, 0].reshape(channels // 4, 4, 3, 3).transpose(0, 2, 3, 1)


def lane_taps(w: np.ndarray) -> np.ndarray:
    """OIHW (I = 1, 3x3; int8, or int16 once pre-shifted) -> [C / 4][3][3][2] int32 words of
    int16 pairs, what a pixel pair's lane multiplies without widening: per group of four
    channels c..c + 3, per tap, the words {w[c], w[c + 2]} then {w[c + 1], w[c + 3]} (low half
    first)."""
    taps = group_taps(np.asarray(w, dtype=np.int64))  # [g][ky][kx][4]
    low, high = taps[..., [0, 1]], taps[..., [2, 3]]
    words = (low & 0xFFFF) | ((high & 0xFFFF) << 16)
    return np.ascontiguousarray(words.reshape(-1).astype(np.uint32).view(np.int32))



def build(node: Node, graph: Graph, variant: KernelVariant, strides: RowStrides) -> list[KernelCall]:
    del strides  # dense tensors only (the record does not take row strides)
    x_name, w_name = node.inputs[0], node.inputs[1]
    (y_name,) = node.outputs
    w, y = graph.tensor(w_name), graph.tensor(y_name)
    p = conv_struct(node, graph, NO_STRIDES)
    multiplier, shift = conv_requant_args(node, graph)
    if variant.symbol == SYMBOL_SINGLE:
        # the single-rounding tail (applies_single proved it): per channel (multiplier,
        # offset, 0) in the lane table where the proved tail has (multiplier, k, right_shift)
        tail = single_tail(node, graph)
        assert tail is not None and tail.double_shift <= PRESHIFT_MAX, node.name
        fast = np.concatenate([np.stack([tail.offset, np.zeros_like(tail.offset)], axis=1).reshape(-1),
                               [tail.double_shift]])
        multipliers = tail.multiplier
    else:
        fast = fast_tail_table(multiplier.values, shift.values, _acc_bound(node, graph), y.quant.zp)
        if fast[-1] > PRESHIFT_MAX:
            fast = np.zeros_like(fast)  # a left shift the int16 weights cannot take: the guarded tail
        multipliers = multiplier.values
    # where the tail is proved, weights and biases come shifted by its double shift (the proof
    # bounds (|bias| + 255 * sum |w|) << double_shift), so the kernel's tail shifts nothing
    preshift = int(fast[-1])
    lanes = lane_table(_bias(node, graph) << preshift, multipliers, fast)
    weights = lane_taps(w.data.astype(np.int64) << preshift)
    args = (
        TensorArg(x_name),
        ConstArg("weights", "int32_t", weights),
        ConstArg("bias", "int32_t", lanes),
        multiplier,
        ConstArg("requant", "int32_t", np.concatenate([requant_table(shift.values), fast[-1:]])),
        TensorArg(y_name),
    )
    return [KernelCall(node.name, variant.symbol, variant.params_type, p, args)]


PAIR_MAX_CHANNELS = 256  # TINYC_DW3_PAIR_MAX_CHANNELS: the second pixel's stack buffer


def _pair_kind(ox: int, out_w: int, in_x0: int, in_w: int, stride_w: int, rows: int, channels: int) -> bool:
    """tinyc_dw3_unit_at's twin: whether output pixel ox runs with ox + 1 as a pair."""
    if ox + 1 >= out_w or rows < 1 or stride_w not in (1, 2) or channels > PAIR_MAX_CHANNELS:
        return False
    second = in_x0 + stride_w
    return (in_x0 >= 0 and second + 3 <= in_w) or (in_x0 == -1 and second + 3 <= in_w) or (
        in_x0 >= 0 and second + 3 == in_w + 1)


def run_units(p: ParamStruct) -> list[list[tuple[int, int]]]:
    """Per output row (batch-major): its units in run order, (first pixel, pixel count)."""
    in_h, in_w, out_w, sh, sw = p["in_h"], p["in_w"], p["out_w"], p["stride_h"], p["stride_w"]
    units = []
    for oy in range(p["batch"] * p["out_h"]):
        in_y0 = oy % p["out_h"] * sh - p["pad_top"]
        rows = min(3, in_h - in_y0) - max(0, -in_y0)
        row, ox = [], 0
        while ox < out_w:
            count = 2 if _pair_kind(ox, out_w, ox * sw - p["pad_left"], in_w, sw, rows, p["in_c"]) else 1
            row.append((oy * out_w + ox, count))
            ox += count
        units.append(row)
    return units


def _windows(p: ParamStruct) -> tuple[np.ndarray, np.ndarray]:
    """Every in-bounds (output pixel, tap) of the 3x3 windows, by pixel: the pixel's index and
    the tapped input pixel's."""
    n, oh, ow = p["batch"], p["out_h"], p["out_w"]
    b, oy, ox, ky, kx = (a.reshape(-1) for a in np.meshgrid(*(np.arange(e, dtype=np.int64) for e in (n, oh, ow, 3, 3)),
                                                             indexing="ij"))
    iy = oy * p["stride_h"] - p["pad_top"] + ky
    ix = ox * p["stride_w"] - p["pad_left"] + kx
    ok = (iy >= 0) & (iy < p["in_h"]) & (ix >= 0) & (ix < p["in_w"])
    return ((b * oh + oy) * ow + ox)[ok], ((b * p["in_h"] + iy) * p["in_w"] + ix)[ok]


def pairs_traffic(p: ParamStruct) -> CallTraffic:
    """What tinyc_depthwise_conv_3x3_s8 does (NHWC, multiplier 1): per output row, its pixels
    in units (run_units: pairs where both windows' columns are inside the input but one edge
    column, else single pixels); per unit, per group of four channels, per lane (channels
    c, c + 2, then c + 1, c + 3): read the unit's windows at the lane's channels; after both
    lanes write the group's four bytes of the first pixel (the second's go to a stack
    buffer); a pair ends with a block writing the second pixel. One block per (unit, group),
    and a last one per pair. Built with array arithmetic (the patch search asks for it for
    every band geometry): the units cover the pixels in order, so their taps are runs of
    _windows' taps in order."""
    c = p["in_c"]
    groups = c // 4
    pixel, tapped = _windows(p)
    bounds = np.searchsorted(pixel, np.arange(p["batch"] * p["out_h"] * p["out_w"] + 1))
    units = np.array([u for row in run_units(p) for u in row], dtype=np.int64).reshape(-1, 2)
    start, count = units[:, 0], units[:, 1]
    pair = count == 2
    per_unit = groups + pair.astype(np.int64)
    base = np.cumsum(per_unit) - per_unit  # each unit's first block
    lane = np.arange(4, dtype=np.int64)
    group = np.arange(groups, dtype=np.int64)
    # reads: (tap, group, lane), the unit's block of that group
    tap_base = np.repeat(base, bounds[start + count] - bounds[start])
    pos = (tapped[:, None, None] * c + 4 * group[None, :, None] + lane[None, None, :]).reshape(-1)
    read_block = np.broadcast_to(tap_base[:, None, None] + group[None, :, None], (tapped.size, groups, 4)).reshape(-1)
    order = np.argsort(read_block, kind="stable")
    pos, read_block = pos[order], read_block[order]
    # writes: the first pixel's group bytes after each group; a pair's second pixel in its last block
    first_pos = (start[:, None, None] * c + 4 * group[None, :, None] + lane[None, None, :]).reshape(-1)
    first_block = np.broadcast_to(base[:, None, None] + group[None, :, None], (start.size, groups, 4)).reshape(-1)
    second_pos = ((start[pair] + 1)[:, None] * c + np.arange(c, dtype=np.int64)[None, :]).reshape(-1)
    second_block = np.repeat(base[pair] + groups, c)
    wpos, wblock = np.concatenate([first_pos, second_pos]), np.concatenate([first_block, second_block])
    order = np.argsort(wblock, kind="stable")
    return CallTraffic(int(per_unit.sum()), wpos[order], wblock[order], (Reads(pos, read_block, read_block),))


DEPTHWISE_3X3 = KernelVariant(
    symbol=SYMBOL, params_type="tinyc_conv_params", op_kinds=("Conv2d",), c_args=6, source=f"{SYMBOL}.c",
    build=build, applies=applies, weight_layout="int16 pairs, C/4,3,3,{c,c+2},{c+1,c+3}", reorder_weights=lane_taps,
    access=pairs_traffic, reason="depthwise conv (HWC), two pixels at a time", int16_weights=True,
)

DEPTHWISE_3X3_SINGLE = KernelVariant(
    symbol=SYMBOL_SINGLE, params_type="tinyc_conv_params", op_kinds=("Conv2d",), c_args=6, source=f"{SYMBOL}.c",
    build=build, applies=applies_single, weight_layout="int16 pairs, C/4,3,3,{c,c+2},{c+1,c+3}",
    reorder_weights=lane_taps,
    access=pairs_traffic, reason="depthwise conv (HWC), two pixels at a time (single-rounding tail)",
    int16_weights=True,
)
