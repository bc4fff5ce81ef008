"""The walk over the ONNX nodes that builds the integer IR graph.

`Lowering` holds what is known about every ONNX tensor while the nodes are visited in
topological order:

* int8     ONNX int8 activation -> IR tensor (graph inputs, Q outputs, QLinear outputs);
* dq       float tensor that is exactly DequantizeLinear(int8 activation) -> that IR tensor;
* qconst   float tensor that is DequantizeLinear(integer initializer) -> the integer constant;
* chain    float tensor derived from the float graph input by shape ops (Transpose, Reshape)
           that a QuantizeLinear will quantize: those shape ops move to the int8 side;
* pending  float compute nodes waiting for the QuantizeLinear that makes them integer ops.

Handlers for each ONNX op type live in qdq.py and qoperator.py. A float node still pending
at the end computes in float: the model is only partially quantized.
"""

from __future__ import annotations

from typing import Callable, Mapping

import numpy as np
import onnx

from ..errors import ModelError
from ..ir.graph import BoundaryIO, DType, Graph, QuantParams
from ..ir.ops import TFLITE
from .activations import ActivationInfo
from .builder import GraphBuilder
from .emit import QConst
from .integer_patterns import INTEGER_OPS, integer_leftover_message
from .onnx_view import DTYPE_NAMES, FLOAT, INT8, UINT8, ModelView, node_label, op_key

Handler = Callable[["Lowering", onnx.NodeProto], None]


class Lowering:
    """State of one import (mutable, lives for one import_model call)."""

    def __init__(self, view: ModelView, info: ActivationInfo, semantics: str = TFLITE):
        self.view = view
        self.info = info
        reserved = {name for node in view.nodes for name in list(node.input) + list(node.output) + [node.name]}
        reserved |= {io.name for io in list(view.graph.input) + list(view.graph.output)}
        self.b = GraphBuilder(reserved, semantics)
        self.int8: dict[str, str] = {}
        self.dq: dict[str, str] = {}
        self.qconst: dict[str, QConst] = {}
        self.chain: dict[str, tuple[onnx.NodeProto, ...]] = {}
        self.pending: dict[str, onnx.NodeProto] = {}
        self.consumed: set[int] = set()
        self.input_ios: dict[str, BoundaryIO] = {}  # ONNX graph input name -> its boundary

    # ---- lookups used by the handlers -------------------------------------------------

    def act_params(self, name: str) -> QuantParams:
        return self.info.params[name]

    def int8_input(self, node: onnx.NodeProto, name: str) -> str:
        """IR tensor of an int8 activation input of a QOperator-style node."""
        if name not in self.int8:
            raise ModelError(f"{node_label(node)}: input {name!r} is not an int8 activation tinyc knows")
        return self.int8[name]

    def float_input(self, node: onnx.NodeProto, name: str) -> str:
        """IR tensor behind a float input that is DequantizeLinear(int8 activation)."""
        if name in self.dq:
            return self.dq[name]
        if name in self.qconst:
            raise ModelError(f"{node_label(node)}: input {name!r} is a constant where tinyc expects an activation")
        if self.view.is_constant(name):
            raise ModelError(
                f"{node_label(node)}: input {name!r} is a float constant that is not quantized; the model is only "
                "partially quantized (quantize it with onnxruntime.quantization.quantize_static, QDQ, QInt8)"
            )
        raise ModelError(
            f"{node_label(node)}: input {name!r} is a float tensor that does not come from a DequantizeLinear of an "
            "int8 tensor; the model is only partially quantized (quantize it with "
            "onnxruntime.quantization.quantize_static, QDQ format, QInt8 activations and weights)"
        )

    def constant_input(self, node: onnx.NodeProto, name: str, role: str) -> QConst:
        """The integer constant behind a float input (DequantizeLinear of an initializer)."""
        if name in self.qconst:
            return self.qconst[name]
        if self.view.is_constant(name):
            raise ModelError(
                f"{node_label(node)}: {role} {name!r} is a float constant, not quantized; the model is only "
                "partially quantized (onnxruntime.quantization.quantize_static quantizes weights to int8 and "
                "biases to int32)"
            )
        raise ModelError(
            f"{node_label(node)}: {role} {name!r} is computed at run time; tinyc needs constant {role}s"
        )

    def operand(self, node: onnx.NodeProto, name: str) -> str:
        """An Add/Mul operand: an activation, or a quantized int8 constant stored as an IR constant."""
        if name in self.qconst:
            const = self.qconst[name]
            if const.data.dtype != np.int8 or not const.quant.is_per_tensor:
                raise ModelError(f"{node_label(node)}: constant operand {name!r} must be int8 quantized per tensor")
            return self.b.constant(const.name, const.data, DType.INT8, const.quant)
        return self.float_input(node, name)

    def single_consumer(self, name: str) -> bool:
        return len(self.view.consumers_of(name)) == 1 and not self.view.is_graph_output(name)

    def consume(self, node: onnx.NodeProto) -> None:
        self.consumed.add(id(node))

    # ---- the walk -----------------------------------------------------------------------

    def run(self, handlers: Mapping[tuple[str, str], Handler], name: str) -> Graph:
        for inp in self.view.graph.input:
            if self.view.is_constant(inp.name):
                continue
            elem = inp.type.tensor_type.elem_type
            shape = self.view.shapes[inp.name]
            if elem == INT8:
                q = self.act_params(inp.name)
                self.b.activation(inp.name, shape, q)
                self.int8[inp.name] = inp.name
                self.input_ios[inp.name] = BoundaryIO(inp.name, "int8", shape, inp.name, q)
            elif elem == UINT8:  # onnxruntime's QUInt8: the core reads the flipped int8 bytes
                self.int8[inp.name] = self.b.uint8_input(inp.name, shape, self.act_params(inp.name))
                self.input_ios[inp.name] = BoundaryIO(inp.name, "uint8", shape, inp.name, self.b.quant(inp.name))
            elif elem == FLOAT:
                self.chain[inp.name] = ()
        for node in self.view.nodes:
            handlers[op_key(node)](self, node)
        self._check_all_quantized()
        self._check_shapes()
        inputs = self._input_boundaries()
        outputs = tuple(self._output_boundary(out) for out in self.view.graph.output)  # may add uint8 edges
        return Graph(name=name, tensors=dict(self.b.tensors), nodes=tuple(self.b.nodes), inputs=inputs, outputs=outputs,
                     semantics=self.b.semantics)

    def _check_all_quantized(self) -> None:
        left = [n for n in self.pending.values() if id(n) not in self.consumed]
        integer = [n for n in left if n.op_type in INTEGER_OPS]
        if integer:
            raise ModelError(integer_leftover_message(integer[0]), [node_label(n) for n in integer])
        if left:
            raise ModelError(
                "the model is only partially quantized: these nodes compute in float and their outputs are not "
                "quantized by a QuantizeLinear (quantize the whole model with "
                "onnxruntime.quantization.quantize_static, QDQ format, QInt8 activations and weights)",
                [node_label(n) for n in left],
            )

    def _check_shapes(self) -> None:
        """IR shapes are computed from the ops; where ONNX shape inference knows a shape too, they must agree."""
        for name, tensor in self.b.tensors.items():
            known = self.view.shapes.get(name)
            if known is not None and not tensor.is_constant and tuple(known) != tuple(tensor.shape):
                raise ModelError(
                    f"tensor {name!r}: tinyc computes shape {list(tensor.shape)} but the model's shape "
                    f"information says {list(known)}"
                )

    def _input_boundaries(self) -> tuple[BoundaryIO, ...]:
        """The graph inputs in the ONNX graph's order, each quantized to int8 exactly once."""
        boundaries = []
        for inp in self.view.graph.input:
            if self.view.is_constant(inp.name):
                continue
            if inp.name not in self.input_ios:
                raise ModelError(
                    f"graph input {inp.name!r} is never quantized to int8 (no QuantizeLinear reads it); tinyc needs a "
                    "statically quantized model (onnxruntime.quantization.quantize_static)"
                )
            boundaries.append(self.input_ios[inp.name])
        return tuple(boundaries)

    def _output_boundary(self, out: onnx.ValueInfoProto) -> BoundaryIO:
        declared = self.view.shapes.get(out.name)
        if out.name in self.int8:
            tensor, dtype = self.int8[out.name], "int8"
        elif out.name in self.dq:
            tensor, dtype = self.dq[out.name], "float32"
        else:
            raise ModelError(
                f"graph output {out.name!r} is not an int8 tensor nor the DequantizeLinear of one; tinyc needs the "
                "output computed by int8 ops (quantize the model with onnxruntime.quantization.quantize_static)"
            )
        declared_type = out.type.tensor_type.elem_type
        if dtype == "int8" and declared_type == UINT8:
            dtype = "uint8"  # a QUInt8 QuantizeLinear: flipped back to the caller's uint8 bytes below
        if declared_type != {"int8": INT8, "uint8": UINT8, "float32": FLOAT}[dtype]:
            raise ModelError(
                f"graph output {out.name!r} is declared {DTYPE_NAMES.get(declared_type, declared_type)} but the "
                f"graph computes it as {dtype}{' (a DequantizeLinear)' if dtype == 'float32' else ''}"
            )
        shape = self.b.shape(tensor)
        if declared is not None and tuple(declared) != tuple(shape):
            raise ModelError(
                f"graph output {out.name!r} is declared with shape {list(declared)} but computes to {list(shape)}"
            )
        if dtype == "uint8":
            tensor = self.b.uint8_output(tensor, out.name)
        return BoundaryIO(out.name, dtype, tuple(shape), tensor, self.b.quant(tensor))
