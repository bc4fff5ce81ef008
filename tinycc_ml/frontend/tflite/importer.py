"""TFLite flatbuffer -> tinyc IR: the entry points of the TFLite frontend.

    graph = load_tflite("kws_ref_model.tflite")

The steps: read the file defensively (reader), check the operators and the graph's edges
(every unsupported operator at once), lower each operator in order through the table
below (conv, arith, movement), and check the IR invariants. The result is the same IR the
ONNX frontend makes of the tf2onnx conversion of the model: logical NCHW images, TFLite
Micro's arithmetic, the caller's NHWC bytes at the boundary.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Callable, Mapping

from ...errors import ModelError
from ...ir.graph import BoundaryIO, Graph, QuantParams
from ...ir.verify import verify_graph
from .. import emit
from ..qparams import UINT8_ZERO_POINT_SHIFT
from . import arith, conv, movement
from .context import NHWC, Context
from .reader import TFLITE_IDENTIFIER, TfModel, TfOperator, read_model

Handler = Callable[[Context, TfOperator], None]

HANDLERS: Mapping[str, Handler] = MappingProxyType({
    "CONV_2D": conv.conv_2d,
    "DEPTHWISE_CONV_2D": conv.conv_2d,
    "FULLY_CONNECTED": conv.fully_connected,
    "ADD": arith.add_or_mul,
    "MUL": arith.add_or_mul,
    "SUB": arith.sub,
    "LOGISTIC": arith.elementwise,
    "TANH": arith.elementwise,
    "HARD_SWISH": arith.elementwise,
    "RELU": arith.elementwise,
    "RELU6": arith.elementwise,
    "LEAKY_RELU": arith.elementwise,
    "QUANTIZE": arith.elementwise,
    "AVERAGE_POOL_2D": movement.pool_2d,
    "MAX_POOL_2D": movement.pool_2d,
    "MEAN": movement.mean,
    "SOFTMAX": movement.softmax,
    "RESHAPE": movement.reshape,
    "SQUEEZE": movement.reshape,
    "TRANSPOSE": movement.transpose,
    "CONCATENATION": movement.concatenation,
    "PAD": movement.pad,
    "PADV2": movement.pad,
    "DEQUANTIZE": lambda ctx, op: None,  # only at the graph output: the float edge (see _edges)
})


@dataclass(frozen=True)
class TfliteImport:
    graph: Graph
    # TFLite tensor index -> (IR tensor, form) for every tensor an operator produced: how a test
    # finds the value TFLite Micro computes for that tensor (form "nchw": transpose to NHWC first).
    tensors: Mapping[int, tuple[str, str]]


def is_tflite(path: str | Path) -> bool:
    """True when the file carries the TFLite flatbuffer identifier (whatever its suffix)."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError:
        return False
    return len(head) == 8 and head[4:8] == TFLITE_IDENTIFIER


def load_tflite(path: str | Path) -> Graph:
    return import_tflite_file(path).graph


def import_tflite_file(path: str | Path) -> TfliteImport:
    p = Path(path)
    if not p.is_file():
        raise ModelError(f"{p}: no such file (tinyc needs the path of a .tflite or .onnx model)")
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read {p}: {exc.strerror or exc}") from None
    name = p.name[: -len(".tflite")] if p.name.endswith(".tflite") else p.name
    return import_tflite(data, name, str(p))


def import_tflite(data: bytes, name: str, source: str | None = None) -> TfliteImport:
    model = read_model(bytes(data), source or name)
    _check_operators(model)
    check_dequantize_placement(model)
    ctx = Context(model, source or name)
    inputs, edge_quantize = _input_edge(ctx)
    output_quantize = _uint8_output_quantize(ctx)
    for op in model.operators:
        if op.index in (edge_quantize, output_quantize):
            continue
        HANDLERS[op.opcode](ctx, op)
    outputs = _output_edge(ctx)  # may add the conversion of an NCHW result to the caller's NHWC
    graph = Graph(name=name, tensors=dict(ctx.b.tensors), nodes=tuple(ctx.b.nodes), inputs=(inputs,),
                  outputs=(outputs,))
    verify_graph(graph)
    return TfliteImport(graph, MappingProxyType(dict(ctx.primary)))


def _check_operators(model: TfModel) -> None:
    unsupported = [op for op in model.operators if op.opcode not in HANDLERS]
    if unsupported:
        raise ModelError(
            f"the model uses {len(unsupported)} operator(s) tinyc does not support (supported: "
            f"{', '.join(sorted(HANDLERS))})", [op.label for op in unsupported])
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ModelError(f"the model has {len(model.inputs)} inputs and {len(model.outputs)} outputs; tinyc supports "
                         "exactly one of each for now")
    if not model.operators:
        raise ModelError("the model has no operators")


def _input_edge(ctx: Context) -> tuple[BoundaryIO, int | None]:
    """The graph input: an int8 tensor, or a float32 one whose only reader is a QUANTIZE (which then
    becomes the caller-side conversion, like a QDQ model's first QuantizeLinear)."""
    index = ctx.model.inputs[0]
    t = ctx.tensor(index)
    readers = [op for op in ctx.model.operators if index in op.inputs]
    if t.dtype == "float32":
        if len(readers) != 1 or readers[0].opcode != "QUANTIZE":
            raise ModelError(f"graph input {ctx.tensor_label(index)} is float32 and not only read by one QUANTIZE; "
                             "tinyc compiles integer models (convert with full int8 quantization)")
        op = readers[0]
        out_index, out, out_q = ctx.output(op)
        if ctx.tensor(out_index).shape != t.shape:
            raise ctx.error(op, f"it quantizes {ctx.tensor_label(index)} of shape {list(t.shape)} into "
                                f"{ctx.tensor_label(out_index)} of shape {list(ctx.tensor(out_index).shape)}")
        ctx.b.activation(out, ctx.tensor(out_index).shape, out_q)
        ctx.define(op, out_index, out, NHWC)
        return BoundaryIO(t.name, "float32", t.shape, out, out_q), op.index
    if t.dtype == "uint8":
        return _uint8_input_edge(ctx, index, readers)
    if t.dtype != "int8":
        raise ModelError(f"graph input {ctx.tensor_label(index)} is {t.dtype}; tinyc supports int8 (or float32 "
                         "or uint8 quantized by a QUANTIZE) inputs")
    if t.data is not None:
        raise ModelError(f"graph input {ctx.tensor_label(index)} is a constant")
    q = ctx.quant(readers[0] if readers else ctx.model.operators[0], index)
    name = ctx.names[index]
    ctx.b.activation(name, t.shape, q)
    ctx.forms[index] = {NHWC: name}
    ctx.primary[index] = (name, NHWC)
    return BoundaryIO(t.name, "int8", t.shape, name, q), None


def _uint8_params(ctx: Context, op: TfOperator, index: int) -> QuantParams:
    """A uint8 tensor's per-tensor parameters, as the uint8 model states them."""
    t = ctx.tensor(index)
    if t.quant is None or len(t.quant.scale) != 1:
        raise ctx.error(op, f"{ctx.tensor_label(index)} is uint8 without one (per-tensor) scale and zero point")
    zp = t.quant.zero_point[0] if t.quant.zero_point else 0
    if not 0 <= zp <= 255:
        raise ctx.error(op, f"{ctx.tensor_label(index)} has zero point {zp}, outside uint8")
    return QuantParams.per_tensor(t.quant.scale[0], zp)


def _int8_twin(q: QuantParams) -> QuantParams:
    return QuantParams.per_tensor(q.s, q.zp - UINT8_ZERO_POINT_SHIFT)


def _uint8_input_edge(ctx: Context, index: int, readers: list[TfOperator]) -> tuple[BoundaryIO, int]:
    """A uint8 graph input read by one QUANTIZE to int8 (the converter's inference_input_type=uint8):
    a SignFlip into the int8 core, then TFLite Micro's requantize where the scales differ (with equal
    ones it is exactly the XOR TFLite Micro's Requantize fast path does)."""
    t = ctx.tensor(index)
    if len(readers) != 1 or readers[0].opcode != "QUANTIZE":
        raise ModelError(f"graph input {ctx.tensor_label(index)} is uint8 and not only read by one QUANTIZE to int8; "
                         "tinyc runs uint8 models whose uint8 input is quantized to int8 (TFLite's converter with "
                         "inference_input_type=tf.uint8)")
    op = readers[0]
    if t.data is not None:
        raise ModelError(f"graph input {ctx.tensor_label(index)} is a constant")
    q_u8 = _uint8_params(ctx, op, index)
    out_index, out, out_q = ctx.output(op)
    if ctx.tensor(out_index).shape != t.shape:
        raise ctx.error(op, f"it quantizes {ctx.tensor_label(index)} of shape {list(t.shape)} into "
                            f"{ctx.tensor_label(out_index)} of shape {list(ctx.tensor(out_index).shape)}")
    name = ctx.names[index]
    core = ctx.b.uint8_input(name, t.shape, _int8_twin(q_u8))
    if ctx.b.quant(core) != out_q:
        core = emit.requantize(ctx.b, ctx.node_name(op), core, out, out_q)
    ctx.define(op, out_index, core, NHWC)
    return BoundaryIO(t.name, "uint8", t.shape, name, ctx.b.quant(name)), op.index


def _uint8_output_quantize(ctx: Context) -> int | None:
    """The QUANTIZE int8 -> uint8 that writes a uint8 graph output (lowered by _output_edge), if any."""
    index = ctx.model.outputs[0]
    producer = next((op for op in ctx.model.operators if index in op.outputs), None)
    if producer is None or ctx.tensor(index).dtype != "uint8":
        return None
    if producer.opcode != "QUANTIZE":
        raise ctx.error(producer, f"it writes the uint8 graph output {ctx.tensor_label(index)}; tinyc runs uint8 models "
                                  "whose uint8 output comes from one QUANTIZE of an int8 tensor (TFLite's converter "
                                  "with inference_output_type=tf.uint8)")
    return producer.index


def _output_edge(ctx: Context) -> BoundaryIO:
    index = ctx.model.outputs[0]
    t = ctx.tensor(index)
    producer = next((op for op in ctx.model.operators if index in op.outputs), None)
    if producer is None:
        raise ModelError(f"graph output {ctx.tensor_label(index)} is not produced by any operator")
    if t.dtype == "uint8":
        q_u8 = _uint8_params(ctx, producer, index)
        src = ctx.activation(producer, ctx.input_index(producer, 0), NHWC)
        if ctx.b.shape(src) != t.shape:
            raise ctx.error(producer, f"it quantizes a tensor of shape {list(ctx.b.shape(src))} into "
                                      f"{ctx.tensor_label(index)} of shape {list(t.shape)}")
        twin = _int8_twin(q_u8)
        core = src if ctx.b.quant(src) == twin else emit.requantize(
            ctx.b, ctx.node_name(producer), src, ctx.b.fresh_name(f"{ctx.names[index]}/int8"), twin)
        tensor = ctx.b.uint8_output(core, ctx.names[index])
        return BoundaryIO(t.name, "uint8", t.shape, tensor, ctx.b.quant(tensor))
    if producer.opcode == "DEQUANTIZE":
        source = ctx.input_index(producer, 0)
        if t.dtype != "float32":
            raise ctx.error(producer, f"it writes {t.dtype}; tinyc supports DEQUANTIZE to float32 at the graph output")
        tensor = ctx.activation(producer, source, NHWC)
        if ctx.tensor(source).shape != t.shape:
            raise ctx.error(producer, f"it dequantizes {ctx.tensor_label(source)} of shape "
                                      f"{list(ctx.tensor(source).shape)} into {ctx.tensor_label(index)} of shape "
                                      f"{list(t.shape)}")
        return BoundaryIO(t.name, "float32", t.shape, tensor, ctx.b.quant(tensor))
    tensor = ctx.activation(producer, index, NHWC)
    return BoundaryIO(t.name, "int8", t.shape, tensor, ctx.b.quant(tensor))


def check_dequantize_placement(model: TfModel) -> None:
    """DEQUANTIZE anywhere but right before the graph output would need float arithmetic."""
    for op in model.operators:
        if op.opcode == "DEQUANTIZE" and (not op.outputs or op.outputs[0] not in model.outputs):
            raise ModelError(f"{op.label}: it dequantizes to float inside the graph; tinyc computes int8 only "
                             "(DEQUANTIZE is supported as the last operator, for a float32 output)")
