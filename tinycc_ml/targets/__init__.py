"""Run targets, by name. Adding a target is one entry in TARGETS (the CLI's --target
choices come from here)."""

from __future__ import annotations

from functools import partial

from . import host, qemu
from .base import BuildInfo, IOSpec, RunResult, Target, check_input, read_build_info

TARGETS: dict[str, Target] = {
    "host": Target("host", "the generated C built with this machine's gcc", host.run),
    "qemu-m7": Target("qemu-m7", "firmware on QEMU's emulated Cortex-M7 (mps2-an500), counting instructions",
                      partial(qemu.run, target="qemu-m7")),
    "qemu-m4": Target("qemu-m4", "firmware on QEMU's emulated Cortex-M4 (mps2-an386), counting instructions",
                      partial(qemu.run, target="qemu-m4")),
    "qemu-m33": Target("qemu-m33", "firmware on QEMU's emulated Cortex-M33 (mps2-an505), counting instructions",
                       partial(qemu.run, target="qemu-m33")),
    "qemu-m3": Target("qemu-m3", "firmware on QEMU's emulated Cortex-M3 without DSP or FPU (mps2-an385), "
                      "counting instructions", partial(qemu.run, target="qemu-m3")),
}

__all__ = ["BuildInfo", "IOSpec", "RunResult", "TARGETS", "Target", "check_input", "read_build_info"]
