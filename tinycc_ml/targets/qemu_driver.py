"""The kernel test driver as Cortex-M firmware under QEMU: every kernel test on qemu-m4/m7.

runtime_c/test/tinyc_kernel_driver.c built with -DTINYC_DRIVER_FILES, all of runtime_c/src,
tinyc_test_support.c, the dispatch generated from the kernel records and the MPS2 startup (boards/platformio/firmware) with the project's
arm-none-eabi-gcc flags (-O2, -Werror, newlib + rdimon semihosting): the kernels exactly as
a qemu-m4/m7 model build compiles them, DSP paths included. One QEMU run serves a whole
batch of plans: the request file holds them back to back, the reply file the answers
(semihosting's console is a terminal stream; files carry binary data without surprises).

`build_kernel_driver` caches the ELF by a hash of every input (arm_build.build_key) under
the runtime cache directory, so a test session builds each firmware once, and concurrent
pytest-xdist workers each link a private file and rename it into place.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path
from typing import Sequence

from ..errors import BuildError
from ..kernels.harness import CallPlan, DriverError, decode_replies, encode_plan
from ..resources import runtime_dir
from .arm_build import ElfBuild, build_key, require_tool
from .kernel_test_sources import kernel_test_sources
from .qemu import QEMU, QemuTarget, platform_dir, qemu_target
from .runtime_build import default_cache_dir, runtime_include_dir, runtime_sources

DRIVER_DEFINES = ("TINYC_DRIVER_FILES",)
REQUEST, REPLY = "request.bin", "reply.bin"
DEFAULT_TIMEOUT_S = 300.0


def kernel_driver_build(target: QemuTarget, defines: Sequence[str] = (), cache_dir: Path | None = None) -> ElfBuild:
    firmware = platform_dir() / "firmware"
    support = kernel_test_sources(cache_dir or default_cache_dir(), driver=True)  # + the records' dispatch
    return ElfBuild(
        sources=(*runtime_sources(), *support, firmware / "startup_mps2.c"),
        include_dirs=(runtime_include_dir(), runtime_dir() / "test", firmware),
        core=target.core,
        ldscript=target.ldscript,
        lib_dirs=(platform_dir() / "ldscripts",),
        defines=(*DRIVER_DEFINES, *defines),
    )


def build_kernel_driver(target: QemuTarget, defines: Sequence[str] = (), cache_dir: Path | None = None) -> Path:
    """The driver firmware for `target`, built unless the cache already holds it."""
    spec = kernel_driver_build(target, defines, cache_dir)
    cache = (cache_dir or default_cache_dir()) / "qemu_driver"
    cache.mkdir(parents=True, exist_ok=True)
    elf = cache / f"{target.name}_{build_key(spec)[:20]}.elf"
    if elf.is_file():
        return elf
    fd, tmp_name = tempfile.mkstemp(dir=cache, prefix=f".{elf.stem}.", suffix=".elf")
    os.close(fd)
    tmp = Path(tmp_name)
    require_tool("arm-none-eabi-gcc")
    proc = subprocess.run(spec.command(tmp), capture_output=True, text=True, check=False)
    tmp.with_suffix(".map").unlink(missing_ok=True)
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise BuildError(f"building the {target.name} kernel driver failed:\n{(proc.stdout + proc.stderr).strip()}")
    os.replace(tmp, elf)
    return elf


class QemuDriverRunner:
    """Runs plans on the kernel driver firmware under qemu-system-arm, a batch per boot."""

    def __init__(self, elf: Path, target: QemuTarget, timeout: float = DEFAULT_TIMEOUT_S):
        self.elf = elf
        self.target = target
        self.timeout = timeout

    @classmethod
    def for_target(cls, name: str, defines: Sequence[str] = ()) -> "QemuDriverRunner":
        target = qemu_target(name)
        return cls(build_kernel_driver(target, defines), target)

    @property
    def name(self) -> str:
        return self.target.name

    def run(self, plan: CallPlan) -> list[bytes]:
        return self.run_many([plan])[0]

    def run_many(self, plans: Sequence[CallPlan]) -> list[list[bytes]]:
        if not plans:
            return []
        require_tool(QEMU)
        with tempfile.TemporaryDirectory(prefix="tinyc_qemu_driver_") as tmp:
            Path(tmp, REQUEST).write_bytes(b"".join(encode_plan(p) for p in plans) + bytes(4))
            try:
                proc = subprocess.run(self.target.command(self.elf.resolve()), cwd=tmp, capture_output=True,
                                      text=True, timeout=self.timeout, check=False, stdin=subprocess.DEVNULL)
            except subprocess.TimeoutExpired:
                raise DriverError(f"{self.name}: the kernel driver did not finish {len(plans)} plans within "
                                  f"{self.timeout:g} s") from None
            reply = Path(tmp, REPLY)
            data = reply.read_bytes() if reply.is_file() else b""
        if proc.returncode != 0:
            symbols = sorted({c.symbol for p in plans for c in p.calls})
            raise DriverError(f"{self.name}: the kernel driver exited with status {proc.returncode} running "
                              f"{', '.join(symbols)}:\n{(proc.stdout + proc.stderr).strip()}")
        return decode_replies(data, plans)

    def close(self) -> None:
        """Nothing stays running between batches."""
