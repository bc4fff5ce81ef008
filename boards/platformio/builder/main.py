"""tinyc-qemu: PlatformIO build script (SCons) of tinyc's emulated Cortex-M platform.

Builds with the system arm-none-eabi-gcc and newlib's semihosting (rdimon), links with
the board's MPS2 linker script and the platform's startup (firmware/startup_mps2.c), and
makes `pio run -t upload` run the ELF under qemu-system-arm (-icount shift=0, semihosting
on): the firmware's console output appears on stdout and its exit status is the upload's.
No package is downloaded: the platform declares none, the toolchain comes from PATH.
"""

import os
import shutil
import subprocess
import sys

from SCons.Script import AlwaysBuild, Default, DefaultEnvironment  # pylint: disable=import-error

env = DefaultEnvironment()
platform = env.PioPlatform()
board = env.BoardConfig()
FIRMWARE_DIR = os.path.join(platform.get_dir(), "firmware")
LDSCRIPTS_DIR = os.path.join(platform.get_dir(), "ldscripts")

for tool in ("arm-none-eabi-gcc", "qemu-system-arm"):
    if shutil.which(tool) is None:
        sys.stderr.write(
            "Error: %s was not found on PATH; install it with "
            "`apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm`\n" % tool
        )
        env.Exit(1)

env.Replace(
    AR="arm-none-eabi-gcc-ar",
    AS="arm-none-eabi-as",
    CC="arm-none-eabi-gcc",
    CXX="arm-none-eabi-g++",
    GDB="arm-none-eabi-gdb",
    OBJCOPY="arm-none-eabi-objcopy",
    RANLIB="arm-none-eabi-gcc-ranlib",
    SIZETOOL="arm-none-eabi-size",
    ARFLAGS=["rc"],
    PROGSUFFIX=".elf",
    SIZEPROGREGEXP=r"^(?:\.text|\.data|\.ARM\.exidx|\.ARM\.extab|\.preinit_array|\.init_array|\.fini_array)\s+(\d+).*",
    SIZEDATAREGEXP=r"^(?:\.data|\.bss)\s+(\d+).*",
    SIZECHECKCMD="$SIZETOOL -A -d $SOURCES",
    SIZEPRINTCMD="$SIZETOOL -B -d $SOURCES",
)

# A core without FPU (build.fpu "none": the Cortex-M3) builds with soft floats, the others
# with their FPU's hard-float ABI; newlib has a multilib for each.
FPU = board.get("build.fpu", "none")
CPU_FLAGS = ["-mcpu=%s" % board.get("build.cpu"), "-mthumb"] + (
    ["-mfloat-abi=soft"] if FPU == "none" else ["-mfloat-abi=hard", "-mfpu=%s" % FPU]
)
env.Append(
    ASFLAGS=CPU_FLAGS,
    CCFLAGS=CPU_FLAGS + ["-O2", "-Wall", "-Wextra", "-Werror", "-ffunction-sections", "-fdata-sections"],
    CFLAGS=["-std=c99"],
    CPPPATH=[FIRMWARE_DIR],
    LINKFLAGS=CPU_FLAGS + ["--specs=rdimon.specs", "-Wl,--gc-sections"],
    LIBPATH=[LDSCRIPTS_DIR],
)
if not board.get("build.ldscript", ""):
    sys.stderr.write("Error: board %s names no build.ldscript\n" % board.id)
    env.Exit(1)
env.Replace(LDSCRIPT_PATH=os.path.join(LDSCRIPTS_DIR, board.get("build.ldscript")))

# The reset handler and vector table, linked into every program of this platform.
env.BuildSources(os.path.join("$BUILD_DIR", "tinyc_startup"), FIRMWARE_DIR)

program = env.BuildProgram()


def qemu_command(elf):
    return [
        "qemu-system-arm",
        "-machine", board.get("build.qemu_machine"),
        "-cpu", board.get("build.cpu"),
        "-nographic", "-monitor", "none", "-serial", "none",
        "-semihosting-config", "enable=on,target=native",
        "-icount", "shift=0",
        "-kernel", elf,
    ]


def run_on_qemu(target, source, env):  # pylint: disable=unused-argument
    """SCons action: run the ELF, stream its console, fail on a non-zero exit or a hang."""
    timeout = float(board.get("upload.timeout", 120))
    command = qemu_command(str(source[0]))
    try:
        return subprocess.run(command, timeout=timeout, check=False, stdin=subprocess.DEVNULL).returncode
    except subprocess.TimeoutExpired:
        sys.stderr.write("Error: %s did not finish within %g s (board_upload.timeout)\n" % (source[0], timeout))
        return 1


upload = env.Alias(
    "upload", program, env.VerboseAction(run_on_qemu, "Running $SOURCE on QEMU %s" % board.get("build.qemu_machine"))
)
AlwaysBuild(upload)

Default([program, env.Alias("size", program, env.VerboseAction("$SIZEPRINTCMD", "Calculating size $SOURCE"))])
