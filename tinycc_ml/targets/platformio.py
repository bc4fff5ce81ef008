"""The PlatformIO project in every output directory: real boards and emulated Cortex-M.

`tinyc compile ... --board B -o OUT` makes OUT a PlatformIO project:

    OUT/platformio.ini          [env:B] (ststm32 + stm32cube) for a real board,
                                [env:qemu_m7] / qemu_m4 / qemu_m33 / qemu_m3 on tinyc's own platform
    OUT/src/main.c              runs the model once on the embedded test input, prints the
                                int8 output and the model_invoke() cycle count
    OUT/src/board/board.h       the board glue's API (clock, console, counter)
    OUT/src/board/board_stm32.c STM32Cube HAL glue (real board env only)
    OUT/src/board/board_qemu.c  semihosting + CMSDK timer glue (qemu envs only)
    OUT/src/board/test_input.c  the test input as const data (OUT/test_input.npy holds the same)
    OUT/src/board/serial_protocol.c  validation over the serial port (`tinyc verify --port`)
    OUT/link_hardfloat.py       links with the FPU's float ABI (boards with an FPU)
    OUT/stm32cube_tree.py       builds ST's HAL from a local tree (series PlatformIO has no STM32Cube for: U5)
    OUT/ld/<part>.ld            the part's linker script (board_build.ldscript): places the arena
    OUT/qemu/main_qemu.c        the harness `tinyc run --target qemu-*` builds

The board glue lives in src/board/ so the host Makefile's `src/*.c` leaves it out.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..boards import Board
from ..codegen.context import EmitContext
from ..codegen.render import environment
from ..errors import BoardError
from .qemu import platform_dir
from .stm32_parts import FLASH_ORIGIN, arena_sections, has_part, stm32_part

QEMU_ENVS = ("qemu_m7", "qemu_m4", "qemu_m33", "qemu_m3")
MONITOR_SPEED = 115200
TEST_INPUT_SEED = 0


@dataclass(frozen=True)
class Pll:
    m: int
    n: int
    p: int
    q: int
    r: int


@dataclass(frozen=True)
class ClockRecipe:
    """PLL from the internal HSI oscillator (16 MHz; 64 MHz on the H7) to the board's clock."""

    pll: Pll
    flash_latency: int
    overdrive: bool = False
    apb1_div: int = 1
    apb2_div: int = 1


# (STM32 family, SYSCLK) -> recipe, from the reference manuals' clock trees:
# F7 216 MHz: 16/8*216/2 (RM0385, over-drive, 7 wait states, APB1 54 / APB2 108 MHz);
# F446 180 MHz: 16/8*180/2 (RM0390, over-drive, 5 WS); F412 100 MHz: 16/8*100/2 (RM0402, 3 WS);
# H7 480 MHz: 64/4*60/2 (RM0433, VOS0, 4 WS); L4+ 120 MHz: 16/2*30/2 (RM0432, boost, 5 WS);
# U5 160 MHz: 16/1*20/2 from PLL1's R output (RM0456, range 1 with the EPOD booster, 4 WS).
CLOCKS: dict[tuple[str, int], ClockRecipe] = {
    ("f7", 216_000_000): ClockRecipe(Pll(8, 216, 2, 9, 2), 7, overdrive=True, apb1_div=4, apb2_div=2),
    ("f4", 180_000_000): ClockRecipe(Pll(8, 180, 2, 8, 2), 5, overdrive=True, apb1_div=4, apb2_div=2),
    ("f4", 100_000_000): ClockRecipe(Pll(8, 100, 2, 4, 2), 3, apb1_div=2, apb2_div=1),
    ("h7", 480_000_000): ClockRecipe(Pll(4, 60, 2, 4, 2), 4),
    ("l4", 120_000_000): ClockRecipe(Pll(2, 30, 2, 2, 2), 5),
    ("u5", 160_000_000): ClockRecipe(Pll(1, 20, 2, 2, 2), 4),
}

# Series whose STM32Cube HAL PlatformIO's ststm32 platform does not package (it has no
# framework-stm32cubeu5, and the board file of the NUCLEO-U575ZI-Q lists arduino and mbed only):
# their environment has no `framework` and builds ST's HAL from a local tree instead
# (templates/platformio/stm32cube_tree.py.j2), the tree `tinyc compile --stm32cube` takes.
HAL_FROM_TREE = ("u5",)


# (family, SYSCLK) -> (SYSCLK, recipe) the glue falls back to, at run time, on silicon
# revisions that cannot reach the board file's clock: STM32H743 revision Y (DBGMCU_IDCODE
# REV_ID 0x1003) has no VOS0 and runs at most 400 MHz: 64/4*50/2 at VOS1, with the same 4
# flash wait states as 480 MHz (at least what a 200 MHz AXI clock needs in VOS1, so safe).
# Only revision V (0x2003) runs 480 MHz.
REVISION_FALLBACK: dict[tuple[str, int], tuple[int, ClockRecipe]] = {
    ("h7", 480_000_000): (400_000_000, ClockRecipe(Pll(4, 50, 2, 4, 2), 4)),
}


@dataclass(frozen=True)
class UartGlue:
    instance: str
    tx_pin: str
    rx_pin: str
    baud: int
    af: str  # GPIO alternate function constant

    @property
    def tx_port(self) -> str:
        return self.tx_pin[1]

    @property
    def rx_port(self) -> str:
        return self.rx_pin[1]

    @property
    def tx_pin_number(self) -> int:
        return int(self.tx_pin[2:])

    @property
    def rx_pin_number(self) -> int:
        return int(self.rx_pin[2:])

    @property
    def is_lpuart(self) -> bool:
        return self.instance.startswith("LPUART")


@dataclass(frozen=True)
class StmGlue:
    """What board_stm32.c.j2 prints for one board."""

    board_description: str
    family: str  # "f4", "f7", "h7", "l4", "u5"
    hal_header: str
    clock_mhz: int
    fallback_mhz: int | None  # the clock on a silicon revision that cannot run clock_mhz
    fallback_pll: Pll | None
    pll: Pll
    flash_latency: int
    overdrive: bool
    apb1_div: int
    apb2_div: int
    uart: UartGlue
    is_m7: bool
    needs_vddio2: bool


@dataclass(frozen=True)
class BoardEnv:
    name: str
    description: str
    platform: str
    board: str
    framework: str
    upload_protocol: str
    monitor_speed: int
    uart: str
    hardfloat: bool
    ldscript: str | None  # OUT-relative, e.g. "ld/stm32h743zi.ld"; None: PlatformIO's default
    hal_from_tree: bool = False  # no PlatformIO framework: stm32cube_tree.py builds the HAL

    @property
    def extra_scripts(self) -> str:
        scripts = [*(["pre:link_hardfloat.py"] if self.hardfloat else []),
                   *(["pre:stm32cube_tree.py"] if self.hal_from_tree else [])]
        return ", ".join(scripts)


def stm32_family(board: Board) -> str:
    mcu = board.mcu.upper()
    if not mcu.startswith("STM32") or len(mcu) < 7:
        raise BoardError(f"board {board.name}: MCU {board.mcu} is not an STM32; tinyc's board glue covers STM32 only")
    return mcu[5:7].lower()


def uart_af(family: str, instance: str) -> str:
    """Alternate function of the console pins: USART1-3 are AF7 on these families, LPUART1 AF8."""
    if instance.startswith("LPUART"):
        return f"GPIO_AF8_{instance}"
    return f"GPIO_AF7_{instance}"


def stm32_glue(board: Board) -> StmGlue:
    family = stm32_family(board)
    recipe = CLOCKS.get((family, board.clock_hz))
    if recipe is None:
        known = ", ".join(f"{f.upper()} at {hz // 1_000_000} MHz" for f, hz in CLOCKS)
        raise BoardError(f"board {board.name}: no clock setup for STM32{family.upper()} at "
                         f"{board.clock_hz // 1_000_000} MHz (tinyc has: {known})")
    fallback_hz, fallback = REVISION_FALLBACK.get((family, board.clock_hz), (None, None))
    uart = UartGlue(board.uart.instance, board.uart.tx_pin, board.uart.rx_pin, board.uart.baud,
                    uart_af(family, board.uart.instance))
    return StmGlue(
        board_description=board.description,
        family=family,
        hal_header=f"stm32{family}xx_hal.h",
        clock_mhz=board.clock_hz // 1_000_000,
        fallback_mhz=fallback_hz // 1_000_000 if fallback_hz is not None else None,
        fallback_pll=fallback.pll if fallback is not None else None,
        pll=recipe.pll,
        flash_latency=recipe.flash_latency,
        overdrive=recipe.overdrive,
        apb1_div=recipe.apb1_div,
        apb2_div=recipe.apb2_div,
        uart=uart,
        is_m7=board.core == "cortex-m7",
        needs_vddio2=family == "l4" and "PG" in (uart.tx_pin[:2], uart.rx_pin[:2]),
    )


def board_env(board: Board) -> BoardEnv | None:
    if board.virtual or board.platformio is None:
        return None
    pio = board.platformio
    from_tree = has_part(board) and stm32_part(board).family in HAL_FROM_TREE
    return BoardEnv(board.name, board.description, pio.platform, pio.board, pio.framework, pio.upload_protocol,
                    MONITOR_SPEED, f"{board.uart.instance} {board.uart.tx_pin}/{board.uart.rx_pin}",
                    hardfloat=board.fpu != "none", ldscript=ldscript_path(board) if has_part(board) else None,
                    hal_from_tree=from_tree)


def ldscript_path(board: Board) -> str:
    """Where the part's linker script is in OUT (what board_build.ldscript names)."""
    return f"ld/{stm32_part(board).ldscript}"


# The project-relative directory of the QEMU platform copy; platformio.ini names it relatively
# (PlatformIO resolves a relative symlink:// against the project directory it runs in).
PROJECT_PLATFORM = "platformio_qemu"


def default_test_input(ctx: EmitContext) -> np.ndarray:
    """The input the board main runs, as the arena holds it (int8; uint8 at a uint8 edge):
    deterministic, spread over the whole byte range."""
    rng = np.random.default_rng(TEST_INPUT_SEED)
    values = rng.integers(-128, 128, size=ctx.input.size, dtype=np.int64).astype(np.int8)
    return values.view(np.uint8) if ctx.input.arena_ctype == "uint8_t" else values


def test_input_for_run(ctx: EmitContext, quantized: np.ndarray) -> np.ndarray:
    """The board's int8 test input as the model's graph input takes it, for test_input.npy:
    `tinyc run --input test_input.npy` then runs what the board runs. For a float input that is
    (q - zero_point) * scale in float32, which the model's QuantizeLinear turns back into
    exactly q (the quotient is within an ulp of an integer of magnitude <= 255)."""
    shape = ctx.input.shape or quantized.shape
    if not ctx.input.is_float:
        return quantized.reshape(shape)
    scale = np.float32(float(ctx.input.scale.rstrip("fF")))
    values = (quantized.astype(np.int32) - ctx.input.zero_point).astype(np.float32) * scale
    return values.astype(np.float32).reshape(shape)


def _rows(values: np.ndarray, per_row: int = 20) -> list[list[str]]:
    flat = [str(int(v)) for v in values.reshape(-1)]
    return [flat[i:i + per_row] for i in range(0, len(flat), per_row)]


def project_texts(board: Board, ctx: EmitContext, test_input: np.ndarray) -> dict[str, str]:
    """OUT-relative path -> text of every PlatformIO and QEMU harness file."""
    want = np.uint8 if ctx.input.arena_ctype == "uint8_t" else np.int8
    if test_input.dtype != want or test_input.size != ctx.input.size:
        raise BoardError(f"the board test input must be {ctx.input.size} {np.dtype(want).name} values, got "
                         f"{test_input.size} {test_input.dtype}")
    env = environment()
    benv = board_env(board)
    # The board's own environment; a virtual board's QEMU one (qemu_m7 for any other board).
    default = benv.name if benv else (board.name if board.name in QEMU_ENVS else QEMU_ENVS[0])
    texts = {
        "platformio.ini": env.get_template("platformio/platformio.ini.j2").render(
            ctx=ctx, board_env=benv, default_env=default, qemu_envs=[{"name": n} for n in QEMU_ENVS],
            platform_path=PROJECT_PLATFORM),
        "src/main.c": env.get_template("platformio/main.c.j2").render(ctx=ctx),
        "src/board/board.h": env.get_template("platformio/board.h.j2").render(ctx=ctx),
        "src/board/board_qemu.c": env.get_template("platformio/board_qemu.c.j2").render(ctx=ctx),
        "src/board/serial_protocol.c": env.get_template("platformio/serial_protocol.c.j2").render(ctx=ctx),
        "src/board/test_input.c": env.get_template("platformio/test_input.c.j2").render(
            ctx=ctx, test_input_rows=_rows(test_input)),
        "qemu/main_qemu.c": env.get_template("qemu/main_qemu.c.j2").render(ctx=ctx),
    }
    if benv is not None:
        texts["src/board/board_stm32.c"] = board_glue_text(board, ctx)
        if benv.ldscript is not None:
            texts[benv.ldscript] = env.get_template("platformio/stm32.ld.j2").render(
                ctx=ctx, part=stm32_part(board), arena_sections=arena_sections(ctx.prefix), flash_origin=FLASH_ORIGIN)
        if benv.hardfloat:
            texts["link_hardfloat.py"] = env.get_template("platformio/link_hardfloat.py.j2").render(
                ctx=ctx, fpu=board.fpu)
        if benv.hal_from_tree:
            texts["stm32cube_tree.py"] = env.get_template("platformio/stm32cube_tree.py.j2").render(
                ctx=ctx, part=stm32_part(board))
    return texts


def board_glue_text(board: Board, ctx: EmitContext) -> str:
    """The HAL glue; for a board tinyc has no glue for, a file whose #error says so, so the
    compile still succeeds and only that board's PlatformIO build stops, with the reason."""
    try:
        glue = stm32_glue(board)
    except BoardError as exc:
        reason = str(exc).replace("\\", "/").replace('"', "'")
        return f'/* {ctx.banner} */\n#error "{reason}"\n'
    return environment().get_template("platformio/board_stm32.c.j2").render(ctx=ctx, glue=glue)


def _write_if_changed(path: Path, data: bytes) -> None:
    # An identical file keeps its timestamp, so PlatformIO's and make's builds stay cached.
    if path.is_file() and path.read_bytes() == data:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def write_platformio_project(out_dir: Path, board: Board, ctx: EmitContext,
                             test_input: np.ndarray | None = None) -> list[str]:
    """Write the PlatformIO project files and the QEMU harness into out_dir; the paths written."""
    out_dir = Path(out_dir)
    x = default_test_input(ctx) if test_input is None else np.asarray(test_input)
    texts = project_texts(board, ctx, x)
    for rel, text in texts.items():
        _write_if_changed(out_dir / rel, text.encode())
    np.save(out_dir / "test_input.npy", test_input_for_run(ctx, x))
    return sorted([*texts, "test_input.npy"])


def platform_files() -> dict[str, bytes]:
    """tinyc's QEMU PlatformIO platform, copied into the project (PROJECT_PLATFORM/...) so the
    project refers to nothing outside itself and builds wherever it is moved."""
    root = platform_dir()
    return {f"{PROJECT_PLATFORM}/{p.relative_to(root).as_posix()}": p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


def project_files(board: Board, ctx: EmitContext, test_input: np.ndarray | None = None) -> dict[str, bytes]:
    """OUT-relative path -> bytes of the PlatformIO project, its QEMU platform, the QEMU harness
    and test_input.npy (for the compiler's manifest, which writes them)."""
    x = default_test_input(ctx) if test_input is None else np.asarray(test_input)
    files = {rel: text.encode() for rel, text in project_texts(board, ctx, x).items()}
    files.update(platform_files())
    npy = io.BytesIO()
    np.save(npy, test_input_for_run(ctx, x))  # what `tinyc run` takes: the model's own input dtype
    files["test_input.npy"] = npy.getvalue()
    return files


def flash_commands(out_dir: Path, env_name: str | None, monitor: bool) -> list[list[str]]:
    """The PlatformIO commands `tinyc flash` runs in out_dir: upload, then maybe the monitor."""
    from .pio_offline import pio_command  # noqa: PLC0415

    if not (Path(out_dir) / "platformio.ini").is_file():
        raise BoardError(f"{out_dir} has no platformio.ini; compile the model with `tinyc compile ... -o {out_dir}` first")
    pio = pio_command()
    env_args = ["-e", env_name] if env_name else []
    commands = [[*pio, "run", "-t", "upload", *env_args]]
    if monitor:
        commands.append([*pio, "device", "monitor", *env_args])
    return commands
