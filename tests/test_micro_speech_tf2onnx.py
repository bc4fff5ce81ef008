"""micro_speech_quantized.tf2onnx.onnx against TFLite Micro (issue 10, point 6).

On reference input 0 tinyc's output was 3 LSB away from TFLite Micro's. The cause is the
model file, not tinyc's arithmetic: tf2onnx 1.17 dropped the FULLY_CONNECTED bias
(MatMul_bias = [427, -518, -94, 186] at scale 4.03e-5, at most 0.19 output LSB). On input
0 the accumulator of class 3 is 210405 without the bias and 210591 with it, on either side
of a rounding boundary (106 vs 107 in add_1), and the softmax turns that 1 LSB into 3.
onnxruntime runs the .onnx as tinyc does (equal on all four inputs). With the bias put back
from the .tflite, tinyc equals TFLite Micro on every tensor of all four inputs.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from tinycc_ml.interp import run_core, run_graph
from tinycc_ml.ir.graph import Graph

MODELS = Path(__file__).resolve().parents[2] / "shared" / "models" / "tflite_micro"
ONNX = MODELS / "micro_speech_quantized.tf2onnx.onnx"
TFLITE = MODELS / "micro_speech_quantized.tflite"
REFERENCE = MODELS / "micro_speech_quantized.ref.npz"

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    if not (ONNX.is_file() and TFLITE.is_file() and REFERENCE.is_file()):
        if os.environ.get("CI"):
            pytest.fail(f"micro_speech model files missing in {MODELS}")
        pytest.skip(f"micro_speech model files not found in {MODELS}")
    return dict(np.load(REFERENCE))


def _tflite_tensors() -> tuple[dict[str, int], np.ndarray, float]:
    """Operator-output tensor index by name, the FULLY_CONNECTED bias and its scale."""
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    model = schema.Model.GetRootAsModel(TFLITE.read_bytes(), 0)
    sub = model.Subgraphs(0)
    outputs = {}
    for i in range(sub.OperatorsLength()):
        index = sub.Operators(i).Outputs(0)
        outputs[sub.Tensors(index).Name().decode()] = index
    bias = next(sub.Tensors(i) for i in range(sub.TensorsLength()) if sub.Tensors(i).Name() == b"MatMul_bias")
    data = model.Buffers(bias.Buffer()).DataAsNumpy().view(np.int32).copy()
    return outputs, data, float(bias.Quantization().Scale(0))


def _with_bias_restored(bias: np.ndarray, bias_scale: float):
    """The .onnx with tf2onnx's missing BiasAdd put back, as tf2onnx writes one for a Conv:
    MatMul -> Add(DequantizeLinear(int32 bias)) -> QuantizeLinear."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(ONNX))
    graph = model.graph
    (matmul,) = [n for n in graph.node if n.op_type == "MatMul"]
    assert len(matmul.input) == 2, "the .onnx now has a bias: this test's premise is gone"
    out = matmul.output[0]
    graph.initializer.extend([
        numpy_helper.from_array(bias, "restored_bias"),
        numpy_helper.from_array(np.array(bias_scale, np.float32), "restored_bias_scale"),
        numpy_helper.from_array(np.array(0, np.int32), "restored_bias_zp"),
    ])
    for node in graph.node:
        node.input[:] = ["restored_biased" if name == out else name for name in node.input]
    position = list(graph.node).index(matmul) + 1
    graph.node.insert(position, helper.make_node("Add", [out, "restored_bias_f"], ["restored_biased"], name="restored_add"))
    graph.node.insert(position, helper.make_node(
        "DequantizeLinear", ["restored_bias", "restored_bias_scale", "restored_bias_zp"], ["restored_bias_f"],
        name="restored_bias_dq"))
    return model


def _load(model) -> Graph:
    from tinycc_ml.frontend.onnx_import import load_model

    if isinstance(model, Path):
        return load_model(str(model))
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        path.write_bytes(model.SerializeToString())
        return load_model(str(path))


def _tensor_diffs(graph: Graph, x: np.ndarray, tflm, outputs: dict[str, int]) -> dict[str, int]:
    """Max |tinyc - TFLite Micro| per operator output tinyc also has (NHWC for 4-D)."""
    (io,) = graph.inputs
    values = run_core(graph, {io.tensor: x.reshape(graph.tensor(io.tensor).shape)})
    diffs = {}
    for name, index in outputs.items():
        if name not in values:
            continue
        want = tflm.GetTensor(index, 0)["tensor_data"]
        got = values[name]
        if got.ndim == 4 and got.shape != want.shape:
            got = got.transpose(0, 2, 3, 1)
        assert got.shape == want.shape, name
        diffs[name] = int(np.abs(got.astype(np.int64) - want.astype(np.int64)).max())
    return diffs


def _tflm():
    from tflite_micro.python.tflite_micro import runtime

    return runtime.Interpreter.from_file(
        str(TFLITE), intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors)


def test_as_published_tinyc_equals_onnxruntime_and_differs_from_tflm_only_by_the_bias(reference) -> None:
    graph = _load(ONNX)
    (io,), (out_io,) = graph.inputs, graph.outputs
    outputs, _, _ = _tflite_tensors()
    tflm = _tflm()
    for i, x in enumerate(reference["inputs"]):
        got = run_graph(graph, {io.onnx_name: x})[out_io.onnx_name]
        assert got.tobytes() == reference["ort_disable_all"][i].tobytes(), f"input {i}: tinyc != onnxruntime"
        tflm.set_input(x, 0)
        tflm.invoke()
        diffs = _tensor_diffs(graph, x, tflm, outputs)
        assert diffs["Relu"] == 0, f"input {i}: the conv differs from TFLite Micro"
        if i == 0:  # the bias moves add_1[3] over a rounding boundary
            assert diffs["add_1"] == 1 and diffs["labels_softmax"] == 3, diffs
        else:
            assert max(diffs.values()) == 0, f"input {i}: {diffs}"


def test_with_bias_restored_every_tensor_equals_tflite_micro(reference) -> None:
    outputs, bias, bias_scale = _tflite_tensors()
    graph = _load(_with_bias_restored(bias, bias_scale))
    (fc,) = [n for n in graph.nodes if n.kind == "FullyConnected"]
    assert fc.inputs[2], "the restored bias is not fused into the FullyConnected"
    (io,), (out_io,) = graph.inputs, graph.outputs
    tflm = _tflm()
    for i, x in enumerate(reference["inputs"]):
        got = run_graph(graph, {io.onnx_name: x})[out_io.onnx_name]
        assert got.tobytes() == reference["tflm"][i].tobytes(), f"input {i}: output differs from TFLite Micro"
        tflm.set_input(x, 0)
        tflm.invoke()
        diffs = _tensor_diffs(graph, x, tflm, outputs)
        assert set(diffs) >= {"Relu", "add_1", "labels_softmax"}
        assert max(diffs.values()) == 0, f"input {i}: {diffs}"
