"""The steps of a Program: a node run through its kernel calls, or a loop over regions.

A LoopStep runs a body of nodes once per region, e.g. a patch stage run band by band:
each iteration has its own small graph (the region tensors, with the shapes and pads of
that iteration's part of the image) and its own kernel calls, and every region tensor
sits at a byte offset inside a buffer of the Program (a resident tensor of the graph, or
a buffer scoped to the loop body, which lives only inside one iteration). Liveness
(memory/liveness.py) turns steps into buffer requests, codegen prints a loop over
constant tables computed from the iterations, and the plan-aware interpreter runs the
same iterations on one arena.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from .ir.graph import Graph, Node
from .kernels.call import KernelCall


@dataclass(frozen=True)
class NodeStep:
    node: Node
    calls: tuple[KernelCall, ...]  # none for an alias node (no byte moves)


@dataclass(frozen=True)
class Region:
    """A region tensor of an iteration, stored `offset` bytes into a Program buffer."""

    tensor: str  # its name in the iteration's graph (and in the calls' TensorArgs)
    buffer: str  # the Program tensor (resident, or scoped to the loop) holding it
    offset: int  # bytes from the start of that buffer


@dataclass(frozen=True)
class Iteration:
    graph: Graph  # the region tensors and the nodes as they run on them in this iteration
    steps: tuple[NodeStep, ...]  # the body in order: the same nodes and kernels every iteration
    regions: tuple[Region, ...]  # every activation of `graph`

    def region(self, tensor: str) -> Region:
        for r in self.regions:
            if r.tensor == tensor:
                return r
        raise KeyError(tensor)


@dataclass(frozen=True)
class LoopStep:
    name: str  # C-identifier-safe, unique in the Program
    nodes: tuple[Node, ...]  # the Program graph's nodes the body computes, in body order
    iterations: tuple[Iteration, ...]
    scoped: tuple[str, ...] = ()  # Program tensors that live only inside one iteration

    def __post_init__(self) -> None:
        bodies = {tuple((s.node.name, tuple(c.symbol for c in s.calls)) for s in it.steps) for it in self.iterations}
        if len(bodies) != 1:
            raise ValueError(f"loop {self.name}: every iteration must run the same nodes and kernels")
        if tuple(s.node.name for s in self.iterations[0].steps) != tuple(n.name for n in self.nodes):
            raise ValueError(f"loop {self.name}: the body must compute its nodes in order")

    @property
    def body_length(self) -> int:
        return len(self.nodes)


Step = Union[NodeStep, LoopStep]
