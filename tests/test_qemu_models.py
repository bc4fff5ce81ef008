"""Generated C on the emulated Cortex-M7 and Cortex-M4, bit for bit against the NumPy
interpreter and the host build: the MLPerf Tiny models (tf2onnx int8 and onnxruntime QDQ)
and small odd-shaped single-op models, each compiled once, a couple of inputs each. The
Cortex-M33 (qemu-m33, DSP) and the Cortex-M3 without DSP or FPU (qemu-m3, portable kernels)
run the digits example, the MLPerf Tiny models and a representative share of the small ones."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
import pytest
from click.testing import CliRunner

import frontend_support as fs
from tinycc_ml.cli import main as cli
from tinycc_ml.compiler import CompileOptions, compile_model
from tinycc_ml.interp import run_graph
from tinycc_ml.ir.graph import Graph
from tinycc_ml.targets import TARGETS, BuildInfo, read_build_info
from tinycc_ml.targets.arm_build import CoreFlags, build_elf
from tinycc_ml.targets.qemu import firmware_build, qemu_target, run_elf
from tinycc_ml.verification import random_input

pytestmark = pytest.mark.skipif(
    shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
    reason="needs arm-none-eabi-gcc and qemu-system-arm (make setup-system)",
)

CORES = ("qemu-m7", "qemu-m4")
OTHER_CORES = ("qemu-m33", "qemu-m3")
TICK = {"qemu-m7": 40, "qemu-m4": 40, "qemu-m33": 50, "qemu-m3": 40}  # instructions per timer tick
MLPERF = ("ad01", "kws", "resnet8", "vww")
KINDS = ("tf2onnx_int8", "ort_qdq")
requires_models = pytest.mark.skipif(not fs.MLPERF_ONNX.is_dir(), reason=f"{fs.MLPERF_ONNX} is absent")


@dataclass(frozen=True)
class Compiled:
    info: BuildInfo
    graph: Graph  # as imported: what the interpreter runs


class CompileCache:
    """Each model compiled once per test session (per xdist worker)."""

    def __init__(self, root: Path):
        self.root = root
        self.done: dict[str, Compiled] = {}

    def get(self, name: str, path: Path) -> Compiled:
        if name not in self.done:
            out = self.root / name
            result = compile_model(path, "stm32f746", out, CompileOptions(allow_overflow=True))
            self.done[name] = Compiled(read_build_info(out), result.imported)
        return self.done[name]


@pytest.fixture(scope="session")
def compiled(tmp_path_factory) -> CompileCache:
    return CompileCache(tmp_path_factory.mktemp("qemu_models"))


def _check_cores(c: Compiled, inputs: int, seed: int, with_host: bool = True,
                 cores: tuple[str, ...] = CORES) -> dict[str, list[int]]:
    """Every core's output equals the interpreter's byte for byte; instructions per core."""
    g = c.graph
    inp, out = g.inputs[0], g.outputs[0]
    rng = np.random.default_rng(seed)
    counts: dict[str, list[int]] = {t: [] for t in cores}
    for i in range(inputs):
        x = random_input(inp, rng)
        expected = run_graph(g, {inp.onnx_name: x})[out.onnx_name]
        targets = (*cores, "host") if with_host and i == 0 else cores
        for t in targets:
            got = TARGETS[t].run(c.info, x, None)
            assert got.output.dtype == expected.dtype and got.output.shape == expected.shape, t
            if got.output.tobytes() != expected.tobytes():
                wrong = np.flatnonzero(got.output.reshape(-1) != expected.reshape(-1))
                pytest.fail(f"{t}, input {i}: {wrong.size} elements differ, first at {wrong[:8].tolist()}: "
                            f"got {got.output.reshape(-1)[wrong[:8]].tolist()}, "
                            f"interpreter {expected.reshape(-1)[wrong[:8]].tolist()}")
            if t in cores:
                assert got.instructions is not None and got.instructions > 0 and got.instructions % TICK[t] == 0
                counts[t].append(got.instructions)
    return counts


@requires_models
@pytest.mark.models
@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", MLPERF)
def test_mlperf_bit_exact_on_both_cores(compiled, name, kind):
    c = compiled.get(f"{name}.{kind}", fs.MLPERF_ONNX / f"{name}.{kind}.onnx")
    counts = _check_cores(c, inputs=2, seed=7)
    report = json.loads((c.info.out_dir / "report.json").read_text())
    assert sorted(report["firmware"]) == sorted(CORES)
    for t in CORES:
        fw = report["firmware"][t]
        assert fw["flash_bytes"] == fw["text"] + fw["data"] and fw["ram_bytes"] == fw["data"] + fw["bss"]
        # the arena is static RAM of the firmware; the weights are in its flash
        assert fw["ram_bytes"] > report["arena_bytes"] and fw["flash_bytes"] > report["weights_bytes"]
        # a few instructions per MAC at least, and data-dependent by no more than 0.1 %
        assert min(counts[t]) > report["macs"]
        assert max(counts[t]) - min(counts[t]) < max(counts[t]) // 1000


@requires_models
@pytest.mark.models
@pytest.mark.slow
@pytest.mark.parametrize("name", MLPERF)
def test_mlperf_bit_exact_on_m33_and_m3(compiled, name):
    """The four MLPerf Tiny models (tf2onnx int8) on the Cortex-M33 and on the Cortex-M3, whose
    portable kernels take several times the M4's instructions (no SMLAD)."""
    c = compiled.get(f"{name}.tf2onnx_int8", fs.MLPERF_ONNX / f"{name}.tf2onnx_int8.onnx")
    counts = _check_cores(c, inputs=1, seed=7, with_host=False, cores=OTHER_CORES)
    report = json.loads((c.info.out_dir / "report.json").read_text())
    for t in OTHER_CORES:
        fw = report["firmware"][t]
        assert fw["ram_bytes"] > report["arena_bytes"] and fw["flash_bytes"] > report["weights_bytes"]
        assert counts[t][0] > report["macs"]
    assert counts["qemu-m3"][0] > 2 * counts["qemu-m33"][0]


# --- small models with odd shapes (always available: made here) ------------------------

SMALL_MODELS: dict[str, Callable[[], onnx.ModelProto]] = {
    "conv_odd": lambda: fs.quantize(fs.conv_model((1, 3, 7, 5), out_ch=5, kernel=(3, 3), strides=[2, 2], pads=[1, 1, 1, 1])),
    "conv_1x1_relu": lambda: fs.quantize(fs.conv_model((1, 5, 3, 9), out_ch=7, kernel=(1, 1), relu=True)),
    "depthwise": lambda: fs.quantize(fs.conv_model((1, 6, 9, 7), out_ch=6, kernel=(3, 3), group=6, pads=[1, 1, 1, 1])),
    "avgpool": lambda: fs.quantize(fs.pool_model("AveragePool", (1, 3, 7, 5), kernel_shape=[3, 2], strides=[2, 2])),
    "maxpool": lambda: fs.quantize(fs.pool_model("MaxPool", (1, 5, 9, 7), kernel_shape=[3, 3], pads=[1, 1, 1, 1])),
    "add": lambda: fs.quantize(fs.add_model((1, 3, 5, 7))),
    "gemm": lambda: fs.quantize(fs.gemm_model(trans_b=True, k=13, m=7)),
    "softmax": lambda: fs.quantize(fs.softmax_model(11)),
    "concat": lambda: fs.quantize(fs.concat_model((1, 3, 5, 3))),
    "nhwc_input": lambda: fs.quantize(fs.nhwc_input_model((1, 5, 7, 3))),
    "int8_conv": fs.qdq_conv_model,
    "int8_fc": lambda: fs.qdq_fc_model(k=13, m=5),
}


class SmallModels:
    """Each small ONNX model made (onnxruntime-quantized) once per session, on first use."""

    def __init__(self, root: Path):
        self.root = root

    def __getitem__(self, name: str) -> Path:
        path = self.root / f"{name}.onnx"
        if not path.is_file():
            onnx.save(SMALL_MODELS[name](), path)
        return path


@pytest.fixture(scope="session")
def small_models(tmp_path_factory) -> SmallModels:
    return SmallModels(tmp_path_factory.mktemp("small_onnx"))


@pytest.mark.parametrize("name", sorted(SMALL_MODELS))
def test_small_models_bit_exact_on_both_cores(compiled, small_models, name):
    _check_cores(compiled.get(name, small_models[name]), inputs=2, seed=3, with_host=False)


# whole small models (every kernel family is in test_kernels_cores.py): conv, depthwise, add, FC
SMALL_ON_OTHER_CORES = ("add", "conv_odd", "depthwise", "int8_fc")


@pytest.mark.parametrize("name", SMALL_ON_OTHER_CORES)
def test_small_models_bit_exact_on_m33_and_m3(compiled, small_models, name):
    _check_cores(compiled.get(name, small_models[name]), inputs=1, seed=3, with_host=False, cores=OTHER_CORES)


DIGITS = Path(__file__).resolve().parents[1] / "examples" / "digits" / "digits_int8.onnx"


def test_digits_verify_on_m33_and_m3():
    """The example, compiled for the board without DSP (KernelTarget dsp=False): the
    interpreter, the host C and both emulated cores agree byte for byte."""
    board = "qemu_m3"
    result = CliRunner().invoke(cli, ["verify", str(DIGITS), "--board", board, "--inputs", "2", "--target", "host",
                                      "--target", "qemu-m33", "--target", "qemu-m3"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1].startswith(
        f"OK: 2/2 inputs bit-exact (interpreter == host == qemu-m33 == qemu-m3) for digits_int8.onnx on {board}")


def test_cortex_m0plus_code_runs_bit_exact_on_the_m3(compiled, small_models):
    """No QEMU machine has a Cortex-M0+ (QEMU's only Armv6-M core, cortex-m0, sits on the micro:bit
    with 16 KB of RAM). Armv6-M code is a subset of Armv7-M, so the firmware built with
    -mcpu=cortex-m0plus (no DSP, no FPU, no hardware divide) runs on the an385's Cortex-M3: the
    runtime builds -Werror clean for the M0+ and its code gives the interpreter's bytes. (The
    count is that of the Armv6-M instruction stream, not of M0+ cycles: not reported.)"""
    c = compiled.get("depthwise", small_models["depthwise"])
    target = qemu_target("qemu-m3")
    spec = replace(firmware_build(c.info, target), core=CoreFlags("cortex-m0plus", "none"))
    elf = c.info.out_dir / "build" / "cortex-m0plus-on-m3" / f"{c.info.prefix}.elf"
    build_elf(spec, elf)
    attrs = subprocess.run(["arm-none-eabi-readelf", "-A", str(elf)], capture_output=True, text=True, check=True).stdout
    assert "Tag_CPU_arch: v6S-M" in attrs and "Tag_FP_arch" not in attrs
    g = c.graph
    x = random_input(g.inputs[0], np.random.default_rng(4))
    expected = run_graph(g, {g.inputs[0].onnx_name: x})[g.outputs[0].onnx_name]
    got = run_elf(elf, target, x.tobytes(), c.info.output.nbytes)
    assert got.output == expected.tobytes()


# --- the command line -----------------------------------------------------------------

def test_run_json_reports_instructions_and_firmware_size(compiled, small_models, tmp_path):
    c = compiled.get("int8_fc", small_models["int8_fc"])
    x = random_input(c.graph.inputs[0], np.random.default_rng(0))
    np.save(tmp_path / "x.npy", x)
    result = CliRunner().invoke(cli, ["run", str(c.info.out_dir), "--target", "qemu-m4", "--input", str(tmp_path / "x.npy"),
                                      "--output", str(tmp_path / "y.npy"), "--json", "--timeout", "60"])
    assert result.exit_code == 0, result.output
    line = json.loads(result.stdout.strip().splitlines()[-1])
    assert list(line) == ["target", "output", "invoke_ns", "instructions", "flash_bytes", "ram_bytes", "firmware_includes",
                          "arena_bytes"]
    size = subprocess.run(["arm-none-eabi-size", "-B", "-d", str(c.info.out_dir / "build/qemu-m4/model.elf")],
                          capture_output=True, text=True, check=True).stdout.splitlines()[1].split()
    text, data, bss = (int(v) for v in size[:3])
    assert line["target"] == "qemu-m4" and line["invoke_ns"] is None and line["arena_bytes"] == c.info.arena_bytes
    assert line["flash_bytes"] == text + data and line["ram_bytes"] == data + bss
    assert line["instructions"] > 0 and line["instructions"] % 40 == 0
    expected = run_graph(c.graph, {c.graph.inputs[0].onnx_name: x})[c.graph.outputs[0].onnx_name]
    assert np.load(tmp_path / "y.npy").tobytes() == expected.tobytes()
    fw = json.loads((c.info.out_dir / "report.json").read_text())["firmware"]["qemu-m4"]
    assert (fw["flash_bytes"], fw["ram_bytes"], fw["optimization"]) == (text + data, data + bss, "-O2")


def test_firmware_is_built_once(compiled, small_models):
    c = compiled.get("int8_conv", small_models["int8_conv"])
    x = random_input(c.graph.inputs[0], np.random.default_rng(1))
    first, second = [], []
    TARGETS["qemu-m7"].run(c.info, x, first.append)
    TARGETS["qemu-m7"].run(c.info, x, second.append)
    assert len(first) <= 1 and second == []
