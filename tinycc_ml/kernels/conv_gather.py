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

It addresses rows through the params' row strides, so it also runs on a region of a larger
image (a patch stage; tests/test_kernels_strides.py).
"""

from __future__ import annotations

import numpy as np

from ..ir.graph import Graph, Node
from .call import ParamStruct
from .target import KernelTarget
from .wide_weights import gather_shape, wide_weights_fit

SYMBOL = "tinyc_conv_gather_w16_s8"


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
