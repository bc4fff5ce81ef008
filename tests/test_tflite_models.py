"""The TFLite frontend on real models: the four MLPerf Tiny .tflite files and TFLite Micro's examples.

* every tensor an operator produces equals TFLite Micro's (run with all tensors preserved)
  on several random inputs, in the interpreter;
* the generated host C gives TFLite Micro's output bytes;
* TFLite Micro's published outputs (.ref.npz) are reproduced, person_detect.tflite included
  (its biases carry quantized_dimension = 3 on a 1-D tensor, which TFLite Micro ignores);
* the .tflite and the tf2onnx .onnx of the same model compile to the same arena.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from tflite_support import MLPERF_TFLITE, TFLM_MODELS, require, run_tflm
from tinycc_ml.compiler import CompileOptions, compile_model
from tinycc_ml.frontend.tflite import import_tflite_file
from tinycc_ml.interp import run_core
from tinycc_ml.targets import TARGETS, read_build_info
from tinycc_ml.targets.host import build, run_executable

pytestmark = pytest.mark.models

MLPERF = {"ad01": "ad01_int8.tflite", "kws": "kws_ref_model.tflite", "resnet8": "pretrainedResnet_quant.tflite",
          "vww": "vww_96_int8.tflite"}
EXAMPLES = ("hello_world_int8", "micro_speech_quantized", "person_detect")
OPTIONS = CompileOptions(measure_firmware=False)
SEEDS = range(3)


def _paths() -> dict[str, Path]:
    paths = {name: MLPERF_TFLITE / file for name, file in MLPERF.items()}
    paths.update({name: TFLM_MODELS / f"{name}.tflite" for name in EXAMPLES})
    return paths


@pytest.mark.parametrize("name", [*MLPERF, *EXAMPLES])
def test_every_tensor_equals_tflite_micro(name: str) -> None:
    path = require(_paths()[name])
    imported = import_tflite_file(path)
    graph = imported.graph
    io = graph.inputs[0]
    compared = 0
    for seed in SEEDS:
        x = np.random.default_rng(seed).integers(-128, 128, size=io.shape).astype(np.int8)
        reference = run_tflm(path, [x], list(imported.tensors))
        values = run_core(graph, {io.tensor: x})
        for index, (tensor, form) in imported.tensors.items():
            mine = values[tensor].transpose(0, 2, 3, 1) if form == "nchw" else values[tensor]
            theirs = reference.tensors[index].reshape(mine.shape)
            assert np.array_equal(mine, theirs), (
                f"{name} seed {seed}: tensor {index} ({tensor}) differs by up to "
                f"{np.abs(mine.astype(int) - theirs.astype(int)).max()} LSB")
            compared += 1
        assert values[graph.outputs[0].tensor].tobytes() == reference.outputs[0].tobytes()
    # the input and every operator output of the model were compared, on every input
    n_outputs = len({t for op in _operators(path) for t in op.outputs})
    assert compared == (n_outputs + 1) * len(SEEDS)


def _operators(path: Path):
    from tinycc_ml.frontend.tflite.reader import read_model

    return read_model(path.read_bytes(), str(path)).operators


@pytest.fixture(scope="module")
def host_builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple]:
    """name -> (BuildInfo, executable, CompileResult), built on first use."""
    cache: dict[str, tuple] = {}

    def get(name: str) -> tuple:
        if name not in cache:
            out = tmp_path_factory.mktemp(name)
            result = compile_model(require(_paths()[name]), "stm32f746", out, OPTIONS)
            info = read_build_info(out)
            cache[name] = (info, build(info, False, None), result)
        return cache[name]

    return get  # type: ignore[return-value]


@pytest.mark.parametrize("name", [*MLPERF, *EXAMPLES])
def test_host_c_equals_tflite_micro(name: str, host_builds) -> None:
    info, exe, _ = host_builds(name)
    shape = info.input.shape
    for seed in range(4):
        x = np.random.default_rng(100 + seed).integers(-128, 128, size=shape).astype(np.int8)
        y, _ = run_executable(exe, info, x)
        expected = run_tflm(_paths()[name], [x]).outputs[0]
        assert y.tobytes() == expected.tobytes(), f"{name} seed {100 + seed}: host C differs from TFLite Micro"


@pytest.mark.parametrize("name", EXAMPLES)
def test_published_tflite_micro_outputs(name: str, host_builds) -> None:
    ref = np.load(require(TFLM_MODELS / f"{name}.ref.npz"))
    info, exe, result = host_builds(name)
    graph = result.imported
    io = graph.inputs[0]
    for x, expected in zip(ref["inputs"], ref["tflm"]):
        got = run_core(graph, {io.tensor: x.reshape(io.shape)})[graph.outputs[0].tensor]
        assert got.tobytes() == expected.tobytes()
        y, _ = run_executable(exe, info, x.reshape(io.shape))
        assert y.tobytes() == expected.tobytes()


def test_person_detect_bias_quantized_dimension_is_accepted() -> None:
    from tinycc_ml.frontend.tflite.reader import read_model

    path = require(TFLM_MODELS / "person_detect.tflite")
    model = read_model(path.read_bytes(), str(path))
    odd = [t for t in model.tensors if t.dtype == "int32" and t.quant and t.quant.quantized_dimension == 3]
    assert len(odd) == 14  # as published: 1-D per-channel biases claiming dimension 3
    import_tflite_file(path)  # imports anyway, as TFLite Micro runs it


@pytest.mark.parametrize("name", sorted(MLPERF))
def test_tflite_and_tf2onnx_compile_to_the_same_arena(name: str, host_builds, tmp_path: Path) -> None:
    onnx_path = require(MLPERF_TFLITE / "onnx" / f"{name}.tf2onnx_int8.onnx")
    _, _, from_tflite = host_builds(name)
    from_onnx = compile_model(onnx_path, "stm32f746", tmp_path / "onnx", OPTIONS)
    assert from_tflite.context.arena_bytes == from_onnx.context.arena_bytes
    assert from_tflite.report["macs"] == from_onnx.report["macs"]
    assert from_tflite.context.weights_bytes == from_onnx.context.weights_bytes


@pytest.mark.slow
@pytest.mark.parametrize("target", ["qemu-m7", "qemu-m4"])
def test_kws_on_cortex_m_equals_tflite_micro_and_its_tf2onnx_twin(target: str, host_builds, tmp_path: Path) -> None:
    """On the emulated Cortex-M the .tflite gives TFLite Micro's bytes in exactly the instructions
    its tf2onnx conversion takes (the same IR, the same kernels)."""
    if shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None:
        if os.environ.get("CI"):
            pytest.fail("arm-none-eabi-gcc and qemu-system-arm are needed under CI")
        pytest.skip("arm-none-eabi-gcc / qemu-system-arm not installed")
    info, _, _ = host_builds("kws")
    compile_model(require(MLPERF_TFLITE / "onnx" / "kws.tf2onnx_int8.onnx"), "stm32f746", tmp_path / "onnx", OPTIONS)
    onnx_info = read_build_info(tmp_path / "onnx")
    x = np.random.default_rng(7).integers(-128, 128, size=info.input.shape).astype(np.int8)
    from_tflite = TARGETS[target].run(info, x, None, timeout=300)
    from_onnx = TARGETS[target].run(onnx_info, x, None, timeout=300)
    assert from_tflite.output.tobytes() == run_tflm(_paths()["kws"], [x]).outputs[0].tobytes()
    assert from_tflite.instructions == from_onnx.instructions
