"""The headline claim on the four MLPerf Tiny models converted by tf2onnx: the generated
C, built for the host with AddressSanitizer and UBSan, gives exactly TFLite Micro's
output bytes (and the interpreter's), input after input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tinycc_ml.compiler import CompileOptions, compile_model
from tinycc_ml.interp import run_graph
from tinycc_ml.targets import host, read_build_info

MLPERF = Path(__file__).resolve().parents[2] / "shared" / "models" / "mlperf_tiny"
TFLITE = {
    "ad01": "ad01_int8.tflite",
    "kws": "kws_ref_model.tflite",
    "resnet8": "pretrainedResnet_quant.tflite",
    "vww": "vww_96_int8.tflite",
}
INPUTS_PER_MODEL = 3

pytestmark = [
    pytest.mark.models,
    pytest.mark.skipif(not (MLPERF / "onnx").is_dir(), reason=f"MLPerf Tiny models not found in {MLPERF}"),
]


@pytest.mark.parametrize("model", sorted(TFLITE))
def test_sanitized_host_c_equals_tflite_micro(model: str, tmp_path: Path) -> None:
    runtime = pytest.importorskip("tflite_micro.python.tflite_micro.runtime")
    result = compile_model(MLPERF / "onnx" / f"{model}.tf2onnx_int8.onnx", "stm32f746", tmp_path,
                           CompileOptions(measure_firmware=False))
    info = read_build_info(tmp_path)
    exe = host.build(info, sanitize=True)
    tflm = runtime.Interpreter.from_file(str(MLPERF / TFLITE[model]))
    graph = result.imported
    io_in, io_out = graph.inputs[0], graph.outputs[0]
    rng = np.random.default_rng(2026)
    for index in range(INPUTS_PER_MODEL):
        x = rng.integers(-128, 128, size=io_in.shape, dtype=np.int64).astype(np.int8)
        tflm.set_input(x, 0)
        tflm.invoke()
        expected = tflm.get_output(0)
        c_out, _ = host.run_executable(exe, info, x)
        interp_out = run_graph(graph, {io_in.onnx_name: x})[io_out.onnx_name]
        assert c_out.dtype == np.int8 and c_out.shape == expected.shape
        assert c_out.tobytes() == expected.tobytes(), f"{model} input {index}: C differs from TFLite Micro"
        assert interp_out.tobytes() == expected.tobytes(), f"{model} input {index}: interpreter differs"
