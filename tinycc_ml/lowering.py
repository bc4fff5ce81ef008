"""Lowering: an imported Graph -> a Program, for one kernel target.

    passes (PIPELINE) -> kernel calls (registry, for the target) -> op order (schedule)
    -> overlap facts -> buffer requests (liveness) -> planner -> MemoryPlan

`plan_graph` is the one implementation of the steps after the passes. The passes that
price a choice in arena bytes (layout's channel-major islands, the in-place variants)
receive it as their cost function through the PassContext, so a trial plan is always
made exactly as the final one, with the kernels of the same target.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .ir.graph import Graph
from .kernels.call import KernelCall
from .kernels.registry import node_calls
from .kernels.target import HOST_TARGET, KernelTarget
from .memory.facts import OverlapFact
from .memory.liveness import buffer_requests
from .memory.overlap import overlap_facts
from .memory.plan import MemoryPlan
from .memory.planners import DEFAULT_PLANNER, plan as make_plan
from .passes import PassContext, run_pipeline
from .passes.schedule import DEFAULT_TIME_LIMIT, Schedule, schedule as make_schedule, scratch_bytes
from .program import Program, straight_program

__all__ = ["PlannedGraph", "estimate_arena", "lower", "node_calls", "pass_context", "plan_graph"]


@dataclass(frozen=True)
class PlannedGraph:
    calls: dict[str, tuple[KernelCall, ...]]
    schedule: Schedule
    facts: tuple[OverlapFact, ...]
    plan: MemoryPlan


def plan_graph(graph: Graph, target: KernelTarget = HOST_TARGET, planner: str = DEFAULT_PLANNER,
               schedule_time_limit: float = DEFAULT_TIME_LIMIT) -> PlannedGraph:
    """Kernel calls for `target`, the best op order, its overlap facts and the memory plan
    of a graph the passes have run on."""
    calls = node_calls(graph, target)
    order = make_schedule(graph, scratch_bytes(calls), schedule_time_limit)
    facts = overlap_facts(graph, order.order, calls)
    memory = make_plan(buffer_requests(graph, order.order, calls), planner, facts)
    return PlannedGraph(calls, order, facts, memory)


def estimate_arena(graph: Graph, target: KernelTarget = HOST_TARGET) -> int:
    """The arena the compiler would plan for this graph as it stands (a pass's cost). The
    op-order search is bounded by a count of states, so the estimate, like the final plan,
    is the same on any machine."""
    return plan_graph(graph, target, DEFAULT_PLANNER, DEFAULT_TIME_LIMIT).plan.arena_bytes


@dataclass(frozen=True)
class _ArenaCost:
    target: KernelTarget

    def __call__(self, graph: Graph) -> int:
        return estimate_arena(graph, self.target)


def pass_context(target: KernelTarget = HOST_TARGET) -> PassContext:
    """What the passes receive: the target, and the arena of a trial graph on it."""
    return PassContext(target, _ArenaCost(target))


def lower(graph: Graph, planner: str = DEFAULT_PLANNER, dump_ir: str | None = None,
          schedule_time_limit: float = DEFAULT_TIME_LIMIT,
          target: KernelTarget = HOST_TARGET, preserve_input: bool = False) -> tuple[Program, str | None]:
    """Imported graph -> Program (passes, kernel calls, op order, memory plan) for `target`.
    With `preserve_input` the plan keeps the graph inputs live and unwritten to the end."""
    if preserve_input:
        graph = replace(graph, preserve_inputs=True)
    lowered = run_pipeline(graph, pass_context(target), dump_ir)
    planned = plan_graph(lowered.graph, target, planner, schedule_time_limit)
    program = straight_program(lowered.graph, planned.schedule.order, planned.calls, planned.plan, planned.schedule)
    return program, lowered.dump
