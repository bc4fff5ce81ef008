"""The PlatformIO project in every output directory: valid platformio.ini for every board,
the real-board sources compile for their core, tinyc's QEMU platform builds and runs a
model offline in a fresh PLATFORMIO_CORE_DIR, and `tinyc flash` says what it needs."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner

import frontend_support as fs
from tinycc_ml.boards import all_boards, load_board
from tinycc_ml.cli import main as cli
from tinycc_ml.compiler import CompileOptions, compile_model
from tinycc_ml.errors import BoardError, BuildError
from tinycc_ml.interp import run_graph
from tinycc_ml.targets import pio_offline
from tinycc_ml.targets.arm_build import CoreFlags
from tinycc_ml.targets.platformio import (QEMU_ENVS, board_glue_text, flash_commands, stm32_glue,
                                         write_platformio_project)
from tinycc_ml.targets.qemu import platform_dir

has_arm_gcc = shutil.which("arm-none-eabi-gcc") is not None
has_qemu = shutil.which("qemu-system-arm") is not None
try:
    import platformio  # noqa: F401

    has_platformio = True
except ImportError:
    has_platformio = False
needs_platformio = pytest.mark.skipif(not has_platformio, reason="PlatformIO is not installed (pip install '.[test]')")
REAL_BOARDS = tuple(b.name for b in all_boards() if not b.virtual)
HAL_TREE_BOARDS = ("nucleo_u575zi_q",)  # no STM32Cube package in PlatformIO for their series
ALL_BOARDS = tuple(b.name for b in all_boards())


@pytest.fixture(scope="session")
def fc_model(tmp_path_factory) -> Path:
    """A small int8-boundary model: the board main's int8 test input feeds the interpreter as is."""
    path = tmp_path_factory.mktemp("pio_model") / "fc.onnx"
    onnx.save(fs.qdq_conv_model(), path)
    return path


@pytest.fixture(scope="session")
def compiled_boards(tmp_path_factory, fc_model) -> dict:
    """The model compiled for every board, once."""
    root = tmp_path_factory.mktemp("pio_projects")
    return {b: compile_model(fc_model, b, root / b, CompileOptions()) for b in ALL_BOARDS}


@pytest.fixture(scope="session")
def projects(compiled_boards) -> dict[str, Path]:
    return {b: r.out_dir for b, r in compiled_boards.items()}


def _ini_sections(text: str) -> dict[str, dict[str, str]]:
    sections: dict[str, dict[str, str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
        elif "=" in line and not line.startswith(";") and current is not None:
            key, value = (s.strip() for s in line.split("=", 1))
            current[key] = value
    return sections


@needs_platformio
@pytest.mark.parametrize("board", ALL_BOARDS)
def test_platformio_ini_lints_clean(projects, board, monkeypatch):
    from platformio.project.config import ProjectConfig

    monkeypatch.chdir(projects[board])  # lint() checks the project in the working directory
    assert ProjectConfig(str(projects[board] / "platformio.ini")).lint() == {"errors": [], "warnings": []}


@pytest.mark.parametrize("board", REAL_BOARDS)
def test_board_env_follows_the_board_file(projects, board):
    b = load_board(board)
    sections = _ini_sections((projects[board] / "platformio.ini").read_text())
    assert list(sections) == ["platformio", "env", f"env:{board}", *(f"env:{e}" for e in QEMU_ENVS)]
    assert sections["platformio"] == {"default_envs": board, "src_dir": "src", "lib_dir": "lib"}
    assert sections["env"]["build_flags"] == "-O2 -I lib/tinyc/include"
    # the U5 has no STM32Cube package in PlatformIO: its env builds the HAL from a tree instead
    from_tree = board in HAL_TREE_BOARDS
    framework = {"custom_stm32cube": "~/stm32cube"} if from_tree else {"framework": "stm32cube"}
    assert sections[f"env:{board}"] == {
        "platform": "ststm32", "board": b.platformio.board, **framework, "upload_protocol": "stlink",
        "monitor_speed": "115200", "build_src_filter": "+<*> -<board/board_qemu.c>",
        "build_src_flags": "-std=c99 -Wall -Wextra", "build_unflags": "-Os",
        "extra_scripts": "pre:link_hardfloat.py" + (", pre:stm32cube_tree.py" if from_tree else ""),
        "board_build.ldscript": f"ld/{b.mcu[:11].lower()}.ld",
    }
    assert (projects[board] / "stm32cube_tree.py").is_file() == from_tree
    assert (projects[board] / sections[f"env:{board}"]["board_build.ldscript"]).is_file()
    hardfloat = (projects[board] / "link_hardfloat.py").read_text()
    assert f'FLAGS = ["-mfloat-abi=hard", "-mfpu={b.fpu}"]' in hardfloat
    assert "env.Append(ASFLAGS=FLAGS, CCFLAGS=FLAGS, LINKFLAGS=FLAGS)" in hardfloat
    for qemu_env in (f"env:{e}" for e in QEMU_ENVS):
        assert sections[qemu_env] == {
            "platform": "symlink://platformio_qemu", "board": qemu_env[4:],  # the copy inside the project
            "upload_protocol": "qemu", "build_src_filter": "+<*> -<board/board_stm32.c>",
            "build_src_flags": "-std=c99 -Wall -Wextra -Werror"}


def test_disco_f746_glue_clock_uart_and_dwt(projects):
    c = (projects["stm32f746"] / "src/board/board_stm32.c").read_text()
    for line in ('#include "stm32f7xx_hal.h"', "osc.PLL.PLLM = 8;", "osc.PLL.PLLN = 216;", "osc.PLL.PLLP = RCC_PLLP_DIV2;",
                 "if (HAL_PWREx_EnableOverDrive() != HAL_OK) {", "if (HAL_RCC_ClockConfig(&clk, FLASH_LATENCY_7) != HAL_OK) {",
                 "__HAL_RCC_USART1_CLK_ENABLE();", "pin.Alternate = GPIO_AF7_USART1;", "pin.Pin = GPIO_PIN_9;",
                 "HAL_GPIO_Init(GPIOA, &pin);", "pin.Pin = GPIO_PIN_7;", "HAL_GPIO_Init(GPIOB, &pin);",
                 "console.Init.BaudRate = 115200;", "SCB_EnableICache();", "SCB_EnableDCache();",
                 "*(volatile uint32_t *)0xE0001FB0u = 0xC5ACCE55u; /* DWT->LAR */", "DWT->CTRL |= DWT_CTRL_CYCCNTENA_Msk;"):
        assert line in [s.strip() for s in c.splitlines()], line


def test_every_real_board_has_a_clock_and_console():
    # 216 MHz F7, 180 and 100 MHz F4, 480 MHz H7, 120 MHz L4+: each board file's clock has a recipe.
    glue = {b: stm32_glue(load_board(b)) for b in REAL_BOARDS}
    assert {b: (g.family, g.clock_mhz, g.uart.af) for b, g in glue.items()} == {
        "disco_f412zg": ("f4", 100, "GPIO_AF7_USART2"), "nucleo_f446re": ("f4", 180, "GPIO_AF7_USART2"),
        "nucleo_h743zi": ("h7", 480, "GPIO_AF7_USART3"), "nucleo_l4r5zi": ("l4", 120, "GPIO_AF8_LPUART1"),
        "nucleo_u575zi_q": ("u5", 160, "GPIO_AF7_USART1"), "stm32f746": ("f7", 216, "GPIO_AF7_USART1")}
    for g in glue.values():
        hsi = 64 if g.family == "h7" else 16
        assert hsi * g.pll.n // (g.pll.m * g.pll.p) == g.clock_mhz
    assert glue["nucleo_l4r5zi"].needs_vddio2  # LPUART1 on port G
    u5 = glue["nucleo_u575zi_q"]  # SYSCLK from PLL1's R output on the U5
    assert 16 * u5.pll.n // (u5.pll.m * u5.pll.r) == 160 and u5.flash_latency == 4


def test_u575_glue_and_hal_script(projects):
    """What can be checked without ST's U5 HAL (absent here): the glue's clock tree, console and
    counter, and the pre-script that builds the HAL from a local tree, which must compile as Python."""
    out = projects["nucleo_u575zi_q"]
    c = [s.strip() for s in (out / "src/board/board_stm32.c").read_text().splitlines()]
    for line in ('#include "stm32u5xx_hal.h"', "if (HAL_PWREx_ControlVoltageScaling(PWR_REGULATOR_VOLTAGE_SCALE1) != HAL_OK) {",
                 "osc.PLL.PLLMBOOST = RCC_PLLMBOOST_DIV1;", "osc.PLL.PLLM = 1;", "osc.PLL.PLLN = 20;",
                 "osc.PLL.PLLR = 2; /* SYSCLK */", "osc.PLL.PLLRGE = RCC_PLLVCIRANGE_1; /* PLL1 input 8-16 MHz */",
                 "if (HAL_RCC_ClockConfig(&clk, FLASH_LATENCY_4) != HAL_OK) {", "clk.APB3CLKDivider = RCC_HCLK_DIV1;",
                 "__HAL_RCC_USART1_CLK_ENABLE();", "pin.Alternate = GPIO_AF7_USART1;", "pin.Pin = GPIO_PIN_9;",
                 "pin.Pin = GPIO_PIN_10;", "HAL_GPIO_Init(GPIOA, &pin);", "DCB->DEMCR |= DCB_DEMCR_TRCENA_Msk; /* Armv8-M "
                 "CMSIS names the debug control block DCB */", "DWT->CTRL |= DWT_CTRL_CYCCNTENA_Msk;"):
        assert line in c, line
    assert "SCB_EnableDCache();" not in c  # an M7 cache; the U5 has only its ICACHE
    script = (out / "stm32cube_tree.py").read_text()
    compile(script, "stm32cube_tree.py", "exec")
    for text in ('FAMILY = "u5"', 'DEFINE = "STM32U575xx"', 'STARTUP = "startup_stm32u575xx.s"',
                 "https://github.com/STMicroelectronics/stm32u5xx_hal_driver", "src_filter=\"+<*.c> -<*_template.c>\""):
        assert text in script, text
    ld = (out / "ld/stm32u575zi.ld").read_text()
    assert "FLASH (rx) : ORIGIN = 0x08000000, LENGTH = 2048K" in ld and "RAM (xrw) : ORIGIN = 0x20000000, LENGTH = 768K" in ld


@pytest.mark.parametrize("board", ("qemu_m7", "qemu_m4", "qemu_m33", "qemu_m3"))
def test_virtual_board_project_has_only_qemu_envs(projects, board):
    sections = _ini_sections((projects[board] / "platformio.ini").read_text())
    assert list(sections) == ["platformio", "env", *(f"env:{e}" for e in QEMU_ENVS)]
    assert sections["platformio"]["default_envs"] == board
    assert not (projects[board] / "src/board/board_stm32.c").exists()


def test_host_build_leaves_the_board_files_out(projects):
    out = projects["stm32f746"]
    assert subprocess.run(["make", "-C", str(out), "-s"], capture_output=True).returncode == 0


def test_test_input_is_embedded_and_saved(projects):
    out = projects["stm32f746"]
    x = np.load(out / "test_input.npy")
    assert x.dtype == np.int8 and x.shape == (1, 8, 8, 3)
    values = re.findall(r"-?\d+", (out / "src/board/test_input.c").read_text().split("= {", 1)[1])
    assert [int(v) for v in values] == x.reshape(-1).tolist()


STUB_GLUE = """
#include "board/board.h"
const uint32_t board_counter_scale = 1;
const char board_counter_name[] = "cycles";
void board_init(void) {}
uint32_t board_counter(void) { return 0; }
uint64_t board_counter64(void) { return 0; }
void board_write(const char *text, uint32_t length) { (void)text; (void)length; }
void board_finish(int status) { (void)status; for (;;) {} }
uint32_t board_clock_hz(void) { return 0; }
int board_serial_read(uint8_t *byte, uint32_t timeout_ms) { (void)byte; (void)timeout_ms; return 0; }
void board_serial_write(const uint8_t *data, uint32_t length) { (void)data; (void)length; }
int board_serves(void) { return 0; }
"""


@pytest.mark.skipif(not has_arm_gcc, reason="needs arm-none-eabi-gcc")
@pytest.mark.parametrize("board", REAL_BOARDS)
def test_real_board_sources_compile_for_the_core(projects, board, tmp_path):
    """main + model + runtime as the board env builds them, with a stub in place of the HAL glue
    (the STM32Cube HAL is a download this suite does not make), -Werror, linked."""
    b = load_board(board)
    out = projects[board]
    stub = tmp_path / "board_stub.c"
    stub.write_text(STUB_GLUE)
    sources = [*sorted((out / "src").glob("*.c")), out / "src/board/test_input.c", out / "src/board/serial_protocol.c",
               *sorted((out / "lib/tinyc/src").glob("*.c")), stub]
    assert out / "src/main.c" in sources
    command = ["arm-none-eabi-gcc", *CoreFlags(b.core, b.fpu).flags, "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror",
               "-ffunction-sections", "-fdata-sections", f"-I{out / 'src'}", f"-I{out / 'lib/tinyc/include'}",
               *map(str, sources), "--specs=nano.specs", "--specs=nosys.specs", "-Wl,--gc-sections",
               "-o", str(tmp_path / "firmware.elf")]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_platform_boards_agree_with_the_board_files():
    for name in QEMU_ENVS:
        b = load_board(name)
        j = json.loads((platform_dir() / "boards" / f"{name}.json").read_text())
        assert (j["build"]["cpu"], j["build"]["fpu"], j["build"]["qemu_machine"]) == (b.core, b.fpu, b.qemu.machine)
        assert (j["upload"]["maximum_size"], j["upload"]["maximum_ram_size"]) == (b.flash_bytes, b.sram_bytes)
        assert (platform_dir() / "ldscripts" / j["build"]["ldscript"]).is_file()


# --- offline PlatformIO ------------------------------------------------------------------


@needs_platformio
def test_offline_core_dir_satisfies_platformio(tmp_path):
    core = pio_offline.prepare_core_dir(tmp_path / "core")
    pkg = core / "packages" / "tool-scons"
    meta = json.loads((pkg / ".piopm").read_text())
    assert meta["type"] == "tool" and meta["name"] == "tool-scons" and meta["spec"]["owner"] == "platformio"
    assert json.loads((pkg / "package.json").read_text())["version"] == meta["version"] == pio_offline.pinned_scons_version()
    # PlatformIO's own lookup finds it, without trying to install anything.
    probe = ("from platformio.package.manager.core import get_core_package_dir;"
             "print(get_core_package_dir('tool-scons', auto_install=False))")
    found = subprocess.run([sys.executable, "-c", probe], env=pio_offline.pio_environment(core),
                           capture_output=True, text=True, check=True).stdout.strip()
    assert Path(found).resolve() == pkg.resolve()


@needs_platformio
@pytest.mark.slow
@pytest.mark.skipif(not (has_arm_gcc and has_qemu), reason="needs arm-none-eabi-gcc and qemu-system-arm")
def test_pio_qemu_env_builds_and_runs_offline(projects, fc_model, tmp_path):
    core = pio_offline.prepare_core_dir(tmp_path / "core")  # fresh: nothing but tool-scons
    project = tmp_path / "project"
    shutil.copytree(projects["stm32f746"], project)
    run = pio_offline.run_pio(project, ["run", "-e", "qemu_m7", "-t", "upload"], core, timeout=600)
    assert run.returncode == 0, run.output
    from tinycc_ml.compiler import import_model

    g = import_model(fc_model)
    x = np.load(project / "test_input.npy")
    expected = run_graph(g, {g.inputs[0].onnx_name: x})[g.outputs[0].onnx_name]
    printed = re.search(r"^tinyc: output((?: -?\d+)+)\s*$", run.output, re.MULTILINE)
    assert printed is not None, run.output
    assert [int(v) for v in printed.group(1).split()] == expected.reshape(-1).tolist()
    assert re.search(r"^tinyc: model model status 0\s*$", run.output, re.MULTILINE)
    count = re.search(r"^tinyc: instructions (\d+)\s*$", run.output, re.MULTILINE)
    assert count is not None and int(count.group(1)) % 40 == 0 and int(count.group(1)) > 0
    assert "Platform Manager: tinyc-qemu@0.1.0 has been installed!" in run.output
    assert not (core / "packages" / "toolchain-gccarmnoneeabi").exists()  # nothing was downloaded
    assert sorted(p.name for p in (core / "packages").iterdir()) == ["tool-scons"]


@needs_platformio
@pytest.mark.slow
@pytest.mark.skipif(not (has_arm_gcc and has_qemu), reason="needs arm-none-eabi-gcc and qemu-system-arm")
def test_pio_qemu_envs_of_the_m33_and_the_m3_run_offline(projects, fc_model, tmp_path):
    """The Cortex-M33 env (Secure an505 map, 50 instructions per tick) and the Cortex-M3 one (soft
    float, no DSP) in one offline PlatformIO run: both print the interpreter's output."""
    core = pio_offline.prepare_core_dir(tmp_path / "core")
    project = tmp_path / "project"
    shutil.copytree(projects["stm32f746"], project)
    run = pio_offline.run_pio(project, ["run", "-e", "qemu_m33", "-e", "qemu_m3", "-t", "upload"], core, timeout=600)
    assert run.returncode == 0, run.output
    from tinycc_ml.compiler import import_model

    g = import_model(fc_model)
    expected = run_graph(g, {g.inputs[0].onnx_name: np.load(project / "test_input.npy")})[g.outputs[0].onnx_name]
    printed = re.findall(r"^tinyc: output((?: -?\d+)+)\s*$", run.output, re.MULTILINE)
    assert [[int(v) for v in p.split()] for p in printed] == [expected.reshape(-1).tolist()] * 2, run.output
    counts = [int(c) for c in re.findall(r"^tinyc: instructions (\d+)\s*$", run.output, re.MULTILINE)]
    assert len(counts) == 2 and counts[0] % 50 == 0 and counts[1] % 40 == 0 and min(counts) > 0, run.output
    assert "Running" in run.output and "mps2-an505" in run.output and "mps2-an385" in run.output


# --- tinyc flash -----------------------------------------------------------------------


def test_flash_needs_a_platformio_project(tmp_path):
    result = CliRunner().invoke(cli, ["flash", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output == (f"error: {tmp_path} has no platformio.ini; compile the model with "
                             f"`tinyc compile ... -o {tmp_path}` first\n")


def test_flash_without_platformio_says_how_to_install_it(projects, monkeypatch):
    monkeypatch.setitem(sys.modules, "platformio", None)  # import platformio -> ImportError
    result = CliRunner().invoke(cli, ["flash", str(projects["stm32f746"])])
    assert result.exit_code == 2
    assert result.output == ("error: PlatformIO is not installed; install it with `pip install platformio` "
                             "(and `pip install scons` to build offline)\n")


@needs_platformio
def test_flash_runs_upload_then_monitor(projects):
    pio = [sys.executable, "-m", "platformio"]
    out = projects["stm32f746"]
    assert flash_commands(out, None, False) == [[*pio, "run", "-t", "upload"]]
    assert flash_commands(out, "qemu_m4", True) == [[*pio, "run", "-t", "upload", "-e", "qemu_m4"],
                                                   [*pio, "device", "monitor", "-e", "qemu_m4"]]


def test_unknown_clock_stops_only_the_board_build(compiled_boards):
    from dataclasses import replace

    b = replace(load_board("stm32f746"), clock_hz=200_000_000)
    with pytest.raises(BoardError) as err:
        stm32_glue(b)
    message = ("board stm32f746: no clock setup for STM32F7 at 200 MHz (tinyc has: F7 at 216 MHz, F4 at 180 MHz, "
               "F4 at 100 MHz, H7 at 480 MHz, L4 at 120 MHz, U5 at 160 MHz)")
    assert str(err.value) == message
    ctx = compiled_boards["stm32f746"].context
    assert board_glue_text(b, ctx) == f'/* {ctx.banner} */\n#error "{message}"\n'


def test_missing_scons_is_a_build_error(monkeypatch, tmp_path):
    monkeypatch.setattr(pio_offline, "scons_available", lambda: False)
    with pytest.raises(BuildError) as err:
        pio_offline.prepare_core_dir(tmp_path)
    assert str(err.value) == ("SCons is not installed; install it with `pip install platformio` "
                              "(and `pip install scons` to build offline)")


def test_rewriting_the_project_keeps_unchanged_files(compiled_boards, tmp_path):
    r = compiled_boards["stm32f746"]
    out = tmp_path / "o"
    shutil.copytree(r.out_dir, out)
    written = write_platformio_project(out, r.board, r.context)
    assert written == ["ld/stm32f746ng.ld", "link_hardfloat.py", "platformio.ini", "qemu/main_qemu.c", "src/board/board.h",
                       "src/board/board_qemu.c", "src/board/board_stm32.c", "src/board/serial_protocol.c",
                       "src/board/test_input.c", "src/main.c",
                       "test_input.npy"]
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.suffix in (".c", ".h", ".ini", ".py")}
    write_platformio_project(out, r.board, r.context)
    assert stamps == {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.suffix in (".c", ".h", ".ini", ".py")}
