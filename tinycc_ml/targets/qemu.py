"""Emulated Cortex-M targets: the generated C as bare-metal firmware under qemu-system-arm.

    qemu-m7   mps2-an500, Cortex-M7, -mfpu=fpv5-d16 (double-precision FPU, as QEMU models it)
    qemu-m4   mps2-an386, Cortex-M4, -mfpu=fpv4-sp-d16
    qemu-m33  mps2-an505, Cortex-M33 (DSP, -mfpu=fpv5-sp-d16), booting and staying Secure
    qemu-m3   mps2-an385, Cortex-M3, no DSP and no FPU (-mfloat-abi=soft): the portable kernels

The firmware is OUT/src (minus the board's main.c) + OUT/lib/tinyc + OUT/qemu/main_qemu.c
+ the startup and linker scripts of tinyc's PlatformIO platform (boards/platformio), built
with arm-none-eabi-gcc and newlib's semihosting (rdimon). The run exchanges the input and
output as files through semihosting: QEMU runs in a fresh temporary directory holding
input.bin, and the firmware writes output.bin there and exits with its status.

Instruction counts: QEMU runs with `-icount shift=0`, where every instruction advances
virtual time by 1 ns; the firmware reads the CMSDK timer around model_invoke() only, which
runs at the FPGA clock (the virtual board's clock_hz: 25 MHz, 20 MHz on the an505), so one
tick is 40 (50) instructions (see tinyc_mps2.h; the count has that granularity).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..boards import Board, load_board
from ..errors import BuildError, TinycError
from ..resources import boards_dir
from ..outdir import owned_sources
from .arm_build import OPT_LEVEL, CoreFlags, ElfBuild, FirmwareSize, build_elf, elf_size, is_up_to_date, require_tool
from .base import BuildInfo, Progress, RunResult, check_input

QEMU = "qemu-system-arm"
DEFAULT_TIMEOUT_S = 120.0
BOARD_MAIN = "main.c"  # the real board's main in OUT/src: not part of the QEMU harness
HARNESS = "qemu/main_qemu.c"
_INSTRUCTIONS = re.compile(r"^tinyc-qemu: instructions=(\d+)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class QemuTarget:
    name: str  # "qemu-m7"
    board: Board  # the virtual board: machine, cpu, fpu

    @property
    def core(self) -> CoreFlags:
        return CoreFlags(self.board.core, self.board.fpu)

    @property
    def instructions_per_tick(self) -> int:
        """The count's resolution: 1 ns per instruction under -icount shift=0, one timer tick
        per cycle of the FPGA clock (tinyc_mps2.h's TINYC_MPS2_INSTRUCTIONS_PER_TICK)."""
        return 1_000_000_000 // self.board.clock_hz

    @property
    def ldscript(self) -> str:
        return f"{self.board.qemu.machine.replace('-', '_')}.ld"  # mps2_an500.ld

    def command(self, elf: Path) -> list[str]:
        return [
            QEMU,
            "-machine", self.board.qemu.machine,
            "-cpu", self.board.qemu.cpu,
            "-nographic", "-monitor", "none", "-serial", "none",
            "-semihosting-config", "enable=on,target=native",
            "-icount", "shift=0",
            "-kernel", str(elf),
        ]


TARGET_BOARDS = {"qemu-m7": "qemu_m7", "qemu-m4": "qemu_m4", "qemu-m33": "qemu_m33", "qemu-m3": "qemu_m3"}


def qemu_target(name: str) -> QemuTarget:
    if name not in TARGET_BOARDS:
        raise TinycError(f"unknown QEMU target '{name}'; known: {', '.join(TARGET_BOARDS)}")
    board = load_board(TARGET_BOARDS[name])
    if board.qemu is None:
        raise TinycError(f"board {board.name} has no [qemu] machine")
    return QemuTarget(name, board)


def platform_dir() -> Path:
    """tinyc's PlatformIO platform: it also holds the startup and linker scripts."""
    return boards_dir() / "platformio"


@dataclass(frozen=True)
class Firmware:
    elf: Path
    size: FirmwareSize
    built: bool  # False when the cached ELF was up to date


def firmware_build(info: BuildInfo, target: QemuTarget) -> ElfBuild:
    out = info.out_dir
    harness = out / HARNESS
    if not harness.is_file():
        raise TinycError(f"{harness} is missing; recompile with `tinyc compile` to generate the QEMU harness")
    model_sources = owned_sources(out, "src", exclude=(BOARD_MAIN,))  # not the user's own files
    runtime_sources = sorted((out / "lib" / "tinyc" / "src").glob("*.c"))
    firmware = platform_dir() / "firmware"
    return ElfBuild(
        sources=(*model_sources, *runtime_sources, harness, firmware / "startup_mps2.c"),
        include_dirs=(out / "src", out / "lib" / "tinyc" / "include", firmware),
        core=target.core,
        ldscript=target.ldscript,
        lib_dirs=(platform_dir() / "ldscripts",),
    )


PROFILE_DEFINE = "TINYC_PROFILE"  # model_invoke() calls the profiling hook (templates/model.c.j2)


def build(info: BuildInfo, target: QemuTarget, progress: Progress | None = None, *, profile: bool = False) -> Firmware:
    """The firmware ELF (cached); `profile`: the -DTINYC_PROFILE variant, in its own build directory."""
    elf = info.out_dir / "build" / (f"{target.name}-profile" if profile else target.name) / f"{info.prefix}.elf"
    spec = firmware_build(info, target)
    if profile:
        spec = replace(spec, defines=(*spec.defines, PROFILE_DEFINE))
    if progress and not is_up_to_date(spec, elf):
        progress(f"building {elf} ({target.core.cpu}, {' '.join(target.core.flags)})")
    built = build_elf(spec, elf)
    return Firmware(elf, elf_size(elf), built)


def record_firmware(out_dir: Path, target: str, size: FirmwareSize) -> None:
    """Add the firmware's size to OUT/report.json under "firmware" -> target (a recompile drops it)."""
    path = Path(out_dir) / "report.json"
    entry = {"flash_bytes": size.flash_bytes, "ram_bytes": size.ram_bytes, "text": size.text,
             "data": size.data, "bss": size.bss, "optimization": OPT_LEVEL}
    lock_path = Path(out_dir) / "build" / ".report.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # runs on several qemu targets may update it at once
        report = json.loads(path.read_text())
        if report.get("firmware", {}).get(target) == entry:
            return
        report.setdefault("firmware", {})[target] = entry
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(report, indent=2) + "\n")
        os.replace(tmp, path)


@dataclass(frozen=True)
class QemuRun:
    output: bytes
    instructions: int
    console: str


def run_elf(elf: Path, target: QemuTarget, input_bytes: bytes, output_nbytes: int,
            timeout: float = DEFAULT_TIMEOUT_S) -> QemuRun:
    """Run firmware built from main_qemu.c on one input; its output bytes and instruction count."""
    require_tool(QEMU)
    with tempfile.TemporaryDirectory(prefix="tinyc_qemu_") as tmp:
        (Path(tmp) / "input.bin").write_bytes(input_bytes)
        try:
            proc = subprocess.run(target.command(elf.resolve()), cwd=tmp, capture_output=True, text=True,
                                  timeout=timeout, check=False, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise BuildError(f"{target.name}: {elf.name} did not finish within {timeout:g} s and was killed "
                             "(a hang, or a model too slow for the emulator: raise --timeout)") from None
        console = proc.stdout + proc.stderr
        if proc.returncode != 0:
            raise BuildError(f"{target.name}: {elf.name} exited with status {proc.returncode}:\n{console.strip()}")
        out_path = Path(tmp) / "output.bin"
        raw = out_path.read_bytes() if out_path.is_file() else b""
    if len(raw) != output_nbytes:
        raise BuildError(f"{target.name}: {elf.name} wrote {len(raw)} output bytes, expected {output_nbytes}")
    match = _INSTRUCTIONS.search(console)
    if match is None:
        raise BuildError(f"{target.name}: {elf.name} printed no instruction count:\n{console.strip()}")
    return QemuRun(raw, int(match.group(1)), console)


def run(info: BuildInfo, x: np.ndarray, progress: Progress | None = None, *, target: str,
        timeout: float | None = None) -> RunResult:
    x = check_input(x, info.input)  # a wrong input is reported before any build
    tgt = qemu_target(target)
    fw = build(info, tgt, progress)
    record_firmware(info.out_dir, target, fw.size)
    result = run_elf(fw.elf, tgt, x.tobytes(), info.output.nbytes, DEFAULT_TIMEOUT_S if timeout is None else timeout)
    y = np.frombuffer(result.output, dtype=info.output.numpy_dtype).reshape(info.output.shape).copy()
    return RunResult(target, y, None, info.arena_bytes, instructions=result.instructions,
                     flash_bytes=fw.size.flash_bytes, ram_bytes=fw.size.ram_bytes)
