"""State of one TFLite import: which IR tensor holds each TFLite tensor, in which axis order.

TFLite stores images NHWC; the IR's logical shapes are ONNX's (NCHW), and the layout pass
decides the bytes (it stores images NHWC anyway). A 4-D TFLite tensor can therefore live in
the IR in two forms: "nchw" (logical NCHW, what Conv2d and the pools read) or "nhwc" (the
TFLite axis order, what RESHAPE, SOFTMAX, FULLY_CONNECTED and the graph boundary see). Each
tensor gets the form its producer makes; a consumer that needs the other one gets a
Transpose (or a Reshape when only unit axes move), made once and shared. These are the
same conversions tf2onnx writes, and the layout pass turns them into aliases that move no
byte. Tensors of other ranks have one form, "nhwc" (TFLite's own order).

Mutable on purpose: one Context lives for one import_tflite call.
"""

from __future__ import annotations

import math

import numpy as np

from ...errors import ModelError
from ...ir import ops
from ...ir.graph import QuantParams
from ...quant.tflite_tables import identity_table
from .. import emit
from ..builder import GraphBuilder
from .reader import TfModel, TfOperator, TfTensor

NHWC, NCHW = "nhwc", "nchw"
TO_NCHW = (0, 3, 1, 2)  # NCHW axis i is NHWC axis TO_NCHW[i]
TO_NHWC = (0, 2, 3, 1)
NHWC_AXIS_IN_NCHW = (0, 2, 3, 1)  # NHWC axis a is NCHW axis NHWC_AXIS_IN_NCHW[a]


def nchw_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(shape[a] for a in TO_NCHW)


def _moves_only_unit_axes(shape: tuple[int, ...], perm: tuple[int, ...]) -> bool:
    return [a for a in range(len(shape)) if shape[a] != 1] == [a for a in perm if shape[a] != 1]


def _unique_names(model: TfModel) -> list[str]:
    """A TFLite tensor's name, made unique (converters may repeat or omit names)."""
    counts: dict[str, int] = {}
    for t in model.tensors:
        counts[t.name] = counts.get(t.name, 0) + 1
    names = []
    for t in model.tensors:
        names.append(t.name if t.name and counts[t.name] == 1 else f"{t.name or 'tensor'}#{t.index}")
    return names


class Context:
    def __init__(self, model: TfModel, source: str):
        self.model = model
        self.source = source
        self.names = _unique_names(model)
        self.b = GraphBuilder(set(self.names))
        self.forms: dict[int, dict[str, str]] = {}
        self.primary: dict[int, tuple[str, str]] = {}  # index -> (IR name, form) as produced

    # ---- lookups ------------------------------------------------------------------------

    def tensor(self, index: int) -> TfTensor:
        return self.model.tensors[index]

    def tensor_label(self, index: int) -> str:
        return f"tensor {index} ({self.tensor(index).name!r})"

    def error(self, op: TfOperator, text: str) -> ModelError:
        return ModelError(f"{op.label}: {text}")

    def input_index(self, op: TfOperator, k: int, what: str = "input") -> int:
        if k >= len(op.inputs) or op.inputs[k] < 0:
            raise self.error(op, f"its {what} (input {k}) is missing")
        return op.inputs[k]

    def optional_input(self, op: TfOperator, k: int) -> int | None:
        return op.inputs[k] if k < len(op.inputs) and op.inputs[k] >= 0 else None

    def output_index(self, op: TfOperator, k: int = 0) -> int:
        if k >= len(op.outputs) or op.outputs[k] < 0:
            raise self.error(op, f"output {k} is missing")
        return op.outputs[k]

    def expect_arity(self, op: TfOperator, inputs: tuple[int, ...] | int, outputs: int = 1) -> None:
        allowed = (inputs,) if isinstance(inputs, int) else inputs
        if len(op.inputs) not in allowed or len(op.outputs) != outputs:
            raise self.error(op, f"has {len(op.inputs)} inputs and {len(op.outputs)} outputs; expected "
                                 f"{' or '.join(map(str, allowed))} and {outputs}")

    def quant(self, op: TfOperator, index: int) -> QuantParams:
        """Per-tensor int8 activation parameters of tensor `index`."""
        t = self.tensor(index)
        if t.quant is None:
            raise self.error(op, f"{self.tensor_label(index)} is int8 without quantization parameters")
        if len(t.quant.scale) != 1:
            raise self.error(op, f"{self.tensor_label(index)} is an activation quantized per channel "
                                 f"({len(t.quant.scale)} scales); tinyc supports per-tensor activations")
        zp = t.quant.zero_point[0] if t.quant.zero_point else 0
        if not -128 <= zp <= 127:
            raise self.error(op, f"{self.tensor_label(index)} has zero point {zp}, outside int8")
        return QuantParams.per_tensor(t.quant.scale[0], zp)

    def check_int8(self, op: TfOperator, index: int) -> None:
        t = self.tensor(index)
        if t.dtype != "int8":
            advice = (" (int16 activations, the 16x8 scheme, are not supported)" if t.dtype == "int16" else
                      " (uint8 models: re-convert with int8 quantization)" if t.dtype == "uint8" else "")
            raise self.error(op, f"{self.tensor_label(index)} is {t.dtype}; tinyc supports int8 activations{advice}")

    # ---- activations and their forms -----------------------------------------------------

    def activation(self, op: TfOperator, index: int, form: str = NHWC) -> str:
        """The IR tensor of activation `index` in `form` (a 4-D tensor only may be NCHW)."""
        t = self.tensor(index)
        if t.data is not None:
            raise self.error(op, f"{self.tensor_label(index)} is a constant where tinyc expects an activation")
        self.check_int8(op, index)
        forms = self.forms.get(index)
        if forms is None:
            raise self.error(op, f"{self.tensor_label(index)} is read before any operator produces it "
                                 "(the operators are not in execution order, or it is a variable)")
        if form == NCHW and len(t.shape) != 4:
            raise self.error(op, f"{self.tensor_label(index)} has shape {list(t.shape)}; this operator needs a 4-D "
                                 "[N, H, W, C] tensor")
        if form not in forms:
            src_form, src = next(iter(forms.items()))
            perm = TO_NCHW if form == NCHW else TO_NHWC
            shape = self.b.shape(src)
            name = self.b.fresh_name(f"{self.names[index]}/{form}")
            base = f"{self.names[index]}/to_{form}"
            if _moves_only_unit_axes(shape, perm):
                emit.reshape(self.b, self.b.fresh_name(base), src, tuple(shape[a] for a in perm), name)
            else:
                emit.transpose(self.b, self.b.fresh_name(base), src, perm, name)
            forms[form] = name
        return forms[form]

    def form_of(self, index: int) -> str:
        return self.primary[index][1] if index in self.primary else NHWC

    def output(self, op: TfOperator, k: int = 0) -> tuple[int, str, QuantParams]:
        """(index, IR name, quantization) of output k, an int8 activation not yet produced."""
        index = self.output_index(op, k)
        t = self.tensor(index)
        if t.data is not None:
            raise self.error(op, f"output {self.tensor_label(index)} is a constant")
        self.check_int8(op, index)
        if index in self.forms:
            raise self.error(op, f"{self.tensor_label(index)} is produced twice")
        return index, self.names[index], self.quant(op, index)

    def define(self, op: TfOperator, index: int, ir_name: str, form: str) -> None:
        """Record that `ir_name` holds TFLite tensor `index` in `form`; its shape must be the declared one."""
        declared = self.tensor(index).shape
        shape = self.b.shape(ir_name)
        as_tflite = tuple(shape[a] for a in TO_NHWC) if form == NCHW else shape
        if tuple(as_tflite) != tuple(declared):
            raise self.error(op, f"{self.tensor_label(index)} is declared with shape {list(declared)}, but the operator "
                                 f"computes {list(as_tflite)}")
        self.forms[index] = {form: ir_name}
        self.primary[index] = (ir_name, form)

    def reinterpret(self, op: TfOperator, src: str, target_q: QuantParams, out: str | None = None) -> str:
        """`src`'s bytes under `target_q`: TFLite ops that copy bytes (pools, concatenation, reshapes)
        ignore a difference between their input and output parameters; an identity Lut says so in the IR."""
        if self.b.quant(src) == target_q and out is None:
            return src
        name = out or self.b.fresh_name(f"{src}/as_output")
        self.b.activation(name, self.b.shape(src), target_q)
        self.b.node(self.b.fresh_name(f"{op.opcode.lower()}_{op.index}/reinterpret"),
                    ops.Lut(table=identity_table(), function="reinterpret"), (src,), (name,))
        return name

    def node_name(self, op: TfOperator) -> str:
        return f"{op.opcode.lower()}_{op.index}"

    # ---- constants ------------------------------------------------------------------------

    def constant(self, op: TfOperator, index: int, what: str) -> TfTensor:
        t = self.tensor(index)
        if t.data is None:
            raise self.error(op, f"its {what} {self.tensor_label(index)} is computed at run time; tinyc needs a "
                                 f"constant {what}")
        return t

    def int_list(self, op: TfOperator, index: int, what: str) -> list[int]:
        t = self.constant(op, index, what)
        if t.dtype not in ("int32", "int64"):
            raise self.error(op, f"its {what} {self.tensor_label(index)} is {t.dtype}; expected int32")
        return [int(v) for v in np.asarray(t.data).reshape(-1)]

    def elements(self, index: int) -> int:
        return math.prod(self.tensor(index).shape)
