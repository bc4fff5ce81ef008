"""--board path/to/board.toml: a board file of the user's, checked against the schema with
errors that name the key; `tinyc boards --schema` prints it."""

from __future__ import annotations

import json
import tomllib

from click.testing import CliRunner

from test_cli import reshape_model
from tinycc_ml.boards import load_board
from tinycc_ml.cli import main
from tinycc_ml.resources import boards_dir

CUSTOM = """\
name = "my_f746_product"
description = "our product board: STM32F746, 256 KB SRAM free for tinyc"
mcu = "STM32F746NGH6"
core = "cortex-m7"
fpu = "fpv5-sp-d16"
dsp = true
sram_bytes = 262144
flash_bytes = 1048576
clock_hz = 216000000

[uart]
instance = "USART1"
tx_pin = "PA9"
rx_pin = "PB7"
baud = 115200
"""


def _tinyc(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_a_board_file_of_ones_own_compiles(tmp_path):
    board = tmp_path / "product.toml"
    board.write_text(CUSTOM)
    reshape_model(tmp_path / "r.onnx", 300)
    result = _tinyc("compile", tmp_path / "r.onnx", "--board", board, "-o", tmp_path / "out", "--no-firmware-size")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == f"compiled r.onnx for my_f746_product -> {tmp_path / 'out'}"
    assert "arena 300 B of 256 KB SRAM" in result.stdout
    assert json.loads((tmp_path / "out/report.json").read_text())["board"] == "my_f746_product"


def test_board_file_errors_name_the_key(tmp_path):
    board = tmp_path / "bad.toml"
    board.write_text(CUSTOM.replace("sram_bytes = 262144", "sram_kb = 256").replace("dsp = true", 'dsp = "yes"')
                     .replace("baud = 115200\n", ""))
    error = _tinyc("compile", tmp_path / "m.onnx", "--board", board, "-o", tmp_path / "out")
    assert error.exit_code == 2
    assert error.stderr == (
        f"error: board file {board}: dsp must be bool, not str 'yes'; missing key sram_bytes (int: all on-chip "
        "SRAM, in bytes); unknown key sram_kb (did you mean sram_bytes?); missing key uart.baud (int: baud rate) "
        "(`tinyc boards --schema` shows every key)\n")
    missing = _tinyc("compile", tmp_path / "m.onnx", "--board", tmp_path / "nope.toml", "-o", tmp_path / "out")
    assert missing.stderr == (f"error: board file {tmp_path / 'nope.toml'} does not exist (`tinyc boards --schema` "
                              "shows what one holds)\n")


def test_schema_lists_every_key_the_shipped_boards_use():
    text = _tinyc("boards", "--schema").stdout
    for path in sorted(boards_dir().glob("*.toml")):
        data = tomllib.loads(path.read_text())
        for key, value in data.items():
            if isinstance(value, dict):
                assert f"[{key}]" in text
            else:
                assert f"\n{key} = <" in text or text.startswith(f"{key} = <"), (path.name, key)
        assert load_board(str(path)).name == path.stem  # each shipped file is also a valid --board path
