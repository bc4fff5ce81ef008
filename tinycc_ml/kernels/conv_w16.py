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
where the model's constants, with every such conv's weights doubled, fit in three quarters
of the board's flash (the rule of tinyc_fully_connected_w16_s8).
"""

from __future__ import annotations

import numpy as np

from ..ir import ops
from ..ir.conv_shapes import is_pointwise
from ..ir.graph import Graph, Node
from ..ir.layout import NHWC, is_layout
from .target import KernelTarget

SYMBOL = "tinyc_conv_w16_s8"


def shape_applies(node: Node, graph: Graph) -> bool:
    """NHWC, not in place, one group, dilation 1, in_c and out_c multiples of 4, a kernel
    larger than 1x1 (pointwise and strided 1x1 convs have their own kernels)."""
    if node.kind != "Conv2d" or node.attrs.in_place:  # type: ignore[attr-defined]
        return False
    attrs: ops.Conv2d = node.attrs  # type: ignore[assignment]
    x, y = node.inputs[0], node.outputs[0]
    if not (is_layout(graph, x, NHWC) and is_layout(graph, y, NHWC)) or is_pointwise(node, graph):
        return False
    in_c, out_c = graph.tensor(x).shape[1], graph.tensor(y).shape[1]
    kernel_h, kernel_w = graph.tensor(node.inputs[1]).shape[2:]
    return (attrs.groups == 1 and tuple(attrs.dilations) == (1, 1) and in_c % 4 == 0 and out_c % 4 == 0
            and (kernel_h, kernel_w) != (1, 1))  # strided 1x1 convs have their own variants


def doubled_bytes(graph: Graph) -> int:
    """The flash this layout adds: one more byte per weight of every conv it could run."""
    return sum(graph.tensor(n.inputs[1]).nbytes for n in graph.nodes if shape_applies(n, graph))


def applies(node: Node, graph: Graph, target: KernelTarget) -> bool:
    """DSP cores whose flash holds the model's constants, with those weights doubled, in at
    most three quarters of it (a quarter stays for the code and the application)."""
    if not (target.dsp and target.flash_bytes > 0 and shape_applies(node, graph)):
        return False
    constants = sum(t.nbytes for t in graph.constants())
    return constants + doubled_bytes(graph) <= target.flash_bytes * 3 // 4


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
