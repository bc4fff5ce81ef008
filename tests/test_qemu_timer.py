"""The emulated Cortex-M machinery without any model: the instruction counter's factor,
exit statuses, faults and hangs, on every QEMU machine."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tinycc_ml.errors import BuildError
from tinycc_ml.targets.arm_build import ElfBuild, build_elf, elf_size
from tinycc_ml.targets.qemu import platform_dir, qemu_target, run_elf

pytestmark = pytest.mark.skipif(
    shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
    reason="needs arm-none-eabi-gcc and qemu-system-arm (make setup-system)",
)

TARGETS = ("qemu-m7", "qemu-m4", "qemu-m33", "qemu-m3")
# Instructions per CMSDK timer tick: the FPGA clock is 25 MHz, 20 MHz on the an505 (qemu-m33).
TICK = {"qemu-m7": 40, "qemu-m4": 40, "qemu-m33": 50, "qemu-m3": 40}

# spin(n) executes exactly 2n instructions in its loop (subs + bne), the call adds a few.
CALIBRATION = r"""
#include <stdint.h>
#include <stdio.h>
#include "tinyc_mps2.h"

__attribute__((noinline)) static void spin(uint32_t n)
{
    __asm__ volatile("1: subs %0, %0, #1\n\tbne 1b" : "+r"(n) : : "cc");
}

static uint64_t measure(uint32_t n)
{
    uint32_t start = tinyc_mps2_timer_now();
    spin(n);
    return tinyc_mps2_instructions(start, tinyc_mps2_timer_now());
}

int main(void)
{
    static const uint32_t loops[] = {1000u, 100000u, 1000000u, 2000000u};
    unsigned i;
    tinyc_mps2_timer_start();
    for (i = 0; i < sizeof loops / sizeof loops[0]; i++) {
        printf("spin %lu: %llu\n", (unsigned long)loops[i], (unsigned long long)measure(loops[i]));
    }
    return 0;
}
"""

PROGRAMS = {
    "exit_status": "int main(void) { return 3; }\n",
    "fault": "int main(void) { __asm__ volatile(\"udf #0\"); return 0; }\n",
    "hang": "int main(void) { for (;;) { __asm__ volatile(\"nop\"); } }\n",
    "calibration": CALIBRATION,
}


def _build(tmp: Path, target: str, name: str) -> Path:
    tgt = qemu_target(target)
    src = tmp / f"{name}.c"
    src.write_text(PROGRAMS[name])
    firmware = platform_dir() / "firmware"
    spec = ElfBuild((src, firmware / "startup_mps2.c"), (firmware,), tgt.core, tgt.ldscript,
                    (platform_dir() / "ldscripts",))
    elf = tmp / target / f"{name}.elf"
    build_elf(spec, elf)
    return elf


@pytest.fixture(scope="module")
def firmware(tmp_path_factory) -> dict[tuple[str, str], Path]:
    tmp = tmp_path_factory.mktemp("qemu_timer")
    return {(t, name): _build(tmp, t, name) for t in TARGETS for name in PROGRAMS}


def _run_console(elf: Path, target: str, timeout: float = 60.0) -> tuple[int, str]:
    import subprocess

    proc = subprocess.run(qemu_target(target).command(elf), capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, cwd=elf.parent)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.parametrize("target", TARGETS)
def test_one_timer_tick_is_40_instructions(firmware, target):
    """40 instructions per tick at 25 MHz; 50 on the an505, whose timer runs at 20 MHz."""
    tick = TICK[target]
    assert qemu_target(target).instructions_per_tick == tick
    status, console = _run_console(firmware[target, "calibration"], target)
    assert status == 0, console
    counts = {int(n): int(c) for n, c in re.findall(r"^spin (\d+): (\d+)$", console, re.MULTILINE)}
    assert sorted(counts) == [1000, 100000, 1000000, 2000000]
    for n, count in counts.items():
        assert count % tick == 0
        # 2n loop instructions + the call and the timer reads (< 40), seen through whole ticks
        assert 2 * n - tick <= count <= 2 * n + 2 * tick, (n, count)
    # The fixed overhead cancels in a difference: exactly 2,000,000 more instructions, up to one tick.
    assert abs((counts[2000000] - counts[1000000]) - 2_000_000) <= tick


@pytest.mark.parametrize("target", TARGETS)
def test_counts_repeat_exactly(firmware, target):
    assert _run_console(firmware[target, "calibration"], target) == _run_console(firmware[target, "calibration"], target)


@pytest.mark.parametrize("target", TARGETS)
def test_exit_status_reaches_the_host(firmware, target):
    assert _run_console(firmware[target, "exit_status"], target) == (3, "")


@pytest.mark.parametrize("target", TARGETS)
def test_a_fault_exits_with_70_and_says_so(firmware, target):
    # UDF with UsageFault disabled escalates to HardFault: exception 3.
    assert _run_console(firmware[target, "fault"], target) == (70, "tinyc: fault in exception 003\n")


def test_a_hang_is_killed_after_the_timeout(firmware):
    elf = firmware["qemu-m4", "hang"]
    with pytest.raises(BuildError) as err:
        run_elf(elf, qemu_target("qemu-m4"), b"", 0, timeout=1.5)
    assert str(err.value) == ("qemu-m4: hang.elf did not finish within 1.5 s and was killed "
                              "(a hang, or a model too slow for the emulator: raise --timeout)")


def test_a_failing_firmware_reports_its_status_and_console(firmware):
    with pytest.raises(BuildError) as err:
        run_elf(firmware["qemu-m7", "fault"], qemu_target("qemu-m7"), b"", 0)
    assert str(err.value) == "qemu-m7: fault.elf exited with status 70:\ntinyc: fault in exception 003"


def test_data_is_copied_to_ram_and_sizes_add_up(firmware):
    size = elf_size(firmware["qemu-m7", "calibration"])
    assert size.flash_bytes == size.text + size.data and size.ram_bytes == size.data + size.bss
    assert size.data > 0  # newlib's initialised data: copied from flash by Reset_Handler, else printf fails
