"""Invariants of a tinyc IR Graph, checked after the frontend and between passes.

A violation is a compiler bug (the frontend or a pass built a bad graph), not a user
error, so it raises IRInvariantError (a PlanError) listing every violation found:

* structure: tensor names match their keys; node names unique; every node input exists;
  every activation produced once, before use, and never a constant; graph inputs are not
  produced by a node; outputs are produced; boundary I/O matches its tensor.
* types: activations are int8 with per-tensor quantization and no data (uint8 only as a
  graph input or output, touched only by the SignFlip that converts it); constants carry
  data of their dtype and shape; int8 constants (weights) are symmetric with per-tensor or
  per-channel quantization on a valid axis; biases are int32.
* per op kind: operand ranks and shapes, output shape (conv/pool windows, broadcasting,
  concat, pad, reshape size, transpose perm), weights constant, act_min <= act_max within
  int8, equal quantization where the op copies bytes (Reshape, Transpose, MaxPool, Concat,
  Pad), Softmax output (1/256, -128) under TFLite semantics, Lut tables of 256 int8 values;
* semantics: the graph's is tflite or onnx, and every node that carries one agrees with it.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from ..errors import PlanError
from . import ops
from .graph import DType, Graph, Node, QuantParams, Tensor

SOFTMAX_OUTPUT_Q = QuantParams.per_tensor(1.0 / 256.0, -128)


class IRInvariantError(PlanError):
    """The IR graph breaks an invariant: a bug in the frontend or in a pass."""

    def __init__(self, graph_name: str, problems: list[str]):
        self.problems = list(problems)
        super().__init__(f"IR graph {graph_name!r} violates {len(problems)} invariant(s):\n"
                         + "\n".join(f"  - {p}" for p in problems))


def _window(size: int, kernel: int, stride: int, dilation: int, begin: int, end: int, ceil: bool) -> int:
    span = dilation * (kernel - 1) + 1
    numerator = size + begin + end - span
    if numerator < 0:
        return -1
    if not ceil:
        return numerator // stride + 1
    out = -(-numerator // stride) + 1
    return out - 1 if (out - 1) * stride >= size + begin else out


class _Checker:
    def __init__(self, graph: Graph):
        self.g = graph
        self.problems: list[str] = []

    def fail(self, where: str, text: str) -> None:
        self.problems.append(f"{where}: {text}")

    def t(self, name: str) -> Tensor:
        return self.g.tensors[name]

    # ---- tensors ---------------------------------------------------------------------

    def tensors(self) -> None:
        for key, tensor in self.g.tensors.items():
            where = f"tensor {key!r}"
            if tensor.name != key:
                self.fail(where, f"stored under a different name {tensor.name!r}")
            if any(int(d) < 1 for d in tensor.shape):
                self.fail(where, f"has a non-positive dimension in {list(tensor.shape)}")
            if tensor.is_constant:
                self._constant(where, tensor)
            else:
                if tensor.dtype not in (DType.INT8, DType.UINT8):
                    self.fail(where, f"activation of type {tensor.dtype.value}; activations are int8")
                low = 0 if tensor.dtype == DType.UINT8 else -128
                if tensor.quant is None or not tensor.quant.is_per_tensor:
                    self.fail(where, "activation without per-tensor quantization")
                elif not (math.isfinite(tensor.quant.s) and tensor.quant.s > 0 and low <= tensor.quant.zp <= low + 255):
                    self.fail(where, f"has invalid quantization {tensor.quant}")
        self._uint8_only_at_edges()

    def _uint8_only_at_edges(self) -> None:
        """A uint8 activation is a graph input or output, read or written only by a SignFlip."""
        edges = set(self.g.input_tensors()) | set(self.g.output_tensors())
        uint8 = {n for n, t in self.g.tensors.items() if not t.is_constant and t.dtype == DType.UINT8}
        for name in sorted(uint8 - edges):
            self.fail(f"tensor {name!r}", "uint8 activation that is not a graph input or output")
        for node in self.g.nodes:
            if node.kind == "SignFlip":
                continue
            for name in (*node.inputs, *node.outputs):
                if name in uint8:
                    self.fail(f"node {node.name!r} ({node.kind})", f"touches uint8 tensor {name!r}; only SignFlip does")

    def _constant(self, where: str, tensor: Tensor) -> None:
        data = tensor.data
        assert data is not None
        if data.dtype != tensor.dtype.numpy:
            self.fail(where, f"holds {data.dtype} data but is typed {tensor.dtype.value}")
        if tuple(data.shape) != tuple(tensor.shape):
            self.fail(where, f"holds data of shape {list(data.shape)} but is shaped {list(tensor.shape)}")
        q = tensor.quant
        if tensor.dtype == DType.INT8:
            if q is None:
                self.fail(where, "int8 constant without quantization")
                return
            if any(z != 0 for z in q.zero_point) and not q.is_per_tensor:
                self.fail(where, "per-channel int8 constant with a nonzero zero point")
        if q is not None and not q.is_per_tensor:
            if q.axis is None or not 0 <= q.axis < len(tensor.shape) or tensor.shape[q.axis] != len(q.scale):
                self.fail(where, f"has {len(q.scale)} channel scales on axis {q.axis} of shape {list(tensor.shape)}")
        if q is not None and not all(math.isfinite(s) and s > 0 for s in q.scale):
            self.fail(where, "has a non-positive or non-finite scale")

    # ---- structure -------------------------------------------------------------------

    def structure(self) -> None:
        names: set[str] = set()
        produced: set[str] = set(self.g.input_tensors())
        for io in self.g.inputs:
            if io.tensor not in self.g.tensors or self.t(io.tensor).is_constant:
                self.fail(f"graph input {io.onnx_name!r}", f"tensor {io.tensor!r} is not an activation")
        for node in self.g.nodes:
            where = f"node {node.name!r} ({node.kind})"
            if node.name in names:
                self.fail(where, "has the name of an earlier node")
            names.add(node.name)
            for name in node.inputs:
                if not name:
                    continue
                if name not in self.g.tensors:
                    self.fail(where, f"reads unknown tensor {name!r}")
                elif not self.t(name).is_constant and name not in produced:
                    self.fail(where, f"reads {name!r} before any node produces it")
            for name in node.outputs:
                if name not in self.g.tensors:
                    self.fail(where, f"writes unknown tensor {name!r}")
                    continue
                if self.t(name).is_constant:
                    self.fail(where, f"writes constant {name!r}")
                if name in produced:
                    what = "a graph input" if name in self.g.input_tensors() else "a tensor already produced"
                    self.fail(where, f"writes {name!r}, {what}")
                produced.add(name)
        for io in self.g.outputs:
            if io.tensor not in produced:
                self.fail(f"graph output {io.onnx_name!r}", f"tensor {io.tensor!r} is not produced")
        for io in self.g.inputs + self.g.outputs:
            where = f"boundary {io.onnx_name!r}"
            if io.tensor not in self.g.tensors:
                continue
            tensor = self.t(io.tensor)
            if io.onnx_dtype not in ("int8", "uint8", "float32"):
                self.fail(where, f"has ONNX type {io.onnx_dtype!r}")
            elif (io.onnx_dtype == "uint8") != (tensor.dtype == DType.UINT8):
                self.fail(where, f"is {io.onnx_dtype} at the boundary but tensor {io.tensor!r} is {tensor.dtype.value}")
            if math.prod(io.shape) != tensor.size:
                self.fail(where, f"shape {list(io.shape)} does not hold the {tensor.size} elements of {io.tensor!r}")
            if tensor.quant != io.quant:
                self.fail(where, f"quantization {io.quant} differs from tensor {io.tensor!r}'s")
        for tensor in self.g.activations():
            if tensor.name not in produced:
                self.fail(f"tensor {tensor.name!r}", "activation that no node produces")

    # ---- ops -------------------------------------------------------------------------

    def nodes(self) -> None:
        for node in self.g.nodes:
            where = f"node {node.name!r} ({node.kind})"
            if any(n and n not in self.g.tensors for n in node.inputs + node.outputs):
                continue  # reported by structure()
            if len(node.outputs) != 1:
                self.fail(where, f"has {len(node.outputs)} outputs; every op has one")
                continue
            if not isinstance(node.attrs, tuple(ops.ALL_OPS)):
                self.fail(where, f"has unknown op attributes {type(node.attrs).__name__}")
                continue
            semantics = getattr(node.attrs, "semantics", self.g.semantics)
            if semantics != self.g.semantics:
                self.fail(where, f"follows {semantics!r} arithmetic in a graph whose semantics is {self.g.semantics!r}")
            act_min, act_max = getattr(node.attrs, "act_min", -128), getattr(node.attrs, "act_max", 127)
            if not -128 <= act_min <= act_max <= 127:
                self.fail(where, f"has an invalid activation range [{act_min}, {act_max}]")
            check = _OP_CHECKS.get(node.kind)
            if check is None:
                self.fail(where, "has no invariant check (add one to ir/verify.py)")
            else:
                check(self, where, node)

    def _expect(self, where: str, node: Node, n_inputs: int | tuple[int, ...]) -> bool:
        allowed = (n_inputs,) if isinstance(n_inputs, int) else n_inputs
        if len(node.inputs) not in allowed:
            self.fail(where, f"has {len(node.inputs)} inputs, expected {' or '.join(map(str, allowed))}")
            return False
        for name in node.inputs[:1]:
            if not name or self.t(name).is_constant:
                self.fail(where, "its first input must be an activation")
                return False
        return True

    def _out(self, node: Node) -> Tensor:
        return self.t(node.outputs[0])

    def _shape_is(self, where: str, node: Node, shape: tuple[int, ...]) -> None:
        out = self._out(node)
        if tuple(out.shape) != tuple(shape):
            self.fail(where, f"output {out.name!r} has shape {list(out.shape)}, expected {list(shape)}")

    def _same_quant(self, where: str, a: str, b: str) -> None:
        if self.t(a).quant != self.t(b).quant:
            self.fail(where, f"needs {a!r} and {b!r} to share quantization ({self.t(a).quant} vs {self.t(b).quant})")

    def _weights(self, where: str, node: Node, rank: int, allow_tensor_zero_point: bool = False) -> Tensor | None:
        w_name = node.inputs[1]
        if not w_name or not self.t(w_name).is_constant:
            self.fail(where, "its weight must be a constant")
            return None
        w = self.t(w_name)
        if w.dtype != DType.INT8 or len(w.shape) != rank:
            self.fail(where, f"weight {w_name!r} must be an int8 rank-{rank} constant")
            return None
        # FullyConnected subtracts one weight zero point (filter_offset); conv needs symmetric weights.
        zero_point_ok = allow_tensor_zero_point and w.quant is not None and w.quant.is_per_tensor
        if w.quant is not None and ((any(z != 0 for z in w.quant.zero_point) and not zero_point_ok)
                                    or (not w.quant.is_per_tensor and w.quant.axis != 0)):
            self.fail(where, f"weight {w_name!r} must be symmetric, per tensor or per channel on axis 0")
        bias = node.inputs[2] if len(node.inputs) > 2 else ""
        if bias:
            b = self.t(bias)
            if not b.is_constant or b.dtype != DType.INT32 or tuple(b.shape) != (w.shape[0],):
                self.fail(where, f"bias {bias!r} must be an int32 constant of shape [{w.shape[0]}]")
        return w

    def conv2d(self, where: str, node: Node) -> None:
        if not self._expect(where, node, 3):
            return
        x = self.t(node.inputs[0])
        w = self._weights(where, node, 4)
        a: ops.Conv2d = node.attrs  # type: ignore[assignment]
        if w is None or len(x.shape) != 4:
            if len(x.shape) != 4:
                self.fail(where, "input must be [N, C, H, W]")
            return
        o, cg, kh, kw = w.shape
        if a.groups < 1 or cg * a.groups != x.shape[1] or o % a.groups:
            self.fail(where, f"weight {list(w.shape)} with groups={a.groups} does not fit {x.shape[1]} input channels")
        oh = _window(x.shape[2], kh, a.strides[0], a.dilations[0], a.pads[0], a.pads[2], False)
        ow = _window(x.shape[3], kw, a.strides[1], a.dilations[1], a.pads[1], a.pads[3], False)
        self._shape_is(where, node, (x.shape[0], o, oh, ow))

    def fully_connected(self, where: str, node: Node) -> None:
        if not self._expect(where, node, 3):
            return
        x = self.t(node.inputs[0])
        w = self._weights(where, node, 2, allow_tensor_zero_point=True)
        if w is None:
            return
        if len(x.shape) != 2 or x.shape[1] != w.shape[1]:
            self.fail(where, f"input {list(x.shape)} does not fit weight [M, K] = {list(w.shape)}")
            return
        self._shape_is(where, node, (x.shape[0], w.shape[0]))

    def binary(self, where: str, node: Node) -> None:
        if len(node.inputs) != 2:
            self.fail(where, f"has {len(node.inputs)} inputs, expected 2")
            return
        for name in node.inputs:
            t = self.t(name)
            if t.dtype != DType.INT8 or t.quant is None or not t.quant.is_per_tensor:
                self.fail(where, f"operand {name!r} must be int8 with per-tensor quantization")
        try:
            shape = tuple(np.broadcast_shapes(self.t(node.inputs[0]).shape, self.t(node.inputs[1]).shape))
        except ValueError:
            self.fail(where, "operand shapes do not broadcast")
            return
        self._shape_is(where, node, shape)

    def pool(self, where: str, node: Node) -> None:
        if not self._expect(where, node, 1):
            return
        x = self.t(node.inputs[0])
        a = node.attrs
        if len(x.shape) != 4:
            self.fail(where, "input must be [N, C, H, W]")
            return
        k, s, p = a.kernel, a.strides, a.pads  # type: ignore[attr-defined]
        floor = (x.shape[0], x.shape[1], _window(x.shape[2], k[0], s[0], 1, p[0], p[2], False),
                 _window(x.shape[3], k[1], s[1], 1, p[1], p[3], False))
        ceil = (x.shape[0], x.shape[1], _window(x.shape[2], k[0], s[0], 1, p[0], p[2], True),
                _window(x.shape[3], k[1], s[1], 1, p[1], p[3], True))
        if tuple(self._out(node).shape) not in (floor, ceil):
            self.fail(where, f"output shape {list(self._out(node).shape)} is neither {list(floor)} nor {list(ceil)} (ceil_mode)")
        if node.kind == "MaxPool2d":
            self._same_quant(where, node.inputs[0], node.outputs[0])

    def reshape(self, where: str, node: Node) -> None:
        if not self._expect(where, node, 1):
            return
        if self.t(node.inputs[0]).size != self._out(node).size:
            self.fail(where, f"changes the element count {self.t(node.inputs[0]).size} -> {self._out(node).size}")
        self._same_quant(where, node.inputs[0], node.outputs[0])

    def transpose(self, where: str, node: Node) -> None:
        if not self._expect(where, node, 1):
            return
        x = self.t(node.inputs[0])
        perm = node.attrs.perm  # type: ignore[attr-defined]
        if sorted(perm) != list(range(len(x.shape))):
            self.fail(where, f"perm {list(perm)} is not a permutation of {len(x.shape)} axes")
            return
        self._shape_is(where, node, tuple(x.shape[p] for p in perm))
        self._same_quant(where, node.inputs[0], node.outputs[0])

    def concat(self, where: str, node: Node) -> None:
        if not node.inputs or any(not n or self.t(n).is_constant for n in node.inputs):
            self.fail(where, "inputs must be activations")
            return
        shapes = [self.t(n).shape for n in node.inputs]
        axis = node.attrs.axis  # type: ignore[attr-defined]
        rank = len(shapes[0])
        if not 0 <= axis < rank or any(len(s) != rank for s in shapes) or any(
                s[i] != shapes[0][i] for s in shapes for i in range(rank) if i != axis):
            self.fail(where, f"inputs {[list(s) for s in shapes]} do not concatenate on axis {axis}")
            return
        expected = list(shapes[0])
        expected[axis] = sum(s[axis] for s in shapes)
        self._shape_is(where, node, tuple(expected))
        for n in node.inputs:
            self._same_quant(where, n, node.outputs[0])

    def pad(self, where: str, node: Node) -> None:
        if not self._expect(where, node, 1):
            return
        x = self.t(node.inputs[0])
        a: ops.Pad = node.attrs  # type: ignore[assignment]
        rank = len(x.shape)
        if len(a.pads) != 2 * rank or any(p < 0 for p in a.pads) or not -128 <= a.value <= 127:
            self.fail(where, f"pads {list(a.pads)} / value {a.value} invalid for rank {rank}")
            return
        self._shape_is(where, node, tuple(d + a.pads[i] + a.pads[i + rank] for i, d in enumerate(x.shape)))
        self._same_quant(where, node.inputs[0], node.outputs[0])

    def softmax(self, where: str, node: Node) -> None:
        if not self._expect(where, node, 1):
            return
        self._shape_is(where, node, self.t(node.inputs[0]).shape)
        # TFLite's softmax writes (1/256, -128); ONNX's (an exp table) writes any per-tensor output.
        if node.attrs.semantics == ops.TFLITE and self._out(node).quant != SOFTMAX_OUTPUT_Q:
            self.fail(where, f"output must be quantized (1/256, -128), got {self._out(node).quant}")

    def lut(self, where: str, node: Node) -> None:
        if not self._expect(where, node, 1):
            return
        self._shape_is(where, node, self.t(node.inputs[0]).shape)
        table = node.attrs.table  # type: ignore[attr-defined]
        if len(table) != 256 or any(not -128 <= int(v) <= 127 for v in table):
            self.fail(where, "table must hold 256 int8 values")

    def sign_flip(self, where: str, node: Node) -> None:
        if not self._expect(where, node, 1):
            return
        x, y = self.t(node.inputs[0]), self._out(node)
        self._shape_is(where, node, x.shape)
        if {x.dtype, y.dtype} != {DType.INT8, DType.UINT8}:
            self.fail(where, f"converts {x.dtype.value} to {y.dtype.value}; it converts uint8 <-> int8")
        elif x.quant is not None and y.quant is not None and x.quant.is_per_tensor and y.quant.is_per_tensor:
            shift = 128 if x.dtype == DType.UINT8 else -128
            if x.quant.s != y.quant.s or x.quant.zp - shift != y.quant.zp:
                self.fail(where, f"output quantization {y.quant} is not the input's {x.quant} with the zero point "
                                 "moved by 128")


_OP_CHECKS: dict[str, Callable[[_Checker, str, Node], None]] = {
    "Conv2d": _Checker.conv2d,
    "FullyConnected": _Checker.fully_connected,
    "Add": _Checker.binary,
    "Mul": _Checker.binary,
    "AveragePool2d": _Checker.pool,
    "MaxPool2d": _Checker.pool,
    "Reshape": _Checker.reshape,
    "Transpose": _Checker.transpose,
    "Concat": _Checker.concat,
    "Pad": _Checker.pad,
    "Softmax": _Checker.softmax,
    "Lut": _Checker.lut,
    "SignFlip": _Checker.sign_flip,
}


def graph_problems(graph: Graph) -> list[str]:
    """Every invariant violation of `graph` (empty when it is well formed)."""
    checker = _Checker(graph)
    if graph.semantics not in ops.SEMANTICS:
        checker.fail(f"graph {graph.name!r}", f"has unknown semantics {graph.semantics!r} (known: {', '.join(ops.SEMANTICS)})")
    checker.tensors()
    checker.structure()
    checker.nodes()
    return checker.problems


def verify_graph(graph: Graph) -> Graph:
    """Raise IRInvariantError listing every violation; return the graph for chaining."""
    problems = graph_problems(graph)
    if problems:
        raise IRInvariantError(graph.name, problems)
    return graph
