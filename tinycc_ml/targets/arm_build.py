"""Cross-building Cortex-M firmware with the system arm-none-eabi-gcc (newlib).

One function builds an ELF from a list of C sources in a single compiler call, one
reads its size. The flags are the project's: C99, -Wall -Wextra -Werror, function and
data sections collected by --gc-sections. Builds are cached: a stamp next to the ELF
holds a hash of every input (source text, flags, compiler version), so running the same
firmware twice compiles it once.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..errors import BuildError

GCC = "arm-none-eabi-gcc"
SIZE = "arm-none-eabi-size"
INSTALL_HINT = (
    "install the Arm GNU toolchain and newlib: `apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi` "
    "(or `make setup-system`)"
)
OPT_LEVEL = "-O2"  # speed: what the instruction counts and the board builds use
WARNINGS = ("-Wall", "-Wextra", "-Werror")


@dataclass(frozen=True)
class CoreFlags:
    """Code generation flags for one Cortex-M core with its FPU."""

    cpu: str  # e.g. "cortex-m7"
    fpu: str  # e.g. "fpv5-d16", or "none"

    @property
    def float_abi(self) -> str:
        return "soft" if self.fpu == "none" else "hard"

    @property
    def flags(self) -> tuple[str, ...]:
        fpu = () if self.fpu == "none" else (f"-mfpu={self.fpu}",)
        return (f"-mcpu={self.cpu}", "-mthumb", f"-mfloat-abi={self.float_abi}", *fpu)


@dataclass(frozen=True)
class FirmwareSize:
    """`arm-none-eabi-size` (Berkeley format) of an ELF."""

    text: int
    data: int
    bss: int

    @property
    def flash_bytes(self) -> int:
        return self.text + self.data  # .data's initial values are stored in flash too

    @property
    def ram_bytes(self) -> int:
        return self.data + self.bss  # static RAM; stack and heap are reported apart


@dataclass(frozen=True)
class ElfBuild:
    """What to build: sources, include and linker-script directories, flags."""

    sources: tuple[Path, ...]
    include_dirs: tuple[Path, ...]
    core: CoreFlags
    ldscript: str  # file name, found in one of lib_dirs
    lib_dirs: tuple[Path, ...]
    defines: tuple[str, ...] = ()
    specs: str = "rdimon.specs"  # newlib with semihosting: printf, files, exit status

    def command(self, elf: Path) -> list[str]:
        return [
            GCC,
            *self.core.flags,
            "-std=c99",
            OPT_LEVEL,
            *WARNINGS,
            "-ffunction-sections",
            "-fdata-sections",
            *(f"-D{d}" for d in self.defines),
            *(f"-I{d}" for d in self.include_dirs),
            *(str(s) for s in self.sources),
            f"--specs={self.specs}",
            *(f"-L{d}" for d in self.lib_dirs),
            "-T",
            self.ldscript,
            "-Wl,--gc-sections",
            f"-Wl,-Map={elf.with_suffix('.map')}",
            "-o",
            str(elf),
        ]


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BuildError(f"{name} was not found on PATH; {INSTALL_HINT}")
    return path


def _compiler_version() -> str:
    out = subprocess.run([require_tool(GCC), "--version"], capture_output=True, text=True, check=False)
    return out.stdout.splitlines()[0] if out.stdout else ""


def build_key(build: ElfBuild) -> str:
    """Hash of everything that decides the ELF's bytes."""
    h = hashlib.sha256()
    h.update(_compiler_version().encode())
    h.update("\0".join(build.command(Path("firmware.elf"))).encode())
    files = list(build.sources)
    for d in (*build.include_dirs, *build.lib_dirs):
        files += sorted(p for p in d.rglob("*") if p.suffix in (".h", ".ld"))
    for path in files:
        h.update(str(path).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def _stamp(elf: Path) -> Path:
    return elf.with_suffix(".stamp")


def is_up_to_date(build: ElfBuild, elf: Path) -> bool:
    stamp = _stamp(elf)
    return elf.is_file() and stamp.is_file() and stamp.read_text() == build_key(build)


def build_elf(build: ElfBuild, elf: Path) -> bool:
    """Build `elf` unless its stamp says it is up to date; True when it compiled."""
    stamp = _stamp(elf)
    key = build_key(build)
    if elf.is_file() and stamp.is_file() and stamp.read_text() == key:
        return False
    elf.parent.mkdir(parents=True, exist_ok=True)
    stamp.unlink(missing_ok=True)
    require_tool(GCC)
    proc = subprocess.run(build.command(elf), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise BuildError(f"arm-none-eabi-gcc failed building {elf}:\n{(proc.stdout + proc.stderr).strip()}")
    stamp.write_text(key)
    return True


def elf_size(elf: Path) -> FirmwareSize:
    proc = subprocess.run([require_tool(SIZE), "-B", "-d", str(elf)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise BuildError(f"arm-none-eabi-size failed on {elf}: {proc.stderr.strip()}")
    # "   text    data     bss     dec     hex filename" then one line of numbers
    fields = proc.stdout.splitlines()[1].split()
    return FirmwareSize(text=int(fields[0]), data=int(fields[1]), bss=int(fields[2]))
