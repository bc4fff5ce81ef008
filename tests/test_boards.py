"""Board files: every board loads, the numbers are the datasheets', errors list the boards."""

from __future__ import annotations

import pytest

from tinycc_ml.boards import CORES, DEFAULT_BOARD, all_boards, format_bytes_si, known_boards, load_board, parse_board
from tinycc_ml.errors import BoardError

KNOWN = ("disco_f412zg", "nucleo_f446re", "nucleo_h743zi", "nucleo_l4r5zi", "nucleo_u575zi_q", "qemu_m3", "qemu_m33",
         "qemu_m4", "qemu_m7", "stm32f746")


def test_known_boards():
    assert known_boards() == KNOWN
    assert DEFAULT_BOARD == "stm32f746"


def test_stm32f746_discovery():
    b = load_board("stm32f746")
    assert (b.mcu, b.core, b.fpu, b.dsp) == ("STM32F746NGH6", "cortex-m7", "fpv5-sp-d16", True)
    assert (b.sram_bytes, b.arena_limit_bytes, b.flash_bytes, b.clock_hz) == (327680, 327680, 1048576, 216_000_000)
    assert (b.platformio.platform, b.platformio.board, b.platformio.framework, b.platformio.upload_protocol) == (
        "ststm32", "disco_f746ng", "stm32cube", "stlink")
    assert (b.uart.instance, b.uart.tx_pin, b.uart.rx_pin) == ("USART1", "PA9", "PB7")
    assert b.qemu is None and not b.virtual


@pytest.mark.parametrize("name, core, sram, flash, clock", [
    ("nucleo_f446re", "cortex-m4", 128 << 10, 512 << 10, 180_000_000),
    ("nucleo_h743zi", "cortex-m7", 1 << 20, 2 << 20, 480_000_000),
    ("nucleo_l4r5zi", "cortex-m4", 640 << 10, 2 << 20, 120_000_000),
    ("disco_f412zg", "cortex-m4", 256 << 10, 1 << 20, 100_000_000),
])
def test_datasheet_numbers(name, core, sram, flash, clock):
    b = load_board(name)
    assert (b.core, b.sram_bytes, b.flash_bytes, b.clock_hz) == (core, sram, flash, clock)
    assert b.platformio.board == name


def test_h743_arena_is_limited_to_the_largest_region():
    assert load_board("nucleo_h743zi").arena_limit_bytes == 512 << 10


@pytest.mark.parametrize("name, machine, cpu, clock", [("qemu_m7", "mps2-an500", "cortex-m7", 25_000_000),
                                                      ("qemu_m4", "mps2-an386", "cortex-m4", 25_000_000),
                                                      ("qemu_m33", "mps2-an505", "cortex-m33", 20_000_000),
                                                      ("qemu_m3", "mps2-an385", "cortex-m3", 25_000_000)])
def test_virtual_boards(name, machine, cpu, clock):
    b = load_board(name)
    assert b.virtual and (b.qemu.machine, b.qemu.cpu, b.core) == (machine, cpu, cpu)
    assert b.platformio is None and b.clock_hz == clock


def test_the_m3_has_neither_dsp_nor_fpu_and_selects_the_portable_kernels():
    from tinycc_ml.kernels.target import KernelTarget
    from tinycc_ml.targets.arm_build import CoreFlags

    m3 = load_board("qemu_m3")
    assert KernelTarget.of_board(m3) == KernelTarget("cortex-m3", dsp=False, fpu="none", flash_bytes=m3.flash_bytes)
    assert CoreFlags(m3.core, m3.fpu).flags == ("-mcpu=cortex-m3", "-mthumb", "-mfloat-abi=soft")
    m33 = load_board("qemu_m33")
    assert KernelTarget.of_board(m33) == KernelTarget("cortex-m33", dsp=True, fpu="fpv5-sp-d16", flash_bytes=m33.flash_bytes)


def test_u575_board_matches_its_datasheet():
    b = load_board("nucleo_u575zi_q")
    assert (b.core, b.fpu, b.dsp, b.clock_hz) == ("cortex-m33", "fpv5-sp-d16", True, 160_000_000)
    assert (b.flash_bytes, b.sram_bytes, b.arena_limit_bytes) == (2 << 20, 784 << 10, 768 << 10)
    assert (b.platformio.board, b.uart.instance, b.uart.tx_pin, b.uart.rx_pin) == (
        "nucleo_u575zi_q", "USART1", "PA9", "PA10")


def test_every_board_is_consistent():
    for b in all_boards():
        assert b.core in CORES and 0 < b.arena_limit_bytes <= b.sram_bytes and b.flash_bytes > 0


def test_unknown_board_lists_the_known_ones():
    with pytest.raises(BoardError) as err:
        load_board("stm32f999")
    assert str(err.value) == f"unknown board 'stm32f999'; known boards: {', '.join(KNOWN)}"


def test_board_file_errors(tmp_path):
    (tmp_path / "x.toml").write_text('name = "x"\n')
    with pytest.raises(BoardError) as err:
        parse_board(tmp_path / "x.toml")
    # every problem at once (board_schema.py), the first being the first missing key
    assert str(err.value).startswith(f"board file {tmp_path / 'x.toml'}: missing key description (str: ")


def test_format_bytes():
    assert [format_bytes_si(n) for n in (1 << 20, 320 << 10, 1234, 0)] == ["1 MB", "320 KB", "1,234 B", "0 B"]
