"""Memory planning: liveness (schedule -> buffer requests), planners, checked plans."""

from .liveness import BufferRequest, buffer_requests
from .plan import MemoryPlan, layerwise_peak_bytes
from .planners import PLANNERS, plan

__all__ = ["BufferRequest", "MemoryPlan", "PLANNERS", "buffer_requests", "layerwise_peak_bytes", "plan"]
