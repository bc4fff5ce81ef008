"""The steps of a Program: a node run through its kernel calls, or a loop over regions.

A LoopStep runs a body of nodes once per region, e.g. a patch stage run band by band:
each iteration has its own small graph (the region tensors, with the shapes and pads of
that iteration's part of the image) and its own kernel calls, and every region tensor
sits at a byte offset inside a buffer of the Program (a resident tensor of the graph, or
a buffer scoped to the loop body, which lives only inside one iteration), with a row
stride when it is a window narrower than that buffer's image (a patch of a 2-D grid). Liveness
(memory/liveness.py) turns steps into buffer requests, codegen prints a loop over
constant tables computed from the iterations, and the plan-aware interpreter runs the
same iterations on one arena.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from .ir.graph import Graph, Node, Tensor
from .kernels.call import KernelCall


@dataclass(frozen=True)
class NodeStep:
    node: Node
    calls: tuple[KernelCall, ...]  # none for an alias node (no byte moves)


@dataclass(frozen=True)
class Region:
    """A region tensor of an iteration, stored `offset` bytes into a Program buffer.

    A region is a 2-D window of its buffer: its rows (an NHWC image's y, batch outermost)
    of w * c bytes each, `row_stride` bytes apart. A window narrower than the image it
    lies in (a patch of a column band or a tile) has a row stride longer than its rows, so
    its bytes are NOT contiguous: only the kernels whose record takes row strides run on
    it, and no overlap fact (they assume dense tensors) is derived for its calls.
    A band of a channel-major (CHW) image (`planes`) is such a window too, one level up:
    its units are the channel planes (h * w bytes each, the band's rows of one channel),
    `row_stride` bytes apart (the whole image's plane)."""

    tensor: str  # its name in the iteration's graph (and in the calls' TensorArgs)
    buffer: str  # the Program tensor (resident, or scoped to the loop) holding it
    offset: int  # bytes from the start of that buffer to its first byte
    row_stride: int = 0  # bytes from one of its rows to the next in the buffer; 0: packed (dense)
    planes: bool = False  # a CHW band: row_stride steps from one channel plane to the next

    def rows(self, tensor: Tensor) -> tuple[int, int, int]:
        """(rows, bytes per row, bytes from one row to the next) of the region `tensor` holds
        (planes: (channel planes, bytes of the band in one plane, bytes between planes))."""
        if self.row_stride == 0:
            return 1, tensor.nbytes, tensor.nbytes
        n, c, h, w = tensor.shape
        if self.planes:
            return n * c, h * w * tensor.dtype.itemsize, self.row_stride
        row = w * c * tensor.dtype.itemsize
        return n * h, row, self.row_stride

    def end(self, tensor: Tensor) -> int:
        """One past its last byte, from the start of the buffer."""
        count, row, pitch = self.rows(tensor)
        return self.offset + (count - 1) * pitch + row if count else self.offset

    def is_strided(self, tensor: Tensor) -> bool:
        count, row, pitch = self.rows(tensor)
        return count > 1 and pitch != row


@dataclass(frozen=True)
class Iteration:
    graph: Graph  # the region tensors and the nodes as they run on them in this iteration
    steps: tuple[NodeStep, ...]  # the body in order: the same nodes and kernels every iteration
    regions: tuple[Region, ...]  # every activation of `graph`

    def __post_init__(self) -> None:
        for r in self.regions:
            if r.row_stride:
                t = self.graph.tensor(r.tensor)
                unit = 2 if r.planes else 1  # a plane holds h * w bytes, an NHWC row w * c
                if len(t.shape) != 4 or r.row_stride < t.shape[unit] * t.shape[3] * t.dtype.itemsize:
                    raise ValueError(f"region {r.tensor}: row stride {r.row_stride} B needs an NHWC image whose "
                                     f"rows are at most that long (shape {list(t.shape)})")

    def region(self, tensor: str) -> Region:
        for r in self.regions:
            if r.tensor == tensor:
                return r
        raise KeyError(tensor)

    def row_strides(self) -> dict[str, int]:
        """Region tensor -> elements between its rows, for the strided regions (the kernel
        registry's `strides`: only variants that take row strides run on them)."""
        strides = {}
        for r in self.regions:
            t = self.graph.tensor(r.tensor)
            if r.is_strided(t):
                strides[r.tensor] = r.row_stride // t.dtype.itemsize
        return strides


@dataclass(frozen=True)
class LoopStep:
    name: str  # C-identifier-safe, unique in the Program
    nodes: tuple[Node, ...]  # the Program graph's nodes the body computes, in body order
    iterations: tuple[Iteration, ...]
    scoped: tuple[str, ...] = ()  # Program tensors that live only inside one iteration

    def __post_init__(self) -> None:
        bodies = {tuple((s.node.name, tuple(c.symbol for c in s.calls)) for s in it.steps) for it in self.iterations}
        if len(bodies) != 1:
            raise ValueError(f"loop {self.name}: every iteration must run the same nodes and kernels")
        if tuple(s.node.name for s in self.iterations[0].steps) != tuple(n.name for n in self.nodes):
            raise ValueError(f"loop {self.name}: the body must compute its nodes in order")

    @property
    def body_length(self) -> int:
        return len(self.nodes)


Step = Union[NodeStep, LoopStep]
