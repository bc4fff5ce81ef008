"""The schedule step (passes/schedule.py): the op order with the smallest layer-wise peak.

Exact peaks are derived by hand on an Inception-style DAG and a residual network (both
float graphs quantized by onnxruntime, through the real frontend), and checked against a
brute force over every topological order on random small DAGs. The search's cost model
must be exactly the planner's liveness (memory/liveness.py): the peak it reports equals
the layer-wise peak of the buffer requests of the order it returns.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings, strategies as st

from codegen_support import act, graph, kws_like
from memory_support import inception_model, quantized_file, residual_model
from tinycc_ml.compiler import import_model, node_calls
from tinycc_ml.ir import ops
from tinycc_ml.ir.graph import Graph, Node
from tinycc_ml.kernels.call import KernelCall, ParamStruct, ScratchArg, TensorArg
from tinycc_ml.memory import buffer_requests, layerwise_peak_bytes
from tinycc_ml.passes import layout, run_pipeline
from tinycc_ml.passes.schedule import Schedule, schedule, scratch_bytes
from tinycc_ml.lowering import pass_context

HOST_PASSES = pass_context()  # the passes as a host compile runs them

RELU = ops.Lut(table=tuple(max(v, 0) for v in range(-128, 128)))


def peak_of(g: Graph, order, calls=None) -> int:
    return layerwise_peak_bytes(buffer_requests(g, order, calls or {}))


def assert_valid(g: Graph, s: Schedule, calls=None) -> None:
    """Every node exactly once, each after the producers of its inputs; the peak is the liveness one."""
    assert sorted(n.name for n in s.order) == sorted(n.name for n in g.nodes)
    made = set(g.input_tensors()) | {t.name for t in g.constants()}
    for node in s.order:
        assert all(not x or x in made for x in node.inputs), node.name
        made.update(node.outputs)
    assert s.peak_bytes == peak_of(g, s.order, calls)
    assert s.file_order_bytes == peak_of(g, g.nodes, calls)


@pytest.fixture(scope="module")
def inception(tmp_path_factory) -> Graph:
    path = quantized_file(inception_model(), tmp_path_factory.mktemp("sched") / "inception.onnx")
    return run_pipeline(import_model(path), HOST_PASSES).graph


def test_inception_best_order_by_hand(inception):
    """x (NCHW, 2,048 B) is copied to NHWC x' (2,048 B); branch i: a_i = conv1x1(x') of
    8,192 / 6,144 / 4,096 B, then b_i = conv1x1(a_i) of 1,024 B; b1, b2 are requantized
    (Lut, 1,024 B each) and concatenated (3,072 B), then copied back to NCHW (3,072 B).

    File order (all a_i, then all b_i): at conv_a2, x' + a0 + a1 + a2 = 2,048 + 18,432
    = 20,480 B. Best: finish each branch before the next, widest first: at conv_b0,
    x' + a0 + b0 = 2,048 + 8,192 + 1,024 = 11,264 B, and no order does better, because
    whenever a0 and b0 are alive together either x' (other branches not started) or
    b1 + b2 (other branches done) is too: 9,216 + 2,048 B. 11,264 is 45 % below 20,480.
    """
    s = schedule(inception)
    assert_valid(inception, s)
    assert (s.peak_bytes, s.file_order_bytes, s.exact, s.method) == (11264, 20480, True, "dynamic programming")
    assert s.peak_bytes <= 0.75 * s.file_order_bytes
    assert [n.name for n in s.order] == [
        "layout:x_QuantizeLinear_Output__nhwc", "conv_a0", "conv_b0", "conv_a1", "conv_b1", "conv_a2", "conv_b2",
        "concat/requantize", "concat/requantize_1", "concat", "layout:y_QuantizeLinear_Output",
    ]


def test_inception_with_no_time_falls_back_to_a_heuristic(inception):
    s = schedule(inception, time_limit=0.0)
    assert_valid(inception, s)
    assert not s.exact and s.method in ("greedy", "graph order")
    assert s.peak_bytes <= s.file_order_bytes


def test_residual_network_keeps_its_order(tmp_path):
    """stem r0 (2,048 B) stays alive over block 1 (r1, h2: 2,048 B each) for the Add: at
    block1_conv2 r0 + r1 + h2 = 6,144 B, in every order. The graph order is kept."""
    g = run_pipeline(import_model(quantized_file(residual_model(), tmp_path / "res.onnx")), HOST_PASSES).graph
    s = schedule(g, scratch_bytes(node_calls(g)))
    assert_valid(g, s, node_calls(g))
    assert (s.peak_bytes, s.file_order_bytes, s.exact, s.method) == (6144, 6144, True, "graph order")
    assert s.order == g.nodes


def test_aliases_cost_nothing_and_follow_their_input():
    """kws_like: Reshape (alias) of the input first, conv, pool, Flatten (alias), fc, softmax."""
    g = layout(kws_like(), HOST_PASSES)
    s = schedule(g)
    assert_valid(g, s)
    assert [n.name for n in s.order] == ["reshape_in", "conv", "pool", "flatten", "fc", "softmax"]
    assert (s.peak_bytes, s.exact, s.method) == (1490, True, "graph order")  # in (490) + c (1000)


def test_file_order_is_measured_as_it_stands():
    """n1: x -> a, n2: x -> b, n3: Reshape(a) (read by nobody), n4: Reshape(x) -> y (output).
    In the file order n3 keeps a alive over n2: x + a + b = 3 B. The schedule keeps the
    ops' order but puts n3 right after n1: a dies at once, x + b = 2 B."""
    tensors = [act("x", (1, 1)), act("a", (1, 1)), act("b", (1, 1)), act("a2", (1, 1)), act("y", (1, 1))]
    nodes = [Node("n1", RELU, ("x",), ("a",)), Node("n2", RELU, ("x",), ("b",)),
             Node("n3", ops.Reshape(), ("a",), ("a2",)), Node("n4", ops.Reshape(), ("x",), ("y",))]
    g = graph(tensors, nodes, "x", "y")
    s = schedule(g)
    assert_valid(g, s)
    assert [n.name for n in s.order] == ["n4", "n1", "n3", "n2"]
    assert (s.peak_bytes, s.file_order_bytes, s.method) == (2, 3, "graph order")


def test_scratch_counts_at_its_step():
    """x (64) -> a (64), x -> b (64) with 500 B scratch, Concat(a, b) -> y (128).
    a first: a + x + b + 500 = 692 at b's step; b first: x + b + 500 = 628, then
    x + b + a = 192: the scratch-heavy op goes first when a is not yet alive."""
    tensors = [act("x", (1, 64)), act("a", (1, 64)), act("b", (1, 64)), act("y", (1, 128))]
    nodes = [Node("op_a", RELU, ("x",), ("a",)), Node("op_b", RELU, ("x",), ("b",)),
             Node("cat", ops.Concat(axis=1), ("a", "b"), ("y",))]
    g = graph(tensors, nodes, "x", "y")
    call = KernelCall("op_b", "tinyc_fake_s8", "tinyc_fake_params", ParamStruct(()),
                      (TensorArg("x"), TensorArg("b"), ScratchArg(500)))
    calls = {"op_b": (call,)}
    s = schedule(g, scratch_bytes(calls))
    assert_valid(g, s, calls)
    assert [n.name for n in s.order] == ["op_b", "op_a", "cat"]
    assert (s.peak_bytes, s.file_order_bytes, s.exact) == (628, 692, True)


def test_wide_graph_under_a_time_limit():
    """Twelve independent 3-op branches: 4^12 sets of executed ops, too many for the exact
    search; the schedule still comes back, valid, and no worse than the file order."""
    tensors, nodes, tails = [act("x", (1, 32))], [], []
    for b in range(12):
        prev = "x"
        for k, width in enumerate((400 - 20 * b, 40, 8 + b)):
            name = f"t{b}_{k}"
            tensors.append(act(name, (1, width)))
            nodes.append(Node(f"op{b}_{k}", RELU, (prev,), (name,)))
            prev = name
        tails.append(prev)
    # file order: every branch's first (wide) op first, the worst order.
    nodes.sort(key=lambda n: (int(n.name.split("_")[1]), n.name))
    tensors.append(act("y", (1, sum(8 + b for b in range(12)))))
    nodes.append(Node("cat", ops.Concat(axis=1), tuple(tails), ("y",)))
    g = graph(tensors, nodes, "x", "y")
    s = schedule(g, time_limit=0.3)
    assert_valid(g, s)
    assert not s.exact
    assert s.peak_bytes < s.file_order_bytes


# -- random DAGs against a brute force over all topological orders ------------------------------


@st.composite
def dags(draw):
    """Up to 6 ops over tensors of random sizes; some ops join two tensors, some are
    Reshape aliases, some need scratch. The last tensor is the graph output."""
    n = draw(st.integers(1, 6))
    sizes = [draw(st.integers(1, 200))]
    tensors = [act("t0", (1, sizes[0]))]
    nodes, calls = [], {}
    for i in range(1, n + 1):
        kind = draw(st.sampled_from(["lut", "lut", "concat", "alias"]))
        pick = st.integers(0, i - 1)
        if kind == "alias":
            src = draw(pick)
            tensors.append(act(f"t{i}", (tensors[src].shape[1], 1)))
            nodes.append(Node(f"n{i}", ops.Reshape(), (f"t{src}",), (f"t{i}",)))
            continue
        tensors.append(act(f"t{i}", (1, draw(st.integers(1, 200)))))
        srcs = (draw(pick),) if kind == "lut" else tuple(sorted({draw(pick), draw(pick)}))
        attrs = RELU if kind == "lut" else ops.Concat(axis=1)
        nodes.append(Node(f"n{i}", attrs, tuple(f"t{s}" for s in srcs), (f"t{i}",)))
        scratch = draw(st.sampled_from([0, 0, 0, 50, 300]))
        if scratch:
            calls[f"n{i}"] = (KernelCall(f"n{i}", "tinyc_fake_s8", "tinyc_fake_params", ParamStruct(()),
                                         (ScratchArg(scratch),)),)
    return graph(tensors, nodes, "t0", f"t{n}"), calls


def topological_orders(g: Graph):
    made0 = frozenset(g.input_tensors())

    def extend(prefix, made, left):
        if not left:
            yield prefix
            return
        for node in left:
            if all(x in made for x in node.inputs):
                yield from extend(prefix + (node,), made | set(node.outputs), [m for m in left if m is not node])

    yield from extend((), made0, list(g.nodes))


@settings(max_examples=120, deadline=None)
@given(dags())
def test_exact_search_equals_brute_force(case):
    g, calls = case
    s = schedule(g, scratch_bytes(calls))
    assert_valid(g, s, calls)
    brute = min(peak_of(g, order, calls) for order in itertools.islice(topological_orders(g), 5000))
    assert s.exact and s.peak_bytes == brute
    assert s.method == "graph order" or s.peak_bytes < s.file_order_bytes
