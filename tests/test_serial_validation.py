"""Validation over the serial port, end to end without a board: the board firmware (the same
main, protocol and model sources the real board builds) runs on QEMU with its CMSDK UART0 on
a TCP socket, and `tinyc verify MODEL --port socket://...` sends inputs, compares every output
with the interpreter, and survives a corrupted frame, a dropped byte and a silent board."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner

import frontend_support as fs
from tinycc_ml.cli import main as cli
from tinycc_ml.compiler import CompileOptions, compile_model
from tinycc_ml.errors import BuildError, TinycError
from tinycc_ml.port_verification import load_inputs, verify_on_port
from tinycc_ml.targets.qemu_serial import build_serving_firmware, start_serving
from tinycc_ml.targets.serial_protocol import encode

DIGITS = Path(__file__).resolve().parents[1] / "examples" / "digits" / "digits_int8.onnx"
IN_CI = bool(os.environ.get("CI"))
TOOLS = ("arm-none-eabi-gcc", "qemu-system-arm")


@pytest.fixture(scope="module")
def tools() -> None:
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        if IN_CI:
            pytest.fail(f"{', '.join(missing)} missing (CI is set: a failure, not a skip)")
        pytest.skip(f"needs {', '.join(missing)} (make setup-system)")
    pytest.importorskip("serial", reason="needs pyserial (pip install '.[test]')")


def _serve(tmp_path_factory, model: Path, board: str = "stm32f746", target: str = "qemu-m7"):
    out = tmp_path_factory.mktemp("serve") / "out"
    compile_model(model, board, out, CompileOptions(measure_firmware=False))
    return start_serving(build_serving_firmware(out, target), target)


@pytest.fixture(scope="module")
def digits_board(tools, tmp_path_factory):
    qemu = _serve(tmp_path_factory, DIGITS)
    yield qemu
    qemu.stop()


@pytest.fixture(scope="module")
def float_model(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("float_model") / "conv.onnx"
    onnx.save(fs.quantize(fs.conv_model()), path)
    return path


def test_verify_port_on_qemu_uart(digits_board):
    result = CliRunner().invoke(cli, ["verify", str(DIGITS), "--port", digits_board.url, "--inputs", "3",
                                      "--timeout", "30"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 4
    for i, line in enumerate(lines[:3]):
        assert line.startswith(f"input {i}: interpreter vs board equal, ") and line.endswith(" instructions")
    assert lines[3].startswith(f"OK: 3/3 inputs bit-exact (interpreter == board on {digits_board.url}) for "
                               "digits_int8.onnx; ")
    assert "instructions per inference" in lines[3] and "resent" not in lines[3]


@pytest.mark.parametrize("target, board", [("qemu-m33", "qemu_m33"), ("qemu-m3", "qemu_m3")])
def test_verify_port_on_the_other_machines_uarts(tools, tmp_path_factory, target, board):
    """The an505's UART0 is elsewhere (its Secure alias 0x50200000) and its timer runs at 20 MHz
    (50 instructions per tick); the an385's Cortex-M3 runs the protocol without DSP or FPU."""
    qemu = _serve(tmp_path_factory, DIGITS, board, target)
    try:
        result = CliRunner().invoke(cli, ["verify", str(DIGITS), "--port", qemu.url, "--inputs", "2", "--timeout", "30"])
        assert result.exit_code == 0, result.output
        lines = result.stdout.splitlines()
        assert [line.split(", ")[0] for line in lines[:2]] == ["input 0: interpreter vs board equal",
                                                            "input 1: interpreter vs board equal"]
        counts = [int(line.rsplit(", ", 1)[1].split()[0].replace(",", "")) for line in lines[:2]]
        tick = 50 if target == "qemu-m33" else 40
        assert all(n > 0 and n % tick == 0 for n in counts), lines
        assert lines[2].startswith(f"OK: 2/2 inputs bit-exact (interpreter == board on {qemu.url})")
    finally:
        qemu.stop()


def test_corrupted_frame_is_rejected_and_resent(digits_board):
    def corrupt(i: int, payload: bytes) -> bytes | None:
        if i != 1:
            return None
        frame = bytearray(encode(b"I", payload))
        frame[7 + 5] ^= 0x40  # a payload byte: the CRC no longer matches
        return bytes(frame)

    result = verify_on_port(DIGITS, digits_board.url, 115200, 3, 1, None, lambda _: None, timeout_s=30,
                            frames=corrupt)
    assert result.ok
    assert [c.retries for c in result.checks] == [0, 1, 0]
    assert result.lines()[1].endswith(", resent 1x")
    assert result.lines()[-1].endswith("; 1 request resent")


def test_dropped_byte_is_detected_not_misread(digits_board):
    def drop(i: int, payload: bytes) -> bytes | None:
        frame = encode(b"I", payload)
        return frame[:20] + frame[21:] if i == 0 else None  # one byte lost on the wire

    result = verify_on_port(DIGITS, digits_board.url, 115200, 2, 2, None, lambda _: None, timeout_s=30,
                            frames=drop)
    assert result.ok and [c.retries for c in result.checks] == [1, 0]


def test_silent_board_times_out(tools, tmp_path_factory):
    qemu = _serve(tmp_path_factory, DIGITS)
    try:
        qemu.process.send_signal(signal.SIGSTOP)  # the firmware stops answering
        result = CliRunner().invoke(cli, ["verify", str(DIGITS), "--port", qemu.url, "--timeout", "0.5"])
        assert result.exit_code == 2
        assert result.stderr.splitlines()[-1] == (
            "error: the board gave no valid answer to a 'Q' request after 4 tries (no answer within 0.5 s; "
            "no answer within 0.5 s; no answer within 0.5 s; no answer within 0.5 s); is the firmware of this "
            "model running on it, at this baud rate?")
    finally:
        qemu.process.send_signal(signal.SIGCONT)
        qemu.stop()


def test_other_model_on_the_board_is_named(digits_board, float_model):
    with pytest.raises(TinycError) as err:
        verify_on_port(float_model, digits_board.url, 115200, 1, 0, None, lambda _: None, timeout_s=30)
    assert str(err.value).startswith(f"the board on {digits_board.url} runs a model with 256 input and 40 output "
                                     "bytes, conv.onnx has 1296 and 1176: flash its firmware first")


def test_user_inputs_from_npz(tools, tmp_path_factory, float_model, tmp_path):
    """The inputs come from the user's .npz (a batch and a single one); float input and output
    cross the wire as float32 (as for digits) and are compared bit for bit."""
    qemu = _serve(tmp_path_factory, float_model)
    try:
        rng = np.random.default_rng(5)
        batch = rng.uniform(-1, 1, size=(2, 1, 4, 9, 9)).astype(np.float32)
        data = tmp_path / "inputs.npz"
        np.savez(data, batch=batch, one=batch[0] * 0.5)
        result = verify_on_port(float_model, qemu.url, 115200, 1, 0, data, lambda _: None, timeout_s=30)
        assert result.ok and len(result.checks) == 3, result.lines()
    finally:
        qemu.stop()


def test_inputs_file_must_match_the_model(tmp_path):
    from tinycc_ml.compiler import import_model

    io = import_model(DIGITS).inputs[0]
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((2, 3), np.float32))
    with pytest.raises(TinycError) as err:
        load_inputs(bad, io)
    assert str(err.value) == (f"{bad}: input '{io.onnx_name}' must have shape {list(io.shape)} "
                              f"(or [N, {', '.join(map(str, io.shape))}]), got [2, 3]")
    np.save(bad, np.zeros(io.shape, np.int8))
    with pytest.raises(TinycError) as err:
        load_inputs(bad, io)
    assert str(err.value) == f"{bad}: input '{io.onnx_name}' must be float32, got int8"


def test_port_that_cannot_open_is_one_line(tmp_path):
    result = CliRunner().invoke(cli, ["verify", str(DIGITS), "--port", str(tmp_path / "ttyNONE")])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: cannot open serial port {tmp_path / 'ttyNONE'}: ")


def test_port_and_target_exclude_each_other():
    result = CliRunner().invoke(cli, ["verify", str(DIGITS), "--port", "/dev/null", "--target", "host"])
    assert result.exit_code == 2 and result.stderr == "error: --port validates on the board; leave out --target\n"


def test_serving_firmware_needs_the_protocol_source(tmp_path):
    out = tmp_path / "out"
    compile_model(DIGITS, "stm32f746", out, CompileOptions(measure_firmware=False))
    (out / "src/board/serial_protocol.c").unlink()
    with pytest.raises(BuildError) as err:
        build_serving_firmware(out)
    assert str(err.value) == (f"{out / 'src/board/serial_protocol.c'} is missing; recompile the model with "
                              f"`tinyc compile ... -o {out}`")
