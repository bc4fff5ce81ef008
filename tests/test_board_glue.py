"""Board facts in the generated real-board glue that must hold on every board and silicon
revision: the H743 picks 400 or 480 MHz from its revision and says which, the cycle counter
is 64 bits wide, the file's header comment is well formed on every core; and the test input
compile writes is one `tinyc run` accepts, float-input models included."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner

import frontend_support as fs
from tinycc_ml.boards import all_boards, load_board
from tinycc_ml.cli import main as cli
from tinycc_ml.compiler import CompileOptions, compile_model, import_model
from tinycc_ml.interp import run_graph
from tinycc_ml.targets.platformio import CLOCKS, REVISION_FALLBACK, stm32_glue

DIGITS = Path(__file__).resolve().parents[1] / "examples" / "digits" / "digits_int8.onnx"
STM32_BOARDS = tuple(b.name for b in all_boards() if not b.virtual)


@pytest.fixture(scope="module")
def glue(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("glue")
    texts = {}
    for board in STM32_BOARDS:
        r = compile_model(DIGITS, board, root / board, CompileOptions(measure_firmware=False))
        texts[board] = (r.out_dir / "src/board/board_stm32.c").read_text()
    return texts


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines()]


def _function(text: str, signature: str) -> str:
    start = text.index(signature)
    return text[start:text.index("\n}\n", start) + 3]


@pytest.mark.parametrize("board", STM32_BOARDS)
def test_header_comment_is_well_formed(glue, board):
    header = glue[board].split("*/", 2)[1].strip("\n")  # the second comment: the glue's description
    assert header.startswith("/* Board glue for ")
    lines = header.splitlines()[1:]
    assert lines and all(re.match(r"^ \* \S", line) for line in lines), lines  # no stray " *." or " *," line
    text = " ".join(line[3:] for line in lines)
    b = load_board(board)
    assert f"{b.clock_hz // 1_000_000} MHz from the internal HSI oscillator" in text
    # the U575's HAL is not on the test machines: its glue says it is not even compiled there
    untested = "but neither compiles this file against the HAL nor runs it on hardware."
    assert text.rstrip().endswith(untested if b.mcu.startswith("STM32U5") else "but does not run it on hardware.")
    caches = "instruction and data caches on." in text
    assert caches == (b.core == "cortex-m7")
    assert "the cycle counter." in text if b.core == "cortex-m4" else "cycle counter, instruction" in text


def test_h743_clock_follows_the_silicon_revision(glue):
    c = glue["nucleo_h743zi"]
    clock = _function(c, "static uint32_t clock_init(void)")
    assert "const int full_speed = HAL_GetREVID() == REV_ID_V;" in _lines(clock)
    assert "osc.PLL.PLLN = full_speed ? 60 : 50;" in _lines(clock)
    # VOS0 only on revision V; the voltage scale is set before the PLL runs faster
    vos0 = clock.index("__HAL_PWR_VOLTAGESCALING_CONFIG(PWR_REGULATOR_VOLTAGE_SCALE0);")
    assert clock.rindex("if (full_speed) {", 0, vos0) > clock.index("PWR_REGULATOR_VOLTAGE_SCALE1")
    assert vos0 < clock.index("HAL_RCC_OscConfig(&osc)")
    assert _lines(clock)[-2] == "return full_speed ? 480u : 400u;"
    # both PLL settings give the clock they claim from the 64 MHz HSI
    glue_h7 = stm32_glue(load_board("nucleo_h743zi"))
    fallback_hz, recipe = REVISION_FALLBACK[("h7", 480_000_000)]
    assert (glue_h7.clock_mhz, glue_h7.fallback_mhz) == (480, 400) and glue_h7.fallback_pll == recipe.pll
    for pll, mhz in ((glue_h7.pll, 480), (recipe.pll, fallback_hz // 1_000_000)):
        assert 64 * pll.n // (pll.m * pll.p) == mhz
    assert recipe.flash_latency == CLOCKS[("h7", 480_000_000)].flash_latency  # one FLASH_LATENCY line serves both


@pytest.mark.parametrize("board", [b for b in STM32_BOARDS if b != "nucleo_h743zi"])
def test_other_boards_have_one_clock(glue, board):
    clock = _function(glue[board], "static uint32_t clock_init(void)")
    assert "full_speed" not in clock and "HAL_GetREVID" not in clock
    assert _lines(clock)[-2] == f"return {load_board(board).clock_hz // 1_000_000}u;"


@pytest.mark.parametrize("board", STM32_BOARDS)
def test_clock_is_printed_after_the_console_starts(glue, board):
    init = _lines(_function(glue[board], "void board_init(void)"))
    assert init.index("uint32_t mhz = clock_init();") < init.index("console_init();") < init.index("print_clock(mhz);")
    printer = glue[board]
    assert 'static const char head[] = "tinyc: clock ";' in _lines(printer)
    assert 'static const char tail[] = " MHz\\r\\n";' in _lines(printer)


@pytest.mark.parametrize("board", STM32_BOARDS)
def test_cycle_counter_is_64_bits(glue, board):
    c = glue[board]
    tick = _lines(_function(c, "void SysTick_Handler(void)"))
    assert tick[2:4] == ["HAL_IncTick();", "cycle_counter_track();"]  # wraps seen every 1 ms
    track = _lines(_function(c, "static void cycle_counter_track(void)"))
    assert track[2:7] == ["uint32_t now = DWT->CYCCNT;", "if (now < cycles_last) {", "cycles_high++;", "}",
                          "cycles_last = now;"]
    read = _lines(_function(c, "uint64_t board_counter64(void)"))
    assert read[2:] == ["uint32_t primask = __get_PRIMASK();", "uint64_t count;", "__disable_irq();",
                        "cycle_counter_track();", "count = ((uint64_t)cycles_high << 32) | cycles_last;",
                        "__set_PRIMASK(primask);", "return count;", "}"]
    init = _lines(_function(c, "static void cycle_counter_init(void)"))
    assert init.index("DWT->CYCCNT = 0;") < init.index("cycles_last = 0;") < init.index("__enable_irq();")


def test_board_main_times_with_the_64_bit_counter(tmp_path):
    out = compile_model(DIGITS, "stm32f746", tmp_path / "o", CompileOptions(measure_firmware=False)).out_dir
    main = _lines((out / "src/main.c").read_text())
    assert "start = board_counter64();" in main and "stop = board_counter64();" in main
    assert "print_int((int64_t)(stop - start) * (int64_t)board_counter_scale);" in main
    assert "uint64_t board_counter64(void);" in _lines((out / "src/board/board.h").read_text())
    assert "uint64_t board_counter64(void)" in _lines((out / "src/board/board_qemu.c").read_text())


def test_float_input_models_test_input_runs(tmp_path):
    """test_input.npy is the graph input's dtype: float32 values that quantize to exactly the
    int8 bytes the board main runs (test_input.c), and `tinyc run` takes it."""
    model = tmp_path / "float_in.onnx"
    onnx.save(fs.quantize(fs.conv_model()), model)
    r = compile_model(model, "stm32f746", tmp_path / "out", CompileOptions(measure_firmware=False))
    assert r.context.input.is_float
    x = np.load(r.out_dir / "test_input.npy")
    assert x.dtype == np.float32 and x.shape == r.context.input.shape
    embedded = [int(v) for v in re.findall(r"-?\d+", (r.out_dir / "src/board/test_input.c").read_text().split("= {", 1)[1])]
    scale = np.float32(float(r.context.input.scale.rstrip("f")))
    q = np.clip(np.rint(x.reshape(-1) / scale) + r.context.input.zero_point, -128, 127).astype(np.int64)
    assert q.tolist() == embedded
    result = CliRunner().invoke(cli, ["run", str(r.out_dir), "--input", str(r.out_dir / "test_input.npy"),
                                      "--output", str(tmp_path / "y.npy")])
    assert result.exit_code == 0, result.output
    g = import_model(model)
    expected = run_graph(g, {g.inputs[0].onnx_name: x})[g.outputs[0].onnx_name]
    assert np.load(tmp_path / "y.npy").tobytes() == expected.tobytes()
