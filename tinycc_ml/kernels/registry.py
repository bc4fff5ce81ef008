"""Kernel selection: IR node + target -> the C kernel calls that execute it.

This is the one place where variants are chosen (the kernels never dispatch): the
records of every family (conv.py, onnx_arith.py, elementwise.py, pool.py, movement.py) are listed in
VARIANTS in priority order, and a node runs the first record of its op kind that applies
to it on the target. A node no record applies to is a compiler bug upstream
(KernelLayoutError: a tensor in a layout no kernel reads); an op no C kernel implements,
or a model the kernels cannot run (scales out of range, a broadcast of too many dims), is
a ModelError naming the node.

Spatial kernels (conv, pooling) read and write NHWC, except the channel-major conv
variants; the layout pass makes it so.
"""

from __future__ import annotations

from dataclasses import replace

from ..errors import ModelError
from ..ir.graph import Graph, Node
from ..ir.layout import CHW, NHWC, is_alias
from ..quant.fixedpoint import ScaleRangeError
from .boundary import BOUNDARY_FUNCTIONS, BoundaryFunction
from .call import KernelArg, KernelCall, TensorArg
from .common import KernelLayoutError
from .conv import CONV_VARIANTS, FULLY_CONNECTED_VARIANTS, explain_conv, in_place_capable
from .elementwise import ELEMENTWISE_VARIANTS
from .movement import MOVEMENT_VARIANTS
from .onnx_arith import ONNX_VARIANTS
from .pool import POOL_VARIANTS
from .target import HOST_TARGET, KernelTarget
from .variant import NO_STRIDES, KernelVariant, RowStrides

VARIANTS: tuple[KernelVariant, ...] = (
    *CONV_VARIANTS, *FULLY_CONNECTED_VARIANTS, *ONNX_VARIANTS, *ELEMENTWISE_VARIANTS, *POOL_VARIANTS,
    *MOVEMENT_VARIANTS,
)
_BY_SYMBOL: dict[str, KernelVariant] = {v.symbol: v for v in VARIANTS}
assert len(_BY_SYMBOL) == len(VARIANTS), "two kernel variants share a symbol"

__all__ = ["CHW", "HOST_TARGET", "NHWC", "VARIANTS", "BoundaryFunction", "KernelLayoutError", "KernelTarget",
           "RowStrides", "in_place_capable", "kernel_calls", "node_calls", "scratch_bytes", "select",
           "strided_tensors", "variant"]


def variant(symbol: str) -> KernelVariant:
    """The record of a kernel symbol (KeyError for a symbol no record has)."""
    return _BY_SYMBOL[symbol]


def strided_tensors(node: Node, strides: RowStrides) -> list[str]:
    """The node's tensors that are regions of a larger image (listed with a row stride)."""
    return [name for name in dict.fromkeys((*node.inputs, *node.outputs)) if name in strides]


def select(node: Node, graph: Graph, target: KernelTarget = HOST_TARGET,
           strides: RowStrides = NO_STRIDES) -> KernelVariant:
    """The variant that runs `node` on `target`; with strided tensors, only a variant whose
    record takes row strides (the others would read a region as if it were dense)."""
    candidates = [v for v in VARIANTS if node.kind in v.op_kinds]
    if not candidates:
        raise ModelError(f"node {node.name}: no C kernel implements op {node.kind}")
    strided = strided_tensors(node, strides)
    if strided:
        candidates = [v for v in candidates if v.row_strides]
    avoid = getattr(node.attrs, "avoid_variants", ())  # a memory decision (passes/scratch.py)
    for candidate in candidates:
        if candidate.symbol not in avoid and candidate.applies(node, graph, target):
            return candidate
    if strided:
        raise KernelLayoutError(f"node {node.name} ({node.kind}): {', '.join(strided)} are regions of a larger image "
                                f"(row strides), and no kernel variant that takes row strides applies (pass bug)")
    if node.kind == "Conv2d":
        raise explain_conv(node, graph)
    raise KernelLayoutError(f"node {node.name} ({node.kind}): no kernel variant applies on {target.core} (pass bug)")


def kernel_calls(node: Node, graph: Graph, target: KernelTarget = HOST_TARGET,
                 strides: RowStrides = NO_STRIDES) -> list[KernelCall]:
    """The C calls that execute `node` on `target`, in order (empty when nothing moves).
    `strides`: the row strides of tensors that are regions of a larger image (a patch)."""
    chosen = select(node, graph, target, strides)
    try:
        calls = chosen.build(node, graph, chosen, strides)
    except ScaleRangeError as exc:  # the node's scales, as the model gives them, have no int8 kernel
        raise ModelError(f"node {node.name!r} ({node.kind}): {exc}; {exc.advice}") from None
    if not strided_tensors(node, strides):
        return calls
    return [replace(call, args=tuple(_with_stride(arg, strides) for arg in call.args)) for call in calls]


def _with_stride(arg: KernelArg, strides: RowStrides) -> KernelArg:
    if isinstance(arg, TensorArg) and arg.tensor in strides:
        return TensorArg(arg.tensor, strides[arg.tensor])
    return arg


def node_calls(graph: Graph, target: KernelTarget = HOST_TARGET) -> dict[str, tuple[KernelCall, ...]]:
    """The kernel calls of every node; alias nodes move no byte and call nothing."""
    return {node.name: () if is_alias(node, graph) else tuple(kernel_calls(node, graph, target))
            for node in graph.nodes}


def scratch_bytes(call: KernelCall) -> int:
    """Scratch the call needs: the Python twin of the kernel's C _get_buffer_size (tests
    compare this with the C function)."""
    return variant(call.symbol).scratch(call.params)


def boundary_function(symbol: str) -> BoundaryFunction:
    return BOUNDARY_FUNCTIONS[symbol]
