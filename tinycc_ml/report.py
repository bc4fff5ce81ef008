"""report.json: what a compile produced, in numbers (memory, flash, work, plan).

Every figure is read from the Program and the EmitContext that wrote the C, so the
report describes exactly the emitted code (arena_bytes is the arena array's length).
"""

from __future__ import annotations

import json
from pathlib import Path

from . import __version__
from .boards import Board
from .codegen.context import EmitContext
from .ir.graph import BoundaryIO
from .memory.plan import layerwise_peak_bytes
from .program import Program, node_macs


def _io(io: BoundaryIO) -> dict:
    return {
        "name": io.onnx_name,
        "dtype": io.onnx_dtype,
        "shape": list(io.shape),
        "scale": io.quant.s,
        "zero_point": io.quant.zp,
    }


def build_report(program: Program, ctx: EmitContext, board: Board, model: str, fits: bool) -> dict:
    graph, plan = program.graph, program.plan
    ops = []
    for node in program.schedule:
        out = graph.tensor(node.outputs[0])
        calls = program.calls.get(node.name, ())
        kernel = "+".join(c.symbol for c in calls) if calls else ("alias" if program.is_alias(node) else "none")
        ops.append({
            "name": node.name,
            "kind": node.kind,
            "kernel": kernel,
            "macs": node_macs(node, graph),
            "output_shape": list(out.shape),
            "output_bytes": out.nbytes,
        })
    buffers = [
        {"name": r.name, "tensors": list(r.tensors), "offset": off, "size": r.size, "first": r.first, "last": r.last}
        for r, off in zip(plan.requests, plan.offsets)
    ]
    return {
        "tinyc_version": __version__,
        "model": model,
        "graph": graph.name,
        "board": board.name,
        "prefix": ctx.prefix,
        "planner": plan.planner,
        "arena_bytes": ctx.arena_bytes,
        "layerwise_peak_bytes": layerwise_peak_bytes(plan.requests),
        "weights_bytes": ctx.weights_bytes,
        "macs": sum(op["macs"] for op in ops),
        "fits": fits,
        "sram_limit_bytes": board.arena_limit_bytes,
        "flash_bytes": board.flash_bytes,
        "input": _io(graph.inputs[0]),
        "output": _io(graph.outputs[0]),
        "schedule": [node.name for node in program.schedule],
        "ops": ops,
        "buffers": buffers,
    }


def report_text(report: dict) -> str:
    return json.dumps(report, indent=2) + "\n"


def read_report(out_dir: Path) -> dict:
    return json.loads((Path(out_dir) / "report.json").read_text())
