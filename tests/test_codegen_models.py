"""The eight MLPerf Tiny ONNX models: compile, build, run on the host; the output bytes
equal the interpreter's, with the arena the default planner packs (overlaps included)
between the lower bound and the layer-wise peak. The arena targets themselves are
asserted in test_memory_models.py."""

from __future__ import annotations

import numpy as np
import pytest

from codegen_support import MODELS
from tinycc_ml.compiler import CompileOptions, compile_model
from tinycc_ml.interp import run_graph
from tinycc_ml.targets import host, read_build_info
from tinycc_ml.verification import random_input

# Layer-wise peak bytes of the emitted order (the best order: these are chains or near-chains).
LAYERWISE = {"ad01": 768, "kws": 16448, "resnet8": 49152, "vww": 55296}


@pytest.mark.models
@pytest.mark.skipif(not MODELS.is_dir(), reason=f"MLPerf Tiny models not found at {MODELS}")
@pytest.mark.parametrize("form", ["tf2onnx_int8", "ort_qdq"])
@pytest.mark.parametrize("model", sorted(LAYERWISE))
def test_model_on_host_equals_interpreter(model, form, tmp_path):
    result = compile_model(MODELS / f"{model}.{form}.onnx", "stm32f746", tmp_path, CompileOptions())
    r = result.report
    assert r["layerwise_peak_bytes"] == LAYERWISE[model]
    assert r["lower_bound_bytes"] <= r["arena_bytes"] <= r["layerwise_peak_bytes"]
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
