"""The Python API: `tinycc_ml.compile(model, board=..., **options) -> CompiledModel`, for
notebooks and scripts; the `tinyc compile` command is a thin layer over it.

    import numpy as np, tinycc_ml
    m = tinycc_ml.compile("kws.onnx", board="stm32f746", preserve_input=True)
    m.arena_bytes, m.report["weights_bytes"]
    y = m.run(x, target="qemu-m7")        # or "host"; bit-exact with the interpreter
    m.write("firmware/model")             # the output directory, as `tinyc compile -o` writes it

Without `out_dir` the output lives in a private temporary directory removed with the object.
"""

from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .boards import DEFAULT_BOARD
from .compiler import CompileOptions, CompileResult, compile_model, write_output_dir
from .errors import TinycError
from .targets import TARGETS, RunResult, read_build_info
from .targets.platformio import project_files

OPTION_NAMES = tuple(f.name for f in dataclasses.fields(CompileOptions))


@dataclass(frozen=True)
class CompiledModel:
    """One compile: its report and plan, runnable on any target, writable anywhere."""

    result: CompileResult
    _workdir: Any = field(default=None, repr=False, compare=False)  # a TemporaryDirectory kept alive

    @property
    def out_dir(self) -> Path:
        return self.result.out_dir

    @property
    def report(self) -> dict:
        return self.result.report

    @property
    def arena_bytes(self) -> int:
        return self.result.context.arena_bytes

    @property
    def weights_bytes(self) -> int:
        return self.result.context.weights_bytes

    def summary(self) -> str:
        return "\n".join(self.result.summary_lines())

    def run_result(self, x: np.ndarray, target: str = "host", progress: Callable[[str], None] | None = None,
                   timeout: float | None = None) -> RunResult:
        """The whole RunResult (instructions and firmware size on the QEMU targets)."""
        if target not in TARGETS:
            raise TinycError(f"target {target!r} is not one of {', '.join(sorted(TARGETS))}")
        return TARGETS[target].run(read_build_info(self.out_dir), np.asarray(x), progress or (lambda _m: None),
                                   timeout=timeout)

    def run(self, x: np.ndarray, target: str = "host", timeout: float | None = None) -> np.ndarray:
        """The model's output on `x` (the ONNX input's dtype and shape), run on `target`."""
        return self.run_result(x, target, timeout=timeout).output

    def write(self, out_dir: Path | str) -> Path:
        """Write the output directory (sources, runtime, project, report.json) to `out_dir`."""
        r = self.result
        project = project_files(r.board, r.context) if r.context.single_io else None
        try:
            write_output_dir(Path(out_dir), r.context, r.program, r.report, project)
        except OSError as exc:
            raise TinycError(f"cannot write the output directory {out_dir}: {exc.strerror or exc}") from None
        return Path(out_dir)


def options_of(**options: Any) -> CompileOptions:
    """CompileOptions from keyword options, an unknown one named with the valid ones."""
    unknown = sorted(set(options) - set(OPTION_NAMES))
    if unknown:
        raise TinycError(f"unknown compile option{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                         f"the options are {', '.join(OPTION_NAMES)}")
    return CompileOptions(**options)


def compile(model: Path | str | Any, board: str = DEFAULT_BOARD, out_dir: Path | str | None = None,  # noqa: A001
            progress: Callable[[str], None] | None = None, **options: Any) -> CompiledModel:
    """Compile an int8 ONNX model (a path, or an onnx.ModelProto) for `board`; `options` are
    CompileOptions' fields, the CLI's options by their Python names (name, planner,
    schedule_time_limit, allow_overflow, measure_firmware, preserve_input, arena, ...);
    `progress` receives a line for each step that runs longer than a second."""
    opts = options_of(**options)
    workdir = tempfile.TemporaryDirectory(prefix="tinyc_") if out_dir is None else None
    out = Path(workdir.name) / "out" if workdir is not None else Path(out_dir)
    if isinstance(model, (str, Path)):
        return CompiledModel(compile_model(Path(model), board, out, opts, progress), workdir)
    with tempfile.TemporaryDirectory(prefix="tinyc_model_") as tmp:
        return CompiledModel(compile_model(_saved_model(model, Path(tmp)), board, out, opts, progress), workdir)


def _saved_model(model: Any, directory: Path) -> Path:
    try:
        import onnx  # noqa: PLC0415 (heavy)
    except ImportError:  # pragma: no cover - onnx is a dependency
        raise TinycError("onnx is not installed") from None
    if not isinstance(model, onnx.ModelProto):
        raise TinycError(f"model must be a path to an .onnx file or an onnx.ModelProto, not {type(model).__name__}")
    path = directory / f"{model.graph.name or 'model'}.onnx"
    onnx.save(model, path)
    return path
