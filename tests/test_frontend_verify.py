"""IR invariant checks (tinycc_ml/ir/verify.py) catch every kind of broken graph."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from frontend_support import qdq_conv_model
from tinycc_ml.errors import PlanError
from tinycc_ml.frontend import import_model
from tinycc_ml.ir import DType, Graph, Node, QuantParams, Tensor, ops
from tinycc_ml.ir.verify import IRInvariantError, graph_problems, verify_graph


@pytest.fixture(scope="module")
def good() -> Graph:
    # int8 NHWC input 'x' -> Transpose -> Conv2d 'conv' (weight 'w', bias 'b') -> 'y'
    return import_model(qdq_conv_model(), "g")


def with_tensor(graph: Graph, tensor: Tensor) -> Graph:
    return replace(graph, tensors={**graph.tensors, tensor.name: tensor})


def with_node(graph: Graph, index: int, **changes) -> Graph:
    nodes = list(graph.nodes)
    nodes[index] = replace(nodes[index], **changes)
    return replace(graph, nodes=tuple(nodes))


def test_good_graph_passes(good):
    assert graph_problems(good) == []
    assert verify_graph(good) is good
    assert [n.kind for n in good.nodes] == ["Transpose", "Conv2d"]


def test_unknown_input_and_unproduced_output(good):
    broken = with_node(good, 1, inputs=("nope", "w", "b"))
    assert graph_problems(broken) == ["node 'conv' (Conv2d): reads unknown tensor 'nope'"]
    dangling = with_tensor(good, Tensor("ghost", (1, 2), DType.INT8, QuantParams.per_tensor(0.1, 0)))
    assert graph_problems(dangling) == ["tensor 'ghost': activation that no node produces"]


def test_read_before_produced_and_double_producer(good):
    swapped = replace(good, nodes=good.nodes[::-1])
    assert graph_problems(swapped) == ["node 'conv' (Conv2d): reads 'xt' before any node produces it"]
    twice = with_node(good, 0, outputs=("y",))
    problems = graph_problems(twice)
    assert "node 'conv' (Conv2d): writes 'y', a tensor already produced" in problems


def test_conv_output_shape_and_weight_must_be_constant(good):
    y = good.tensor("y")
    wrong = with_tensor(good, replace(y, shape=(1, 4, 5, 5)))
    assert graph_problems(wrong) == [
        "boundary 'y': shape [1, 4, 4, 4] does not hold the 100 elements of 'y'",
        "node 'conv' (Conv2d): output 'y' has shape [1, 4, 5, 5], expected [1, 4, 4, 4]",
    ]
    w = good.tensor("w")
    not_const = with_tensor(good, Tensor("w", w.shape, DType.INT8, QuantParams.per_tensor(0.1, 0)))
    problems = graph_problems(not_const)
    assert "node 'conv' (Conv2d): its weight must be a constant" in problems
    assert "tensor 'w': activation that no node produces" in problems


def test_activation_types_and_quantization(good):
    xt = good.tensor("xt")
    assert graph_problems(with_tensor(good, replace(xt, quant=None)))[0] == (
        "tensor 'xt': activation without per-tensor quantization")
    assert "tensor 'xt': activation of type int32; activations are int8" in graph_problems(
        with_tensor(good, replace(xt, dtype=DType.INT32)))
    reshaped_quant = with_tensor(good, replace(xt, quant=QuantParams.per_tensor(0.5, 0)))
    assert graph_problems(reshaped_quant) == [
        "node 'to_nchw' (Transpose): needs 'x' and 'xt' to share quantization "
        "(QuantParams(scale=(0.019999999552965164,), zero_point=(-128,), axis=None) vs "
        "QuantParams(scale=(0.5,), zero_point=(0,), axis=None))"]


def test_constants_are_checked(good):
    w = good.tensor("w")
    asym = with_tensor(good, replace(w, quant=replace(w.quant, zero_point=(1, 0, 0, 0))))
    assert graph_problems(asym) == [
        "tensor 'w': per-channel int8 constant with a nonzero zero point",
        "node 'conv' (Conv2d): weight 'w' must be symmetric, per tensor or per channel on axis 0",
    ]
    bias = good.tensor("b")
    wrong_bias = with_tensor(good, replace(bias, data=bias.data.astype(np.int8), dtype=DType.INT8,
                                           quant=QuantParams.per_tensor(0.1, 0)))
    assert "node 'conv' (Conv2d): bias 'b' must be an int32 constant of shape [4]" in graph_problems(wrong_bias)


def test_act_range_softmax_quant_and_lut_table(good):
    bad_range = with_node(good, 1, attrs=replace(good.nodes[1].attrs, act_min=10, act_max=5))
    assert graph_problems(bad_range) == ["node 'conv' (Conv2d): has an invalid activation range [10, 5]"]
    y = good.tensor("y")
    softmax = Node("sm", ops.Softmax(), ("y",), ("p",))
    p = Tensor("p", y.shape, DType.INT8, QuantParams.per_tensor(1 / 255, -128))
    graph = replace(with_tensor(good, p), nodes=good.nodes + (softmax,))
    assert graph_problems(graph) == ["node 'sm' (Softmax): output must be quantized (1/256, -128), got "
                                     "QuantParams(scale=(0.003921568859368563,), zero_point=(-128,), axis=None)"]
    lut = Node("lut", ops.Lut(table=(300,) + (0,) * 255), ("y",), ("p",))
    graph = replace(with_tensor(good, replace(p, quant=y.quant)), nodes=good.nodes + (lut,))
    assert graph_problems(graph) == ["node 'lut' (Lut): table must hold 256 int8 values"]


def test_verify_raises_a_plan_error_listing_everything(good):
    broken = with_node(good, 1, inputs=("nope", "w", "b"))
    with pytest.raises(IRInvariantError) as info:
        verify_graph(broken)
    assert isinstance(info.value, PlanError)
    assert str(info.value) == (
        "IR graph 'g' violates 1 invariant(s):\n"
        "  - node 'conv' (Conv2d): reads unknown tensor 'nope'"
    )
