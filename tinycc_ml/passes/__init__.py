"""The pass pipeline: named pure functions Graph -> Graph, run in this order.

Every pass returns a new Graph and leaves its argument untouched. Between passes the
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
from .dump import format_graph
from .layout import is_alias, layout


@dataclass(frozen=True)
class Pass:
    name: str
    run: Callable[[Graph], Graph]


def _choose_in_place(graph: Graph) -> Graph:
    from .inplace import choose_in_place  # noqa: PLC0415 (it plans memory, which imports passes)

    return choose_in_place(graph)


PIPELINE: tuple[Pass, ...] = (
    Pass("layout", layout),
    Pass("inplace", _choose_in_place),  # in-place depthwise variants, where the plan gets smaller
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


def run_pipeline(graph: Graph, dump_after: str | None = None,
                 passes: tuple[Pass, ...] = PIPELINE) -> PipelineResult:
    names = (IMPORT_STAGE,) + tuple(p.name for p in passes)
    if dump_after is not None and dump_after not in names:
        raise TinycError(f"--dump-ir: unknown pass '{dump_after}'; passes: {', '.join(names)}")
    check = _ir_check()
    if check is not None:
        check(graph)
    dump = format_graph(graph, IMPORT_STAGE) if dump_after == IMPORT_STAGE else None
    for p in passes:
        graph = p.run(graph)
        if check is not None:
            check(graph)
        if dump_after == p.name:
            dump = format_graph(graph, p.name)
    return PipelineResult(graph, dump)


__all__ = ["PIPELINE", "Pass", "PipelineResult", "format_graph", "is_alias", "layout", "pass_names", "run_pipeline"]
