"""Transpose, Reshape, Concat and Pad over arbitrary dim orders: the strided-copy kernels
equal the interpreter bit for bit, under the sanitizers too."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from kernel_support import act, check_kernels, per_tensor, permutations, seeds, single_node

from tinycc_ml.ir.graph import QuantParams
from tinycc_ml.errors import ModelError
from tinycc_ml.ir import ops
from tinycc_ml.kernels.physical import is_row_major
from tinycc_ml.kernels.registry import kernel_calls

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def shapes(max_rank: int, max_dim: int = 4, min_rank: int = 0) -> st.SearchStrategy[tuple[int, ...]]:
    return st.lists(st.integers(1, max_dim), min_size=min_rank, max_size=max_rank).map(tuple)


@st.composite
def transpose_graphs(draw: st.DrawFn):
    shape = draw(shapes(6, 3, min_rank=1))  # rank 0: see the report (interp returns [1])
    rank = len(shape)
    perm = draw(permutations(rank))
    q = draw(per_tensor())
    x, y = act("x", shape, q), act("y", tuple(shape[p] for p in perm), q)
    orders = {"x": draw(permutations(rank)), "y": draw(permutations(rank))}
    return single_node(ops.Transpose(perm), [x], y, orders)


@SETTINGS
@given(graph=transpose_graphs(), seed=seeds)
def test_transpose_matches_interpreter(kernel_runners, graph, seed):
    check_kernels(graph, kernel_runners, seed)


def _factorizations(size: int) -> st.SearchStrategy[tuple[int, ...]]:
    """Random shapes with `size` elements (1s sprinkled in)."""

    @st.composite
    def build(draw: st.DrawFn) -> tuple[int, ...]:
        dims, rest = [], size
        while rest > 1 and len(dims) < 4:
            divisors = [d for d in range(2, rest + 1) if rest % d == 0]
            d = draw(st.sampled_from(divisors))
            dims.append(d)
            rest //= d
        if rest > 1:
            dims.append(rest)
        for _ in range(draw(st.integers(0, 1))):
            dims.insert(draw(st.integers(0, len(dims))), 1)
        return tuple(dims)

    return build()


@st.composite
def reshape_graphs(draw: st.DrawFn):
    x_shape = draw(shapes(4, 5))
    y_shape = draw(_factorizations(int(np.prod(x_shape, dtype=np.int64))))
    q = draw(per_tensor())
    x_order, y_order = draw(permutations(len(x_shape))), draw(permutations(len(y_shape)))
    # One side row-major (the other any layout): what one strided copy can do.
    if draw(st.booleans()):
        x_order = tuple(range(len(x_shape)))
    else:
        y_order = tuple(range(len(y_shape)))
    return single_node(ops.Reshape(), [act("x", x_shape, q)], act("y", y_shape, q), {"x": x_order, "y": y_order})


@SETTINGS
@given(graph=reshape_graphs(), seed=seeds)
def test_reshape_matches_interpreter(kernel_runners, graph, seed):
    check_kernels(graph, kernel_runners, seed)


def test_reshape_between_row_major_tensors_is_free():
    q = QuantParams.per_tensor(0.05, -3)  # quantization does not matter to where bytes go
    graph = single_node(ops.Reshape(), [act("x", (1, 3, 4, 5), q)], act("y", (1, 60), q))
    assert kernel_calls(graph.nodes[0], graph) == []
    # NHWC (1, C, H, 1) -> (1, C, H): the bytes already sit in (H, C) order both times.
    graph = single_node(
        ops.Reshape(), [act("x", (1, 3, 4, 1), q)], act("y", (1, 3, 4), q), {"x": (0, 2, 3, 1), "y": (0, 2, 1)}
    )
    assert kernel_calls(graph.nodes[0], graph) == []


def test_reshape_needing_two_copies_is_a_model_error():
    q = QuantParams.per_tensor(0.05, -3)  # quantization does not matter to where bytes go
    graph = single_node(
        ops.Reshape(), [act("x", (1, 2, 3, 4), q)], act("y", (1, 6, 4), q), {"x": (0, 2, 3, 1), "y": (0, 2, 1)}
    )
    assert not is_row_major((1, 2, 3, 4), (0, 2, 3, 1)) and not is_row_major((1, 6, 4), (0, 2, 1))
    with pytest.raises(ModelError, match=r"node op \(Reshape\): x \(dim order \[0, 2, 3, 1\]\) to y \(dim order \[0, 2, 1\]\) needs two copies"):
        kernel_calls(graph.nodes[0], graph)


@st.composite
def concat_graphs(draw: st.DrawFn):
    base = draw(shapes(4, 4, min_rank=1))
    rank = len(base)
    axis = draw(st.integers(0, rank - 1))
    q = draw(per_tensor())
    parts = []
    for i in range(draw(st.integers(1, 4))):
        shape = list(base)
        shape[axis] = draw(st.integers(1, 4))
        parts.append(act(f"x{i}", shape, q))
    out_shape = list(base)
    out_shape[axis] = sum(p.shape[axis] for p in parts)
    order = draw(permutations(rank))
    orders = {p.name: order for p in parts} | {"y": order}
    return single_node(ops.Concat(axis), parts, act("y", out_shape, q), orders)


@SETTINGS
@given(graph=concat_graphs(), seed=seeds)
def test_concat_matches_interpreter(kernel_runners, graph, seed):
    assert len(kernel_calls(graph.nodes[0], graph)) == len(graph.nodes[0].inputs)
    check_kernels(graph, kernel_runners, seed)


@st.composite
def pad_graphs(draw: st.DrawFn):
    shape = draw(shapes(5, 4, min_rank=1))
    rank = len(shape)
    begins = [draw(st.integers(-2, 3)) for _ in range(rank)]
    ends = [draw(st.integers(-2, 3)) for _ in range(rank)]
    out_shape = tuple(d + b + e for d, b, e in zip(shape, begins, ends))
    assume(all(d >= 1 for d in out_shape))
    q = draw(per_tensor())
    order = draw(permutations(rank))
    attrs = ops.Pad(tuple(begins + ends), draw(st.integers(-128, 127)))
    return single_node(attrs, [act("x", shape, q)], act("y", out_shape, q), {"x": order, "y": order})


@SETTINGS
@given(graph=pad_graphs(), seed=seeds)
def test_pad_matches_interpreter(kernel_runners, graph, seed):
    if len(graph.tensor("x").shape) == 5:
        # 5 axes fit the 4-D kernel only when an unpadded axis merges into its outer neighbour.
        try:
            kernel_calls(graph.nodes[0], graph)
        except ModelError as error:
            assert "pads 5 dims in memory; the kernel supports 4" in str(error)
            assume(False)
    check_kernels(graph, kernel_runners, seed)
