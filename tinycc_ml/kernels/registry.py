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

from ..errors import ModelError
from ..ir.graph import Graph, Node
from ..ir.layout import CHW, NHWC, is_alias
from ..quant.fixedpoint import ScaleRangeError
from .boundary import BOUNDARY_FUNCTIONS, BoundaryFunction
from .call import KernelCall
from .common import KernelLayoutError
from .conv import CONV_VARIANTS, FULLY_CONNECTED_VARIANTS, explain_conv, in_place_capable
from .elementwise import ELEMENTWISE_VARIANTS
from .movement import MOVEMENT_VARIANTS
from .onnx_arith import ONNX_VARIANTS
from .pool import POOL_VARIANTS
from .target import HOST_TARGET, KernelTarget
from .variant import KernelVariant

VARIANTS: tuple[KernelVariant, ...] = (
    *CONV_VARIANTS, *FULLY_CONNECTED_VARIANTS, *ONNX_VARIANTS, *ELEMENTWISE_VARIANTS, *POOL_VARIANTS,
    *MOVEMENT_VARIANTS,
)
_BY_SYMBOL: dict[str, KernelVariant] = {v.symbol: v for v in VARIANTS}
assert len(_BY_SYMBOL) == len(VARIANTS), "two kernel variants share a symbol"

__all__ = ["CHW", "HOST_TARGET", "NHWC", "VARIANTS", "BoundaryFunction", "KernelLayoutError", "KernelTarget",
           "in_place_capable", "kernel_calls", "node_calls", "scratch_bytes", "select", "variant"]


def variant(symbol: str) -> KernelVariant:
    """The record of a kernel symbol (KeyError for a symbol no record has)."""
    return _BY_SYMBOL[symbol]


def select(node: Node, graph: Graph, target: KernelTarget = HOST_TARGET) -> KernelVariant:
    """The variant that runs `node` on `target`."""
    candidates = [v for v in VARIANTS if node.kind in v.op_kinds]
    if not candidates:
        raise ModelError(f"node {node.name}: no C kernel implements op {node.kind}")
    for candidate in candidates:
        if candidate.applies(node, graph, target):
            return candidate
    if node.kind == "Conv2d":
        raise explain_conv(node, graph)
    raise KernelLayoutError(f"node {node.name} ({node.kind}): no kernel variant applies on {target.core} (pass bug)")


def kernel_calls(node: Node, graph: Graph, target: KernelTarget = HOST_TARGET) -> list[KernelCall]:
    """The C calls that execute `node` on `target`, in order (empty when nothing moves)."""
    chosen = select(node, graph, target)
    try:
        return chosen.build(node, graph, chosen)
    except ScaleRangeError as exc:  # the node's scales, as the model gives them, have no int8 kernel
        raise ModelError(f"node {node.name!r} ({node.kind}): {exc}; {exc.advice}") from None


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
