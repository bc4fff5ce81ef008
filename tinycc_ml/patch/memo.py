"""What one patch search derives once and all its candidates share.

The search builds a few hundred candidate loops of the same stages; most of their work
is alike across candidates (a band of one height and pads recurs across band counts, and
so do its kernel calls and their access models). A SearchMemo holds those results for
one `choose_patch` call: it is made there and passed down explicitly, so no state
outlives the search and every function stays a function of its arguments (a memo only
saves recomputing what they would return).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ..kernels.call import KernelCall
from .band_facts import Models
from .stage_types import Stage, StageError

# (the int16-weight rule, node, attrs, region shapes, row strides) -> (the region names the calls
# were built for, the calls): stage.py renames them to each patch's own regions.
CallMemo = dict[tuple, tuple[list[str], list[KernelCall]]]


@dataclass(frozen=True)
class SearchMemo:
    calls: CallMemo = field(default_factory=dict)  # kernel calls per node geometry (stage._node_calls)
    models: Models = field(default_factory=dict)  # kernel access models per node geometry (band_facts.py)
    stages: dict[tuple[str, bool], Stage | StageError] = field(default_factory=dict)  # (split, tiles) -> find_stage
