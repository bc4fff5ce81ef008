"""Layer by layer on the MLPerf Tiny models: every node's C kernel calls, fed the
interpreter's own input activations, reproduce the interpreter's output bytes (in-process
and under the sanitizers). Real shapes and layouts, chosen by the real passes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from kernel_support import assert_same, from_physical, to_physical

from tinycc_ml.compiler import import_model, lower
from tinycc_ml.interp import run_core
from tinycc_ml.kernels.harness import run_calls

MODELS_DIR = Path(__file__).resolve().parents[2] / "shared" / "models" / "mlperf_tiny" / "onnx"
MODELS = ["ad01", "kws", "resnet8", "vww"]
FLAVOURS = ["tf2onnx_int8", "ort_qdq"]


@pytest.mark.models
@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("model", MODELS)
def test_every_layer_matches_the_interpreter(kernel_runners, model, flavour):
    path = MODELS_DIR / f"{model}.{flavour}.onnx"
    if not path.is_file():
        pytest.skip(f"{path} is absent (the shared models folder is not next to the repository)")
    program, _ = lower(import_model(path))
    graph = program.graph
    rng = np.random.default_rng(7)
    inputs = {name: rng.integers(-128, 128, size=graph.tensor(name).shape).astype(np.int8) for name in graph.input_tensors()}
    values = run_core(graph, inputs)
    checked = 0
    for node in program.schedule:
        calls = program.calls[node.name]
        if not calls:
            continue
        (out,) = node.outputs
        contents = {n: to_physical(graph, n, values[n]) for n in node.inputs if n and not graph.tensor(n).is_constant}
        for runner in kernel_runners:
            got = run_calls(runner, calls, contents, {out: graph.tensor(out).nbytes})[out]
            assert_same(from_physical(graph, out, got), values[out], f"{path.name} node {node.name} ({calls[0].symbol})")
        checked += 1
    assert checked >= 3  # every model has at least a few compute layers
