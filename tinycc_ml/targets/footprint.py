"""Flash and RAM that the model costs on the board's own core, measured at compile time.

The generated model and the runtime sources it uses are cross-built for the board's core
and FPU (arm-none-eabi-gcc, the same -O2 as the firmware) and linked with only the model
API as roots, so --gc-sections keeps exactly the code a board firmware would carry for
the model: kernels, weights, parameter structs, the arena. The board's own start-up,
HAL and printf come on top and are not counted here (`tinyc run --target qemu-*`
reports whole firmware images).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..boards import Board
from ..errors import BuildError
from ..outdir import owned_sources
from .arm_build import GCC, OPT_LEVEL, WARNINGS, CoreFlags, FirmwareSize, elf_size

BOARD_MAIN = "main.c"


@dataclass(frozen=True)
class Footprint:
    core: str
    size: FirmwareSize | None  # None when the cross compiler is not installed
    note: str = ""  # why it was not measured

    def as_report(self) -> dict:
        if self.size is None:
            return {"core": self.core, "measured": False, "note": self.note}
        return {
            "core": self.core,
            "measured": True,
            "optimization": OPT_LEVEL,
            "flash_bytes": self.size.flash_bytes,
            "ram_bytes": self.size.ram_bytes,
            "text": self.size.text,
            "data": self.size.data,
            "bss": self.size.bss,
        }


def _command(sources: list[Path], include_dirs: list[Path], core: CoreFlags, prefix: str, elf: Path) -> list[str]:
    roots = [f"-Wl,--undefined={prefix}_{fn}" for fn in ("init", "input", "output", "invoke", "run")]
    return [
        GCC, *core.flags, "-std=c99", OPT_LEVEL, *WARNINGS,
        "-ffunction-sections", "-fdata-sections",
        *(f"-I{d}" for d in include_dirs),
        *(str(s) for s in sources),
        "--specs=nosys.specs", "-nostartfiles", f"-Wl,--entry={prefix}_invoke", *roots,
        "-Wl,--gc-sections", "-o", str(elf),
    ]


def measure(out_dir: Path, board: Board, prefix: str) -> Footprint:
    """Cross-build OUT's model + runtime for `board` (cached by a hash of the command and sources)."""
    if shutil.which(GCC) is None:
        return Footprint(board.core, None, f"{GCC} not found (`make setup-system` installs it)")
    sources = owned_sources(out_dir, "src", exclude=(BOARD_MAIN,))  # not the user's own files
    sources += sorted((out_dir / "lib" / "tinyc" / "src").glob("*.c"))
    include_dirs = [out_dir / "src", out_dir / "lib" / "tinyc" / "include"]
    elf = out_dir / "build" / f"footprint-{board.name}" / f"{prefix}.elf"
    command = _command(sources, include_dirs, CoreFlags(board.core, board.fpu), prefix, elf)
    key = hashlib.sha256("\0".join(command).encode())
    for path in [*sources, *sorted((out_dir / "lib" / "tinyc" / "include").rglob("*.h")), *sorted((out_dir / "src").glob("*.h"))]:
        key.update(path.read_bytes())
    stamp = elf.with_suffix(".stamp")
    if not (elf.is_file() and stamp.is_file() and stamp.read_text() == key.hexdigest()):
        elf.parent.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(command, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise BuildError(f"cross-building the model for {board.core} failed:\n{(proc.stdout + proc.stderr).strip()}")
        stamp.write_text(key.hexdigest())
    return Footprint(board.core, elf_size(elf))
