"""Liveness: an op order (the schedule) -> buffer requests for the memory planner.

Steps are positions in the schedule. A buffer is live from the step that writes it to
the last step that reads it, both included, so an op's output never shares bytes with
its own inputs (in-place is a later, explicit decision, not an accident of the plan).
Tensors joined by alias nodes (Reshape/Transpose that move no byte) form one buffer.
The graph input is live from step 0 (the caller writes it before invoke) and the graph
output to the last step (the caller reads it after invoke). Kernel scratch is a
buffer live for its one step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from ..ir.graph import Graph, Node
from ..kernels.call import KernelCall, ScratchArg
from ..passes.layout import is_alias

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


def alias_groups(graph: Graph, schedule: Sequence[Node]) -> dict[str, str]:
    """tensor -> representative tensor of its alias group (union-find over alias nodes)."""
    parent: dict[str, str] = {t.name: t.name for t in graph.activations()}

    def find(name: str) -> str:
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    for node in schedule:
        if is_alias(node, graph):
            a, b = find(node.inputs[0]), find(node.outputs[0])
            if a != b:
                parent[b] = a  # the source stays the representative: groups are named by it
    return {name: find(name) for name in parent}


def buffer_requests(
    graph: Graph,
    schedule: Sequence[Node],
    calls: Mapping[str, Sequence[KernelCall]],
    alignment: int = DEFAULT_ALIGNMENT,
) -> tuple[BufferRequest, ...]:
    """One request per alias group of activations, then one per kernel scratch buffer."""
    groups = alias_groups(graph, schedule)
    end = max(len(schedule) - 1, 0)
    first: dict[str, int] = {}
    last: dict[str, int] = {}

    def touch(tensor: str, step: int) -> None:
        root = groups[tensor]
        first[root] = min(first.get(root, step), step)
        last[root] = max(last.get(root, step), step)

    for name in graph.input_tensors():
        touch(name, 0)
    for step, node in enumerate(schedule):
        for name in node.outputs:
            touch(name, step)
        for name in node.inputs:
            if name and not graph.tensor(name).is_constant:
                touch(name, step)
    for name in graph.output_tensors():
        touch(name, end)

    members: dict[str, list[str]] = {}
    for tensor, root in groups.items():
        if root in first:
            members.setdefault(root, []).append(tensor)
    requests = []
    for root in sorted(members, key=lambda r: (first[r], r)):
        names = tuple(sorted(members[root], key=lambda t: (t != root, t)))
        size = max(graph.tensor(t).nbytes for t in names)
        requests.append(BufferRequest(root, size, first[root], last[root], alignment, names))
    for step, node in enumerate(schedule):
        for ci, call in enumerate(calls.get(node.name, ())):
            for ai, arg in enumerate(call.args):
                if isinstance(arg, ScratchArg) and arg.nbytes > 0:
                    requests.append(BufferRequest(scratch_name(node.name, ci, ai), arg.nbytes, step, step, alignment))
    return tuple(requests)
