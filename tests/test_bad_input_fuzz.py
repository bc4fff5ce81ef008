"""Mutated ONNX models never crash tinyc: compile_model either raises a TinycError, or
succeeds and then the host C equals the interpreter byte for byte.

Start from four valid int8 models (a conv + maxpool + gemm net quantized by
onnxruntime as QDQ and as QOperator, the checked-in digits CNN, a squeeze-excite block
for Mul, global pooling and a conv without bias) and apply one
mutation: delete a node, rewire an input, set an attribute to a wrong value, break a
scale or a zero point, change an initializer's dtype or shape or drop it, change the
graph input's shape or an I/O type, add an op of an unknown domain, change the opset,
truncate or corrupt the file. Hypothesis draws the mutations (derandomized, so every run
tries the same ones); the regression tests below pin the exact messages of the crashes
it found.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from onnx import TensorProto, helper, numpy_helper

from frontend_support import add_model, model, quantize, qdq_unary_chain, rand, squeeze_excite_model
from tinycc_ml.compiler import CompileOptions, compile_model
from tinycc_ml.errors import ModelError, TinycError
from tinycc_ml.interp import run_graph
from tinycc_ml.targets import TARGETS, read_build_info
from tinycc_ml.verification import random_input, verify_model

DIGITS = Path(__file__).resolve().parents[1] / "examples" / "digits" / "digits_int8.onnx"
OPTIONS = CompileOptions(measure_firmware=False, schedule_time_limit=0.2)


def conv_gemm_net() -> onnx.ModelProto:
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("MaxPool", ["r"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p"], ["f"], name="flatten", axis=1),
        helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], name="fc", transB=1),
    ]
    inits = {"w": rand((4, 2, 3, 3), 1, 0.4), "b": rand((4,), 2, 0.1), "fw": rand((3, 36), 3, 0.2),
             "fb": rand((3,), 4, 0.1)}
    return model(nodes, ("x", (1, 2, 6, 6)), ("y", (1, 3)), inits)


@pytest.fixture(scope="module")
def base_models() -> dict[str, onnx.ModelProto]:
    net = conv_gemm_net()
    return {"qdq": quantize(net, "QDQ"), "qoperator": quantize(net, "QOperator"), "digits": onnx.load(str(DIGITS)),
            "squeeze_excite": quantize(squeeze_excite_model())}  # Conv without bias, GlobalAveragePool, Sigmoid, Mul


# ---- mutations ------------------------------------------------------------------------------


def _copy(m: onnx.ModelProto) -> onnx.ModelProto:
    c = onnx.ModelProto()
    c.CopyFrom(m)
    return c


def _set_attribute(node: onnx.NodeProto, name: str, value) -> None:
    for i, attr in enumerate(node.attribute):
        if attr.name == name:
            del node.attribute[i]
            break
    node.attribute.append(helper.make_attribute(name, value))


def _replace_initializer(m: onnx.ModelProto, name: str, array: np.ndarray) -> None:
    for init in m.graph.initializer:
        if init.name == name:
            init.CopyFrom(numpy_helper.from_array(array, name))


WINDOW = ("strides", "pads", "kernel_shape", "dilations", "auto_pad")
ATTRIBUTES = {  # the attributes each op reads, so that most attribute mutations hit something
    "Conv": (*WINDOW, "group"), "QLinearConv": (*WINDOW, "group"),
    "MaxPool": (*WINDOW, "ceil_mode"), "AveragePool": (*WINDOW, "ceil_mode"), "QLinearAveragePool": (*WINDOW, "ceil_mode"),
    "Gemm": ("transA", "transB", "alpha", "beta"), "QGemm": ("transA", "transB", "alpha"),
    "Flatten": ("axis",), "Softmax": ("axis",), "DequantizeLinear": ("axis",), "QuantizeLinear": ("axis",),
    "Concat": ("axis",), "QLinearConcat": ("axis",), "Transpose": ("perm",),
}
ATTRIBUTE_VALUES = {
    "strides": [[0, 0], [1], [-1, 1], [3, 3]],
    "pads": [[-1, -1, -1, -1], [0, 0], [5, 5, 5, 5]],
    "kernel_shape": [[5, 5], [1, 1], [0, 0], [3]],
    "dilations": [[0, 0], [2, 2], [1]],
    "group": [0, 2, 3, -1],
    "axis": [5, -5, 0, 2],
    "transB": [0, 2],
    "transA": [1],
    "alpha": [2.0, 0.0],
    "beta": [0.0, -1.0],
    "auto_pad": ["SAME_UPPER", "VALID", "BOGUS"],
    "ceil_mode": [1],
    "perm": [[0, 1], [0, 0, 1, 2]],
}
SCALES = [0.0, -0.5, float("nan"), float("inf"), 1e-30, 1e30, 1e-12]
ZERO_POINTS = [(200, np.int32), (-129, np.int32), (255, np.uint8), (5, np.int8), (7, np.int16)]
DTYPES = [np.float32, np.int32, np.uint8, np.int64, np.float64, np.int8]


@dataclass(frozen=True)
class Mutant:
    label: str
    data: bytes  # the mutated file


Draw = Callable[[st.SearchStrategy], object]


def _pick(draw: Draw, items: list):
    return items[draw(st.integers(0, len(items) - 1))]


def mutate(m: onnx.ModelProto, draw: Draw) -> Mutant:
    """One mutation of m, its parameters drawn by hypothesis."""
    c = _copy(m)
    nodes = list(c.graph.node)
    inits = [i.name for i in c.graph.initializer]
    kind = draw(st.sampled_from([  # attributes and scales reach the most code: drawn more often
        "delete node", "rewire", "attribute", "attribute", "attribute", "scale", "scale", "zero point", "dtype",
        "shape", "drop initializer", "input dim", "io type", "unknown op", "opset", "truncate", "corrupt",
    ]))
    if kind == "delete node":
        i = draw(st.integers(0, len(nodes) - 1))
        label = f"delete {nodes[i].name}"
        del c.graph.node[i]
    elif kind == "rewire":
        i = draw(st.integers(0, len(nodes) - 1))
        j = draw(st.integers(0, len(nodes[i].input) - 1))
        tensors = sorted({t for n in nodes for t in [*n.input, *n.output] if t} | {c.graph.input[0].name})
        target = _pick(draw, tensors)
        label = f"{nodes[i].name} input {j} -> {target}"
        c.graph.node[i].input[j] = target
    elif kind == "attribute":
        i = _pick(draw, [k for k, n in enumerate(nodes) if n.op_type in ATTRIBUTES])
        name = draw(st.sampled_from(ATTRIBUTES[nodes[i].op_type]))
        value = _pick(draw, ATTRIBUTE_VALUES[name])
        label = f"{nodes[i].name}.{name} = {value}"
        _set_attribute(c.graph.node[i], name, value)
    elif kind == "scale":
        name = _pick(draw, [n for n in inits if "scale" in n])
        value = _pick(draw, SCALES)
        old = numpy_helper.to_array(next(t for t in c.graph.initializer if t.name == name))
        label = f"scale {name} = {value}"
        _replace_initializer(c, name, np.full(old.shape, value, old.dtype))
    elif kind == "zero point":
        name = _pick(draw, [n for n in inits if "zero_point" in n])
        value, dtype = _pick(draw, ZERO_POINTS)
        old = numpy_helper.to_array(next(t for t in c.graph.initializer if t.name == name))
        label = f"zero point {name} = {value} ({np.dtype(dtype).name})"
        _replace_initializer(c, name, np.full(old.shape, value, dtype))
    elif kind in ("dtype", "shape"):
        name = _pick(draw, inits)
        old = numpy_helper.to_array(next(t for t in c.graph.initializer if t.name == name))
        if kind == "dtype":
            dtype = _pick(draw, DTYPES)
            label = f"initializer {name} as {np.dtype(dtype).name}"
            new = old.astype(dtype)
        else:
            shape = _pick(draw, [(old.size,), (1, *old.shape), (0,), (*old.shape[:-1], old.shape[-1] + 1) if old.ndim else (2,)])
            label = f"initializer {name} reshaped to {shape}"
            new = np.resize(old, shape).astype(old.dtype)
        _replace_initializer(c, name, new)
    elif kind == "drop initializer":
        i = draw(st.integers(0, len(inits) - 1))
        label = f"drop initializer {inits[i]}"
        del c.graph.initializer[i]
    elif kind == "input dim":
        dims = c.graph.input[0].type.tensor_type.shape.dim
        d = draw(st.integers(0, len(dims) - 1))
        value = draw(st.sampled_from(["N", 0, -1, 7]))
        label = f"input dim {d} = {value}"
        if isinstance(value, str):
            dims[d].dim_param = value
        else:
            dims[d].dim_value = value
    elif kind == "io type":
        io = draw(st.sampled_from(["input", "output"]))
        elem = draw(st.sampled_from([TensorProto.UINT8, TensorProto.INT32, TensorProto.DOUBLE, TensorProto.INT8,
                                     TensorProto.FLOAT]))
        label = f"{io} type {TensorProto.DataType.Name(elem)}"
        getattr(c.graph, io)[0].type.tensor_type.elem_type = elem
    elif kind == "unknown op":
        src = _pick(draw, [n.output[0] for n in nodes])
        label = f"com.example.Frob reads {src}"
        c.opset_import.append(helper.make_opsetid("com.example", 1))
        c.graph.node.append(helper.make_node("Frob", [src], ["frob_out"], name="frob", domain="com.example"))
    elif kind == "opset":
        version = draw(st.sampled_from([1, 7, 99]))
        label = f"opset {version}"
        for o in c.opset_import:
            if o.domain in ("", "ai.onnx"):
                o.version = version
    else:
        data = m.SerializeToString()
        if kind == "truncate":
            keep = draw(st.integers(0, len(data) - 1))
            return Mutant(f"truncated to {keep} of {len(data)} bytes", data[:keep])
        step = draw(st.integers(7, 97))
        return Mutant(f"every {step}th byte flipped", bytes(b ^ 0x5A if i % step == 3 else b for i, b in enumerate(data)))
    return Mutant(label, c.SerializeToString())


# ---- the property ---------------------------------------------------------------------------

_CHECKED_C: set[str] = set()  # generated C already run on the host: an identical mutant is not rebuilt


def compiles_or_says_why(data: bytes, tmp: Path) -> None:
    path = tmp / "m.onnx"
    path.write_bytes(data)
    out = tmp / "out"
    try:
        result = compile_model(path, "stm32f746", out, OPTIONS)
    except TinycError as exc:
        assert str(exc).strip(), "an empty error message"
        return
    # Accepted: the generated C must compute what the interpreter computes.
    digest = hashlib.sha256(b"".join((out / "src" / f).read_bytes() for f in ("model.c", "model_weights.c", "model.h")))
    if digest.hexdigest() in _CHECKED_C:
        return
    graph = result.imported
    inp, outp = graph.inputs[0], graph.outputs[0]
    x = random_input(inp, np.random.default_rng(0))
    expected = run_graph(graph, {inp.onnx_name: x})[outp.onnx_name]
    got = TARGETS["host"].run(read_build_info(out), x).output
    assert got.dtype == expected.dtype and got.tobytes() == expected.tobytes()
    _CHECKED_C.add(digest.hexdigest())


@settings(max_examples=200, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.data())
def test_mutated_models_compile_or_raise_a_tinyc_error(base_models, tmp_path_factory, data):
    logging.getLogger().setLevel(logging.ERROR)
    name = data.draw(st.sampled_from(sorted(base_models)), label="model")
    mutant = mutate(base_models[name], data.draw)
    data.draw(st.just(mutant.label), label="mutation")  # shown when the property fails
    compiles_or_says_why(mutant.data, tmp_path_factory.mktemp("mutant"))


# ---- the crashes the fuzzing found, pinned with their messages --------------------------------


def _mutant(m: onnx.ModelProto, edit: Callable[[onnx.ModelProto], None]) -> onnx.ModelProto:
    c = _copy(m)
    edit(c)
    return c


def _error(m: onnx.ModelProto, tmp_path: Path) -> str:
    onnx.save(m, tmp_path / "m.onnx")
    with pytest.raises(ModelError) as info:
        compile_model(tmp_path / "m.onnx", "stm32f746", tmp_path / "out", OPTIONS)
    return str(info.value)


def _node(m: onnx.ModelProto, name: str) -> onnx.NodeProto:
    return next(n for n in m.graph.node if n.name == name)


@pytest.mark.parametrize(("node", "attribute", "value", "message"), [
    ("conv", "strides", [0, 0], "node 'conv' (Conv): strides [0, 0] must be 2 positive integers (one per spatial axis)"),
    ("conv", "strides", [1], "node 'conv' (Conv): strides [1] must be 2 positive integers (one per spatial axis)"),
    ("conv", "dilations", [0, 1], "node 'conv' (Conv): dilations [0, 1] must be 2 positive integers (one per spatial axis)"),
    ("pool", "strides", [0, 0], "node 'pool' (MaxPool): strides [0, 0] must be 2 positive integers (one per spatial axis)"),
    ("pool", "strides", [2], "node 'pool' (MaxPool): strides [2] must be 2 positive integers (one per spatial axis)"),
    ("pool", "kernel_shape", [0, 2], "node 'pool' (MaxPool): kernel_shape [0, 2] must be 2 positive integers (one per spatial axis)"),
])
def test_window_attributes_must_be_two_positive_numbers(base_models, tmp_path, node, attribute, value, message):
    """Were a ZeroDivisionError (stride 0) and an IndexError (one stride for two axes)."""
    m = _mutant(base_models["qdq"], lambda c: _set_attribute(_node(c, node), attribute, value))
    assert _error(m, tmp_path) == message


def test_pool_without_kernel_shape(base_models, tmp_path):
    def drop(c: onnx.ModelProto) -> None:
        pool = _node(c, "pool")
        keep = [a for a in pool.attribute if a.name != "kernel_shape"]
        del pool.attribute[:]
        pool.attribute.extend(keep)
    assert _error(_mutant(base_models["qdq"], drop), tmp_path) == (
        "node 'pool' (MaxPool): the kernel_shape attribute is missing; it must be 2 positive integers")


ADVICE = ("the scales it combines are too far apart (a ratio of 2^30 or more) for int8 arithmetic; check the model's "
          "scales or re-quantize it (onnxruntime.quantization.quantize_static)")


def test_an_impossible_requantization_names_both_tensors(tmp_path):
    """Was a ValueError from quant/fixedpoint.py: 0.05 -> 1e-12 needs a multiplier of 5e10."""
    m = qdq_unary_chain([("Identity", {}), ("Sigmoid", {})], params=[(1e-12, 0), (0.01, 0)])
    assert _error(m, tmp_path) == (
        "cannot requantize tensor 'x' (scale 0.05000000074505806) to 'q0' (scale 9.999999960041972e-13): "
        f"multiplier 50000000944.848206 is too large for int8 requantization (shift 36 > 30); {ADVICE}")


def test_an_impossible_kernel_multiplier_names_the_node(tmp_path):
    """Was a ValueError from the kernel registry: the Add's output scale 1e-30 is 2^79 below its inputs'."""
    m = quantize(add_model())
    _replace_initializer(m, "y_scale", np.array(1e-30, np.float32))
    assert _error(m, tmp_path) == (
        "node 'add' (Add): multiplier 3.567886881282973e+23 is too large for int8 requantization (shift 79 > 30); "
        f"{ADVICE}")


@pytest.mark.parametrize("version", [1, 9, 99])
def test_opsets_outside_what_tinyc_reads(base_models, tmp_path, version):
    """Were compiled as if they were opset 17 (QuantizeLinear does not exist before opset 10)."""
    def set_opset(c: onnx.ModelProto) -> None:
        c.opset_import[0].version = version
    assert _error(_mutant(base_models["qdq"], set_opset), tmp_path) == (
        f"the model imports ONNX opset {version} (default domain); tinyc reads opsets 10 (the first with "
        f"QuantizeLinear) to {onnx.defs.onnx_opset_version()} (the newest onnx {onnx.__version__} knows): convert "
        "it with onnx.version_converter.convert_version(model, 17)")


def test_output_declared_int8_but_dequantized(base_models, tmp_path):
    """Was compiled with a float32 output although the model declares int8 (onnxruntime rejects it)."""
    def int8_output(c: onnx.ModelProto) -> None:
        c.graph.output[0].type.tensor_type.elem_type = TensorProto.INT8
    assert _error(_mutant(base_models["qdq"], int8_output), tmp_path) == (
        "graph output 'y' is declared int8 but the graph computes it as float32 (a DequantizeLinear)")


def test_a_dropped_initializer_is_named(base_models, tmp_path):
    """Was "the graph has a cycle or reads undefined tensors at <three nodes>"."""
    def drop(c: onnx.ModelProto) -> None:
        keep = [t for t in c.graph.initializer if t.name != "r_zero_point"]
        del c.graph.initializer[:]
        c.graph.initializer.extend(keep)
    readers = [f"{t}_{op}" for t in "rpf" for op in ("QuantizeLinear", "DequantizeLinear")]  # one zp, 3 tensors
    assert _error(_mutant(base_models["qdq"], drop), tmp_path) == (
        "6 node input(s) read tensors that no node, initializer or graph input defines"
        + "".join(f"\n  - node {name!r} ({name.split('_')[1]}) reads 'r_zero_point'" for name in readers))


def test_verify_when_onnxruntime_rejects_what_tinyc_accepts(base_models, tmp_path):
    """An attribute MaxPool does not have: tinyc ignores it, onnxruntime refuses the model. verify
    used to crash with onnxruntime's InvalidGraph; now it compares without onnxruntime and says so."""
    m = _mutant(base_models["qdq"], lambda c: _set_attribute(_node(c, "pool"), "group", 2))
    onnx.save(m, tmp_path / "m.onnx")
    result = verify_model(tmp_path / "m.onnx", "stm32f746", 1, 0)
    assert result.ok and [c.ort_max_lsb for c in result.checks] == [None]
    assert result.lines()[-1] == ("OK: 1/1 inputs bit-exact (interpreter == host) for m.onnx on stm32f746; "
                                  "onnxruntime cannot run the model (InvalidGraph), not compared")
