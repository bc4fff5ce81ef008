"""The gathered-window conv with int16 weights (tinyc_conv_gather_w16_s8): its shape rule,
its weight layout and its scratch twin.

First layers (one to four input channels) and strided 1x1 convs ran by im2col
(tinyc_conv_im2col_s8: 2.8-5.5 instructions per MAC on kws, vww and resnet8): its kernel
rows are rounded up to 4 values each (vww's 3x3x3 window becomes 36 values for 27) and its
two-by-two blocks requantize each weight pair's channels with int8 weights unpacked at run
time. This variant gathers one pixel's window densely into an int16 column (K rounded up to
4 once, not per row) and runs four output channels at a time over it with weights already
int16 (one LDRD and two SMLADs per channel and four values), so the gather is paid once per
pixel and shared by all output channels. It doubles those weights in flash: chosen only
under the flash rule all int16-weight variants share (kernels/wide_weights.py, which counts
these layers through gather_shape). Its scratch (2 * K4 bytes) is at most the im2col
scratch it replaces (4 * K4' bytes, K4' >= K4), and passes/scratch.py still drops it where
it would grow the arena.

tinyc_conv_gather_single_w16_s8 is the same kernel for ONNX-semantics layers (every channel's
right shift 0: onnxruntime-born first layers and shortcuts, which ran the guarded tail) whose
single-rounding tail single_table proves (kernels/single_tail.py): one SMMLAR with the output
offset, SSAT and the lower clamp. TFLite layers keep tinyc_conv_gather_w16_s8.

Both address rows through the params' row strides, so they also run on a region of a larger
image (a patch stage; tests/test_kernels_strides.py).
"""

from __future__ import annotations

import numpy as np

from ..errors import ModelError
from ..ir import ops
from ..ir.graph import Graph, Node
from . import access
from .call import ConstArg, KernelCall, ParamStruct, ScratchArg, TensorArg
from .common import conv_requant_args, conv_struct
from .depthwise3x3 import fast_tail_table
from .single_tail import prove_single_tail
from .target import KernelTarget
from .variant import KernelVariant, RowStrides
from .wide_weights import gather_shape, wide_weights_fit

SYMBOL = "tinyc_conv_gather_w16_s8"
SINGLE_SYMBOL = "tinyc_conv_gather_single_w16_s8"


def applies(node: Node, graph: Graph, target: KernelTarget) -> bool:
    """DSP cores whose flash holds the doubled weights, for the shapes of gather_shape."""
    return target.dsp and gather_shape(node, graph) and wide_weights_fit(graph, target)


def window4(kernel_h: int, kernel_w: int, in_c: int) -> int:
    """The window's values rounded up to a group of four."""
    return -(-(kernel_h * kernel_w * in_c) // 4) * 4


def scratch(params: ParamStruct) -> int:
    """Twin of tinyc_conv_gather_w16_s8_get_buffer_size: one column of K4 int16."""
    return 2 * window4(params["kernel_h"], params["kernel_w"], params["in_c"])


def int16_words(w: np.ndarray) -> np.ndarray:
    """OIHW int8 -> the kernel's words: OHWI rows zero-padded to K4 and the channels to a
    multiple of 4, [out_c4 / 4][K4 / 4][4 channels][2], word 0 = {w[4g], w[4g + 1]}, word 1 =
    {w[4g + 2], w[4g + 3]} (low half first)."""
    out_c, in_c, kernel_h, kernel_w = w.shape
    k4 = window4(kernel_h, kernel_w, in_c)
    out_c4 = -(-out_c // 4) * 4
    rows = np.zeros((out_c4, k4), dtype=np.int64)
    rows[:out_c, :kernel_h * kernel_w * in_c] = w.transpose(0, 2, 3, 1).reshape(out_c, -1)
    blocks = rows.reshape(out_c4 // 4, 4, k4 // 4, 4).transpose(0, 2, 1, 3)  # [block][group][channel][4]
    lo, hi = blocks[..., [0, 2]], blocks[..., [1, 3]]
    words = (lo & 0xFFFF) | ((hi & 0xFFFF) << 16)
    return words.astype(np.uint32).view(np.int32).reshape(-1)


def _padded(values: np.ndarray, count: int) -> np.ndarray:
    """Rows padded to `count` with copies of the last one (outputs computed, never stored)."""
    return np.concatenate([values, np.repeat(values[-1:], count - len(values), axis=0)])


def requant_table(multipliers: np.ndarray, shifts: np.ndarray, bias: np.ndarray, w: np.ndarray,
                  output_offset: int) -> np.ndarray:
    """[out_c4][4] {multiplier, shift, k, right_shift} and the proved tail's double shift (0:
    not proved), from depthwise3x3.fast_tail_table with |acc| <= |bias| + 255 * sum |w| (a
    gathered value x + input_offset lies in [-255, 255], a padding tap is 0)."""
    out_c = w.shape[0]
    fast = fast_tail_table(multipliers, shifts, _acc_bound(bias, w), output_offset)
    rows = np.stack([np.asarray(multipliers, dtype=np.int64), np.asarray(shifts, dtype=np.int64),
                     fast[:-1:2].astype(np.int64), fast[1:-1:2].astype(np.int64)], axis=1)
    out_c4 = -(-out_c // 4) * 4
    return np.concatenate([_padded(rows, out_c4).reshape(-1), fast[-1:]]).astype(np.int32)


def _acc_bound(bias: np.ndarray, w: np.ndarray) -> np.ndarray:
    """|acc| <= |bias| + 255 * sum |w| (a gathered value x + input_offset lies in [-255, 255],
    a padding tap is 0)."""
    out_c = w.shape[0]
    return np.abs(bias.astype(np.int64)) + 255 * np.abs(w.astype(np.int64)).reshape(out_c, -1).sum(axis=1)


def single_table(multipliers: np.ndarray, shifts: np.ndarray, bias: np.ndarray, w: np.ndarray,
                 output_offset: int) -> np.ndarray | None:
    """tinyc_conv_gather_single_w16_s8's table, [out_c4][2] {multiplier, offset} and the
    double shift, or None where single_tail.prove_single_tail does not hold."""
    tail = prove_single_tail(multipliers, shifts, _acc_bound(bias, w), output_offset)
    if tail is None:
        return None
    rows = tail.table().reshape(-1, 2).astype(np.int64)
    out_c4 = -(-w.shape[0] // 4) * 4
    return np.concatenate([_padded(rows, out_c4).reshape(-1), [tail.double_shift]]).astype(np.int32)


def _layer(node: Node, graph: Graph) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The layer's per-channel multipliers, shifts and int64 bias."""
    out_c = graph.tensor(node.inputs[1]).shape[0]
    multiplier, shift = conv_requant_args(node, graph)
    bias = np.zeros(out_c, dtype=np.int64)
    if len(node.inputs) > 2 and node.inputs[2]:
        bias = np.asarray(graph.tensor(node.inputs[2]).data, dtype=np.int64).reshape(-1)
    return multiplier.values, shift.values, bias


def _single_table_of(node: Node, graph: Graph) -> np.ndarray | None:
    multipliers, shifts, bias = _layer(node, graph)
    return single_table(multipliers, shifts, bias, graph.tensor(node.inputs[1]).data,
                        graph.tensor(node.outputs[0]).quant.zp)


def applies_single(node: Node, graph: Graph, target: KernelTarget) -> bool:
    """Where tinyc_conv_gather_w16_s8 would run, under ONNX semantics, with the single tail
    proved (a TFLite layer keeps tinyc_conv_gather_w16_s8, so tf2onnx models do not move)."""
    return (node.kind == "Conv2d" and node.attrs.semantics == ops.ONNX  # type: ignore[attr-defined]
            and applies(node, graph, target) and _single_table_of(node, graph) is not None)


def build(node: Node, graph: Graph, variant: KernelVariant, strides: RowStrides) -> list[KernelCall]:
    x_name, w_name = node.inputs[0], node.inputs[1]
    (y_name,) = node.outputs
    w, y = graph.tensor(w_name), graph.tensor(y_name)
    out_c = w.shape[0]
    p = conv_struct(node, graph, strides)
    multipliers, shifts, bias = _layer(node, graph)
    out_c4 = -(-out_c // 4) * 4
    if variant.symbol == SINGLE_SYMBOL:
        table = single_table(multipliers, shifts, bias, w.data, y.quant.zp)
        if table is None:
            raise ModelError(f"node {node.name}: {SINGLE_SYMBOL}'s single-rounding tail is not proved")
    else:
        table = requant_table(multipliers, shifts, bias, w.data, y.quant.zp)
    args = (
        TensorArg(x_name),
        ConstArg("weights", "int32_t", int16_words(w.data)),
        ConstArg("bias", "int32_t", np.concatenate([bias, np.zeros(out_c4 - out_c, dtype=np.int64)]).astype(np.int32)),
        ConstArg("requant", "int32_t", table),
        TensorArg(y_name),
        ScratchArg(scratch(p)),
    )
    return [KernelCall(node.name, variant.symbol, variant.params_type, p, args)]


GATHER_W16 = KernelVariant(
    symbol=SYMBOL, params_type="tinyc_conv_params", op_kinds=("Conv2d",), c_args=6, source=f"{SYMBOL}.c",
    build=build, applies=applies, weight_layout="OHWI/K4 int16 pairs, 4 channels by 4", reorder_weights=int16_words,
    scratch=scratch, access=access.conv, reason="conv, pixel by pixel through a gathered window (int16 weights)",
    row_strides=True, int16_weights=True,
)

GATHER_SINGLE_W16 = KernelVariant(
    symbol=SINGLE_SYMBOL, params_type="tinyc_conv_params", op_kinds=("Conv2d",), c_args=6, source=f"{SYMBOL}.c",
    build=build, applies=applies_single, weight_layout="OHWI/K4 int16 pairs, 4 channels by 4",
    reorder_weights=int16_words, scratch=scratch, access=access.conv,
    reason="conv, pixel by pixel through a gathered window (int16 weights)", row_strides=True,
    int16_weights=True,
)
