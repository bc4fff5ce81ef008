"""Boards: what a target microcontroller offers, loaded from boards/*.toml.

A board file is data (memory sizes, core, clock, how to build and talk to it); the
compiler reads it to check that a model fits and to pick kernel variants, the
PlatformIO and QEMU targets read it to build and run.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from .board_schema import schema_problems
from .errors import BoardError
from .resources import boards_dir

CORES = ("cortex-m0plus", "cortex-m3", "cortex-m4", "cortex-m7", "cortex-m33")
FPUS = ("none", "fpv4-sp-d16", "fpv5-sp-d16", "fpv5-d16")
DEFAULT_BOARD = "stm32f746"


@dataclass(frozen=True)
class PlatformIO:
    platform: str
    board: str
    framework: str
    upload_protocol: str


@dataclass(frozen=True)
class Uart:
    instance: str
    tx_pin: str
    rx_pin: str
    baud: int


@dataclass(frozen=True)
class Qemu:
    machine: str
    cpu: str


@dataclass(frozen=True)
class Board:
    name: str
    description: str
    mcu: str
    core: str
    fpu: str  # "none", "fpv4-sp-d16", "fpv5-sp-d16", "fpv5-d16"
    dsp: bool
    sram_bytes: int
    flash_bytes: int
    clock_hz: int
    uart: Uart
    # The arena is one array, so it must fit one contiguous RAM region; on most boards
    # that is all of SRAM, on some (STM32H7) only the largest region.
    arena_limit_bytes: int
    platformio: PlatformIO | None = None
    qemu: Qemu | None = None
    virtual: bool = False


def known_boards(directory: Path | None = None) -> tuple[str, ...]:
    root = directory or boards_dir()
    return tuple(sorted(p.stem for p in root.glob("*.toml")))


def load_board(name: str, directory: Path | None = None) -> Board:
    """The board called `name`, or the board file at `name` (a path ending in .toml);
    BoardError listing the known ones if there is none."""
    if name.endswith(".toml"):
        path = Path(name)
        if not path.is_file():
            raise BoardError(f"board file {path} does not exist (`tinyc boards --schema` shows what one holds)")
        return parse_board(path, custom=True)
    root = directory or boards_dir()
    path = root / f"{name}.toml"
    if not path.is_file():
        raise BoardError(f"unknown board '{name}'; known boards: {', '.join(known_boards(root))}")
    return parse_board(path)


def all_boards(directory: Path | None = None) -> tuple[Board, ...]:
    return tuple(load_board(name, directory) for name in known_boards(directory))


def parse_board(path: Path, custom: bool = False) -> Board:
    """A board file checked against the schema (board_schema.py); `custom`: a user's file,
    whose name need not match the file name."""
    with path.open("rb") as f:
        try:
            data = tomllib.load(f)
        except tomllib.TOMLDecodeError as exc:
            raise BoardError(f"board file {path}: {exc}") from None
    problems = schema_problems(data)
    if problems:
        raise BoardError(f"board file {path}: {'; '.join(problems)} (`tinyc boards --schema` shows every key)")
    try:
        board = Board(
            name=str(data["name"]),
            description=str(data["description"]),
            mcu=str(data["mcu"]),
            core=str(data["core"]),
            fpu=str(data["fpu"]),
            dsp=bool(data["dsp"]),
            sram_bytes=int(data["sram_bytes"]),
            flash_bytes=int(data["flash_bytes"]),
            clock_hz=int(data["clock_hz"]),
            uart=Uart(**data["uart"]),
            arena_limit_bytes=int(data.get("arena_limit_bytes", data["sram_bytes"])),
            platformio=PlatformIO(**data["platformio"]) if "platformio" in data else None,
            qemu=Qemu(**data["qemu"]) if "qemu" in data else None,
            virtual=bool(data.get("virtual", False)),
        )
    except KeyError as exc:
        raise BoardError(f"board file {path}: missing field {exc.args[0]}") from None
    except TypeError as exc:
        raise BoardError(f"board file {path}: {exc}") from None
    if board.core not in CORES:
        raise BoardError(f"board file {path}: core '{board.core}' is not one of {', '.join(CORES)}")
    if board.fpu not in FPUS:
        raise BoardError(f"board file {path}: fpu '{board.fpu}' is not one of {', '.join(FPUS)}")
    if board.arena_limit_bytes > board.sram_bytes:
        raise BoardError(f"board file {path}: arena_limit_bytes {board.arena_limit_bytes} exceeds sram_bytes "
                         f"{board.sram_bytes}")
    if not custom and board.name != path.stem:
        raise BoardError(f"board file {path}: name '{board.name}' differs from the file name")
    return board


def format_bytes_si(n: int) -> str:
    """1 MB / 320 KB / 1,234 B: how datasheets write memory sizes (binary units)."""
    if n >= 1 << 20 and n % (1 << 20) == 0:
        return f"{n >> 20} MB"
    if n >= 1 << 10 and n % (1 << 10) == 0:
        return f"{n >> 10} KB"
    return f"{n:,} B"
