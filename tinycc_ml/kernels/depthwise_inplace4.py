"""The in-place NHWC depthwise conv DSP cores run (tinyc_depthwise_conv_inplace_c4_s8, and its
int16-weight twin tinyc_depthwise_conv_inplace_c4_w16_s8 where the flash has room,
wide_weights.py): their records, weight layouts and builder, and the ring scratch every
in-place depthwise kernel uses.

Where the in-place pass marked a stride-1, same-size depthwise conv with multiplier 1 (kws's
four 3x3 layers), on a DSP core with channels % 4 == 0 and at most 25 taps: four channels at
a time, tap pairs through SMLAD. The compiler prepares every constant: the weights in tap
pairs ([C / 4][taps], pair_taps; int16: pair_taps_w16), the input offset folded into the bias (a tap outside the
image reads a row of input zero points, `pad`, so every window has all its taps), and the
requantize tail of tinyc_depthwise_conv_3x3_s8 (packed constants, then the tail proved at
compile time, depthwise3x3.fast_tail_table). The loop order and the ring are
tinyc_depthwise_conv_inplace_s8's (access.depthwise_inplace), so the overlap and the arena
stay as they were. Per group of four channels its biases, multipliers and tail constants lie
in one row of `consts` (group_constants), so a pixel's loop walks one pointer for them.
Each kernel comes in three records, so a firmware links only the tails its layers use: the
_proved twin (the TFLite-form tail proved for every channel: applies_proved), the _single one
(ONNX semantics, kernels/single_tail.py), and the kernel itself, which build gives the guarded
tail for every other layer.
"""

from __future__ import annotations

import numpy as np

from ..ir import ops
from ..ir.graph import Graph, Node
from . import access
from .call import ConstArg, KernelCall, ParamStruct, ScratchArg, TensorArg
from .common import conv_requant_args, conv_struct
from .depthwise3x3 import fast_tail_table
from .pointwise import requant_table
from .single_tail import SingleTail, prove_single_tail
from .target import KernelTarget
from .variant import NO_STRIDES, KernelVariant, RowStrides
from .wide_weights import depthwise_inplace4_shape, wide_weights_fit

SYMBOL = "tinyc_depthwise_conv_inplace_c4_s8"
SYMBOL_W16 = "tinyc_depthwise_conv_inplace_c4_w16_s8"
SYMBOL_SINGLE = "tinyc_depthwise_conv_inplace_c4_single_s8"
SYMBOL_SINGLE_W16 = "tinyc_depthwise_conv_inplace_c4_single_w16_s8"
SYMBOL_PROVED = "tinyc_depthwise_conv_inplace_c4_proved_s8"
SYMBOL_PROVED_W16 = "tinyc_depthwise_conv_inplace_c4_proved_w16_s8"
PRESHIFT_MAX = 8  # int16 weights pre-shifted by the proved double shift: 127 << 8 fits int16


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


def _requant(node: Node, graph: Graph) -> tuple[np.ndarray, np.ndarray]:
    """[C] multipliers and shifts of the layer (per-tensor constants repeated)."""
    multiplier, shift = conv_requant_args(node, graph)
    return multiplier.values, shift.values


def _acc_bound(node: Node, graph: Graph) -> np.ndarray:
    """|acc| <= |bias| + 255 * sum |w| for every window (x + input_offset in [-255, 255])."""
    channels = graph.tensor(node.inputs[1]).shape[0]
    return np.abs(_model_bias(node, graph, channels)) + 255 * _abs_weight_sums(node, graph)


def single_tail(node: Node, graph: Graph) -> SingleTail | None:
    """The layer's proved single-rounding tail (kernels/single_tail.py), or None."""
    multipliers, shifts = _requant(node, graph)
    return prove_single_tail(multipliers, shifts, _acc_bound(node, graph), graph.tensor(node.outputs[0]).quant.zp)


def applies(node: Node, graph: Graph, target: KernelTarget) -> bool:
    """DSP cores, the shapes wide_weights.depthwise_inplace4_shape names (int8 weights)."""
    return target.dsp and depthwise_inplace4_shape(node, graph)


def applies_w16(node: Node, graph: Graph, target: KernelTarget) -> bool:
    """The same where the model's constants fit the flash with every int16 copy (wide_weights.py)."""
    return applies(node, graph, target) and wide_weights_fit(graph, target)


def applies_single(node: Node, graph: Graph, target: KernelTarget) -> bool:
    """applies, for an ONNX-semantics layer (onnxruntime's single-rounding constants) whose
    single-rounding tail is proved; TFLite layers keep their kernels, code and figures."""
    return (node.kind == "Conv2d" and getattr(node.attrs, "semantics", None) == ops.ONNX
            and applies(node, graph, target) and single_tail(node, graph) is not None)


def applies_single_w16(node: Node, graph: Graph, target: KernelTarget) -> bool:
    """applies_w16 for an ONNX-semantics layer with the single tail proved, its double shift
    one the int16 weights take."""
    if node.kind != "Conv2d" or getattr(node.attrs, "semantics", None) != ops.ONNX:
        return False
    if not applies_w16(node, graph, target):
        return False
    tail = single_tail(node, graph)
    return tail is not None and tail.double_shift <= PRESHIFT_MAX


def _fast_tail(node: Node, graph: Graph) -> np.ndarray:
    """The layer's proved TFLite-form tail (depthwise3x3.fast_tail_table): [C][2] (k,
    right_shift) flattened, then the double shift (0: not proved)."""
    multipliers, shifts = _requant(node, graph)
    return fast_tail_table(multipliers, shifts, _acc_bound(node, graph), graph.tensor(node.outputs[0]).quant.zp)


def applies_proved(node: Node, graph: Graph, target: KernelTarget) -> bool:
    """applies, where the proved tail holds for every channel (the _proved kernel's loops)."""
    return applies(node, graph, target) and int(_fast_tail(node, graph)[-1]) != 0


def applies_proved_w16(node: Node, graph: Graph, target: KernelTarget) -> bool:
    """applies_w16, where the proved tail holds with a double shift the int16 weights take."""
    return applies_w16(node, graph, target) and 0 < int(_fast_tail(node, graph)[-1]) <= PRESHIFT_MAX


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


def pair_taps_w16(w: np.ndarray) -> np.ndarray:
    """OIHW (I = 1) -> int32 words of int16 pairs (low half first): per group of four channels,
    tap pairs (2p, 2p + 1) as {a0, b0} {a1, b1} {a2, b2} {a3, b3}, an odd last tap as
    {w0, w2} {w1, w3}."""
    channels, _, kernel_h, kernel_w = w.shape
    taps = kernel_h * kernel_w
    groups = w[:, 0].astype(np.int64).reshape(channels // 4, 4, taps).transpose(0, 2, 1)  # [group][tap][channel]
    pairs = taps // 2
    paired = groups[:, :2 * pairs].reshape(channels // 4, pairs, 2, 4).transpose(0, 1, 3, 2)  # [g][pair][ch][tap]
    halves = [paired.reshape(channels // 4, -1)]
    if taps % 2:
        halves.append(groups[:, -1][:, [0, 2, 1, 3]])
    values = np.concatenate(halves, axis=1).reshape(-1, 2)
    words = (values[:, 0] & 0xFFFF) | ((values[:, 1] & 0xFFFF) << 16)
    return words.astype(np.uint32).view(np.int32)


def group_constants(bias: np.ndarray, multipliers: np.ndarray, fast: np.ndarray) -> np.ndarray:
    """Per group of four channels 16 int32: the four biases, the four multipliers, then per
    channel the proved tail's (k, right_shift) (fast: [C][2] flattened)."""
    groups = len(bias) // 4
    return np.concatenate([np.asarray(bias, dtype=np.int64).reshape(groups, 4),
                           np.asarray(multipliers, dtype=np.int64).reshape(groups, 4),
                           np.asarray(fast, dtype=np.int64).reshape(groups, 8)], axis=1).astype(np.int32).reshape(-1)


def build(node: Node, graph: Graph, variant: KernelVariant, strides: RowStrides) -> list[KernelCall]:
    del strides  # dense tensors only (an in-place kernel never takes row strides)
    x_name, w_name = node.inputs[0], node.inputs[1]
    (y_name,) = node.outputs
    w = graph.tensor(w_name)
    channels = w.shape[0]
    p = conv_struct(node, graph, NO_STRIDES)
    multipliers, shifts = _requant(node, graph)
    bias = folded_bias(node, graph)
    assert variant.reorder_weights is not None, variant.symbol
    if variant.symbol in (SYMBOL_SINGLE, SYMBOL_SINGLE_W16):
        # the single-rounding tail (applies_single proved it): (offset, 0) where the proved
        # TFLite-form tail has (k, right_shift), its double shift in the last word
        tail = single_tail(node, graph)
        assert tail is not None, node.name
        multipliers = tail.multiplier
        fast = np.concatenate([np.stack([tail.offset, np.zeros_like(tail.offset)], axis=1).reshape(-1),
                               [tail.double_shift]])
    elif variant.symbol in (SYMBOL_PROVED, SYMBOL_PROVED_W16):
        fast = _fast_tail(node, graph)  # proved (applies_proved, applies_proved_w16)
        assert fast[-1] != 0 and (variant.symbol == SYMBOL_PROVED or fast[-1] <= PRESHIFT_MAX), node.name
    else:
        # the general kernels: the guarded tail, for every layer (double shift 0, weights as they are)
        fast = np.zeros(2 * channels + 1, dtype=np.int64)
    if variant.symbol in (SYMBOL_PROVED_W16, SYMBOL_SINGLE_W16) and fast[-1]:
        # int16 weights and biases shifted by the proved double shift (|w| << 8 fits int16,
        # and the proof bounds (|bias| + 255 * sum |w|) << double_shift): no shift in the tail
        packed = variant.reorder_weights(w.data.astype(np.int64) << int(fast[-1]))
        bias = bias << int(fast[-1])
    else:
        packed = variant.reorder_weights(w.data)
    requant = np.concatenate([requant_table(shifts), fast[-1:]])
    ctype = "int32_t" if packed.dtype == np.int32 else "int8_t"  # int16 pairs packed in int32 words
    weights = ConstArg("weights", ctype, np.ascontiguousarray(packed))
    args = (
        TensorArg(x_name),
        weights,
        ConstArg("consts", "int32_t", group_constants(bias, multipliers, fast[:-1])),
        ConstArg("requant", "int32_t", requant.astype(np.int32)),
        ConstArg("pad", "int8_t", np.full(channels, graph.tensor(x_name).quant.zp, dtype=np.int8)),
        TensorArg(y_name),
        ScratchArg(variant.scratch(p)),
    )
    return [KernelCall(node.name, variant.symbol, variant.params_type, p, args)]


DEPTHWISE_IN_PLACE_C4_W16 = KernelVariant(
    symbol=SYMBOL_W16, params_type="tinyc_conv_params", op_kinds=("Conv2d",), c_args=7, source=f"{SYMBOL_W16}.c",
    build=build, applies=applies_w16, weight_layout="int16 pairs, C/4,taps in pairs", reorder_weights=pair_taps_w16,
    scratch=ring_scratch, access=access.depthwise_inplace, int16_weights=True,
    reason="depthwise conv (HWC), in place through a ring of input pixels, four channels at a time (int16 weights)",
)

DEPTHWISE_IN_PLACE_C4_SINGLE_W16 = KernelVariant(
    symbol=SYMBOL_SINGLE_W16, params_type="tinyc_conv_params", op_kinds=("Conv2d",), c_args=7,
    source=f"{SYMBOL_SINGLE_W16}.c", build=build, applies=applies_single_w16,
    weight_layout="int16 pairs, C/4,taps in pairs", reorder_weights=pair_taps_w16, scratch=ring_scratch,
    access=access.depthwise_inplace, int16_weights=True,
    reason="depthwise conv (HWC), in place through a ring of input pixels, four channels at a time (int16 weights, "
           "single-rounding tail)",
)

DEPTHWISE_IN_PLACE_C4_SINGLE = KernelVariant(
    symbol=SYMBOL_SINGLE, params_type="tinyc_conv_params", op_kinds=("Conv2d",), c_args=7,
    source=f"{SYMBOL_SINGLE}.c", build=build, applies=applies_single, weight_layout="C/4,taps in pairs",
    reorder_weights=pair_taps, scratch=ring_scratch, access=access.depthwise_inplace,
    reason="depthwise conv (HWC), in place through a ring of input pixels, four channels at a time "
           "(single-rounding tail)",
)

DEPTHWISE_IN_PLACE_C4_PROVED_W16 = KernelVariant(
    symbol=SYMBOL_PROVED_W16, params_type="tinyc_conv_params", op_kinds=("Conv2d",), c_args=7,
    source=f"{SYMBOL_PROVED_W16}.c", build=build, applies=applies_proved_w16,
    weight_layout="int16 pairs, C/4,taps in pairs", reorder_weights=pair_taps_w16, scratch=ring_scratch,
    access=access.depthwise_inplace, int16_weights=True,
    reason="depthwise conv (HWC), in place through a ring of input pixels, four channels at a time (int16 weights, "
           "proved tail)",
)

DEPTHWISE_IN_PLACE_C4_PROVED = KernelVariant(
    symbol=SYMBOL_PROVED, params_type="tinyc_conv_params", op_kinds=("Conv2d",), c_args=7,
    source=f"{SYMBOL_PROVED}.c", build=build, applies=applies_proved, weight_layout="C/4,taps in pairs",
    reorder_weights=pair_taps, scratch=ring_scratch, access=access.depthwise_inplace,
    reason="depthwise conv (HWC), in place through a ring of input pixels, four channels at a time (proved tail)",
)

DEPTHWISE_IN_PLACE_C4 = KernelVariant(
    symbol=SYMBOL, params_type="tinyc_conv_params", op_kinds=("Conv2d",), c_args=7, source=f"{SYMBOL}.c",
    build=build, applies=applies, weight_layout="C/4,taps in pairs", reorder_weights=pair_taps,
    scratch=ring_scratch, access=access.depthwise_inplace,
    reason="depthwise conv (HWC), in place through a ring of input pixels, four channels at a time",
)
