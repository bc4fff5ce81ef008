"""One record per kernel variant: everything the compiler knows about one C kernel.

A variant is one C function (`symbol`) of runtime_c. Its record says when it runs
(`applies`: a node, its graph and the target), how a node becomes its calls (`build`,
shared by a family such as the convolutions), how the weights are laid out for it, the
scratch it needs (the Python twin of its C `_get_buffer_size`), whether it addresses
its tensors through row strides (so it can read and write a region of a larger image,
e.g. a patch), its memory access
pattern (the model the overlap facts are derived from; None: no overlap is ever
allowed), what a fact about it says, and which source file defines it. The registry
picks among the records; the runtime source table, the C test driver's dispatch and the
struct-size list are generated from them (targets/runtime_build.py,
targets/test_support.py). Adding a variant is one record, its C file and its tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Mapping

from ..ir.graph import Graph, Node
from .access import Model
from .call import KernelCall, ParamStruct
from .target import KernelTarget

if TYPE_CHECKING:
    import numpy as np

Applies = Callable[[Node, Graph, KernelTarget], bool]
# Tensor -> elements between the starts of consecutive rows (an NHWC image's y), for the
# tensors of a call that are regions of a larger image (a patch); a tensor not listed is
# dense. Only variants whose record says `row_strides` ever see a listed tensor.
RowStrides = Mapping[str, int]
Build = Callable[[Node, Graph, "KernelVariant", RowStrides], list[KernelCall]]
NO_STRIDES: RowStrides = {}


def no_scratch(params: ParamStruct) -> int:
    return 0


def always(node: Node, graph: Graph, target: KernelTarget) -> bool:
    return True


@dataclass(frozen=True)
class KernelVariant:
    symbol: str  # the C function, tinyc_<op>[_<variant>]_s8
    params_type: str  # its parameter struct (runtime_c/include/tinyc/tinyc_nn.h)
    op_kinds: tuple[str, ...]  # the IR op kinds it implements
    c_args: int  # C arguments after the params pointer
    source: str  # the runtime_c/src file that defines it
    build: Build  # node -> its calls (the family's builder, reading this record)
    applies: Applies = always  # when it runs; the first applying record of an op kind wins
    weight_layout: str = ""  # the order the registry writes the weights in, e.g. "OHWI"
    reorder_weights: Callable[["np.ndarray"], "np.ndarray"] | None = None  # OIHW -> weight_layout
    scratch: Callable[[ParamStruct], int] = no_scratch  # twin of <symbol>_get_buffer_size
    access: Model | None = None  # its loop order, for overlap facts (None: never overlap)
    reason: str = ""  # what an overlap fact about it says, e.g. "elementwise add"
    describe: Callable[[ParamStruct], str] | None = None  # a reason that depends on the call
    nested_types: tuple[str, ...] = ()  # struct types nested in params_type (for the sizeof list)
    row_strides: bool = False  # takes regions of a larger image (row strides); False: dense tensors only
    # its weights are int16 copies (one more flash byte per weight), chosen only under the flash
    # rule of kernels/wide_weights.py and counted in report.json's int16_weights_extra_bytes
    int16_weights: bool = False

    def fact_reason(self, params: ParamStruct) -> str:
        return self.describe(params) if self.describe is not None else (self.reason or self.symbol)

    @property
    def has_scratch(self) -> bool:
        return self.scratch is not no_scratch
