"""compile_model: ONNX or TFLite file -> output directory. The one function the CLI calls.

    import (frontend) -> lowering (passes, kernel calls for the board's core, schedule,
    overlap facts, liveness, planner) -> EmitContext -> templates -> OUT/
    (+ runtime copy, report.json)

Each arrow is a module of its own; this file only wires them and writes files.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from .boards import Board, all_boards, format_bytes_si, load_board
from .codegen.context import EmitContext, build_context, check_prefix
from .codegen.render import render_sources
from .errors import BoardError, BuildError, ModelError, TinycError
from .ir.graph import Graph
from .kernels.boundary import DEQUANTIZE_OUTPUT, QUANTIZE_INPUT
from .kernels.target import KernelTarget
from .lowering import lower, node_calls
from .memory.picture import PlanView, sparkline
from .memory.planners import DEFAULT_PLANNER
from .passes.schedule import DEFAULT_TIME_LIMIT
from .patch.search import DEFAULT_OVERHEAD_PCT, PatchChoice, PatchRequest, choose_patch
from .program import Program
from .progress import Progress, slow_step
from .report import build_report, memory_report_text, report_text
from .resources import runtime_dir
from .targets.runtime_build import runtime_sources_for, source_for_symbol
from .targets.footprint import Footprint, measure as measure_footprint
from .targets.stm32_parts import has_part
from .targets.arm_build import GCC
from .targets.stm32cube import (BoardFirmware, VendorTree, board_firmware_summary, build_board_firmware,
                                default_cache_dir, missing_family)
from .outdir import WriteResult, write_owned
from .targets.platformio import project_files

if TYPE_CHECKING:
    from .frontend.semantics import SemanticsChoice

__all__ = ["CompileOptions", "CompileResult", "Fit", "compile_model", "import_model", "lower", "memory_report",
           "node_calls", "write_output_dir"]

USER_EDITABLE = frozenset({"src/main.c", "README.md"})  # examples the user may make their own


@dataclass(frozen=True)
class CompileOptions:
    name: str = "model"
    planner: str = DEFAULT_PLANNER
    schedule_time_limit: float = DEFAULT_TIME_LIMIT  # seconds: the op-order search's safety net
    allow_overflow: bool = False
    dump_ir: str | None = None  # a pass name (or "import"): IR text after it
    measure_firmware: bool = True  # cross-build model + runtime for the board's core to size it
    # Link the whole real-board firmware against ST's HAL (STM32 boards) and report its size:
    # None does not try; a VendorTree without a path reports why it was not measured.
    stm32cube: VendorTree | None = None
    stm32cube_cache: Path | None = None  # where the HAL objects are cached (stm32cube.default_cache_dir)
    patch: str = "off"  # "off", "auto" or "K:NHxNW" (patch/search.py)
    patch_overhead_pct: float = DEFAULT_OVERHEAD_PCT  # MACs the search may add, in % of the model's
    preserve_input: bool = False  # the plan keeps the inputs intact through invoke (costs arena)
    arena: str = "static"  # "static": a static array in TINYC_ARENA_SECTION; "extern": PREFIX_init(buf, n)
    # Whose arithmetic the C follows: "auto" (from the model's origin, frontend/semantics.py),
    # "tflite" (TFLite Micro, bit for bit) or "onnx" (ONNX's definition, as onnxruntime runs it).
    semantics: str = "auto"


@dataclass(frozen=True)
class Fit:
    board: Board
    arena_bytes: int
    weights_bytes: int

    @property
    def arena_over(self) -> int:
        return max(0, self.arena_bytes - self.board.arena_limit_bytes)

    @property
    def weights_over(self) -> int:
        return max(0, self.weights_bytes - self.board.flash_bytes)

    @property
    def fits(self) -> bool:
        return not self.arena_over and not self.weights_over

    def summary(self) -> str:
        b = self.board
        pct = 100.0 * self.arena_bytes / b.arena_limit_bytes
        head = "fits" if self.fits else "DOES NOT FIT"
        return (f"{head}: arena {self.arena_bytes:,} B of {arena_limit_label(b)} ({pct:.1f} %), "
                f"weights {self.weights_bytes:,} B of {format_bytes_si(b.flash_bytes)} flash")

    def error(self) -> BoardError:
        problems = []
        if self.arena_over:
            problems.append(f"arena {self.arena_bytes:,} B exceeds the {arena_limit_label(self.board)} "
                            f"by {self.arena_over:,} B")
        if self.weights_over:
            problems.append(f"weights {self.weights_bytes:,} B exceed the {format_bytes_si(self.board.flash_bytes)} "
                            f"flash by {self.weights_over:,} B")
        roomy = [other.name for other in all_boards()
                 if other.arena_limit_bytes >= self.arena_bytes and other.flash_bytes >= self.weights_bytes]
        memory = " and ".join(m for m, over in (("SRAM", self.arena_over), ("flash", self.weights_over)) if over)
        where = f" (it fits on {', '.join(roomy)})" if roomy else " (no known board has enough)"
        return BoardError(f"model does not fit board {self.board.name}: {'; '.join(problems)}; "
                          f"use a board with more {memory}{where}, or --allow-overflow to emit the code anyway")


@dataclass(frozen=True)
class CompileResult:
    out_dir: Path
    board: Board
    imported: Graph  # the graph as the frontend made it (what the interpreter runs)
    program: Program
    context: EmitContext
    report: dict
    fit: Fit
    ir_dump: str | None
    footprint: Footprint | None = None
    board_firmware: BoardFirmware | None = None
    board_firmware_note: str = ""  # why the real-board firmware was not measured
    patch: PatchChoice | None = None
    kept: tuple[str, ...] = ()  # user-edited files tinyc left as they are (src/main.c)

    def summary_lines(self) -> list[str]:
        r = self.report
        ops = len(self.program.schedule)
        calls = sum(len(c) for c in self.program.calls.values())
        return [
            f"compiled {r['model']} for {self.board.name} -> {self.out_dir}",
            f"  ops: {ops} ({calls} kernel calls), MACs: {r['macs']:,}",
            f"  arena: {r['arena_bytes']:,} B (layer-wise peak without overlap credit {r['layerwise_peak_bytes']:,} B, "
            f"planner {r['planner']}), weights (model constants only): {r['weights_bytes']:,} B",
            *([f"  --preserve-input: the input stays intact, at +{r['preserve_input_cost_bytes']:,} B of arena"]
              if "preserve_input_cost_bytes" in r else []),
            *memory_summary(r),
            *(self.patch.summary_lines() if self.patch else []),
            f"  {self.fit.summary()}",
            *([f"  of the weights, {r['int16_weights_extra_bytes']:,} B are the int16 copies the DSP kernels run "
               f"faster on (the board's flash has room; int8 weights otherwise)"]
              if r.get("int16_weights_extra_bytes") else []),
            *([f"  {footprint_summary(self.footprint, self.board)}"] if self.footprint else []),
            *([f"  {code_summary(self.footprint)}"] if self.footprint and self.footprint.code else []),
            *([f"  warning: {err}"] if self.footprint and (err := footprint_overflow(self.footprint, self.board)) else []),
            *([f"  {board_firmware_summary(self.board_firmware, self.board)}"] if self.board_firmware else []),
            *([f"  real-board firmware (STM32Cube HAL) NOT measured: {self.board_firmware_note}"]
              if self.board_firmware_note else []),
            *(f"  kept your {rel} (changed since tinyc wrote it; delete it to get tinyc's again)" for rel in self.kept),
            *([semantics_line(r["semantics"], r["semantics_reason"])] if shows_semantics(r["semantics"], r["semantics_reason"])
              else []),
        ]


def shows_semantics(semantics: str, reason: str) -> bool:
    """The summary names the semantics when it is not TFLite's by default: ONNX's, or a forced one.
    (A TFLite-born model's summary stays as it always was; report.json always says it.)"""
    return semantics != "tflite" or reason.startswith("forced")


def semantics_line(semantics: str, reason: str) -> str:
    return f"  semantics: {semantics} ({reason})"


TIME_LIMITED = ("the op-order search hit --schedule-time-limit before its state budget: "
                "the order (and so the arena) may differ on another machine")


def arena_limit_label(board: Board) -> str:
    """What the arena must fit: the SRAM, or on a chip with several RAM regions the largest
    one (the H743's 512 KB AXI SRAM of its 1 MB), named so the two figures never clash."""
    limit = format_bytes_si(board.arena_limit_bytes)
    if board.arena_limit_bytes == board.sram_bytes:
        return f"{limit} SRAM"
    return f"{limit} SRAM region (the largest; {format_bytes_si(board.sram_bytes)} RAM in all)"


def memory_summary(r: dict) -> list[str]:
    """Two lines of the memory story: the bounds, and live bytes per step (`tinyc report` for more)."""
    live = r["live_bytes"]
    peak = max(live, default=0)
    proven = "proven" if r["best_layerwise_exact"] else "not proven minimal"
    overlaps = len(r["overlaps"])
    return [
        f"  memory: lower bound {r['lower_bound_bytes']:,} B (arena +{r['lower_bound_gap_bytes']:,} B), "
        f"best layer-wise {r['best_layerwise_bytes']:,} B ({r['schedule_method']}, {proven}), "
        f"{overlaps} overlap{'' if overlaps == 1 else 's'}",
        *([f"  warning: {TIME_LIMITED}"] if r["schedule_time_limited"] else []),
        f"  live bytes per step: {sparkline(live)} peak {peak:,} B at step {live.index(peak) if live else 0}",
    ]


def footprint_summary(footprint: Footprint, board: Board) -> str:
    if footprint.size is None:
        return f"firmware size not measured: {footprint.note}"
    size = footprint.size
    return (f"on {footprint.core} (model + runtime, -O2): flash {size.flash_bytes:,} B of "
            f"{format_bytes_si(board.flash_bytes)}, RAM {size.ram_bytes:,} B of {format_bytes_si(board.sram_bytes)}")


def code_summary(footprint: Footprint) -> str:
    code = footprint.code
    assert code is not None
    return (f"runtime code on {footprint.core}: {code.total:,} B (kernels {code.kernels:,} + generated glue "
            f"{code.glue:,} + library {code.library:,}; weights and parameters excluded)")


def footprint_overflow(footprint: Footprint, board: Board) -> BoardError | None:
    """The measured code + data against the whole chip (the arena check above is stricter on RAM)."""
    if footprint.size is None:
        return None
    over_flash = footprint.size.flash_bytes - board.flash_bytes
    over_ram = footprint.size.ram_bytes - board.sram_bytes
    problems = []
    if over_flash > 0:
        problems.append(f"code + constants {footprint.size.flash_bytes:,} B exceed the "
                        f"{format_bytes_si(board.flash_bytes)} flash by {over_flash:,} B")
    if over_ram > 0:
        problems.append(f"static RAM {footprint.size.ram_bytes:,} B exceeds the "
                        f"{format_bytes_si(board.sram_bytes)} SRAM by {over_ram:,} B")
    if not problems:
        return None
    return BoardError(f"model does not fit board {board.name} once built for {footprint.core}: "
                      f"{'; '.join(problems)}; use a board with more memory, or --allow-overflow to emit the code anyway")


def import_model(path: Path, semantics: str = "auto") -> Graph:
    """A .tflite flatbuffer (by suffix or by its TFL3 identifier) or an ONNX model -> IR."""
    return import_model_with_semantics(path, semantics)[0]


def import_model_with_semantics(path: Path, semantics: str = "auto") -> tuple[Graph, SemanticsChoice]:
    """import_model, and the semantics it follows with the reason (frontend/semantics.py)."""
    if not Path(path).is_file():  # before the frontend's (slow) imports
        raise ModelError(f"model file {path} does not exist")
    from .frontend.semantics import check_requested, tflite_semantics  # noqa: PLC0415 (the package imports onnx)
    from .frontend.tflite import is_tflite, load_tflite  # noqa: PLC0415

    check_requested(semantics)

    if Path(path).suffix.lower() == ".tflite" or is_tflite(path):
        choice = tflite_semantics(semantics)
        return load_tflite(Path(path)), choice
    from .frontend.onnx_import import load_model_with_semantics  # noqa: PLC0415 (heavy: onnx)

    return load_model_with_semantics(Path(path), semantics)


def memory_report(model: Path | str, board: str, planner: str, schedule_time_limit: float, patch: str = "off",
                  patch_overhead_pct: float = DEFAULT_OVERHEAD_PCT, semantics: str = "auto") -> tuple[str, PlanView]:
    """`tinyc report`: lower the model for the board (no files written), describe its plan."""
    model, target = Path(model), load_board(board)
    request = PatchRequest.parse(patch, patch_overhead_pct)
    kernel_target = KernelTarget.of_board(target)
    graph, semantics_choice = import_model_with_semantics(model, semantics)
    program, _ = lower(graph, planner, None, schedule_time_limit, kernel_target)
    program, choice = choose_patch(program, request, kernel_target, planner)
    lines = [line.strip() for line in choice.summary_lines()] if choice else (
        [f"patch: auto found no stage that lowers the arena within +{patch_overhead_pct:g} % MACs"]
        if request.mode == "auto" else [])
    if shows_semantics(semantics_choice.semantics, semantics_choice.reason):
        lines.append(semantics_line(semantics_choice.semantics, semantics_choice.reason).strip())
    return memory_report_text(program, f"{model.name} on {target.name}: memory plan", target.arena_limit_bytes, lines)


def compile_model(path: Path | str, board: str, out_dir: Path | str, options: CompileOptions = CompileOptions(),
                  progress: Progress | None = None) -> CompileResult:
    """`progress` receives a line for each step that runs longer than a second (stderr in the CLI)."""
    path, out_dir = Path(path), Path(out_dir)
    target = load_board(board)
    check_prefix(options.name)
    with slow_step(progress, f"importing {path.name} ..."):
        imported, semantics = import_model_with_semantics(path, options.semantics)
    request = PatchRequest.parse(options.patch, options.patch_overhead_pct)
    kernel_target = KernelTarget.of_board(target)
    with slow_step(progress, f"lowering for {target.core}: passes, op-order search (up to "
                             f"{options.schedule_time_limit:g} s), memory plan ..."):
        program, dump = lower(imported, options.planner, options.dump_ir, options.schedule_time_limit,
                              kernel_target, options.preserve_input)
    with slow_step(progress, f"patch search ({request.mode}) ..."):
        program, patch = choose_patch(program, request, kernel_target, options.planner)
    ctx = build_context(program, options.name, path.name, target.name, options.arena)
    fit = Fit(target, ctx.arena_bytes, ctx.weights_bytes)
    if not fit.fits and not options.allow_overflow:
        raise fit.error()
    report = build_report(program, ctx, target, path.name, fit.fits)
    report["patch"] = {"mode": request.mode, "applied": patch is not None, **(patch.as_report() if patch else {})}
    report["semantics_reason"] = semantics.reason
    if options.preserve_input:
        with slow_step(progress, "planning once more without --preserve-input, to report its cost ..."):
            consumed, _ = lower(imported, options.planner, None, options.schedule_time_limit,
                                KernelTarget.of_board(target))
        report["preserve_input_cost_bytes"] = ctx.arena_bytes - consumed.plan.arena_bytes
    try:
        # the board and QEMU harnesses feed one input and print one output
        project = project_files(target, ctx) if ctx.single_io else None
        written = write_output_dir(out_dir, ctx, program, report, project)
    except OSError as exc:  # not a directory, no permission, disk full: the user's to fix
        raise TinycError(f"cannot write the output directory {out_dir}: {exc.strerror or exc}"
                         + (f" ({exc.filename})" if exc.filename else "")) from None
    with slow_step(progress, f"measuring the firmware size: arm-none-eabi-gcc for {target.core} ..."):
        footprint = measure_footprint(out_dir, target, options.name) if options.measure_firmware else None
    if footprint is not None:
        report["firmware_footprint"] = footprint.as_report()
        written = write_output_dir(out_dir, ctx, program, report, project)
        overflow = footprint_overflow(footprint, target)
        if overflow is not None and not options.allow_overflow:
            raise overflow
    board_fw, note = None, ""
    if options.stm32cube is not None and has_part(target):
        board_fw, note = _measure_board_firmware(out_dir, target, options)
        report.setdefault("firmware", {})["board"] = (board_fw.as_report(target) if board_fw is not None
                                                      else {"measured": False, "note": note})
        written = write_output_dir(out_dir, ctx, program, report, project)
    return CompileResult(out_dir, target, imported, program, ctx, report, fit, dump, footprint, board_fw, note,
                         patch, written.kept)


def _measure_board_firmware(out_dir: Path, board: Board, options: CompileOptions) -> tuple[BoardFirmware | None, str]:
    """The real-board firmware linked against the HAL, or why it was not (no vendor tree, no
    arm-none-eabi-gcc). A build or link failure (e.g. RAM overflow) is an error unless
    --allow-overflow, which reports it instead."""
    tree = options.stm32cube
    if tree is None or tree.path is None:
        return None, tree.note if tree is not None else ""
    if shutil.which(GCC) is None:
        return None, f"{GCC} not found (`make setup-system` installs it)"
    lacking = missing_family(tree.path, board)
    if lacking is not None:
        return None, lacking
    cache = options.stm32cube_cache or default_cache_dir(os.environ)
    try:
        return build_board_firmware(out_dir, board, options.name, tree.path, cache), ""
    except BuildError as exc:
        lines = str(exc).splitlines()
        overflow = next((line.split("ld: ", 1)[-1].strip() for line in lines if "overflowed by" in line), None)
        if not options.allow_overflow:
            if overflow is not None:
                raise BoardError(f"model does not fit board {board.name} once linked with the STM32Cube HAL: "
                                 f"{overflow}; use a board with more memory, or --allow-overflow to emit the code "
                                 "anyway") from None
            raise
        why = overflow or next((line.strip() for line in lines if "error" in line), lines[0])
        return None, f"the firmware did not build: {why}"


# -- writing the output directory -------------------------------------------------------------


def runtime_files(program: Program, ctx: EmitContext) -> dict[str, Path]:
    """OUT-relative path -> runtime file to copy: every header, and only the sources used."""
    calls = [c for node in program.schedule for c in program.calls.get(node.name, ())]
    sources = set(runtime_sources_for(calls))
    if any(b.is_float for b in ctx.inputs):
        sources.add(source_for_symbol(QUANTIZE_INPUT.symbol))
    if any(b.is_float for b in ctx.outputs):
        sources.add(source_for_symbol(DEQUANTIZE_OUTPUT.symbol))
    headers = sorted((runtime_dir() / "include" / "tinyc").glob("*.h"))
    files = {f"lib/tinyc/include/tinyc/{h.name}": h for h in headers}
    files.update({f"lib/tinyc/src/{s.name}": s for s in sorted(sources)})
    return files


def write_output_dir(out_dir: Path, ctx: EmitContext, program: Program, report: dict,
                     project: Mapping[str, bytes] | None = None) -> WriteResult:
    """Write the model sources, runtime copy, report.json and (`project`) the PlatformIO/QEMU
    files, each listed in the manifest; the board's src/main.c only if the user left it alone."""
    files = {rel: text.encode() for rel, text in render_sources(ctx).items()}
    files["report.json"] = report_text(report).encode()
    files.update({rel: source.read_bytes() for rel, source in runtime_files(program, ctx).items()})
    files.update(project or {})
    return write_owned(out_dir, files, USER_EDITABLE)
