"""report.json: what a compile produced, in numbers (memory, flash, work, plan).

Every figure is read from the Program and the EmitContext that wrote the C, so the
report describes exactly the emitted code (arena_bytes is the arena array's length).
The memory figures (layer-wise peak, best layer-wise bound, lower bound, arena bytes)
are defined in tinycc_ml/memory/bounds.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from . import __version__
from .boards import Board
from .codegen.context import EmitContext
from .ir.graph import BoundaryIO
from .kernels.registry import variant
from .memory.facts import OverlapFact
from .memory.picture import LoopSpan, PlanView, Step, buffer_table, figures_lines, short, text_timeline
from .memory.plan import MemoryPlan
from .program import LoopStep, Program, node_macs


def _io(io: BoundaryIO) -> dict:
    return {
        "name": io.onnx_name,
        "dtype": io.onnx_dtype,
        "shape": list(io.shape),
        "scale": io.quant.s,
        "zero_point": io.quant.zp,
    }


def _fact(fact: OverlapFact) -> dict:
    return {"node": fact.node, "input": fact.input, "output": fact.output,
            "min_distance": fact.min_distance, "reason": fact.reason}


def memory_figures(program: Program) -> dict:
    """The memory part of report.json (also what `tinyc report` prints)."""
    plan: MemoryPlan = program.plan
    layerwise = plan.layerwise_peak_bytes()
    sched = program.scheduling
    figures = {
        "arena_bytes": plan.arena_bytes,
        "lower_bound_bytes": plan.lower_bound_bytes(),
        "layerwise_peak_bytes": layerwise,
        # Without a recorded search the emitted order is the only one known.
        "best_layerwise_bytes": sched.peak_bytes if sched else layerwise,
        "best_layerwise_exact": sched.exact if sched else False,
        "file_order_layerwise_bytes": sched.file_order_bytes if sched else layerwise,
        "schedule_method": sched.method if sched else "graph order",
        # True only when the safety-net time limit cut the search: the one machine-dependent case.
        "schedule_time_limited": sched.time_limited if sched else False,
        "planner": plan.planner,
        "live_bytes": list(plan.live_bytes_per_step()),
        "overlaps": [_fact(f) for f in plan.used_facts()],
    }
    figures["lower_bound_gap_bytes"] = figures["arena_bytes"] - figures["lower_bound_bytes"]
    return figures


def build_report(program: Program, ctx: EmitContext, board: Board, model: str, fits: bool) -> dict:
    graph, plan = program.graph, program.plan
    executed = _executed_macs(program)
    stages = {span.first + k: span for span in loop_spans(program) for k in range(span.last - span.first + 1)}
    ops = []
    for step, node in enumerate(program.schedule):
        out = graph.tensor(node.outputs[0])
        calls = program.calls.get(node.name, ())
        kernel = "+".join(c.symbol for c in calls) if calls else ("alias" if program.is_alias(node) else "none")
        ops.append({
            "step": step,  # the index model_invoke() passes to the profiling hook (tinyc run --profile)
            "name": node.name,
            "kind": node.kind,
            "kernel": kernel,
            "symbols": [c.symbol for c in calls],  # the kernel functions the step calls, in order
            "macs": executed.get(node.name, node_macs(node, graph)),  # a patch stage's: every band, halos included
            "output_shape": list(out.shape),
            "output_bytes": out.nbytes,
            # in a patch stage (its ops interleave over regions): the stage's first and last step
            # and its region count; the profile reports the stage as one row
            "stage": ({"first": stages[step].first, "last": stages[step].last, "regions": stages[step].regions}
                      if step in stages else None),
        })
    buffers = [
        {"name": r.name, "tensors": list(r.tensors), "offset": off, "size": r.size, "first": r.first, "last": r.last,
         "alignment": r.alignment}
        for r, off in zip(plan.requests, plan.offsets)
    ]
    return {
        "tinyc_version": __version__,
        "model": model,
        "graph": graph.name,
        "board": board.name,
        "semantics": graph.semantics,  # whose arithmetic the C follows: "tflite" or "onnx"
        "prefix": ctx.prefix,
        **memory_figures(program),
        "arena_bytes": ctx.arena_bytes,  # the emitted array's length (equal to the plan's)
        "weights_bytes": ctx.weights_bytes,
        "int16_weights_extra_bytes": int16_weights_extra_bytes(program),
        "macs": sum(op["macs"] for op in ops),
        "fits": fits,
        "sram_limit_bytes": board.arena_limit_bytes,
        "flash_bytes": board.flash_bytes,
        "figures": FIGURE_LABELS,
        "arena": ctx.arena_mode,  # "static" (a section) or "extern" (the caller's buffer, PREFIX_init)
        "preserve_input": ctx.preserve_input,
        "input": _io(graph.inputs[0]),  # the first; "inputs"/"outputs" list all, in the C API's order
        "output": _io(graph.outputs[0]),
        "inputs": [_io(io) for io in graph.inputs],
        "outputs": [_io(io) for io in graph.outputs],
        "schedule": [node.name for node in program.schedule],
        "ops": ops,
        "buffers": buffers,
    }


def int16_weights_extra_bytes(program: Program) -> int:
    """The flash the int16 weight layouts cost (the kernels of DSP cores whose record says
    int16_weights, kernels/wide_weights.py): one more byte per weight of every node that runs one."""
    graph = program.graph
    return sum(graph.tensor(node.inputs[1]).nbytes for node in graph.nodes
               if any(variant(c.symbol).int16_weights for c in program.calls.get(node.name, ())))


def _executed_macs(program: Program) -> dict[str, int]:
    """The MACs the ops of patch stages execute: the sum over their bands (or tiles), so the
    halo recomputation counts where it runs; the other ops run once, on the whole tensor."""
    executed: dict[str, int] = {}
    for step in program.steps:
        if isinstance(step, LoopStep):
            for it in step.iterations:
                for body in it.steps:
                    executed[body.node.name] = executed.get(body.node.name, 0) + node_macs(body.node, it.graph)
    return executed


# What every size figure includes, so that no two numbers appear without saying which is which.
FIGURE_LABELS = {
    "weights_bytes": "flash, model only: the constant arrays and kernel parameters of the generated code",
    "int16_weights_extra_bytes": "flash, part of weights_bytes: what the int16 weight copies of the DSP kernels "
                                 "add over int8 weights (chosen only where the board's flash has room)",
    "firmware_footprint": "flash and RAM, model + runtime: the generated code and the runtime kernels it calls, "
                          "cross-built for the board's core (no harness, no libc); its runtime_code_bytes: the code "
                          "alone (kernels + generated glue + the library functions they call; weights excluded)",
    "firmware": "flash and RAM, whole firmware per QEMU target: model + runtime + the tinyc harness + newlib",
    "flash_bytes": "the board's flash capacity",
    "sram_limit_bytes": "the largest contiguous SRAM region the arena must fit",
    "arena_bytes": "RAM: the planned arena (activations, input, output, scratch), overlaps credited",
    "layerwise_peak_bytes": "the bound without overlap credit: the largest sum of buffers live at one step",
    "best_layerwise_bytes": "the smallest layer-wise peak over op orders (no overlap credit)",
    "lower_bound_bytes": "a lower bound on the arena with the overlap facts",
}


def report_text(report: dict) -> str:
    return json.dumps(report, indent=2) + "\n"


def read_report(out_dir: Path) -> dict:
    return json.loads((Path(out_dir) / "report.json").read_text())


def plan_view(program: Program, title: str, sram_bytes: int) -> PlanView:
    figures = memory_figures(program)
    graph = program.graph
    steps = tuple(Step(n.name, n.kind, str(list(graph.tensor(n.outputs[0]).shape))) for n in program.schedule)
    return PlanView(program.plan, steps, title, sram_bytes,
                    figures["lower_bound_bytes"], figures["best_layerwise_bytes"], loop_spans(program))


def loop_spans(program: Program) -> tuple[LoopSpan, ...]:
    """The patch stages of the Program, as the steps of the schedule they run."""
    spans, t = [], 0
    for step in program.steps:
        if isinstance(step, LoopStep):
            split = step.nodes[-1].outputs[0]
            spans.append(LoopSpan(t, t + step.body_length - 1, len(step.iterations),
                                  f"patch stage -> {short(split, 32)}, {len(step.iterations)}x1 bands"))
            t += step.body_length
        else:
            t += 1
    return tuple(spans)


def memory_report_text(program: Program, title: str, sram_bytes: int,
                       patch_lines: Sequence[str] = ()) -> tuple[str, PlanView]:
    """What `tinyc report` prints about a lowered model's memory plan (and the patch stage
    it runs, `patch_lines`), and its picture."""
    view = plan_view(program, title, sram_bytes)
    sched = program.scheduling
    order = "" if sched is None else (
        f"schedule: {sched.method}" + (" (proven minimal layer-wise peak)" if sched.exact else " (not proven minimal)")
        + (f", graph order's layer-wise peak {sched.file_order_bytes:,} B" if sched.reordered else "")
        + (", cut short by the time limit: the order may differ on another machine" if sched.time_limited else ""))
    text = "\n".join([view.title, *figures_lines(view), *([order] if order else []), *patch_lines, ""])
    return text + "\n" + text_timeline(view) + "\n" + buffer_table(view), view
