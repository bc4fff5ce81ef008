"""The scratch-free KxK conv with int16 weights (tinyc_conv_w16_s8): its record, its weight
layout and the flash rule that allows it.

On a DSP core a regular conv ran by im2col (kernels/conv.py) unless its scratch would grow
the arena (passes/scratch.py); resnet8's peak 3x3 conv then fell to tinyc_conv_s8 (int8
weights, four filter pointers, 2.35 instructions per MAC). This variant, listed ahead of
the im2col ones where it applies (no scratch, and faster: 1.05-1.53), reads the window
in place like tinyc_conv_s8 (same access model: a pixel's four output bytes are written
after its window is read) with the weights pre-expanded to int16 and interleaved by blocks
of four output channels, so one pointer walks them and the inner loop is one LDRD and two
SMLADs per channel and group of four inputs. It doubles those weights in flash: chosen only
under the flash rule all int16-weight variants share (kernels/wide_weights.py).
"""

from __future__ import annotations

import numpy as np

from ..ir.graph import Graph, Node
from .target import KernelTarget
from .wide_weights import kxk_w16_shape, wide_weights_fit

SYMBOL = "tinyc_conv_w16_s8"


def applies(node: Node, graph: Graph, target: KernelTarget) -> bool:
    """DSP cores whose flash holds the doubled weights (kernels/wide_weights.py, the one
    budget of every int16-weight variant)."""
    return target.dsp and kxk_w16_shape(node, graph) and wide_weights_fit(graph, target)


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
