"""`tinyc verify MODEL --port PORT`: validation on the target, as X-CUBE-AI's validate does.

The board runs the firmware `tinyc compile MODEL --board B` made (after its first run the
board main answers the serial protocol, targets/serial_protocol.py). This sends N inputs
(seeded random ones, or the user's .npy/.npz), compares every output with the NumPy
interpreter byte for byte, and prints the board's count per inference (cycles, and ms at
the clock the board says it set).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .compiler import import_model
from .errors import TinycError
from .interp import run_graph
from .ir.graph import BoundaryIO
from .targets.base import NUMPY_DTYPES
from .targets.serial_protocol import Client, DeviceInfo, Port, open_port
from .verification import random_input


@dataclass(frozen=True)
class PortCheck:
    index: int
    mismatched: int  # output elements that differ from the interpreter
    status: int
    count: int
    retries: int


@dataclass(frozen=True)
class PortVerifyResult:
    model: str
    port: str
    info: DeviceInfo
    checks: tuple[PortCheck, ...]
    output_size: int

    @property
    def ok(self) -> bool:
        return all(c.mismatched == 0 and c.status == 0 for c in self.checks)

    def lines(self) -> list[str]:
        unit = self.info.counter_name
        lines = []
        for c in self.checks:
            verdict = "equal" if c.mismatched == 0 else f"MISMATCH in {c.mismatched} of {self.output_size} elements"
            status = "" if c.status == 0 else f", model status {c.status}"
            resent = f", resent {c.retries}x" if c.retries else ""
            lines.append(f"input {c.index}: interpreter vs board {verdict}, {c.count:,} {unit}{status}{resent}")
        good = sum(c.mismatched == 0 and c.status == 0 for c in self.checks)
        counts = [c.count for c in self.checks]
        timing = ""
        if counts:
            mean = sum(counts) / len(counts)
            timing = f"; {mean:,.0f} {unit} per inference"
            if unit == "cycles" and self.info.clock_hz:
                timing += f" = {1000.0 * mean / self.info.clock_hz:.3f} ms at {self.info.clock_hz / 1e6:g} MHz"
        resent = sum(c.retries for c in self.checks)
        retried = f"; {resent} request{'s' if resent != 1 else ''} resent" if resent else ""
        summary = f"{good}/{len(self.checks)} inputs bit-exact (interpreter == board on {self.port}) for {self.model}"
        lines.append(("OK: " if self.ok else "FAILED: ") + summary + timing + retried)
        return lines


def _as_inputs(array: np.ndarray, io: BoundaryIO, source: str) -> list[np.ndarray]:
    dtype = NUMPY_DTYPES[io.onnx_dtype]
    shape = tuple(io.shape)
    if array.dtype != dtype:
        raise TinycError(f"{source}: input '{io.onnx_name}' must be {io.onnx_dtype}, got {array.dtype}")
    if array.shape == shape:
        return [array]
    if array.shape[1:] == shape:
        return list(array)
    raise TinycError(f"{source}: input '{io.onnx_name}' must have shape {list(shape)} (or [N, {', '.join(map(str, shape))}]), "
                     f"got {list(array.shape)}")


def load_inputs(path: Path, io: BoundaryIO) -> list[np.ndarray]:
    """Inputs from a .npy (one input, or a batch along a new first axis) or a .npz (each array one or a batch)."""
    if not path.is_file():
        raise TinycError(f"input file {path} does not exist")
    try:
        data = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise TinycError(f"cannot read inputs {path}: {exc}") from None
    if isinstance(data, np.ndarray):
        return _as_inputs(data, io, str(path))
    with data:
        return [x for key in data.files for x in _as_inputs(data[key], io, f"{path}[{key}]")]


def verify_on_port(model: Path | str, port_name: str, baud: int, count: int, seed: int, data: Path | None,
                   progress: Callable[[str], None], timeout_s: float = 10.0, port: Port | None = None,
                   frames: Callable[[int, bytes], bytes | None] | None = None) -> PortVerifyResult:
    """`frames(i, payload)` may return the exact bytes to send for input i (a test corrupts one)."""
    graph = import_model(Path(model))
    io_in, io_out = graph.inputs[0], graph.outputs[0]
    inputs = load_inputs(data, io_in) if data is not None else [
        random_input(io_in, rng) for rng in [np.random.default_rng(seed)] for _ in range(count)]
    if not inputs:
        raise TinycError(f"no inputs to send (the file {data} holds none)")
    client = Client(port if port is not None else open_port(port_name, baud), timeout_s)
    info = client.info()
    want_in = inputs[0].nbytes
    want_out = int(np.prod(io_out.shape, dtype=np.int64)) * NUMPY_DTYPES[io_out.onnx_dtype].itemsize
    if (info.input_bytes, info.output_bytes) != (want_in, want_out):
        raise TinycError(f"the board on {port_name} runs a model with {info.input_bytes} input and {info.output_bytes} "
                         f"output bytes, {Path(model).name} has {want_in} and {want_out}: flash its firmware first "
                         f"(`tinyc compile {model} --board B -o OUT` and `tinyc flash OUT`)")
    progress(f"board on {port_name}: {info.counter_name} counter, clock {info.clock_hz / 1e6:g} MHz; "
             f"sending {len(inputs)} input{'s' if len(inputs) != 1 else ''}")
    checks = []
    for i, x in enumerate(inputs):
        expected = run_graph(graph, {io_in.onnx_name: x})[io_out.onnx_name]
        payload = np.ascontiguousarray(x).tobytes()
        result = client.infer(payload, want_out, frames(i, payload) if frames is not None else None)
        # element by element, on the bytes: a float output is compared bit for bit too
        got_bytes = np.frombuffer(result.output, np.uint8).reshape(expected.size, -1)
        expected_bytes = np.ascontiguousarray(expected).reshape(-1).view(np.uint8).reshape(expected.size, -1)
        mismatched = int(np.count_nonzero(np.any(got_bytes != expected_bytes, axis=1)))
        checks.append(PortCheck(i, mismatched, result.status, result.count, result.retries))
    return PortVerifyResult(Path(model).name, port_name, info, tuple(checks), want_out // NUMPY_DTYPES[io_out.onnx_dtype].itemsize)
