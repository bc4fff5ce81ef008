"""`tinyc verify MODEL --reference KIND FILE`: the compiled C against the reference a user trusts,
as X-CUBE-AI's validate does.

The generated C (host or qemu) and the reference run on the same inputs (seeded random ones,
or the user's .npy/.npz); per output it reports the largest and mean |difference| in output
LSB (output value / output scale), the share of equal elements, top-1 agreement (argmax of
each input's output), and for a float reference the cosine similarity and the largest error
relative to the reference's output range.

Each input is given to the reference in the reference's own dtype: an int8 tensor
quantized with the model's input parameters, or those codes dequantized to float32.

Tolerances (exit 1 beyond them, naming the worst element):
* tflite-micro: 0 LSB (a TFLite-born model follows TFLite's integer arithmetic);
* onnxruntime: 2 LSB (onnxruntime computes QDQ in float; issue 10's target for final outputs);
* float: cosine similarity >= 0.99 (an int8 model is not expected to match its float model
  to the LSB; the LSB figures are reported, not checked).
`--tolerance` / `--min-cosine` override them.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .boards import load_board
from .compiler import CompileOptions, compile_model
from .errors import TinycError
from .ir.graph import BoundaryIO
from .targets import TARGETS, read_build_info

REFERENCES = ("onnxruntime", "tflite-micro", "float")
DEFAULT_TOLERANCE_LSB = {"onnxruntime": 2, "tflite-micro": 0}
DEFAULT_MIN_COSINE = 0.99

Reference = Callable[[np.ndarray], np.ndarray]  # input in its dtype -> output (int8 or float32)


@dataclass(frozen=True)
class OutputStats:
    name: str
    inputs: int
    elements: int
    max_lsb: float
    mean_lsb: float
    equal_share: float
    top1_agreement: float
    worst: str  # "input i, element (j, ...): tinyc v vs reference r"
    cosine: float | None = None  # float reference only
    relative_error: float | None = None  # max |error| / reference output range, float reference only


@dataclass(frozen=True)
class ReferenceResult:
    model: str
    reference: str
    reference_file: str
    target: str
    stats: OutputStats
    tolerance_lsb: int | None
    min_cosine: float | None

    @property
    def ok(self) -> bool:
        if self.tolerance_lsb is not None and self.stats.max_lsb > self.tolerance_lsb:
            return False
        return self.min_cosine is None or (self.stats.cosine is not None and self.stats.cosine >= self.min_cosine)

    def as_json(self) -> dict:
        return {**asdict(self), "ok": self.ok}

    def lines(self) -> list[str]:
        s = self.stats
        lines = [f"{self.model} ({self.target}) vs {self.reference} {self.reference_file}, {s.inputs} inputs, "
                 f"output {s.name!r} ({s.elements} elements):",
                 f"  max |diff| {s.max_lsb:.3g} LSB, mean {s.mean_lsb:.3g} LSB, equal {100 * s.equal_share:.2f} %, "
                 f"top-1 agreement {100 * s.top1_agreement:.1f} %"]
        if s.cosine is not None:
            lines.append(f"  cosine similarity {s.cosine:.6f}, max error / output range {100 * s.relative_error:.2f} %")
        lines.append(f"  worst: {s.worst}")
        if self.tolerance_lsb is not None:
            limit = f"tolerance {self.tolerance_lsb} LSB"
        else:
            limit = f"cosine >= {self.min_cosine}"
        lines.append(("OK: within " if self.ok else "FAILED: beyond ") + limit)
        return lines


def _to_lsb(value: np.ndarray, io: BoundaryIO) -> np.ndarray:
    """Output values in output LSB units (int8 codes; floats divided by the scale, offset by zp)."""
    if np.issubdtype(value.dtype, np.integer):
        return value.astype(np.float64)
    return value.astype(np.float64) / io.quant.s + io.quant.zp


def _to_real(value: np.ndarray, io: BoundaryIO) -> np.ndarray:
    if np.issubdtype(value.dtype, np.integer):
        return (value.astype(np.float64) - io.quant.zp) * io.quant.s
    return value.astype(np.float64)


def output_stats(name: str, ours: list[np.ndarray], theirs: list[np.ndarray], io: BoundaryIO,
                 float_reference: bool) -> OutputStats:
    a = np.stack([_to_lsb(o, io).reshape(-1) for o in ours])
    b = np.stack([_to_lsb(t, io).reshape(-1) for t in theirs])
    if not float_reference:  # dequantized outputs (a QDQ model's float output) are whole LSBs
        a, b = np.rint(a), np.rint(b)
    diff = np.abs(a - b)
    worst_input, worst_element = np.unravel_index(int(np.argmax(diff)), diff.shape)
    element = tuple(int(i) for i in np.unravel_index(int(worst_element), ours[0].shape))
    worst = (f"input {int(worst_input)}, element {element}: tinyc {ours[worst_input].reshape(-1)[worst_element]} vs "
             f"reference {theirs[worst_input].reshape(-1)[worst_element]} ({diff.max():.3g} LSB)")
    equal = np.rint(a) == np.rint(b) if float_reference else a == b
    stats = dict(name=name, inputs=len(ours), elements=int(a.shape[1]), max_lsb=float(diff.max()),
                 mean_lsb=float(diff.mean()), equal_share=float(equal.mean()),
                 top1_agreement=float(np.mean(np.argmax(a, axis=1) == np.argmax(b, axis=1))), worst=worst)
    if float_reference:
        ra = np.stack([_to_real(o, io).reshape(-1) for o in ours])
        rb = np.stack([_to_real(t, io).reshape(-1) for t in theirs])
        norm = float(np.linalg.norm(ra) * np.linalg.norm(rb))
        stats["cosine"] = float(np.sum(ra * rb) / norm) if norm > 0 else float(np.array_equal(ra, rb))
        span = float(rb.max() - rb.min())
        stats["relative_error"] = float(np.abs(ra - rb).max() / span) if span > 0 else float(np.abs(ra - rb).max())
    return OutputStats(**stats)


# ---- references ------------------------------------------------------------------------


def _onnxruntime_reference(path: Path) -> tuple[Reference, str]:
    import onnxruntime as ort  # noqa: PLC0415 (optional)

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 4
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime's own exceptions derive from Exception
        raise TinycError(f"onnxruntime cannot load the reference {path}: {str(exc).splitlines()[0]}") from None
    inp = session.get_inputs()[0]
    dtype = {"tensor(float)": "float32", "tensor(int8)": "int8", "tensor(uint8)": "uint8"}.get(inp.type)
    if dtype is None:
        raise TinycError(f"reference {path}: input {inp.name!r} is {inp.type}; expected float, int8 or uint8")
    return (lambda x: session.run(None, {inp.name: x})[0]), dtype


def _tflite_micro_reference(path: Path) -> tuple[Reference, str]:
    from tflite_micro.python.tflite_micro import runtime  # noqa: PLC0415 (optional)

    try:
        interpreter = runtime.Interpreter.from_file(str(path))
    except Exception as exc:  # noqa: BLE001 - TFLite Micro raises RuntimeError/ValueError on a bad file
        raise TinycError(f"TFLite Micro cannot load the reference {path}: {str(exc).splitlines()[0]}") from None
    dtype = np.dtype(interpreter.get_input_details(0)["dtype"]).name

    def run(x: np.ndarray) -> np.ndarray:
        interpreter.set_input(x, 0)
        interpreter.invoke()
        return interpreter.get_output(0)

    return run, dtype


def _as_reference_input(x: np.ndarray, io: BoundaryIO, dtype: str) -> np.ndarray:
    """The model's input `x` (its own dtype) as the reference's dtype, through the input quantization."""
    if x.dtype == np.uint8:  # a uint8 model: its int8 twin's codes are x - 128, the same real values
        if dtype == "uint8":
            return x
        codes, zp = x.astype(np.int64) - 128, io.quant.zp - 128
        return codes.astype(np.int8) if dtype == "int8" else ((codes - zp) * io.quant.s).astype(np.float32)
    codes = x.astype(np.int64) if x.dtype == np.int8 else np.clip(np.rint(x / io.quant.s) + io.quant.zp, -128, 127)
    if dtype == "int8":
        return codes.astype(np.int8)
    if dtype == "uint8":
        return (codes + 128).astype(np.uint8)
    return x.astype(np.float32) if x.dtype == np.float32 else ((codes - io.quant.zp) * io.quant.s).astype(np.float32)


def _as_model_output(y: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """A reference's int8/uint8 output in the model's own integer type (uint8 q == int8 q - 128)."""
    pair = (y.dtype, np.dtype(dtype))
    if pair == (np.dtype(np.uint8), np.dtype(np.int8)):
        return (y.astype(np.int16) - 128).astype(np.int8)
    if pair == (np.dtype(np.int8), np.dtype(np.uint8)):
        return (y.astype(np.int16) + 128).astype(np.uint8)
    return y


def load_inputs(path: Path, io: BoundaryIO) -> list[np.ndarray]:
    """A user's inputs: .npy (one array: [N, *shape] or shape) or .npz (its first array, or `inputs`)."""
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise TinycError(f"cannot read inputs from {path}: {exc}") from None
    if isinstance(data, np.lib.npyio.NpzFile):
        names = list(data.files)
        if not names:
            raise TinycError(f"{path} holds no arrays")
        data = data["inputs"] if "inputs" in names else data[names[0]]
    size = int(np.prod(io.shape))
    if data.size % size:
        raise TinycError(f"{path}: array of shape {list(data.shape)} is not a batch of inputs of shape {list(io.shape)}")
    want = np.dtype(io.onnx_dtype)
    if data.dtype != want:
        if want == np.int8 and np.issubdtype(data.dtype, np.integer) and data.min() >= -128 and data.max() <= 127:
            data = data.astype(np.int8)
        elif want == np.uint8 and np.issubdtype(data.dtype, np.integer) and data.min() >= 0 and data.max() <= 255:
            data = data.astype(np.uint8)
        elif want == np.float32 and np.issubdtype(data.dtype, np.floating):
            data = data.astype(np.float32)
        else:
            raise TinycError(f"{path}: inputs are {data.dtype}; the model's input {io.onnx_name!r} is {io.onnx_dtype}")
    return [row.reshape(io.shape) for row in data.reshape(-1, size)]


def verify_against_reference(model: Path, reference: str, reference_file: Path, board: str, count: int, seed: int,
                             inputs_file: Path | None = None, target: str = "host", tolerance_lsb: int | None = None,
                             min_cosine: float | None = None,
                             progress: Callable[[str], None] | None = None,
                             semantics: str = "auto") -> ReferenceResult:
    from .verification import random_input  # noqa: PLC0415

    if reference not in REFERENCES:
        raise TinycError(f"unknown reference {reference!r}; references: {', '.join(REFERENCES)}")
    if target not in TARGETS:
        raise TinycError(f"unknown target {target!r}; targets: {', '.join(TARGETS)}")
    if not Path(reference_file).is_file():
        raise TinycError(f"reference file {reference_file} does not exist")
    load_board(board)
    say = progress or (lambda _message: None)
    run_reference, ref_dtype = (_tflite_micro_reference if reference == "tflite-micro"
                                else _onnxruntime_reference)(Path(reference_file))
    with tempfile.TemporaryDirectory(prefix="tinyc_validate_") as tmp:
        say(f"compiling {Path(model).name} for {board}")
        result = compile_model(Path(model), board, Path(tmp),
                               CompileOptions(allow_overflow=True, measure_firmware=False, semantics=semantics))
        graph = result.imported
        info = read_build_info(Path(tmp))
        inp, out = graph.inputs[0], graph.outputs[0]
        if inputs_file is not None:
            xs = load_inputs(Path(inputs_file), inp)
        else:
            rng = np.random.default_rng(seed)
            xs = [random_input(inp, rng) for _ in range(count)]
        ours, theirs = [], []
        for i, x in enumerate(xs):
            say(f"input {i + 1}/{len(xs)}")
            ours.append(TARGETS[target].run(info, x, say).output)
            y = np.asarray(run_reference(_as_reference_input(x, inp, ref_dtype)))
            if y.size != ours[-1].size:
                raise TinycError(f"the reference's output has {y.size} elements, the model's {out.onnx_name!r} "
                                 f"{ours[-1].size}: not the same model")
            theirs.append(_as_model_output(y, ours[-1].dtype).reshape(ours[-1].shape))
    stats = output_stats(out.onnx_name, ours, [t.reshape(ours[0].shape) for t in theirs], out, reference == "float")
    if reference == "float":
        limit_lsb, limit_cos = tolerance_lsb, DEFAULT_MIN_COSINE if min_cosine is None else min_cosine
    else:
        limit_lsb = DEFAULT_TOLERANCE_LSB[reference] if tolerance_lsb is None else tolerance_lsb
        limit_cos = min_cosine
    return ReferenceResult(Path(model).name, reference, str(reference_file), target, stats, limit_lsb, limit_cos)
