"""The STM32 parts tinyc's real boards carry: what their build and linker script need.

One record per part (the MCU name without its package and temperature suffix): the
CMSIS device define and start-up file ST's trees name it by, and the memory map the
linker script (templates/platformio/stm32.ld.j2, written to OUT/ld/<part>.ld) lays out.
The PlatformIO project (`board_build.ldscript`) and the CI build against the vendor HAL
(stm32cube.py) link with that same script, so memory is placed identically in both.

Memory placement: the arena is its own section, `.bss.<prefix>_arena`, the name
-fdata-sections (used by both builds) gives `static uint8_t <prefix>_arena[]` in model.c,
and the script names it first in `.bss`, in the region named `bss_region` (it also takes
a `.bss.tinyc_arena` section, should model.c ever name the arena's section itself). Built
without -fdata-sections the arena falls in the generic `.bss`, which is the same region. Where RAM is one
contiguous block (F4, F7, L4+; SRAM1-3 on the U575, whose SRAM4 stays unused) that is all
of it; on the H743 it is the 512 KB AXI SRAM, while `.data`, heap and stack stay in the 128 KB DTCM (ST's own H7 scripts put all of
`.bss` in the DTCM, where an arena over 128 KB cannot link).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..boards import Board
from ..errors import BoardError

FLASH_ORIGIN = 0x08000000
GENERIC_ARENA_SECTION = ".bss.tinyc_arena"


def arena_sections(prefix: str) -> tuple[str, ...]:
    """The input sections the linker script places as the arena, first in .bss."""
    return (GENERIC_ARENA_SECTION, f".bss.{prefix}_arena")


@dataclass(frozen=True)
class RamRegion:
    name: str  # the MEMORY region's name in the linker script
    origin: int
    length_kb: int
    comment: str

    @property
    def origin_hex(self) -> str:
        return f"0x{self.origin:08X}"

    @property
    def end(self) -> int:
        return self.origin + self.length_kb * 1024


@dataclass(frozen=True)
class Stm32Part:
    name: str  # "STM32H743ZI"
    family: str  # "h7": the HAL and CMSIS device directories are stm32h7xx_hal_driver, cmsis_device_h7
    define: str  # "STM32H743xx": selects the part header in stm32h7xx.h
    startup: str  # "startup_stm32h743xx.s" in cmsis_device_h7/Source/Templates/gcc
    flash_kb: int
    ram: tuple[RamRegion, ...]
    bss_region: str  # where .bss goes, the arena first
    data_region: str  # where .data, the heap and the stack go

    @property
    def ldscript(self) -> str:
        return f"{self.name.lower()}.ld"

    def region(self, name: str) -> RamRegion:
        return next(r for r in self.ram if r.name == name)

    @property
    def arena_region(self) -> RamRegion:
        return self.region(self.bss_region)


def _one_ram(kb: int, comment: str) -> tuple[RamRegion, ...]:
    return (RamRegion("RAM", 0x20000000, kb, comment),)


# Sizes from the reference manuals' memory maps (and the CMSIS part headers' FLASH_END).
PARTS: dict[str, Stm32Part] = {p.name: p for p in (
    Stm32Part("STM32F746NG", "f7", "STM32F746xx", "startup_stm32f746xx.s", 1024,
              _one_ram(320, "DTCM 64 KB + SRAM1 240 KB + SRAM2 16 KB, contiguous (RM0385)"), "RAM", "RAM"),
    Stm32Part("STM32H743ZI", "h7", "STM32H743xx", "startup_stm32h743xx.s", 2048, (
        RamRegion("DTCM", 0x20000000, 128, "DTCM, tightly coupled, 0 wait states (RM0433)"),
        RamRegion("AXI_SRAM", 0x24000000, 512, "AXI SRAM (D1 domain), the largest block: the arena's"),
        RamRegion("SRAM_D2", 0x30000000, 288, "SRAM1 + SRAM2 + SRAM3 (D2 domain), unused by tinyc"),
        RamRegion("SRAM_D3", 0x38000000, 64, "SRAM4 (D3 domain), unused by tinyc"),
    ), "AXI_SRAM", "DTCM"),
    Stm32Part("STM32L4R5ZI", "l4", "STM32L4R5xx", "startup_stm32l4r5xx.s", 2048,
              _one_ram(640, "SRAM1 192 KB + SRAM2 64 KB + SRAM3 384 KB, contiguous (RM0432)"), "RAM", "RAM"),
    Stm32Part("STM32F446RE", "f4", "STM32F446xx", "startup_stm32f446xx.s", 512,
              _one_ram(128, "SRAM1 112 KB + SRAM2 16 KB, contiguous (RM0390)"), "RAM", "RAM"),
    Stm32Part("STM32F412ZG", "f4", "STM32F412Zx", "startup_stm32f412zx.s", 1024,
              _one_ram(256, "SRAM1 256 KB (RM0402)"), "RAM", "RAM"),
    Stm32Part("STM32U575ZI", "u5", "STM32U575xx", "startup_stm32u575xx.s", 2048, (
        RamRegion("RAM", 0x20000000, 768, "SRAM1 192 KB + SRAM2 64 KB + SRAM3 512 KB, contiguous (RM0456)"),
        RamRegion("SRAM4", 0x28000000, 16, "SRAM4 (SRD domain, low-power background), unused by tinyc"),
    ), "RAM", "RAM"),
)}


def stm32_part(board: Board) -> Stm32Part:
    """The part of a real STM32 board, from its MCU name (STM32H743ZIT6 -> STM32H743ZI)."""
    key = board.mcu.upper()[:11]
    part = PARTS.get(key)
    if part is None:
        raise BoardError(f"board {board.name}: tinyc has no memory map for MCU {board.mcu} "
                         f"(it knows {', '.join(PARTS)})")
    return part


def has_part(board: Board) -> bool:
    return not board.virtual and board.mcu.upper()[:11] in PARTS
