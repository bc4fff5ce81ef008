"""The four MLPerf Tiny .tflite files on the emulated Cortex-M7 and Cortex-M4 (issue 10, point 1):
TFLite Micro's output bytes, and the arena and instruction count of their tf2onnx .onnx within 1 %
(benchmarks/tflite_vs_onnx.py prints the same figures as a table; they are equal today)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from tflite_support import MLPERF_TFLITE, require, run_tflm
from tinycc_ml.compiler import CompileOptions, compile_model
from tinycc_ml.targets import TARGETS, read_build_info

pytestmark = [pytest.mark.models, pytest.mark.slow]

MLPERF = {"ad01": "ad01_int8.tflite", "kws": "kws_ref_model.tflite", "resnet8": "pretrainedResnet_quant.tflite",
          "vww": "vww_96_int8.tflite"}
OPTIONS = CompileOptions(measure_firmware=False)
LIMIT = 0.01


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """(model, form) -> (BuildInfo, arena bytes), each compiled once."""
    root = tmp_path_factory.mktemp("tflite_cortex_m")
    cache: dict[tuple[str, str], tuple] = {}

    def get(name: str, form: str):
        if (name, form) not in cache:
            path = require(MLPERF_TFLITE / MLPERF[name] if form == "tflite"
                           else MLPERF_TFLITE / "onnx" / f"{name}.tf2onnx_int8.onnx")
            result = compile_model(path, "stm32f746", root / f"{name}_{form}", OPTIONS)
            cache[(name, form)] = (read_build_info(root / f"{name}_{form}"), result.context.arena_bytes)
        return cache[(name, form)]

    return get


@pytest.mark.parametrize("target", ["qemu-m7", "qemu-m4"])
@pytest.mark.parametrize("name", sorted(MLPERF))
def test_mlperf_tflite_on_cortex_m_equals_tflite_micro_and_its_tf2onnx_twin(name: str, target: str, compiled) -> None:
    if shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None:
        if os.environ.get("CI"):
            pytest.fail("arm-none-eabi-gcc and qemu-system-arm are needed under CI")
        pytest.skip("arm-none-eabi-gcc / qemu-system-arm not installed")
    (info, arena), (onnx_info, onnx_arena) = compiled(name, "tflite"), compiled(name, "onnx")
    x = np.random.default_rng(7).integers(-128, 128, size=info.input.shape).astype(np.int8)
    from_tflite = TARGETS[target].run(info, x, None, timeout=600)
    from_onnx = TARGETS[target].run(onnx_info, x, None, timeout=600)
    assert from_tflite.output.tobytes() == run_tflm(MLPERF_TFLITE / MLPERF[name], [x]).outputs[0].tobytes()
    assert from_onnx.output.tobytes() == from_tflite.output.tobytes()
    assert abs(onnx_arena / arena - 1) <= LIMIT
    assert abs(from_onnx.instructions / from_tflite.instructions - 1) <= LIMIT
