"""The board firmware on QEMU with its serial port: validation without a board.

The PlatformIO project's own sources (src/main.c, the QEMU board glue, the protocol in
src/board/serial_protocol.c, the model and runtime) are built with -DTINYC_SERVE, so after
its first run the board main answers the validation protocol on the mps2 machine's CMSDK
UART0, which QEMU connects to a local TCP socket (`-serial tcp:...`). `tinyc verify --port
socket://127.0.0.1:PORT` then talks to it exactly as to a board's ST-LINK virtual COM port.
"""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import BuildError
from .arm_build import ElfBuild, build_elf, require_tool
from .qemu import BOARD_MAIN, QEMU, QemuTarget, platform_dir, qemu_target

SERVE_DEFINE = "TINYC_SERVE"
BOARD_QEMU = "board/board_qemu.c"
LOCALHOST = "127.0.0.1"


def serving_build(out_dir: Path, target: QemuTarget) -> ElfBuild:
    out = Path(out_dir)
    src = out / "src"
    board = [src / BOARD_QEMU, src / "board" / "test_input.c", src / "board" / "serial_protocol.c"]
    missing = [p for p in [src / BOARD_MAIN, *board] if not p.is_file()]
    if missing:
        raise BuildError(f"{missing[0]} is missing; recompile the model with `tinyc compile ... -o {out}`")
    firmware = platform_dir() / "firmware"
    return ElfBuild(
        sources=(*sorted(src.glob("*.c")), *board, *sorted((out / "lib" / "tinyc" / "src").glob("*.c")),
                 firmware / "startup_mps2.c"),
        include_dirs=(src, out / "lib" / "tinyc" / "include", firmware),
        core=target.core,
        ldscript=target.ldscript,
        lib_dirs=(platform_dir() / "ldscripts",),
        defines=(SERVE_DEFINE,),
    )


def build_serving_firmware(out_dir: Path, target_name: str = "qemu-m7") -> Path:
    target = qemu_target(target_name)
    elf = Path(out_dir) / "build" / f"{target.name}-serve" / "firmware.elf"
    build_elf(serving_build(Path(out_dir), target), elf)
    return elf


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((LOCALHOST, 0))
        return s.getsockname()[1]


@dataclass
class ServingQemu:
    """A running QEMU with the firmware's UART0 on a local TCP port; stop() ends it."""

    process: subprocess.Popen
    port: int

    @property
    def url(self) -> str:
        return f"socket://{LOCALHOST}:{self.port}"

    def stop(self) -> str:
        """End QEMU; what it printed (the board main's semihosting console)."""
        if self.process.poll() is None:
            self.process.kill()
        out, _ = self.process.communicate(timeout=10)
        return out


def start_serving(elf: Path, target_name: str = "qemu-m7", startup_timeout_s: float = 20.0) -> ServingQemu:
    require_tool(QEMU)
    target = qemu_target(target_name)
    port = _free_port()
    command = target.command(Path(elf).resolve())
    serial_at = command.index("-serial") + 1
    command[serial_at] = f"tcp:{LOCALHOST}:{port},server=on,wait=off"
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               text=True)
    deadline = time.monotonic() + startup_timeout_s
    while time.monotonic() < deadline:  # until QEMU listens
        if process.poll() is not None:
            raise BuildError(f"{QEMU} exited with status {process.returncode}: {process.communicate()[0].strip()}")
        try:
            socket.create_connection((LOCALHOST, port), timeout=1).close()
            return ServingQemu(process, port)
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise BuildError(f"{QEMU} did not open its serial port {port} within {startup_timeout_s:g} s")
