"""Support for the memory tests: overlap facts made by hand from kernels' access orders,
and small DAG models (residual, Inception-style, squeeze-excite) quantized by onnxruntime.

The facts here are the tests' own (the compiler's come from passes/inplace.py). They model
NHWC kernels that write their output row by row (pixel by pixel for 1x1 convolutions)
in the order they read the input: output row r may overwrite input bytes no later row
reads, so offset(input) - offset(output) >= max over r of (bytes written up to the end of
row r) - (input bytes before the first row that row r still reads).
"""

from __future__ import annotations

from typing import Sequence

from tinycc_ml.ir.graph import Graph, Node
from tinycc_ml.memory import OverlapFact
from tinycc_ml.passes import is_alias


def _rows_distance(out_rows: int, out_row_bytes: int, in_row_bytes: int, stride: int, pad_top: int) -> int:
    return max((r + 1) * out_row_bytes - max(0, r * stride - pad_top) * in_row_bytes for r in range(out_rows))


def _distance(node: Node, graph: Graph) -> tuple[int, str] | None:
    x, y = graph.tensor(node.inputs[0]), graph.tensor(node.outputs[0])
    if node.kind in ("Add", "Mul", "Lut"):
        if x.shape == y.shape:
            return 0, "elementwise in place"
        return None
    if node.kind in ("Conv2d", "AveragePool2d", "MaxPool2d") and len(x.shape) == 4:
        _, c, h, w = x.shape
        _, co, oh, ow = y.shape
        attrs = node.attrs
        if node.kind == "Conv2d" and graph.tensor(node.inputs[1]).shape[2:] == (1, 1) and attrs.strides == (1, 1) \
                and attrs.pads == (0, 0, 0, 0):
            pixels = h * w
            return max((p + 1) * co - p * c for p in range(pixels)), "pointwise conv, pixel by pixel"
        return _rows_distance(oh, ow * co, w * c, attrs.strides[0], attrs.pads[0]), "row by row"
    return None


def hand_facts(graph: Graph, schedule: Sequence[Node]) -> tuple[OverlapFact, ...]:
    """Facts for every op that reads an input for the last time (alias groups respected)."""
    from tinycc_ml.memory.liveness import alias_groups

    groups = alias_groups(graph, schedule)
    last: dict[str, int] = {}
    for step, node in enumerate(schedule):
        for name in node.inputs:
            if name and not graph.tensor(name).is_constant:
                last[groups[name]] = step
    outputs = {groups[t] for t in graph.output_tensors()}
    facts = []
    for step, node in enumerate(schedule):
        if is_alias(node, graph) or not node.inputs:
            continue
        for k, name in enumerate(node.inputs):
            if not name or graph.tensor(name).is_constant or last.get(groups[name]) != step:
                continue
            if groups[name] in outputs or (k > 0 and node.kind not in ("Add", "Mul")):
                continue
            probe = Node(node.name, node.attrs, (name, *node.inputs[1:]), node.outputs) if k else node
            found = _distance(probe, graph)
            if found is not None:
                facts.append(OverlapFact(node.name, name, node.outputs[0], found[0], found[1]))
    return tuple(facts)


# -- DAG models, float graphs quantized by onnxruntime (QDQ) -----------------------------------


def inception_model():
    """x [1,8,16,16] -> three branches conv1x1 (8->32 / 24 / 16) -> conv1x1 (->4) -> Concat.

    The ONNX file lists every branch's wide conv first, then the narrow ones: the worst
    order, in which all three wide tensors are alive together.
    """
    from onnx import helper

    from frontend_support import model, rand

    nodes, inits = [], {}
    for i, c in enumerate(INCEPTION_WIDTHS):
        nodes.append(helper.make_node("Conv", ["x", f"wa{i}"], [f"a{i}"], name=f"conv_a{i}"))
        inits[f"wa{i}"] = rand((c, 8, 1, 1), 10 + i, 0.5)
    for i, c in enumerate(INCEPTION_WIDTHS):
        nodes.append(helper.make_node("Conv", [f"a{i}", f"wb{i}"], [f"b{i}"], name=f"conv_b{i}"))
        inits[f"wb{i}"] = rand((4, c, 1, 1), 20 + i, 0.3)
    nodes.append(helper.make_node("Concat", ["b0", "b1", "b2"], ["y"], name="concat", axis=1))
    return model(nodes, ("x", (1, 8, 16, 16)), ("y", (1, 12, 16, 16)), inits)


INCEPTION_WIDTHS = (32, 24, 16)


def residual_model():
    """ResNet-style: a 3x3 stem, an identity block (two 3x3 convs + Add), then a strided
    block whose 1x1 projection shortcut and 3x3 main branch meet in an Add."""
    from onnx import helper

    from frontend_support import model, rand

    nodes = [
        helper.make_node("Conv", ["x", "w0"], ["h0"], name="stem", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["h0"], ["r0"], name="stem_relu"),
        helper.make_node("Conv", ["r0", "w1"], ["h1"], name="block1_conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["h1"], ["r1"], name="block1_relu1"),
        helper.make_node("Conv", ["r1", "w2"], ["h2"], name="block1_conv2", pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["r0", "h2"], ["s1"], name="block1_add"),
        helper.make_node("Relu", ["s1"], ["r2"], name="block1_relu2"),
        helper.make_node("Conv", ["r2", "w3"], ["p"], name="block2_shortcut", strides=[2, 2]),
        helper.make_node("Conv", ["r2", "w4"], ["h3"], name="block2_conv1", strides=[2, 2], pads=[0, 0, 1, 1]),
        helper.make_node("Relu", ["h3"], ["r3"], name="block2_relu1"),
        helper.make_node("Conv", ["r3", "w5"], ["h4"], name="block2_conv2", pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["p", "h4"], ["y"], name="block2_add"),
    ]
    inits = {"w0": rand((8, 3, 3, 3), 30, 0.4), "w1": rand((8, 8, 3, 3), 31, 0.2), "w2": rand((8, 8, 3, 3), 32, 0.2),
             "w3": rand((16, 8, 1, 1), 33, 0.4), "w4": rand((16, 8, 3, 3), 34, 0.2), "w5": rand((16, 16, 3, 3), 35, 0.1)}
    return model(nodes, ("x", (1, 3, 16, 16)), ("y", (1, 16, 8, 8)), inits)


def squeeze_excite_model():
    """conv -> c; gate = sigmoid(conv1x1(relu(conv1x1(GlobalAveragePool(c))))); y = c * gate."""
    from onnx import helper

    from frontend_support import model, rand

    nodes = [
        helper.make_node("Conv", ["x", "w0"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("GlobalAveragePool", ["c"], ["g"], name="squeeze"),
        helper.make_node("Conv", ["g", "w1"], ["e1"], name="reduce"),
        helper.make_node("Relu", ["e1"], ["e2"], name="reduce_relu"),
        helper.make_node("Conv", ["e2", "w2"], ["e3"], name="expand"),
        helper.make_node("Sigmoid", ["e3"], ["gate"], name="gate"),
        helper.make_node("Mul", ["c", "gate"], ["y"], name="excite"),
    ]
    inits = {"w0": rand((16, 4, 3, 3), 40, 0.3), "w1": rand((4, 16, 1, 1), 41, 0.5), "w2": rand((16, 4, 1, 1), 42, 0.5)}
    return model(nodes, ("x", (1, 4, 12, 12)), ("y", (1, 16, 12, 12)), inits)


def quantized_file(float_model, path):
    """The float model quantized by onnxruntime (QDQ, per channel), saved at path."""
    import onnx

    from frontend_support import quantize

    onnx.save(quantize(float_model), path)
    return path
