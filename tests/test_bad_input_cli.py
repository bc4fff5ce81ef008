"""Every mistake a user can make on the command line ends as one `error: ...` line on
stderr and exit code 2, never a traceback: bad .npy inputs, output directories that are
not tinyc's (or are from another tinyc), unwritable paths, bad option values, a missing
PlatformIO, a broken model; and a model that does not fit says by how much."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import helper

from tinycc_ml import __version__
from tinycc_ml.boards import load_board
from tinycc_ml.cli import main
from tinycc_ml.compiler import footprint_overflow
from tinycc_ml.targets.arm_build import FirmwareSize
from tinycc_ml.targets.footprint import Footprint

DIGITS = Path(__file__).resolve().parents[1] / "examples" / "digits" / "digits_int8.onnx"


def tinyc(*args: object):
    # catch_exceptions=False: a traceback fails the test instead of hiding in result.exception
    return CliRunner().invoke(main, [str(a) for a in args], prog_name="tinyc", catch_exceptions=False)


def fails_with(result, message: str) -> None:
    assert (result.exit_code, result.stderr) == (2, f"error: {message}\n")


@pytest.fixture(scope="module")
def digits_out(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("digits") / "out"
    result = tinyc("compile", DIGITS, "-o", out, "--no-firmware-size")
    assert result.exit_code == 0, result.stderr
    return out


def run(out: Path, x: Path, y: Path):
    return tinyc("run", out, "--input", x, "--output", y)


# ---- tinyc run: the input ---------------------------------------------------------------------


def test_run_with_a_missing_input(digits_out, tmp_path):
    fails_with(run(digits_out, tmp_path / "x.npy", tmp_path / "y.npy"), f"input file {tmp_path / 'x.npy'} does not exist")


def test_run_with_a_directory_as_input(digits_out, tmp_path):
    fails_with(run(digits_out, tmp_path, tmp_path / "y.npy"), f"input {tmp_path} is not a file")


def test_run_with_a_file_that_is_not_npy(digits_out, tmp_path):
    (tmp_path / "x.npy").write_text("1 2 3\n")
    fails_with(run(digits_out, tmp_path / "x.npy", tmp_path / "y.npy"),
               f"cannot read input {tmp_path / 'x.npy'}: it is not a .npy file (numpy.save writes them)")


def test_run_with_a_truncated_npy(digits_out, tmp_path):
    np.save(tmp_path / "full.npy", np.zeros((1, 1, 8, 8), np.float32))
    (tmp_path / "x.npy").write_bytes((tmp_path / "full.npy").read_bytes()[:100])
    result = run(digits_out, tmp_path / "x.npy", tmp_path / "y.npy")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: cannot read input {tmp_path / 'x.npy'}: ")  # then numpy's reason
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_run_with_pickled_objects(digits_out, tmp_path):
    np.save(tmp_path / "x.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    fails_with(run(digits_out, tmp_path / "x.npy", tmp_path / "y.npy"),
               f"cannot read input {tmp_path / 'x.npy'}: Object arrays cannot be loaded when allow_pickle=False")


@pytest.mark.parametrize(("array", "got"), [
    (np.zeros((1, 1, 8, 8), np.int8), "int8 [1, 1, 8, 8]"),
    (np.zeros((1, 64), np.float32), "float32 [1, 64]"),
    (np.zeros((1, 1, 8, 8), np.float64), "float64 [1, 1, 8, 8]"),
])
def test_run_with_a_wrong_dtype_or_shape(digits_out, tmp_path, array, got):
    np.save(tmp_path / "x.npy", array)
    fails_with(run(digits_out, tmp_path / "x.npy", tmp_path / "y.npy"), f"input 'input' must be float32 [1, 1, 8, 8], got {got}")
    assert not (tmp_path / "y.npy").exists()


def test_run_to_an_unwritable_output(digits_out, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((1, 1, 8, 8), np.float32))
    y = tmp_path / "no" / "such" / "dir" / "y.npy"
    fails_with(run(digits_out, tmp_path / "x.npy", y), f"cannot write the output {y}: directory {y.parent} does not exist")
    (tmp_path / "file").write_text("")
    y = tmp_path / "file" / "y.npy"
    fails_with(run(digits_out, tmp_path / "x.npy", y), f"cannot write the output {y}: {tmp_path / 'file'} is not a directory")


# ---- tinyc run: the output directory ----------------------------------------------------------


@pytest.fixture
def x_npy(tmp_path) -> Path:
    np.save(tmp_path / "x.npy", np.zeros((1, 1, 8, 8), np.float32))
    return tmp_path / "x.npy"


def test_run_in_a_directory_with_someone_elses_report_json(tmp_path, x_npy):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "report.json").write_text('{"coverage": 93}\n')
    fails_with(run(tmp_path / "out", x_npy, tmp_path / "y.npy"),
               f"{tmp_path / 'out' / 'report.json'} (not written by tinyc) cannot be read by tinyc {__version__}: field "
               f"'prefix' is missing or not a str; recompile the model with `tinyc compile MODEL -o {tmp_path / 'out'}`")


def test_run_with_a_report_json_that_is_not_json(tmp_path, x_npy):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "report.json").write_text("<html>\n")
    fails_with(run(tmp_path / "out", x_npy, tmp_path / "y.npy"),
               f"{tmp_path / 'out' / 'report.json'} is not a report.json written by `tinyc compile` (Expecting value: "
               f"line 1 column 1 (char 0)); recompile the model into {tmp_path / 'out'}")


def test_run_with_a_report_json_from_another_version(digits_out, tmp_path, x_npy):
    old = tmp_path / "old"
    shutil.copytree(digits_out, old)
    report = json.loads((old / "report.json").read_text())
    report["tinyc_version"] = "0.0.1"
    report["input"] = {"name": "input", "type": "float32", "dims": [1, 1, 8, 8]}  # an imagined older spelling
    (old / "report.json").write_text(json.dumps(report))
    fails_with(run(old, x_npy, tmp_path / "y.npy"),
               f"{old / 'report.json'} (written by tinyc 0.0.1) cannot be read by tinyc {__version__}: input must have "
               f"a name and a dtype (int8 or uint8 or float32); recompile the model with `tinyc compile MODEL -o {old}`")
    report["input"] = {"name": "input", "dtype": "float32", "shape": [1, 0, 8, 8]}
    (old / "report.json").write_text(json.dumps(report))
    fails_with(run(old, x_npy, tmp_path / "y.npy"),
               f"{old / 'report.json'} (written by tinyc 0.0.1) cannot be read by tinyc {__version__}: input shape "
               f"[1, 0, 8, 8] is not a list of positive integers; recompile the model with `tinyc compile MODEL -o {old}`")


def test_run_with_a_file_as_output_directory(tmp_path, x_npy):
    (tmp_path / "out").write_text("")
    fails_with(run(tmp_path / "out", x_npy, tmp_path / "y.npy"),
               f"invalid value for 'OUT_DIR': Directory '{tmp_path / 'out'}' is a file (see `tinyc run --help`)")


# ---- tinyc compile / verify / report / flash ----------------------------------------------------


def test_compile_a_directory(tmp_path):
    fails_with(tinyc("compile", tmp_path, "-o", tmp_path / "out"),
               f"invalid value for 'MODEL': File '{tmp_path}' is a directory (see `tinyc compile --help`)")


def test_compile_into_an_unwritable_place(tmp_path):
    (tmp_path / "file").write_text("")
    out = tmp_path / "file" / "out"
    fails_with(tinyc("compile", DIGITS, "-o", out, "--no-firmware-size"),
               f"cannot write the output directory {out}: Not a directory ({out / 'src'})")


def test_compile_ignores_a_hand_edited_manifest(tmp_path):
    """The manifest lists the files a recompile may delete: a broken one deletes nothing."""
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "precious.txt").write_text("keep me")
    (out / ".tinyc_manifest.json").write_text('["../precious.txt", "/etc/hostname", 3]')
    assert tinyc("compile", DIGITS, "-o", out, "--no-firmware-size").exit_code == 0
    (out / ".tinyc_manifest.json").write_text("{not json")
    assert tinyc("compile", DIGITS, "-o", out, "--no-firmware-size").exit_code == 0
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_verify_zero_inputs():
    fails_with(tinyc("verify", DIGITS, "--inputs", "0"),
               "invalid value for '--inputs': 0 is not in the range x>=1 (see `tinyc verify --help`)")


def test_verify_an_unknown_board_before_any_work():
    result = tinyc("verify", DIGITS, "--board", "stm32f999")
    fails_with(result, "unknown board 'stm32f999'; known boards: disco_f412zg, nucleo_f446re, nucleo_h743zi, "
                       "nucleo_l4r5zi, nucleo_u575zi_q, qemu_m3, qemu_m33, qemu_m4, qemu_m7, stm32f746")


def test_flash_without_platformio(digits_out, monkeypatch):
    monkeypatch.setitem(sys.modules, "platformio", None)  # import platformio -> ImportError
    fails_with(tinyc("flash", digits_out), "PlatformIO is not installed; install it with `pip install platformio` "
                                           "(and `pip install scons` to build offline)")


def test_flash_a_missing_directory(tmp_path):
    fails_with(tinyc("flash", tmp_path / "out"),
               f"invalid value for 'OUT_DIR': Directory '{tmp_path / 'out'}' does not exist (see `tinyc flash --help`)")


def test_report_on_a_file_that_is_not_onnx(tmp_path):
    (tmp_path / "m.onnx").write_bytes(b"\x08\x07garbage")
    fails_with(tinyc("report", tmp_path / "m.onnx"), f"{tmp_path / 'm.onnx'} is not a valid ONNX model (onnx.load failed: DecodeError)")


def test_report_on_a_model_with_stride_zero(tmp_path):
    m = onnx.load(str(DIGITS))
    conv = next(n for n in m.graph.node if n.name == "conv2")
    keep = [a for a in conv.attribute if a.name != "strides"]
    del conv.attribute[:]
    conv.attribute.extend([*keep, helper.make_attribute("strides", [0, 1])])
    onnx.save(m, tmp_path / "m.onnx")
    fails_with(tinyc("report", tmp_path / "m.onnx"),
               "node 'conv2' (Conv): strides [0, 1] must be 2 positive integers (one per spatial axis)")


def test_report_html_to_an_unwritable_place(tmp_path):
    (tmp_path / "file").write_text("")
    html = tmp_path / "file" / "sub" / "plan.html"
    result = tinyc("report", DIGITS, "--html", html)
    fails_with(result, f"cannot write the report {html}: {tmp_path / 'file'} is not a directory")
    assert result.stdout == ""  # checked before any work


def test_unknown_command_and_missing_option():
    fails_with(tinyc("compil"), "no such command 'compil'. Did you mean 'compile'? (see `tinyc --help`)")
    fails_with(tinyc("run", "out", "--input", "x.npy"), "missing option '--output' (see `tinyc run --help`)")


def test_no_arguments_still_shows_the_help():
    result = tinyc()
    assert result.stderr.startswith("Usage: tinyc [OPTIONS] COMMAND [ARGS]...\n\n  tinyc: compile int8-quantized")


# ---- does not fit: by how much, and what would help ---------------------------------------------


def test_firmware_footprint_over_flash_and_sram():
    """The arena and weights messages are in test_cli.py; this is the measured-firmware one."""
    board = load_board("nucleo_f446re")
    over = Footprint("cortex-m4", FirmwareSize(text=500_000, data=30_000, bss=140_000))
    assert str(footprint_overflow(over, board)) == (
        "model does not fit board nucleo_f446re once built for cortex-m4: code + constants 530,000 B exceed the "
        "512 KB flash by 5,712 B; static RAM 170,000 B exceeds the 128 KB SRAM by 38,928 B; use a board with more "
        "memory, or --allow-overflow to emit the code anyway")
    assert footprint_overflow(Footprint("cortex-m4", FirmwareSize(text=1000, data=0, bss=0)), board) is None
    assert footprint_overflow(Footprint("cortex-m4", None, "arm-none-eabi-gcc not found"), board) is None
