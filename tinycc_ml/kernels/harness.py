"""Run KernelCalls on the host C runtime: the bridge between the registry and the tests.

`plan` turns calls plus tensor contents into a CallPlan (numbered byte buffers and, per
call, its symbol, params bytes and buffer indices). Two runners execute a plan:

* CtypesRunner calls the kernels in a shared library in this process (fast loops);
* DriverRunner streams plans to runtime_c/test/tinyc_kernel_driver.c in a child process,
  built with AddressSanitizer and UBSan, where every buffer is its own exact-size malloc,
  so any out-of-bounds byte or undefined behaviour aborts the child and fails the test.
  The same driver built as Cortex-M firmware runs under QEMU (targets/qemu_driver.py
  QemuDriverRunner), fed a batch of plans per run through `encode_plan`/`decode_reply`.

Both return every buffer's bytes after the calls; `run_calls` maps them back to tensor
names. Output tensors start filled with a poison byte so a kernel that skips an element
cannot pass by luck.
"""

from __future__ import annotations

import ctypes
import os
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Protocol, Sequence

import numpy as np

from .call import ConstArg, KernelCall, NullArg, ParamStruct, ScratchArg, TensorArg
from .ctypes_bridge import to_bytes, to_ctypes

POISON = 0xA5
FLOAT_BOUNDARY = ("tinyc_quantize_f32", "tinyc_dequantize_f32")


@dataclass(frozen=True)
class PlannedCall:
    symbol: str
    params_type: str
    params: ParamStruct | bytes  # bytes only for functions outside the convention (raw_plan)
    args: tuple[int, ...]  # buffer index per argument, -1 = NULL


@dataclass(frozen=True)
class CallPlan:
    buffers: tuple[bytes, ...]
    calls: tuple[PlannedCall, ...]
    tensor_buffers: Mapping[str, int]


def plan(
    calls: Sequence[KernelCall],
    contents: Mapping[str, bytes],
    sizes: Mapping[str, int],
    aliases: Mapping[str, str] | None = None,
) -> CallPlan:
    """Buffers for every tensor (`contents` or poison of `sizes` bytes), constant and
    scratch argument; `aliases` maps a tensor to another whose buffer it shares."""
    aliases = dict(aliases or {})
    buffers: list[bytes] = []
    tensor_buffers: dict[str, int] = {}

    def tensor_buffer(name: str) -> int:
        root = aliases.get(name, name)
        if root not in tensor_buffers:
            data = contents.get(root)
            if data is None:
                data = bytes([POISON]) * sizes[root]
            tensor_buffers[root] = len(buffers)
            buffers.append(bytes(data))
        tensor_buffers[name] = tensor_buffers[root]
        return tensor_buffers[name]

    planned = []
    for call in calls:
        indices = []
        for arg in call.args:
            if isinstance(arg, TensorArg):
                indices.append(tensor_buffer(arg.tensor))
            elif isinstance(arg, ConstArg):
                dtype = {"int8_t": np.int8, "int32_t": np.int32}[arg.ctype]
                indices.append(len(buffers))
                buffers.append(np.ascontiguousarray(arg.values, dtype=dtype).tobytes())
            elif isinstance(arg, ScratchArg):
                indices.append(len(buffers))
                buffers.append(bytes([POISON]) * arg.nbytes)
            elif isinstance(arg, NullArg):
                indices.append(-1)
            else:
                raise TypeError(f"unknown kernel argument {arg!r}")
        planned.append(PlannedCall(call.symbol, call.params_type, call.params, tuple(indices)))
    return CallPlan(tuple(buffers), tuple(planned), tensor_buffers)


def raw_plan(symbol: str, params: bytes, inputs: Sequence[bytes], output_nbytes: Sequence[int]) -> CallPlan:
    """One call of a function outside the ParamStruct convention: the float boundary
    (params: int32 size, float scale, int32 zero point) or a tinyc_test_* array wrapper
    of runtime_c/test/tinyc_test_support.c (params: int32 count). Arguments are the
    inputs then the outputs; buffers are numbered in that order."""
    buffers = (*map(bytes, inputs), *(bytes([POISON]) * n for n in output_nbytes))
    call = PlannedCall(symbol, "", params, tuple(range(len(buffers))))
    return CallPlan(buffers, (call,), {})


def float_boundary_plan(
    symbol: str, data: bytes, out_nbytes: int, size: int, scale: float, zero_point: int
) -> CallPlan:
    """A plan for tinyc_quantize_f32 / tinyc_dequantize_f32 (buffer 0 in, buffer 1 out)."""
    assert symbol in FLOAT_BOUNDARY
    return raw_plan(symbol, struct.pack("<ifi", size, scale, zero_point), [data], [out_nbytes])


class Runner(Protocol):
    def run(self, plan: CallPlan) -> list[bytes]: ...


class BatchRunner(Protocol):
    """A runner that pays a fixed cost per start (an emulator boot), so it takes many plans at once."""

    def run(self, plan: CallPlan) -> list[bytes]: ...

    def run_many(self, plans: Sequence[CallPlan]) -> list[list[bytes]]: ...


def encode_plan(plan: CallPlan) -> bytes:
    """One request of the kernel driver's protocol (runtime_c/test/tinyc_kernel_driver.c)."""
    out = [struct.pack("<II", 1, len(plan.buffers))]
    for data in plan.buffers:
        out.append(struct.pack("<I", len(data)) + data)
    out.append(struct.pack("<I", len(plan.calls)))
    for call in plan.calls:
        params = call.params if isinstance(call.params, bytes) else to_bytes(call.params, call.params_type)
        symbol = call.symbol.encode()
        out.append(struct.pack("<I", len(symbol)) + symbol + struct.pack("<I", len(params)) + params)
        out.append(struct.pack(f"<I{len(call.args)}i", len(call.args), *call.args))
    return b"".join(out)


def rejection(plan: CallPlan, status: int) -> str:
    call = plan.calls[status - 1]
    return f"the kernel driver rejected call {status - 1} ({call.symbol}): bad symbol, params size or arity"


def decode_replies(data: bytes, plans: Sequence[CallPlan]) -> list[list[bytes]]:
    """Split the driver's replies to `plans` (status, then every buffer); DriverError on a
    rejected call or a reply cut short (the driver died in the middle of a batch)."""
    results: list[list[bytes]] = []
    pos = 0

    def take(size: int) -> bytes:
        nonlocal pos
        if pos + size > len(data):
            done = ", ".join(c.symbol for c in plans[len(results)].calls)
            raise DriverError(f"the kernel driver's reply stops in plan {len(results)} ({done})")
        pos += size
        return data[pos - size : pos]

    for plan in plans:
        (status,) = struct.unpack("<I", take(4))
        buffers = [take(struct.unpack("<I", take(4))[0]) for _ in plan.buffers]
        if status != 0:
            raise DriverError(rejection(plan, status))
        results.append(buffers)
    if pos != len(data):
        raise DriverError(f"the kernel driver replied {len(data) - pos} bytes more than {len(plans)} plans need")
    return results


def run_calls(
    runner: Runner,
    calls: Sequence[KernelCall],
    contents: Mapping[str, bytes],
    sizes: Mapping[str, int],
    aliases: Mapping[str, str] | None = None,
) -> dict[str, bytes]:
    """Run the calls; return the final bytes of every tensor they touched."""
    p = plan(calls, contents, sizes, aliases)
    buffers = runner.run(p)
    return {name: buffers[index] for name, index in p.tensor_buffers.items()}


class CtypesRunner:
    """Runs plans in-process through a shared library built by runtime_build."""

    def __init__(self, library: Path):
        self.library = ctypes.CDLL(str(library))

    def run(self, plan: CallPlan) -> list[bytes]:
        # int64 storage keeps every buffer 8-byte aligned (int32 arrays are read in place).
        storage = [np.zeros((len(b) + 7) // 8 + 1, dtype=np.int64) for b in plan.buffers]
        for array, data in zip(storage, plan.buffers):
            array.view(np.uint8)[: len(data)] = np.frombuffer(data, dtype=np.uint8)
        pointers = [ctypes.c_void_p(a.ctypes.data) for a in storage]
        for call in plan.calls:
            args = [pointers[i] if i >= 0 else ctypes.c_void_p(None) for i in call.args]
            function = getattr(self.library, call.symbol)
            function.restype = None
            if call.symbol in FLOAT_BOUNDARY:
                size, scale, zero_point = struct.unpack("<ifi", call.params)
                function.argtypes = [ctypes.c_void_p, ctypes.c_int32, ctypes.c_float, ctypes.c_int32, ctypes.c_void_p]
                function(args[0], size, scale, zero_point, args[1])
                continue
            if isinstance(call.params, bytes):  # a tinyc_test_* array wrapper
                (count,) = struct.unpack("<i", call.params)
                function(*args, ctypes.c_int32(count))
                continue
            assert isinstance(call.params, ParamStruct)
            params = to_ctypes(call.params, call.params_type)
            function(ctypes.byref(params), *args)
        return [a.view(np.uint8)[: len(b)].tobytes() for a, b in zip(storage, plan.buffers)]

    def sizeof(self, type_name: str) -> int:
        """C's sizeof(type_name), from the test support generated from the kernel records (-1 if unknown)."""
        function = self.library.tinyc_test_sizeof
        function.restype = ctypes.c_int32
        function.argtypes = [ctypes.c_char_p]
        return int(function(type_name.encode()))

    def call_int(self, symbol: str, params: ParamStruct, type_name: str) -> int:
        """Call an `int32_t f(const params *)` function, e.g. a _get_buffer_size twin."""
        function = getattr(self.library, symbol)
        function.restype = ctypes.c_int32
        return int(function(ctypes.byref(to_ctypes(params, type_name))))


class DriverError(RuntimeError):
    """The sanitized driver rejected a call or died (sanitizer report in the message)."""


class DriverRunner:
    """Runs plans in a long-lived child process (the sanitized kernel driver)."""

    def __init__(self, executable: Path):
        self.executable = executable
        self._stderr = tempfile.TemporaryFile()
        self._process: subprocess.Popen[bytes] | None = None

    def _start(self) -> subprocess.Popen[bytes]:
        if self._process is None or self._process.poll() is not None:
            self._stderr.seek(0)
            self._stderr.truncate()
            # Symbolizing a report takes ~0.5 s, which hypothesis pays on every shrink step;
            # the report still names the kernel, and TINYC_ASAN_SYMBOLIZE=1 adds source lines.
            symbolize = os.environ.get("TINYC_ASAN_SYMBOLIZE", "0")
            env = {"ASAN_OPTIONS": f"symbolize={symbolize}", **os.environ}
            self._process = subprocess.Popen(
                [str(self.executable)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, env=env
            )
        return self._process

    def run(self, plan: CallPlan) -> list[bytes]:
        process = self._start()
        assert process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write(encode_plan(plan))
            process.stdin.flush()
            status = self._read_u32(process)
            buffers = []
            for _ in plan.buffers:
                size = self._read_u32(process)
                buffers.append(self._read_exact(process, size))
        except (BrokenPipeError, EOFError):
            process.wait()
            self._stderr.seek(0)
            lines = self._stderr.read().decode(errors="replace").splitlines()
            # The error, the access, the stacks and the summary; the shadow-byte map is noise.
            cut = next((i for i, line in enumerate(lines) if line.startswith("Shadow bytes")), len(lines))
            report = "\n".join(lines[:cut])
            symbols = ", ".join(c.symbol for c in plan.calls)
            raise DriverError(f"the sanitized kernel driver died running {symbols}:\n{report}") from None
        if status != 0:
            raise DriverError(rejection(plan, status))
        return buffers

    def run_many(self, plans: Sequence[CallPlan]) -> list[list[bytes]]:
        return [self.run(p) for p in plans]

    @staticmethod
    def _read_exact(process: subprocess.Popen[bytes], size: int) -> bytes:
        assert process.stdout is not None
        data = process.stdout.read(size)
        if data is None or len(data) != size:
            raise EOFError
        return data

    def _read_u32(self, process: subprocess.Popen[bytes]) -> int:
        return struct.unpack("<I", self._read_exact(process, 4))[0]

    def close(self) -> None:
        if self._process is not None and self._process.poll() is None:
            assert self._process.stdin is not None
            self._process.stdin.close()
            self._process.wait(timeout=10)
        self._stderr.close()
