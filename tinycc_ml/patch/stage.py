"""A patch stage as a LoopStep: the ops ending at a split tensor K, run band by band.

The stage is K's producer and every ancestor reachable through ops a stage can hold
(rows.STAGE_KINDS); the tensors where that walk stops (a graph input, or the output of
an op a stage cannot hold) are the stage inputs. They and K stay resident, whole, for
the whole loop; every other tensor of the stage is scoped to one patch, in a buffer the
planner sizes for the largest patch. Per patch, the rows and columns each tensor must
hold are the hull of what its consumers in the stage need (a tensor read by a conv and by
a residual Add holds the conv's halo); each op reads the window of its input it needs, a
view into that input's region. Full-width bands of an NHWC tensor are contiguous bytes (a
byte offset); a patch narrower than the image (n_w > 1) is a window with a row stride,
which the kernels that take row strides address directly (kernels/variant.py).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

from ..ir.graph import Graph, Node, Tensor
from ..ir.layout import CHW, NHWC, same_bytes
from ..kernels.call import KernelCall, TensorArg
from ..kernels.registry import kernel_calls
from ..kernels.target import HOST_TARGET, KernelTarget
from ..kernels.wide_weights import decide_for_model
from ..memory.bounds import lower_bound_bytes, resolve_facts
from ..memory.facts import OverlapFact
from ..memory.liveness import BufferRequest, step_requests
from ..memory.planners import DEFAULT_PLANNER, plan
from ..program import Iteration, LoopStep, NodeStep, Program, Region, Step, node_macs
from .band_facts import band_facts
from .memo import CallMemo, SearchMemo
from .stage_types import Stage, StageError
from .resident import resident_facts
from .rows import STAGE_KINDS, InputRows, Rows, band_attrs, input_rows


def _is_image(graph: Graph, name: str) -> bool:
    t = graph.tensor(name)
    return len(t.shape) == 4 and t.shape[0] == 1 and same_bytes(t.shape, graph.dim_order(name), NHWC)


def _is_chw_image(graph: Graph, name: str) -> bool:
    t = graph.tensor(name)
    return len(t.shape) == 4 and t.shape[0] == 1 and same_bytes(t.shape, graph.dim_order(name), CHW)


def _can_hold(node: Node, graph: Graph, tiles: bool = False) -> bool:
    if node.kind not in STAGE_KINDS:
        return False
    if node.kind == "Transpose":
        # Only the layout copy of a channel-major image into NHWC: the stage reads the CHW
        # image (a resident stage input: no op a stage holds writes CHW) band by band. A
        # grid's tiles would read 3-D windows of it (planes x rows x columns), which no region
        # is: there the copy stays outside, whole, as the resident stage input.
        x, y = node.inputs[0], node.outputs[0]
        return (not tiles and node.attrs.perm == tuple(range(4)) and _is_chw_image(graph, x) and _is_image(graph, y)
                and not same_bytes(graph.tensor(x).shape, graph.dim_order(x), NHWC))
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


def find_stage(graph: Graph, order: Sequence[Node], split: str, tiles: bool = False) -> Stage:
    """The patch stage ending at `split` (tiles: for a grid with n_w > 1), or StageError
    saying why there is none."""
    producers = graph.producers()
    if split not in producers or not _can_hold(producers[split], graph, tiles):
        raise StageError(f"tensor {split} is not the output of an op a patch stage can hold")
    members: dict[str, Node] = {}
    inputs: list[str] = []
    todo = [split]
    while todo:
        name = todo.pop()
        node = producers.get(name)
        if node is None or not _can_hold(node, graph, tiles):
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
    tensors = {n for node in nodes for n in (*node.inputs, *node.outputs) if n and not graph.tensor(n).is_constant}
    planar = frozenset(n for n in tensors if _is_chw_image(graph, n) and not _is_image(graph, n))
    return Stage(split, nodes, tuple(sorted(inputs)), planar)


def band_rows(height: int, bands: int) -> tuple[Rows, ...]:
    """`bands` row ranges tiling `height` rows, as equal as integers allow."""
    if not 1 <= bands <= height:
        raise StageError(f"{bands} bands cannot tile {height} rows")
    edges = [height * i // bands for i in range(bands + 1)]
    return tuple((edges[i], edges[i + 1]) for i in range(bands))


def patch_grid(height: int, width: int, n_h: int, n_w: int) -> tuple[tuple[Rows, Rows], ...]:
    """The n_h x n_w patches (rows, columns) tiling a height x width image, row-major."""
    if not 1 <= n_w <= width:
        raise StageError(f"{n_w} columns cannot tile {width} columns")
    return tuple((r, c) for r in band_rows(height, n_h) for c in band_rows(width, n_w))


Window = tuple[Rows, Rows]  # (rows, columns) of an image
WindowReads = tuple[tuple[InputRows, "InputRows | None"], ...]  # per activation input: (rows, columns) read


def tile_windows(graph: Graph, stage: Stage, band: Rows,
                 cols: Rows | None = None) -> tuple[dict[str, Window], dict[str, WindowReads]]:
    """(the rows and columns every stage tensor holds for this patch, the (rows, columns)
    windows each node reads). cols None: a full-width band, every tensor whole in width
    (read with the op's own left and right pads)."""
    held: dict[str, Window] = {stage.split: (band, cols or (0, graph.tensor(stage.split).shape[3]))}
    reads: dict[str, WindowReads] = {}
    where = f"band {band}" if cols is None else f"patch {band}x{cols}"
    for node in reversed(stage.nodes):
        out = held.get(node.outputs[0])
        if out is None or out[0][0] >= out[0][1] or out[1][0] >= out[1][1]:
            raise StageError(f"node {node.name} has no {'rows' if cols is None else 'pixels'} to compute in {where} "
                             f"of {stage.split}")
        rows = input_rows(node, graph, out[0])
        columns = input_rows(node, graph, out[1], axis=3) if cols is not None else (None,) * len(rows)
        for r, c in zip(rows, columns):
            span = c.rows if c is not None else (0, graph.tensor(r.tensor).shape[3])
            if r.rows[0] >= r.rows[1] or span[0] >= span[1]:
                raise StageError(f"node {node.name} reads no {'row' if cols is None else 'pixel'} of {r.tensor} in "
                                 f"{where} of {stage.split}")
            h = held.get(r.tensor)
            held[r.tensor] = (r.rows, span) if h is None else (
                (min(h[0][0], r.rows[0]), max(h[0][1], r.rows[1])), (min(h[1][0], span[0]), max(h[1][1], span[1])))
        reads[node.name] = tuple(zip(rows, columns))
    return held, reads


def stage_windows(graph: Graph, stage: Stage, band: Rows) -> tuple[dict[str, Rows], dict[str, tuple[InputRows, ...]]]:
    """(rows every stage tensor holds in this full-width band, the row windows each node reads)."""
    held, reads = tile_windows(graph, stage, band)
    return {name: w[0] for name, w in held.items()}, {name: tuple(r for r, _ in w) for name, w in reads.items()}


def _node_calls(node: Node, graph: Graph, target: KernelTarget, strides: dict[str, int],
                memo: CallMemo) -> list[KernelCall]:
    """The node's kernel calls; patches with the same geometry (shapes, pads, strides) share
    them, renamed to their own region tensors (interior tiles are alike, a band of one
    height and pads recurs across band counts and across the stages of later splits, and
    building a conv's calls reorders its weights). The target's int16-weight flash rule
    (kernels/wide_weights.py), decided for the whole model, is the one thing a kernel's record
    reads beyond the node's own tensors and attributes."""
    acts = [n for n in (*node.inputs, *node.outputs) if n and not graph.tensor(n).is_constant]
    key = (target.wide_weights, node.name, node.attrs, tuple(graph.tensor(n).shape for n in acts),
           tuple(strides.get(n, 0) for n in acts))
    if key not in memo:
        memo[key] = (acts, kernel_calls(node, graph, target, strides))
        return memo[key][1]
    names, calls = memo[key]
    if names == acts:
        return calls
    rename = dict(zip(names, acts))
    return [replace(c, args=tuple(TensorArg(rename[a.tensor], a.row_stride) if isinstance(a, TensorArg) else a
                                  for a in c.args)) for c in calls]


def _plane_region(region_name: str, name: str, source: Tensor, window: Window) -> Region:
    """A band of a channel-major stage input (resident, whole): the band's rows of every
    plane, one plane (height * width bytes) apart."""
    _, c, height, width = source.shape
    (r0, r1), (c0, c1) = window
    if (c0, c1) != (0, width):
        raise StageError(f"the channel-major stage input {name} is read in column tiles: only full-width "
                         "bands of a CHW image are windows the kernels address")
    item = source.dtype.itemsize
    strided = c > 1 and r1 - r0 != height
    return Region(region_name, name, r0 * width * item, height * width * item if strided else 0, planes=strided)


def patch_geometry(graph: Graph, stage: Stage, index: int, band: Rows, cols: Rows | None = None) -> Iteration:
    """One patch before its kernel calls (every step's calls empty): a full-width band (cols
    None) or the tile band x cols. A region is a window of its buffer: a resident tensor
    (stage input, K) is whole, a scoped one holds the patch's hull of what its consumers
    read; a window narrower than its buffer's image has a row stride (the kernels address
    it through it). Its sizes and MACs are those of the patch with its calls."""
    held, reads = tile_windows(graph, stage, band, cols)
    scoped = set(stage.scoped)
    tensors: dict[str, Tensor] = {}
    regions: dict[str, Region] = {}

    def region(name: str, window: Window, suffix: str = "") -> str:
        region_name = f"{name}@{index}{suffix}"
        if region_name not in regions:
            source = graph.tensor(name)
            n, c, height, width = source.shape
            (r0, r1), (c0, c1) = window
            tensors[region_name] = Tensor(region_name, (n, c, r1 - r0, c1 - c0), source.dtype, source.quant)
            if name in stage.planar:
                regions[region_name] = _plane_region(region_name, name, source, window)
                return region_name
            # The buffer's image: the whole tensor, or (scoped) the patch's hull of it.
            (top, _), (left, right) = held[name] if name in scoped else ((0, height), (0, width))
            pitch = (right - left) * c * source.dtype.itemsize
            offset = (r0 - top) * pitch + (c0 - left) * c * source.dtype.itemsize
            strided = c1 - c0 != right - left and n * (r1 - r0) > 1
            regions[region_name] = Region(region_name, name, offset, pitch if strided else 0)
        return region_name

    nodes = []
    for node in stage.nodes:
        windows = {r.tensor: (r, c) for r, c in reads[node.name]}
        ins = []
        for name in node.inputs:
            if not name or graph.tensor(name).is_constant:
                ins.append(name)
                if name:
                    tensors[name] = graph.tensor(name)
                continue
            r, c = windows[name]
            span = c.rows if c is not None else held[name][1]
            same = (r.rows, span) == held[name] and name in scoped
            ins.append(region(name, (r.rows, span), "" if same else f"/{node.name}"))
        y = node.outputs[0]
        out = region(y, held[y])
        rows, columns = windows[node.inputs[0]]
        nodes.append(replace(node, attrs=band_attrs(node, rows, columns), inputs=tuple(ins), outputs=(out,)))
    dim_orders = {name: graph.dim_order(r.buffer) for name, r in regions.items()}
    it_graph = replace(graph, nodes=tuple(nodes), tensors=tensors, dim_orders=dim_orders, inputs=(), outputs=())
    return Iteration(it_graph, tuple(NodeStep(n, ()) for n in nodes), tuple(regions.values()))


def with_calls(patch: Iteration, stage: Stage, target: KernelTarget, memo: SearchMemo) -> Iteration:
    """The patch with the kernel calls of its nodes (on its region tensors and row strides)."""
    it_graph = patch.graph
    strides = patch.row_strides()
    assert target.wide_weights is not None, "the flash rule is the whole model's (wide_weights.decide_for_model)"
    nodes = [step.node for step in patch.steps]
    steps = tuple(NodeStep(n, tuple(_node_calls(n, it_graph, target, strides, memo.calls))) for n in nodes)
    return replace(patch, steps=steps)


def band_iteration(graph: Graph, stage: Stage, index: int, band: Rows, target: KernelTarget,
                   cols: Rows | None = None, memo: SearchMemo | None = None) -> Iteration:
    """One patch with its kernel calls (patch_geometry, with_calls)."""
    return with_calls(patch_geometry(graph, stage, index, band, cols), stage, decide_for_model(graph, target),
                      SearchMemo() if memo is None else memo)


def _loop(stage: Stage, iterations: tuple[Iteration, ...]) -> LoopStep:
    name = "patch_" + "".join(ch if ch.isalnum() else "_" for ch in stage.split)
    try:
        return LoopStep(name, stage.nodes, iterations, stage.scoped)
    except ValueError as exc:  # a band's pads chose another kernel variant than the others
        raise StageError(str(exc)) from None


def stage_geometry(graph: Graph, stage: Stage, bands: int, columns: int = 1) -> LoopStep:
    """The stage's loop over an n_h x n_w grid of K (row-major; columns 1: full-width bands),
    before its kernel calls (patch_geometry)."""
    height, width = graph.tensor(stage.split).shape[2:]
    if columns == 1:
        return _loop(stage, tuple(patch_geometry(graph, stage, i, band) for i, band in enumerate(band_rows(height, bands))))
    return _loop(stage, tuple(patch_geometry(graph, stage, i, band, cols)
                              for i, (band, cols) in enumerate(patch_grid(height, width, bands, columns))))


def stage_loop(graph: Graph, stage: Stage, bands: int, target: KernelTarget = HOST_TARGET,
               columns: int = 1, memo: SearchMemo | None = None) -> LoopStep:
    """The stage's loop over an n_h x n_w grid of K, with its kernel calls. `memo`: what a
    search's candidates share (memo.py)."""
    return loop_with_calls(stage_geometry(graph, stage, bands, columns), stage, decide_for_model(graph, target), memo)


def loop_with_calls(geometry: LoopStep, stage: Stage, target: KernelTarget,
                    memo: SearchMemo | None = None) -> LoopStep:
    memo = SearchMemo() if memo is None else memo
    return _loop(stage, tuple(with_calls(it, stage, target, memo) for it in geometry.iterations))


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


@dataclass(frozen=True)
class Layout:
    """A candidate before its kernel calls: `straight`'s steps with the stage's loop (its
    patches' regions, shapes and pads: patch_geometry) in place of the stage's ops. Its
    MACs are the candidate's: what the search checks before it builds any call."""

    straight: Program
    stage: Stage
    steps: tuple[Step, ...]
    loop_index: int  # of the loop in `steps`
    columns: int  # 1: full-width bands

    @property
    def loop(self) -> LoopStep:
        loop = self.steps[self.loop_index]
        assert isinstance(loop, LoopStep)
        return loop

    @property
    def macs(self) -> int:
        return steps_macs(self.straight.graph, self.steps)


def patch_layout(straight: Program, split: str, bands: int, columns: int = 1,
                 memo: SearchMemo | None = None) -> Layout:
    """The Layout of `straight` with the stage ending at `split` run in `bands` row bands
    (times `columns` column bands: a grid of patches, row-major); StageError when there is none.
    The loop takes the place of K's producer; the rest keeps its order and kernels."""
    graph = straight.graph
    tiles = columns > 1
    if memo is None or (split, tiles) not in memo.stages:
        try:
            stage: Stage | StageError = find_stage(graph, straight.schedule, split, tiles)
        except StageError as exc:
            stage = exc
        if memo is not None:
            memo.stages[split, tiles] = stage
    else:
        stage = memo.stages[split, tiles]
    if isinstance(stage, StageError):
        raise StageError(str(stage))
    loop = stage_geometry(graph, stage, bands, columns)
    members = {n.name for n in stage.nodes}
    steps: list[Step] = []
    for step in straight.steps:
        if isinstance(step, NodeStep) and step.node.name in members:
            if step.node.name == stage.nodes[-1].name:
                loop_index = len(steps)
                steps.append(loop)
            continue
        steps.append(step)
    return Layout(straight, stage, tuple(steps), loop_index, columns)


def layout_candidate(layout: Layout, target: KernelTarget = HOST_TARGET, memo: SearchMemo | None = None) -> Candidate:
    """The layout with its kernel calls, buffer requests and overlap facts (StageError when
    its patches' pads choose different kernel variants).

    The overlap facts of the ops outside the stage still hold (their buffers are whole and
    their last reads unchanged, unless they read a stage input); the stage's ops get the
    same kind of facts between their band buffers (band_facts.py), and K may overwrite
    the rows of a dying stage input no later band reads (resident.py). `memo`: the
    kernel calls and access models a search's candidates share (memo.py)."""
    memo = SearchMemo() if memo is None else memo
    straight, stage = layout.straight, layout.stage
    graph = straight.graph
    loop = loop_with_calls(layout.loop, stage, decide_for_model(graph, target), memo)
    steps = layout.steps[:layout.loop_index] + (loop,) + layout.steps[layout.loop_index + 1:]
    members = {n.name for n in stage.nodes}
    # An outside op that read a stage input last may now run before the loop reads it.
    facts = [f for f in straight.plan.facts if f.node not in members and f.input not in stage.inputs]
    requests = step_requests(graph, steps)
    if layout.columns == 1:
        # Both derivations assume full-width bands, whose regions are contiguous rows. A grid's
        # tiles are strided windows, which no overlap fact covers (kernels.variant): none.
        facts.extend(resident_facts(graph, steps, loop, stage.inputs, stage.split))
        facts.extend(band_facts(loop, {r.name: r.size for r in requests}, memo.models))
    return Candidate(straight, steps, requests, tuple(facts))


def patch_candidate(straight: Program, split: str, bands: int, target: KernelTarget = HOST_TARGET,
                    memo: SearchMemo | None = None, columns: int = 1) -> Candidate:
    """`straight` with the patch stage ending at `split` run in `bands` row bands (times
    `columns` column bands): patch_layout, then layout_candidate."""
    return layout_candidate(patch_layout(straight, split, bands, columns, memo), target, memo)


def patched_program(straight: Program, split: str, bands: int, target: KernelTarget = HOST_TARGET,
                    planner: str = DEFAULT_PLANNER, columns: int = 1) -> Program:
    """The planned Program of patch_candidate(straight, split, bands, target, columns=columns)."""
    return patch_candidate(straight, split, bands, target, columns=columns).program(planner)


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
