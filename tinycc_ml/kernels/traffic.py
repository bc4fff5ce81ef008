"""A node's memory traffic, from the access models its calls' variant records name
(kernels/access.py): what the overlap facts are derived from."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .access import CallTraffic, Reads, Traffic
from .call import KernelCall, TensorArg
from .registry import variant


def call_traffic(call: KernelCall) -> CallTraffic | None:
    """The call's traffic, or None when its kernel has no model (no overlap allowed). The
    models describe dense tensors: a call on a region of a larger image (a row stride) has
    none, so no overlap fact is ever derived for it or replayed on it."""
    if any(isinstance(a, TensorArg) and a.row_stride for a in call.args):
        return None
    model = variant(call.symbol).access
    return None if model is None else model(call.params)


def node_traffic(calls: Sequence[KernelCall]) -> Traffic | None:
    """The traffic of a node's calls in order, on tensor names. None when a call has no
    model, writes more than one tensor, or the calls disagree on the output."""
    if not calls:
        return None
    output: str | None = None
    blocks = 0
    replayable = True
    wpos, wblock = [], []
    reads: dict[str, list[Reads]] = {}
    for call in calls:
        traffic = call_traffic(call)
        if traffic is None:
            return None
        tensors = [a.tensor for a in call.args if isinstance(a, TensorArg)]
        *inputs, out = tensors  # every kernel writes its last tensor argument
        if output not in (None, out) or len(inputs) != len(traffic.reads):
            return None
        output = out
        replayable = replayable and traffic.replayable
        wpos.append(traffic.write_pos)
        wblock.append(traffic.write_block + blocks)
        for name, r in zip(inputs, traffic.reads):
            reads.setdefault(name, []).append(r.shifted(blocks))
        blocks += traffic.blocks
    assert output is not None
    return Traffic(
        output,
        blocks,
        np.concatenate(wpos),
        np.concatenate(wblock),
        {name: Reads.concat(parts) for name, parts in reads.items()},
        replayable,
    )
