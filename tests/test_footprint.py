"""Compile-time flash/RAM of the model cross-built for the board's core, and the fit check on it."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from tinycc_ml.boards import load_board
from tinycc_ml.compiler import CompileOptions, compile_model, footprint_overflow
from tinycc_ml.targets.arm_build import FirmwareSize
from tinycc_ml.targets.footprint import Footprint

DIGITS = Path(__file__).resolve().parents[1] / "examples" / "digits" / "digits_int8.onnx"

pytestmark = pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None,
                                reason="arm-none-eabi-gcc is not installed (make setup-system)")


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory):
    return compile_model(DIGITS, "stm32f746", tmp_path_factory.mktemp("footprint") / "out")


def test_ram_is_exactly_the_arena_and_flash_holds_every_constant(compiled) -> None:
    size = compiled.footprint.size
    assert compiled.footprint.core == "cortex-m7"
    # The arena and the one int model_init sets are the model's only static RAM: no hidden
    # buffers, no .data.
    assert size.bss == compiled.report["arena_bytes"] + 4
    assert size.data == 0
    assert size.ram_bytes == compiled.report["arena_bytes"] + 4
    # Code comes on top of the emitted constants, which all survive --gc-sections.
    assert size.flash_bytes > compiled.report["weights_bytes"]
    report = json.loads((compiled.out_dir / "report.json").read_text())
    assert report["firmware_footprint"]["flash_bytes"] == size.flash_bytes
    assert report["firmware_footprint"]["ram_bytes"] == size.ram_bytes
    assert any(line.startswith("  on cortex-m7 (model + runtime, -O2): flash ") for line in compiled.summary_lines())


def test_cortex_m4_board_builds_for_its_own_core(tmp_path: Path) -> None:
    result = compile_model(DIGITS, "nucleo_f446re", tmp_path / "out")
    assert result.footprint.core == "cortex-m4"
    assert result.footprint.size.bss == result.report["arena_bytes"] + 4  # + model_init's flag


def test_overflow_names_the_bytes_over() -> None:
    board = dataclasses.replace(load_board("stm32f746"), flash_bytes=10_000, sram_bytes=1_000)
    footprint = Footprint("cortex-m7", FirmwareSize(text=12_345, data=0, bss=1_500))
    err = footprint_overflow(footprint, board)
    assert err is not None
    assert str(err) == (
        "model does not fit board stm32f746 once built for cortex-m7: code + constants 12,345 B exceed the "
        "10,000 B flash by 2,345 B; static RAM 1,500 B exceeds the 1,000 B SRAM by 500 B; use a board with more "
        "memory, or --allow-overflow to emit the code anyway")
    assert footprint_overflow(Footprint("cortex-m7", FirmwareSize(100, 0, 100)), board) is None


def test_skipping_the_measurement_is_an_option(tmp_path: Path) -> None:
    result = compile_model(DIGITS, "stm32f746", tmp_path / "out", CompileOptions(measure_firmware=False))
    assert result.footprint is None
    assert "firmware_footprint" not in json.loads((tmp_path / "out" / "report.json").read_text())
