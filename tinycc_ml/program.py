"""Program: everything code generation needs, decided by the passes and the planner.

Codegen and the report only read a Program; they never re-derive a decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from .ir.graph import Graph, Node
from .kernels.call import KernelCall
from .memory.plan import MemoryPlan
from .passes.layout import is_alias
from .passes.schedule import Schedule


@dataclass(frozen=True)
class Program:
    graph: Graph  # after the passes
    schedule: tuple[Node, ...]  # execution order; step i runs schedule[i]
    calls: Mapping[str, tuple[KernelCall, ...]]  # node name -> its kernel calls (none for an alias)
    plan: MemoryPlan
    scheduling: Schedule | None = None  # how the order was chosen and its layer-wise figures

    def is_alias(self, node: Node) -> bool:
        return is_alias(node, self.graph)


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
