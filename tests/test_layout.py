"""The layout pass: dim orders, inserted copies, and which Reshape/Transpose are aliases."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings, strategies as st

from codegen_support import act, conv, conv_weights, graph, kws_like, vww_like
from tinycc_ml.ir import ops
from tinycc_ml.ir.graph import Node
from tinycc_ml.passes import PIPELINE, is_alias, layout, run_pipeline
from tinycc_ml.passes.layout import NHWC, transpose_alias_order
from tinycc_ml.lowering import pass_context

HOST_PASSES = pass_context()  # the passes as a host compile runs them

ROW4 = (0, 1, 2, 3)


def test_pipeline_is_named_and_starts_with_layout():
    assert [p.name for p in PIPELINE][:1] == ["layout"]


def test_tf2onnx_image_input_transpose_is_an_alias():
    g = layout(vww_like(), HOST_PASSES)
    assert [n.name for n in g.nodes] == ["transpose_in", "conv", "pool", "flatten"]  # no copy inserted
    assert g.dim_orders == {"in": ROW4, "t": NHWC, "c": NHWC, "p": NHWC, "out": (0, 1)}
    aliases = {n.name: is_alias(n, g) for n in g.nodes}
    assert aliases == {"transpose_in": True, "conv": False, "pool": False, "flatten": True}


def test_kws_reshapes_are_aliases():
    g = layout(kws_like(), HOST_PASSES)
    assert [n.name for n in g.nodes] == ["reshape_in", "conv", "pool", "flatten", "fc", "softmax"]
    assert g.dim_orders["in"] == ROW4
    assert g.dim_orders["r"] == NHWC and g.dim_orders["c"] == NHWC and g.dim_orders["p"] == NHWC
    assert g.dim_orders["f"] == (0, 1) and g.dim_orders["out"] == (0, 1)
    assert [n.name for n in g.nodes if is_alias(n, g)] == ["reshape_in", "flatten"]


def test_nchw_input_into_conv_gets_copies_in_and_out():
    w, b = conv_weights("k", 2, 3, 1)
    g0 = graph([act("x", (1, 3, 4, 4)), w, b, act("y", (1, 2, 4, 4))],
               [conv("conv", "x", "k_w", "k_b", "y")], "x", "y")
    g = layout(g0, HOST_PASSES)
    assert [(n.name, n.kind, n.inputs[0], n.outputs[0]) for n in g.nodes] == [
        ("layout:x__nhwc", "Transpose", "x", "x__nhwc"),
        ("conv", "Conv2d", "x__nhwc", "y__nhwc"),
        ("layout:y", "Transpose", "y__nhwc", "y"),
    ]
    assert g.nodes[0].attrs == ops.Transpose(perm=ROW4)  # logically the identity: a layout copy
    assert g.dim_orders == {"x": ROW4, "x__nhwc": NHWC, "k_w": NHWC, "y__nhwc": NHWC, "y": ROW4} or \
        g.dim_orders == {"x": ROW4, "x__nhwc": NHWC, "y__nhwc": NHWC, "y": ROW4}
    assert "k_w" not in g.dim_orders  # constants have no activation layout
    assert not any(is_alias(n, g) for n in g.nodes)
    assert g0.nodes[0].inputs[0] == "x"  # the pass is pure


def test_flatten_of_a_real_image_copies_to_row_major_first():
    w, b = conv_weights("k", 4, 1, 1)
    g0 = graph([act("x", (1, 1, 2, 2)), w, b, act("c", (1, 4, 2, 2)), act("y", (1, 16))],
               [conv("conv", "x", "k_w", "k_b", "c"), Node("flatten", ops.Reshape(), ("c",), ("y",))], "x", "y")
    g = layout(g0, HOST_PASSES)
    assert [n.name for n in g.nodes] == ["conv", "layout:c__rowmajor", "flatten"]  # x [1,1,2,2] is NHWC already
    assert g.dim_orders["c"] == NHWC and g.dim_orders["c__rowmajor"] == ROW4
    assert [is_alias(n, g) for n in g.nodes] == [False, False, True]


def test_elementwise_ops_keep_their_inputs_order():
    w, b = conv_weights("k", 2, 2, 1)
    tensors = [act("x", (1, 8, 8, 2)), act("t", (1, 2, 8, 8)), w, b, act("c", (1, 2, 8, 8)),
               act("s", (1, 2, 8, 8)), act("back", (1, 8, 8, 2))]
    nodes = [Node("t", ops.Transpose(perm=(0, 3, 1, 2)), ("x",), ("t",)),
             conv("conv", "t", "k_w", "k_b", "c"),
             Node("add", ops.Add(), ("c", "t"), ("s",)),
             Node("t_back", ops.Transpose(perm=(0, 2, 3, 1)), ("s",), ("back",))]
    g = layout(graph(tensors, nodes, "x", "back"), HOST_PASSES)
    assert [n.name for n in g.nodes] == ["t", "conv", "add", "t_back"]
    assert g.dim_orders["s"] == NHWC
    assert [is_alias(n, g) for n in g.nodes] == [True, False, False, True]


def test_transpose_into_the_graph_output_copies():
    g = layout(graph([act("x", (1, 2, 3, 4)), act("y", (1, 3, 2, 4))],
                     [Node("swap", ops.Transpose(perm=(0, 2, 1, 3)), ("x",), ("y",))], "x", "y"), HOST_PASSES)
    assert g.dim_orders == {"x": ROW4, "y": ROW4}
    assert [n.name for n in g.nodes] == ["swap"] and not is_alias(g.nodes[0], g)


def test_transpose_alias_order():
    assert transpose_alias_order((0, 3, 1, 2), ROW4) == NHWC
    assert transpose_alias_order((0, 2, 3, 1), NHWC) == ROW4


def _physical(values: np.ndarray, order: tuple[int, ...]) -> np.ndarray:
    return np.transpose(values, order).reshape(-1)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_is_alias_means_identical_bytes(data):
    """Property: a Transpose/Reshape is an alias exactly when its output's bytes under its
    dim order equal its input's bytes under the input's order."""
    rank = data.draw(st.integers(1, 4))
    shape = tuple(data.draw(st.lists(st.integers(1, 3), min_size=rank, max_size=rank)))
    dx = tuple(data.draw(st.permutations(range(rank))))
    x = np.arange(int(np.prod(shape))).reshape(shape)
    if data.draw(st.booleans()):
        perm = tuple(data.draw(st.permutations(range(rank))))
        y = np.transpose(x, perm)
        node = Node("n", ops.Transpose(perm=perm), ("x",), ("y",))
    else:
        new_shape = tuple(data.draw(st.sampled_from([(x.size,), (1, x.size), (x.size, 1, 1), shape[::-1]])))
        y = x.reshape(new_shape)
        node = Node("n", ops.Reshape(), ("x",), ("y",))
    dy = tuple(data.draw(st.permutations(range(y.ndim))))
    g = graph([act("x", x.shape), act("y", y.shape)], [node], "x", "y")
    g = g.__class__(**{**g.__dict__, "dim_orders": {"x": dx, "y": dy}})
    assert is_alias(node, g) == np.array_equal(_physical(x, dx), _physical(y, dy))


def test_layout_keeps_the_interpreter_result():
    from tinycc_ml.interp import run_core

    for g0 in (kws_like(), vww_like()):
        x = np.random.default_rng(1).integers(-128, 128, size=g0.tensor(g0.input_tensors()[0]).shape).astype(np.int8)
        before = run_core(g0, {g0.input_tensors()[0]: x})[g0.output_tensors()[0]]
        g = run_pipeline(g0, HOST_PASSES).graph
        after = run_core(g, {g.input_tensors()[0]: x})[g.output_tensors()[0]]
        assert before.tobytes() == after.tobytes()


def test_squeeze_of_an_nhwc_image_stays_an_alias():
    """Dropping a unit axis from an NHWC tensor moves no byte: no copy is inserted."""
    w, b = conv_weights("k", 4, 1, 1)
    g = layout(graph([act("x", (1, 1, 3, 2)), w, b, act("c", (1, 4, 3, 2)), act("s", (4, 3, 2)),
                      act("y", (4, 3, 2))],
                     [conv("conv", "x", "k_w", "k_b", "c"), Node("squeeze", ops.Reshape(), ("c",), ("s",)),
                      Node("relu", ops.Lut(table=tuple(max(v, 0) for v in range(-128, 128))), ("s",), ("y",))],
                     "x", "y"), HOST_PASSES)
    assert [n.name for n in g.nodes] == ["conv", "squeeze", "relu", "layout:y"]
    assert g.dim_orders["s"] == (1, 2, 0) and is_alias(g.nodes[1], g)
    assert g.dim_orders["y__order120"] == (1, 2, 0) and g.dim_orders["y"] == (0, 1, 2)


def test_an_output_read_by_a_later_conv_is_not_copied_back():
    w, b = conv_weights("k", 2, 2, 1)
    w2, b2 = conv_weights("m", 2, 2, 1)
    g = layout(graph([act("x", (1, 2, 3, 3)), w, b, w2, b2, act("y", (1, 2, 3, 3)), act("z", (1, 2, 3, 3))],
                     [conv("c1", "x", "k_w", "k_b", "y"), conv("c2", "y", "m_w", "m_b", "z")], "x", "y"), HOST_PASSES)
    assert [(n.name, n.inputs[0], n.outputs[0]) for n in g.nodes] == [
        ("layout:x__nhwc", "x", "x__nhwc"), ("c1", "x__nhwc", "y__nhwc"), ("layout:y", "y__nhwc", "y"),
        ("c2", "y__nhwc", "z"),
    ]
