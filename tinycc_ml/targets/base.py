"""What every run target shares: the I/O contract read from OUT/report.json, and results."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .. import __version__
from ..errors import TinycError

NUMPY_DTYPES = {"int8": np.dtype("<i1"), "uint8": np.dtype("<u1"), "float32": np.dtype("<f4")}


@dataclass(frozen=True)
class IOSpec:
    name: str
    dtype: str  # ONNX dtype of the graph input/output: "int8", "uint8" or "float32"
    shape: tuple[int, ...]

    @property
    def numpy_dtype(self) -> np.dtype:
        return NUMPY_DTYPES[self.dtype]

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.numpy_dtype.itemsize


@dataclass(frozen=True)
class BuildInfo:
    """What a target needs to know about a compiled output directory (from report.json)."""

    out_dir: Path
    prefix: str
    board: str
    arena_bytes: int
    input: IOSpec
    output: IOSpec


@dataclass(frozen=True)
class RunResult:
    target: str
    output: np.ndarray
    invoke_ns: int | None  # wall time of one model_run on the host; None where not measured
    arena_bytes: int
    # Emulated Cortex-M targets: instructions of one model_invoke(), and the firmware's
    # flash (text + data) and static RAM (data + bss) from arm-none-eabi-size.
    instructions: int | None = None
    flash_bytes: int | None = None
    ram_bytes: int | None = None


Progress = Callable[[str], None]


@dataclass(frozen=True)
class Target:
    name: str
    description: str
    run: Callable[[BuildInfo, np.ndarray, Progress], RunResult]


def read_build_info(out_dir: Path) -> BuildInfo:
    path = Path(out_dir) / "report.json"
    if not path.is_file():
        raise TinycError(f"{out_dir} is not a tinyc output directory (no report.json); run `tinyc compile` first")
    try:
        data = json.loads(path.read_text())
    except (ValueError, OSError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise TinycError(f"{path} is not a report.json written by `tinyc compile` ({exc}); recompile the model "
                         f"into {out_dir}") from None
    problem = _build_info_problem(data)
    if problem is not None:
        version = data.get("tinyc_version") if isinstance(data, dict) else None
        by = f"written by tinyc {version}" if isinstance(version, str) else "not written by tinyc"
        raise TinycError(f"{path} ({by}) cannot be read by tinyc {__version__}: {problem}; recompile the model "
                         f"with `tinyc compile MODEL -o {out_dir}`")

    for key in ("inputs", "outputs"):
        if isinstance(data.get(key), list) and len(data[key]) != 1:
            names = ", ".join(repr(io.get("name")) for io in data[key] if isinstance(io, dict))
            raise TinycError(f"{out_dir}: the model has {len(data[key])} {key} ({names}); `tinyc run` feeds one "
                             f"input and reads one output: call the generated accessors in src/{data['prefix']}.h "
                             f"from your own program")

    def spec(d: dict) -> IOSpec:
        return IOSpec(d["name"], d["dtype"], tuple(d["shape"]))

    return BuildInfo(Path(out_dir), data["prefix"], data["board"], data["arena_bytes"],
                     spec(data["input"]), spec(data["output"]))


def _build_info_problem(data: object) -> str | None:
    """What is missing or malformed in report.json for a run (None: readable); a report from
    another tinyc version may lack a field or spell it differently."""
    if not isinstance(data, dict):
        return "it is not a JSON object"
    for key, kind in (("prefix", str), ("board", str), ("arena_bytes", int), ("input", dict), ("output", dict)):
        if not isinstance(data.get(key), kind):
            return f"field {key!r} is missing or not a {kind.__name__}"
    for key in ("input", "output"):
        io = data[key]
        if not isinstance(io.get("name"), str) or io.get("dtype") not in NUMPY_DTYPES:
            return f"{key} must have a name and a dtype ({' or '.join(NUMPY_DTYPES)})"
        shape = io.get("shape")
        if not isinstance(shape, list) or not all(isinstance(d, int) and d > 0 for d in shape):
            return f"{key} shape {shape!r} is not a list of positive integers"
    return None


def check_input(x: np.ndarray, spec: IOSpec) -> np.ndarray:
    """The input as the model expects it, or an error naming what was expected and what came."""
    expected = f"{spec.dtype} {list(spec.shape)}"
    got = f"{x.dtype} {list(x.shape)}"
    if x.dtype != spec.numpy_dtype or tuple(x.shape) != spec.shape:
        raise TinycError(f"input '{spec.name}' must be {expected}, got {got}")
    return np.ascontiguousarray(x, dtype=spec.numpy_dtype)
