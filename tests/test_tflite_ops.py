"""Every operator the TFLite frontend reads, on small models built here, against TFLite Micro.

Each model is written with the flatbuffers builder (tflite_support.TfliteBuilder), run by
TFLite Micro with every tensor preserved and by tinyc's interpreter on the imported IR:
every tensor an operator produces must be byte-identical (4-D tensors compared in TFLite's
NHWC order). The generated host C (built once per model) must equal TFLite Micro's output.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from tflite_support import TfliteBuilder, run_tflm
from tinycc_ml.compiler import CompileOptions, compile_model
from tinycc_ml.frontend.tflite import TfliteImport, import_tflite
from tinycc_ml.interp import run_core, run_graph
from tinycc_ml.targets import read_build_info
from tinycc_ml.targets.host import build, run_executable

OPTIONS = CompileOptions(measure_firmware=False, schedule_time_limit=0.2)
SEEDS = range(4)


def _w(shape, seed: int, low: int = -127, high: int = 128) -> np.ndarray:
    return np.random.default_rng(seed).integers(low, high, size=shape).astype(np.int8)


def _bias(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(-3000, 3000, size=n).astype(np.int32)


# ---- the models: (bytes, input tensor name) ---------------------------------------------------


def conv_model() -> bytes:
    """CONV_2D SAME stride 2 per-channel + RELU6, DEPTHWISE_CONV_2D VALID dilated x2 multiplier + RELU,
    CONV_2D 1x1 per-tensor without bias, grouped CONV_2D, then FULLY_CONNECTED (per channel) on the flattened map."""
    b = TfliteBuilder()
    b.tensor("x", (1, 9, 8, 3), scale=0.05, zero_point=-3)
    s1 = [0.01, 0.02, 0.015, 0.008]
    b.tensor("w1", (4, 3, 3, 3), scale=s1, data=_w((4, 3, 3, 3), 1))
    b.tensor("b1", (4,), "int32", scale=[0.05 * s for s in s1], data=_bias(4, 2))
    b.tensor("c1", (1, 5, 4, 4), scale=0.04, zero_point=-128)
    b.op("CONV_2D", ["x", "w1", "b1"], ["c1"], "Conv2DOptions", Padding=0, StrideW=2, StrideH=2,
         FusedActivationFunction=3)
    s2 = [0.02 + 0.001 * i for i in range(8)]
    b.tensor("w2", (1, 2, 2, 8), scale=s2, quantized_dimension=3, data=_w((1, 2, 2, 8), 3))
    b.tensor("b2", (8,), "int32", scale=[0.04 * s for s in s2], data=_bias(8, 4))
    b.tensor("c2", (1, 3, 2, 8), scale=0.03, zero_point=-100)
    b.op("DEPTHWISE_CONV_2D", ["c1", "w2", "b2"], ["c2"], "DepthwiseConv2DOptions", Padding=1, StrideW=1, StrideH=1,
         DepthMultiplier=2, FusedActivationFunction=1, DilationWFactor=2, DilationHFactor=2)
    b.tensor("w3", (6, 1, 1, 8), scale=0.01, data=_w((6, 1, 1, 8), 5))
    b.tensor("c3", (1, 3, 2, 6), scale=0.05, zero_point=7)
    b.op("CONV_2D", ["c2", "w3", None], ["c3"], "Conv2DOptions", Padding=1, StrideW=1, StrideH=1)
    b.tensor("w4", (4, 3, 3, 3), scale=[0.01, 0.012, 0.02, 0.03], data=_w((4, 3, 3, 3), 6))
    b.tensor("c4", (1, 3, 2, 4), scale=0.1, zero_point=0)
    b.op("CONV_2D", ["c3", "w4", None], ["c4"], "Conv2DOptions", Padding=0, StrideW=1, StrideH=1)  # groups = 2
    b.tensor("fw", (5, 24), scale=[0.01 * (1 + i) for i in range(5)], data=_w((5, 24), 7))
    b.tensor("fb", (5,), "int32", scale=[0.001 * (1 + i) for i in range(5)], data=_bias(5, 8))
    b.tensor("y", (1, 5), scale=0.2, zero_point=-10)
    b.op("FULLY_CONNECTED", ["c4", "fw", "fb"], ["y"], "FullyConnectedOptions", FusedActivationFunction=1)
    return b.build(["x"], ["y"])


def pool_model() -> bytes:
    """AVERAGE_POOL_2D SAME 3x3/2 + RELU, MAX_POOL_2D VALID 2x2,
    MEAN over H, W with and without keep_dims, in equal and different quantization."""
    b = TfliteBuilder()
    b.tensor("x", (1, 7, 9, 4), scale=0.1, zero_point=5)
    b.tensor("a", (1, 4, 5, 4), scale=0.1, zero_point=5)
    b.op("AVERAGE_POOL_2D", ["x"], ["a"], "Pool2DOptions", Padding=0, StrideW=2, StrideH=2, FilterWidth=3,
         FilterHeight=3, FusedActivationFunction=1)
    b.tensor("m", (1, 2, 2, 4), scale=0.1, zero_point=5)
    b.op("MAX_POOL_2D", ["a"], ["m"], "Pool2DOptions", Padding=1, StrideW=2, StrideH=2, FilterWidth=2, FilterHeight=2)
    b.tensor("axes", (2,), "int32", data=np.array([1, 2]))
    b.tensor("mk", (1, 1, 1, 4), scale=0.1, zero_point=5)
    b.op("MEAN", ["m", "axes"], ["mk"], "ReducerOptions", KeepDims=True)
    b.tensor("mx", (1, 4), scale=0.1 / 0.99, zero_point=-20)  # 63 elements: TFLite's multiplier stays >= 2^30
    b.op("MEAN", ["x", "axes"], ["mx"], "ReducerOptions", KeepDims=False)
    b.tensor("mk2", (1, 4), scale=0.1, zero_point=5)
    b.op("RESHAPE", ["mk"], ["mk2"], "ReshapeOptions", NewShape=(1, 4))
    b.tensor("y", (1, 4), scale=0.2, zero_point=0)
    b.op("ADD", ["mk2", "mx"], ["y"], "AddOptions")
    return b.build(["x"], ["y"])


def arith_model() -> bytes:
    """ADD with a broadcast [C] constant, SUB both ways (the smaller scale first and second), MUL + RELU,
    ADD of a 4-D and a 2-D activation is not TFLite's; SUB of a constant."""
    b = TfliteBuilder()
    b.tensor("x", (1, 3, 4, 5), scale=0.07, zero_point=-4)
    b.tensor("k", (5,), scale=0.03, zero_point=2, data=_w((5,), 11))
    b.tensor("a", (1, 3, 4, 5), scale=0.09, zero_point=3)
    b.op("ADD", ["x", "k"], ["a"], "AddOptions", FusedActivationFunction=0)
    b.tensor("s", (1, 3, 4, 5), scale=0.11, zero_point=-7)
    b.op("SUB", ["x", "a"], ["s"], "SubOptions", FusedActivationFunction=1)
    b.tensor("s2", (1, 3, 4, 5), scale=0.05, zero_point=12)
    b.op("SUB", ["s", "x"], ["s2"], "SubOptions")
    b.tensor("kc", (1, 1, 1, 5), scale=0.02, zero_point=-128, data=np.array([-128, -1, 0, 64, 127]))
    b.tensor("s3", (1, 3, 4, 5), scale=0.06, zero_point=0)
    b.op("SUB", ["s2", "kc"], ["s3"], "SubOptions", FusedActivationFunction=3)
    b.tensor("y", (1, 3, 4, 5), scale=0.004, zero_point=-50)
    b.op("MUL", ["s3", "a"], ["y"], "MulOptions", FusedActivationFunction=1)
    return b.build(["x"], ["y"])


def conv_then_arith_model() -> bytes:
    """ADD / MUL on images that live NCHW in the IR (a conv output), with a constant broadcast."""
    b = TfliteBuilder()
    b.tensor("x", (1, 5, 5, 2), scale=0.05, zero_point=0)
    b.tensor("w", (3, 1, 1, 2), scale=[0.02, 0.03, 0.01], data=_w((3, 1, 1, 2), 12))
    b.tensor("c", (1, 5, 5, 3), scale=0.03, zero_point=-5)
    b.op("CONV_2D", ["x", "w", None], ["c"], "Conv2DOptions", Padding=1, StrideW=1, StrideH=1)
    b.tensor("k", (1, 1, 1, 3), scale=0.01, zero_point=0, data=np.array([[[[100, -50, 3]]]]))
    b.tensor("m", (1, 5, 5, 3), scale=0.002, zero_point=-1)
    b.op("MUL", ["c", "k"], ["m"], "MulOptions")
    b.tensor("y", (1, 5, 5, 3), scale=0.04, zero_point=4)
    b.op("SUB", ["c", "m"], ["y"], "SubOptions", FusedActivationFunction=2)
    return b.build(["x"], ["y"])


def sub_constant_first_model() -> bytes:
    """SUB(constant, x) where the constant has the smaller scale: its scale is the one adjusted."""
    b = TfliteBuilder()
    b.tensor("k", (1, 6), scale=0.01, zero_point=3, data=np.arange(-60, 60, 20))
    b.tensor("x", (1, 6), scale=0.05, zero_point=-2)
    b.tensor("y", (1, 6), scale=0.07, zero_point=1)
    b.op("SUB", ["k", "x"], ["y"], "SubOptions")
    return b.build(["x"], ["y"])


def activation_model() -> bytes:
    """LOGISTIC, TANH, HARD_SWISH, RELU, RELU6, LEAKY_RELU and an int8 -> int8 QUANTIZE in a chain."""
    b = TfliteBuilder()
    b.tensor("x", (1, 64), scale=0.06, zero_point=10)
    b.tensor("l", (1, 64), scale=1 / 256, zero_point=-128)
    b.op("LOGISTIC", ["x"], ["l"])
    b.tensor("t", (1, 64), scale=1 / 128, zero_point=0)
    b.op("TANH", ["x"], ["t"])
    b.tensor("h", (1, 64), scale=0.03, zero_point=-90)
    b.op("HARD_SWISH", ["x"], ["h"])
    b.tensor("r", (1, 64), scale=0.02, zero_point=-128)
    b.op("RELU", ["h"], ["r"])
    b.tensor("r6", (1, 64), scale=0.02, zero_point=-128)
    b.op("RELU6", ["x"], ["r6"])
    b.tensor("lr", (1, 64), scale=0.05, zero_point=20)
    b.op("LEAKY_RELU", ["x"], ["lr"], "LeakyReluOptions", Alpha=0.15)
    parts = []
    for src in ("l", "t", "r", "r6", "lr"):  # TFLite's CONCATENATION needs its inputs in the output's quantization
        parts.append(b.tensor(f"{src}_q", (1, 64), scale=0.011, zero_point=-3))
        b.op("QUANTIZE", [src], [f"{src}_q"])
    b.tensor("c", (1, 320), scale=0.011, zero_point=-3)
    b.op("CONCATENATION", parts, ["c"], "ConcatenationOptions", Axis=1)
    b.tensor("y", (1, 320), scale=0.02, zero_point=0)
    b.op("QUANTIZE", ["c"], ["y"])
    return b.build(["x"], ["y"])


def movement_model() -> bytes:
    """PAD, PADV2 (4-D, on an NCHW image and in TFLite order), TRANSPOSE, CONCATENATION on the channel
    axis, RESHAPE, SQUEEZE, SOFTMAX on 4-D and 2-D."""
    b = TfliteBuilder()
    b.tensor("x", (1, 4, 3, 2), scale=0.05, zero_point=-2)
    b.tensor("pads", (4, 2), "int32", data=np.array([[0, 0], [1, 2], [0, 1], [0, 0]]))
    b.tensor("p", (1, 7, 4, 2), scale=0.05, zero_point=-2)
    b.op("PAD", ["x", "pads"], ["p"])
    b.tensor("w", (3, 3, 3, 2), scale=0.02, data=_w((3, 3, 3, 2), 21))
    b.tensor("c", (1, 5, 2, 3), scale=0.06, zero_point=1)
    b.op("CONV_2D", ["p", "w", None], ["c"], "Conv2DOptions", Padding=1, StrideW=1, StrideH=1)
    b.tensor("pads2", (4, 2), "int32", data=np.array([[0, 0], [0, 0], [1, 1], [0, 2]]))
    b.tensor("pv", (), scale=0.06, zero_point=1, data=np.array(50))
    b.tensor("p2", (1, 5, 4, 5), scale=0.06, zero_point=1)
    b.op("PADV2", ["c", "pads2", "pv"], ["p2"])
    b.tensor("perm", (4,), "int32", data=np.array([0, 2, 1, 3]))
    b.tensor("t", (1, 4, 5, 5), scale=0.06, zero_point=1)
    b.op("TRANSPOSE", ["p2", "perm"], ["t"])
    b.tensor("t2", (1, 4, 5, 5), scale=0.06, zero_point=1)
    b.op("RELU", ["t"], ["t2"])
    b.tensor("cat", (1, 4, 5, 10), scale=0.06, zero_point=1)
    b.op("CONCATENATION", ["t", "t2"], ["cat"], "ConcatenationOptions", Axis=-1)
    b.tensor("sm", (1, 4, 5, 10), scale=1 / 256, zero_point=-128)
    b.op("SOFTMAX", ["cat"], ["sm"], "SoftmaxOptions", Beta=1.0)
    b.tensor("r", (1, 20, 10), scale=1 / 256, zero_point=-128)
    b.op("RESHAPE", ["sm"], ["r"], "ReshapeOptions", NewShape=(1, 20, 10))
    b.tensor("shape", (2,), "int32", data=np.array([20, 10]))
    b.tensor("r2", (1, 1, 20, 10), scale=1 / 256, zero_point=-128)
    b.op("RESHAPE", ["r", "shape"], ["r2"])
    b.tensor("sq", (20, 10), scale=1 / 256, zero_point=-128)
    b.op("SQUEEZE", ["r2"], ["sq"], "SqueezeOptions", SqueezeDims=(0, 1))
    b.tensor("y", (20, 10), scale=1 / 256, zero_point=-128)
    b.op("SOFTMAX", ["sq"], ["y"], "SoftmaxOptions", Beta=0.5)
    return b.build(["x"], ["y"])


def float_edges_model() -> bytes:
    """float32 input -> QUANTIZE -> FULLY_CONNECTED -> DEQUANTIZE -> float32 output."""
    b = TfliteBuilder()
    b.tensor("x", (1, 6), "float32")
    b.tensor("xq", (1, 6), scale=0.02, zero_point=-1)
    b.op("QUANTIZE", ["x"], ["xq"])
    b.tensor("w", (3, 6), scale=0.01, data=_w((3, 6), 31))
    b.tensor("b", (3,), "int32", scale=0.0002, data=_bias(3, 32))
    b.tensor("yq", (1, 3), scale=0.015, zero_point=4)
    b.op("FULLY_CONNECTED", ["xq", "w", "b"], ["yq"], "FullyConnectedOptions")
    b.tensor("y", (1, 3), "float32")
    b.op("DEQUANTIZE", ["yq"], ["y"])
    return b.build(["x"], ["y"])


MODELS: dict[str, Callable[[], bytes]] = {
    "conv": conv_model, "pool": pool_model, "arith": arith_model, "conv_arith": conv_then_arith_model,
    "sub_constant_first": sub_constant_first_model,
    "activations": activation_model, "movement": movement_model,
}
COVERED = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "SUB", "MUL", "AVERAGE_POOL_2D", "MAX_POOL_2D",
           "MEAN", "RESHAPE", "SQUEEZE", "SOFTMAX", "LOGISTIC", "TANH", "HARD_SWISH", "RELU", "RELU6", "LEAKY_RELU",
           "PAD", "PADV2", "CONCATENATION", "QUANTIZE", "DEQUANTIZE", "TRANSPOSE"}


def _random_input(imported: TfliteImport, seed: int) -> np.ndarray:
    io = imported.graph.inputs[0]
    return np.random.default_rng(seed).integers(-128, 128, size=io.shape).astype(np.int8)


def compare_every_tensor(model: bytes, imported: TfliteImport, x: np.ndarray) -> int:
    """Interpreter vs TFLite Micro on every produced tensor; returns how many were compared."""
    graph = imported.graph
    reference = run_tflm(model, [x], list(imported.tensors))
    values = run_core(graph, {graph.inputs[0].tensor: x})
    for index, (name, form) in imported.tensors.items():
        mine = values[name].transpose(0, 2, 3, 1) if form == "nchw" else values[name]
        theirs = reference.tensors[index].reshape(mine.shape)
        bad = np.flatnonzero(mine.reshape(-1) != theirs.reshape(-1))
        assert bad.size == 0, (f"tensor {index} ({name}): {bad.size} bytes differ, max "
                               f"{np.abs(mine.astype(int) - theirs.astype(int)).max()} LSB")
    assert values[graph.outputs[0].tensor].tobytes() == reference.outputs[0].tobytes()
    return len(imported.tensors)


def test_every_listed_operator_is_covered() -> None:
    import tinycc_ml.frontend.tflite.reader as reader

    seen = {op.opcode for make in MODELS.values() for op in reader.read_model(make(), "m").operators}
    seen |= {op.opcode for op in reader.read_model(float_edges_model(), "m").operators}
    assert seen == COVERED


@pytest.mark.parametrize("name", sorted(MODELS))
def test_operator_model_equals_tflite_micro_on_every_tensor(name: str, tmp_path: Path) -> None:
    model = MODELS[name]()
    imported = import_tflite(model, name)
    compared = sum(compare_every_tensor(model, imported, _random_input(imported, seed)) for seed in SEEDS)
    produced = {t for op in _operators(model) for t in op.outputs}
    assert set(imported.tensors) == produced | {_input_index(model)}  # every operator output, and the input
    assert compared == len(SEEDS) * len(imported.tensors)
    # and the generated C, on the host
    compile_model(_write(tmp_path, name, model), "stm32f746", tmp_path / "out", OPTIONS)
    info = read_build_info(tmp_path / "out")
    exe = build(info, False, None)
    for seed in SEEDS:
        x = _random_input(imported, seed)
        y, _ = run_executable(exe, info, x)
        assert y.tobytes() == run_tflm(model, [x]).outputs[0].tobytes(), f"{name} seed {seed}: host C differs"


def _operators(model: bytes):
    from tinycc_ml.frontend.tflite.reader import read_model

    return read_model(model, "m").operators


def _input_index(model: bytes) -> int:
    from tinycc_ml.frontend.tflite.reader import read_model

    return read_model(model, "m").inputs[0]


def _write(tmp_path: Path, name: str, model: bytes) -> Path:
    path = tmp_path / f"{name}.tflite"
    path.write_bytes(model)
    return path


def test_float_edges_equal_tflite_micro(tmp_path: Path) -> None:
    """A float input quantized by QUANTIZE and a DEQUANTIZE'd output become the float boundary.

    TFLite rounds x / scale half away from zero where tinyc's float boundary (ONNX's QuantizeLinear)
    rounds half to even: the two differ only on inputs that are exact ties, which these are not."""
    model = float_edges_model()
    imported = import_tflite(model, "edges")
    graph = imported.graph
    assert graph.inputs[0].onnx_dtype == "float32" and graph.outputs[0].onnx_dtype == "float32"
    rng = np.random.default_rng(0)
    compile_model(_write(tmp_path, "edges", model), "stm32f746", tmp_path / "out", OPTIONS)
    info = read_build_info(tmp_path / "out")
    exe = build(info, False, None)
    for _ in range(8):
        x = rng.uniform(-2.5, 2.5, size=(1, 6)).astype(np.float32)
        expected = run_tflm(model, [x]).outputs[0]
        got = run_graph(graph, {"x": x})["y"]
        assert got.dtype == np.float32 and got.tobytes() == expected.tobytes()
        y, _ = run_executable(exe, info, x)
        assert y.tobytes() == expected.tobytes()
