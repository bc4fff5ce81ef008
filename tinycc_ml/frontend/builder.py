"""Accumulates IR tensors and nodes during one import, with deterministic unique names.

Mutable on purpose: one GraphBuilder lives for one `import_model` call and is frozen into
a `Graph` at the end. Generated names are derived from ONNX names plus a suffix and never
collide with an ONNX name or with each other.
"""

from __future__ import annotations

from dataclasses import fields, replace

import numpy as np

from ..errors import ModelError
from ..ir import ops
from ..ir.graph import DType, Node, QuantParams, Tensor
from ..ir.ops import TFLITE, OpAttrs
from .qparams import UINT8_ZERO_POINT_SHIFT  # uint8 q == int8 q - 128, the zero point alike (ops.SignFlip)


def _uint8_quant(int8_quant: QuantParams) -> QuantParams:
    return QuantParams(int8_quant.scale, (int8_quant.zp + UINT8_ZERO_POINT_SHIFT,))


class GraphBuilder:
    def __init__(self, reserved: set[str], semantics: str = TFLITE):
        self._reserved = set(reserved)  # every ONNX tensor and node name
        # The model's arithmetic (ops.SEMANTICS): stamped on every node whose op has a choice,
        # and read by the emitters that compute tables at import.
        self.semantics = semantics
        self.tensors: dict[str, Tensor] = {}
        self.nodes: list[Node] = []
        self._node_names: set[str] = set()
        self._used_generated: set[str] = set()

    def fresh_name(self, base: str) -> str:
        """`base` itself if nothing uses it yet, else base_1, base_2, ..."""
        taken = lambda n: n in self.tensors or n in self._used_generated or n in self._reserved  # noqa: E731
        if not taken(base):
            self._used_generated.add(base)
            return base
        i = 1
        while taken(f"{base}_{i}"):
            i += 1
        name = f"{base}_{i}"
        self._used_generated.add(name)
        return name

    def activation(self, name: str, shape: tuple[int, ...], quant: QuantParams) -> str:
        if name in self.tensors:
            raise ModelError(f"tensor {name!r} is produced twice")
        self.tensors[name] = Tensor(name, tuple(int(d) for d in shape), DType.INT8, quant)
        return name

    def uint8_input(self, name: str, shape: tuple[int, ...], int8_quant: QuantParams) -> str:
        """A uint8 graph input `name` (zero point + 128) and its SignFlip into the int8 core;
        returns the int8 tensor the ops read."""
        if name in self.tensors:
            raise ModelError(f"tensor {name!r} is produced twice")
        self.tensors[name] = Tensor(name, tuple(int(d) for d in shape), DType.UINT8, _uint8_quant(int8_quant))
        core = self.activation(self.fresh_name(f"{name}/int8"), shape, int8_quant)
        self.node(self.fresh_name(f"{name}/uint8_to_int8"), ops.SignFlip(), (name,), (core,))
        return core

    def uint8_output(self, core: str, base: str) -> str:
        """The SignFlip of int8 tensor `core` into a uint8 graph output; returns its name."""
        name = self.fresh_name(f"{base}/uint8")
        self.tensors[name] = Tensor(name, self.shape(core), DType.UINT8, _uint8_quant(self.quant(core)))
        self.node(self.fresh_name(f"{base}/int8_to_uint8"), ops.SignFlip(), (core,), (name,))
        return name

    def constant(self, base: str, data: np.ndarray, dtype: DType, quant: QuantParams | None) -> str:
        """An integer constant named after its ONNX initializer; one initializer used twice in the same
        role (same bytes, same quantization) is stored once."""
        array = np.ascontiguousarray(data, dtype=dtype.numpy)
        existing = self.tensors.get(base)
        if (existing is not None and existing.is_constant and existing.dtype == dtype and existing.quant == quant
                and existing.shape == array.shape and np.array_equal(existing.data, array)):
            return base
        name = base if existing is None else self.fresh_name(base)
        array.setflags(write=False)
        self.tensors[name] = Tensor(name, tuple(int(d) for d in array.shape), dtype, quant, array)
        return name

    def node(self, name: str, attrs: OpAttrs, inputs: tuple[str, ...], outputs: tuple[str, ...]) -> Node:
        if not name or name in self._node_names:
            name = self._fresh_node_name(name or attrs.kind)
        self._node_names.add(name)
        if any(f.name == "semantics" for f in fields(attrs)):
            attrs = replace(attrs, semantics=self.semantics)
        node = Node(name, attrs, tuple(inputs), tuple(outputs))
        self.nodes.append(node)
        return node

    def _fresh_node_name(self, base: str) -> str:
        i = 1
        while f"{base}_{i}" in self._node_names:
            i += 1
        return f"{base}_{i}"

    def shape(self, name: str) -> tuple[int, ...]:
        return self.tensors[name].shape

    def quant(self, name: str) -> QuantParams:
        quant = self.tensors[name].quant
        assert quant is not None, f"activation {name!r} has no quantization"
        return quant
