"""Real-board firmware linked against ST's STM32Cube HAL (../shared/vendor/stm32cube, read in
place): every STM32 board's complete ELF links with its exact core/FPU flags and -Werror on
tinyc's files, fits the board's flash and SRAM, and places the arena where the part's linker
script says (the H743's 512 KB AXI SRAM, not its 128 KB DTCM). The HAL objects are built once
per test session (per xdist worker) into a session cache."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import onnx
import pytest

import frontend_support as fs
from tinycc_ml.boards import all_boards, load_board
from tinycc_ml.compiler import CompileOptions, compile_model
from tinycc_ml.errors import BuildError, TinycError
from tinycc_ml.targets.arm_build import CoreFlags
from tinycc_ml.targets.stm32_parts import arena_sections, stm32_part
from tinycc_ml.targets.stm32cube import (PartBuild, VendorTree, build_board_firmware, hal_objects,
                                         locate_vendor_tree)

DIGITS = Path(__file__).resolve().parents[1] / "examples" / "digits" / "digits_int8.onnx"
# ../shared/vendor/stm32cube holds the F4, F7, H7 and L4 HALs; the NUCLEO-U575ZI-Q's firmware
# (STM32U5) is generated but cannot be linked here (test_u575_is_not_linked_and_says_why).
NO_HAL_HERE = ("nucleo_u575zi_q",)
STM32_BOARDS = tuple(b.name for b in all_boards() if not b.virtual and b.name not in NO_HAL_HERE)
IN_CI = bool(os.environ.get("CI"))


def _require(condition: bool, why: str) -> None:
    """A missing tool or vendor tree fails under CI and skips elsewhere."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{why} (CI is set, so this is a failure, not a skip)")
    pytest.skip(why)


@pytest.fixture(scope="session")
def vendor() -> Path:
    tree = locate_vendor_tree(None, os.environ)
    _require(tree.path is not None, tree.note)
    _require(shutil.which("arm-none-eabi-gcc") is not None, "needs arm-none-eabi-gcc (make setup-system)")
    return tree.path


@pytest.fixture(scope="session")
def hal_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("stm32cube_cache")


@pytest.fixture(scope="session")
def digits_builds(tmp_path_factory, vendor, hal_cache) -> dict:
    root = tmp_path_factory.mktemp("stm32cube_digits")
    options = CompileOptions(stm32cube=VendorTree(vendor), stm32cube_cache=hal_cache)
    return {b: compile_model(DIGITS, b, root / b, options) for b in STM32_BOARDS}


def _nm(elf: Path) -> dict[str, int]:
    out = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True, check=True).stdout
    return {f[2]: int(f[0], 16) for f in (line.split() for line in out.splitlines()) if len(f) == 3}


@pytest.mark.parametrize("board", STM32_BOARDS)
def test_real_firmware_links_and_fits(digits_builds, board):
    result = digits_builds[board]
    b, fw = load_board(board), result.board_firmware
    assert fw is not None, result.board_firmware_note
    assert fw.elf.is_file() and fw.part == stm32_part(b).name
    # A complete firmware: the HAL's start-up, clock and UART code, tinyc's main and model.
    symbols = _nm(fw.elf)
    for name in ("Reset_Handler", "SystemInit", "HAL_Init", "HAL_RCC_ClockConfig", "HAL_UART_Transmit", "main",
                 "model_invoke", "board_counter64", "SysTick_Handler", "tinyc_test_input"):
        assert name in symbols, name
    size = fw.size
    assert size.text + size.data <= b.flash_bytes and size.data + size.bss <= b.sram_bytes
    assert size.bss >= result.report["arena_bytes"]  # the arena is static RAM
    assert size.text > result.report["weights_bytes"]
    region = stm32_part(b).arena_region
    assert fw.arena_address == symbols["model_arena"] == symbols["__tinyc_arena_start"]
    assert region.origin <= fw.arena_address and symbols["__tinyc_arena_end"] <= region.end
    assert symbols["__tinyc_arena_end"] - symbols["__tinyc_arena_start"] == result.report["arena_bytes"]
    entry = result.report["firmware"]["board"]
    assert entry == {
        "measured": True, "board": board, "part": fw.part, "toolchain": "STM32Cube HAL + arm-none-eabi-gcc",
        "optimization": "-O2", "text": size.text, "data": size.data, "bss": size.bss,
        "flash_bytes": size.text + size.data, "ram_bytes": size.data + size.bss,
        "flash_limit_bytes": b.flash_bytes, "sram_limit_bytes": b.sram_bytes,
        "arena_address": fw.arena_address, "arena_region": region.name}
    line = next(s for s in result.summary_lines() if "STM32Cube HAL" in s)
    assert f"text {size.text:,} B, data {size.data:,} B, bss {size.bss:,} B" in line


@pytest.mark.parametrize("board", STM32_BOARDS)
def test_firmware_uses_the_boards_exact_core_flags(digits_builds, board):
    b = load_board(board)
    fw = digits_builds[board].board_firmware
    attrs = subprocess.run(["arm-none-eabi-readelf", "-A", str(fw.elf)], capture_output=True, text=True,
                           check=True).stdout
    cpu = {"cortex-m7": "7E-M", "cortex-m4": "7E-M"}[b.core]
    fpu = {"fpv5-d16": "FPv5/FP-D16 for ARMv8", "fpv5-sp-d16": "FPv5/FP-D16 for ARMv8",
           "fpv4-sp-d16": "VFPv4-D16"}[b.fpu]
    assert f"Tag_CPU_arch: v{cpu}" in attrs and f"Tag_FP_arch: {fpu}" in attrs
    assert "Tag_ABI_VFP_args: VFP registers" in attrs  # hard-float ABI
    assert ("Tag_ABI_HardFP_use: SP only" in attrs) == (b.fpu != "fpv5-d16")  # doubles only on the H743's FPU


def test_warnings_in_tinycs_files_fail_the_build(digits_builds, vendor, hal_cache, tmp_path):
    """-Wall -Wextra -Werror applies to tinyc's files (the HAL's own warnings are allowed)."""
    out = tmp_path / "out"
    shutil.copytree(digits_builds["stm32f746"].out_dir, out)
    main = out / "src" / "main.c"
    main.write_text(main.read_text().replace("int main(void)\n{", "int main(void)\n{\n    int unused_by_tinyc;", 1))
    with pytest.raises(BuildError) as err:
        build_board_firmware(out, load_board("stm32f746"), "model", vendor, hal_cache)
    assert "unused_by_tinyc" in str(err.value) and "-Werror" in str(err.value)


def test_hal_is_compiled_once_per_part_and_flags(vendor, hal_cache, digits_builds):
    """The session's builds compiled each part's HAL at most once; asking again is a cache hit."""
    for board in ("stm32f746", "nucleo_h743zi"):
        b = load_board(board)
        build = PartBuild(vendor, stm32_part(b), CoreFlags(b.core, b.fpu))
        objects, built = hal_objects(build, hal_cache)
        assert not built
        names = {o.name for o in objects}
        family = build.part.family
        assert {f"stm32{family}xx_hal.o", f"stm32{family}xx_hal_uart.o", f"system_stm32{family}xx.o",
                build.part.startup.replace(".s", ".o")} <= names
    # F446 and F412 share the F4 HAL sources but not the part define: two cache entries.
    f4 = sorted(p.name.split("-")[0] for p in hal_cache.iterdir() if p.name.startswith("stm32f4"))
    assert f4 == ["stm32f412zg", "stm32f446re"]


def test_unchanged_firmware_is_not_relinked(digits_builds, vendor, hal_cache):
    r = digits_builds["nucleo_f446re"]
    before = r.board_firmware.elf.stat().st_mtime_ns
    again = build_board_firmware(r.out_dir, r.board, "model", vendor, hal_cache)
    assert again.elf.stat().st_mtime_ns == before and not again.hal_built and again.size == r.board_firmware.size


def test_h743_links_a_300kb_arena_in_axi_sram(tmp_path, vendor, hal_cache):
    """An arena far over the DTCM's 128 KB: it links, in the AXI SRAM, with .data and the stack in the DTCM."""
    model = tmp_path / "wide.onnx"
    onnx.save(fs.quantize(fs.conv_model(x_shape=(1, 6, 160, 160), out_ch=9, kernel=(1, 1))), model)
    # another --name: the script places that prefix's arena section
    result = compile_model(model, "nucleo_h743zi", tmp_path / "out",
                           CompileOptions(name="wide", stm32cube=VendorTree(vendor), stm32cube_cache=hal_cache))
    arena = result.report["arena_bytes"]
    assert arena >= 300 * 1024
    fw = result.board_firmware
    assert fw is not None, result.board_firmware_note
    symbols = _nm(fw.elf)
    axi, dtcm = stm32_part(result.board).region("AXI_SRAM"), stm32_part(result.board).region("DTCM")
    assert fw.arena_address == symbols["wide_arena"] == symbols["__tinyc_arena_start"] == axi.origin
    assert symbols["__tinyc_arena_end"] == symbols["wide_arena"] + arena <= axi.end
    assert dtcm.origin <= symbols["_sdata"] < dtcm.end and symbols["_estack"] == dtcm.end
    sections = subprocess.run(["arm-none-eabi-objdump", "-h", str(fw.elf)], capture_output=True, text=True,
                              check=True).stdout
    bss = re.search(r"^\s*\d+\s+\.bss\s+([0-9a-f]+)\s+([0-9a-f]+)", sections, re.MULTILINE)
    assert bss is not None and int(bss.group(2), 16) == axi.origin and int(bss.group(1), 16) >= arena


def test_arena_has_its_own_section(digits_builds, tmp_path):
    out = digits_builds["stm32f746"].out_dir
    obj = tmp_path / "model.o"
    subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m7", "-mthumb", "-std=c99", "-O2", "-fdata-sections", "-c",
                    f"-I{out / 'src'}",
                    f"-I{out / 'lib/tinyc/include'}", str(out / "src/model.c"), "-o", str(obj)], check=True)
    headers = subprocess.run(["arm-none-eabi-objdump", "-h", str(obj)], capture_output=True, text=True,
                             check=True).stdout
    section = arena_sections("model")[0]  # the default TINYC_ARENA_SECTION the arena declares
    assert section == ".bss.tinyc_arena"
    arena = re.search(rf"^\s*\d+\s+{re.escape(section)}\s+([0-9a-f]+)", headers, re.MULTILINE)
    assert arena is not None and int(arena.group(1), 16) == digits_builds["stm32f746"].report["arena_bytes"]
    script = (out / "ld" / "stm32f746ng.ld").read_text()
    # the arena's input section is named before the generic .bss patterns
    assert script.index("*(.bss.tinyc_arena) *(.bss.model_arena)") < script.index("*(.bss) *(.bss*) *(COMMON)")


def test_platformio_links_with_the_same_script(digits_builds):
    for board, r in digits_builds.items():
        ini = (r.out_dir / "platformio.ini").read_text()
        script = f"ld/{stm32_part(r.board).ldscript}"
        assert f"\nboard_build.ldscript = {script}\n" in ini, board
        assert (r.out_dir / script).is_file()
        # the CI link used that file: its symbols are in the map
        assert "__tinyc_arena_start" in r.board_firmware.elf.with_suffix(".map").read_text()


def test_missing_vendor_tree_is_reported_not_measured(tmp_path, monkeypatch):
    monkeypatch.delenv("TINYC_STM32CUBE", raising=False)
    monkeypatch.setattr("tinycc_ml.targets.stm32cube.default_vendor_dir", lambda: tmp_path / "absent")
    tree = locate_vendor_tree(None, os.environ)
    assert tree.path is None and str(tmp_path / "absent") in tree.note
    result = compile_model(DIGITS, "nucleo_f446re", tmp_path / "out", CompileOptions(stm32cube=tree))
    assert result.board_firmware is None
    assert result.report["firmware"]["board"] == {"measured": False, "note": tree.note}
    assert f"  real-board firmware (STM32Cube HAL) NOT measured: {tree.note}" in result.summary_lines()


def test_u575_is_not_linked_and_says_why(tmp_path, vendor, hal_cache):
    """The vendor tree lacks ST's U5 HAL: the compile succeeds, and the summary and report.json
    say that the board firmware was not link-tested (not a build error, not silence)."""
    assert not (vendor / "stm32u5xx_hal_driver").exists()
    result = compile_model(DIGITS, "nucleo_u575zi_q", tmp_path / "out",
                           CompileOptions(stm32cube=VendorTree(vendor), stm32cube_cache=hal_cache))
    note = (f"the STM32Cube tree {vendor} has no stm32u5xx_hal_driver/, cmsis_device_u5/ (ST's STM32U5 HAL), "
            "so the STM32U575ZI firmware is not link-tested here")
    assert result.board_firmware is None and result.report["firmware"]["board"] == {"measured": False, "note": note}
    assert f"  real-board firmware (STM32Cube HAL) NOT measured: {note}" in result.summary_lines()


def test_a_named_vendor_tree_must_be_one(tmp_path):
    with pytest.raises(TinycError) as err:
        locate_vendor_tree(tmp_path, {})
    assert str(err.value) == (f"--stm32cube: {tmp_path} has no CMSIS/Core/Include/ (is it an STM32Cube tree "
                              "laid out as ../shared/vendor/stm32cube?)")
    with pytest.raises(TinycError) as err:
        locate_vendor_tree(None, {"TINYC_STM32CUBE": str(tmp_path / "nope")})
    assert str(err.value) == f"TINYC_STM32CUBE: {tmp_path / 'nope'} is not a directory"


def test_virtual_boards_have_no_board_firmware(tmp_path, vendor, hal_cache):
    result = compile_model(DIGITS, "qemu_m7", tmp_path / "out",
                           CompileOptions(stm32cube=VendorTree(vendor), stm32cube_cache=hal_cache))
    assert result.board_firmware is None and "board" not in result.report.get("firmware", {})


@pytest.mark.models
@pytest.mark.skipif(not fs.MLPERF_ONNX.is_dir(), reason=f"{fs.MLPERF_ONNX} is absent")
@pytest.mark.parametrize("board", STM32_BOARDS)
def test_kws_firmware_links_on_every_board(tmp_path, vendor, hal_cache, board):
    result = compile_model(fs.MLPERF_ONNX / "kws.tf2onnx_int8.onnx", board, tmp_path / "kws",
                           CompileOptions(stm32cube=VendorTree(vendor), stm32cube_cache=hal_cache))
    fw, b = result.board_firmware, load_board(board)
    assert fw is not None, result.board_firmware_note
    assert fw.size.flash_bytes <= b.flash_bytes and fw.size.ram_bytes <= b.sram_bytes
    assert fw.size.text > result.report["weights_bytes"] and fw.size.bss > result.report["arena_bytes"]
    region = stm32_part(b).arena_region
    assert region.origin <= fw.arena_address < fw.arena_address + result.report["arena_bytes"] <= region.end


def test_firmware_that_overflows_ram_is_a_clear_error(tmp_path, vendor, hal_cache):
    """The arena fits the F446's 128 KB, the arena plus the HAL, stack and heap reserve do not."""
    model = tmp_path / "wide.onnx"
    onnx.save(fs.quantize(fs.conv_model(x_shape=(1, 4, 108, 108), out_ch=6, kernel=(1, 1))), model)
    options = CompileOptions(stm32cube=VendorTree(vendor), stm32cube_cache=hal_cache, measure_firmware=False)
    with pytest.raises(TinycError) as err:
        compile_model(model, "nucleo_f446re", tmp_path / "out", options)
    assert re.fullmatch(r"model does not fit board nucleo_f446re once linked with the STM32Cube HAL: "
                        r"region `RAM' overflowed by \d+ bytes; use a board with more memory, or --allow-overflow to "
                        r"emit the code anyway", str(err.value)), str(err.value)
    from dataclasses import replace

    result = compile_model(model, "nucleo_f446re", tmp_path / "out2", replace(options, allow_overflow=True))
    assert result.board_firmware is None
    assert result.report["firmware"]["board"]["measured"] is False
    assert "overflowed by" in result.board_firmware_note
