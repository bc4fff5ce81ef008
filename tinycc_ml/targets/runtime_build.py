"""Build the C runtime (runtime_c/) for the host: a cached shared library or executable.

Tests and tools need the kernels compiled once, not once per test: `build_runtime` keys
its output by a hash of every source and header byte, the compiler and the flags, and
reuses the file when it is already in the cache directory. Two processes building the
same key at once (pytest-xdist workers) each write a private temporary file and rename it
into place, so neither ever sees a half-written library.

`runtime_sources_for` maps the kernel symbols a model calls to the .c files that define
them (each variant record names its source), plus the shared LIBRARY_SOURCES, so code
generation copies only those into OUT/lib/tinyc/src.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Iterable, Literal, Sequence

from ..errors import BuildError
from ..kernels.boundary import BOUNDARY_FUNCTIONS
from ..kernels.call import KernelCall
from ..kernels.registry import VARIANTS
from ..resources import project_root, runtime_dir

# The warning set every runtime source must pass, on host gcc and arm-none-eabi-gcc alike.
STRICT_FLAGS: tuple[str, ...] = ("-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic")
# Every undefined behaviour aborts the process instead of printing and going on.
SANITIZE_FLAGS: tuple[str, ...] = (
    "-fsanitize=address,undefined",
    "-fno-sanitize-recover=all",
    "-fno-omit-frame-pointer",
    "-g",
)

# Functions the kernel sources share out of line (one copy per firmware): linked with every
# model's kernels; --gc-sections drops what a model does not call.
LIBRARY_SOURCES: tuple[str, ...] = ("tinyc_requant_s8.c",)


def runtime_include_dir() -> Path:
    return runtime_dir() / "include"


def runtime_sources() -> list[Path]:
    """Every portable kernel source, in a stable order."""
    return sorted((runtime_dir() / "src").glob("*.c"))


def runtime_headers() -> list[Path]:
    return sorted((runtime_include_dir() / "tinyc").glob("*.h"))


def source_table() -> dict[str, str]:
    """Every runtime symbol the compiler may emit -> the runtime_c/src file defining it."""
    table = {v.symbol: v.source for v in VARIANTS}
    table.update({f.symbol: f.source for f in BOUNDARY_FUNCTIONS.values()})
    return table


def source_for_symbol(symbol: str) -> Path:
    source = source_table().get(symbol)
    if source is None:
        raise BuildError(f"no kernel variant or boundary function is named {symbol!r}")
    path = runtime_dir() / "src" / source
    if not path.is_file():
        raise BuildError(f"no runtime source defines kernel {symbol!r} (expected {path})")
    return path


def runtime_sources_for(calls: Iterable[KernelCall]) -> list[Path]:
    """The runtime .c files the given kernel calls need, each once, sorted by name: the sources
    of their symbols and, with any, LIBRARY_SOURCES."""
    sources = {source_for_symbol(call.symbol) for call in calls}
    if sources:
        sources |= {runtime_dir() / "src" / name for name in LIBRARY_SOURCES}
    return sorted(sources)


def default_cache_dir() -> Path:
    override = os.environ.get("TINYC_CACHE_DIR")
    return Path(override) if override else project_root() / ".tinyc_cache"


def _build_key(cc: str, kind: str, sources: Sequence[Path], flags: Sequence[str]) -> str:
    digest = hashlib.sha256()
    version = subprocess.run([cc, "--version"], capture_output=True, text=True, check=False).stdout
    for part in (cc, version, kind, *flags):
        digest.update(part.encode() + b"\0")
    for path in (*sources, *runtime_headers(), *sorted((runtime_dir() / "test").glob("*.h"))):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:20]


def build_runtime(
    kind: Literal["shared", "executable"] = "shared",
    *,
    extra_sources: Sequence[Path] = (),
    flags: Sequence[str] = ("-O2",),
    sources: Sequence[Path] | None = None,
    include_dirs: Sequence[Path] = (),
    cc: str = "gcc",
    cache_dir: Path | None = None,
) -> Path:
    """Compile the runtime (all of runtime_c/src unless `sources` is given) plus
    `extra_sources` into a shared library or an executable; return its cached path."""
    if shutil.which(cc) is None:
        raise BuildError(f"C compiler {cc!r} not found; run `make setup`")
    all_sources = [*(runtime_sources() if sources is None else sources), *extra_sources]
    all_flags = [*STRICT_FLAGS, *flags]
    if kind == "shared":
        all_flags += ["-shared", "-fPIC"]
    includes = [f"-I{d}" for d in (runtime_include_dir(), *include_dirs)]
    key = _build_key(cc, kind, all_sources, [*all_flags, *includes])
    cache = cache_dir or default_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / (f"libtinyc_{key}.so" if kind == "shared" else f"tinyc_{key}")
    if target.exists():
        return target
    fd, tmp_name = tempfile.mkstemp(dir=cache, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    command = [cc, *all_flags, *includes, *map(str, all_sources), "-o", tmp_name]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        Path(tmp_name).unlink(missing_ok=True)
        raise BuildError(f"building the tinyc runtime failed:\n$ {' '.join(command)}\n{result.stderr}")
    os.replace(tmp_name, target)
    return target
