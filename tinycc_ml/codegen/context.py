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
from ..program import Program

CTYPE_BYTES = {"int8_t": 1, "int32_t": 4}
BOUNDARY_CTYPES = {"int8": "int8_t", "float32": "float"}
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
class Arg:
    kind: str  # "arena", "scratch", "const", "null"
    offset: int = 0
    c_name: str = ""


@dataclass(frozen=True)
class CallEmit:
    symbol: str
    params: str
    args: tuple[Arg, ...]


@dataclass(frozen=True)
class StepEmit:
    comment: str  # which node runs at this step (and why nothing is called, for an alias)
    calls: tuple[CallEmit, ...]


@dataclass(frozen=True)
class Boundary:
    onnx_name: str
    ctype: str  # the caller's element type: int8_t or float
    is_float: bool
    size: int
    shape: tuple[int, ...]
    offset: int
    scale: str  # float32 literal
    zero_point: int


@dataclass(frozen=True)
class EmitContext:
    prefix: str  # C identifier prefix, e.g. "model"
    macro: str  # macro prefix, e.g. "MODEL"
    model_name: str
    source: str
    board: str
    banner: str
    arena_bytes: int
    input: Boundary
    output: Boundary
    consts: tuple[ConstArray, ...]
    params: tuple[ParamsDecl, ...]
    steps: tuple[StepEmit, ...]  # the schedule, one entry per node, in order

    @property
    def weights_bytes(self) -> int:
        return sum(c.nbytes for c in self.consts) + sum(p.nbytes for p in self.params)


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


def _boundary(io: BoundaryIO, offset: int) -> Boundary:
    if io.onnx_dtype not in BOUNDARY_CTYPES:
        raise ModelError(f"graph {io.onnx_name!r}: dtype {io.onnx_dtype} is not supported at the boundary (int8 or float32)")
    size = int(np.prod(io.shape, dtype=np.int64)) if io.shape else 1
    return Boundary(io.onnx_name, BOUNDARY_CTYPES[io.onnx_dtype], io.onnx_dtype == "float32", size,
                    tuple(io.shape), offset, c_float(io.quant.s), io.quant.zp)


def _single(ios: tuple[BoundaryIO, ...], what: str, graph: Graph) -> BoundaryIO:
    if len(ios) != 1:
        raise ModelError(f"model {graph.name!r} has {len(ios)} {what}s; tinyc compiles models with exactly one input and one output")
    return ios[0]


def build_context(program: Program, prefix: str, source: str, board: str) -> EmitContext:
    prefix = check_prefix(prefix)
    graph, plan = program.graph, program.plan
    offsets = plan.tensor_offsets()
    consts: list[ConstArray] = []
    params: list[ParamsDecl] = []
    steps: list[StepEmit] = []
    for step, node in enumerate(program.schedule):
        node_calls: tuple[KernelCall, ...] = tuple(program.calls.get(node.name, ()))
        label = _comment_text(f"step {step}: {node.name} ({node.kind})")
        if not node_calls:
            steps.append(StepEmit(label + (": an alias, no byte moves" if program.is_alias(node) else ": no call"), ()))
            continue
        calls: list[CallEmit] = []
        for ci, call in enumerate(node_calls):
            stem = f"{prefix}_op{step}" + (f"_{ci}" if len(node_calls) > 1 else "")
            fields, n_ints = _struct_fields(call.params)
            params.append(ParamsDecl(f"{stem}_params", call.params_type, fields, 4 * n_ints))
            args = []
            for ai, arg in enumerate(call.args):
                if isinstance(arg, TensorArg):
                    args.append(Arg("arena", offsets[arg.tensor]))
                elif isinstance(arg, ScratchArg):
                    if arg.nbytes > 0:
                        args.append(Arg("scratch", plan.offset(scratch_name(node.name, ci, ai))))
                    else:
                        args.append(Arg("null"))
                elif isinstance(arg, ConstArg):
                    c_name = f"{stem}_{re.sub(r'[^A-Za-z0-9_]', '_', arg.name)}"
                    consts.append(_const_array(c_name, arg, label))
                    args.append(Arg("const", c_name=c_name))
                elif isinstance(arg, NullArg):
                    args.append(Arg("null"))
                else:
                    raise TinycError(f"{node.name}: kernel argument {arg!r} has no C form")
            calls.append(CallEmit(call.symbol, f"{stem}_params", tuple(args)))
        steps.append(StepEmit(label, tuple(calls)))
    inp = _single(graph.inputs, "input", graph)
    out = _single(graph.outputs, "output", graph)
    return EmitContext(
        prefix=prefix,
        macro=prefix.upper(),
        model_name=_comment_text(graph.name),
        source=_comment_text(source),
        board=board,
        banner=_comment_text(f"generated by tinyc {__version__} from {source} for board {board}, do not edit"),
        arena_bytes=plan.arena_bytes,
        input=_boundary(inp, offsets[inp.tensor]),
        output=_boundary(out, offsets[out.tensor]),
        consts=tuple(consts),
        params=tuple(params),
        steps=tuple(steps),
    )
