"""A patch stage as find_stage finds it, and the error for a (K, grid) that cannot be one:
apart from stage.py so the search's memo (memo.py) can name them without importing the
stage's construction."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import TinycError
from ..ir.graph import Node


class StageError(TinycError):
    """This (K, grid) cannot be a patch stage; the message says why."""


@dataclass(frozen=True)
class Stage:
    split: str  # K: the tensor the bands tile
    nodes: tuple[Node, ...]  # in the straight program's order; the last produces K
    inputs: tuple[str, ...]  # resident tensors the stage reads from outside
    planar: frozenset[str] = frozenset()  # its channel-major (CHW) images: regions of their planes

    @property
    def scoped(self) -> tuple[str, ...]:
        return tuple(sorted(o for n in self.nodes for o in n.outputs if o != self.split))
