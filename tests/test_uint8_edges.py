"""uint8 graph inputs and outputs (issue 10, point 2): the model's own dtype at the edges.

A QUInt8 model whose graph input and output are uint8 (onnxruntime's QDQ or QOperator with the
edge QuantizeLinear/DequantizeLinear removed, as deployment tools do; a TFLite model converted
with inference_input_type/inference_output_type=tf.uint8) keeps uint8 at its boundary: the
generated API takes and returns uint8_t, and invoke converts at the edges with one SignFlip
step each (XOR 0x80 per byte, tinyc_sign_flip_s8), counted in the profile. The output must
be the int8-equivalent model's output XOR 0x80, byte for byte, on the interpreter, the host C
and the Cortex-M; within 1 LSB of onnxruntime; bit-exact with TFLite Micro for the .tflite.
"""

from __future__ import annotations

import ctypes
import os
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from frontend_support import conv_model, gemm_model, quantize
from onnx_support import ort_session
from tflite_support import TfliteBuilder, run_tflm
from tinycc_ml.compiler import CompileOptions, compile_model
from tinycc_ml.errors import ModelError
from tinycc_ml.frontend import import_model
from tinycc_ml.frontend.tflite import import_tflite
from tinycc_ml.interp import run_graph
from tinycc_ml.kernels import access
from tinycc_ml.kernels.call import ParamStruct
from tinycc_ml.targets import read_build_info
from tinycc_ml.targets.host import build, run_executable
from tinycc_ml.targets.profile import run_profile

FORMS = [("QDQ", True), ("QDQ", False), ("QOperator", True), ("QOperator", False)]
OPTIONS = CompileOptions(measure_firmware=False, schedule_time_limit=0.2)
HAVE_TOOLS = shutil.which("arm-none-eabi-gcc") is not None and shutil.which("qemu-system-arm") is not None
needs_qemu = pytest.mark.skipif(not HAVE_TOOLS and not os.environ.get("CI"),
                                reason="needs arm-none-eabi-gcc and qemu-system-arm (make setup-system)")


def integer_edges(model: onnx.ModelProto) -> onnx.ModelProto:
    """The model with its edge QuantizeLinear and DequantizeLinear removed: the graph input is the
    quantized tensor, the graph output the quantized result, in the quantized type (uint8 or int8)."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    inits = {i.name: i for i in g.initializer}
    for k, inp in enumerate(list(g.input)):
        if inp.name in inits:
            continue
        q = next(n for n in g.node if n.op_type == "QuantizeLinear" and n.input[0] == inp.name)
        shape = [d.dim_value for d in inp.type.tensor_type.shape.dim]
        g.node.remove(q)
        g.input.remove(inp)
        g.input.insert(k, helper.make_tensor_value_info(q.output[0], inits[q.input[2]].data_type, shape))
    for k, out in enumerate(list(g.output)):
        dq = next(n for n in g.node if n.op_type == "DequantizeLinear" and n.output[0] == out.name)
        shape = [d.dim_value for d in out.type.tensor_type.shape.dim]
        g.node.remove(dq)
        g.output.remove(out)
        g.output.insert(k, helper.make_tensor_value_info(dq.input[0], inits[dq.input[2]].data_type, shape))
    return m


def int8_twin(model: onnx.ModelProto) -> onnx.ModelProto:
    """The same model with every uint8 initializer (zero points) and uint8 edge as int8, values - 128."""
    twin = onnx.ModelProto()
    twin.CopyFrom(model)
    for i, init in enumerate(twin.graph.initializer):
        data = numpy_helper.to_array(init)
        if data.dtype == np.uint8:
            twin.graph.initializer[i].CopyFrom(
                numpy_helper.from_array((data.astype(np.int16) - 128).astype(np.int8), init.name))
    for io in list(twin.graph.input) + list(twin.graph.output):
        if io.type.tensor_type.elem_type == onnx.TensorProto.UINT8:
            io.type.tensor_type.elem_type = onnx.TensorProto.INT8
    return twin


def flip(x: np.ndarray) -> np.ndarray:
    """uint8 <-> int8 with the zero point moved by 128: the byte XOR 0x80."""
    return (np.ascontiguousarray(x).view(np.uint8) ^ np.uint8(0x80)).view(np.int8 if x.dtype == np.uint8 else np.uint8)


def uint8_inputs(shape, count: int = 6) -> list[np.ndarray]:
    return [np.random.default_rng(seed).integers(0, 256, size=shape).astype(np.uint8) for seed in range(count)]


def uint8_model(which: str, fmt: str, per_channel: bool) -> onnx.ModelProto:
    float_model = conv_model(relu=True) if which == "conv" else gemm_model(trans_b=True)
    return integer_edges(quantize(float_model, fmt=fmt, per_channel=per_channel, activation="QUInt8", weight="QInt8"))


@pytest.mark.parametrize("which", ["conv", "gemm"])
@pytest.mark.parametrize("fmt, per_channel", FORMS)
def test_uint8_edges_are_the_int8_twin_flipped(which: str, fmt: str, per_channel: bool) -> None:
    u8 = uint8_model(which, fmt, per_channel)
    graph, twin = import_model(u8, "u8"), import_model(int8_twin(u8), "twin")
    (io,), (out,) = graph.inputs, graph.outputs
    assert (io.onnx_dtype, out.onnx_dtype) == ("uint8", "uint8")
    assert io.quant.zp == twin.inputs[0].quant.zp + 128 and out.quant.zp == twin.outputs[0].quant.zp + 128
    assert [n.kind for n in graph.nodes] == ["SignFlip", *[n.kind for n in twin.nodes], "SignFlip"]
    for x in uint8_inputs(io.shape):
        ours = run_graph(graph, {io.onnx_name: x})[out.onnx_name]
        assert ours.dtype == np.uint8
        theirs = run_graph(twin, {io.onnx_name: flip(x)})[out.onnx_name]
        assert flip(ours).tobytes() == theirs.tobytes()


@pytest.mark.parametrize("which", ["conv", "gemm"])
@pytest.mark.parametrize("per_channel", [True, False])
def test_uint8_edges_within_one_lsb_of_onnxruntime(which: str, per_channel: bool) -> None:
    """onnxruntime runs the uint8-edged QDQ model as it stands; the QOperator form is compared with
    that QDQ output (its u8s8 QLinearConv kernel saturates, see test_frontend_uint8)."""
    qdq = uint8_model(which, "QDQ", per_channel)
    session = ort_session(qdq)
    for fmt in ("QDQ", "QOperator"):
        graph = import_model(uint8_model(which, fmt, per_channel), "u8")
        (io,), (out,) = graph.inputs, graph.outputs
        for x in uint8_inputs(io.shape):
            ours = run_graph(graph, {io.onnx_name: x})[out.onnx_name]
            theirs = session.run(None, {session.get_inputs()[0].name: x})[0]  # QOperator names its edges apart
            assert theirs.dtype == np.uint8
            assert np.abs(ours.astype(int) - theirs.astype(int)).max() <= 1


def test_mixed_edges_uint8_input_float_output() -> None:
    """Only the input stripped: uint8 in, float32 (DequantizeLinear) out."""
    full = quantize(conv_model(relu=True), per_channel=True, activation="QUInt8", weight="QInt8")
    stripped = integer_edges(full)
    stripped.graph.output.pop()
    stripped.graph.output.extend(full.graph.output)
    dq = next(n for n in full.graph.node if n.op_type == "DequantizeLinear" and n.output[0] == full.graph.output[0].name)
    stripped.graph.node.append(dq)
    graph = import_model(stripped, "mixed")
    assert (graph.inputs[0].onnx_dtype, graph.outputs[0].onnx_dtype) == ("uint8", "float32")
    session = ort_session(stripped)
    for x in uint8_inputs(graph.inputs[0].shape, 3):
        ours = run_graph(graph, {graph.inputs[0].onnx_name: x})[graph.outputs[0].onnx_name]
        theirs = session.run(None, {graph.inputs[0].onnx_name: x})[0]
        assert np.rint(np.abs(ours - theirs) / graph.outputs[0].quant.s).max() <= 1


@pytest.fixture(scope="module")
def compiled_uint8(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("u8edges")
    onnx.save(uint8_model("conv", "QDQ", True), root / "u8.onnx")
    compile_model(root / "u8.onnx", "stm32f746", root / "out", OPTIONS)
    return root


def test_generated_api_takes_and_returns_uint8(compiled_uint8: Path) -> None:
    header = (compiled_uint8 / "out" / "src" / "model.h").read_text()
    graph = import_model(onnx.load(compiled_uint8 / "u8.onnx"), "u8")
    assert "uint8_t *model_input(void);" in header
    assert "const uint8_t *model_output(void);" in header
    assert "model_status model_run(const uint8_t *input, uint8_t *output);" in header
    assert f"#define MODEL_INPUT_ZERO_POINT {graph.inputs[0].quant.zp}\n" in header  # uint8 terms
    assert f"#define MODEL_OUTPUT_ZERO_POINT {graph.outputs[0].quant.zp}\n" in header
    assert 128 <= graph.inputs[0].quant.zp + 128  # the uint8 zero point, not the int8 twin's
    source = (compiled_uint8 / "out" / "src" / "model.c").read_text()
    assert source.count("tinyc_sign_flip_s8(") == 2


def test_uint8_host_c_equals_the_interpreter(compiled_uint8: Path) -> None:
    graph = import_model(onnx.load(compiled_uint8 / "u8.onnx"), "u8")
    (io,), (out,) = graph.inputs, graph.outputs
    info = read_build_info(compiled_uint8 / "out")
    assert (info.input.dtype, info.output.dtype) == ("uint8", "uint8")
    exe = build(info, True, None)  # ASan + UBSan
    for x in uint8_inputs(io.shape, 4):
        y, _ = run_executable(exe, info, x)
        assert y.dtype == np.uint8
        assert y.tobytes() == run_graph(graph, {io.onnx_name: x})[out.onnx_name].tobytes()


@needs_qemu
def test_uint8_edges_on_cortex_m7_are_their_own_profile_steps(compiled_uint8: Path) -> None:
    graph = import_model(onnx.load(compiled_uint8 / "u8.onnx"), "u8")
    (io,), (out,) = graph.inputs, graph.outputs
    info = read_build_info(compiled_uint8 / "out")
    x = uint8_inputs(io.shape, 1)[0]
    result, profile = run_profile(info, x, None, target="qemu-m7")
    assert result.output.tobytes() == run_graph(graph, {io.onnx_name: x})[out.onnx_name].tobytes()
    flips = [r for r in profile.rows if r.op.kind == "SignFlip"]
    assert [r.op.symbols for r in flips] == [("tinyc_sign_flip_s8",)] * 2
    assert profile.rows[0].op.kind == "SignFlip" and profile.rows[-1].op.kind == "SignFlip"
    size = int(np.prod(io.shape))
    assert 0 < flips[0].instructions < 3 * size  # word by word: well under 3 instructions a byte


# ---- the kernel --------------------------------------------------------------------------


class _Params(ctypes.Structure):
    _fields_ = [("size", ctypes.c_int32)]


def _flip_in_shared_buffer(kernel_lib, data: bytes, distance: int) -> bytes:
    """Input at `pad + distance`, output at `pad` in one buffer (distance = offset(in) - offset(out))."""
    pad = 8
    buffer = (ctypes.c_int8 * (len(data) + 2 * pad + 8))()
    ctypes.memmove(ctypes.addressof(buffer) + pad + distance, data, len(data))
    function = kernel_lib.library.tinyc_sign_flip_s8
    function.restype = None
    function.argtypes = [ctypes.POINTER(_Params), ctypes.c_void_p, ctypes.c_void_p]
    base = ctypes.addressof(buffer)
    function(ctypes.byref(_Params(len(data))), base + pad + distance, base + pad)
    return bytes(buffer)[pad:pad + len(data)]


def test_sign_flip_kernel_on_shared_buffers(kernel_lib) -> None:
    """Exact for every placement from the access model's least distance on (the output may always
    sit on its input), and the bound is tight: one byte less and some size goes wrong."""
    rng = np.random.default_rng(0)
    tight = 0
    for size in range(1, 14):
        data = rng.integers(0, 256, size).astype(np.uint8).tobytes()
        expected = bytes(b ^ 0x80 for b in data)
        call = access.sign_flip(ParamStruct((("size", size),)))
        traffic = access.Traffic("y", call.blocks, call.write_pos, call.write_block, {"x": call.reads[0]})
        least = access.min_distance(traffic, "x", size)
        assert least <= 0
        for distance in range(max(least, -7), 6):
            assert _flip_in_shared_buffer(kernel_lib, data, distance) == expected, (size, distance)
        if least > 1 - size:  # some overlap is unsafe: the one just below the bound is
            tight += _flip_in_shared_buffer(kernel_lib, data, least - 1) != expected
    assert tight > 8


# ---- TFLite: uint8 input and output through QUANTIZE --------------------------------------


def _w(shape, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(-127, 128, size=shape).astype(np.int8)


def tflite_uint8_model(same_scale: bool) -> bytes:
    """uint8 input -> QUANTIZE -> CONV_2D -> FULLY_CONNECTED -> QUANTIZE -> uint8 output (TFLite's
    converter with inference_input_type/inference_output_type=tf.uint8). With same_scale the two
    QUANTIZE ops only move the zero point by 128 (TFLite Micro's XOR fast path), else they requantize."""
    b = TfliteBuilder()
    b.tensor("x", (1, 6, 5, 3), "uint8", scale=0.05, zero_point=131)
    b.tensor("xq", (1, 6, 5, 3), scale=0.05 if same_scale else 0.07, zero_point=3 if same_scale else -9)
    b.op("QUANTIZE", ["x"], ["xq"])
    b.tensor("w", (4, 3, 3, 3), scale=[0.01, 0.02, 0.015, 0.008], data=_w((4, 3, 3, 3), 1))
    b.tensor("c", (1, 3, 3, 4), scale=0.04, zero_point=-20)
    b.op("CONV_2D", ["xq", "w", None], ["c"], "Conv2DOptions", Padding=0, StrideW=2, StrideH=2,
         FusedActivationFunction=1)
    b.tensor("fw", (5, 36), scale=0.01, data=_w((5, 36), 2))
    b.tensor("yq", (1, 5), scale=0.1, zero_point=-7)
    b.op("FULLY_CONNECTED", ["c", "fw", None], ["yq"], "FullyConnectedOptions")
    b.tensor("y", (1, 5), "uint8", scale=0.1 if same_scale else 0.13, zero_point=121 if same_scale else 100)
    b.op("QUANTIZE", ["yq"], ["y"])
    return b.build(["x"], ["y"])


@pytest.mark.parametrize("same_scale", [True, False])
def test_tflite_uint8_edges_equal_tflite_micro(same_scale: bool, tmp_path: Path) -> None:
    model = tflite_uint8_model(same_scale)
    graph = import_tflite(model, "u8").graph
    (io,), (out,) = graph.inputs, graph.outputs
    assert (io.onnx_dtype, out.onnx_dtype) == ("uint8", "uint8")
    assert graph.nodes[0].kind == "SignFlip" and graph.nodes[-1].kind == "SignFlip"
    assert sum(n.kind == "Lut" for n in graph.nodes) == (0 if same_scale else 2)  # the requantizes
    (tmp_path / "u8.tflite").write_bytes(model)
    compile_model(tmp_path / "u8.tflite", "stm32f746", tmp_path / "out", OPTIONS)
    info = read_build_info(tmp_path / "out")
    exe = build(info, False, None)
    for x in uint8_inputs(io.shape, 5):
        expected = run_tflm(model, [x]).outputs[0]
        assert expected.dtype == np.uint8
        assert run_graph(graph, {io.onnx_name: x})[out.onnx_name].tobytes() == expected.tobytes()
        y, _ = run_executable(exe, info, x)
        assert y.tobytes() == expected.tobytes()


def test_tflite_uint8_input_read_by_another_operator_is_a_model_error() -> None:
    b = TfliteBuilder()
    b.tensor("x", (1, 4), "uint8", scale=0.05, zero_point=128)
    b.tensor("y", (1, 4), "uint8", scale=0.05, zero_point=128)
    b.op("RELU", ["x"], ["y"])
    with pytest.raises(ModelError, match=r"graph input tensor 0 \('x'\) is uint8 and not only read by one QUANTIZE"):
        import_tflite(b.build(["x"], ["y"]), "bad")


# ---- the tools the user runs: verify --reference, the board's serial protocol ------------------


@pytest.mark.parametrize("reference", ["tflite-micro", "tflite-micro-int8-input"])
def test_verify_reference_takes_uint8_models(reference: str, tmp_path: Path) -> None:
    """`tinyc verify --reference tflite-micro`: the uint8 .tflite against itself is exact; an
    int8-input reference (the same network with int8 edges) is fed and read through the flip."""
    from tinycc_ml.validation import verify_against_reference

    model = tmp_path / "u8.tflite"
    model.write_bytes(tflite_uint8_model(same_scale=True))
    ref = model
    if reference.endswith("int8-input"):
        b = TfliteBuilder()  # the int8 twin: int8 x (zero point 3) straight into the conv
        b.tensor("x", (1, 6, 5, 3), scale=0.05, zero_point=3)
        b.tensor("w", (4, 3, 3, 3), scale=[0.01, 0.02, 0.015, 0.008], data=_w((4, 3, 3, 3), 1))
        b.tensor("c", (1, 3, 3, 4), scale=0.04, zero_point=-20)
        b.op("CONV_2D", ["x", "w", None], ["c"], "Conv2DOptions", Padding=0, StrideW=2, StrideH=2,
             FusedActivationFunction=1)
        b.tensor("fw", (5, 36), scale=0.01, data=_w((5, 36), 2))
        b.tensor("y", (1, 5), scale=0.1, zero_point=-7)
        b.op("FULLY_CONNECTED", ["c", "fw", None], ["y"], "FullyConnectedOptions")
        ref = tmp_path / "i8.tflite"
        ref.write_bytes(b.build(["x"], ["y"]))
    result = verify_against_reference(model, "tflite-micro", ref, "stm32f746", 4, 0)
    assert result.ok and result.stats.max_lsb == 0 and result.stats.equal_share == 1.0


@needs_qemu
def test_uint8_model_over_the_board_serial_protocol(compiled_uint8: Path) -> None:
    """The board firmware (main.c, serial_protocol.c, test_input.c in uint8) on the QEMU UART:
    `tinyc verify --port` sends uint8 inputs and gets the interpreter's uint8 outputs back."""
    pytest.importorskip("serial", reason="needs pyserial (pip install '.[test]')")
    from tinycc_ml.port_verification import verify_on_port
    from tinycc_ml.targets.qemu_serial import build_serving_firmware, start_serving

    qemu = start_serving(build_serving_firmware(compiled_uint8 / "out"))
    try:
        result = verify_on_port(compiled_uint8 / "u8.onnx", qemu.url, 115200, 3, 0, None, lambda _m: None,
                                timeout_s=30)
    finally:
        qemu.stop()
    assert result.ok, "\n".join(result.lines())
