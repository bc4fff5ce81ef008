"""What the TFLite frontend refuses, with messages that name the operator and the tensor at fault,
and the CLI on .tflite files (compile, verify, report; errors as one line, exit code 2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from test_tflite_ops import activation_model, conv_model
from tflite_support import TfliteBuilder
from tinycc_ml.cli import main
from tinycc_ml.compiler import import_model
from tinycc_ml.errors import ModelError
from tinycc_ml.frontend.tflite import import_tflite


def _relu(dtype: str = "int8", opcode: str = "RELU") -> bytes:
    b = TfliteBuilder()
    b.tensor("x", (1, 8), dtype, scale=0.1, zero_point=0)
    b.tensor("y", (1, 8), dtype, scale=0.1, zero_point=0)
    b.op(opcode, ["x"], ["y"])
    return b.build(["x"], ["y"])


def test_int16_activations_name_the_operator_and_tensor() -> None:
    b = TfliteBuilder()
    b.tensor("x", (1, 8), scale=0.1, zero_point=0)
    b.tensor("h", (1, 8), "int16", scale=0.001, zero_point=0)
    b.op("QUANTIZE", ["x"], ["h"])
    b.tensor("y", (1, 8), "int16", scale=0.001, zero_point=0)
    b.op("RELU", ["h"], ["y"])
    with pytest.raises(ModelError, match=r"^operator 0 \(QUANTIZE\): tensor 1 \('h'\) is int16; tinyc supports int8 "
                                         r"activations \(int16 activations, the 16x8 scheme, are not supported\)"):
        import_tflite(b.build(["x"], ["y"]), "int16")


def test_unsupported_operators_are_listed_at_once() -> None:
    b = TfliteBuilder()
    b.tensor("x", (1, 8), scale=0.1, zero_point=0)
    b.tensor("e", (1, 8), scale=0.1, zero_point=0)
    b.op("EXP", ["x"], ["e"])
    b.tensor("y", (1, 8), scale=0.1, zero_point=0)
    b.op("GELU", ["e"], ["y"])
    with pytest.raises(ModelError) as info:
        import_tflite(b.build(["x"], ["y"]), "ops")
    assert "the model uses 2 operator(s) tinyc does not support" in info.value.summary
    assert info.value.problems == ["operator 0 (EXP)", "operator 1 (GELU)"]


def test_float_model_is_refused() -> None:
    with pytest.raises(ModelError, match=r"graph input tensor 0 \('x'\) is float32 and not only read by one QUANTIZE"):
        import_tflite(_relu("float32"), "float")


def test_uint8_model_is_refused() -> None:
    with pytest.raises(ModelError, match=r"graph input tensor 0 \('x'\) is uint8"):
        import_tflite(_relu("uint8"), "uint8")


def test_dequantize_inside_the_graph_is_refused() -> None:
    b = TfliteBuilder()
    b.tensor("x", (1, 8), scale=0.1, zero_point=0)
    b.tensor("f", (1, 8), "float32")
    b.op("DEQUANTIZE", ["x"], ["f"])
    b.tensor("y", (1, 8), scale=0.1, zero_point=0)
    b.op("QUANTIZE", ["f"], ["y"])
    with pytest.raises(ModelError, match=r"operator 0 \(DEQUANTIZE\): it dequantizes to float inside the graph"):
        import_tflite(b.build(["x"], ["y"]), "dq")


def test_mean_whose_tflite_multiplier_is_unnormalised_compiles() -> None:
    """Once refused: TFLite Micro's multiplier for these 15 elements is 572662306, below 2^30. The
    conv of ones now carries it as it is (tests/test_tf2onnx_tflm.py checks such MEANs bit for bit)."""
    from tflite_support import run_tflm

    b = TfliteBuilder()
    b.tensor("x", (1, 3, 5, 4), scale=0.1, zero_point=0)
    b.tensor("axes", (2,), "int32", data=np.array([1, 2]))
    b.tensor("y", (1, 1, 1, 4), scale=0.1, zero_point=0)
    b.op("MEAN", ["x", "axes"], ["y"], "ReducerOptions", KeepDims=True)
    model = b.build(["x"], ["y"])
    graph = import_tflite(model, "mean").graph
    (conv,) = [n for n in graph.nodes if n.kind == "Conv2d"]
    assert conv.attrs.fixed_requant == (572662306, -2)  # (2^30 << 3) // 15, shift 1 - 3
    x = np.random.default_rng(0).integers(-128, 128, size=(1, 3, 5, 4)).astype(np.int8)
    from tinycc_ml.interp import run_core

    out = run_core(graph, {graph.inputs[0].tensor: x})[graph.outputs[0].tensor]
    assert out.tobytes() == run_tflm(model, [x]).outputs[0].tobytes()


def test_asymmetric_conv_weights_are_refused() -> None:
    b = TfliteBuilder()
    b.tensor("x", (1, 4, 4, 2), scale=0.1, zero_point=0)
    b.tensor("w", (3, 1, 1, 2), scale=0.01, zero_point=5, data=np.ones((3, 1, 1, 2)))
    b.tensor("y", (1, 4, 4, 3), scale=0.1, zero_point=0)
    b.op("CONV_2D", ["x", "w", None], ["y"], "Conv2DOptions", Padding=1, StrideW=1, StrideH=1)
    with pytest.raises(ModelError, match=r"operator 0 \(CONV_2D\): weight 'w' has a nonzero zero point"):
        import_tflite(b.build(["x"], ["y"]), "asym")


def test_declared_shape_must_match() -> None:
    b = TfliteBuilder()
    b.tensor("x", (1, 6), scale=0.1, zero_point=0)
    b.tensor("w", (3, 6), scale=0.01, data=np.ones((3, 6)))
    b.tensor("y", (1, 4), scale=0.1, zero_point=0)
    b.op("FULLY_CONNECTED", ["x", "w", None], ["y"], "FullyConnectedOptions")
    with pytest.raises(ModelError, match=r"operator 0 \(FULLY_CONNECTED\): output tensor 2 \('y'\) is declared \[1, 4\]"):
        import_tflite(b.build(["x"], ["y"]), "shape")


def test_import_model_dispatches_on_suffix_and_identifier(tmp_path: Path) -> None:
    (tmp_path / "m.tflite").write_bytes(conv_model())
    (tmp_path / "renamed.bin").write_bytes(conv_model())  # no suffix: the TFL3 identifier decides
    assert import_model(tmp_path / "m.tflite").name == "m"
    assert [n.kind for n in import_model(tmp_path / "renamed.bin").nodes][1] == "Conv2d"


def _cli(*args) -> object:
    return CliRunner().invoke(main, [str(a) for a in args], prog_name="tinyc", catch_exceptions=False)


def test_cli_compile_verify_and_report_a_tflite(tmp_path: Path) -> None:
    model = tmp_path / "acts.tflite"
    model.write_bytes(activation_model())
    result = _cli("compile", model, "-o", tmp_path / "out", "--no-firmware-size")
    assert result.exit_code == 0, result.output
    assert "compiled acts.tflite for stm32f746" in result.output
    result = _cli("verify", model, "--inputs", "3")
    assert result.exit_code == 0, result.output
    result = _cli("report", model)
    assert result.exit_code == 0 and "arena" in result.output.lower()


def test_cli_truncated_tflite_is_one_error_line(tmp_path: Path) -> None:
    model = tmp_path / "cut.tflite"
    model.write_bytes(conv_model()[:300])
    result = CliRunner().invoke(main, ["compile", str(model), "-o", str(tmp_path / "o")], prog_name="tinyc")
    assert result.exit_code == 2
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "is not a valid TFLite flatbuffer" in result.output and "Traceback" not in result.output
