"""The scratch-free KxK conv with int16 weights (tinyc_conv_w16_s8 and its single-rounding twin
tinyc_conv_w16_single_s8): their records, their builder, their weight layout and the flash
rule that allows them.

On a DSP core a regular conv ran by im2col (kernels/conv.py) unless its scratch would grow
the arena (passes/scratch.py); resnet8's peak 3x3 conv then fell to tinyc_conv_s8 (int8
weights, four filter pointers, 2.35 instructions per MAC). These variants, listed ahead of
the im2col ones where they apply (no scratch, and faster), read the window in place like
tinyc_conv_s8 (same access model: a pixel's four output bytes are written after its window
is read) with the weights pre-expanded to int16 and interleaved by blocks of four output
channels, so one pointer walks them and the inner loop is two LDMs and eight SMLADs per
group of four inputs. They double those weights in flash: chosen only under the flash rule
all int16-weight variants share (kernels/wide_weights.py).

The requantize tail is decided here, at compile time: tinyc_conv_w16_single_s8 where the
single-rounding tail is proved for every channel (kernels/single_tail.py: ONNX semantics,
or TFLite multipliers >= 1), else tinyc_conv_w16_s8 with TFLite's tail proved where it can
be (pointwise.proved_tail_table) and guarded where not. Each block of four channels finds
its bias and its tail constants in one run of words (requant_words, single_words).
"""

from __future__ import annotations

import numpy as np

from ..ir import ops
from ..ir.graph import Graph, Node
from ..quant import params as qparams
from . import access
from .call import ConstArg, KernelCall, TensorArg
from .common import conv_struct, per_channel_args
from .pointwise import acc_bound, constant_outputs, proved_tail_table, requant_table
from .single_tail import SingleTail, prove_single_tail
from .target import KernelTarget
from .variant import KernelVariant, RowStrides
from .wide_weights import kxk_w16_shape, wide_weights_fit

SYMBOL = "tinyc_conv_w16_s8"
SYMBOL_SINGLE = "tinyc_conv_w16_single_s8"


def applies(node: Node, graph: Graph, target: KernelTarget) -> bool:
    """DSP cores whose flash holds the doubled weights (kernels/wide_weights.py, the one
    budget of every int16-weight variant)."""
    return target.dsp and kxk_w16_shape(node, graph) and wide_weights_fit(graph, target)


def applies_single(node: Node, graph: Graph, target: KernelTarget) -> bool:
    """applies, for a layer whose single-rounding tail is proved (every channel right shift 0).
    A node that avoids tinyc_conv_w16_s8 avoids its twin too (one kernel, two tails)."""
    if SYMBOL in getattr(node.attrs, "avoid_variants", ()):
        return False
    return applies(node, graph, target) and _tail_constants(node, graph)[3] is not None


def int16_words(w: np.ndarray) -> np.ndarray:
    """OIHW int8 -> the kernel's words: [out_c / 4][kernel_h][kernel_w * in_c / 4][4 channels]
    [2], word 0 = {w[4g], w[4g + 2]}, word 1 = {w[4g + 1], w[4g + 3]} (low half first), g a
    group of four consecutive values of the OHWI row."""
    out_c, in_c, kernel_h, kernel_w = w.shape
    rows = w.transpose(0, 2, 3, 1).astype(np.int64).reshape(out_c // 4, 4, kernel_h, kernel_w * in_c // 4, 4)
    blocks = rows.transpose(0, 2, 3, 1, 4)  # [block][ky][group][channel][4]
    lo, hi = blocks[..., [0, 1]], blocks[..., [2, 3]]
    words = (lo & 0xFFFF) | ((hi & 0xFFFF) << 16)
    return words.astype(np.uint32).view(np.int32).reshape(-1)


def _blocks(bias: np.ndarray, per_channel: np.ndarray) -> np.ndarray:
    """Per block of four channels: their bias, then their rows of tail constants."""
    out_c = len(bias)
    return np.concatenate([bias.reshape(out_c // 4, 4), per_channel.reshape(out_c // 4, -1)], axis=1).reshape(-1)


def requant_words(multipliers: np.ndarray, shifts: np.ndarray, bias: np.ndarray, bound: np.ndarray,
                  output_offset: int, constant: np.ndarray) -> np.ndarray:
    """tinyc_conv_w16_s8's `requant`: requant_table (the guarded tail's packed shifts, [C][2]),
    the proved tail's double shift (0: not proved), then per block of four channels their
    bias[4] and (multiplier, k, right_shift)[4] (pointwise.proved_tail_table)."""
    proved = proved_tail_table(multipliers, shifts, bound, output_offset, constant)
    return np.concatenate([requant_table(shifts), proved[:1], _blocks(bias, proved[1:])]).astype(np.int32)


def single_words(tail: SingleTail, bias: np.ndarray) -> np.ndarray:
    """tinyc_conv_w16_single_s8's `tail`: the double shift, then per block of four channels
    their bias[4] and (multiplier, offset)[4] (SingleTail.table)."""
    return np.concatenate([[tail.double_shift], _blocks(bias, tail.table())]).astype(np.int32)


def _tail_constants(node: Node, graph: Graph):
    """(multipliers, shifts, bias, the single-rounding tail or None, bound, constant) of a node."""
    attrs: ops.Conv2d = node.attrs  # type: ignore[assignment]
    x, w, y = graph.tensor(node.inputs[0]), graph.tensor(node.inputs[1]), graph.tensor(node.outputs[0])
    out_c = w.shape[0]
    b_name = node.inputs[2] if len(node.inputs) > 2 else ""
    bias = np.zeros(out_c, dtype=np.int64) if not b_name else np.asarray(graph.tensor(b_name).data, dtype=np.int64).reshape(-1)
    multiplier, shift = per_channel_args(
        qparams.conv_node_requant(attrs.fixed_requant, x.quant, w.quant, y.quant, attrs.semantics), out_c)
    weights_oi = np.asarray(w.data).reshape(out_c, -1)
    bound = acc_bound(weights_oi, bias)
    constant = constant_outputs(weights_oi, bias, multiplier.values, shift.values, y.quant.zp, attrs.act_min,
                                attrs.act_max)
    single = prove_single_tail(multiplier.values, shift.values, bound, y.quant.zp, constant)
    return multiplier, shift, bias, single, bound, constant


def build(node: Node, graph: Graph, variant: KernelVariant, strides: RowStrides) -> list[KernelCall]:
    x_name, w_name = node.inputs[0], node.inputs[1]
    (y_name,) = node.outputs
    w, y = graph.tensor(w_name), graph.tensor(y_name)
    p = conv_struct(node, graph, strides)
    multiplier, shift, bias, single, bound, constant = _tail_constants(node, graph)
    weights = ConstArg("weights", "int32_t", int16_words(w.data))
    if variant.symbol == SYMBOL_SINGLE:
        assert single is not None, node.name
        args = (TensorArg(x_name), weights, ConstArg("tail", "int32_t", single_words(single, bias)), TensorArg(y_name))
    else:
        requant = requant_words(multiplier.values, shift.values, bias, bound, y.quant.zp, constant)
        args = (TensorArg(x_name), weights, multiplier, ConstArg("requant", "int32_t", requant), TensorArg(y_name))
    return [KernelCall(node.name, variant.symbol, variant.params_type, p, args)]


# Both take row strides (the C walks rows by the params' input and output row strides), so a
# patch stage's 3x3 convs run them too (tests/test_kernels_strides.py).
CONV_W16_SINGLE = KernelVariant(
    symbol=SYMBOL_SINGLE, params_type="tinyc_conv_params", op_kinds=("Conv2d",), c_args=4, source=f"{SYMBOL}.c",
    build=build, applies=applies_single, weight_layout="int16 pairs, 4 channels by 4", reorder_weights=int16_words,
    access=access.conv, reason="conv, pixel by pixel, four channels at a time (int16 weights, single rounding)",
    int16_weights=True, row_strides=True,
)
CONV_W16 = KernelVariant(
    symbol=SYMBOL, params_type="tinyc_conv_params", op_kinds=("Conv2d",), c_args=5, source=f"{SYMBOL}.c",
    build=build, applies=applies, weight_layout="int16 pairs, 4 channels by 4", reorder_weights=int16_words,
    access=access.conv, reason="conv, pixel by pixel, four channels at a time (int16 weights)",
    int16_weights=True, row_strides=True,
)
