"""tf2onnx's ONNX forms of TFLite operators (issue 10, point 5), on repo-built models.

* data movement applied directly to int8 tensors, no DequantizeLinear/QuantizeLinear around
  it: Concat of QuantizeLinear outputs (TFLite's CONCATENATION), Pad with an int8 constant,
  Reshape, Transpose, MaxPool;
* Softmax over axis 1 of a 4-D NCHW tensor between layout Transposes (TFLite's SOFTMAX on
  NHWC channels): byte-identical to the softmax over the last axis of the NHWC tensor;
* HardSwish, Sigmoid and LeakyRelu between QDQ pairs.

Sigmoid and Softmax also equal TFLite Micro's LOGISTIC and SOFTMAX on one-op .tflite
models (tflm_single_op.py), and so does HardSwish TFLite Micro's HARD_SWISH: a TFLite-born model's
tables are TFLite's integer kernels (frontend/semantics.py).

Each is compiled: the interpreter equals onnxruntime (exactly for the data movement, within
1 LSB for the float-defined ops) and the host C equals the interpreter byte for byte.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from frontend_support import model, scalar
from onnx_support import ort_session
from tinycc_ml.errors import ModelError
from tinycc_ml.frontend import import_model
from tinycc_ml.interp import run_graph
from tinycc_ml.verification import verify_model

I8 = TensorProto.INT8
SOFTMAX_Q = {"s_sm": scalar(1 / 256, np.float32), "z_sm": scalar(-128, np.int8)}


def _params() -> dict[str, np.ndarray]:
    return {"s_a": scalar(0.05, np.float32), "z_a": scalar(-3, np.int8),
            "s_b": scalar(0.04, np.float32), "z_b": scalar(5, np.int8)}


def _dq(x: str, y: str, p: str = "a") -> onnx.NodeProto:
    return helper.make_node("DequantizeLinear", [x, f"s_{p}", f"z_{p}"], [y], name=f"dq_{y}")


def _q(x: str, y: str, p: str = "b") -> onnx.NodeProto:
    return helper.make_node("QuantizeLinear", [x, f"s_{p}", f"z_{p}"], [y], name=f"q_{y}")


def _tf2onnx(m: onnx.ModelProto) -> onnx.ModelProto:
    m.producer_name = "tf2onnx"
    return m


def int8_concat() -> onnx.ModelProto:
    """CONCATENATION: two QuantizeLinear outputs (same parameters, as TFLite requires) -> int8 Concat."""
    nodes = [_dq("x", "xf"), _q("xf", "a", "a"), helper.make_node("Relu", ["xf"], ["r"], name="relu"), _q("r", "c", "a"),
             helper.make_node("Concat", ["a", "c"], ["y"], name="concat", axis=1)]
    return _tf2onnx(model(nodes, ("x", (1, 4, 3, 3)), ("y", (1, 8, 3, 3)), _params(), I8, I8))


def int8_pad() -> onnx.ModelProto:
    """PAD / PADV2: Pad of an int8 tensor with an int8 constant (not necessarily the zero point)."""
    nodes = [_dq("x", "xf"), _q("xf", "a", "a"),
             helper.make_node("Pad", ["a", "pads", "value"], ["y"], name="pad", mode="constant")]
    inits = {**_params(), "pads": np.array([0, 0, 1, 2, 0, 0, 2, 1], np.int64), "value": scalar(-7, np.int8)}
    return _tf2onnx(model(nodes, ("x", (1, 4, 3, 3)), ("y", (1, 4, 6, 6)), inits, I8, I8))


def int8_pad_default_value() -> onnx.ModelProto:
    nodes = [_dq("x", "xf"), _q("xf", "a", "a"), helper.make_node("Pad", ["a", "pads"], ["y"], name="pad")]
    inits = {**_params(), "pads": np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64)}
    return _tf2onnx(model(nodes, ("x", (1, 4, 3, 3)), ("y", (1, 4, 5, 5)), inits, I8, I8))


def int8_movement() -> onnx.ModelProto:
    """MAX_POOL_2D, TRANSPOSE, RESHAPE on int8 tensors, then a QDQ op reading the result."""
    nodes = [_dq("x", "xf"), _q("xf", "a", "a"),
             helper.make_node("MaxPool", ["a"], ["p"], name="maxpool", kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Transpose", ["p"], ["t"], name="transpose", perm=[0, 2, 3, 1]),
             helper.make_node("Reshape", ["t", "shape"], ["rs"], name="reshape"),
             _dq("rs", "rf"), helper.make_node("Relu", ["rf"], ["r"], name="relu"), _q("r", "y", "a")]
    inits = {**_params(), "shape": np.array([1, 16], np.int64)}
    return _tf2onnx(model(nodes, ("x", (1, 4, 4, 4)), ("y", (1, 16)), inits, I8, I8))


def softmax_nchw(axis_last: bool = False) -> onnx.ModelProto:
    """SOFTMAX on NHWC channels as tf2onnx writes it next to a layout Transpose (axis=1 of NCHW),
    or (axis_last) over the last axis of the NHWC tensor as TFLite computes it."""
    if axis_last:
        nodes = [_dq("x", "xf"), helper.make_node("Softmax", ["xf"], ["sm"], name="softmax", axis=-1),
                 _q("sm", "y", "sm")]
    else:
        nodes = [helper.make_node("Transpose", ["x"], ["xt"], name="to_nchw", perm=[0, 3, 1, 2]), _dq("xt", "xf"),
                 helper.make_node("Softmax", ["xf"], ["sm"], name="softmax", axis=1), _q("sm", "st", "sm"),
                 helper.make_node("Transpose", ["st"], ["y"], name="to_nhwc", perm=[0, 2, 3, 1])]
    return _tf2onnx(model(nodes, ("x", (1, 3, 2, 6)), ("y", (1, 3, 2, 6)), {**_params(), **SOFTMAX_Q}, I8, I8))


def qdq_unary(op: str, **attrs) -> onnx.ModelProto:
    """HARD_SWISH / LOGISTIC / LEAKY_RELU: DequantizeLinear -> HardSwish|Sigmoid|LeakyRelu -> QuantizeLinear."""
    out = "sm" if op == "Sigmoid" else "b"  # LOGISTIC's output is 1/256, -128 in TFLite
    nodes = [_dq("x", "xf"), helper.make_node(op, ["xf"], ["f"], name=op.lower(), **attrs), _q("f", "y", out)]
    return _tf2onnx(model(nodes, ("x", (1, 4, 4, 4)), ("y", (1, 4, 4, 4)), {**_params(), **SOFTMAX_Q}, I8, I8))


CASES = {
    "int8_concat": (int8_concat, ["Lut", "Concat"], 0),
    "int8_pad": (int8_pad, ["Pad"], 0),
    "int8_pad_default_value": (int8_pad_default_value, ["Pad"], 0),
    "int8_movement": (int8_movement, ["MaxPool2d", "Transpose", "Reshape", "Lut"], 0),
    "softmax_nchw": (softmax_nchw, None, 1),
    "hardswish": (lambda: qdq_unary("HardSwish"), ["Lut"], 1),
    "sigmoid": (lambda: qdq_unary("Sigmoid"), ["Lut"], 1),
    "leaky_relu": (lambda: qdq_unary("LeakyRelu", alpha=0.2), ["Lut"], 1),
}


def _inputs(m: onnx.ModelProto, count: int) -> list[np.ndarray]:
    shape = [d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim]
    rng = np.random.default_rng(7)
    return [rng.integers(-128, 128, size=shape).astype(np.int8) for _ in range(count)]


@pytest.mark.parametrize("name", sorted(CASES))
def test_interpreter_matches_onnxruntime(name: str) -> None:
    build, kinds, tolerance = CASES[name]
    m = build()
    graph = import_model(m, name)
    if kinds is not None:
        assert [n.kind for n in graph.nodes] == kinds
    session = ort_session(m)
    for x in _inputs(m, 8):
        ours = run_graph(graph, {"x": x})["y"]
        theirs = session.run(None, {"x": x})[0]
        assert ours.shape == theirs.shape and ours.dtype == np.int8
        diff = int(np.abs(ours.astype(np.int16) - theirs.astype(np.int16)).max())
        assert diff <= tolerance, f"{name}: {diff} LSB from onnxruntime"


def test_int8_pad_uses_the_raw_byte() -> None:
    m = int8_pad()
    x = _inputs(m, 1)[0]
    y = run_graph(import_model(m, "pad"), {"x": x})["y"]
    assert (y[:, :, 0, :] == -7).all() and (y[:, :, :, 0] == -7).all()


def test_softmax_over_nchw_channels_equals_tflite_form() -> None:
    """The tf2onnx form gives the same bytes as the softmax over the NHWC last axis, which is
    TFLite's SOFTMAX (bit-exact with TFLite Micro in test_mlperf_interp)."""
    nchw, last = import_model(softmax_nchw(), "nchw"), import_model(softmax_nchw(axis_last=True), "last")
    for x in _inputs(softmax_nchw(), 8):
        assert run_graph(nchw, {"x": x})["y"].tobytes() == run_graph(last, {"x": x})["y"].tobytes()


def test_int8_concat_of_different_parameters_is_refused() -> None:
    m = int8_concat()
    m.graph.node[3].input[1] = "s_b"  # the Relu branch now quantized with another scale
    with pytest.raises(ModelError, match="one set of quantization parameters per tensor"):
        import_model(m, "bad")


@pytest.mark.parametrize("name", sorted(CASES))
def test_host_c_equals_interpreter(name: str, tmp_path: Path) -> None:
    path = tmp_path / f"{name}.onnx"
    onnx.save(CASES[name][0](), str(path))
    result = verify_model(path, "stm32f746", 3, 0)
    assert result.ok, "\n".join(result.lines())


# ---- against TFLite Micro: the same operator as a one-op .tflite ----------------------------

A_Q, B_Q, SOFTMAX_OUT = (0.05, -3), (0.04, 5), (1 / 256, -128)
ALL_CODES = np.arange(-128, 128, dtype=np.int16).astype(np.int8).reshape(1, 4, 8, 8)


def _tflm_equal(m: onnx.ModelProto, opcode: str, out_q: tuple[float, int], inputs: list[np.ndarray],
                tflm_options=None) -> int:
    """Max |tinyc - TFLite Micro| over `inputs`, the ONNX model read as NHWC (elementwise and
    last-axis ops do not care which axis is which)."""
    from tflm_single_op import QTensor, build_single_op, run_tflm

    graph = import_model(m, opcode)
    worst = 0
    for x in inputs:
        tflite = build_single_op(opcode, [QTensor(x.shape, *A_Q)], QTensor(x.shape, *out_q), options=tflm_options)
        ours = run_graph(graph, {"x": x})["y"].astype(np.int16)
        worst = max(worst, int(np.abs(ours - run_tflm(tflite, [x]).astype(np.int16)).max()))
    return worst


def _unary_on(op: str, shape: tuple[int, ...]) -> onnx.ModelProto:
    m = qdq_unary(op)
    for value in (m.graph.input[0], m.graph.output[0]):
        for dim, size in zip(value.type.tensor_type.shape.dim, shape):
            dim.dim_value = size
    return m


def test_sigmoid_equals_tflite_micro_logistic_on_every_code() -> None:
    assert _tflm_equal(_unary_on("Sigmoid", ALL_CODES.shape), "LOGISTIC", SOFTMAX_OUT, [ALL_CODES]) == 0


def test_hardswish_equals_tflite_micro_hard_swish_on_every_code() -> None:
    assert _tflm_equal(_unary_on("HardSwish", ALL_CODES.shape), "HARD_SWISH", B_Q, [ALL_CODES]) == 0


def test_leaky_relu_equals_tflite_micro_leaky_relu_on_every_code() -> None:
    from tflm_single_op import options

    m = _unary_on("LeakyRelu", ALL_CODES.shape)
    for node in m.graph.node:
        if node.op_type == "LeakyRelu":
            node.attribute.extend([helper.make_attribute("alpha", 0.2)])
    assert _tflm_equal(m, "LEAKY_RELU", B_Q, [ALL_CODES], options("LeakyReluOptions", alpha=0.2)) == 0


def test_softmax_equals_tflite_micro_softmax() -> None:
    from tflm_single_op import options

    rng = np.random.default_rng(3)
    inputs = [rng.integers(-128, 128, size=(1, 3, 2, 6)).astype(np.int8) for _ in range(8)]
    assert _tflm_equal(softmax_nchw(axis_last=True), "SOFTMAX", SOFTMAX_OUT, inputs,
                       options("SoftmaxOptions", beta=1.0)) == 0
