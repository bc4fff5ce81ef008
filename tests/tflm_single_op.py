"""One-operator int8 .tflite models built with the flatbuffers object API of TFLite's schema
(the schema_py_generated module tflite_micro ships), run in TFLite Micro; for comparing
tinyc's form of the same operator (the tf2onnx ONNX pattern) with TFLite Micro."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import flatbuffers
import numpy as np


@dataclass(frozen=True)
class QTensor:
    shape: tuple[int, ...]
    scale: float
    zero_point: int


def _schema():
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    return schema


def build_single_op(opcode: str, inputs: Sequence[QTensor], output: QTensor, constants: Sequence[np.ndarray] = (),
                    options: tuple[str, Any] | None = None) -> bytes:
    """A model: int8 `inputs` (graph inputs) + int32 `constants` (e.g. MEAN's axes) -> op -> `output`."""
    s = _schema()
    buffers = [s.BufferT()]  # buffer 0 is the empty one by convention
    tensors = []

    def tensor(shape, dtype, q: QTensor | None = None, data: np.ndarray | None = None) -> int:
        t = s.TensorT()
        t.shape = list(shape)
        t.type = dtype
        t.buffer = 0
        if data is not None:
            b = s.BufferT()
            b.data = list(np.ascontiguousarray(data).tobytes())
            buffers.append(b)
            t.buffer = len(buffers) - 1
        if q is not None:
            qp = s.QuantizationParametersT()
            qp.scale, qp.zeroPoint = [float(q.scale)], [int(q.zero_point)]
            t.quantization = qp
        t.name = f"t{len(tensors)}".encode()
        tensors.append(t)
        return len(tensors) - 1

    input_ids = [tensor(q.shape, s.TensorType.INT8, q) for q in inputs]
    const_ids = [tensor(c.shape, s.TensorType.INT32, data=c.astype(np.int32)) for c in constants]
    output_id = tensor(output.shape, s.TensorType.INT8, output)
    code = s.OperatorCodeT()
    builtin = getattr(s.BuiltinOperator, opcode)
    code.builtinCode, code.deprecatedBuiltinCode, code.version = builtin, min(builtin, 127), 1
    op = s.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, input_ids + const_ids, [output_id]
    if options is not None:
        kind, value = options
        op.builtinOptionsType, op.builtinOptions = getattr(s.BuiltinOptions, kind), value
    sub = s.SubGraphT()
    sub.tensors, sub.operators, sub.inputs, sub.outputs = tensors, [op], input_ids, [output_id]
    model = s.ModelT()
    model.version, model.operatorCodes, model.subgraphs, model.buffers = 3, [code], [sub], buffers
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def run_tflm(model: bytes, inputs: Sequence[np.ndarray]) -> np.ndarray:
    from tflite_micro.python.tflite_micro import runtime

    interpreter = runtime.Interpreter.from_bytes(model)
    for i, x in enumerate(inputs):
        interpreter.set_input(x, i)
    interpreter.invoke()
    return interpreter.get_output(0)


def options(name: str, **fields) -> tuple[str, Any]:
    """("ReducerOptions", ReducerOptionsT(keepDims=...)) and the like."""
    value = getattr(_schema(), f"{name}T")()
    for key, v in fields.items():
        setattr(value, key, v)
    return name, value
