"""The eight MLPerf Tiny ONNX models: compile, build, run on the host; the output bytes
equal the interpreter's, and the arena is what the greedy planner gives today."""

from __future__ import annotations

import numpy as np
import pytest

from codegen_support import MODELS
from tinycc_ml.compiler import CompileOptions, compile_model
from tinycc_ml.interp import run_graph
from tinycc_ml.targets import host, read_build_info
from tinycc_ml.verification import random_input

# (arena bytes, layer-wise peak bytes) for the graph order and greedy_by_size.
ARENA = {"ad01": (768, 768), "kws": (16000, 16000), "resnet8": (49152, 49152), "vww": (64512, 55296)}


@pytest.mark.models
@pytest.mark.skipif(not MODELS.is_dir(), reason=f"MLPerf Tiny models not found at {MODELS}")
@pytest.mark.parametrize("form", ["tf2onnx_int8", "ort_qdq"])
@pytest.mark.parametrize("model", sorted(ARENA))
def test_model_on_host_equals_interpreter(model, form, tmp_path):
    result = compile_model(MODELS / f"{model}.{form}.onnx", "stm32f746", tmp_path, CompileOptions())
    assert (result.report["arena_bytes"], result.report["layerwise_peak_bytes"]) == ARENA[model]
    assert result.fit.fits
    info = read_build_info(tmp_path)
    exe = host.build(info)
    g = result.imported
    rng = np.random.default_rng(5)
    for _ in range(2):
        x = random_input(g.inputs[0], rng)
        y, _ = host.run_executable(exe, info, x)
        expected = run_graph(g, {g.inputs[0].onnx_name: x})[g.outputs[0].onnx_name]
        assert y.dtype == expected.dtype and y.tobytes() == expected.tobytes()
