"""The host target: build the generated C with the machine's gcc and run it.

`make -C OUT` does the build, so it is cached by make itself: nothing is rebuilt when
no source changed (and `tinyc compile` rewrites a file only when its text changes).
A run writes the input's raw bytes, runs the harness, and reads the raw output back.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from ..errors import BuildError
from .base import BuildInfo, Progress, RunResult, check_input


def executable(info: BuildInfo, sanitize: bool = False) -> Path:
    return info.out_dir / "build" / ("host-sanitize" if sanitize else "host") / f"{info.prefix}_host"


def build(info: BuildInfo, sanitize: bool = False, progress: Progress | None = None) -> Path:
    if shutil.which("make") is None or shutil.which("gcc") is None:
        raise BuildError("the host target needs make and gcc; run `make setup`")
    command = ["make", "-C", str(info.out_dir), "--no-print-directory"] + (["SANITIZE=1"] if sanitize else [])
    up_to_date = subprocess.run(command + ["-q"], capture_output=True, check=False).returncode == 0
    if not up_to_date:
        if progress:
            progress(f"building {executable(info, sanitize)}")
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise BuildError(f"host build in {info.out_dir} failed:\n{result.stdout}{result.stderr}")
    return executable(info, sanitize)


def run_executable(exe: Path, info: BuildInfo, x: np.ndarray, timeout: float | None = None) -> tuple[np.ndarray, int]:
    x = check_input(x, info.input)
    with tempfile.TemporaryDirectory(prefix="tinyc_run_") as tmp:
        in_path, out_path = Path(tmp) / "input.bin", Path(tmp) / "output.bin"
        in_path.write_bytes(x.tobytes())
        try:
            result = subprocess.run([str(exe), str(in_path), str(out_path)], capture_output=True, text=True,
                                    check=False, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise BuildError(f"{exe} did not finish within {timeout:g} s and was killed") from None
        if result.returncode != 0:
            raise BuildError(f"{exe} exited with status {result.returncode}:\n{result.stderr}")
        raw = out_path.read_bytes()
    if len(raw) != info.output.nbytes:
        raise BuildError(f"{exe} wrote {len(raw)} bytes, expected {info.output.nbytes}")
    line = result.stdout.strip().splitlines()[-1]
    invoke_ns = int(json.loads(line)["invoke_ns"])
    y = np.frombuffer(raw, dtype=info.output.numpy_dtype).reshape(info.output.shape).copy()
    return y, invoke_ns


def run(info: BuildInfo, x: np.ndarray, progress: Progress | None = None, sanitize: bool = False,
        timeout: float | None = None) -> RunResult:
    check_input(x, info.input)  # a wrong input is reported before any build
    exe = build(info, sanitize, progress)
    y, ns = run_executable(exe, info, x, timeout)
    return RunResult("host", y, ns, info.arena_bytes)
