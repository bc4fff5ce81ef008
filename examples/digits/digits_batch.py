"""Run a whole data set through tinyc's generated C in one process.

`tinyc run --target host` runs one input per process; for the 450 test images that is
450 processes. This builds the generated sources of a `tinyc compile` output directory
(everything the host Makefile builds, minus its single-input harness) with batch_main.c,
which reads N raw input records on stdin and writes, per record, model_run()'s output
(the ONNX dtype) followed by model_output()'s int8 bytes.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
HARNESS = HERE / "batch_main.c"
CTYPES = {"float32": "float", "int8": "int8_t"}
DTYPES = {"float32": np.dtype("<f4"), "int8": np.dtype("<i1")}
FLAGS = ("-std=c99", "-O2", "-Wall", "-Wextra", "-Werror")


@dataclass(frozen=True)
class BatchModel:
    exe: Path
    input_dtype: str  # ONNX dtype of the model's input: "float32" or "int8"
    input_shape: tuple[int, ...]
    output_dtype: str
    output_shape: tuple[int, ...]


@dataclass(frozen=True)
class BatchResult:
    outputs: np.ndarray  # [N, *output_shape], the ONNX dtype: what model_run() returned
    core: np.ndarray  # [N, output elements] int8: model_output(), the int8 core's result


def build(out_dir: Path, sanitize: bool = False) -> BatchModel:
    """Compile OUT's generated sources and runtime copy with the batch harness."""
    from tinycc_ml.targets.base import read_build_info

    out_dir = Path(out_dir)
    info = read_build_info(out_dir)
    if info.prefix != "model":
        raise ValueError(f"batch_main.c calls model_run(); {out_dir} was compiled with prefix {info.prefix!r}")
    sources = sorted(p for p in (out_dir / "src").glob("*.c") if p.name != "main.c")
    sources += sorted((out_dir / "lib" / "tinyc" / "src").glob("*.c"))
    exe = out_dir / "build" / ("batch-sanitize" if sanitize else "batch") / "model_batch"
    exe.parent.mkdir(parents=True, exist_ok=True)
    extra = ("-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined", "-fno-sanitize-recover=all") if sanitize else ()
    command = [
        "gcc", *FLAGS, *extra, f"-I{out_dir / 'src'}", f"-I{out_dir / 'lib' / 'tinyc' / 'include'}",
        f"-DIN_T={CTYPES[info.input.dtype]}", f"-DOUT_T={CTYPES[info.output.dtype]}",
        *map(str, sources), str(HARNESS), "-o", str(exe), "-lm",
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"building the batch harness failed:\n$ {' '.join(command)}\n{result.stderr}")
    return BatchModel(exe, info.input.dtype, info.input.shape, info.output.dtype, info.output.shape)


def run(model: BatchModel, inputs: np.ndarray) -> BatchResult:
    """inputs [N, *input_shape] in the model's input dtype -> every record's outputs."""
    inputs = np.asarray(inputs)
    if inputs.dtype != DTYPES[model.input_dtype] or tuple(inputs.shape[1:]) != model.input_shape:
        raise ValueError(f"inputs must be {model.input_dtype} [N, {', '.join(map(str, model.input_shape))}], "
                         f"got {inputs.dtype} {list(inputs.shape)}")
    result = subprocess.run([str(model.exe)], input=np.ascontiguousarray(inputs).tobytes(),
                            capture_output=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{model.exe} exited with status {result.returncode}:\n{result.stderr.decode()}")
    n = len(inputs)
    out_elems = int(np.prod(model.output_shape))
    out_bytes = out_elems * DTYPES[model.output_dtype].itemsize
    record = out_bytes + out_elems
    raw = np.frombuffer(result.stdout, dtype=np.uint8)
    if raw.size != n * record:
        raise RuntimeError(f"{model.exe} wrote {raw.size} bytes for {n} inputs, expected {n * record}")
    raw = raw.reshape(n, record)
    outputs = raw[:, :out_bytes].copy().view(DTYPES[model.output_dtype]).reshape(n, *model.output_shape)
    core = raw[:, out_bytes:].copy().view(np.int8)
    return BatchResult(outputs, core)
