"""Issue 10 point 3 on the four MLPerf Tiny models: the onnxruntime-born form (*.ort_qdq.onnx)
follows ONNX's definition, the tf2onnx form TFLite Micro's, each chosen automatically.

Targets, against onnxruntime with ORT_DISABLE_ALL over 20 random inputs: every op's output equal
to onnxruntime's on >= 99.9 % of its elements and never more than 1 LSB apart (each op fed
onnxruntime's own inputs, tinycc_ml/op_agreement.py); the final output (softmax included) at
most 2 LSB apart. And the C equals the interpreter on the host and on qemu-m7 in both semantics
(the tf2onnx form's bit-exactness with TFLite Micro: tests/test_mlperf_end_to_end.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tinycc_ml.compiler import import_model_with_semantics
from tinycc_ml.errors import TinycError
from tinycc_ml.op_agreement import compare_ops
from tinycc_ml.verification import verify_model

MLPERF = Path(__file__).resolve().parents[2] / "shared" / "models" / "mlperf_tiny"
ONNX = MLPERF / "onnx"
MODELS = ("ad01", "kws", "resnet8", "vww")
INPUTS = 20

pytestmark = [
    pytest.mark.models,
    pytest.mark.skipif(not ONNX.is_dir(), reason=f"MLPerf Tiny models not found in {ONNX}"),
]

# resnet8: on input 9 of the 20, element (c10, y22, x26) of conv2d_1 has the integer sum
# acc + bias = 38677 - 18738 = 19939: in real arithmetic (acc + bias) * s_in * s_w / s_out =
# 43.4999993, tinyc's shift-0 multiplier gives 43.4999964, so 43; onnxruntime's float32 conv gives
# 43.5000114, so 44. That 1 LSB goes through three residual adds, the pool and the classifier, and
# the softmax turns it into 12 LSB. Every op alone is within 1 LSB (>= 99.999 % equal); the other
# 19 inputs are 0 LSB apart at the output. It cannot be met without replaying MLAS's conv: on input
# 4 the element (c10, y29, x27) has the same integer sum 19939 and onnxruntime gives 43 there (its
# float32 sum of different products lands below the half), so no function of the integer
# accumulator matches onnxruntime on both. Its order is MLAS's im2col + blocked SGEMM (neither a
# sequential sum, with or without FMA, nor bias-first reproduces it: 50-82 % of conv2d_1's floats
# differ), arch-dependent. A more precise requantization does not help either (a 2^-47 multiplier
# with the bias at its own scale fixes input 9 but moves inputs 4 and 17: 9 LSB). onnxruntime
# disagrees with itself more (ORT_ENABLE_ALL, whose QLinearConv accumulates in integers, vs
# ORT_DISABLE_ALL on the same 20 inputs: ad01 20, kws 163, resnet8 9, vww 2 LSB;
# benchmarks/onnx_semantics.py prints tinyc against both).
FINAL_NOT_REACHED = {"resnet8": "12 LSB on 1 of 20 inputs: one near-tie of conv2d_1 (43.4999993 exactly, 44 in "
                                "onnxruntime's float32 conv, which gives 43 for the same integer sum on another "
                                "input), amplified by the softmax; 19 inputs 0 LSB"}


@pytest.fixture(scope="module", params=MODELS)
def ort_agreement(request):
    path = ONNX / f"{request.param}.ort_qdq.onnx"
    graph, choice = import_model_with_semantics(path)
    return request.param, choice, compare_ops(path, graph, count=INPUTS, seed=0)


def test_auto_picks_onnx_for_onnxruntime_models_and_tflite_for_tf2onnx():
    for model in MODELS:
        assert import_model_with_semantics(ONNX / f"{model}.ort_qdq.onnx")[1].semantics == "onnx", model
        assert import_model_with_semantics(ONNX / f"{model}.tf2onnx_int8.onnx")[1].semantics == "tflite", model
    graph, choice = import_model_with_semantics(MLPERF / "kws_ref_model.tflite")
    assert choice.semantics == graph.semantics == "tflite"
    with pytest.raises(TinycError, match="--semantics onnx does not apply to a .tflite model"):
        import_model_with_semantics(MLPERF / "kws_ref_model.tflite", "onnx")


def test_every_op_within_one_lsb_of_onnxruntime(ort_agreement):
    model, choice, result = ort_agreement
    assert choice.semantics == result.semantics == "onnx"
    assert len(result.ops) >= 8 and {"Conv2d", "FullyConnected"} & {op.kind for op in result.ops}
    for op in result.ops:
        assert op.max_lsb <= 1, (model, op)
        assert op.equal_share >= 0.999, (model, op)


def test_final_output_within_two_lsb_of_onnxruntime(ort_agreement, request):
    model, _, result = ort_agreement
    if model in FINAL_NOT_REACHED:
        request.applymarker(pytest.mark.xfail(strict=True, reason=FINAL_NOT_REACHED[model]))
    assert result.output_max_lsb <= 2, (model, result.output_max_lsb)


@pytest.mark.parametrize("semantics", ["onnx", "tflite"])
@pytest.mark.parametrize("model", MODELS)
def test_c_equals_interpreter_on_host_and_cortex_m7(model, semantics):
    result = verify_model(ONNX / f"{model}.ort_qdq.onnx", "stm32f746", 2, 0, targets=("host", "qemu-m7"),
                          semantics=semantics)
    assert result.ok, "\n".join(result.lines())


def test_the_only_input_beyond_two_lsb_is_resnet8s_near_tie(ort_agreement):
    """What the xfail above claims, pinned: on the 20 inputs only resnet8's input 9 (the near-tie
    of conv2d_1) is more than 2 LSB from onnxruntime; a second input beyond the target, on any
    model, would be a new cause."""
    model, _, result = ort_agreement
    beyond = [i for i, lsb in enumerate(result.output_lsb_per_input) if lsb > 2]
    assert len(result.output_lsb_per_input) == INPUTS
    assert beyond == ([9] if model == "resnet8" else []), (model, result.output_lsb_per_input)
