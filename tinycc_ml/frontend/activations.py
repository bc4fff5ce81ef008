"""Which ONNX tensors are int8 activations, and their quantization parameters.

An int8 tensor does not carry its scale in ONNX: the nodes around it declare it
(QuantizeLinear's y_scale, a DequantizeLinear reading it, a QLinear* op's x_scale). An int8
graph input from tf2onnx is only described by the DequantizeLinear after its Transpose/
Reshape. So: find the int8 activations by forward propagation, join the tensors that are the
same bytes reinterpreted (Reshape, Transpose, MaxPool on int8 ...) into classes, and give each
class the parameters its nodes declare; a class with two different declarations is an error.
"""

from __future__ import annotations

from dataclasses import dataclass

import onnx

from ..errors import ModelError
from ..ir.graph import QuantParams
from .onnx_view import INT8, UINT8, ModelView, node_label
from .qparams import activation_params, quantized_type_of

# Ops that move int8 bytes without changing their meaning: output params = input params.
# Pad on int8 pads with a raw int8 byte, so it is one of them too.
INT8_PASSTHROUGH = frozenset({"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Identity", "MaxPool", "Pad"})
# Ops that join int8 tensors byte for byte (tf2onnx's CONCATENATION of QuantizeLinear outputs):
# every input and the output are the same bytes, so they need one set of parameters.
INT8_JOINS = frozenset({"Concat"})


def _int8_join(node: onnx.NodeProto, found: set[str]) -> bool:
    return node.op_type in INT8_JOINS and bool(node.input) and all(name in found for name in node.input)

# (input index, scale index, zero-point index) per QLinear op; -1 as input index means the output.
_QLINEAR_DECLARATIONS: dict[str, tuple[tuple[int, int, int], ...]] = {
    "QLinearConv": ((0, 1, 2), (-1, 6, 7)),
    "QLinearMatMul": ((0, 1, 2), (3, 4, 5), (-1, 6, 7)),
    "QGemm": ((0, 1, 2), (3, 4, 5), (-1, 7, 8)),
    "QLinearAdd": ((0, 1, 2), (3, 4, 5), (-1, 6, 7)),
    "QLinearMul": ((0, 1, 2), (3, 4, 5), (-1, 6, 7)),
    "QLinearAveragePool": ((0, 1, 2), (-1, 3, 4)),
    "QLinearGlobalAveragePool": ((0, 1, 2), (-1, 3, 4)),
    "QLinearSigmoid": ((0, 1, 2), (-1, 3, 4)),
    "QLinearLeakyRelu": ((0, 1, 2), (-1, 3, 4)),
    "QLinearSoftmax": ((0, 1, 2), (-1, 3, 4)),
}
QLINEAR_OPS = frozenset(_QLINEAR_DECLARATIONS) | {"QLinearConcat"}


def declarations(node: onnx.NodeProto) -> list[tuple[str, str, str]]:
    """(tensor, scale, zero point) triples that `node` states about int8 activations."""
    op = node.op_type
    if op == "QuantizeLinear":
        return [(node.output[0], node.input[1], node.input[2] if len(node.input) > 2 else "")]
    if op == "DequantizeLinear":
        return [(node.input[0], node.input[1], node.input[2] if len(node.input) > 2 else "")]
    if op == "QLinearConcat":
        result = [(node.output[0], node.input[0], node.input[1])]
        for i in range(2, len(node.input), 3):
            result.append((node.input[i], node.input[i + 1], node.input[i + 2]))
        return result
    triples = _QLINEAR_DECLARATIONS.get(op, ())
    result = []
    for tensor_index, scale_index, zp_index in triples:
        if scale_index >= len(node.input) or not node.input[scale_index]:
            continue  # QGemm without y_scale has a float output
        tensor = node.output[0] if tensor_index < 0 else node.input[tensor_index]
        zp = node.input[zp_index] if zp_index < len(node.input) else ""
        result.append((tensor, node.input[scale_index], zp))
    return result


def int8_activations(view: ModelView) -> set[str]:
    """Names of the non-constant int8 tensors, by forward propagation from the graph inputs."""
    found = {inp.name for inp in view.graph.input
             if not view.is_constant(inp.name) and inp.type.tensor_type.elem_type in (INT8, UINT8)}
    for node in view.nodes:
        op = node.op_type
        if op == "QuantizeLinear":
            if quantized_type_of(view, node) in ("int8", "uint8"):  # uint8: zero point shifted at import
                found.add(node.output[0])
        elif op in QLINEAR_OPS:
            if op != "QGemm" or len(node.input) > 7:
                found.add(node.output[0])
        elif op in INT8_PASSTHROUGH and node.input and node.input[0] in found or _int8_join(node, found):
            found.add(node.output[0])
    return found


class _Classes:
    """Union-find over tensor names (local to one import)."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, name: str) -> str:
        self.parent.setdefault(name, name)
        while self.parent[name] != name:
            self.parent[name] = self.parent[self.parent[name]]
            name = self.parent[name]
        return name

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra


@dataclass(frozen=True)
class ActivationInfo:
    params: dict[str, QuantParams]  # every int8 activation -> its per-tensor parameters


def activation_info(view: ModelView) -> ActivationInfo:
    int8 = int8_activations(view)
    classes = _Classes()
    for name in int8:
        classes.find(name)
    for node in view.nodes:
        if node.op_type in INT8_PASSTHROUGH and node.input and node.input[0] in int8:
            classes.union(node.input[0], node.output[0])
        elif _int8_join(node, int8):
            for name in node.input:
                classes.union(name, node.output[0])

    declared: dict[str, tuple[QuantParams, str, onnx.NodeProto]] = {}
    for node in view.nodes:
        for tensor, scale, zp in declarations(node):
            if view.is_constant(tensor) or tensor not in int8:
                continue
            params = activation_params(view, node, scale, zp, tensor)
            root = classes.find(tensor)
            if root in declared and declared[root][0] != params:
                first, first_tensor, first_node = declared[root]
                raise ModelError(
                    f"{node_label(node)} reads or writes int8 tensor {tensor!r} with scale {params.s!r}, zero point "
                    f"{params.zp}, but {node_label(first_node)} gives {first_tensor!r} (the same bytes) scale "
                    f"{first.s!r}, zero point {first.zp}; tinyc needs one set of quantization parameters per tensor"
                )
            declared.setdefault(root, (params, tensor, node))

    params: dict[str, QuantParams] = {}
    missing = []
    for name in sorted(int8):
        root = classes.find(name)
        if root in declared:
            params[name] = declared[root][0]
        else:
            missing.append(name)
    if missing:
        raise ModelError(
            "these int8 tensors have no quantization parameters (no QuantizeLinear, DequantizeLinear or "
            "QLinear op states their scale and zero point)",
            [f"tensor {name!r}" for name in missing],
        )
    return ActivationInfo(params)
