"""The plan-aware interpreter: run a Program on ONE byte arena, at the planned offsets.

The plain interpreter (run.py) keeps every tensor in its own array, so it cannot see
where the memory plan put them. This one executes the Program as the generated C does:
one NumPy uint8 arena of `plan.arena_bytes` (filled with a poison byte), every
activation at its planned offset in its physical layout (Graph.dim_orders), each op
reading its operands out of the arena and writing its output into it, kernel scratch
overwritten with poison at its step. A plan that lets a live buffer be overwritten, or an
overlap fact that is too generous, therefore shows up here as a wrong output, in Python,
before any C is built.

Ops whose output shares bytes with an input run in the order their C kernel does: the
kernel's access model (kernels/access.py) gives the blocks it runs and the bytes each
reads and writes. When no block reads a byte after an earlier block overwrote it, the
result is the plain one. Otherwise the op is replayed chunk by chunk: each chunk is a
run of blocks that read no byte overwritten inside the chunk, evaluated on the input as
it stands when the chunk starts (overwritten bytes replaced by what the kernel wrote
there), so the output holds exactly the wrong bytes the C kernel would produce.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from ..errors import PlanError, TinycError
from ..ir.graph import Graph, Node
from ..kernels.access import Traffic
from ..kernels.traffic import node_traffic
from ..kernels.call import KernelCall, ScratchArg
from ..memory.liveness import scratch_name
from ..program import Iteration, LoopStep, Program
from .registry import Operand, implementation
from .run import _checked_input, _from_core, _to_core

POISON = 0xA5
MAX_REPLAY_CHUNKS = 512  # a replay this long is a plan far off: stop and say so, do not crawl
NEVER = np.iinfo(np.int64).max


@dataclass(frozen=True)
class PlannedRun:
    outputs: dict[str, np.ndarray]  # graph output tensor -> its value in the arena after the last step
    written: dict[str, np.ndarray]  # every activation -> the value its producer left in the arena
    arena: np.ndarray  # the arena's bytes after the last step


class _Arena:
    def __init__(self, program: Program):
        self.graph = program.graph
        self.bytes = np.full(program.plan.arena_bytes, POISON, dtype=np.uint8)
        self.offsets = program.plan.tensor_offsets()
        self.sizes = {t: r.size for r in program.plan.requests for t in r.tensors}

    def span(self, name: str) -> tuple[int, int]:
        if name not in self.offsets:
            raise PlanError(f"tensor {name} has no buffer in the memory plan")
        return self.offsets[name], min(self.graph.tensor(name).nbytes, self.sizes[name])

    def plan_size(self, name: str) -> int:
        """The bytes the plan gave the buffer holding `name` (a scoped buffer: its largest region)."""
        return self.sizes[name]

    def raw(self, name: str) -> np.ndarray:
        off, size = self.span(name)
        return self.bytes[off:off + size].copy()

    def read(self, name: str) -> np.ndarray:
        return decode(self.graph, name, self.raw(name))

    def write(self, name: str, data: np.ndarray) -> None:
        off, size = self.span(name)
        self.bytes[off:off + size] = data


def decode(graph: Graph, name: str, data: np.ndarray) -> np.ndarray:
    """Physical bytes (in the tensor's dim order) -> the logical array (int8; uint8 at a uint8 edge)."""
    tensor, order = graph.tensor(name), graph.dim_order(name)
    physical = np.asarray(data, dtype=np.uint8).view(tensor.dtype.numpy).reshape([tensor.shape[a] for a in order])
    return np.transpose(physical, np.argsort(order))


def encode(graph: Graph, name: str, value: np.ndarray) -> np.ndarray:
    """The logical array -> its physical bytes, as uint8."""
    physical = np.ascontiguousarray(np.transpose(value, graph.dim_order(name)), dtype=graph.tensor(name).dtype.numpy)
    return physical.reshape(-1).view(np.uint8)


def run_planned_core(program: Program, int8_inputs: Mapping[str, np.ndarray]) -> PlannedRun:
    """Run the Program on one arena; inputs and outputs keyed by tensor name (int8)."""
    graph = program.graph
    arena = _Arena(program)
    written: dict[str, np.ndarray] = {}
    for name in graph.input_tensors():
        if name not in int8_inputs:
            raise TinycError(f"no value given for graph input tensor {name!r}")
        value = _checked_input(graph, name, int8_inputs[name])
        arena.write(name, encode(graph, name, value))
        written[name] = value
    for step in program.steps:
        if isinstance(step, LoopStep):
            _run_loop(program, step, arena)
            for name in (o for n in step.nodes for o in n.outputs if o not in step.scoped):
                written[name] = arena.read(name)
            continue
        node = step.node
        if program.is_alias(node):
            _check_alias(arena, node)
            continue
        out = node.outputs[0]
        data = _execute(program, node, arena)
        arena.write(out, data)
        written[out] = decode(graph, out, data)
        _poison_scratch(program, node.name, step.calls, arena)
    outputs = {name: arena.read(name) for name in graph.output_tensors()}
    return PlannedRun(outputs, written, arena.bytes)


def _poison_scratch(program: Program, node: str, calls: Sequence[KernelCall], arena: _Arena) -> None:
    """The kernel leaves its scratch dirty: a live buffer planned over it breaks."""
    for ci, call in enumerate(calls):
        for ai, arg in enumerate(call.args):
            if isinstance(arg, ScratchArg) and arg.nbytes > 0:
                off = program.plan.offset(scratch_name(node, ci, ai))
                arena.bytes[off:off + arg.nbytes] = POISON


def _run_loop(program: Program, loop: LoopStep, arena: _Arena) -> None:
    """Each iteration's nodes on its region tensors, read from and written to the arena at
    their buffer's planned offset plus the region's offset. A scoped buffer is poisoned
    before each iteration: nothing may survive from the previous region. A region
    written over a region its node reads is replayed in the kernel's order, as an op."""
    for iteration in loop.iterations:
        graph = iteration.graph
        for name in loop.scoped:
            off, size = arena.span(name)
            arena.bytes[off:off + size] = POISON
        for body in iteration.steps:
            node = body.node
            reads = {name: _region_bytes(arena, iteration, name)
                     for name in dict.fromkeys(n for n in node.inputs if n and not graph.tensor(n).is_constant)}
            raw = {name: arena.bytes[index].copy() for name, index in reads.items()}
            data = _evaluate(graph, node, {name: decode(graph, name, raw[name]) for name in raw})
            out = node.outputs[0]
            written = _region_bytes(arena, iteration, out)
            # A region written over one it reads (an in-band overlap fact): in the kernel's order.
            # Only dense regions carry such facts (a strided call gets none), so spans suffice.
            span = _dense_span(iteration, out, written)
            spans = {name: _dense_span(iteration, name, index) for name, index in reads.items()}
            shared = {name: s[0] - span[0] for name, s in spans.items()
                      if span is not None and s is not None and _meet(s, span)}
            if shared:
                data = _replayed(graph, node, body.calls, raw, shared, span[1], data)
            arena.bytes[written] = data
            _poison_scratch(program, node.name, body.calls, arena)


def _region_bytes(arena: _Arena, iteration: Iteration, tensor: str) -> np.ndarray:
    """The arena positions of the region's bytes, in its physical order: row after row, each
    row where its row stride puts it (a window narrower than its buffer's image is not
    contiguous)."""
    region = iteration.region(tensor)
    base, buffer_size = arena.offsets.get(region.buffer), arena.plan_size(region.buffer)
    if base is None:
        raise PlanError(f"region {tensor}: buffer {region.buffer} has no place in the memory plan")
    t = iteration.graph.tensor(tensor)
    end = region.end(t)
    if region.offset < 0 or end > buffer_size:
        raise PlanError(f"region {tensor} [{region.offset}, {end}) lies outside its buffer "
                        f"{region.buffer} of {buffer_size} bytes")
    count, row, pitch = region.rows(t)
    starts = base + region.offset + pitch * np.arange(count, dtype=np.int64)
    return (starts[:, None] + np.arange(row, dtype=np.int64)[None, :]).reshape(-1)


def run_planned(program: Program, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """As interp.run_graph, but through the Program's memory plan: inputs and outputs keyed
    by ONNX name, in the ONNX dtype and shape."""
    graph = program.graph
    core = {}
    for io in graph.inputs:
        if io.onnx_name not in inputs:
            raise TinycError(f"no value given for model input {io.onnx_name!r}")
        core[io.tensor] = _to_core(graph, io, inputs[io.onnx_name])
    result = run_planned_core(program, core)
    return {io.onnx_name: _from_core(io, result.outputs[io.tensor]) for io in graph.outputs}


def _check_alias(arena: _Arena, node: Node) -> None:
    a, b = arena.span(node.inputs[0])[0], arena.span(node.outputs[0])[0]
    if a != b:
        raise PlanError(f"alias node {node.name}: {node.inputs[0]} at {a} and {node.outputs[0]} at {b} "
                        "must be one buffer")


def _evaluate(graph: Graph, node: Node, values: Mapping[str, np.ndarray]) -> np.ndarray:
    """The node's output bytes from its activation operands' current values."""
    operands: list[Operand | None] = []
    for name in node.inputs:
        if not name:
            operands.append(None)
            continue
        tensor = graph.tensor(name)
        operands.append(Operand(tensor, tensor.data if tensor.is_constant else values[name]))
    out = graph.tensor(node.outputs[0])
    result = implementation(node.kind)(node.attrs, operands, out)
    return encode(graph, out.name, result)


def _execute(program: Program, node: Node, arena: _Arena) -> np.ndarray:
    graph = program.graph
    activations = list(dict.fromkeys(n for n in node.inputs if n and not graph.tensor(n).is_constant))
    raw = {name: arena.raw(name) for name in activations}
    plain = _evaluate(graph, node, {name: decode(graph, name, raw[name]) for name in activations})
    out_off, out_size = arena.span(node.outputs[0])
    shared = [name for name in activations if _meet(arena.span(name), (out_off, out_size))]
    if not shared:
        return plain
    return _replayed(graph, node, program.calls.get(node.name, ()), raw,
                     {n: arena.span(n)[0] - out_off for n in shared}, out_size, plain)


def _replayed(graph: Graph, node: Node, calls: Sequence[KernelCall], raw: Mapping[str, np.ndarray],
              distance: Mapping[str, int], out_size: int, plain: np.ndarray) -> np.ndarray:
    """The output of a node whose output shares bytes with the inputs in `distance`."""
    traffic = node_traffic(calls)
    if traffic is None:
        raise PlanError(f"node {node.name}: its output {node.outputs[0]} shares bytes with its input "
                        f"{next(iter(distance))}, and its kernel has no access model to say in which order it "
                        "reads and writes")
    return _Replay(graph, node, traffic, raw, distance, out_size).run(plain)


def _dense_span(iteration: Iteration, tensor: str, index: np.ndarray) -> tuple[int, int] | None:
    """(arena offset, size) of a packed region; None for a strided window."""
    if iteration.region(tensor).row_stride or index.size == 0:
        return None
    return int(index[0]), int(index.size)


def _meet(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[1] > 0 and b[1] > 0 and a[0] < b[0] + b[1] and b[0] < a[0] + a[1]


class _Replay:
    """One op whose output shares bytes with some inputs, in its kernel's block order.

    distance[x] = offset(x) - offset(output): output byte p sits on input byte p - distance.
    """

    def __init__(self, graph: Graph, node: Node, traffic: Traffic, raw: Mapping[str, np.ndarray],
                 distance: Mapping[str, int], out_size: int):
        self.graph, self.node, self.traffic = graph, node, traffic
        self.raw, self.distance, self.out_size = raw, distance, out_size
        writer = traffic.write_block_of(out_size)
        # clobber[x][q]: the block whose write lands on input byte q of x (NEVER: none).
        self.clobber = {}
        for name, dist in distance.items():
            q = np.arange(raw[name].size, dtype=np.int64)
            target = q + dist
            inside = (target >= 0) & (target < out_size)
            c = np.full(q.size, NEVER, dtype=np.int64)
            c[inside] = writer[target[inside]]
            self.clobber[name] = c

    def hazards(self) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per input: the reads (first block, last block, clobbering block) that come after
        an earlier block overwrote the byte they read."""
        found = {}
        for name in self.distance:
            reads = self.traffic.reads.get(name)
            if reads is None:
                continue
            c = self.clobber[name][reads.pos]
            late = c < reads.last
            if late.any():
                found[name] = (reads.first[late], reads.last[late], c[late])
        return found

    def run(self, plain: np.ndarray) -> np.ndarray:
        hazards = self.hazards()
        if not hazards:
            return plain
        if not self.traffic.replayable:
            name, (first, last, c) = next(iter(hazards.items()))
            raise PlanError(
                f"node {self.node.name}: block {int(last[0])} reads a byte of {name} that block {int(c[0])} "
                "already overwrote (the plan overlaps them too far), and this kernel's wrong output cannot be replayed")
        traffic = self.traffic
        result = np.zeros(self.out_size, dtype=np.uint8)
        start, chunks = 0, 0
        while start < traffic.blocks:
            end = traffic.blocks
            for first, last, c in hazards.values():
                pending = c >= start
                if pending.any():
                    end = min(end, int(np.min(np.maximum(first[pending], c[pending] + 1))))
            values = {}
            for name, data in self.raw.items():
                view = data
                if name in self.distance:
                    gone = np.nonzero(self.clobber[name] < start)[0]
                    view = data.copy()
                    view[gone] = result[gone + self.distance[name]]
                values[name] = decode(self.graph, name, view)
            chunk = _evaluate(self.graph, self.node, values)
            mine = (traffic.write_block >= start) & (traffic.write_block < end)
            result[traffic.write_pos[mine]] = chunk[traffic.write_pos[mine]]
            start = end
            chunks += 1
            if chunks > MAX_REPLAY_CHUNKS:
                raise PlanError(f"node {self.node.name}: its output overwrites input bytes it still reads "
                                f"(more than {MAX_REPLAY_CHUNKS} chunks to replay)")
        return result


__all__: Sequence[str] = ("POISON", "PlannedRun", "decode", "encode", "run_planned", "run_planned_core")
