"""Program -> EmitContext: every value the templates print, computed here in Python.

The templates only loop and print over this plain data. C identifiers, literals
(INT32_MIN, float32 scales) and arena offsets are decided here once, so a template
never does arithmetic or naming of its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .. import __version__
from ..errors import ModelError, TinycError
from ..ir.graph import BoundaryIO, Graph
from ..kernels.call import ConstArg, KernelCall, NullArg, ParamStruct, ScratchArg, TensorArg
from ..memory.liveness import scratch_name
from ..memory.plan import check_plan
from ..program import Iteration, LoopStep, NodeStep, Program, Region

CTYPE_BYTES = {"int8_t": 1, "int32_t": 4}
BOUNDARY_CTYPES = {"int8": "int8_t", "uint8": "uint8_t", "float32": "float"}
# The element type of the accessor's bytes in the arena: a float edge's are the quantized int8.
ARENA_CTYPES = {"int8": "int8_t", "uint8": "uint8_t", "float32": "int8_t"}
VALUES_PER_ROW = {"int8_t": 20, "int32_t": 8}
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class StructField:
    name: str
    kind: str  # "int", "array" or "struct"
    value: object  # str literal, tuple of str literals, or tuple of StructField


@dataclass(frozen=True)
class ParamsDecl:
    c_name: str
    c_type: str
    fields: tuple[StructField, ...]
    nbytes: int


@dataclass(frozen=True)
class ConstArray:
    c_name: str
    ctype: str
    count: int
    rows: tuple[tuple[str, ...], ...]
    nbytes: int
    comment: str


@dataclass(frozen=True)
class ParamsArrayDecl:
    """One parameter struct per iteration of a loop (a region's geometry differs)."""

    c_name: str
    c_type: str
    elements: tuple[tuple[StructField, ...], ...]
    nbytes: int


@dataclass(frozen=True)
class OffsetTable:
    """Arena offsets of a loop's region arguments: one row per iteration."""

    c_name: str
    rows: tuple[tuple[int, ...], ...]

    @property
    def nbytes(self) -> int:
        return 4 * sum(len(r) for r in self.rows)


@dataclass(frozen=True)
class Arg:
    kind: str  # "arena", "region" (column of the loop's offset table), "scratch", "const", "null"
    offset: int = 0
    c_name: str = ""
    column: int = 0


@dataclass(frozen=True)
class CallEmit:
    symbol: str
    params: str  # a struct, or in a loop an array indexed by the iteration
    args: tuple[Arg, ...]


@dataclass(frozen=True)
class LoopEmit:
    count: int  # iterations
    offsets: str  # the OffsetTable's C name
    body_length: int = 1  # the schedule's steps (nodes) the body runs, from the StepEmit's index on


@dataclass(frozen=True)
class StepEmit:
    index: int  # its first node's position in the schedule (report.json's ops, the profile marks)
    comment: str  # which node runs at this step (and why nothing is called, for an alias)
    calls: tuple[CallEmit, ...]
    loop: LoopEmit | None = None  # the calls run once per iteration


@dataclass(frozen=True)
class Boundary:
    """One graph input or output as the caller sees it. `accessor` and `macro` name its C
    function and macros: "input"/"INPUT" when the model has one, "input_<name>" when several."""

    onnx_name: str
    accessor: str  # model_<accessor>(), model_quantize_<accessor>() / model_dequantize_<accessor>()
    macro: str  # MODEL_<macro>_SIZE, _SCALE, _ZERO_POINT, _SHAPE
    ctype: str  # the caller's element type: int8_t, uint8_t or float
    is_float: bool
    size: int
    shape: tuple[int, ...]
    offset: int
    scale: str  # float32 literal
    zero_point: int  # in the terms of arena_ctype (a uint8 edge's is the uint8 zero point)
    arena_ctype: str  # the element type of the accessor's bytes: int8_t, or uint8_t at a uint8 edge


@dataclass(frozen=True)
class EmitContext:
    prefix: str  # C identifier prefix, e.g. "model"
    macro: str  # macro prefix, e.g. "MODEL"
    model_name: str
    source: str
    board: str
    banner: str
    arena_bytes: int
    inputs: tuple[Boundary, ...]
    outputs: tuple[Boundary, ...]
    consts: tuple[ConstArray, ...]
    params: tuple[ParamsDecl, ...]
    steps: tuple[StepEmit, ...]  # the program's steps in order: one per node, or a loop
    param_arrays: tuple[ParamsArrayDecl, ...] = ()
    offset_tables: tuple[OffsetTable, ...] = ()
    timeline_steps: int = 0  # nodes in the schedule (a loop counts its body nodes)
    arena_mode: str = "static"  # "static": a static array in a named section; "extern": the caller's
    preserve_input: bool = False  # the plan keeps the inputs intact through invoke

    @property
    def input(self) -> Boundary:
        """The one input (the run harnesses feed exactly one tensor)."""
        return _only(self.inputs, "input", self.model_name)

    @property
    def output(self) -> Boundary:
        return _only(self.outputs, "output", self.model_name)

    @property
    def single_io(self) -> bool:
        """One input and one output: what the run harnesses (host, QEMU, board main) drive."""
        return len(self.inputs) == 1 and len(self.outputs) == 1

    @property
    def has_float_boundary(self) -> bool:
        return any(b.is_float for b in (*self.inputs, *self.outputs))

    @property
    def weights_bytes(self) -> int:
        return (sum(c.nbytes for c in self.consts) + sum(p.nbytes for p in self.params)
                + sum(p.nbytes for p in self.param_arrays) + sum(t.nbytes for t in self.offset_tables))


def check_prefix(prefix: str) -> str:
    if not _IDENT.match(prefix):
        raise TinycError(f"--name '{prefix}' is not a C identifier (letters, digits, _; not starting with a digit)")
    return prefix


def c_int(value: int) -> str:
    """A C literal for an int32 value (INT32_MIN has no literal of its own)."""
    value = int(value)
    if not -(1 << 31) <= value < (1 << 31):
        raise TinycError(f"constant {value} does not fit int32_t")
    return "(-2147483647 - 1)" if value == -(1 << 31) else str(value)


def c_float(value: float) -> str:
    """A C float literal that reads back as exactly this float32."""
    return repr(float(np.float32(value))) + "f"


def _comment_text(text: str) -> str:
    return text.replace("*/", "* /")


def _struct_fields(struct: ParamStruct) -> tuple[tuple[StructField, ...], int]:
    fields, count = [], 0
    for name, value in struct.fields:
        if isinstance(value, ParamStruct):
            inner, n = _struct_fields(value)
            fields.append(StructField(name, "struct", inner))
            count += n
        elif isinstance(value, tuple):
            fields.append(StructField(name, "array", tuple(c_int(v) for v in value)))
            count += len(value)
        else:
            fields.append(StructField(name, "int", c_int(value)))
            count += 1
    return tuple(fields), count


def _const_array(c_name: str, arg: ConstArg, comment: str) -> ConstArray:
    if arg.ctype not in CTYPE_BYTES:
        raise TinycError(f"constant {c_name}: unsupported C type {arg.ctype}")
    flat = np.asarray(arg.values).reshape(-1)
    literals = [c_int(v) for v in flat.tolist()]
    per_row = VALUES_PER_ROW[arg.ctype]
    rows = tuple(tuple(literals[i:i + per_row]) for i in range(0, len(literals), per_row))
    return ConstArray(c_name, arg.ctype, len(literals), rows, len(literals) * CTYPE_BYTES[arg.ctype], comment)


def _boundary(io: BoundaryIO, offset: int, accessor: str) -> Boundary:
    if io.onnx_dtype not in BOUNDARY_CTYPES:
        raise ModelError(f"graph {io.onnx_name!r}: dtype {io.onnx_dtype} is not supported at the boundary "
                         "(int8, uint8 or float32)")
    size = int(np.prod(io.shape, dtype=np.int64)) if io.shape else 1
    return Boundary(io.onnx_name, accessor, accessor.upper(), BOUNDARY_CTYPES[io.onnx_dtype], io.onnx_dtype == "float32",
                    size, tuple(io.shape), offset, c_float(io.quant.s), io.quant.zp, ARENA_CTYPES[io.onnx_dtype])


def c_identifier(name: str) -> str:
    """A C identifier part for an ONNX tensor name ("input:0" -> "input_0", "1x" -> "t1x")."""
    ident = re.sub(r"[^A-Za-z0-9_]", "_", name).strip("_") or "tensor"
    return ident if not ident[0].isdigit() else "t" + ident


def _boundaries(ios: tuple[BoundaryIO, ...], what: str, offsets: dict[str, int], graph: Graph) -> tuple[Boundary, ...]:
    """One Boundary per graph input/output; with several, each accessor carries its tensor's name."""
    if not ios:
        raise ModelError(f"model {graph.name!r} has no graph {what}")
    if len(ios) == 1:
        return (_boundary(ios[0], offsets[ios[0].tensor], what),)
    accessors = [f"{what}_{c_identifier(io.onnx_name).lower()}" for io in ios]
    for a, io in zip(accessors, ios):
        clash = [o.onnx_name for o, b in zip(ios, accessors) if b == a and o is not io]
        if clash:
            raise ModelError(f"graph {what}s {io.onnx_name!r} and {clash[0]!r} map to the same C name {a!r}; "
                             f"rename one of them in the model")
    return tuple(_boundary(io, offsets[io.tensor], a) for io, a in zip(ios, accessors))


def _only(boundaries: tuple[Boundary, ...], what: str, model: str) -> Boundary:
    if len(boundaries) != 1:
        names = ", ".join(repr(b.onnx_name) for b in boundaries)
        raise TinycError(f"model {model!r} has {len(boundaries)} {what}s ({names}); this harness feeds exactly one "
                         f"input and reads one output: call the generated accessors from your own code")
    return boundaries[0]


class _Emitter:
    """Walks a Program's steps once, naming every C object it emits."""

    def __init__(self, program: Program, prefix: str):
        self.program, self.prefix = program, prefix
        self.offsets = program.plan.tensor_offsets()
        self.sizes = {t: r.size for r in program.plan.requests for t in r.tensors}
        self.consts: list[ConstArray] = []
        self.params: list[ParamsDecl] = []
        self.param_arrays: list[ParamsArrayDecl] = []
        self.offset_tables: list[OffsetTable] = []
        self.steps: list[StepEmit] = []

    def run(self) -> None:
        index = 0
        for step in self.program.steps:
            if isinstance(step, NodeStep):
                self.node_step(index, step)
                index += 1
            else:
                self.loop_step(index, step)
                index += step.body_length

    def const_or_null(self, arg: object, stem: str, label: str, where: str) -> Arg:
        if isinstance(arg, ConstArg):
            c_name = f"{stem}_{re.sub(r'[^A-Za-z0-9_]', '_', arg.name)}"
            self.consts.append(_const_array(c_name, arg, label))
            return Arg("const", c_name=c_name)
        if isinstance(arg, NullArg) or (isinstance(arg, ScratchArg) and arg.nbytes == 0):
            return Arg("null")
        raise TinycError(f"{where}: kernel argument {arg!r} has no C form")

    def node_step(self, step: int, node_step: NodeStep) -> None:
        node, plan = node_step.node, self.program.plan
        label = _comment_text(f"step {step}: {node.name} ({node.kind})")
        if not node_step.calls:
            self.steps.append(StepEmit(step, label + (": an alias, no byte moves" if self.program.is_alias(node) else ": no call"), ()))
            return
        calls: list[CallEmit] = []
        for ci, call in enumerate(node_step.calls):
            stem = f"{self.prefix}_op{step}" + (f"_{ci}" if len(node_step.calls) > 1 else "")
            fields, n_ints = _struct_fields(call.params)
            self.params.append(ParamsDecl(f"{stem}_params", call.params_type, fields, 4 * n_ints))
            args = []
            for ai, arg in enumerate(call.args):
                if isinstance(arg, TensorArg):
                    args.append(Arg("arena", self.offsets[arg.tensor]))
                elif isinstance(arg, ScratchArg) and arg.nbytes > 0:
                    args.append(Arg("scratch", plan.offset(scratch_name(node.name, ci, ai))))
                else:
                    args.append(self.const_or_null(arg, stem, label, node.name))
            calls.append(CallEmit(call.symbol, f"{stem}_params", tuple(args)))
        self.steps.append(StepEmit(step, label, tuple(calls)))

    def loop_step(self, step: int, loop: LoopStep) -> None:
        """One C loop over the iterations: per body call an array of parameter structs and
        a column of arena offsets per region argument; constants are the same in every
        iteration (checked) and emitted once."""
        plan = self.program.plan
        names = ", ".join(n.name for n in loop.nodes)
        label = _comment_text(f"steps {step}-{step + loop.body_length - 1}: loop {loop.name} over "
                              f"{len(loop.iterations)} regions: {names}")
        stem = f"{self.prefix}_{loop.name}"
        rows: list[list[int]] = [[] for _ in loop.iterations]
        calls: list[CallEmit] = []
        for j, body in enumerate(loop.iterations[0].steps):
            for ci, call in enumerate(body.calls):
                call_stem = f"{stem}_op{j}" + (f"_{ci}" if len(body.calls) > 1 else "")
                per_iteration = [it.steps[j].calls[ci] for it in loop.iterations]
                elements = tuple(_struct_fields(c.params)[0] for c in per_iteration)
                n_ints = _struct_fields(call.params)[1]
                self.param_arrays.append(ParamsArrayDecl(f"{call_stem}_params", call.params_type, elements,
                                                         4 * n_ints * len(per_iteration)))
                args = []
                for ai, arg in enumerate(call.args):
                    if isinstance(arg, TensorArg):
                        column = len(rows[0])
                        for r, (it, c) in enumerate(zip(loop.iterations, per_iteration)):
                            region = it.region(_tensor_of(c.args[ai], loop.name))
                            self.check_region(loop.name, it, region)
                            rows[r].append(self.offsets[region.buffer] + region.offset)
                        args.append(Arg("region", column=column))
                    elif isinstance(arg, ScratchArg) and arg.nbytes > 0:
                        args.append(Arg("scratch", plan.offset(scratch_name(body.node.name, ci, ai))))
                    else:
                        _same_in_every_iteration(arg, [c.args[ai] for c in per_iteration], loop.name, body.node.name)
                        args.append(self.const_or_null(arg, call_stem, label, body.node.name))
                calls.append(CallEmit(call.symbol, f"{call_stem}_params", tuple(args)))
        table = OffsetTable(f"{stem}_offsets", tuple(tuple(r) for r in rows))
        self.offset_tables.append(table)
        self.steps.append(StepEmit(step, label, tuple(calls), LoopEmit(len(loop.iterations), table.c_name, loop.body_length)))


    def check_region(self, loop: str, iteration: Iteration, region: Region) -> None:
        """Codegen re-checks what it prints: the region lies inside its buffer, and a strided
        region reaches only a kernel that takes its row stride (the call's TensorArg and
        params carry it)."""
        tensor = iteration.graph.tensor(region.tensor)
        if region.offset < 0 or region.end(tensor) > self.sizes[region.buffer]:
            raise TinycError(f"loop {loop}: region {region.tensor} [{region.offset}, {region.end(tensor)}) lies "
                             f"outside its buffer {region.buffer} of {self.sizes[region.buffer]} bytes")
        if region.is_strided(tensor):
            pitch = region.row_stride // tensor.dtype.itemsize
            for body in iteration.steps:
                for call in body.calls:
                    for arg in call.args:
                        if isinstance(arg, TensorArg) and arg.tensor == region.tensor and arg.row_stride != pitch:
                            raise TinycError(f"loop {loop}: {call.symbol} of node {body.node.name} reads region "
                                             f"{region.tensor} without its row stride {pitch} (kernel registry bug)")


def _tensor_of(arg: object, loop: str) -> str:
    if not isinstance(arg, TensorArg):
        raise TinycError(f"loop {loop}: an iteration passes {arg!r} where the first passes a tensor")
    return arg.tensor


def _same_in_every_iteration(first: object, args: list[object], loop: str, node: str) -> None:
    for arg in args:
        same = type(arg) is type(first) and (
            not isinstance(first, ConstArg) or (first.ctype == arg.ctype and np.array_equal(first.values, arg.values)))
        if not same:
            raise TinycError(f"loop {loop}, node {node}: a constant argument differs between iterations")


ARENA_MODES = ("static", "extern")


def build_context(program: Program, prefix: str, source: str, board: str, arena_mode: str = "static") -> EmitContext:
    prefix = check_prefix(prefix)
    if arena_mode not in ARENA_MODES:
        raise TinycError(f"--arena {arena_mode!r} is not one of {', '.join(ARENA_MODES)}")
    graph, plan = program.graph, check_plan(program.plan)  # no C from a plan that fails its proof
    emitter = _Emitter(program, prefix)
    emitter.run()
    offsets = emitter.offsets
    return EmitContext(
        prefix=prefix,
        macro=prefix.upper(),
        model_name=_comment_text(graph.name),
        source=_comment_text(source),
        board=board,
        banner=_comment_text(f"generated by tinyc {__version__} from {source} for board {board}, do not edit"),
        arena_bytes=plan.arena_bytes,
        inputs=_boundaries(graph.inputs, "input", offsets, graph),
        outputs=_boundaries(graph.outputs, "output", offsets, graph),
        consts=tuple(emitter.consts),
        params=tuple(emitter.params),
        steps=tuple(emitter.steps),
        param_arrays=tuple(emitter.param_arrays),
        offset_tables=tuple(emitter.offset_tables),
        timeline_steps=len(program.schedule),
        arena_mode=arena_mode,
        preserve_input=graph.preserve_inputs,
    )
