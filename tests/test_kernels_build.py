"""Every runtime source compiles warning-free for the host and for Cortex-M7/M4, needs no
libc beyond memcpy/memset (no malloc) and has a bounded stack (no VLA, no alloca); the
runtime build is cached by content."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tinycc_ml.targets.runtime_build import STRICT_FLAGS, build_runtime, runtime_include_dir, runtime_sources

CORTEX_M = {
    "cortex-m7": ["-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-d16"],
    "cortex-m4": ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"],
}
# -Wstack-usage fails on any unbounded frame (a VLA or alloca), -Wvla names VLAs outright, and
# -Wconversion and friends keep every narrowing explicit (what a stricter user build may add).
EXTRA_CHECKS = [
    "-Wvla", "-Wstack-usage=512", "-Wshadow", "-Wdouble-promotion", "-Wconversion", "-Wsign-conversion",
    "-Wcast-qual", "-Wstrict-prototypes", "-Wmissing-prototypes",
]  # fmt: skip
ALLOWED_LIBC = {"memcpy", "memset"}


def _compile_objects(cc: str, flags: list[str], out_dir: Path) -> list[Path]:
    sources = runtime_sources()
    command = [cc, *STRICT_FLAGS, *EXTRA_CHECKS, "-O2", *flags, f"-I{runtime_include_dir()}", "-c", *map(str, sources)]
    result = subprocess.run(command, cwd=out_dir, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"$ {' '.join(command)}\n{result.stderr}"
    objects = sorted(out_dir.glob("*.o"))
    assert [o.stem for o in objects] == [s.stem for s in sources]
    return objects


def _undefined_symbols(nm: str, objects: list[Path]) -> set[str]:
    """What the runtime's objects call that none of them defines (the shared LIBRARY_SOURCES
    are among the objects)."""
    def symbols(*options: str) -> set[str]:
        result = subprocess.run([nm, *options, *map(str, objects)], capture_output=True, text=True, check=True)
        return {line.split()[-1] for line in result.stdout.splitlines() if line.strip() and not line.endswith(":")}

    return symbols("-u") - symbols("--defined-only", "-g")


@pytest.mark.parametrize("core", sorted(CORTEX_M))
def test_runtime_compiles_for_cortex_m(core, tmp_path):
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("arm-none-eabi-gcc is not installed (`make setup` installs it)")
    objects = _compile_objects("arm-none-eabi-gcc", CORTEX_M[core], tmp_path)
    assert _undefined_symbols("arm-none-eabi-nm", objects) <= ALLOWED_LIBC


def test_runtime_compiles_for_the_host(tmp_path):
    objects = _compile_objects("gcc", [], tmp_path)
    assert _undefined_symbols("nm", objects) <= ALLOWED_LIBC


def test_runtime_build_is_cached_by_content(tmp_path):
    one = {"sources": runtime_sources()[:1], "cache_dir": tmp_path / "cache"}  # one kernel keeps it quick
    source = tmp_path / "extra.c"
    source.write_text("int tinyc_test_extra(void);\nint tinyc_test_extra(void) { return 1; }\n")
    first = build_runtime("shared", extra_sources=[source], **one)
    mtime = first.stat().st_mtime_ns
    assert build_runtime("shared", extra_sources=[source], **one) == first
    assert first.stat().st_mtime_ns == mtime  # reused, not rebuilt
    source.write_text("int tinyc_test_extra(void);\nint tinyc_test_extra(void) { return 2; }\n")
    second = build_runtime("shared", extra_sources=[source], **one)
    assert second != first and second.exists()
    assert build_runtime("shared", extra_sources=[source], flags=("-O0",), **one) != second
