"""Per-op agreement of the interpreter with onnxruntime on a QDQ/QOperator model.

onnxruntime (graph optimizations off, ORT_DISABLE_ALL, as tinyc always compares) runs a copy of
the model whose every int8/uint8 node output is also a graph output, so each intermediate
tensor it computes can be read. For every IR node whose output tensor onnxruntime also has,
the node runs on onnxruntime's own int8 inputs (where onnxruntime has them; IR-only tensors come
from the interpreter's run of the earlier nodes), so its error is its own, not inherited. Per op:
elements compared, equal elements, largest |difference| in LSB. For the final output: the whole
model in the interpreter against onnxruntime, in output LSB.

The interpreter is what the C computes byte for byte (tinyc verify), so these are the figures of
the compiled model too. Used by benchmarks/onnx_semantics.py (the table) and its tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .interp import run_graph
from .interp.registry import Operand, implementation
from .ir.graph import Graph
from .quant.qdq import quantize_f32


@dataclass(frozen=True)
class OpAgreement:
    node: str
    kind: str
    elements: int
    equal: int
    max_lsb: int

    @property
    def equal_share(self) -> float:
        return self.equal / self.elements if self.elements else 1.0


@dataclass(frozen=True)
class ModelAgreement:
    model: str
    semantics: str
    inputs: int
    ops: tuple[OpAgreement, ...]  # every node onnxruntime computes an int8 output for
    uncompared: tuple[str, ...]  # nodes whose output onnxruntime does not have (IR-only tensors)
    output_max_lsb: int  # whole model, interpreter vs onnxruntime
    output_equal_share: float
    output_lsb_per_input: tuple[int, ...]  # the whole model's max |difference| on each input

    def inputs_beyond(self, lsb: int) -> int:
        """How many inputs' final outputs are more than `lsb` apart from onnxruntime's."""
        return sum(1 for worst in self.output_lsb_per_input if worst > lsb)

    @property
    def worst_op(self) -> OpAgreement | None:
        return max(self.ops, key=lambda o: (o.max_lsb, -o.equal_share), default=None)

    @property
    def min_equal_share(self) -> float:
        return min((o.equal_share for o in self.ops), default=1.0)


def _exposed(model_bytes: bytes) -> bytes:
    """The model with every int8/uint8 node output as a graph output too."""
    import onnx  # noqa: PLC0415 (heavy, optional)
    from onnx import helper  # noqa: PLC0415

    model = onnx.shape_inference.infer_shapes(onnx.load_from_string(model_bytes))
    quantized = (onnx.TensorProto.INT8, onnx.TensorProto.UINT8)
    types = {v.name: v.type.tensor_type.elem_type for v in model.graph.value_info}
    present = {o.name for o in model.graph.output}
    for node in model.graph.node:
        for name in node.output:
            if types.get(name) in quantized and name not in present:
                model.graph.output.append(helper.make_tensor_value_info(name, types[name], None))
                present.add(name)
    return model.SerializeToString()


def _session(model_bytes: bytes):
    import onnxruntime as ort  # noqa: PLC0415 (optional)

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 4
    return ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])


def _as_int8(value: np.ndarray) -> np.ndarray | None:
    if value.dtype == np.int8:
        return value
    if value.dtype == np.uint8:  # tinyc's int8 twin of a uint8 tensor: zero point shifted by 128
        return (value.astype(np.int16) - 128).astype(np.int8)
    return None


def _per_op(graph: Graph, theirs: dict[str, np.ndarray], x: np.ndarray) -> dict[str, tuple[str, np.ndarray]]:
    """node -> (kind, |ours - onnxruntime| per element) for nodes onnxruntime has the output of."""
    io = graph.inputs[0]
    core_input = quantize_f32(x, io.quant) if io.onnx_dtype == "float32" else _as_int8(x)
    ours = {io.tensor: core_input.reshape(graph.tensor(io.tensor).shape)}
    diffs: dict[str, tuple[str, np.ndarray]] = {}
    for node in graph.nodes:
        operands: list[Operand | None] = []
        for name in node.inputs:
            if not name:
                operands.append(None)
                continue
            tensor = graph.tensor(name)
            if tensor.is_constant:
                value = tensor.data
            elif name in theirs:
                value = theirs[name].reshape(tensor.shape)
            else:
                value = ours[name]
            operands.append(Operand(tensor, value))
        out = graph.tensor(node.outputs[0])
        ours[out.name] = implementation(node.kind)(node.attrs, operands, out)
        if out.name in theirs:
            ref = theirs[out.name].reshape(out.shape).astype(np.int64)
            diffs[node.name] = (node.kind, np.abs(ours[out.name].astype(np.int64) - ref))
    return diffs


def _random_input(graph: Graph, rng: np.random.Generator) -> np.ndarray:
    from .verification import random_input  # noqa: PLC0415 (verification imports the compiler)

    return random_input(graph.inputs[0], rng)


def compare_ops(model: Path | str, graph: Graph, count: int = 20, seed: int = 0) -> ModelAgreement:
    """`graph` (the imported `model`, in the semantics to measure) against onnxruntime on `count`
    seeded random inputs (verification.random_input)."""
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise ValueError("per-op agreement is measured on models with one input and one output")
    raw = Path(model).read_bytes()
    session = _session(_exposed(raw))
    names = [o.name for o in session.get_outputs()]
    io, out_io = graph.inputs[0], graph.outputs[0]
    rng = np.random.default_rng(seed)
    totals: dict[str, list] = {}
    out_equal, out_elements = 0, 0
    per_input: list[int] = []
    for _ in range(count):
        x = _random_input(graph, rng)
        values = dict(zip(names, session.run(None, {io.onnx_name: x})))
        theirs = {k: v8 for k, v in values.items() if (v8 := _as_int8(v)) is not None}
        for node, (kind, d) in _per_op(graph, theirs, x).items():
            row = totals.setdefault(node, [kind, 0, 0, 0])
            row[1] += d.size
            row[2] += int(np.count_nonzero(d == 0))
            row[3] = max(row[3], int(d.max(initial=0)))
        got = run_graph(graph, {io.onnx_name: x})[out_io.onnx_name]
        ref = values[out_io.onnx_name].reshape(got.shape)
        if out_io.onnx_dtype == "float32":
            step = np.float32(out_io.quant.s)
            lsb = np.abs(np.rint(got / step).astype(np.int64) - np.rint(ref / step).astype(np.int64))
        else:
            lsb = np.abs(got.astype(np.int64) - _as_int8(ref).astype(np.int64))
        per_input.append(int(lsb.max(initial=0)))
        out_equal += int(np.count_nonzero(lsb == 0))
        out_elements += lsb.size
    ops = tuple(OpAgreement(node, kind, n, eq, mx) for node, (kind, n, eq, mx) in totals.items())
    uncompared = tuple(n.name for n in graph.nodes if n.name not in totals)
    return ModelAgreement(Path(model).name, graph.semantics, count, ops, uncompared, max(per_input, default=0),
                          out_equal / out_elements if out_elements else 1.0, tuple(per_input))
