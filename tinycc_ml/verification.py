"""`tinyc verify`: the NumPy interpreter and the generated C must agree byte for byte.

The model is compiled to a temporary directory; the interpreter and every requested
target (the host build, the emulated Cortex-M7/M4) run on N seeded random inputs in the
ONNX input dtype, and every output byte of every target is compared with the interpreter. With onnxruntime installed
its output (graph optimizations off: its optimized int8 kernels saturate) is compared
too, as the largest difference in output LSBs; that is reported, not required to be 0
(onnxruntime's QDQ float semantics may differ from TFLite's integer kernels by an LSB).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .boards import load_board
from .compiler import CompileOptions, compile_model
from .ir.graph import BoundaryIO
from .errors import TinycError
from .targets import TARGETS, read_build_info

DEFAULT_TARGETS = ("host",)


@dataclass(frozen=True)
class InputCheck:
    index: int
    mismatched: tuple[tuple[str, int], ...]  # (target, output elements where it differs from the interpreter)
    ort_max_lsb: int | None  # largest |interpreter - onnxruntime| in output LSBs

    @property
    def equal(self) -> bool:
        return all(count == 0 for _, count in self.mismatched)


@dataclass(frozen=True)
class VerifyResult:
    model: str
    board: str
    targets: tuple[str, ...]
    checks: tuple[InputCheck, ...]
    output_size: int
    ort_note: str = "onnxruntime not installed"  # why onnxruntime was not compared, when it was not

    @property
    def ok(self) -> bool:
        return all(c.equal for c in self.checks)

    def lines(self) -> list[str]:
        lines = []
        for c in self.checks:
            verdicts = [
                f"{target} {'equal' if count == 0 else f'MISMATCH in {count} of {self.output_size} elements'}"
                for target, count in c.mismatched
            ]
            ort = f", onnxruntime max diff {c.ort_max_lsb} LSB" if c.ort_max_lsb is not None else ""
            lines.append(f"input {c.index}: interpreter vs {', '.join(verdicts)}{ort}")
        good = sum(c.equal for c in self.checks)
        against = " == ".join(("interpreter", *self.targets))
        summary = f"{good}/{len(self.checks)} inputs bit-exact ({against}) for {self.model} on {self.board}"
        ort = [c.ort_max_lsb for c in self.checks if c.ort_max_lsb is not None]
        if ort:
            summary += f"; onnxruntime max diff {max(ort)} LSB"
        elif self.checks:
            summary += f"; {self.ort_note}, not compared"
        lines.append(("OK: " if self.ok else "FAILED: ") + summary)
        return lines


def random_input(io: BoundaryIO, rng: np.random.Generator) -> np.ndarray:
    """A random input in the ONNX dtype; float inputs cover the input's quantized range."""
    q = rng.integers(-128, 128, size=io.shape, dtype=np.int16)
    if io.onnx_dtype == "int8":
        return q.astype(np.int8)
    if io.onnx_dtype == "uint8":
        return (q + 128).astype(np.uint8)
    jitter = rng.uniform(-0.45, 0.45, size=io.shape)  # stays inside q's rounding interval
    return ((q - io.quant.zp + jitter) * io.quant.s).astype(np.float32)


def _onnxruntime_failure(exc: Exception) -> str:
    """onnxruntime's own errors (its exceptions derive from Exception directly) as one short note;
    anything else is re-raised: only onnxruntime may fail here without it being a tinyc bug."""
    if not type(exc).__module__.startswith("onnxruntime"):
        raise exc
    return f"onnxruntime cannot run the model ({type(exc).__name__})"


def _ort_session(model: Path):
    """(session, None), or (None, why not): onnxruntime is an optional second opinion."""
    try:
        import onnxruntime as ort  # noqa: PLC0415 (optional)
    except ImportError:
        return None, "onnxruntime not installed"
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 4  # its load errors are reported as a note, not logged
    try:
        return ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"]), None
    except Exception as exc:  # noqa: BLE001 - filtered to onnxruntime's errors
        return None, _onnxruntime_failure(exc)


def _lsb_diff(a: np.ndarray, b: np.ndarray, io: BoundaryIO) -> int:
    if io.onnx_dtype in ("int8", "uint8"):
        return int(np.max(np.abs(a.astype(np.int32) - b.astype(np.int32)), initial=0))
    diff = np.abs(a.astype(np.float64) - b.astype(np.float64)) / io.quant.s
    return int(np.round(np.max(diff, initial=0.0)))


def _mismatched_elements(got: np.ndarray, expected: np.ndarray) -> int:
    if got.dtype != expected.dtype or got.shape != expected.shape:
        return int(expected.size)
    a = np.ascontiguousarray(got).view(np.uint8).reshape(got.size, -1)
    b = np.ascontiguousarray(expected).view(np.uint8).reshape(expected.size, -1)
    return int(np.count_nonzero(np.any(a != b, axis=1)))


def verify_model(model: Path | str, board: str, count: int, seed: int,
                 progress: Callable[[str], None] | None = None,
                 targets: tuple[str, ...] = DEFAULT_TARGETS, semantics: str = "auto") -> VerifyResult:
    from .interp import run_graph  # noqa: PLC0415

    unknown = [t for t in targets if t not in TARGETS]
    if unknown:
        raise TinycError(f"unknown target(s) {', '.join(unknown)}; targets: {', '.join(TARGETS)}")
    load_board(board)  # an unknown board is reported before any work
    model = Path(model)
    say = progress or (lambda _message: None)
    with tempfile.TemporaryDirectory(prefix="tinyc_verify_") as tmp:
        say(f"compiling {model.name} for {board}")
        result = compile_model(model, board, Path(tmp),
                               CompileOptions(allow_overflow=True, measure_firmware=False, semantics=semantics))
        graph = result.imported
        info = read_build_info(Path(tmp))
        session, ort_note = _ort_session(model)
        rng = np.random.default_rng(seed)
        inp, out = graph.inputs[0], graph.outputs[0]
        checks = []
        for i in range(count):
            say(f"input {i + 1}/{count}")
            x = random_input(inp, rng)
            expected = run_graph(graph, {inp.onnx_name: x})[out.onnx_name]
            mismatched = []
            for target in targets:
                got = TARGETS[target].run(info, x, say).output  # builds once, cached afterwards
                mismatched.append((target, _mismatched_elements(got, expected)))
            ort_lsb = None
            if session is not None:
                try:
                    ort_out = session.run([out.onnx_name], {inp.onnx_name: x})[0]
                    ort_lsb = _lsb_diff(expected, ort_out, out)
                except Exception as exc:  # noqa: BLE001 - filtered to onnxruntime's errors
                    session, ort_note = None, _onnxruntime_failure(exc)
                    say(f"{ort_note}: not compared")
            checks.append(InputCheck(i, tuple(mismatched), ort_lsb))
    return VerifyResult(model.name, board, tuple(targets), tuple(checks), int(np.prod(out.shape)),
                        ort_note or "onnxruntime not installed")
