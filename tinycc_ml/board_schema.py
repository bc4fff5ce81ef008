"""The board file schema (boards/*.toml, or a file of your own: `--board path/to/board.toml`),
checked before a Board is built so that a missing key, a misspelt one (a unit typo such as
`sram_kb`) or a wrong type is one clear error naming the file and the key."""

from __future__ import annotations

import difflib
from dataclasses import dataclass


@dataclass(frozen=True)
class Field:
    key: str
    kind: type
    required: bool
    meaning: str


TOP = (
    Field("name", str, True, "board identifier (the file name without .toml, for boards/*.toml)"),
    Field("description", str, True, "one line: board, MCU, core and clock, memories"),
    Field("mcu", str, True, "part number, e.g. STM32F746NGH6"),
    Field("core", str, True, "cortex-m0plus, cortex-m3, cortex-m4, cortex-m7 or cortex-m33"),
    Field("fpu", str, True, "none, fpv4-sp-d16, fpv5-sp-d16 or fpv5-d16"),
    Field("dsp", bool, True, "the core has the DSP extension (SMLAD, SSAT16...)"),
    Field("sram_bytes", int, True, "all on-chip SRAM, in bytes"),
    Field("arena_limit_bytes", int, False, "largest contiguous SRAM region the arena must fit (default sram_bytes)"),
    Field("flash_bytes", int, True, "on-chip flash, in bytes"),
    Field("clock_hz", int, True, "core clock, in Hz"),
    Field("virtual", bool, False, "an emulated board (QEMU), no hardware"),
)
TABLES = {
    "uart": (True, (Field("instance", str, True, "the console UART, e.g. USART1"),
                    Field("tx_pin", str, True, "e.g. PA9"), Field("rx_pin", str, True, "e.g. PB7"),
                    Field("baud", int, True, "baud rate"))),
    "platformio": (False, (Field("platform", str, True, "PlatformIO platform, e.g. ststm32"),
                           Field("board", str, True, "PlatformIO board id"),
                           Field("framework", str, True, "e.g. stm32cube"),
                           Field("upload_protocol", str, True, "e.g. stlink"))),
    "qemu": (False, (Field("machine", str, True, "qemu-system-arm -machine, e.g. mps2-an500"),
                     Field("cpu", str, True, "qemu-system-arm -cpu, e.g. cortex-m7"))),
}


def _check_fields(data: dict, fields: tuple[Field, ...], where: str, extra: tuple[str, ...] = ()) -> list[str]:
    problems = []
    known = [f.key for f in fields] + list(extra)
    for f in fields:
        if f.key not in data:
            if f.required:
                problems.append(f"missing key {where}{f.key} ({f.kind.__name__}: {f.meaning})")
            continue
        value = data[f.key]
        ok = isinstance(value, f.kind) and not (f.kind is int and isinstance(value, bool))
        if not ok:
            problems.append(f"{where}{f.key} must be {f.kind.__name__}, not {type(value).__name__} {value!r}")
        elif f.kind is int and value <= 0:
            problems.append(f"{where}{f.key} must be positive, not {value}")
    for key in data:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.5)
            problems.append(f"unknown key {where}{key}" + (f" (did you mean {where}{close[0]}?)" if close else ""))
    return problems


def schema_problems(data: dict) -> list[str]:
    """Every problem of a parsed board file, in file order (empty: it is a valid board)."""
    problems = _check_fields(data, TOP, "", tuple(TABLES))
    for table, (required, fields) in TABLES.items():
        if table not in data:
            if required:
                problems.append(f"missing table [{table}]")
        elif not isinstance(data[table], dict):
            problems.append(f"{table} must be a table [{table}]")
        else:
            problems += _check_fields(data[table], fields, f"{table}.")
    return problems


def schema_text() -> str:
    """`tinyc boards --schema`: every key, its type, whether required, and what it means."""
    lines = ["# tinyc board file (TOML); `tinyc compile --board path/to/board.toml` reads one"]
    for f in TOP:
        lines.append(f"{f.key} = <{f.kind.__name__}>{'' if f.required else '  # optional'}  # {f.meaning}")
    for table, (required, fields) in TABLES.items():
        lines.append("")
        lines.append(f"[{table}]{'' if required else '  # optional'}")
        lines += [f"{f.key} = <{f.kind.__name__}>  # {f.meaning}" for f in fields]
    return "\n".join(lines)
