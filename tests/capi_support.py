"""Drive the generated C API from a hand-written C program, as a firmware engineer would:
several compiled models linked into one program (one copy of the runtime), built for the
host (gcc, ASan + UBSan) or the emulated Cortex-M7 (arm-none-eabi-gcc, QEMU)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tinycc_ml.targets.arm_build import ElfBuild, build_elf
from tinycc_ml.targets.qemu import platform_dir, qemu_target, run_elf

HOST_FLAGS = ("-std=c99", "-O1", "-g", "-Wall", "-Wextra", "-Werror", "-pedantic",
              "-fsanitize=address,undefined", "-fno-sanitize-recover=all")

# The driver's frame: main() reads input.bin and writes output.bin in the working directory
# (QEMU's semihosting does the same), and BODY is the test's own use of the API.
DRIVER = """\
#include <stdint.h>
#include <stdio.h>
#include <string.h>
{includes}
#ifdef TINYC_QEMU
#include "tinyc_mps2.h"
#endif

static uint8_t in_bytes[{in_bytes}];
static uint8_t out_bytes[{out_bytes}];

#define CHECK(cond) do {{ if (!(cond)) {{ printf("check failed at line %d: %s\\n", __LINE__, #cond); return 10; }} }} while (0)

static int body(void)
{{
{body}
    return 0;
}}

int main(void)
{{
    FILE *f = fopen("input.bin", "rb");
    int status;
#ifdef TINYC_QEMU
    uint32_t start, stop;
    tinyc_mps2_timer_start();
    start = tinyc_mps2_timer_now();
#endif
    if (f == NULL || fread(in_bytes, 1, sizeof in_bytes, f) != sizeof in_bytes) {{
        printf("cannot read input.bin\\n");
        return 2;
    }}
    fclose(f);
    status = body();
    if (status != 0) {{
        return status;
    }}
    f = fopen("output.bin", "wb");
    if (f == NULL || fwrite(out_bytes, 1, sizeof out_bytes, f) != sizeof out_bytes || fclose(f) != 0) {{
        printf("cannot write output.bin\\n");
        return 3;
    }}
#ifdef TINYC_QEMU
    stop = tinyc_mps2_timer_now();
    printf("tinyc-qemu: instructions=%llu\\n", (unsigned long long)tinyc_mps2_instructions(start, stop));
#endif
    return 0;
}}
"""


def driver_source(prefixes: list[str], body: str, in_bytes: int, out_bytes: int) -> str:
    includes = "".join(f'#include "{p}.h"\n' for p in prefixes)
    return DRIVER.format(includes=includes, body=body, in_bytes=max(in_bytes, 1), out_bytes=max(out_bytes, 1))


def program_sources(out_dirs: list[Path]) -> tuple[list[Path], list[Path]]:
    """(C sources, include dirs) of the models in `out_dirs`: each model's src/ (not the
    board's main.c) and one copy of every runtime source any of them uses."""
    sources: list[Path] = []
    runtime: dict[str, Path] = {}
    for out in out_dirs:
        sources += sorted(p for p in (out / "src").glob("*.c") if p.name != "main.c")
        runtime.update({p.name: p for p in sorted((out / "lib/tinyc/src").glob("*.c"))})
    includes = [*(out / "src" for out in out_dirs), out_dirs[0] / "lib/tinyc/include"]
    return sources + sorted(runtime.values()), includes


def run_host(work: Path, out_dirs: list[Path], driver: str, input_bytes: bytes, output_nbytes: int,
             defines: tuple[str, ...] = ()) -> bytes:
    work.mkdir(parents=True, exist_ok=True)
    (work / "driver.c").write_text(driver)
    sources, includes = program_sources(out_dirs)
    exe = work / "driver"
    build = subprocess.run(["gcc", *HOST_FLAGS, *(f"-D{d}" for d in defines), *(f"-I{d}" for d in includes),
                            *map(str, sources), str(work / "driver.c"), "-o", str(exe), "-lm"],
                           capture_output=True, text=True, check=False)
    assert build.returncode == 0, build.stderr
    (work / "input.bin").write_bytes(input_bytes)
    run = subprocess.run([str(exe)], cwd=work, capture_output=True, text=True, check=False, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    out = (work / "output.bin").read_bytes()
    assert len(out) == max(output_nbytes, 1)
    return out[:output_nbytes]


def run_qemu_m7(work: Path, out_dirs: list[Path], driver: str, input_bytes: bytes, output_nbytes: int) -> bytes:
    work.mkdir(parents=True, exist_ok=True)
    (work / "driver.c").write_text(driver)
    sources, includes = program_sources(out_dirs)
    target = qemu_target("qemu-m7")
    firmware = platform_dir() / "firmware"
    spec = ElfBuild(sources=(*sources, work / "driver.c", firmware / "startup_mps2.c"),
                    include_dirs=(*includes, firmware), core=target.core, ldscript=target.ldscript,
                    lib_dirs=(platform_dir() / "ldscripts",), defines=("TINYC_QEMU",))
    elf = work / "driver.elf"
    build_elf(spec, elf)
    return run_elf(elf, target, input_bytes, max(output_nbytes, 1)).output[:output_nbytes]
