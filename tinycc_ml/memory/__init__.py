"""Memory planning: liveness (schedule -> buffer requests), bounds, planners, checked plans."""

from .bounds import FactPair, layerwise_peak_bytes, live_bytes_per_step, lower_bound_bytes, resolve_facts
from .facts import OverlapFact
from .liveness import BufferRequest, buffer_requests
from .plan import MemoryPlan, Placement, check_plan, make_plan
from .planners import DEFAULT_PLANNER, PLANNER_NAMES, PLANNERS, plan

__all__ = [
    "BufferRequest", "DEFAULT_PLANNER", "FactPair", "MemoryPlan", "OverlapFact", "PLANNERS", "PLANNER_NAMES",
    "Placement", "buffer_requests", "check_plan", "layerwise_peak_bytes", "live_bytes_per_step",
    "lower_bound_bytes", "make_plan", "plan", "resolve_facts",
]
