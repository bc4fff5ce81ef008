"""Which layers may take weights pre-expanded to int16 (tinyc_fully_connected_w16_s8,
tinyc_pointwise_conv(_inplace_pairs)_w16_s8, tinyc_conv_w16_s8, tinyc_conv_gather_w16_s8,
tinyc_depthwise_conv_inplace_c4_w16_s8, tinyc_depthwise_conv_3x3_s8's int16 lane words, and their
_single twins): their shapes, and the flash rule they share.

The int16 copy doubles a layer's weights in flash. One budget for all of them: the model's
constants, with the weights of every layer a w16 variant could run doubled, must fit three
quarters of the board's flash (a quarter stays for the code, 24 KB at most, and for the
application). Either every such layer takes its int16 weights or none does, so the choice
never depends on the order the registry asks in.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..ir import ops
from ..ir.conv_shapes import is_plain_depthwise, is_pointwise
from ..ir.graph import Graph, Node
from ..ir.layout import NHWC, is_layout
from .target import KernelTarget


def fc_w16_shape(node: Node, graph: Graph) -> bool:
    """What tinyc_fully_connected_w16_s8 runs: feature counts multiples of 4, symmetric
    weights, an input offset that folds into the bias within int32."""
    if node.kind != "FullyConnected":
        return False
    x, w = graph.tensor(node.inputs[0]), graph.tensor(node.inputs[1])
    out_features, in_features = w.shape
    if in_features % 4 or out_features % 4 or any(zp != 0 for zp in w.quant.zero_point):
        return False
    folded = -x.quant.zp * w.data.astype(np.int64).sum(axis=1)
    if len(node.inputs) > 2 and node.inputs[2]:
        folded = folded + np.asarray(graph.tensor(node.inputs[2]).data, dtype=np.int64).reshape(-1)
    return bool(np.abs(folded).max(initial=0) < 1 << 31)


def pointwise_nhwc_shape(node: Node, graph: Graph, target: KernelTarget, in_place: bool) -> bool:
    """What tinyc_pointwise_conv_s8 (in_place: its _inplace_pairs twin) runs: DSP cores, NHWC
    in and out, pointwise, in_c % 4 == 0, out_c even."""
    if not target.dsp or node.kind != "Conv2d" or bool(node.attrs.in_place) != in_place:  # type: ignore[attr-defined]
        return False
    x, y = node.inputs[0], node.outputs[0]
    if not (is_layout(graph, x, NHWC) and is_layout(graph, y, NHWC) and is_pointwise(node, graph)):
        return False
    in_c, out_c = graph.tensor(x).shape[1], graph.tensor(y).shape[1]
    return in_c % 4 == 0 and out_c % 2 == 0


def kxk_w16_shape(node: Node, graph: Graph) -> bool:
    """What tinyc_conv_w16_s8 runs: NHWC, not in place, one group, dilation 1, in_c and out_c
    multiples of 4, a kernel larger than 1x1 (pointwise and strided 1x1 convs have their own
    kernels)."""
    if node.kind != "Conv2d" or node.attrs.in_place:  # type: ignore[attr-defined]
        return False
    attrs: ops.Conv2d = node.attrs  # type: ignore[assignment]
    x, y = node.inputs[0], node.outputs[0]
    if not (is_layout(graph, x, NHWC) and is_layout(graph, y, NHWC)) or is_pointwise(node, graph):
        return False
    in_c, out_c = graph.tensor(x).shape[1], graph.tensor(y).shape[1]
    kernel_h, kernel_w = graph.tensor(node.inputs[1]).shape[2:]
    return (attrs.groups == 1 and tuple(attrs.dilations) == (1, 1) and in_c % 4 == 0 and out_c % 4 == 0
            and (kernel_h, kernel_w) != (1, 1))


def gather_shape(node: Node, graph: Graph) -> bool:
    """What tinyc_conv_gather_w16_s8 runs: NHWC, not in place, one group, not pointwise, and
    a short window: one to four input channels (first layers) or a 1x1 kernel (strided)."""
    if node.kind != "Conv2d" or node.attrs.in_place:  # type: ignore[attr-defined]
        return False
    attrs: ops.Conv2d = node.attrs  # type: ignore[assignment]
    x, y = node.inputs[0], node.outputs[0]
    if not (is_layout(graph, x, NHWC) and is_layout(graph, y, NHWC)) or is_pointwise(node, graph):
        return False
    in_c = graph.tensor(x).shape[1]
    kernel_h, kernel_w = graph.tensor(node.inputs[1]).shape[2:]
    return attrs.groups == 1 and (in_c <= 4 or (kernel_h, kernel_w) == (1, 1))


def depthwise_inplace4_shape(node: Node, graph: Graph) -> bool:
    """What tinyc_depthwise_conv_inplace_c4(_w16)_s8 runs: a depthwise conv the in-place pass
    marked (multiplier 1, stride 1, same size), NHWC, channels % 4 == 0, at most 25 taps
    spanning less than 2^15 rows and columns, an accumulator that stays in int32 on the way
    (bias + input_offset * sum w, folded, plus sum x * w with x in [-128, 127])."""
    if node.kind != "Conv2d" or not node.attrs.in_place:  # type: ignore[attr-defined]
        return False
    attrs: ops.Conv2d = node.attrs  # type: ignore[assignment]
    x, y = node.inputs[0], node.outputs[0]
    if not (is_layout(graph, x, NHWC) and is_layout(graph, y, NHWC)) or is_pointwise(node, graph):
        return False
    xt, yt, w = graph.tensor(x), graph.tensor(y), graph.tensor(node.inputs[1])
    if not (len(xt.shape) == 4 and attrs.groups == xt.shape[1] == yt.shape[1] == w.shape[0]):
        return False
    kernel_h, kernel_w = w.shape[2:]
    if attrs.strides != (1, 1) or xt.shape != yt.shape or xt.shape[1] % 4 or kernel_h * kernel_w > 25:
        return False
    if max((kernel_h - 1) * attrs.dilations[0], (kernel_w - 1) * attrs.dilations[1]) >= 1 << 15:
        return False  # the C keeps each tap's row and column offset in an int16
    weights = w.data.astype(np.int64).reshape(w.shape[0], -1)
    folded = -xt.quant.zp * weights.sum(axis=1)
    if len(node.inputs) > 2 and node.inputs[2]:
        folded = folded + np.asarray(graph.tensor(node.inputs[2]).data, dtype=np.int64).reshape(-1)
    running = np.abs(folded) + 128 * np.abs(weights).sum(axis=1)
    return bool(running.max(initial=0) < 1 << 31)


def depthwise3x3_shape(node: Node, graph: Graph) -> bool:
    """What tinyc_depthwise_conv_3x3(_single)_s8 runs: NHWC, not in place, multiplier 1, a 3x3
    kernel, dilation 1, channels % 4 == 0, a bias within int32."""
    if node.kind != "Conv2d" or node.attrs.in_place:  # type: ignore[attr-defined]
        return False
    x, y = node.inputs[0], node.outputs[0]
    if not (is_layout(graph, x, NHWC) and is_layout(graph, y, NHWC) and is_plain_depthwise(node, graph)):
        return False
    attrs: ops.Conv2d = node.attrs  # type: ignore[assignment]
    w = graph.tensor(node.inputs[1])
    if w.shape[2:] != (3, 3) or attrs.dilations != (1, 1) or w.shape[0] % 4 != 0:
        return False
    if len(node.inputs) > 2 and node.inputs[2]:
        return bool(np.abs(np.asarray(graph.tensor(node.inputs[2]).data, dtype=np.int64)).max(initial=0) < 1 << 31)
    return True


def wide_weights_bytes(graph: Graph, target: KernelTarget) -> int:
    """The model's constants with the weights of every layer a w16 variant could run doubled."""
    wide = {n.inputs[1] for n in graph.nodes
            if fc_w16_shape(n, graph) or pointwise_nhwc_shape(n, graph, target, False)
            or pointwise_nhwc_shape(n, graph, target, True) or kxk_w16_shape(n, graph)
            or gather_shape(n, graph) or (target.dsp and depthwise_inplace4_shape(n, graph))
            or (target.dsp and depthwise3x3_shape(n, graph))}
    return sum(t.nbytes for t in graph.constants()) + sum(graph.tensor(name).nbytes for name in wide)


def wide_weights_fit(graph: Graph, target: KernelTarget) -> bool:
    """The w16 variants' flash rule (see above), unless the target carries the whole model's."""
    if target.wide_weights is not None:
        return target.dsp and target.wide_weights
    return target.dsp and target.flash_bytes > 0 and wide_weights_bytes(graph, target) <= target.flash_bytes * 3 // 4


def decide_for_model(graph: Graph, target: KernelTarget) -> KernelTarget:
    """`target` with the flash rule decided on `graph`, the whole model, for selections made
    on parts of it (a patch stage's band graphs)."""
    if target.wide_weights is not None:
        return target
    return replace(target, wide_weights=wide_weights_fit(graph, target))
