"""Per-op profile (`tinyc run --target qemu-m7|qemu-m4 --profile`): a row for every step of the
schedule, rows that add up to the unprofiled firmware's whole-invoke count within the timer's
resolution, the JSON rows, an unchanged arena, and the board main's side of the same hook."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner

import frontend_support as fs
from tinycc_ml.cli import main as cli
from tinycc_ml.compiler import CompileOptions, compile_model, import_model
from tinycc_ml.errors import BuildError, TinycError
from tinycc_ml.interp import run_graph
from tinycc_ml.ir.graph import Graph
from tinycc_ml.targets import read_build_info
from tinycc_ml.targets.arm_build import ElfBuild, build_elf
from tinycc_ml.targets.profile import RESOLUTION, OpInfo, parse_profile, profile_lines, read_ops, run_profile
from tinycc_ml.targets.qemu import PROFILE_DEFINE, platform_dir, qemu_target
from tinycc_ml.verification import random_input

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "examples" / "digits" / "digits_int8.onnx"
CORES = ("qemu-m7", "qemu-m4")
HAVE_TOOLS = shutil.which("arm-none-eabi-gcc") is not None and shutil.which("qemu-system-arm") is not None
# Under CI a missing toolchain fails the tests (the build raises), it does not skip them.
needs_qemu = pytest.mark.skipif(not HAVE_TOOLS and not os.environ.get("CI"),
                                reason="needs arm-none-eabi-gcc and qemu-system-arm (make setup-system)")

MODELS = {
    "digits": lambda: onnx.load(DIGITS),
    "conv_odd": lambda: fs.quantize(fs.conv_model((1, 3, 7, 5), out_ch=5, kernel=(3, 3), strides=[2, 2], pads=[1, 1, 1, 1])),
    "int8_fc": lambda: fs.qdq_fc_model(k=13, m=5),
    "digits_patched": lambda: onnx.load(DIGITS),  # compiled with --patch auto: a patch stage
}


class CompileCache(dict):
    """Each model compiled once per session (per xdist worker), on first use: name -> output directory."""

    def __init__(self, root: Path):
        super().__init__()
        self.root = root

    def __missing__(self, name: str) -> Path:
        onnx.save(MODELS[name](), self.root / f"{name}.onnx")
        patch = "auto" if name.endswith("_patched") else "off"
        compile_model(self.root / f"{name}.onnx", "stm32f746", self.root / name,
                      CompileOptions(measure_firmware=False, patch=patch))
        self[name] = self.root / name
        return self[name]


@pytest.fixture(scope="session")
def compiled(tmp_path_factory) -> CompileCache:
    return CompileCache(tmp_path_factory.mktemp("profile"))


def _graph(out_dir: Path) -> Graph:
    """The imported graph of the model compiled into out_dir (saved next to it as out_dir.onnx)."""
    return import_model(out_dir.parent / f"{out_dir.name}.onnx")


def _input(out_dir: Path, seed: int = 0) -> np.ndarray:
    return random_input(_graph(out_dir).inputs[0], np.random.default_rng(seed))


def _nm_size(elf: Path, symbol: str) -> int | None:
    out = subprocess.run(["arm-none-eabi-nm", "-S", str(elf)], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[3] == symbol:
            return int(parts[1], 16)
    return None


def _symbols(elf: Path) -> set[str]:
    out = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True, check=True).stdout
    return {line.split()[-1] for line in out.splitlines() if line.strip()}


@needs_qemu
@pytest.mark.parametrize("core", CORES)
@pytest.mark.parametrize("name", sorted(set(MODELS) - {"digits_patched"}))
def test_profile_has_every_step_and_sums_to_the_unprofiled_count(compiled, name, core):
    out = compiled[name]
    info = read_build_info(out)
    x = _input(out)
    result, profile = run_profile(info, x, None, target=core)
    report = json.loads((out / "report.json").read_text())
    assert [r.op.name for r in profile.rows] == report["schedule"]
    assert [r.op.step for r in profile.rows] == list(range(len(report["ops"])))
    for row, op in zip(profile.rows, report["ops"]):
        assert row.op.symbols == tuple(op["symbols"]) and row.op.macs == op["macs"] and row.instructions >= 0
        if op["symbols"]:
            assert "+".join(op["symbols"]) == op["kernel"]
    # Every step with a kernel call executes instructions; the sum is the whole invoke, within one tick per step.
    assert all(r.instructions > 0 for r in profile.rows if r.op.symbols)
    assert result.instructions == profile.unprofiled_instructions
    assert abs(profile.total_instructions - profile.unprofiled_instructions) <= RESOLUTION * len(profile.rows)
    assert 3 <= profile.mark_instructions <= 12  # a call, a timer load, a store and a return
    # The normal output is the interpreter's, and the profiled firmware computed the same bytes (run_profile checks).
    graph = _graph(out)
    expected = run_graph(graph, {graph.inputs[0].onnx_name: x})[graph.outputs[0].onnx_name]
    assert result.output.tobytes() == expected.tobytes()


@needs_qemu
@pytest.mark.parametrize("core", CORES)
def test_a_patch_stage_is_one_row_and_the_rows_still_sum_to_the_whole(compiled, core):
    """A patch stage runs its ops interleaved, region by region: the profile gives it one row
    (its ops' kernels and executed MACs, halos included), the other steps a row each, and the
    rows add up to the unprofiled count as for any model."""
    out = compiled["digits_patched"]
    report = json.loads((out / "report.json").read_text())
    staged = [op for op in report["ops"] if op["stage"] is not None]
    assert staged, "digits compiled with --patch auto has no patch stage"
    first, last, regions = staged[0]["stage"]["first"], staged[0]["stage"]["last"], staged[0]["stage"]["regions"]
    assert last > first and regions > 1 and [op["step"] for op in staged] == list(range(first, last + 1))
    result, profile = run_profile(read_build_info(out), _input(out), None, target=core)
    steps = [r.op.step for r in profile.rows]
    assert steps == [s for s in range(len(report["ops"])) if not first < s <= last]
    (stage,) = [r for r in profile.rows if r.op.step == first]
    body = report["ops"][first:last + 1]
    assert stage.op.kind == f"stage: {len(body)} ops x {regions} regions"
    assert stage.op.macs == sum(op["macs"] for op in body)
    assert stage.op.symbols == tuple(s for op in body for s in op["symbols"])
    assert stage.instructions > 0 and stage.op.name == body[-1]["name"]
    assert abs(profile.total_instructions - profile.unprofiled_instructions) <= RESOLUTION * len(profile.rows)
    assert result.instructions == profile.unprofiled_instructions


@needs_qemu
@pytest.mark.parametrize("core, tick", [("qemu-m33", 50), ("qemu-m3", 40)])
def test_profile_on_the_m33_and_the_m3(compiled, core, tick):
    """The profile on the other cores: 50 instructions per tick on the an505 (20 MHz timer), 40 on
    the an385; the rows still add up to the whole invoke within one tick per step."""
    out = compiled["digits"]
    info = read_build_info(out)
    result, profile = run_profile(info, _input(out), None, target=core)
    assert profile.resolution == tick and profile.as_json()["resolution_instructions"] == tick
    assert result.instructions == profile.unprofiled_instructions and result.instructions % tick == 0
    assert abs(profile.total_instructions - profile.unprofiled_instructions) <= tick * len(profile.rows)
    assert all(r.instructions > 0 for r in profile.rows if r.op.symbols)
    graph = _graph(out)
    expected = run_graph(graph, {graph.inputs[0].onnx_name: _input(out)})[graph.outputs[0].onnx_name]
    assert result.output.tobytes() == expected.tobytes()
    assert f"(CMSDK timer, {tick} instructions per tick;" in profile_lines(profile)[0]


@needs_qemu
def test_profile_build_keeps_the_arena_and_the_normal_build_has_no_hook(compiled):
    out = compiled["digits"]
    info = read_build_info(out)
    run_profile(info, _input(out), None, target="qemu-m7")
    normal, profiled = out / "build/qemu-m7/model.elf", out / "build/qemu-m7-profile/model.elf"
    assert _nm_size(normal, "model_arena") == _nm_size(profiled, "model_arena") == info.arena_bytes
    assert "model_profile_mark" in _symbols(profiled)
    assert "model_profile_mark" not in _symbols(normal) and "profile_ticks" not in _symbols(normal)
    c_text = (out / "src/model.c").read_text()
    steps = len(json.loads((out / "report.json").read_text())["ops"])
    assert [int(s) for s in re.findall(r"TINYC_PROFILE_MARK\((\d+)\);", c_text)] == list(range(steps + 1))
    assert "#define TINYC_PROFILE_MARK(step) ((void)0)" in c_text


@needs_qemu
def test_run_profile_json_and_table(compiled, tmp_path):
    out = compiled["conv_odd"]
    np.save(tmp_path / "x.npy", _input(out, seed=1))
    args = ["run", str(out), "--target", "qemu-m4", "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy"),
            "--profile"]
    result = CliRunner().invoke(cli, [*args, "--json"])
    assert result.exit_code == 0, result.output
    line = json.loads(result.stdout.strip().splitlines()[-1])
    assert list(line) == ["target", "output", "invoke_ns", "instructions", "flash_bytes", "ram_bytes",
                          "firmware_includes", "arena_bytes", "profile"]
    prof = line["profile"]
    assert list(prof) == ["target", "resolution_instructions", "mark_instructions", "instructions",
                          "unprofiled_instructions", "macs", "instructions_per_mac", "steps"]
    assert prof["target"] == "qemu-m4" and prof["resolution_instructions"] == 40
    assert prof["unprofiled_instructions"] == line["instructions"]
    steps = prof["steps"]
    report = json.loads((out / "report.json").read_text())
    assert [s["name"] for s in steps] == report["schedule"] and [s["step"] for s in steps] == list(range(len(steps)))
    for s in steps:
        assert list(s) == ["step", "name", "kind", "kernels", "output_shape", "macs", "instructions",
                           "instructions_per_mac", "share"]
        assert s["instructions_per_mac"] == (s["instructions"] / s["macs"] if s["macs"] else None)
        assert s["share"] == pytest.approx(s["instructions"] / prof["instructions"])
    assert prof["instructions"] == sum(s["instructions"] for s in steps)
    assert prof["macs"] == report["macs"] == sum(s["macs"] for s in steps)
    assert sum(s["share"] for s in steps) == pytest.approx(1.0)

    text = CliRunner().invoke(cli, args)
    assert text.exit_code == 0, text.output
    lines = text.stdout.splitlines()
    head = next(i for i, ln in enumerate(lines) if ln.startswith("step "))
    assert lines[head].split() == ["step", "node", "kind", "output", "kernel", "MACs", "instructions", "insn/MAC",
                                   "share"]
    body = lines[head + 2: head + 2 + len(steps)]
    for s, op, row in zip(steps, report["ops"], body):
        cells = row.split()
        assert s["output_shape"] == op["output_shape"] and s["kernels"] == op["symbols"]
        assert cells[0] == str(s["step"]) and cells[1] == s["name"] and f"{s['instructions']:,}" in cells
        assert cells[3] == "x".join(map(str, op["output_shape"]))
    assert lines[head + 3 + len(steps)].split()[:1] == ["total"]
    assert re.search(r"whole model_invoke\(\) in the normal build: [\d,]+ instructions", text.stdout)


def test_profile_on_the_host_is_an_error(tmp_path):
    out = tmp_path / "m"
    onnx.save(fs.qdq_fc_model(k=13, m=5), tmp_path / "m.onnx")
    compile_model(tmp_path / "m.onnx", "stm32f746", out, CompileOptions(measure_firmware=False))
    np.save(tmp_path / "x.npy", _input(out))
    result = CliRunner().invoke(cli, ["run", str(out), "--input", str(tmp_path / "x.npy"), "--output",
                                      str(tmp_path / "y.npy"), "--profile"])
    assert result.exit_code == 2
    assert ("error: --profile counts instructions on the emulated Cortex-M: use --target qemu-m7, qemu-m4, qemu-m33 or "
            "qemu-m3, not host") \
        in result.output
    assert "Traceback" not in result.output


def test_old_report_without_step_symbols_asks_for_a_recompile(tmp_path):
    out = tmp_path / "m"
    onnx.save(fs.qdq_fc_model(k=13, m=5), tmp_path / "m.onnx")
    compile_model(tmp_path / "m.onnx", "stm32f746", out, CompileOptions(measure_firmware=False))
    report = json.loads((out / "report.json").read_text())
    assert [op.step for op in read_ops(out)] == [op["step"] for op in report["ops"]] == list(range(len(report["ops"])))
    for op in report["ops"]:
        del op["symbols"]
    (out / "report.json").write_text(json.dumps(report))
    with pytest.raises(TinycError, match=r"has no per-step kernel symbols .*recompile the model"):
        read_ops(out)


def test_long_fused_names_are_shortened_for_the_table():
    op = OpInfo(0, "a/b/Relu;" + "x" * 30 + ";model/conv2d_3/Conv2D1_prequant", "Conv2d", ("tinyc_conv_s8",), 10, (1, 2))
    assert op.short_name == "model/conv2d_3/Conv2D1_prequant"
    op = OpInfo(0, "m/" + "y" * 60, "Conv2d", (), 0, (1,))
    assert op.short_name == "..." + "y" * 37 and len(op.short_name) == 40


def test_incomplete_profile_output_is_a_build_error():
    console = ("tinyc-qemu: instructions=800\ntinyc-qemu: profile calibration marks=64 instructions=440\n"
               "tinyc-qemu: profile step=0 instructions=400\n")
    assert parse_profile(console, 1, "qemu-m7") == (440 / 64, (400,))
    with pytest.raises(BuildError, match="printed 1 step counts, expected 2"):
        parse_profile(console, 2, "qemu-m7")


@needs_qemu
def test_board_main_prints_a_profile_per_step(compiled, tmp_path):
    """The PlatformIO board main's side of the hook, built with the QEMU board glue (the counter
    behind board_counter(); on an STM32 it is DWT->CYCCNT): a count for every step, which add up
    to the unprofiled board build's count within one tick per step."""
    out = compiled["conv_odd"]
    target = qemu_target("qemu-m7")
    firmware = platform_dir() / "firmware"
    sources = (*sorted((out / "src").glob("*.c")), out / "src/board/board_qemu.c", out / "src/board/test_input.c",
               out / "src/board/serial_protocol.c",
               *sorted((out / "lib/tinyc/src").glob("*.c")), firmware / "startup_mps2.c")
    counts = {}
    for profile in (False, True):
        spec = ElfBuild(sources=sources, include_dirs=(out / "src", out / "lib/tinyc/include", firmware),
                        core=target.core, ldscript=target.ldscript, lib_dirs=(platform_dir() / "ldscripts",),
                        defines=(PROFILE_DEFINE,) if profile else ())
        elf = tmp_path / ("profile" if profile else "normal") / "board.elf"
        build_elf(spec, elf)
        run = subprocess.run(target.command(elf), cwd=tmp_path, capture_output=True, text=True, timeout=120,
                             stdin=subprocess.DEVNULL)
        assert run.returncode == 0, run.stdout + run.stderr
        counts[profile] = run.stdout
    normal = int(re.search(r"^tinyc: instructions (\d+)\s*$", counts[False], re.MULTILINE).group(1))
    printed = counts[True]
    calibration = re.search(r"^tinyc: profile calibration marks (\d+) instructions (\d+)\s*$", printed, re.MULTILINE)
    steps = {int(m.group(1)): int(m.group(2))
             for m in re.finditer(r"^tinyc: profile step (\d+) instructions (\d+)\s*$", printed, re.MULTILINE)}
    n_steps = len(read_ops(out))
    assert calibration is not None and sorted(steps) == list(range(n_steps))
    mark = int(calibration.group(2)) / int(calibration.group(1))
    total = sum(max(0, round(v - mark)) for v in steps.values())
    assert abs(total - normal) <= RESOLUTION * n_steps
    assert re.search(r"^tinyc: output((?: -?\d+)+)\s*$", printed, re.MULTILINE).group(1) == \
        re.search(r"^tinyc: output((?: -?\d+)+)\s*$", counts[False], re.MULTILINE).group(1)
