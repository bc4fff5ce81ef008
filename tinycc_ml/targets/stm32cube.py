"""Real-board firmware linked against ST's STM32Cube HAL: the ELF `tinyc flash` would upload.

PlatformIO downloads its STM32 frameworks, which machines without internet cannot; this
builds the same firmware from a local copy of the HAL and CMSIS device files (the layout
of ../shared/vendor/stm32cube, see its README) with the system arm-none-eabi-gcc:

    OUT/src/*.c, OUT/src/board/{board_stm32,test_input}.c, OUT/lib/tinyc/src/*.c
        tinyc's files: the board's exact core and FPU flags, C99, -Wall -Wextra -Werror
    HAL sources, system_stm32<f>xx.c, startup_<part>.s
        ST's files, -Wall only (they are not tinyc's to fix); compiled once per part and
        flags into a cache directory shared by every output directory
    OUT/ld/<part>.ld
        the linker script the PlatformIO project uses too (board_build.ldscript)

and reads text/data/bss with arm-none-eabi-size and the arena's address with nm, so
report.json can say what the real part carries (`firmware.board`).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from ..boards import Board
from ..errors import BuildError, TinycError
from ..resources import project_root
from .arm_build import GCC, OPT_LEVEL, WARNINGS, CoreFlags, FirmwareSize, _compiler_version, elf_size, require_tool
from .stm32_parts import Stm32Part, has_part, stm32_part

VENDOR_ENV = "TINYC_STM32CUBE"
CACHE_ENV = "TINYC_CACHE_DIR"
NM = "arm-none-eabi-nm"
BOARD_QEMU = "board_qemu.c"  # the QEMU glue in OUT/src/board: never part of a real board's firmware
HAL_WARNINGS = ("-Wall",)  # relaxed for ST's files: tinyc does not fix the vendor's warnings
LINK_SPECS = ("--specs=nano.specs", "--specs=nosys.specs")


@dataclass(frozen=True)
class VendorTree:
    """Where the STM32Cube files are, or why there are none (`note`)."""

    path: Path | None
    note: str = ""


@dataclass(frozen=True)
class BoardFirmware:
    board: str
    part: str
    elf: Path
    size: FirmwareSize
    arena_address: int | None  # where the arena landed, None for a model without one
    arena_region: str  # the linker script's region meant for it, e.g. "AXI_SRAM"
    hal_built: bool  # False when the HAL objects came from the cache

    def as_report(self, board: Board) -> dict:
        return {
            "measured": True, "board": self.board, "part": self.part, "toolchain": "STM32Cube HAL + arm-none-eabi-gcc",
            "optimization": OPT_LEVEL, "text": self.size.text, "data": self.size.data, "bss": self.size.bss,
            "flash_bytes": self.size.flash_bytes, "ram_bytes": self.size.ram_bytes,
            "flash_limit_bytes": board.flash_bytes, "sram_limit_bytes": board.sram_bytes,
            "arena_address": self.arena_address, "arena_region": self.arena_region,
        }


def default_vendor_dir() -> Path | None:
    """../shared/vendor/stm32cube next to the checkout tinyc runs from, if it is there."""
    try:
        root = project_root()
    except TinycError:
        return None
    return root.parent / "shared" / "vendor" / "stm32cube"


def _problem(path: Path) -> str | None:
    if not path.is_dir():
        return f"{path} is not a directory"
    for sub in ("CMSIS/Core/Include", "conf"):
        if not (path / sub).is_dir():
            return f"{path} has no {sub}/ (is it an STM32Cube tree laid out as ../shared/vendor/stm32cube?)"
    return None


def locate_vendor_tree(explicit: Path | None, environ: Mapping[str, str], use_checkout: bool = True) -> VendorTree | None:
    """--stm32cube DIR, else $TINYC_STM32CUBE, else (with use_checkout) the checkout's
    ../shared/vendor/stm32cube; None when none was named and use_checkout is off. A directory
    the user named that is not a vendor tree is an error; a missing default is a note."""
    named = explicit if explicit is not None else (Path(environ[VENDOR_ENV]) if environ.get(VENDOR_ENV) else None)
    if named is not None:
        problem = _problem(Path(named))
        if problem is not None:
            source = "--stm32cube" if explicit is not None else VENDOR_ENV
            raise TinycError(f"{source}: {problem}")
        return VendorTree(Path(named).resolve())
    if not use_checkout:
        return None
    default = default_vendor_dir()
    if default is not None and _problem(default) is None:
        return VendorTree(default.resolve())
    return VendorTree(None, f"no STM32Cube HAL tree (pass --stm32cube DIR or set {VENDOR_ENV}; "
                            f"looked for {default if default is not None else '../shared/vendor/stm32cube'})")


def default_cache_dir(environ: Mapping[str, str]) -> Path:
    """$TINYC_CACHE_DIR, else $XDG_CACHE_HOME/tinyc, else ~/.cache/tinyc; the HAL objects go in stm32cube/."""
    if environ.get(CACHE_ENV):
        base = Path(environ[CACHE_ENV])
    elif environ.get("XDG_CACHE_HOME"):
        base = Path(environ["XDG_CACHE_HOME"]) / "tinyc"
    else:
        base = Path.home() / ".cache" / "tinyc"
    return base / "stm32cube"


@dataclass(frozen=True)
class PartBuild:
    """Flags and paths of one part's build against one vendor tree."""

    vendor: Path
    part: Stm32Part
    core: CoreFlags

    @property
    def family_dirs(self) -> tuple[Path, Path]:
        f = self.part.family
        return self.vendor / f"stm32{f}xx_hal_driver", self.vendor / f"cmsis_device_{f}"

    @property
    def include_dirs(self) -> tuple[Path, ...]:
        hal, device = self.family_dirs
        return (self.vendor / "conf" / self.part.family, hal / "Inc", device / "Include",
                self.vendor / "CMSIS" / "Core" / "Include")

    @property
    def cflags(self) -> tuple[str, ...]:
        return (*self.core.flags, OPT_LEVEL, "-ffunction-sections", "-fdata-sections",
                "-DUSE_HAL_DRIVER", f"-D{self.part.define}", *(f"-I{d}" for d in self.include_dirs))

    def hal_sources(self) -> tuple[Path, ...]:
        hal, device = self.family_dirs
        f = self.part.family
        sources = (*sorted((hal / "Src").glob("*.c")), device / "Source" / "Templates" / f"system_stm32{f}xx.c",
                   device / "Source" / "Templates" / "gcc" / self.part.startup)
        missing = [s for s in sources if not s.is_file()]
        if missing or not sources[:-2]:
            raise BuildError(f"the STM32Cube tree {self.vendor} lacks {missing[0] if missing else hal / 'Src'} "
                             f"for the {self.part.name}")
        return sources


def missing_family(vendor: Path, board: Board) -> str | None:
    """Why `vendor` cannot build `board`'s firmware (it lacks the part's HAL or CMSIS device
    files), or None. ../shared/vendor/stm32cube has no STM32U5 files, for one: the NUCLEO-U575ZI-Q
    firmware is generated but not linked there."""
    part = stm32_part(board)
    build = PartBuild(Path(vendor), part, CoreFlags(board.core, board.fpu))
    absent = [d for d in build.family_dirs if not d.is_dir()]
    if not absent:
        return None
    return (f"the STM32Cube tree {vendor} has no {', '.join(d.name + '/' for d in absent)} (ST's "
            f"STM32{part.family.upper()} HAL), so the {part.name} firmware is not link-tested here")


def _hash_files(h: "hashlib._Hash", paths: list[Path]) -> None:
    for path in paths:
        h.update(str(path).encode() + b"\0" + path.read_bytes() + b"\0")


def _headers(dirs: tuple[Path, ...]) -> list[Path]:
    return [p for d in dirs for p in sorted(d.rglob("*.h"))]


def _run(command: list[str], cwd: Path, what: str) -> None:
    proc = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise BuildError(f"{what} failed:\n{(proc.stdout + proc.stderr).strip()}")


def hal_objects(build: PartBuild, cache_dir: Path) -> tuple[tuple[Path, ...], bool]:
    """The part's HAL, system and start-up objects, compiled once per (part, flags, vendor
    files, compiler) into cache_dir; (objects, whether they were compiled now)."""
    sources = build.hal_sources()
    h = hashlib.sha256()
    h.update(_compiler_version().encode() + b"\0" + "\0".join(build.cflags).encode() + b"\0")
    _hash_files(h, [*sources, *_headers(build.include_dirs)])
    target = Path(cache_dir) / f"{build.part.name.lower()}-{h.hexdigest()[:20]}"
    if (target / "done").is_file():
        return tuple(sorted(target.glob("*.o"))), False
    require_tool(GCC)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"{target.name}.", dir=target.parent) as tmp:
        c_sources, startup = sources[:-1], sources[-1]
        command = [GCC, *build.cflags, *HAL_WARNINGS, "-c", *map(str, c_sources),
                   "-x", "assembler-with-cpp", str(startup)]
        _run(command, Path(tmp), f"compiling ST's HAL for the {build.part.name} ({build.vendor})")
        (Path(tmp) / "done").write_text(" ".join(command) + "\n")
        try:
            os.replace(tmp, target)  # atomic: a parallel build of the same key loses the race harmlessly
        except OSError:
            if not (target / "done").is_file():
                raise
        Path(tmp).mkdir(exist_ok=True)  # TemporaryDirectory removes it again
    return tuple(sorted(target.glob("*.o"))), True


def tinyc_sources(out_dir: Path) -> tuple[Path, ...]:
    """tinyc's own files of a real-board firmware: model, main, board glue, test input, runtime."""
    src = out_dir / "src"
    glue = src / "board" / "board_stm32.c"
    if not glue.is_file():
        raise BuildError(f"{glue} is missing; compile the model for a real STM32 board (`tinyc compile ... --board B`)")
    board_files = sorted(p for p in (src / "board").glob("*.c") if p.name != BOARD_QEMU)
    return (*sorted(src.glob("*.c")), *board_files, *sorted((out_dir / "lib" / "tinyc" / "src").glob("*.c")))


def _arena_address(elf: Path, prefix: str) -> int | None:
    proc = subprocess.run([require_tool(NM), str(elf)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise BuildError(f"{NM} failed on {elf}: {proc.stderr.strip()}")
    for line in proc.stdout.splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[2] == f"{prefix}_arena":
            return int(fields[0], 16)
    return None


def build_board_firmware(out_dir: Path, board: Board, prefix: str, vendor: Path, cache_dir: Path) -> BoardFirmware:
    """Compile and link OUT's real-board firmware for `board` against the vendor tree."""
    out_dir = Path(out_dir).resolve()
    if not has_part(board):
        raise BuildError(f"board {board.name} is not an STM32 board tinyc has a memory map for")
    part = stm32_part(board)
    build = PartBuild(Path(vendor), part, CoreFlags(board.core, board.fpu))
    ldscript = out_dir / "ld" / part.ldscript
    if not ldscript.is_file():
        raise BuildError(f"{ldscript} is missing; recompile the model with `tinyc compile ... --board {board.name}`")
    hal, hal_built = hal_objects(build, cache_dir)
    sources = tinyc_sources(out_dir)
    elf = out_dir / "build" / f"board-{board.name}" / f"{prefix}.elf"
    include = (out_dir / "src", out_dir / "lib" / "tinyc" / "include")
    command = [GCC, *build.cflags, *(f"-I{d}" for d in include), "-std=c99", *WARNINGS, *map(str, sources),
               *map(str, hal), "-T", str(ldscript), "-Wl,--gc-sections", *LINK_SPECS,
               f"-Wl,-Map={elf.with_suffix('.map')}", "-o", str(elf)]
    h = hashlib.sha256(_compiler_version().encode() + b"\0" + "\0".join(command).encode())
    _hash_files(h, [*sources, *hal, ldscript, *_headers(include)])
    stamp = elf.with_suffix(".stamp")
    if not (elf.is_file() and stamp.is_file() and stamp.read_text() == h.hexdigest()):
        elf.parent.mkdir(parents=True, exist_ok=True)
        stamp.unlink(missing_ok=True)
        _run(command, out_dir, f"building the {board.name} firmware against the STM32Cube HAL")
        stamp.write_text(h.hexdigest())
    return BoardFirmware(board.name, part.name, elf, elf_size(elf), _arena_address(elf, prefix),
                         part.bss_region, hal_built)


def board_firmware_summary(fw: BoardFirmware, board: Board) -> str:
    from ..boards import format_bytes_si  # noqa: PLC0415

    where = f", arena at 0x{fw.arena_address:08X} ({fw.arena_region})" if fw.arena_address is not None else ""
    return (f"on the {fw.part} (STM32Cube HAL, whole firmware, -O2): text {fw.size.text:,} B, data {fw.size.data:,} B, "
            f"bss {fw.size.bss:,} B: flash {fw.size.flash_bytes:,} B of {format_bytes_si(board.flash_bytes)}, "
            f"RAM {fw.size.ram_bytes:,} B of {format_bytes_si(board.sram_bytes)}{where}")
