"""Flash and RAM that the model costs on the board's own core, measured at compile time.

The generated model and the runtime sources it uses are cross-built for the board's core
and FPU (arm-none-eabi-gcc, the same -O2 as the firmware) and linked with only the model
API as roots, so --gc-sections keeps exactly the code a board firmware would carry for
the model: kernels, weights, parameter structs, the arena. The board's own start-up,
HAL and printf come on top and are not counted here (`tinyc run --target qemu-*`
reports whole firmware images).

Of that flash, the runtime code (`CodeBytes`: the kernels, the generated glue and the
newlib/libgcc functions they call; weights and parameter structs excluded) is read from the
ELF's symbol table and call graph (`runtime_code_bytes`), for report.json, the compile
summary and benchmarks/cortex_m.py alike.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..boards import Board
from ..errors import BuildError
from ..outdir import owned_sources
from .arm_build import GCC, OPT_LEVEL, WARNINGS, CoreFlags, FirmwareSize, elf_size

BOARD_MAIN = "main.c"
READELF = "arm-none-eabi-readelf"
OBJDUMP = "arm-none-eabi-objdump"
_FUNCTION_HEAD = re.compile(r"^[0-9a-f]+ <([^>]+)>:$")
_CALL = re.compile(r"\s(?:bl|blx|b\.w|b)\s+[0-9a-f]+ <([^>+]+)>")


@dataclass(frozen=True)
class CodeBytes:
    """Code bytes in a linked ELF after --gc-sections (FUNC symbol sizes): kernels = the
    functions named tinyc_* (the runtime's kernels and helpers), glue = PREFIX_* (the
    generated model_invoke, model_input, ...), library = the newlib / libgcc functions
    those call, directly or through each other (memcpy, 64-bit helpers)."""

    kernels: int
    glue: int
    library: int

    @property
    def total(self) -> int:
        return self.kernels + self.glue + self.library

    def as_report(self) -> dict:
        return {"total": self.total, "kernels": self.kernels, "glue": self.glue, "library": self.library}


def _tool_output(tool: str, *args: str) -> str:
    proc = subprocess.run([tool, *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise BuildError(f"{tool} {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


def function_sizes(readelf_symbols: str) -> dict[str, int]:
    """FUNC symbol -> size, from `readelf -sW` output (defined symbols only). Static functions
    of one name in several sources (a header's helper) are several functions: their sizes add
    up, each address once."""
    sizes: dict[str, int] = {}
    seen: set[tuple[str, str]] = set()
    for line in readelf_symbols.splitlines():
        parts = line.split()
        if len(parts) >= 8 and parts[3] == "FUNC" and parts[6] != "UND" and (parts[7], parts[1]) not in seen:
            seen.add((parts[7], parts[1]))
            size = int(parts[2], 16) if parts[2].startswith("0x") else int(parts[2])
            sizes[parts[7]] = sizes.get(parts[7], 0) + size
    return sizes


def call_graph(disassembly: str) -> dict[str, set[str]]:
    """function -> the functions it branches to, from `objdump -d` output."""
    callees: dict[str, set[str]] = {}
    current = ""
    for line in disassembly.splitlines():
        head = _FUNCTION_HEAD.match(line)
        if head:
            current = head.group(1)
            callees.setdefault(current, set())
            continue
        call = _CALL.search(line)
        if call and current and call.group(1) != current:
            callees[current].add(call.group(1))
    return callees


def runtime_code_bytes(elf: Path, prefix: str) -> CodeBytes:
    """The runtime code of a linked firmware or footprint ELF (see CodeBytes)."""
    sizes = function_sizes(_tool_output(READELF, "-sW", str(elf)))
    callees = call_graph(_tool_output(OBJDUMP, "-d", str(elf)))
    own = {name for name in sizes if name.startswith("tinyc_") or name.startswith(f"{prefix}_")}
    library: set[str] = set()
    todo = list(own)
    while todo:
        for callee in callees.get(todo.pop(), ()):
            if callee in sizes and callee not in own and callee not in library:
                library.add(callee)
                todo.append(callee)
    return CodeBytes(kernels=sum(sizes[n] for n in own if n.startswith("tinyc_")),
                     glue=sum(sizes[n] for n in own if not n.startswith("tinyc_")),
                     library=sum(sizes[n] for n in library))


@dataclass(frozen=True)
class Footprint:
    core: str
    size: FirmwareSize | None  # None when the cross compiler is not installed
    note: str = ""  # why it was not measured
    code: CodeBytes | None = None  # the runtime code in that flash (None: readelf/objdump missing)

    def as_report(self) -> dict:
        if self.size is None:
            return {"core": self.core, "measured": False, "note": self.note}
        code = {} if self.code is None else {"runtime_code_bytes": self.code.total,
                                             "runtime_code": self.code.as_report()}
        return {
            "core": self.core,
            "measured": True,
            "optimization": OPT_LEVEL,
            "flash_bytes": self.size.flash_bytes,
            "ram_bytes": self.size.ram_bytes,
            "text": self.size.text,
            "data": self.size.data,
            "bss": self.size.bss,
            **code,
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
    code = runtime_code_bytes(elf, prefix) if shutil.which(READELF) and shutil.which(OBJDUMP) else None
    return Footprint(board.core, elf_size(elf), code=code)
