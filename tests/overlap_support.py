"""Helpers for the overlap tests: run a node's C kernels on ONE shared buffer (pointers
into one array, as the generated code does), build a Program whose plan puts tensors at
chosen offsets."""

from __future__ import annotations

import ctypes
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from kernel_support import random_int8
from tinycc_ml.errors import PlanError
from tinycc_ml.interp import run_core
from tinycc_ml.interp.planned import POISON, decode, encode, run_planned_core
from tinycc_ml.ir.graph import Graph
from tinycc_ml.kernels.access import min_distance
from tinycc_ml.kernels.traffic import node_traffic
from tinycc_ml.kernels.call import ConstArg, KernelCall, NullArg, ScratchArg, TensorArg
from tinycc_ml.kernels.ctypes_bridge import to_ctypes
from tinycc_ml.kernels.harness import CtypesRunner
from tinycc_ml.kernels.registry import kernel_calls
from tinycc_ml.kernels.target import HOST_TARGET, KernelTarget
from tinycc_ml.memory.liveness import buffer_requests
from tinycc_ml.memory.plan import Placement
from tinycc_ml.passes import is_alias
from tinycc_ml.program import Program, straight_program


def run_shared(lib: CtypesRunner, calls: Sequence[KernelCall], offsets: Mapping[str, int],
               arena_bytes: int, contents: Mapping[str, np.ndarray]) -> np.ndarray:
    """Run the calls with every TensorArg pointing into one arena at `offsets`; constants
    and scratch get arrays of their own. Returns the arena's bytes afterwards."""
    storage = np.zeros(arena_bytes // 8 + 2, dtype=np.int64)  # 8-byte aligned base
    arena = storage.view(np.uint8)[:arena_bytes]
    arena[:] = POISON
    for name, data in contents.items():
        arena[offsets[name]:offsets[name] + data.size] = data
    base = storage.ctypes.data
    keep = []
    for call in calls:
        args = []
        for arg in call.args:
            if isinstance(arg, TensorArg):
                args.append(ctypes.c_void_p(base + offsets[arg.tensor]))
            elif isinstance(arg, ConstArg):
                array = np.ascontiguousarray(arg.values, dtype={"int8_t": np.int8, "int32_t": np.int32}[arg.ctype])
                keep.append(array)
                args.append(ctypes.c_void_p(array.ctypes.data))
            elif isinstance(arg, ScratchArg):
                array = np.full(arg.nbytes + 8, POISON, dtype=np.uint8)
                keep.append(array)
                args.append(ctypes.c_void_p(array.ctypes.data))
            else:
                assert isinstance(arg, NullArg)
                args.append(ctypes.c_void_p(None))
        function = getattr(lib.library, call.symbol)
        function.restype = None
        function(ctypes.byref(to_ctypes(call.params, call.params_type)), *args)
    return arena.copy()


def program_at(graph: Graph, offsets: Mapping[str, int], target: KernelTarget = HOST_TARGET) -> Program:
    """The graph in its own order, with every activation buffer at the offset given for
    it (by any tensor of its alias group) and scratch after everything. A bare Placement,
    not a MemoryPlan: the point is to run placements a checked plan would refuse."""
    schedule = tuple(graph.nodes)
    calls = {n.name: tuple(kernel_calls(n, graph, target)) for n in schedule}
    requests = buffer_requests(graph, schedule, calls)
    placed = []
    end = max((offsets[t] + graph.tensor(t).nbytes for t in offsets), default=0)
    for r in requests:
        given = [offsets[t] for t in r.tensors if t in offsets]
        if given:
            placed.append(given[0])
        else:
            placed.append(-(-end // 16) * 16)
            end = placed[-1] + r.size
    arena = max((o + r.size for r, o in zip(requests, placed)), default=0)
    return straight_program(graph, schedule, calls, Placement(requests, tuple(placed), arena, "by hand"))


def single_node_distance(graph: Graph, x: str, target: KernelTarget = HOST_TARGET) -> int:
    calls = kernel_calls(graph.nodes[0], graph, target)
    return min_distance(node_traffic(calls), x, graph.tensor(x).nbytes)


def overlapped_runs(lib: CtypesRunner, graph: Graph, x: str, distance: int, seed: int,
                    target: KernelTarget = HOST_TARGET) -> tuple[np.ndarray, np.ndarray | PlanError, np.ndarray]:
    """Output of the single node with its output placed `distance` bytes before input x:
    (C on one shared buffer, plan-aware interpreter or the PlanError it raised, plain
    interpreter), as physical bytes."""
    node = graph.nodes[0]
    (y,) = node.outputs
    rng = np.random.default_rng(seed)
    inputs = {name: random_int8(rng, graph.tensor(name).shape) for name in graph.input_tensors()}
    want = encode(graph, y, run_core(graph, inputs)[y])
    x_size, y_size = graph.tensor(x).nbytes, graph.tensor(y).nbytes
    offsets = {x: max(distance, 0), y: max(-distance, 0)}
    end = max(offsets[x] + x_size, offsets[y] + y_size)
    for name in inputs:  # the other operands (e.g. Add's second input) sit apart
        if name not in offsets:
            offsets[name] = end
            end += graph.tensor(name).nbytes
    contents = {name: encode(graph, name, value) for name, value in inputs.items()}
    arena = run_shared(lib, kernel_calls(node, graph, target), offsets, end, contents)
    c_out = arena[offsets[y]:offsets[y] + y_size]
    try:
        planned: np.ndarray | PlanError = encode(graph, y, run_planned_core(program_at(graph, offsets, target),
                                                                            inputs).outputs[y])
    except PlanError as error:
        planned = error
    return c_out, planned, want


def hazard_free(graph: Graph, x: str, distance: int, target: KernelTarget = HOST_TARGET) -> bool:
    """True when, by the access model, no block reads a byte of x overwritten before."""
    traffic = node_traffic(kernel_calls(graph.nodes[0], graph, target))
    reads = traffic.reads[x]
    writer = traffic.write_block_of(graph.tensor(graph.nodes[0].outputs[0]).nbytes)
    landed = reads.pos + distance
    inside = (landed >= 0) & (landed < writer.size)
    return not bool(np.any(writer[landed[inside]] < reads.last[inside]))


@dataclass
class Tally:
    cases: int = 0
    tight: int = 0  # shapes whose C output is wrong at d - 1
    symbols: set = field(default_factory=set)


def check_grid(lib, graphs, x: str = "x", replayable: bool = True, tight: bool = True,
               target: KernelTarget = HOST_TARGET) -> Tally:
    """For each single-node graph: at D = min_distance the C kernel on one shared buffer and
    the plan-aware interpreter give the plain result; at D - 1 the access model sees a
    hazard and the interpreter replays exactly the C kernel's (possibly wrong) bytes, or,
    for a kernel it cannot replay, refuses with PlanError. tight=False checks D only: for a
    kernel whose blocks are the model's merged (a SIMD path writing several channels after
    their reads), the model is safe but D - 1 need not break it the way the model replays."""
    tally = Tally()
    for seed, graph in enumerate(graphs):
        if graph is None or is_alias(graph.nodes[0], graph):
            continue  # an alias moves no byte: no kernel runs
        d = single_node_distance(graph, x, target)
        out_size = graph.tensor(graph.nodes[0].outputs[0]).nbytes
        if d >= out_size:
            continue  # no overlap is safe: nothing to place
        tally.cases += 1
        tally.symbols.add(kernel_calls(graph.nodes[0], graph, target)[0].symbol)
        c_out, planned, want = overlapped_runs(lib, graph, x, d, seed, target)
        assert c_out.tobytes() == want.tobytes(), f"C at d={d}: {graph.nodes[0]}"
        assert isinstance(planned, np.ndarray) and planned.tobytes() == want.tobytes(), f"interpreter at d={d}"
        if not tight or d - 1 <= -graph.tensor(x).nbytes:
            continue  # d - 1 does not overlap at all, or is not checked
        assert not hazard_free(graph, x, d - 1, target)
        c_out, planned, want = overlapped_runs(lib, graph, x, d - 1, seed, target)
        tally.tight += c_out.tobytes() != want.tobytes()
        if isinstance(planned, PlanError):
            assert not replayable and "already overwrote" in str(planned), planned
        else:
            assert planned.tobytes() == c_out.tobytes(), f"replay != C at d-1={d - 1}: {graph.nodes[0]}"
    return tally


__all__ = ["Tally", "check_grid", "decode", "encode", "hazard_free", "overlapped_runs", "program_at", "run_shared",
           "single_node_distance"]
