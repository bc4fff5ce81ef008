"""The `tinyc` command line: exact messages and exit codes, and kws end to end
(compile, run on the host, byte-for-byte equal to the interpreter)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
import re

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper

from codegen_support import MODELS
from tinycc_ml.cli import main

KWS = MODELS / "kws.tf2onnx_int8.onnx"
needs_models = pytest.mark.skipif(not KWS.is_file(), reason=f"MLPerf Tiny models not found at {MODELS}")
KNOWN = ("disco_f412zg, nucleo_f446re, nucleo_h743zi, nucleo_l4r5zi, nucleo_u575zi_q, qemu_m3, qemu_m33, qemu_m4, "
         "qemu_m7, stm32f746")


def tinyc(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def without_progress(stderr: str) -> str:
    """stderr without the progress lines of steps that ran slow (a loaded machine may take over
    a second to import even a small model; see tinycc_ml/progress.py)."""
    return "".join(line for line in stderr.splitlines(keepends=True) if not line.rstrip("\n").endswith(" ..."))


def reshape_model(path, n: int) -> None:
    """int8 [1, n] -> DequantizeLinear -> Reshape [n/100, 100] -> QuantizeLinear: an n-byte arena, no weights."""
    init = [numpy_helper.from_array(np.array(0.5, np.float32), "s"),
            numpy_helper.from_array(np.array(-3, np.int8), "zp"),
            numpy_helper.from_array(np.array([n // 100, 100], np.int64), "shape")]
    nodes = [helper.make_node("DequantizeLinear", ["x", "s", "zp"], ["xf"]),
             helper.make_node("Reshape", ["xf", "shape"], ["yf"]),
             helper.make_node("QuantizeLinear", ["yf", "s", "zp"], ["y"])]
    g = helper.make_graph(nodes, "reshape", [helper.make_tensor_value_info("x", TensorProto.INT8, [1, n])],
                          [helper.make_tensor_value_info("y", TensorProto.INT8, [n // 100, 100])], init)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)


def test_help_explains_options_and_default_board():
    result = tinyc("compile", "--help")
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert "the default stm32f746 is the STM32F746G-DISCO" in text
    for option in ("--board", "--output", "--name", "--planner", "--allow-overflow", "--dump-ir"):
        assert option in text
    assert "--target [host" in " ".join(tinyc("run", "--help").stdout.split())


def test_boards_table():
    result = tinyc("boards")
    lines = result.stdout.splitlines()
    assert result.exit_code == 0 and lines[0].split()[:5] == ["board", "core", "clock", "SRAM", "flash"]
    assert lines[-1].startswith("default: stm32f746 (STM32F746G-DISCO")
    assert [line.split()[0] for line in lines[1:-1]] == KNOWN.split(", ")
    assert lines[-2].split()[:5] == ["stm32f746", "cortex-m7", "216", "MHz", "320"]
    # the core without DSP or FPU, where the portable kernels run
    m3 = next(line for line in lines if line.startswith("qemu_m3 ")).split()
    assert m3[:10] == ["qemu_m3", "cortex-m3", "25", "MHz", "4", "MB", "4", "MB", "no", "none"]


def test_unknown_board_lists_known_ones(tmp_path):
    result = tinyc("compile", tmp_path / "m.onnx", "--board", "stm32f999", "-o", tmp_path / "out")
    assert result.exit_code == 2
    assert result.stderr == f"error: unknown board 'stm32f999'; known boards: {KNOWN}\n"
    assert result.stdout == ""


def test_missing_model_file(tmp_path):
    result = tinyc("compile", tmp_path / "m.onnx", "-o", tmp_path / "out")
    assert (result.exit_code, result.stderr) == (2, f"error: model file {tmp_path / 'm.onnx'} does not exist\n")


def test_model_too_big_says_by_how_much(tmp_path):
    reshape_model(tmp_path / "big.onnx", 200_000)
    result = tinyc("compile", tmp_path / "big.onnx", "--board", "nucleo_f446re", "-o", tmp_path / "out")
    assert result.exit_code == 2
    assert without_progress(result.stderr) == (
        "error: model does not fit board nucleo_f446re: arena 200,000 B exceeds the 128 KB SRAM by 68,928 B; "
        "use a board with more SRAM (it fits on disco_f412zg, nucleo_h743zi, nucleo_l4r5zi, nucleo_u575zi_q, "
        "qemu_m3, qemu_m33, qemu_m4, qemu_m7, stm32f746), or --allow-overflow to emit the code anyway\n")
    assert not (tmp_path / "out").exists()
    result = tinyc("compile", tmp_path / "big.onnx", "--board", "nucleo_f446re", "-o", tmp_path / "out", "--allow-overflow")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert "  DOES NOT FIT: arena 200,000 B of 128 KB SRAM (152.6 %), weights 0 B of 512 KB flash" in lines
    assert lines[-1] == (
        "  warning: model does not fit board nucleo_f446re once built for cortex-m4: static RAM 200,004 B "
        "exceeds the 128 KB SRAM by 68,932 B; use a board with more memory, or --allow-overflow to emit the "
        "code anyway")
    assert json.loads((tmp_path / "out/report.json").read_text())["fits"] is False


def test_alias_only_model_end_to_end(tmp_path):
    """Frontend -> C -> host for a model whose only op is an alias (no kernel at all)."""
    reshape_model(tmp_path / "r.onnx", 300)
    result = tinyc("compile", tmp_path / "r.onnx", "-o", tmp_path / "out", "--name", "tiny")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[1:] == [
        "  ops: 1 (0 kernel calls), MACs: 0",
        "  arena: 300 B (layer-wise peak without overlap credit 300 B, planner greedy_by_size), "
        "weights (model constants only): 0 B",
        "  memory: lower bound 300 B (arena +0 B), best layer-wise 300 B (graph order, proven), 0 overlaps",
        "  live bytes per step: █ peak 300 B at step 0",
        "  fits: arena 300 B of 320 KB SRAM (0.1 %), weights 0 B of 1 MB flash",
        "  on cortex-m7 (model + runtime, -O2): flash 412 B of 1 MB, RAM 304 B of 320 KB",  # RAM: arena + init flag
        # no kernel: the glue and the memcpy that copies the input to the output
        "  runtime code on cortex-m7: 412 B (kernels 0 + generated glue 104 + library 308; weights and parameters "
        "excluded)",
    ]
    x = (np.arange(300) % 256 - 128).astype(np.int8).reshape(1, 300)
    np.save(tmp_path / "x.npy", x)
    result = tinyc("run", tmp_path / "out", "--input", tmp_path / "x.npy", "--output", tmp_path / "y.npy")
    assert result.exit_code == 0, result.stderr
    assert np.load(tmp_path / "y.npy").tobytes() == x.tobytes()
    assert result.stderr == f"building {tmp_path / 'out/build/host/tiny_host'}\n"


def test_run_outside_an_output_dir(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros(3, np.int8))
    result = tinyc("run", tmp_path, "--input", tmp_path / "x.npy", "--output", tmp_path / "y.npy")
    assert result.exit_code == 2
    assert result.stderr == f"error: {tmp_path} is not a tinyc output directory (no report.json); run `tinyc compile` first\n"


# --- kws, end to end -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kws_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("kws") / "out"
    result = tinyc("compile", KWS, "--board", "stm32f746", "-o", out)
    assert result.exit_code == 0, result.stderr
    return out, result.stdout


@needs_models
@pytest.mark.models
def test_kws_compile_summary(kws_out):
    out, stdout = kws_out
    # The arena (overlaps included) is asserted in test_memory_models.py; here: the summary says it.
    r = json.loads((out / "report.json").read_text())
    arena, n = r["arena_bytes"], len(r["overlaps"])
    lines = stdout.splitlines()[1:]
    assert lines[:3] == [
        "  ops: 14 (12 kernel calls), MACs: 2,656,768",
        f"  arena: {arena:,} B (layer-wise peak without overlap credit 16,448 B, planner {r['planner']}), "
        "weights (model constants only): 61,012 B",
        f"  memory: lower bound {r['lower_bound_bytes']:,} B (arena +{arena - r['lower_bound_bytes']:,} B), "
        f"best layer-wise 16,448 B (graph order, proven), {n} overlap{'' if n == 1 else 's'}",
    ]
    assert lines[3].startswith("  live bytes per step: ") and lines[3].endswith(" peak 16,448 B at step 2")
    # Static RAM: the arena and the model's initialised flag (4 B); flash: code + constants.
    assert lines[4:] == [
        f"  fits: arena {arena:,} B of 320 KB SRAM ({100 * arena / 327680:.1f} %), weights 61,012 B of 1 MB flash",
        "  of the weights, 22,016 B are the int16 copies the DSP kernels run faster on (the board's flash has room; "
        "int8 weights otherwise)",
        f"  on cortex-m7 (model + runtime, -O2): flash 72,676 B of 1 MB, RAM {arena + 4:,} B of 320 KB",
        "  runtime code on cortex-m7: 11,596 B (kernels 10,676 + generated glue 612 + library 308; weights and "
        "parameters excluded)",
    ]


@needs_models
@pytest.mark.models
def test_kws_report_matches_the_generated_c(kws_out):
    out, _ = kws_out
    report = json.loads((out / "report.json").read_text())
    for key in ("model", "board", "arena_bytes", "layerwise_peak_bytes", "weights_bytes", "macs", "ops", "schedule", "buffers"):
        assert key in report
    assert (report["model"], report["board"]) == ("kws.tf2onnx_int8.onnx", "stm32f746")
    model_c = (out / "src/model.c").read_text()
    (arena,) = re.findall(r"static uint8_t model_arena\[(\d+)\]", model_c)
    assert report["arena_bytes"] == int(arena) <= report["layerwise_peak_bytes"] == 16448
    assert f"#define MODEL_ARENA_BYTES {arena}" in (out / "src/model.h").read_text()
    # weights_bytes: every const array in model_weights.c + every int32 of the param structs.
    sizes = {"int8_t": 1, "int32_t": 4}
    arrays = re.findall(r"^const (int8_t|int32_t) \w+\[(\d+)\] = \{", (out / "src/model_weights.c").read_text(), re.M)
    params = re.findall(r"^static const tinyc_\w+ \w+ = (\{.*\});$", model_c, re.M)
    ints = sum(len(re.findall(r"-?\d+", p.replace("(-2147483647 - 1)", "0"))) for p in params)
    assert report["weights_bytes"] == sum(sizes[t] * int(n) for t, n in arrays) + 4 * ints == 61012
    # four pointwise 64->64 layers, the FC, the first conv (64 channels x 10x4 taps) and the four 3x3
    # depthwise layers (tinyc_depthwise_conv_inplace_c4_w16_s8)
    assert report["int16_weights_extra_bytes"] == 4 * 64 * 64 + 64 * 12 + 64 * 40 + 4 * 64 * 9
    # conv param structs carry all four pads and row strides; the DSP variants add requant tables (the pointwise
    # ones with the proved tail's bias, multiplier, k and shift per channel: 4 x 1,028 B); the pointwise layers int16 weights (+16,384 B)
    assert report["macs"] == sum(op["macs"] for op in report["ops"]) == 2656768
    assert report["schedule"] == [op["name"] for op in report["ops"]]
    kinds = [op["kind"] for op in report["ops"]]
    assert kinds.count("Conv2d") == 9 and kinds[0] == "Reshape" and report["ops"][0]["kernel"] == "alias"
    assert report["ops"][-1]["kernel"] == "tinyc_softmax_s8" and report["ops"][-1]["output_bytes"] == 12
    assert report["input"] == {"name": "input_1", "dtype": "int8", "shape": [1, 49, 10, 1],
                               "scale": report["input"]["scale"], "zero_point": 83}
    # buffers: sound (no two live ones share a byte unless an overlap fact allows it) and within the arena
    bufs = report["buffers"]
    assert max(b["offset"] + b["size"] for b in bufs) == report["arena_bytes"]
    owner = {t: b["name"] for b in bufs for t in b["tensors"]}
    allowed = {(owner[o["input"]], owner[o["output"]]): o["min_distance"] for o in report["overlaps"]}
    offset = {b["name"]: b["offset"] for b in bufs}
    for i, a in enumerate(bufs):
        for b in bufs[i + 1:]:
            live = a["first"] <= b["last"] and b["first"] <= a["last"]
            apart = a["offset"] + a["size"] <= b["offset"] or b["offset"] + b["size"] <= a["offset"]
            fact = any(key in allowed and offset[key[0]] - offset[key[1]] >= allowed[key]
                       for key in ((a["name"], b["name"]), (b["name"], a["name"])))
            assert not live or apart or fact


@needs_models
@pytest.mark.models
def test_kws_run_equals_interpreter(kws_out, tmp_path):
    from tinycc_ml.frontend.onnx_import import load_model
    from tinycc_ml.interp import run_graph

    out, _ = kws_out
    graph = load_model(KWS)
    rng = np.random.default_rng(7)
    for i in range(3):
        x = rng.integers(-128, 128, size=(1, 49, 10, 1)).astype(np.int8)
        np.save(tmp_path / "x.npy", x)
        result = tinyc("run", out, "--target", "host", "--input", tmp_path / "x.npy", "--output", tmp_path / "y.npy", "--json")
        assert result.exit_code == 0, result.stderr
        last = json.loads(result.stdout.splitlines()[-1])
        assert set(last) == {"target", "output", "invoke_ns", "arena_bytes"}
        arena = json.loads((out / "report.json").read_text())["arena_bytes"]
        assert (last["target"], last["output"], last["arena_bytes"]) == ("host", str(tmp_path / "y.npy"), arena)
        assert last["invoke_ns"] > 0
        y = np.load(tmp_path / "y.npy")
        expected = run_graph(graph, {"input_1": x})["Identity"]
        assert y.dtype == np.int8 and y.shape == (1, 12)
        assert y.tobytes() == expected.tobytes()


@needs_models
@pytest.mark.models
def test_kws_builds_under_sanitizers(kws_out):
    from tinycc_ml.frontend.onnx_import import load_model
    from tinycc_ml.interp import run_graph
    from tinycc_ml.targets import host, read_build_info

    out, _ = kws_out
    info = read_build_info(out)
    exe = host.build(info, sanitize=True)
    assert exe == out / "build/host-sanitize/model_host"
    x = np.random.default_rng(3).integers(-128, 128, size=(1, 49, 10, 1)).astype(np.int8)
    y, _ = host.run_executable(exe, info, x)
    assert y.tobytes() == run_graph(load_model(KWS), {"input_1": x})["Identity"].tobytes()


@needs_models
@pytest.mark.models
@pytest.mark.parametrize("array, got", [
    (np.zeros((1, 49, 10), np.int8), "int8 [1, 49, 10]"),
    (np.zeros((1, 49, 10, 1), np.float32), "float32 [1, 49, 10, 1]"),
])
def test_run_rejects_a_wrong_input(kws_out, tmp_path, array, got):
    out, _ = kws_out
    np.save(tmp_path / "x.npy", array)
    result = tinyc("run", out, "--input", tmp_path / "x.npy", "--output", tmp_path / "y.npy")
    assert result.exit_code == 2
    assert result.stderr == f"error: input 'input_1' must be int8 [1, 49, 10, 1], got {got}\n"
    assert not (tmp_path / "y.npy").exists()


@needs_models
@pytest.mark.models
def test_dump_ir_after_layout(tmp_path):
    result = tinyc("compile", KWS, "-o", tmp_path / "out", "--dump-ir", "layout")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "# IR of kws.tf2onnx_int8 after layout"
    assert sum("order(0, 2, 3, 1)" in line for line in lines) == 11  # the reshaped input, 9 conv outputs, pool


@needs_models
@pytest.mark.models
def test_verify_kws(tmp_path):
    result = tinyc("verify", KWS, "--inputs", "2", "--seed", "1")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split(",")[0] for line in lines[:2]] == [
        "input 0: interpreter vs host equal", "input 1: interpreter vs host equal"]
    assert lines[-1].startswith("OK: 2/2 inputs bit-exact (interpreter == host) for kws.tf2onnx_int8.onnx on stm32f746")
    assert "input 2/2" in result.stderr  # progress goes to stderr


@needs_models
@pytest.mark.models
def test_verify_mismatch_exits_1(monkeypatch):
    import tinycc_ml.interp

    real = tinycc_ml.interp.run_graph

    def off_by_one(graph, inputs):
        return {k: (v.astype(np.int16) + 1).clip(-128, 127).astype(np.int8) if v.dtype == np.int8 else v
                for k, v in real(graph, inputs).items()}

    monkeypatch.setattr(tinycc_ml.interp, "run_graph", off_by_one)
    result = tinyc("verify", KWS, "--inputs", "1")
    assert result.exit_code == 1
    assert re.match(r"input 0: interpreter vs host MISMATCH in \d+ of 12 elements", result.stdout.splitlines()[0])
    assert result.stdout.splitlines()[-1].startswith("FAILED: 0/1 inputs bit-exact")


@pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                    reason="needs qemu-system-arm and arm-none-eabi-gcc (make setup-system)")
def test_verify_on_host_and_both_emulated_cores():
    digits = Path(__file__).resolve().parents[1] / "examples" / "digits" / "digits_int8.onnx"
    result = tinyc("verify", digits, "--inputs", "2", "--target", "host", "--target", "qemu-m7", "--target", "qemu-m4")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split(", onnx")[0] for line in lines[:2]] == [
        "input 0: interpreter vs host equal, qemu-m7 equal, qemu-m4 equal",
        "input 1: interpreter vs host equal, qemu-m7 equal, qemu-m4 equal"]
    assert lines[-1].startswith(
        "OK: 2/2 inputs bit-exact (interpreter == host == qemu-m7 == qemu-m4) for digits_int8.onnx on stm32f746")


def test_fit_messages_for_flash_and_both():
    from tinycc_ml.boards import load_board
    from tinycc_ml.compiler import Fit

    f446 = load_board("nucleo_f446re")
    fit = Fit(f446, 1000, 600_000)
    assert not fit.fits and (fit.arena_over, fit.weights_over) == (0, 75_712)
    assert str(fit.error()) == (
        "model does not fit board nucleo_f446re: weights 600,000 B exceed the 512 KB flash by 75,712 B; "
        "use a board with more flash (it fits on disco_f412zg, nucleo_h743zi, nucleo_l4r5zi, nucleo_u575zi_q, "
        "qemu_m3, qemu_m33, qemu_m4, qemu_m7, stm32f746), or --allow-overflow to emit the code anyway")
    both = Fit(load_board("stm32f746"), 600_000, 3_000_000)
    assert str(both.error()) == (
        "model does not fit board stm32f746: arena 600,000 B exceeds the 320 KB SRAM by 272,320 B; "
        "weights 3,000,000 B exceed the 1 MB flash by 1,951,424 B; use a board with more SRAM and flash "
        "(it fits on qemu_m3, qemu_m33, qemu_m4, qemu_m7), or --allow-overflow to emit the code anyway")
    assert Fit(f446, 12_345, 52_001).summary() == "fits: arena 12,345 B of 128 KB SRAM (9.4 %), weights 52,001 B of 512 KB flash"
    h7 = Fit(load_board("nucleo_h743zi"), 600_000, 0)
    assert h7.arena_over == 600_000 - 524_288  # one array: only the 512 KB AXI SRAM region counts
