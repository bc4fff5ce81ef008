"""Fully connected with int16 weights and the single-rounding tail
(tinyc_fully_connected_single_w16_s8): its proof and its builder (the record is in conv.py,
next to tinyc_fully_connected_w16_s8's).

Layers whose every channel has right shift 0 (ONNX semantics, onnxruntime-born models such as
ad01.ort_qdq) ran tinyc_fully_connected_w16_s8's guarded tail (requant.h: about 16
instructions an output more than this one; ad01.ort_qdq's 128-wide layers 23,273 -> 21,193
instructions on qemu-m7). With the input offset folded into the bias, an accumulator is
bias + sum w * x with x in [-128, 127], so |acc| <= |bias| + 128 * sum |w|; where
single_tail.prove_single_tail shows acc << double_shift fits int32 for that bound, the tail is
one SMMLAR with the output offset and the clamp, exactly the guarded tail's byte.
"""

from __future__ import annotations

import numpy as np

from ..ir import ops
from ..ir.graph import Graph, Node
from ..quant import params as qparams
from .call import ConstArg, KernelCall, TensorArg
from .common import require_same_layout, struct
from .single_tail import SingleTail, prove_single_tail
from .target import KernelTarget
from .variant import KernelVariant, RowStrides
from .wide_weights import fc_w16_shape, wide_weights_fit

SYMBOL = "tinyc_fully_connected_single_w16_s8"


def folded_bias(node: Node, graph: Graph) -> np.ndarray:
    """int64 [out]: the bias with the input offset folded in (fc_w16_shape: fits int32)."""
    x, w = graph.tensor(node.inputs[0]), graph.tensor(node.inputs[1])
    bias = -x.quant.zp * w.data.astype(np.int64).sum(axis=1)
    if len(node.inputs) > 2 and node.inputs[2]:
        bias = bias + np.asarray(graph.tensor(node.inputs[2]).data, dtype=np.int64).reshape(-1)
    return bias


def single_tail(node: Node, graph: Graph) -> SingleTail | None:
    """The layer's proved single-rounding tail, or None (a channel with right shift, or an
    accumulator whose doubled value could leave int32)."""
    attrs: ops.FullyConnected = node.attrs  # type: ignore[assignment]
    x, w, y = (graph.tensor(n) for n in (node.inputs[0], node.inputs[1], node.outputs[0]))
    out_features = w.shape[0]
    requant = qparams.fully_connected_requant(x.quant, w.quant, y.quant, attrs.semantics)
    repeat = out_features if len(requant.multipliers) == 1 else 1
    multipliers = np.asarray(requant.multipliers * repeat, dtype=np.int64)
    shifts = np.asarray(requant.shifts * repeat, dtype=np.int64)
    bound = np.abs(folded_bias(node, graph)) + 128 * np.abs(w.data.astype(np.int64)).sum(axis=1)
    return prove_single_tail(multipliers, shifts, bound, y.quant.zp)


def applies(node: Node, graph: Graph, target: KernelTarget) -> bool:
    """Where tinyc_fully_connected_w16_s8 would run, under ONNX semantics, and the single
    tail is proved. (A TFLite layer with a multiplier >= 1 would be exact here too; it keeps
    its kernel, so tf2onnx models' code and speed do not move.)"""
    return (target.dsp and node.attrs.semantics == ops.ONNX  # type: ignore[attr-defined]
            and fc_w16_shape(node, graph) and wide_weights_fit(graph, target)
            and single_tail(node, graph) is not None)


def table(tail: SingleTail) -> np.ndarray:
    """[out][2] {multiplier, offset}, then the double shift."""
    return np.concatenate([tail.table(), np.array([tail.double_shift], dtype=np.int32)]).astype(np.int32)


def build(node: Node, graph: Graph, variant: KernelVariant, strides: RowStrides) -> list[KernelCall]:
    attrs: ops.FullyConnected = node.attrs  # type: ignore[assignment]
    x_name, w_name, (y_name,) = node.inputs[0], node.inputs[1], node.outputs
    x, w, y = graph.tensor(x_name), graph.tensor(w_name), graph.tensor(y_name)
    for name in (x_name, y_name):
        require_same_layout(node, graph, name, tuple(range(len(graph.tensor(name).shape))))
    tail = single_tail(node, graph)
    assert tail is not None and variant.reorder_weights is not None, f"{node.name}: {SYMBOL} does not apply"
    out_features, in_features = w.shape
    p = struct(
        batch=x.size // in_features, in_features=in_features, out_features=out_features,
        input_offset=0, filter_offset=0, output_offset=y.quant.zp,
        per_channel=1, act_min=attrs.act_min, act_max=attrs.act_max,
    )  # fmt: skip
    args = (
        TensorArg(x_name),
        ConstArg("weights", "int32_t", variant.reorder_weights(w.data)),
        ConstArg("bias", "int32_t", folded_bias(node, graph).astype(np.int32)),
        ConstArg("table", "int32_t", table(tail)),
        TensorArg(y_name),
    )
    return [KernelCall(node.name, variant.symbol, variant.params_type, p, args)]
