"""A read-only view of an ONNX graph: constants as NumPy arrays, producers/consumers, shapes.

Everything the lowering needs to ask about the ONNX side goes through `ModelView`, so the
lowering code never touches protobuf objects except to read a node's attributes.
`Constant` nodes are folded into the constant table here, so downstream code sees one
kind of constant whatever the exporter chose, and so is the integer shape arithmetic
exporters leave behind (shape_folding.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import onnx
from onnx import numpy_helper

from ..errors import ModelError
from .shape_folding import fold_shape_arithmetic

INT8 = onnx.TensorProto.INT8
UINT8 = onnx.TensorProto.UINT8
FLOAT = onnx.TensorProto.FLOAT

DTYPE_NAMES = {value: onnx.TensorProto.DataType.Name(value).lower() for value in onnx.TensorProto.DataType.values()}


def node_label(node: onnx.NodeProto) -> str:
    """How errors name a node: its ONNX name and op type (or its first output if unnamed)."""
    if not node.name:
        return f"node <unnamed, output {node.output[0]!r}> ({node.op_type})"
    return f"node {node.name!r} ({node.op_type})"


def op_key(node: onnx.NodeProto) -> tuple[str, str]:
    """(domain, op type) with the default domain spelled ""."""
    return ("" if node.domain in ("", "ai.onnx") else node.domain, node.op_type)


def attributes(node: onnx.NodeProto) -> dict[str, Any]:
    """Node attributes as Python values (strings decoded, tensors as arrays)."""
    result: dict[str, Any] = {}
    for attr in node.attribute:
        value = onnx.helper.get_attribute_value(attr)
        if isinstance(value, bytes):
            value = value.decode()
        elif isinstance(value, onnx.TensorProto):
            value = numpy_helper.to_array(value)
        result[attr.name] = value
    return result


def _static_dims(type_proto: onnx.TypeProto) -> tuple[int, ...] | None:
    """The shape when every dim is a known positive number, else None."""
    if not type_proto.HasField("tensor_type") or not type_proto.tensor_type.HasField("shape"):
        return None
    dims = []
    for dim in type_proto.tensor_type.shape.dim:
        if not dim.HasField("dim_value") or dim.dim_value <= 0:
            return None
        dims.append(int(dim.dim_value))
    return tuple(dims)


def describe_dims(type_proto: onnx.TypeProto) -> str:
    if not type_proto.tensor_type.HasField("shape"):
        return "unknown rank"
    parts = []
    for dim in type_proto.tensor_type.shape.dim:
        if dim.HasField("dim_value"):
            parts.append(str(dim.dim_value))
        elif dim.HasField("dim_param"):
            parts.append(repr(dim.dim_param))
        else:
            parts.append("?")
    return "[" + ", ".join(parts) + "]"


@dataclass(frozen=True)
class ModelView:
    model: onnx.ModelProto
    nodes: tuple[onnx.NodeProto, ...]  # compute nodes in topological order (Constant nodes removed)
    constants: Mapping[str, np.ndarray]
    producers: Mapping[str, onnx.NodeProto]
    consumers: Mapping[str, tuple[onnx.NodeProto, ...]]
    shapes: Mapping[str, tuple[int, ...]]  # static shapes known from the model or shape inference
    elem_types: Mapping[str, int]
    value_types: Mapping[str, onnx.TypeProto]
    opset: int  # default-domain opset

    @property
    def graph(self) -> onnx.GraphProto:
        return self.model.graph

    def is_constant(self, name: str) -> bool:
        return name in self.constants

    def constant(self, name: str) -> np.ndarray:
        return self.constants[name]

    def consumers_of(self, name: str) -> tuple[onnx.NodeProto, ...]:
        return self.consumers.get(name, ())

    def is_graph_output(self, name: str) -> bool:
        return any(out.name == name for out in self.graph.output)

    def shape(self, name: str) -> tuple[int, ...] | None:
        if name in self.constants:
            return tuple(int(d) for d in self.constants[name].shape)
        return self.shapes.get(name)

    def elem_type(self, name: str) -> int | None:
        if name in self.constants:
            return onnx.helper.np_dtype_to_tensor_dtype(self.constants[name].dtype)
        return self.elem_types.get(name)


def _constant_value(node: onnx.NodeProto) -> np.ndarray:
    attrs = attributes(node)
    for key, dtype in (("value", None), ("value_float", np.float32), ("value_floats", np.float32),
                       ("value_int", np.int64), ("value_ints", np.int64)):
        if key in attrs:
            return np.asarray(attrs[key], dtype=dtype)
    raise ModelError(f"{node_label(node)}: this kind of Constant ({', '.join(attrs)}) is not supported")


def _topological(nodes: list[onnx.NodeProto], available: set[str]) -> list[onnx.NodeProto]:
    """ONNX requires topological order; sort anyway (stable) so a hand-edited model still imports."""
    ordered: list[onnx.NodeProto] = []
    remaining = list(nodes)
    known = set(available)
    while remaining:
        progress = []
        for node in remaining:
            if all(not name or name in known for name in node.input):
                progress.append(node)
                known.update(node.output)
        if not progress:
            produced = {name for n in remaining for name in n.output}
            undefined = [(n, name) for n in remaining for name in n.input if name and name not in known | produced]
            if undefined:
                raise ModelError(
                    f"{len(undefined)} node input(s) read tensors that no node, initializer or graph input defines",
                    [f"{node_label(n)} reads {name!r}" for n, name in undefined],
                )
            stuck = ", ".join(node_label(n) for n in remaining[:5])
            raise ModelError(f"the graph has a cycle at {stuck}")
        ids = {id(n) for n in progress}
        ordered.extend(progress)
        remaining = [n for n in remaining if id(n) not in ids]
    return ordered


def _infer(model: onnx.ModelProto) -> onnx.ModelProto:
    try:
        return onnx.shape_inference.infer_shapes(model, strict_mode=False)
    except Exception:  # noqa: BLE001 - inference is a helper; missing shapes are computed from the IR
        return model


# Folding shape arithmetic can give shape inference the pads or shapes it lacked, and those new
# static shapes can let a Shape node fold: a few rounds settle every exporter pattern seen.
FOLD_ROUNDS = 4


def _folded(model: onnx.ModelProto) -> tuple[onnx.ModelProto, dict[str, np.ndarray], list[onnx.NodeProto]]:
    """The model shape-inferred, its constants (initializers, Constant nodes, folded shape
    arithmetic) and its other nodes in topological order."""
    for round_ in range(FOLD_ROUNDS):
        inferred = _infer(model)
        graph = inferred.graph
        constants: dict[str, np.ndarray] = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
        nodes: list[onnx.NodeProto] = []
        for node in graph.node:
            if op_key(node) == ("", "Constant"):
                constants[node.output[0]] = _constant_value(node)
                continue
            nodes.append(node)
        graph_inputs = {inp.name for inp in graph.input if inp.name not in constants}
        nodes = _topological(nodes, graph_inputs | set(constants))
        static = {info.name: dims for info in list(graph.value_info) + list(graph.input)
                  if info.type.HasField("tensor_type") and (dims := _static_dims(info.type)) is not None}
        kept = fold_shape_arithmetic(nodes, constants, static)
        if len(kept) == len(nodes) or round_ == FOLD_ROUNDS - 1:
            return inferred, constants, kept
        model = onnx.ModelProto()
        model.CopyFrom(inferred)
        del model.graph.node[:]
        model.graph.node.extend(kept)
        del model.graph.initializer[:]
        model.graph.initializer.extend(numpy_helper.from_array(value, name) for name, value in constants.items())
        del model.graph.value_info[:]  # inferred again from the folded constants
    raise AssertionError("unreachable")


def build_view(model: onnx.ModelProto) -> ModelView:
    inferred, constants, nodes = _folded(model)
    graph = inferred.graph

    producers = {out: node for node in nodes for out in node.output if out}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in nodes:
        for name in node.input:
            if name:
                consumers.setdefault(name, []).append(node)
    for out in graph.output:
        consumers.setdefault(out.name, [])

    value_types: dict[str, onnx.TypeProto] = {}
    for info in list(graph.value_info) + list(graph.input) + list(graph.output):
        value_types[info.name] = info.type
    shapes = {}
    elem_types = {}
    for name, type_proto in value_types.items():
        if name in constants or not type_proto.HasField("tensor_type"):
            continue
        elem_types[name] = type_proto.tensor_type.elem_type
        dims = _static_dims(type_proto)
        if dims is not None:
            shapes[name] = dims
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)
    return ModelView(
        model=inferred,
        nodes=tuple(nodes),
        constants=constants,
        producers=producers,
        consumers={k: tuple(v) for k, v in consumers.items()},
        shapes=shapes,
        elem_types=elem_types,
        value_types=value_types,
        opset=int(opset),
    )
