"""Program: everything code generation needs, decided by the passes and the planner.

A Program is a sequence of steps. A NodeStep runs one node of the graph through its kernel
calls. A LoopStep runs a body of nodes once per region, e.g. a patch stage run band by
band: each iteration has its own small graph (the region tensors, with the shapes and
pads of that iteration's part of the image) and its own kernel calls, and every region
tensor sits at a byte offset inside a buffer of the Program (a resident tensor of the
graph, or a buffer scoped to the loop body). Codegen prints a loop over constant tables
computed from the iterations; the plan-aware interpreter runs the same iterations on one
arena. Codegen and the report only read a Program; they never re-derive a decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Mapping, Sequence

from .ir.graph import Graph, Node
from .ir.layout import is_alias
from .kernels.call import KernelCall
from .memory.plan import MemoryPlan
from .passes.schedule import Schedule
from .steps import Iteration, LoopStep, NodeStep, Region, Step

__all__ = ["Iteration", "LoopStep", "NodeStep", "Program", "Region", "Step", "node_macs", "straight_program"]


@dataclass(frozen=True)
class Program:
    graph: Graph  # after the passes
    steps: tuple[Step, ...]
    plan: MemoryPlan
    scheduling: Schedule | None = None  # how the order was chosen and its layer-wise figures

    @property
    def schedule(self) -> tuple[Node, ...]:
        """Every node in execution order; a loop's body nodes where the loop runs."""
        nodes: list[Node] = []
        for step in self.steps:
            nodes.extend((step.node,) if isinstance(step, NodeStep) else step.nodes)
        return tuple(nodes)

    @cached_property
    def calls(self) -> Mapping[str, tuple[KernelCall, ...]]:
        """node name -> its kernel calls (for a loop body node: those of the first region)."""
        calls: dict[str, tuple[KernelCall, ...]] = {}
        for step in self.steps:
            bodies = (step,) if isinstance(step, NodeStep) else step.iterations[0].steps
            calls.update((body.node.name, body.calls) for body in bodies)
        return calls

    @property
    def is_straight(self) -> bool:
        return all(isinstance(step, NodeStep) for step in self.steps)

    def is_alias(self, node: Node) -> bool:
        return is_alias(node, self.graph)


def straight_program(graph: Graph, order: Sequence[Node], calls: Mapping[str, Sequence[KernelCall]],
                     plan: MemoryPlan, scheduling: Schedule | None = None) -> Program:
    """The layer-by-layer Program: one NodeStep per node of `order`."""
    steps = tuple(NodeStep(node, tuple(calls.get(node.name, ()))) for node in order)
    return Program(graph, steps, plan, scheduling)


def node_macs(node: Node, graph: Graph) -> int:
    """Multiply-accumulates of a Conv2d or FullyConnected; 0 for every other op."""
    if node.kind == "Conv2d":
        w = graph.tensor(node.inputs[1]).shape  # [O, C/groups, KH, KW]
        y = graph.tensor(node.outputs[0]).shape  # [N, O, OH, OW]
        return y[0] * y[1] * y[2] * y[3] * w[1] * w[2] * w[3]
    if node.kind == "FullyConnected":
        w = graph.tensor(node.inputs[1]).shape  # [M, K]
        y = graph.tensor(node.outputs[0]).shape  # [N, M]
        return y[0] * w[0] * w[1]
    return 0
