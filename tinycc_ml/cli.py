"""The `tinyc` command line: parsing and printing only; the work is in compiler.py,
targets/ and verification.py.

Every TinycError reaches the user as `error: <message>` on stderr with exit code 2
(a verify mismatch exits 1), never as a traceback.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Callable

import click
import numpy as np

from .boards import DEFAULT_BOARD, all_boards, format_bytes_si, load_board
from .errors import TinycError
from .memory.planners import DEFAULT_PLANNER, PLANNER_NAMES
from .passes import pass_names
from .passes.schedule import DEFAULT_TIME_LIMIT
from .targets import TARGETS, read_build_info

EXIT_ERROR = 2
EXIT_MISMATCH = 1


def _progress(message: str) -> None:
    click.echo(message, err=True)


def _errors_to_exit(command: Callable) -> Callable:
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except TinycError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_ERROR)
    return wrapper


class _OneLineUsageError(click.ClickException):
    """A usage error (bad option value, missing argument, unknown command) printed like every other
    error: one `error: ...` line and exit code 2, instead of click's usage block."""

    exit_code = EXIT_ERROR

    def __init__(self, error: click.UsageError):
        message = error.format_message().rstrip(".")
        where = error.ctx.command_path if error.ctx is not None else "tinyc"
        super().__init__(f"{message[:1].lower()}{message[1:]} (see `{where} --help`)")

    def show(self, file=None) -> None:  # noqa: ANN001 - click's signature
        click.echo(f"error: {self.format_message()}", err=True)


class _Group(click.Group):
    """Turns click's usage errors into one-line errors (`tinyc` with no arguments still shows help)."""

    def make_context(self, *args, **kwargs) -> click.Context:  # noqa: ANN002, ANN003 - click's signature
        try:
            return super().make_context(*args, **kwargs)
        except click.exceptions.NoArgsIsHelpError:
            raise
        except click.UsageError as exc:
            raise _OneLineUsageError(exc) from None

    def invoke(self, ctx: click.Context):  # noqa: ANN201 - click's signature
        try:
            return super().invoke(ctx)
        except click.exceptions.NoArgsIsHelpError:
            raise
        except click.UsageError as exc:
            raise _OneLineUsageError(exc) from None


def _load_npy(path: Path) -> np.ndarray:
    if not path.is_file():
        raise TinycError(f"input file {path} does not exist" if not path.exists() else f"input {path} is not a file")
    try:
        with path.open("rb") as f:
            try:
                np.lib.format.read_magic(f)
            except (ValueError, EOFError):  # not the 6 magic bytes every .npy file starts with
                raise TinycError(f"cannot read input {path}: it is not a .npy file (numpy.save writes them)") from None
            f.seek(0)
            return np.load(f, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:  # a truncated or pickled .npy, an unreadable file
        raise TinycError(f"cannot read input {path}: {exc}") from None


def _check_parent(path: Path, what: str, create: bool) -> None:
    """Fail before any work when `path` cannot be written: a parent that is a file, or (unless the
    command creates it) a directory that does not exist."""
    for ancestor in path.parents:
        if ancestor.exists():
            if not ancestor.is_dir():
                raise TinycError(f"cannot write {what} {path}: {ancestor} is not a directory")
            return
        if not create:
            raise TinycError(f"cannot write {what} {path}: directory {path.parent} does not exist")


def _write(path: Path, what: str, write: Callable[[], None]) -> None:
    try:
        write()
    except OSError as exc:
        raise TinycError(f"cannot write {what} {path}: {exc.strerror or exc}") from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tinycc_ml", prog_name="tinyc")
def main() -> None:
    """tinyc: compile int8-quantized ONNX and TFLite models to C for Cortex-M microcontrollers."""


BOARD_HELP = ("Target board, one of `tinyc boards`, or a board file of your own (path/to/board.toml, see "
              "`tinyc boards --schema`); the default stm32f746 is the STM32F746G-DISCO (Cortex-M7, 320 KB SRAM).")
# Whose arithmetic the C follows (frontend/semantics.py); spelled out here so `tinyc boards` stays
# free of the frontend's imports.
SEMANTICS_OPTION = click.option(
    "--semantics", "semantics", type=click.Choice(["auto", "tflite", "onnx"]), default="auto", show_default=True,
    help="Whose arithmetic to follow: tflite (TFLite Micro's integer kernels, bit for bit), onnx (ONNX's "
         "definition as onnxruntime runs it: each op exact, one rounding), or auto: tflite for a .tflite or "
         "tf2onnx model, onnx for an onnxruntime-quantized one.")


@main.command()
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--board", default=DEFAULT_BOARD, show_default=True, help=BOARD_HELP)
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output directory: C sources, Makefile, runtime copy and report.json.")
@click.option("--name", default="model", show_default=True,
              help="C identifier prefix of the generated API (model_run, MODEL_ARENA_BYTES, src/model.c).")
@click.option("--planner", default=DEFAULT_PLANNER, show_default=True, type=click.Choice(PLANNER_NAMES),
              help="Memory planner that places the buffers in the arena ('best': the smallest of all).")
@click.option("--schedule-time-limit", default=DEFAULT_TIME_LIMIT, show_default=True, type=click.FloatRange(min=0),
              help="Safety net: seconds after which the op-order search (bounded by a count of states, so "
                   "deterministic) settles for the best order found; the summary says when it did.")
@click.option("--allow-overflow", is_flag=True,
              help="Emit the code even when the arena exceeds the board's SRAM or the weights its flash.")
@click.option("--dump-ir", "dump_ir", type=click.Choice(pass_names()), default=None,
              help="Print the IR after this pass ('import': as the frontend made it) to stdout.")
@click.option("--no-firmware-size", "skip_firmware_size", is_flag=True,
              help="Skip cross-building the model for the board's core to measure its flash and RAM "
                   "(measured by default when arm-none-eabi-gcc is installed), and the real-board firmware.")
@click.option("--stm32cube", "stm32cube", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="STM32Cube HAL + CMSIS tree (laid out as ../shared/vendor/stm32cube) to link the real-board "
                   "firmware against and report its text/data/bss in report.json (default: $TINYC_STM32CUBE; "
                   "neither: not measured).")
@click.option("--patch", "patch", default="off", show_default=True, metavar="off|auto|K:NHxNW",
              help="Patch-based inference: run the ops up to tensor K patch by patch on an NH x NW grid of "
                   "K (NW = 1: full-width row bands); 'auto' searches K and the grid for the smallest arena "
                   "within --patch-overhead.")
@click.option("--patch-overhead", "patch_overhead", default=20.0, show_default=True, type=click.FloatRange(min=0),
              help="MACs the patch search may add by recomputing halos, in % of the model's MACs.")
@click.option("--preserve-input", is_flag=True,
              help="Keep the input intact through invoke (by default invoke uses its bytes as working memory); "
                   "costs arena, reported.")
@click.option("--arena", "arena", type=click.Choice(["static", "extern"]), default="static", show_default=True,
              help="static: the arena is a static array in section TINYC_ARENA_SECTION; extern: the caller passes "
                   "it to PREFIX_init(buffer, bytes).")
@SEMANTICS_OPTION
@_errors_to_exit
def compile(model: Path, board: str, out_dir: Path, name: str, planner: str, schedule_time_limit: float,
            allow_overflow: bool, dump_ir: str | None, skip_firmware_size: bool, stm32cube: Path | None, patch: str,
            patch_overhead: float, preserve_input: bool, arena: str, semantics: str) -> None:
    """Compile MODEL (an int8 .onnx or .tflite file) to C for BOARD in OUTPUT."""
    import os  # noqa: PLC0415

    from .api import compile as compile_api  # noqa: PLC0415 (keeps `tinyc boards` fast)
    from .targets.stm32cube import locate_vendor_tree  # noqa: PLC0415

    # Opt-in for now (--stm32cube or $TINYC_STM32CUBE): with the checkout's tree found by
    # default, the summary gains a line that existing exact-summary tests do not expect.
    vendor = None if skip_firmware_size else locate_vendor_tree(stm32cube, os.environ, use_checkout=False)
    result = compile_api(model, board, out_dir, progress=_progress, name=name, planner=planner,
                         schedule_time_limit=schedule_time_limit, allow_overflow=allow_overflow, dump_ir=dump_ir,
                         measure_firmware=not skip_firmware_size, stm32cube=vendor, patch=patch,
                         patch_overhead_pct=patch_overhead, preserve_input=preserve_input, arena=arena,
                         semantics=semantics).result
    if result.ir_dump is not None:
        click.echo(result.ir_dump, nl=False)
    for line in result.summary_lines():
        click.echo(line)


@main.command()
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--target", default="host", show_default=True, type=click.Choice(sorted(TARGETS)),
              help="Where to run: " + "; ".join(f"{t.name}: {t.description}" for t in TARGETS.values()) + ".")
@click.option("--input", "input_path", required=True, type=click.Path(path_type=Path),
              help="Input .npy in the ONNX graph input's dtype and shape.")
@click.option("--output", "output_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the output .npy (the ONNX graph output's dtype and shape).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the result as the last line.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Kill a run that takes longer than this many seconds (default: 120 on QEMU, none on the host).")
@click.option("--profile", is_flag=True,
              help="qemu-* targets: also run a firmware built with -DTINYC_PROFILE (own build directory, same "
                   "arena) and print the instructions of every op in schedule order (--json: under \"profile\").")
@_errors_to_exit
def run(out_dir: Path, target: str, input_path: Path, output_path: Path, as_json: bool,
        timeout: float | None, profile: bool) -> None:
    """Build (cached) and run the compiled model in OUT_DIR on one input."""
    from .targets.profile import profile_lines, run_profile  # noqa: PLC0415

    info = read_build_info(out_dir)
    x = _load_npy(input_path)
    _check_parent(output_path, "the output", create=False)
    profiled = None
    if profile:
        result, profiled = run_profile(info, x, _progress, target=target, timeout=timeout)
    else:
        result = TARGETS[target].run(info, x, _progress, timeout=timeout)
    _write(output_path, "the output", lambda: np.save(output_path, result.output))
    firmware = {key: value for key, value in (("instructions", result.instructions),
                                              ("flash_bytes", result.flash_bytes),
                                              ("ram_bytes", result.ram_bytes)) if value is not None}
    if as_json:
        extra = {"profile": profiled.as_json()} if profiled is not None else {}
        labels = {"firmware_includes": "model + runtime + harness + libc"} if "flash_bytes" in firmware else {}
        click.echo(json.dumps({"target": result.target, "output": str(output_path),
                               "invoke_ns": result.invoke_ns, **firmware, **labels, "arena_bytes": result.arena_bytes,
                               **extra}))
    else:
        timing = f" in {result.invoke_ns:,} ns" if result.invoke_ns is not None else ""
        if result.instructions is not None:
            timing = f" in {result.instructions:,} instructions"
        click.echo(f"{target}: ran {info.prefix}{timing}, output {list(result.output.shape)} -> {output_path}")
        if result.flash_bytes is not None:
            click.echo(f"  whole firmware (model + runtime + harness + libc): flash {result.flash_bytes:,} B (text + data), "
                       f"RAM {result.ram_bytes:,} B "
                       f"(data + bss), arena {result.arena_bytes:,} B")
        if profiled is not None:
            for line in profile_lines(profiled):
                click.echo(line)


@main.command()
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--board", default=DEFAULT_BOARD, show_default=True, help=BOARD_HELP)
@click.option("--inputs", "count", default=10, show_default=True, type=click.IntRange(min=1),
              help="How many random inputs to compare on.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the random inputs.")
@click.option("--target", "targets", multiple=True, type=click.Choice(sorted(TARGETS)),
              help="Where to run the generated C; repeat for several (e.g. --target host --target qemu-m7). "
                   "Default: host.")
@click.option("--port", default=None,
              help="Validate on a board over its serial port instead (/dev/ttyACM0, COM3, or socket://HOST:PORT): "
                   "the board runs the firmware `tinyc flash` put on it. Needs pyserial.")
@click.option("--baud", default=115200, show_default=True, type=click.IntRange(min=1), help="Baud rate of --port.")
@click.option("--timeout", "timeout_s", default=10.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="With --port: seconds to wait for each answer before sending the request again.")
@click.option("--reference", nargs=2, default=None,
              type=(click.Choice(["onnxruntime", "tflite-micro", "float"]), click.Path(dir_okay=False, path_type=Path)),
              metavar="KIND FILE",
              help="Compare the compiled C with a reference instead of the interpreter: onnxruntime FILE.onnx, "
                   "tflite-micro FILE.tflite, or float FILE.onnx (the float model). Tolerance: 0 LSB for "
                   "tflite-micro, 2 LSB for onnxruntime, cosine >= 0.99 for float.")
@click.option("--data", "data_path", default=None, type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="With --port or --reference: real inputs (.npy [N, *input shape] or one input, or .npz) "
                   "instead of random ones.")
@click.option("--tolerance", default=None, type=click.IntRange(min=0),
              help="With --reference: the allowed max |diff| in LSB.")
@click.option("--min-cosine", default=None, type=click.FloatRange(-1.0, 1.0),
              help="With --reference float: the least cosine similarity accepted.")
@click.option("--json", "as_json", is_flag=True, help="With --reference: print the figures as JSON.")
@SEMANTICS_OPTION
@_errors_to_exit
def verify(model: Path, board: str, count: int, seed: int, targets: tuple[str, ...], port: str | None, baud: int,
           timeout_s: float, reference: tuple[str, Path] | None, data_path: Path | None, tolerance: int | None,
           min_cosine: float | None, as_json: bool, semantics: str) -> None:
    """Check that the generated C for MODEL (.onnx or .tflite) equals the NumPy interpreter byte for byte on random inputs,
    on the host and/or the emulated Cortex-M (and, with onnxruntime installed, report the
    largest LSB difference to it); with --port, on the board itself, with its cycle counts. With
    --reference, compare the generated C with onnxruntime, TFLite Micro or the float model
    instead (as X-CUBE-AI's validate): exit 1 beyond the tolerance."""
    if port is not None and reference is not None:
        raise TinycError("--port and --reference are two different checks; give one of them")
    if reference is None and (tolerance is not None or min_cosine is not None or as_json):
        raise TinycError("--tolerance, --min-cosine and --json go with --reference")
    if port is not None:
        if targets:
            raise TinycError("--port validates on the board; leave out --target")
        from .port_verification import verify_on_port  # noqa: PLC0415

        port_result = verify_on_port(model, port, baud, count, seed, data_path, _progress, timeout_s)
        for line in port_result.lines():
            click.echo(line)
        if not port_result.ok:
            sys.exit(EXIT_MISMATCH)
        return
    if reference is not None:
        _verify_reference(model, board, count, seed, targets, reference, data_path, tolerance, min_cosine, as_json,
                          semantics)
        return
    if data_path is not None:
        raise TinycError("--data goes with --port or --reference (the other checks use --inputs random inputs)")
    from .verification import DEFAULT_TARGETS, verify_model  # noqa: PLC0415

    result = verify_model(model, board, count, seed, _progress, targets or DEFAULT_TARGETS, semantics)
    for line in result.lines():
        click.echo(line)
    if not result.ok:
        sys.exit(EXIT_MISMATCH)


def _verify_reference(model: Path, board: str, count: int, seed: int, targets: tuple[str, ...],
                      reference: tuple[str, Path], data: Path | None, tolerance: int | None,
                      min_cosine: float | None, as_json: bool, semantics: str = "auto") -> None:
    from .validation import verify_against_reference  # noqa: PLC0415

    if len(targets) > 1:
        raise TinycError("--reference compares one target; give one --target")
    kind, reference_file = reference
    result = verify_against_reference(model, kind, reference_file, board, count, seed, data,
                                      targets[0] if targets else "host", tolerance, min_cosine, _progress, semantics)
    if as_json:
        click.echo(json.dumps(result.as_json(), indent=2))
    else:
        for line in result.lines():
            click.echo(line)
    if not result.ok:
        sys.exit(EXIT_MISMATCH)


@main.command()
@click.argument("out_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--env", "env_name", default=None,
              help="PlatformIO environment of OUT_DIR/platformio.ini (default: its default_envs, the board's). "
                   "qemu_m7 / qemu_m4 / qemu_m33 / qemu_m3 run on the emulator instead of a board.")
@click.option("--monitor", is_flag=True, help="Then open the serial monitor (`pio device monitor`) to read the output.")
@click.option("--dry-run", is_flag=True, help="Print the commands it would run, and run nothing.")
@_errors_to_exit
def flash(out_dir: Path, env_name: str | None, monitor: bool, dry_run: bool) -> None:
    """Build OUT_DIR's PlatformIO project and flash the board (`pio run -t upload`).

    Needs PlatformIO (`pip install platformio`). Without internet, only the qemu_* environments
    build: `python -m tinycc_ml.targets.pio_offline DIR` prepares a PLATFORMIO_CORE_DIR for them.
    Before running anything it checks, in a few seconds, that PlatformIO, the packages the
    environment needs (or a way to download them) and the board's ST-LINK are there."""
    import os  # noqa: PLC0415
    import subprocess  # noqa: PLC0415

    from .targets.flash import check_ready, dry_run_lines, planned_commands, read_env  # noqa: PLC0415
    from .targets.pio_offline import pio_environment  # noqa: PLC0415

    env = read_env(out_dir, env_name)
    commands = planned_commands(env_name, monitor)
    if dry_run:
        for line in dry_run_lines(out_dir, commands, os.environ):
            click.echo(line)
        return
    check_ready(out_dir, env)
    for command in commands:
        if subprocess.run(command, cwd=out_dir, env=pio_environment(None), check=False).returncode != 0:
            raise TinycError(f"`{' '.join(['pio', *command[3:]])}` failed in {out_dir} (its output is above)")


@main.command()
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--board", default=DEFAULT_BOARD, show_default=True, help=BOARD_HELP)
@click.option("--planner", default=DEFAULT_PLANNER, show_default=True, type=click.Choice(PLANNER_NAMES),
              help="Memory planner that places the buffers in the arena ('best': the smallest of all).")
@click.option("--schedule-time-limit", default=DEFAULT_TIME_LIMIT, show_default=True, type=click.FloatRange(min=0),
              help="Safety net: seconds after which the op-order search (bounded by a count of states, so "
                   "deterministic) settles for the best order found; the summary says when it did.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write an HTML page with the plan's picture (SVG inline) and tables.")
@click.option("--svg", "svg_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the plan's picture as SVG: buffers over steps (x) and addresses (y).")
@click.option("--patch", "patch", default="off", show_default=True, metavar="off|auto|K:NHxNW",
              help="Patch-based inference, as for compile: the picture marks the patch stage's steps.")
@click.option("--patch-overhead", "patch_overhead", default=20.0, show_default=True, type=click.FloatRange(min=0),
              help="MACs the patch search may add by recomputing halos, in % of the model's MACs.")
@SEMANTICS_OPTION
@_errors_to_exit
def report(model: Path, board: str, planner: str, schedule_time_limit: float, html_path: Path | None,
           svg_path: Path | None, patch: str, patch_overhead: float, semantics: str) -> None:
    """Show MODEL's memory plan for BOARD: live bytes and arena layout per step, every buffer."""
    from .compiler import memory_report  # noqa: PLC0415

    for path in (html_path, svg_path):
        if path is not None:
            _check_parent(path, "the report", create=True)
    text, view = memory_report(model, board, planner, schedule_time_limit, patch, patch_overhead, semantics)
    click.echo(text, nl=False)
    from .memory.picture import html_page, svg  # noqa: PLC0415

    for path, render in ((html_path, html_page), (svg_path, svg)):
        if path is not None:
            _write(path, "the report", lambda: (path.parent.mkdir(parents=True, exist_ok=True),
                                                path.write_text(render(view))))
            click.echo(f"wrote {path}")


@main.command()
@click.option("--schema", is_flag=True, help="Print the board file schema (for `--board path/to/board.toml`).")
@_errors_to_exit
def boards(schema: bool) -> None:
    """List the known boards."""
    if schema:
        from .board_schema import schema_text  # noqa: PLC0415

        click.echo(schema_text())
        return
    rows = [("board", "core", "clock", "SRAM", "flash", "DSP", "FPU", "description")]
    for b in all_boards():
        sram = format_bytes_si(b.sram_bytes) + ("" if b.arena_limit_bytes == b.sram_bytes
                                                else f" (arena <= {format_bytes_si(b.arena_limit_bytes)})")
        rows.append((b.name, b.core, f"{b.clock_hz // 1_000_000} MHz", sram,
                     format_bytes_si(b.flash_bytes), "yes" if b.dsp else "no", b.fpu, b.description))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(r, widths)) + "  " + r[-1])
    click.echo(f"default: {DEFAULT_BOARD} ({load_board(DEFAULT_BOARD).description})")


if __name__ == "__main__":
    main()
