"""The pass pipeline: named pure functions (Graph, PassContext) -> Graph, run in this order.

Every pass returns a new Graph and leaves its argument untouched. A pass that must price a
choice in arena bytes asks `context.arena_bytes` (the planner, handed in by lowering.py).
Between passes the IR invariants are checked (tinycc_ml/ir/verify.py, imported directly:
if it moves, this module fails to import rather than silently running unchecked), so a
pass that breaks the graph is named at once (PassInvariantError) instead of surfacing as
wrong C much later. `tinyc compile --dump-ir PASS` prints the IR after any pass ("import"
is the graph as the frontend made it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..errors import PlanError, TinycError
from ..ir.graph import Graph
from .context import PassContext
from ..ir.verify import IRInvariantError, verify_graph
from .dump import format_graph
from .fuse import fuse_pads
from .inplace import choose_in_place
from .scratch import choose_scratch
from .layout import is_alias, layout


@dataclass(frozen=True)
class Pass:
    name: str
    run: Callable[[Graph, PassContext], Graph]


PIPELINE: tuple[Pass, ...] = (
    Pass("layout", layout),
    Pass("fuse", fuse_pads),  # Pads folded into the window of the conv / pool that reads them
    Pass("inplace", choose_in_place),  # in-place conv variants, where the plan gets smaller
    Pass("scratch", choose_scratch),  # no kernel scratch where it would grow the plan
)

IMPORT_STAGE = "import"  # --dump-ir name for the graph before any pass


def pass_names() -> tuple[str, ...]:
    return (IMPORT_STAGE,) + tuple(p.name for p in PIPELINE)


class PassInvariantError(IRInvariantError):
    """The graph after a pass (or as imported) breaks an IR invariant: a compiler bug in
    that pass, named by `stage`; `problems` lists every violation."""

    def __init__(self, stage: str, error: IRInvariantError):
        self.stage = stage
        self.problems = error.problems
        where = "the imported graph (a frontend bug)" if stage == IMPORT_STAGE else f"pass '{stage}' (a bug in it)"
        # The message is the check's own, prefixed with the stage; so not IRInvariantError's __init__.
        PlanError.__init__(self, f"IR check failed after {where}: {error}")


def _check(graph: Graph, stage: str) -> None:
    try:
        verify_graph(graph)
    except IRInvariantError as error:
        raise PassInvariantError(stage, error) from error


@dataclass(frozen=True)
class PipelineResult:
    graph: Graph
    dump: str | None  # the IR text after the pass asked for, if one was


def run_pipeline(graph: Graph, context: PassContext, dump_after: str | None = None,
                 passes: tuple[Pass, ...] = PIPELINE) -> PipelineResult:
    names = (IMPORT_STAGE,) + tuple(p.name for p in passes)
    if dump_after is not None and dump_after not in names:
        raise TinycError(f"--dump-ir: unknown pass '{dump_after}'; passes: {', '.join(names)}")
    _check(graph, IMPORT_STAGE)
    dump = format_graph(graph, IMPORT_STAGE) if dump_after == IMPORT_STAGE else None
    for p in passes:
        graph = p.run(graph, context)
        _check(graph, p.name)
        if dump_after == p.name:
            dump = format_graph(graph, p.name)
    return PipelineResult(graph, dump)


__all__ = ["PIPELINE", "Pass", "PassContext", "PassInvariantError", "PipelineResult", "format_graph", "is_alias",
           "layout", "pass_names", "run_pipeline"]
