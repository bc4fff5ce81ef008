"""Liveness: an op order (the schedule, or a Program's steps) -> buffer requests for the
memory planner.

Steps are positions in the timeline (one per node; a loop step has one per body node). A buffer is live from the step that writes it to
the last step that reads it, both included, so an op's output never shares bytes with
its own inputs (in-place is a later, explicit decision, not an accident of the plan).
Tensors joined by alias nodes (Reshape/Transpose that move no byte) form one buffer.
The graph input is live from step 0 (the caller writes it before invoke) and the graph
output to the last step (the caller reads it after invoke; so is the input with
--preserve-input). Kernel scratch is a
buffer live for its one step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from ..ir.graph import Graph, Node
from ..kernels.call import KernelCall, ScratchArg
from ..steps import NodeStep, Step
from ..ir.layout import alias_groups, is_alias

__all__ = ["BufferRequest", "alias_groups", "buffer_requests", "scratch_name", "step_requests"]

DEFAULT_ALIGNMENT = 16  # bytes; what TFLite Micro uses, and enough for any SIMD load


@dataclass(frozen=True)
class BufferRequest:
    name: str
    size: int
    first: int
    last: int
    alignment: int = DEFAULT_ALIGNMENT
    tensors: tuple[str, ...] = ()  # the activation tensors sharing it; () for scratch

    def overlaps_in_time(self, other: "BufferRequest") -> bool:
        return self.first <= other.last and other.first <= self.last


def scratch_name(node: str, call_index: int, arg_index: int) -> str:
    return f"scratch:{node}#{call_index}.{arg_index}"


def buffer_requests(
    graph: Graph,
    schedule: Sequence[Node],
    calls: Mapping[str, Sequence[KernelCall]],
    alignment: int = DEFAULT_ALIGNMENT,
) -> tuple[BufferRequest, ...]:
    """The requests of a layer-by-layer schedule (one step per node)."""
    return step_requests(graph, [NodeStep(node, tuple(calls.get(node.name, ()))) for node in schedule], alignment)


def step_requests(graph: Graph, steps: Sequence[Step], alignment: int = DEFAULT_ALIGNMENT) -> tuple[BufferRequest, ...]:
    """One request per alias group of activations, then one per kernel scratch buffer.

    A loop step occupies one timeline step per body node. A buffer it reads or writes
    from outside (resident: the stage's input and output) is live over the whole loop,
    since every iteration touches it; a buffer scoped to the loop lives only at the body
    steps that touch it, sized for the largest region any iteration puts in it."""
    nodes = [n for step in steps for n in ((step.node,) if isinstance(step, NodeStep) else step.nodes)]
    groups = alias_groups(graph, nodes)
    end = max(len(nodes) - 1, 0)
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    scoped_size: dict[str, int] = {}
    scratch: list[tuple[str, int, int]] = []  # (name, bytes, step), in step order

    def touch(tensor: str, step: int) -> None:
        root = groups[tensor]
        first[root] = min(first.get(root, step), step)
        last[root] = max(last.get(root, step), step)

    def activations(node: Node) -> list[str]:
        return [*node.outputs, *(n for n in node.inputs if n and not graph.tensor(n).is_constant)]

    for name in graph.input_tensors():
        touch(name, 0)
    t = 0
    for step in steps:
        if isinstance(step, NodeStep):
            for name in activations(step.node):
                touch(name, t)
            scratch.extend((scratch_name(step.node.name, ci, ai), arg.nbytes, t)
                           for ci, call in enumerate(step.calls) for ai, arg in enumerate(call.args)
                           if isinstance(arg, ScratchArg) and arg.nbytes > 0)
            t += 1
            continue
        span_end = t + step.body_length - 1
        for j, node in enumerate(step.nodes):
            for name in activations(node):
                for at in ((t + j,) if name in step.scoped else (t, span_end)):
                    touch(name, at)
        for iteration in step.iterations:
            for region in iteration.regions:
                if region.buffer in step.scoped:
                    extent = region.end(iteration.graph.tensor(region.tensor))  # a strided window: to its last row
                    root = groups[region.buffer]
                    scoped_size[root] = max(scoped_size.get(root, 0), extent)
        for j, body in enumerate(step.iterations[0].steps):
            for ci, call in enumerate(body.calls):
                for ai, arg in enumerate(call.args):
                    if isinstance(arg, ScratchArg):
                        nbytes = max(_scratch_of(it.steps[j].calls[ci].args[ai]) for it in step.iterations)
                        if nbytes > 0:
                            scratch.append((scratch_name(body.node.name, ci, ai), nbytes, t + j))
        t += step.body_length
    for name in graph.read_after_invoke():
        touch(name, end)

    members: dict[str, list[str]] = {}
    for tensor, root in groups.items():
        if root in first:
            members.setdefault(root, []).append(tensor)
    requests = []
    for root in sorted(members, key=lambda r: (first[r], r)):
        names = tuple(sorted(members[root], key=lambda t: (t != root, t)))
        size = scoped_size.get(root) or max(graph.tensor(t).nbytes for t in names)
        requests.append(BufferRequest(root, size, first[root], last[root], alignment, names))
    requests.extend(BufferRequest(name, nbytes, at, at, alignment) for name, nbytes, at in scratch)
    return tuple(requests)


def _scratch_of(arg: object) -> int:
    assert isinstance(arg, ScratchArg), arg
    return arg.nbytes
