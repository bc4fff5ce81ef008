"""passes/inplace.py: which (input, output) pairs get an overlap fact and with what
distance; and the facts reach the memory plan through compiler.lower."""

from __future__ import annotations

import numpy as np
import pytest

from codegen_support import MODELS, act, conv, conv_weights, graph
from tinycc_ml.compiler import import_model, lower
from tinycc_ml.ir import ops
from tinycc_ml.ir.graph import Node
from tinycc_ml.memory.facts import OverlapFact
from tinycc_ml.passes import layout
from tinycc_ml.lowering import node_calls
from tinycc_ml.memory.overlap import overlap_facts
from tinycc_ml.lowering import pass_context

HOST_PASSES = pass_context()  # the passes as a host compile runs them

RELU = ops.Lut(table=tuple(max(v, 0) for v in range(-128, 128)), function="relu")


def _facts(g):
    g = layout(g, HOST_PASSES)
    return {(f.node, f.input, f.output): f.min_distance for f in overlap_facts(g, g.nodes, node_calls(g))}, g


def test_chain_gets_a_fact_per_op_at_the_last_read():
    w1, b1 = conv_weights("c1", 8, 4, 3)
    w2, b2 = conv_weights("c2", 4, 8, 1)
    g0 = graph(
        [act("x", (1, 4, 6, 6)), w1, b1, act("a", (1, 8, 6, 6)), act("r", (1, 8, 6, 6)), w2, b2,
         act("y", (1, 4, 6, 6))],
        [conv("conv3x3", "x", "c1_w", "c1_b", "a", pads=(1, 1, 1, 1)),
         Node("relu", RELU, ("a",), ("r",)),
         conv("conv1x1", "r", "c2_w", "c2_b", "y")],
        "x", "y")
    facts, g = _facts(g0)
    # The graph input x is row-major NCHW: the layout pass copies it to NHWC first.
    copy = next(n for n in g.nodes if n.name.startswith("layout:x"))
    x_nhwc = copy.outputs[0]
    # tinyc_conv_s8 writes (pixel, channel) in order and re-reads the pixel's window for each
    # channel: d = 1 + max over pixels (oy, ox) of (written before its last channel) - (its
    # window's first input byte) = 1 + (35 * 8 + 8 - 2) - (4 * 6 + 4) * 4 at the last pixel.
    assert facts[("conv3x3", x_nhwc, "a")] == 1 + (35 * 8 + 6) - 28 * 4
    assert facts[("relu", "a", "r")] == 0  # elementwise: exactly in place
    assert facts[("conv1x1", "r", "y__nhwc")] == 4 - 1  # Cout <= Cin: only the pixel's own channels
    assert all(d < g.tensor(out).nbytes for (_, _, out), d in facts.items())


def test_no_fact_while_the_input_is_still_read():
    # Residual: x feeds the conv and, later, the Add; only the Add may overwrite x.
    w, b = conv_weights("c", 4, 4, 3)
    g0 = graph(
        [act("x", (1, 4, 5, 5)), w, b, act("h", (1, 4, 5, 5)), act("y", (1, 4, 5, 5))],
        [conv("conv", "x", "c_w", "c_b", "h", pads=(1, 1, 1, 1)), Node("add", ops.Add(), ("x", "h"), ("y",))],
        "x", "y")
    facts, g = _facts(g0)
    by_node: dict[str, dict[str, int]] = {}
    for (node, inp, _), d in facts.items():
        by_node.setdefault(node, {})[inp] = d
    # The conv reads the NHWC copy of x (its only reader); x itself lives on for the Add.
    assert set(by_node["conv"]) == {"x__nhwc"}
    assert by_node["add"] == {"x": 0, "h__rowmajor": 0}  # both operands die at the Add: exact in place


def test_no_fact_over_a_graph_output_or_for_memcpy_kernels():
    g0 = graph(
        [act("x", (1, 6)), act("a", (1, 6)), act("b", (1, 6)), act("y", (1, 12))],
        [Node("relu1", RELU, ("x",), ("a",)), Node("relu2", RELU, ("a",), ("b",)),
         Node("cat", ops.Concat(axis=1), ("a", "b"), ("y",))],
        "x", "y")
    facts, _ = _facts(g0)
    assert facts == {("relu1", "x", "a"): 0}  # a is read again by cat; cat copies with memcpy


def test_fact_text():
    g0 = graph([act("x", (1, 6)), act("y", (1, 6))], [Node("relu", RELU, ("x",), ("y",))], "x", "y")
    g = layout(g0, HOST_PASSES)
    assert overlap_facts(g, g.nodes, node_calls(g)) == (OverlapFact("relu", "x", "y", 0, "elementwise table lookup: in place"),)


@pytest.mark.models
@pytest.mark.skipif(not MODELS.is_dir(), reason=f"MLPerf Tiny models not found at {MODELS}")
def test_mlperf_facts_and_plans():
    figures = {}
    for model in ("kws", "resnet8", "vww"):
        program, _ = lower(import_model(MODELS / f"{model}.tf2onnx_int8.onnx"))
        facts = program.plan.facts
        assert facts and program.plan.used_facts()
        figures[model] = (program.plan.arena_bytes, sorted({f.min_distance for f in facts}))
        if model == "vww":
            # The 48x48x8 -> 48x48x16 pointwise conv: out - in + Cin - 1.
            assert 36864 - 18432 + 8 - 1 in figures[model][1]
            assert program.plan.arena_bytes <= 38_500  # fits only with that overlap
        if model == "kws":
            # The 25x5x64 depthwise and pointwise convs run in place (a ring of input pixels,
            # a one-pixel copy: the inplace pass found that plans smaller than the drift of
            # a row and a pixel, or of 63 B, per layer), and the whole model fits in 8,800 B
            # including its 490 B input: 8,000 B + the 448 B ring, the lower bound.
            kinds = {n.name: n for n in program.schedule}
            exact = [f for f in facts if kinds[f.node].kind == "Conv2d" and kinds[f.node].attrs.in_place]
            assert len(exact) == 8 and {f.min_distance for f in exact} == {0}
            assert program.plan.arena_bytes == program.plan.lower_bound_bytes() == 8000 + (5 + 1 + 1) * 64
        if model == "resnet8":
            assert 32 * 16 + 2 * 16 - 1 in figures[model][1]  # 3x3 conv: a row, a pixel, Cin - 1
            kinds = {n.name: n.kind for n in program.schedule}
            adds = [f for f in facts if kinds[f.node] == "Add"]
            assert len(adds) == 6 and {f.min_distance for f in adds} == {0}
    assert figures["vww"][0] < 55296 and figures["resnet8"][0] < 49152  # the layer-wise peaks without facts
