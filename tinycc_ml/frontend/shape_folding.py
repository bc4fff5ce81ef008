"""Integer shape arithmetic evaluated at import: the small subgraphs exporters leave behind.

PyTorch's exporter (opset < 18 without onnxruntime's `quant_pre_process`) writes the pad
amounts of `F.pad`, the target shape of a `flatten` or a `view(x.size(0), -1)` as a little
computation on constants and on tensor shapes: Shape, Gather, Unsqueeze, Concat,
ConstantOfShape, Slice, Transpose, Reshape, Cast. Every value in it is known when the model is
compiled, so `fold_shape_arithmetic` evaluates it (ONNX's reference evaluator, one node at a
time, in graph order) and hands the results to the view as constants; the int8 lowering then
sees constant pads and shapes as if the exporter had folded them.

Only integer results of at most MAX_ELEMENTS elements are folded, from inputs of at most as
many: shapes, axes, pads, indices. Float and int8 data (weights, activations, DequantizeLinear
of weights) are never touched, so quantization is read as the model states it. A node that
cannot be evaluated is left in the graph, where the lowering names it. Nodes that could build a
large tensor from a few numbers (ConstantOfShape, Expand, Range) are bounded before they run.
"""

from __future__ import annotations

import math
import warnings
from typing import Mapping

import numpy as np
import onnx


MAX_ELEMENTS = 4096
# The types shape arithmetic computes in; int8 / uint8 tensors are weights or activations.
SHAPE_DTYPES = frozenset({np.dtype(np.int64), np.dtype(np.int32), np.dtype(np.bool_)})
FOLDABLE = frozenset({
    "Shape", "Gather", "Unsqueeze", "Squeeze", "Concat", "ConstantOfShape", "Slice", "Transpose", "Reshape", "Cast",
    "Identity", "Add", "Sub", "Mul", "Div", "Neg", "Range", "Expand", "Equal", "Where", "Min", "Max", "Abs",
})


def _shape_of(node: onnx.NodeProto, dims: tuple[int, ...]) -> np.ndarray:
    """Shape (opset 15's start / end too) of a tensor whose dims are known."""
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    rank = len(dims)
    start, end = int(attrs.get("start", 0)), int(attrs.get("end", rank))
    start, end = (start + rank if start < 0 else start), (end + rank if end < 0 else end)
    return np.asarray(dims[max(0, min(start, rank)):max(0, min(end, rank))], dtype=np.int64)


def _bounded(node: onnx.NodeProto, inputs: list[np.ndarray | None]) -> bool:
    """Whether the node's output stays within MAX_ELEMENTS, judged from its inputs before it runs."""
    op = node.op_type
    if op in ("ConstantOfShape", "Expand"):
        shape = inputs[0] if op == "ConstantOfShape" else inputs[1]
        if shape is None or shape.ndim != 1 or np.any(shape < 0):
            return False
        out = [int(v) for v in shape.tolist()]
        if op == "Expand" and inputs[0] is not None:  # broadcast: the larger extent per axis
            src = list(inputs[0].shape)
            rank = max(len(src), len(out))
            src, out = [1] * (rank - len(src)) + src, [1] * (rank - len(out)) + out
            out = [max(a, b) for a, b in zip(src, out)]
        return math.prod(out) <= MAX_ELEMENTS
    if op == "Range":
        if any(v is None or v.size != 1 for v in inputs[:3]):
            return False
        start, limit, delta = (float(v.reshape(-1)[0]) for v in inputs[:3])
        return delta != 0 and math.isfinite(start + limit + delta) and math.ceil((limit - start) / delta) <= MAX_ELEMENTS
    return True


def _evaluate(node: onnx.NodeProto, inputs: list[np.ndarray | None]) -> list[np.ndarray] | None:
    from onnx.reference import ReferenceEvaluator  # noqa: PLC0415 (heavy; only models that need it)

    feeds = {name: value for name, value in zip(node.input, inputs) if name and value is not None}
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            outputs = ReferenceEvaluator(node).run(None, feeds)
    except Exception:  # noqa: BLE001 - a node the evaluator cannot run stays for the lowering to name
        return None
    return [np.asarray(v) for v in outputs]


def fold_shape_arithmetic(nodes: list[onnx.NodeProto], constants: dict[str, np.ndarray],
                          shapes: Mapping[str, tuple[int, ...]]) -> list[onnx.NodeProto]:
    """The nodes left after folding (in their order); `constants` gains the folded values.
    `nodes` in topological order; `shapes`: the static dims shape inference found."""
    kept: list[onnx.NodeProto] = []
    for node in nodes:
        if node.domain not in ("", "ai.onnx") or node.op_type not in FOLDABLE or not node.output:
            kept.append(node)
            continue
        if node.op_type == "Shape":
            dims = constants[node.input[0]].shape if node.input[0] in constants else shapes.get(node.input[0])
            if dims is None or any(d <= 0 for d in dims):
                kept.append(node)
                continue
            outputs: list[np.ndarray] | None = [_shape_of(node, tuple(int(d) for d in dims))]
        else:
            inputs = [constants.get(name) if name else None for name in node.input]
            if any(name and value is None for name, value in zip(node.input, inputs)):
                kept.append(node)
                continue
            present = [v for v in inputs if v is not None]
            small = all(v.size <= MAX_ELEMENTS and v.dtype in SHAPE_DTYPES for v in present)
            outputs = _evaluate(node, inputs) if small and _bounded(node, inputs) else None
        if outputs is None or len(outputs) != len(node.output) or not all(
                v.dtype in SHAPE_DTYPES and v.size <= MAX_ELEMENTS for v in outputs):
            kept.append(node)
            continue
        constants.update({name: value for name, value in zip(node.output, outputs) if name})
    return kept
