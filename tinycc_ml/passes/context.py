"""What a pass may know beyond the graph it rewrites."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..ir.graph import Graph
from ..kernels.target import KernelTarget


@dataclass(frozen=True)
class PassContext:
    """The target the kernels will be chosen for, and what a candidate graph costs: the
    arena the compiler would plan for it on that target (lowering.plan_graph, handed in
    so that a pass never imports the planner and always prices a choice with the kernels
    that will run)."""

    target: KernelTarget
    arena_bytes: Callable[[Graph], int]
