"""`tinyc verify MODEL --reference onnxruntime|tflite-micro|float FILE` (issue 10, point 4):
the compiled host C against the reference a user trusts, with X-CUBE-AI validate's figures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner

from frontend_support import conv_model, quantize
from test_frontend_tf2onnx_patterns import ALL_CODES, qdq_unary
from tflm_single_op import QTensor, build_single_op
from tinycc_ml.cli import main
from tinycc_ml.ir.graph import BoundaryIO, QuantParams
from tinycc_ml.validation import output_stats

OUT_IO = BoundaryIO("y", "int8", (1, 4), "y", QuantParams.per_tensor(0.5, 2))


def tinyc(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_output_stats_figures() -> None:
    ours = [np.array([[1, 5, 3, 0]], np.int8), np.array([[4, 0, 0, 0]], np.int8)]
    theirs = [np.array([[1, 7, 3, 0]], np.int8), np.array([[0, 9, 0, 0]], np.int8)]
    s = output_stats("y", ours, theirs, OUT_IO, float_reference=False)
    assert (s.max_lsb, s.mean_lsb, s.equal_share, s.top1_agreement) == (9.0, 15 / 8, 5 / 8, 0.5)
    assert s.worst == "input 1, element (0, 1): tinyc 0 vs reference 9 (9 LSB)"
    assert s.cosine is None


def test_output_stats_against_floats() -> None:
    ours = [np.array([[2, 4, 6, 2]], np.int8)]  # reals (q - 2) * 0.5 = 0, 1, 2, 0
    theirs = [np.array([[0.0, 1.2, 2.0, 0.0]], np.float32)]
    s = output_stats("y", ours, theirs, OUT_IO, float_reference=True)
    assert s.max_lsb == pytest.approx(0.4) and s.equal_share == 1.0 and s.top1_agreement == 1.0
    assert s.cosine == pytest.approx(5.2 / np.sqrt(5 * 5.44))
    assert s.relative_error == pytest.approx(0.2 / 2.0)


@pytest.fixture(scope="module")
def conv_pair(tmp_path_factory) -> tuple[Path, Path]:
    """A float conv model and its onnxruntime quantize_static (int8 QDQ, float input/output)."""
    root = tmp_path_factory.mktemp("conv")
    float_model = conv_model(relu=True)
    onnx.save(float_model, root / "float.onnx")
    onnx.save(quantize(float_model), root / "int8.onnx")
    return root / "float.onnx", root / "int8.onnx"


def test_against_onnxruntime_json(conv_pair) -> None:
    _, int8 = conv_pair
    result = tinyc("verify", int8, "--reference", "onnxruntime", int8, "--inputs", 3, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{"):])
    assert report["ok"] and report["tolerance_lsb"] == 2 and report["stats"]["inputs"] == 3
    assert report["stats"]["max_lsb"] <= 1 and report["stats"]["top1_agreement"] >= 2 / 3


def test_against_the_float_model(conv_pair) -> None:
    float_model, int8 = conv_pair
    result = tinyc("verify", int8, "--reference", "float", float_model, "--inputs", 3)
    assert result.exit_code == 0, result.output
    assert "cosine similarity 0.99" in result.output and "max error / output range" in result.output
    assert "OK: within cosine >= 0.99" in result.output
    strict = tinyc("verify", int8, "--reference", "float", float_model, "--inputs", 3, "--min-cosine", 1.0)
    assert strict.exit_code == 1 and "FAILED: beyond cosine >= 1.0" in strict.output


def _unary_pair(tmp_path: Path, op: str, opcode: str, out_q: tuple[float, int]) -> tuple[Path, Path]:
    m = qdq_unary(op)
    for value in (m.graph.input[0], m.graph.output[0]):
        for dim, size in zip(value.type.tensor_type.shape.dim, ALL_CODES.shape):
            dim.dim_value = size
    onnx.save(m, tmp_path / "m.onnx")
    (tmp_path / "m.tflite").write_bytes(build_single_op(opcode, [QTensor(ALL_CODES.shape, 0.05, -3)],
                                                         QTensor(ALL_CODES.shape, *out_q)))
    np.save(tmp_path / "codes.npy", ALL_CODES[None])
    return tmp_path / "m.onnx", tmp_path / "m.tflite"


def test_against_tflite_micro_with_user_inputs(tmp_path) -> None:
    onnx_path, tflite = _unary_pair(tmp_path, "Sigmoid", "LOGISTIC", (1 / 256, -128))
    result = tinyc("verify", onnx_path, "--reference", "tflite-micro", tflite, "--data", tmp_path / "codes.npy")
    assert result.exit_code == 0, result.output
    assert "1 inputs" in result.output and "max |diff| 0 LSB" in result.output and "equal 100.00 %" in result.output


def test_mismatch_exits_1_naming_the_worst_element(tmp_path) -> None:
    # ONNX's float HardSwish (forced: the model is TFLite-born) is 1 LSB from TFLite's HARD_SWISH on some codes
    onnx_path, tflite = _unary_pair(tmp_path, "HardSwish", "HARD_SWISH", (0.04, 5))
    result = tinyc("verify", onnx_path, "--reference", "tflite-micro", tflite, "--data", tmp_path / "codes.npy",
                   "--semantics", "onnx")
    assert result.exit_code == 1
    assert "max |diff| 1 LSB" in result.output and "worst: input 0, element (0, " in result.output
    assert "FAILED: beyond tolerance 0 LSB" in result.output
    assert tinyc("verify", onnx_path, "--reference", "tflite-micro", tflite, "--data", tmp_path / "codes.npy",
                 "--tolerance", 1, "--semantics", "onnx").exit_code == 0
    # and as the TFLite-born model it is, it follows TFLite Micro exactly
    assert tinyc("verify", onnx_path, "--reference", "tflite-micro", tflite, "--data", tmp_path / "codes.npy").exit_code == 0


def test_bad_usage_is_one_error_line(tmp_path, conv_pair) -> None:
    _, int8 = conv_pair
    alone = tinyc("verify", int8, "--json")
    assert alone.exit_code == 2 and "go with --reference" in alone.output
    np.save(tmp_path / "wrong.npy", np.zeros((2, 7), np.float32))
    wrong = tinyc("verify", int8, "--reference", "onnxruntime", int8, "--data", tmp_path / "wrong.npy")
    assert wrong.exit_code == 2 and "is not a batch of inputs of shape" in wrong.output
    missing = tinyc("verify", int8, "--reference", "tflite-micro", tmp_path / "absent.tflite")
    assert missing.exit_code == 2 and "does not exist" in missing.output
