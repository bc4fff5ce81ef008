"""Compile-time flash/RAM of the model cross-built for the board's core, and the fit check on it."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
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


# --- runtime code bytes (issue 8 point 5) -----------------------------------------------

MLPERF_MODELS = next((p / "shared" / "models" / "mlperf_tiny" / "onnx" for p in Path(__file__).resolve().parents
                      if (p / "shared" / "models").is_dir()), Path("/nonexistent"))
CODE_BUDGET_BYTES = 24 * 1024  # issue 8: at most 24 KB of runtime code per MLPerf Tiny model


def _readelf_function_sizes(elf: Path) -> dict[str, int]:
    """FUNC symbols and sizes, read here straight from readelf (not through the product)."""
    out = subprocess.run(["arm-none-eabi-readelf", "-sW", str(elf)], capture_output=True, text=True, check=True).stdout
    rows = {tuple(line.split()[1:]) for line in out.splitlines()}  # each (address, name) once
    sizes: dict[str, int] = {}
    for r in rows:  # static functions of one name in several sources are several functions
        if len(r) >= 7 and r[2] == "FUNC" and r[5] != "UND":
            sizes[r[6]] = sizes.get(r[6], 0) + (int(r[1], 0) if r[1].startswith("0x") else int(r[1]))
    return sizes


def test_runtime_code_bytes_equal_what_readelf_says(compiled) -> None:
    """report.json's runtime code is the ELF's tinyc_* (kernels) and model_* (glue) function
    bytes, plus the library functions they reach; the compile summary prints the same."""
    report = json.loads((compiled.out_dir / "report.json").read_text())["firmware_footprint"]
    elf = compiled.out_dir / "build" / "footprint-stm32f746" / "model.elf"
    sizes = _readelf_function_sizes(elf)
    kernels = sum(size for name, size in sizes.items() if name.startswith("tinyc_"))
    glue = sum(size for name, size in sizes.items() if name.startswith("model_"))
    code = report["runtime_code"]
    assert (code["kernels"], code["glue"]) == (kernels, glue) and kernels > 1000 and glue > 0
    assert report["runtime_code_bytes"] == code["total"] == kernels + glue + code["library"]
    # the library part is made of whole functions the ELF holds, and nothing else is counted
    assert 0 <= code["library"] <= sum(size for name, size in sizes.items() if not name.startswith(("tinyc_", "model_")))
    assert code["total"] < report["flash_bytes"]  # the weights are in the flash, not in the code
    assert f"  runtime code on cortex-m7: {code['total']:,} B (kernels {kernels:,} + generated glue {glue:,} + library " \
           f"{code['library']:,}; weights and parameters excluded)" in compiled.summary_lines()


def test_library_functions_reached_from_the_runtime_are_counted(tmp_path: Path) -> None:
    """The call graph walk: a function only the runtime calls counts as library, one nobody
    calls does not (objdump and readelf output as the toolchain prints them)."""
    from tinycc_ml.targets.footprint import call_graph, function_sizes

    symbols = ("   Num:    Value  Size Type    Bind   Vis      Ndx Name\n"
               "     1: 00000100    40 FUNC    GLOBAL DEFAULT    1 tinyc_add_s8\n"
               "     2: 00000200    24 FUNC    GLOBAL DEFAULT    1 model_invoke\n"
               "     3: 00000300    12 FUNC    GLOBAL DEFAULT    1 memcpy\n"
               "     4: 00000400    16 FUNC    GLOBAL DEFAULT    1 unused_helper\n"
               "     5: 00000000     0 FUNC    GLOBAL DEFAULT  UND undefined_one\n"
               "     6: 00000500    20 FUNC    LOCAL  DEFAULT    1 tinyc_helper\n"
               "     7: 00000600    22 FUNC    LOCAL  DEFAULT    1 tinyc_helper\n")  # one static helper, two sources
    disassembly = ("00000200 <model_invoke>:\n 200:\tf000 f800 \tbl\t100 <tinyc_add_s8>\n"
                   "00000100 <tinyc_add_s8>:\n 104:\tf000 f800 \tbl\t300 <memcpy>\n"
                   "00000300 <memcpy>:\n 300:\t4770 \tbx\tlr\n00000400 <unused_helper>:\n 400:\t4770 \tbx\tlr\n")
    assert function_sizes(symbols) == {"tinyc_add_s8": 40, "model_invoke": 24, "memcpy": 12, "unused_helper": 16,
                                       "tinyc_helper": 42}
    assert call_graph(disassembly) == {"model_invoke": {"tinyc_add_s8"}, "tinyc_add_s8": {"memcpy"}, "memcpy": set(),
                                       "unused_helper": set()}


@pytest.mark.models
@pytest.mark.skipif(not MLPERF_MODELS.is_dir(), reason="the MLPerf Tiny models are absent")
@pytest.mark.parametrize("name", ["ad01", "kws", "resnet8", "vww"])
def test_mlperf_runtime_code_fits_24_kb(tmp_path: Path, name: str) -> None:
    result = compile_model(MLPERF_MODELS / f"{name}.tf2onnx_int8.onnx", "stm32f746", tmp_path / "out")
    code = result.footprint.code
    assert code is not None and 0 < code.total <= CODE_BUDGET_BYTES, code
