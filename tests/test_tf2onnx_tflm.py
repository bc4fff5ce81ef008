"""tf2onnx's ONNX forms of TFLite operators against TFLite Micro itself (issue 10, point 5).

* MEAN: TFLite Micro's arithmetic (reference_ops::QuantizedMeanOrSum: the multiplier divided by
  the element count, unnormalised below 2^30) on .tflite models, including the multipliers below
  2^30 tinyc used to refuse; and tf2onnx's ReduceMean of it (axes [1, 2] of NHWC or [2, 3] of
  NCHW, keepdims 0 and 1, axes as an attribute before opset 18 and as an input from 18).
* Data movement on int8 tensors with no DequantizeLinear/QuantizeLinear around it (Concat, Pad,
  MaxPool, Transpose, Reshape), each against the same operator as a one-op .tflite.

Every case compares the interpreter with TFLite Micro byte for byte; the generated host C is
compared with the interpreter (tinyc verify) or with TFLite Micro directly.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from frontend_support import model, scalar
from tflite_support import TfliteBuilder
from tflite_support import run_tflm as run_tflm_all
from tflm_single_op import QTensor, build_single_op, options, run_tflm
from tinycc_ml.compiler import CompileOptions, compile_model
from tinycc_ml.errors import ModelError
from tinycc_ml.frontend import import_model
from tinycc_ml.frontend.tflite import import_tflite
from tinycc_ml.interp import run_graph
from tinycc_ml.quant.params import mean_requant
from tinycc_ml.targets import read_build_info
from tinycc_ml.targets.host import build, run_executable
from tinycc_ml.verification import verify_model

I8 = TensorProto.INT8
HAVE_TOOLS = shutil.which("arm-none-eabi-gcc") is not None and shutil.which("qemu-system-arm") is not None
needs_qemu = pytest.mark.skipif(not HAVE_TOOLS and not os.environ.get("CI"),
                                reason="needs arm-none-eabi-gcc and qemu-system-arm (make setup-system)")
OPTIONS = CompileOptions(measure_firmware=False, schedule_time_limit=0.2)


def _codes(shape, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(-128, 128, size=shape).astype(np.int8)


# ---- MEAN in .tflite: TFLite Micro's multiplier, normalised or not ---------------------------

# (H, W, input (scale, zp), output (scale, zp), keep_dims): H*W not a power of two makes the
# multiplier (m << k) / n fall below 2^30 for most scale ratios.
MEAN_CASES = [
    (5, 5, (0.1, 3), (0.1, 3), True),  # equal parameters, 25 elements
    (5, 5, (0.1, 3), (0.1, 3), False),
    (3, 5, (0.1, 3), (0.3, -7), True),
    (6, 10, (0.02, -100), (0.05, 10), False),
    (7, 7, (0.05, 0), (0.01, 0), True),  # s_in / s_out = 5: a left shift
    (12, 12, (0.08, -20), (0.002, 4), False),  # 144 elements, a large ratio
    (1, 1, (0.1, 5), (0.07, -1), True),  # one element: k = 0
    (7, 9, (0.1, 5), (0.1 / 0.99, -20), False),  # 63 elements, the multiplier stays >= 2^30
]


def mean_tflite(h: int, w: int, in_q, out_q, keep: bool, c: int = 6) -> bytes:
    b = TfliteBuilder()
    b.tensor("x", (1, h, w, c), scale=in_q[0], zero_point=in_q[1])
    b.tensor("axes", (2,), "int32", data=np.array([1, 2]))
    b.tensor("y", (1, 1, 1, c) if keep else (1, c), scale=out_q[0], zero_point=out_q[1])
    b.op("MEAN", ["x", "axes"], ["y"], "ReducerOptions", KeepDims=keep)
    return b.build(["x"], ["y"])


def test_mean_cases_include_unnormalised_multipliers() -> None:
    below = 0
    for h, w, in_q, out_q, _ in MEAN_CASES:
        from tinycc_ml.ir.graph import QuantParams

        m, _ = mean_requant(QuantParams.per_tensor(*in_q), QuantParams.per_tensor(*out_q), h * w)
        below += m < (1 << 30)
    assert below >= 5


@pytest.mark.parametrize("case", MEAN_CASES, ids=[f"{c[0]}x{c[1]}-keep{int(c[4])}" for c in MEAN_CASES])
def test_tflite_mean_equals_tflite_micro(case, tmp_path: Path) -> None:
    h, w, in_q, out_q, keep = case
    tflite = mean_tflite(h, w, in_q, out_q, keep)
    graph = import_tflite(tflite, "mean").graph
    (io,), (out,) = graph.inputs, graph.outputs
    xs = [_codes(io.shape, seed) for seed in range(6)]
    for x in xs:
        expected = run_tflm_all(tflite, [x]).outputs[0]
        assert run_graph(graph, {io.onnx_name: x})[out.onnx_name].tobytes() == expected.tobytes()
    (tmp_path / "mean.tflite").write_bytes(tflite)
    compile_model(tmp_path / "mean.tflite", "stm32f746", tmp_path / "out", OPTIONS)
    info = read_build_info(tmp_path / "out")
    exe = build(info, False, None)
    for x in xs[:3]:
        y, _ = run_executable(exe, info, x)
        assert y.tobytes() == run_tflm_all(tflite, [x]).outputs[0].tobytes()


@needs_qemu
@pytest.mark.parametrize("target", ["qemu-m7", "qemu-m4"])
def test_tflite_mean_on_cortex_m_equals_tflite_micro(target: str, tmp_path: Path) -> None:
    """The DSP cores run the fast requantize tail (SMMULR): exact with the unnormalised multipliers too."""
    from tinycc_ml.targets.qemu import run as qemu_run

    for i, case in enumerate((MEAN_CASES[3], MEAN_CASES[5])):
        tflite = mean_tflite(*case)
        (tmp_path / f"mean{i}.tflite").write_bytes(tflite)
        compile_model(tmp_path / f"mean{i}.tflite", "stm32f746", tmp_path / f"out{i}", OPTIONS)
        info = read_build_info(tmp_path / f"out{i}")
        for seed in range(2):
            x = _codes(info.input.shape, seed)
            got = qemu_run(info, x, None, target=target).output
            assert got.tobytes() == run_tflm_all(tflite, [x]).outputs[0].tobytes(), (case, seed)


# ---- ReduceMean, tf2onnx's MEAN -------------------------------------------------------------


def reduce_mean_onnx(h: int, w: int, in_q, out_q, keep: bool, layout: str, opset: int, c: int = 6) -> onnx.ModelProto:
    """int8 x -> DequantizeLinear -> ReduceMean (spatial) -> QuantizeLinear -> int8 y."""
    nhwc = layout == "nhwc"
    x_shape = (1, h, w, c) if nhwc else (1, c, h, w)
    axes = [1, 2] if nhwc else [2, 3]
    y_shape = ((1, 1, 1, c) if nhwc else (1, c, 1, 1)) if keep else (1, c)
    inits = {"s_x": scalar(in_q[0], np.float32), "z_x": scalar(in_q[1], np.int8),
             "s_y": scalar(out_q[0], np.float32), "z_y": scalar(out_q[1], np.int8)}
    extra = {}
    if opset >= 18:
        inits["axes"] = np.array(axes, np.int64)
        mean = helper.make_node("ReduceMean", ["xf", "axes"], ["m"], name="mean", keepdims=int(keep))
    else:
        mean = helper.make_node("ReduceMean", ["xf"], ["m"], name="mean", axes=axes, keepdims=int(keep), **extra)
    nodes = [helper.make_node("DequantizeLinear", ["x", "s_x", "z_x"], ["xf"], name="dq"), mean,
             helper.make_node("QuantizeLinear", ["m", "s_y", "z_y"], ["y"], name="q")]
    m = model(nodes, ("x", x_shape), ("y", y_shape), inits, I8, I8, opset=opset)
    m.producer_name = "tf2onnx"
    return m


REDUCE_CASES = [(h, w, iq, oq, keep, layout, opset)
                for (h, w, iq, oq, keep) in MEAN_CASES[2:6]
                for layout, opset in (("nhwc", 13), ("nchw", 18))] + [
    (5, 5, (0.1, 3), (0.1, 3), True, "nhwc", 18), (5, 5, (0.1, 3), (0.1, 3), False, "nchw", 13)]


@pytest.mark.parametrize("case", REDUCE_CASES, ids=[f"{c[0]}x{c[1]}-k{int(c[4])}-{c[5]}-op{c[6]}" for c in REDUCE_CASES])
def test_reduce_mean_equals_tflite_micro_mean(case) -> None:
    h, w, in_q, out_q, keep, layout, opset = case
    graph = import_model(reduce_mean_onnx(h, w, in_q, out_q, keep, layout, opset), "mean")
    assert [n.kind for n in graph.nodes if n.kind == "Conv2d"] == ["Conv2d"]
    tflite = build_single_op("MEAN", [QTensor((1, h, w, 6), *in_q)],
                             QTensor((1, 1, 1, 6) if keep else (1, 6), *out_q), [np.array([1, 2])],
                             options("ReducerOptions", keepDims=keep))
    for seed in range(6):
        x_nhwc = _codes((1, h, w, 6), seed)
        x = x_nhwc if layout == "nhwc" else np.ascontiguousarray(x_nhwc.transpose(0, 3, 1, 2))
        ours = run_graph(graph, {"x": x})["y"]
        assert ours.reshape(-1).tobytes() == run_tflm(tflite, [x_nhwc]).reshape(-1).tobytes()


@pytest.mark.parametrize("case", [REDUCE_CASES[0], REDUCE_CASES[3]], ids=["nhwc-op13", "nchw-op18"])
def test_reduce_mean_host_c_equals_interpreter(case, tmp_path: Path) -> None:
    path = tmp_path / "mean.onnx"
    onnx.save(reduce_mean_onnx(*case), str(path))
    result = verify_model(path, "stm32f746", 3, 0)
    assert result.ok, "\n".join(result.lines())


@pytest.mark.parametrize("axes, message", [
    ([1], r"ReduceMean over axes \[1\] of a rank-4 tensor; tinyc supports the spatial mean"),
    ([1, 2, 3], r"ReduceMean over axes \[1, 2, 3\]"),
    (None, r"ReduceMean over axes all of a rank-4 tensor"),
    ([4], r"axes \[4\] are out of range for a rank-4 tensor"),
])
def test_reduce_mean_over_other_axes_is_a_model_error(axes, message) -> None:
    m = reduce_mean_onnx(3, 5, (0.1, 3), (0.3, -7), True, "nchw", 13)
    mean = m.graph.node[1]
    del mean.attribute[:]
    mean.attribute.append(helper.make_attribute("keepdims", 1))
    if axes is not None:
        mean.attribute.append(helper.make_attribute("axes", axes))
    m.graph.output[0].type.tensor_type.ClearField("shape")
    with pytest.raises(ModelError, match=message):
        import_model(m, "bad")


# ---- data movement on int8 tensors, against the same TFLite operator ---------------------------

Q = (0.05, -3)


def _movement_onnx(nodes: list[onnx.NodeProto], x_shape, y_shape, inits=None) -> onnx.ModelProto:
    """x int8 -> (DequantizeLinear -> QuantizeLinear with the same parameters: transparent) -> a ->
    the op(s) on int8 -> y int8, as tf2onnx writes TFLite's data movement."""
    params = {"s_a": scalar(Q[0], np.float32), "z_a": scalar(Q[1], np.int8)}
    head = [helper.make_node("DequantizeLinear", ["x", "s_a", "z_a"], ["xf"], name="dq"),
            helper.make_node("QuantizeLinear", ["xf", "s_a", "z_a"], ["a"], name="q")]
    m = model(head + nodes, ("x", x_shape), ("y", y_shape), {**params, **(inits or {})}, I8, I8)
    m.producer_name = "tf2onnx"
    return m


def _tflite_op(opcode: str, x_shape, y_shape, constants=(), opts=None, inputs: int = 1) -> bytes:
    return build_single_op(opcode, [QTensor(x_shape, *Q)] * inputs, QTensor(y_shape, *Q), list(constants), opts)


MOVEMENT = {
    # name: (onnx model, tflite model, ONNX input -> TFLite input, ONNX output -> TFLite order)
    "concat": (
        lambda: _movement_onnx([helper.make_node("Concat", ["a", "a"], ["y"], name="concat", axis=3)],
                               (1, 3, 4, 5), (1, 3, 4, 10)),
        lambda: _tflite_op("CONCATENATION", (1, 3, 4, 5), (1, 3, 4, 10), opts=options("ConcatenationOptions", axis=3),
                           inputs=2),
        2),
    "pad": (
        lambda: _movement_onnx([helper.make_node("Pad", ["a", "pads", "value"], ["y"], name="pad")],
                               (1, 3, 4, 5), (1, 6, 5, 5),
                               {"pads": np.array([0, 1, 0, 0, 0, 2, 1, 0], np.int64), "value": scalar(Q[1], np.int8)}),
        lambda: _tflite_op("PAD", (1, 3, 4, 5), (1, 6, 5, 5), [np.array([[0, 0], [1, 2], [0, 1], [0, 0]])]),
        1),
    "transpose": (
        lambda: _movement_onnx([helper.make_node("Transpose", ["a"], ["y"], name="transpose", perm=[0, 2, 1, 3])],
                               (1, 3, 4, 5), (1, 4, 3, 5)),
        lambda: _tflite_op("TRANSPOSE", (1, 3, 4, 5), (1, 4, 3, 5), [np.array([0, 2, 1, 3])]),
        1),
    "reshape": (
        lambda: _movement_onnx([helper.make_node("Reshape", ["a", "shape"], ["y"], name="reshape")],
                               (1, 3, 4, 5), (1, 12, 5), {"shape": np.array([1, 12, 5], np.int64)}),
        lambda: _tflite_op("RESHAPE", (1, 3, 4, 5), (1, 12, 5), [np.array([1, 12, 5])]),
        1),
    "squeeze": (
        lambda: _movement_onnx([helper.make_node("Squeeze", ["a", "axes"], ["y"], name="squeeze")],
                               (1, 3, 1, 5), (3, 5), {"axes": np.array([0, 2], np.int64)}),
        lambda: _tflite_op("SQUEEZE", (1, 3, 1, 5), (3, 5), opts=options("SqueezeOptions", squeezeDims=[0, 2])),
        1),
}


@pytest.mark.parametrize("name", sorted(MOVEMENT))
def test_int8_movement_equals_tflite_micro(name: str, tmp_path: Path) -> None:
    make_onnx, make_tflite, inputs = MOVEMENT[name]
    m = make_onnx()
    graph = import_model(m, name)
    assert {n.kind for n in graph.nodes} <= {"Concat", "Pad", "Transpose", "Reshape"}  # no requantize
    tflite = make_tflite()
    for seed in range(4):
        x = _codes(graph.inputs[0].shape, seed)
        assert run_graph(graph, {"x": x})["y"].tobytes() == run_tflm(tflite, [x] * inputs).tobytes()
    path = tmp_path / f"{name}.onnx"
    onnx.save(m, str(path))
    result = verify_model(path, "stm32f746", 2, 0)
    assert result.ok, "\n".join(result.lines())


def test_int8_maxpool_equals_tflite_micro() -> None:
    """MaxPool of an int8 NCHW tensor (tf2onnx between its layout Transposes) is TFLite's MAX_POOL_2D
    of the NHWC tensor."""
    m = _movement_onnx([helper.make_node("MaxPool", ["a"], ["y"], name="maxpool", kernel_shape=[3, 2],
                                         strides=[2, 1], pads=[1, 0, 1, 0])], (1, 5, 7, 6), (1, 5, 4, 5))
    graph = import_model(m, "maxpool")
    assert [n.kind for n in graph.nodes] == ["MaxPool2d"]
    tflite = _tflite_op("MAX_POOL_2D", (1, 7, 6, 5), (1, 4, 5, 5),
                        opts=options("Pool2DOptions", padding=0, strideW=1, strideH=2, filterWidth=2, filterHeight=3))
    for seed in range(4):
        x = _codes((1, 5, 7, 6), seed)
        ours = run_graph(graph, {"x": x})["y"]
        theirs = run_tflm(tflite, [np.ascontiguousarray(x.transpose(0, 2, 3, 1))])
        assert ours.transpose(0, 2, 3, 1).tobytes() == theirs.tobytes()
