"""A patch stage as a LoopStep: the ops ending at a split tensor K, run band by band.

The stage is K's producer and every ancestor reachable through ops a stage can hold
(rows.STAGE_KINDS); the tensors where that walk stops (a graph input, or the output of
an op a stage cannot hold) are the stage inputs. They and K stay resident, whole, for
the whole loop; every other tensor of the stage is scoped to one band, in a buffer the
planner sizes for the largest band. Per band, the rows each tensor must hold are the
hull of what its consumers in the stage need (a tensor read by a conv and by a residual
Add holds the conv's halo); each op reads the window of its input it needs, a view at a
row offset into that input's region. Full-width bands of an NHWC tensor are contiguous
bytes, so a region is a byte offset; patches narrower than the image (n_w > 1) need a
row stride the kernels do not take yet.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

from ..errors import TinycError
from ..ir.graph import Graph, Node, Tensor
from ..ir.layout import NHWC, same_bytes
from ..kernels.registry import kernel_calls
from ..kernels.target import HOST_TARGET, KernelTarget
from ..memory.bounds import lower_bound_bytes, resolve_facts
from ..memory.facts import OverlapFact
from ..memory.liveness import BufferRequest, step_requests
from ..memory.planners import DEFAULT_PLANNER, plan
from ..program import Iteration, LoopStep, NodeStep, Program, Region, Step, node_macs
from .band_facts import Models, band_facts
from .resident import resident_facts
from .rows import STAGE_KINDS, InputRows, Rows, band_attrs, input_rows


class StageError(TinycError):
    """This (K, grid) cannot be a patch stage; the message says why."""


@dataclass(frozen=True)
class Stage:
    split: str  # K: the tensor the bands tile
    nodes: tuple[Node, ...]  # in the straight program's order; the last produces K
    inputs: tuple[str, ...]  # resident tensors the stage reads from outside

    @property
    def scoped(self) -> tuple[str, ...]:
        return tuple(sorted(o for n in self.nodes for o in n.outputs if o != self.split))


def _is_image(graph: Graph, name: str) -> bool:
    t = graph.tensor(name)
    return len(t.shape) == 4 and t.shape[0] == 1 and same_bytes(t.shape, graph.dim_order(name), NHWC)


def _can_hold(node: Node, graph: Graph) -> bool:
    if node.kind not in STAGE_KINDS:
        return False
    acts = [n for n in (*node.inputs, *node.outputs) if n and not graph.tensor(n).is_constant]
    if not all(_is_image(graph, n) for n in acts):
        return False
    y = graph.tensor(node.outputs[0]).shape
    if node.kind == "Add":  # the same image twice: no broadcasting across a band
        return all(graph.tensor(n).shape == y for n in node.inputs)
    if node.kind == "Pad":
        pads = node.attrs.pads
        return pads[0] == pads[4] == 0 and min(pads) >= 0
    return True


def find_stage(graph: Graph, order: Sequence[Node], split: str) -> Stage:
    """The patch stage ending at `split`, or StageError saying why there is none."""
    producers = graph.producers()
    if split not in producers or not _can_hold(producers[split], graph):
        raise StageError(f"tensor {split} is not the output of an op a patch stage can hold")
    members: dict[str, Node] = {}
    inputs: list[str] = []
    todo = [split]
    while todo:
        name = todo.pop()
        node = producers.get(name)
        if node is None or not _can_hold(node, graph):
            if name not in inputs:
                inputs.append(name)
            continue
        if node.name in members:
            continue
        members[node.name] = node
        todo.extend(n for n in node.inputs if n and not graph.tensor(n).is_constant)
    outside = {o for o in graph.output_tensors()}
    consumers = graph.consumers()
    for node in members.values():
        for out in node.outputs:
            if out == split:
                continue
            if out in outside or any(c.name not in members for c in consumers.get(out, ())):
                raise StageError(f"tensor {out} inside the stage of {split} is also read after it")
    nodes = tuple(n for n in order if n.name in members)
    if len(nodes) < 2:
        raise StageError(f"the stage of {split} has a single op: nothing to save")
    return Stage(split, nodes, tuple(sorted(inputs)))


def band_rows(height: int, bands: int) -> tuple[Rows, ...]:
    """`bands` row ranges tiling `height` rows, as equal as integers allow."""
    if not 1 <= bands <= height:
        raise StageError(f"{bands} bands cannot tile {height} rows")
    edges = [height * i // bands for i in range(bands + 1)]
    return tuple((edges[i], edges[i + 1]) for i in range(bands))


def _row_bytes(graph: Graph, name: str) -> int:
    _, c, _, w = graph.tensor(name).shape
    return c * w * graph.tensor(name).dtype.itemsize


def stage_windows(graph: Graph, stage: Stage, band: Rows) -> tuple[dict[str, Rows], dict[str, tuple[InputRows, ...]]]:
    """(rows every stage tensor holds in this band, the windows each node reads)."""
    held: dict[str, Rows] = {stage.split: band}
    reads: dict[str, tuple[InputRows, ...]] = {}
    for node in reversed(stage.nodes):
        out = held.get(node.outputs[0])
        if out is None or out[0] >= out[1]:
            raise StageError(f"node {node.name} has no rows to compute in band {band} of {stage.split}")
        windows = input_rows(node, graph, out)
        for w in windows:
            if w.rows[0] >= w.rows[1]:
                raise StageError(f"node {node.name} reads no row of {w.tensor} in band {band} of {stage.split}")
            h = held.get(w.tensor)
            held[w.tensor] = w.rows if h is None else (min(h[0], w.rows[0]), max(h[1], w.rows[1]))
        reads[node.name] = windows
    return held, reads


def band_iteration(graph: Graph, stage: Stage, index: int, band: Rows, target: KernelTarget) -> Iteration:
    held, reads = stage_windows(graph, stage, band)
    scoped = set(stage.scoped)
    tensors: dict[str, Tensor] = {}
    regions: dict[str, Region] = {}

    def region(name: str, rows: Rows, suffix: str = "") -> str:
        region_name = f"{name}@{index}{suffix}"
        if region_name not in regions:
            source = graph.tensor(name)
            n, c, _, w = source.shape
            tensors[region_name] = Tensor(region_name, (n, c, rows[1] - rows[0], w), source.dtype, source.quant)
            start = held[name][0] if name in scoped else 0
            regions[region_name] = Region(region_name, name, (rows[0] - start) * _row_bytes(graph, name))
        return region_name

    nodes = []
    for node in stage.nodes:
        windows = {w.tensor: w for w in reads[node.name]}
        ins = []
        for name in node.inputs:
            if not name or graph.tensor(name).is_constant:
                ins.append(name)
                if name:
                    tensors[name] = graph.tensor(name)
                continue
            w = windows[name]
            same = w.rows == held[name] and name in scoped
            ins.append(region(name, w.rows, "" if same else f"/{node.name}"))
        y = node.outputs[0]
        out = region(y, held[y])
        nodes.append(replace(node, attrs=band_attrs(node, windows[node.inputs[0]]), inputs=tuple(ins), outputs=(out,)))
    dim_orders = {name: graph.dim_order(r.buffer) for name, r in regions.items()}
    it_graph = replace(graph, nodes=tuple(nodes), tensors=tensors, dim_orders=dim_orders, inputs=(), outputs=())
    steps = tuple(NodeStep(n, tuple(kernel_calls(n, it_graph, target))) for n in nodes)
    return Iteration(it_graph, steps, tuple(regions.values()))


def stage_loop(graph: Graph, stage: Stage, bands: int, target: KernelTarget = HOST_TARGET) -> LoopStep:
    rows = band_rows(graph.tensor(stage.split).shape[2], bands)
    iterations = tuple(band_iteration(graph, stage, i, band, target) for i, band in enumerate(rows))
    name = "patch_" + "".join(ch if ch.isalnum() else "_" for ch in stage.split)
    try:
        return LoopStep(name, stage.nodes, iterations, stage.scoped)
    except ValueError as exc:  # a band's pads chose another kernel variant than the others
        raise StageError(str(exc)) from None


@dataclass(frozen=True)
class Candidate:
    """A patched Program before planning: its steps, buffer requests and overlap facts."""

    straight: Program
    steps: tuple[Step, ...]
    requests: tuple[BufferRequest, ...]
    facts: tuple[OverlapFact, ...]

    def lower_bound_bytes(self) -> int:
        """No plan of this candidate is smaller (memory/bounds.py): what the search ranks by."""
        return lower_bound_bytes(self.requests, resolve_facts(self.requests, self.facts))

    @property
    def macs(self) -> int:
        return steps_macs(self.straight.graph, self.steps)

    def program(self, planner: str = DEFAULT_PLANNER) -> Program:
        memory = plan(self.requests, planner, self.facts)
        return Program(self.straight.graph, self.steps, memory, self.straight.scheduling)


def patch_candidate(straight: Program, split: str, bands: int, target: KernelTarget = HOST_TARGET,
                    models: Models | None = None) -> Candidate:
    """`straight` with the patch stage ending at `split` run in `bands` row bands.

    The loop takes the place of K's producer; the rest keeps its order and kernels. The
    overlap facts of the ops outside the stage still hold (their buffers are whole and
    their last reads unchanged, unless they read a stage input); the stage's ops get the
    same kind of facts between their band buffers (band_facts.py), and K may overwrite
    the rows of a dying stage input no later band reads (resident.py). `models`: the
    kernel access models already derived (band_facts.Models), shared by a search."""
    graph = straight.graph
    stage = find_stage(graph, straight.schedule, split)
    loop = stage_loop(graph, stage, bands, target)
    members = {n.name for n in stage.nodes}
    steps: list = []
    for step in straight.steps:
        if isinstance(step, NodeStep) and step.node.name in members:
            if step.node.name == stage.nodes[-1].name:
                steps.append(loop)
            continue
        steps.append(step)
    # An outside op that read a stage input last may now run before the loop reads it.
    facts = [f for f in straight.plan.facts if f.node not in members and f.input not in stage.inputs]
    facts.extend(resident_facts(graph, steps, loop, stage.inputs, split))
    requests = step_requests(graph, steps)
    facts.extend(band_facts(loop, {r.name: r.size for r in requests}, models))
    return Candidate(straight, tuple(steps), requests, tuple(facts))


def patched_program(straight: Program, split: str, bands: int, target: KernelTarget = HOST_TARGET,
                    planner: str = DEFAULT_PLANNER) -> Program:
    """The planned Program of patch_candidate(straight, split, bands, target)."""
    return patch_candidate(straight, split, bands, target).program(planner)


def steps_macs(graph: Graph, steps: Sequence[Step]) -> int:
    """Multiply-accumulates the steps execute, halo recomputation included."""
    total = 0
    for step in steps:
        if isinstance(step, NodeStep):
            total += node_macs(step.node, graph)
        else:
            total += sum(node_macs(s.node, it.graph) for it in step.iterations for s in it.steps)
    return total


def program_macs(program: Program) -> int:
    """Multiply-accumulates the Program executes, halo recomputation included."""
    return steps_macs(program.graph, program.steps)
