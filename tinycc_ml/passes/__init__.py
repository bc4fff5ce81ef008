"""The pass pipeline: named pure functions (Graph, PassContext) -> Graph, run in this order.

Every pass returns a new Graph and leaves its argument untouched. A pass that must price a
choice in arena bytes asks `context.arena_bytes` (the planner, handed in by lowering.py). Between passes the
IR invariants are checked (tinycc_ml/ir/verify.py), so a pass that breaks the graph is
named at once instead of surfacing as wrong C much later. `tinyc compile --dump-ir PASS`
prints the IR after any pass ("import" is the graph as the frontend made it).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

from ..errors import TinycError
from ..ir.graph import Graph
from .context import PassContext
from .dump import format_graph
from .inplace import choose_in_place
from .layout import is_alias, layout


@dataclass(frozen=True)
class Pass:
    name: str
    run: Callable[[Graph, PassContext], Graph]


PIPELINE: tuple[Pass, ...] = (
    Pass("layout", layout),
    Pass("inplace", choose_in_place),  # in-place conv variants, where the plan gets smaller
)

IMPORT_STAGE = "import"  # --dump-ir name for the graph before any pass


def pass_names() -> tuple[str, ...]:
    return (IMPORT_STAGE,) + tuple(p.name for p in PIPELINE)


def _ir_check() -> Callable[[Graph], object] | None:
    """The IR invariant check of tinycc_ml/ir/verify.py, when that module provides one."""
    try:
        module = importlib.import_module("tinycc_ml.ir.verify")
    except ModuleNotFoundError:
        return None
    return getattr(module, "verify_graph", None) or getattr(module, "check", None)


@dataclass(frozen=True)
class PipelineResult:
    graph: Graph
    dump: str | None  # the IR text after the pass asked for, if one was


def run_pipeline(graph: Graph, context: PassContext, dump_after: str | None = None,
                 passes: tuple[Pass, ...] = PIPELINE) -> PipelineResult:
    names = (IMPORT_STAGE,) + tuple(p.name for p in passes)
    if dump_after is not None and dump_after not in names:
        raise TinycError(f"--dump-ir: unknown pass '{dump_after}'; passes: {', '.join(names)}")
    check = _ir_check()
    if check is not None:
        check(graph)
    dump = format_graph(graph, IMPORT_STAGE) if dump_after == IMPORT_STAGE else None
    for p in passes:
        graph = p.run(graph, context)
        if check is not None:
            check(graph)
        if dump_after == p.name:
            dump = format_graph(graph, p.name)
    return PipelineResult(graph, dump)


__all__ = ["PIPELINE", "Pass", "PassContext", "PipelineResult", "format_graph", "is_alias", "layout", "pass_names", "run_pipeline"]
