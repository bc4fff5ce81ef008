"""The integer shape arithmetic PyTorch's exporter leaves in a model (frontend/shape_folding.py):
F.pad's pad amounts as ConstantOfShape -> Concat -> Reshape -> Slice -> Transpose -> Reshape ->
Cast, and a flatten's target shape as Shape -> Gather -> Unsqueeze -> Concat. tinyc evaluates it
at import, so the model compiles as if the exporter had folded it: the IR holds only the
int8 ops, the interpreter is within 1 LSB of onnxruntime (QDQ and QOperator, int8 and uint8),
and the host C equals the interpreter. (The QOperator uint8 form pads a uint8 tensor with its
default byte 0, which is -128 in tinyc's int8 twin: 128 LSB off before that was handled.) Nodes
that would build a large tensor are not evaluated, and a node left unfolded is named in the error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from frontend_support import model, quantize, rand
from tinycc_ml.errors import ModelError
from tinycc_ml.frontend import import_model
from tinycc_ml.frontend.shape_folding import MAX_ELEMENTS, fold_shape_arithmetic
from tinycc_ml.interp import run_graph
from tinycc_ml.verification import verify_model


def _i64(values) -> np.ndarray:
    return np.asarray(values, dtype=np.int64)


def torch_style_model() -> onnx.ModelProto:
    """conv -> relu -> F.pad(x, (1, 2, 0, 1)) as torch 2.x exports it at opset 13 -> conv ->
    flatten through Shape/Gather -> Gemm."""
    c = helper.make_node
    nodes = [
        c("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        c("Relu", ["c1"], ["r1"], name="relu1"),
        c("Constant", [], ["n_zeros"], name="n_zeros", value=onnx.numpy_helper.from_array(_i64([4]))),
        c("ConstantOfShape", ["n_zeros"], ["zeros"], name="zeros",
          value=onnx.numpy_helper.from_array(np.zeros(1, np.int64))),
        c("Constant", [], ["given"], name="given", value=onnx.numpy_helper.from_array(_i64([1, 2, 0, 1]))),
        c("Concat", ["given", "zeros"], ["all_pads"], name="concat_pads", axis=0),
        c("Constant", [], ["pairs"], name="pairs", value=onnx.numpy_helper.from_array(_i64([-1, 2]))),
        c("Reshape", ["all_pads", "pairs"], ["paired"], name="reshape_pads"),
        c("Constant", [], ["s0"], name="s0", value=onnx.numpy_helper.from_array(_i64([-1]))),
        c("Constant", [], ["s1"], name="s1", value=onnx.numpy_helper.from_array(_i64([-9223372036854775807]))),
        c("Constant", [], ["s2"], name="s2", value=onnx.numpy_helper.from_array(_i64([0]))),
        c("Constant", [], ["s3"], name="s3", value=onnx.numpy_helper.from_array(_i64([-1]))),
        c("Slice", ["paired", "s0", "s1", "s2", "s3"], ["reversed"], name="slice_pads"),
        c("Transpose", ["reversed"], ["by_side"], name="transpose_pads", perm=[1, 0]),
        c("Constant", [], ["flat"], name="flat", value=onnx.numpy_helper.from_array(_i64([-1]))),
        c("Reshape", ["by_side", "flat"], ["onnx_pads"], name="reshape_flat"),
        c("Cast", ["onnx_pads"], ["pads"], name="cast_pads", to=TensorProto.INT64),
        c("Pad", ["r1", "pads"], ["padded"], name="pad", mode="constant"),
        c("Conv", ["padded", "w2", "b2"], ["c2"], name="conv2"),
        c("Shape", ["c2"], ["shape"], name="shape"),
        c("Constant", [], ["zero"], name="zero", value=onnx.numpy_helper.from_array(np.asarray(0, np.int64))),
        c("Gather", ["shape", "zero"], ["batch"], name="gather_batch", axis=0),
        c("Unsqueeze", ["batch", "axes0"], ["batch1"], name="unsqueeze_batch"),
        c("Concat", ["batch1", "minus_one"], ["target"], name="concat_target", axis=0),
        c("Reshape", ["c2", "target"], ["flattened"], name="flatten"),
        c("Gemm", ["flattened", "wf", "bf"], ["y"], name="fc", transB=1),
    ]
    inits = {"w1": rand((4, 3, 3, 3), 1, 0.3), "b1": rand((4,), 2, 0.1), "w2": rand((6, 4, 3, 3), 3, 0.3),
             "b2": rand((6,), 4, 0.1), "axes0": _i64([0]), "minus_one": _i64([-1]),
             "wf": rand((5, 6 * 6 * 7), 5, 0.05), "bf": rand((5,), 6, 0.1)}
    return model(nodes, ("x", (1, 3, 7, 6)), ("y", (1, 5)), inits)


@pytest.mark.parametrize("fmt,activation", [("QDQ", "QInt8"), ("QDQ", "QUInt8"), ("QOperator", "QUInt8"),
                                            ("QOperator", "QInt8")])
def test_torch_pad_and_flatten_arithmetic_folds(fmt: str, activation: str, tmp_path: Path) -> None:
    import onnxruntime as ort

    q = quantize(torch_style_model(), fmt, activation=activation)
    graph = import_model(q, "torch_style")
    kinds = [n.kind for n in graph.nodes]
    assert kinds.count("Conv2d") == 2 and "Pad" in kinds and "FullyConnected" in kinds, kinds
    pad = next(n for n in graph.nodes if n.kind == "Pad")
    assert graph.tensor(pad.outputs[0]).shape == (1, 4, 7 + 0 + 1, 6 + 1 + 2)  # (left 1, right 2, top 0, bottom 1)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(q.SerializeToString(), options, providers=["CPUExecutionProvider"])
    step = np.float32(graph.outputs[0].quant.s)
    for seed in range(4):
        x = np.random.default_rng(seed).standard_normal((1, 3, 7, 6)).astype(np.float32)
        (theirs,) = session.run(None, {"x": x})
        ours = run_graph(graph, {"x": x})["y"]
        assert np.abs(np.rint(ours / step) - np.rint(theirs / step)).max() <= 2  # three ops in a chain
    path = tmp_path / "m.onnx"
    onnx.save(q, str(path))
    result = verify_model(path, "stm32f746", 2, 0)
    assert result.ok, "\n".join(result.lines())


def test_only_small_integer_results_fold() -> None:
    c = helper.make_node
    constants = {"n": _i64([MAX_ELEMENTS + 1]), "k": _i64([3]), "f": np.ones(3, np.float32)}
    nodes = [c("ConstantOfShape", ["n"], ["huge"], name="huge"),  # would be 4097 elements: not run
             c("ConstantOfShape", ["k"], ["small"], name="small", value=onnx.numpy_helper.from_array(_i64([7]))),
             c("ConstantOfShape", ["k"], ["float_zeros"], name="float_zeros"),  # float32 zeros: not folded
             c("Cast", ["f"], ["fi"], name="float_in", to=TensorProto.INT64),  # a float input: not folded
             c("Transpose", ["w8"], ["w8t"], name="int8_weights", perm=[1, 0]),  # int8 data: not folded
             c("Shape", ["act"], ["dims"], name="dims")]
    constants["w8"] = np.ones((2, 3), np.int8)
    kept = fold_shape_arithmetic(nodes, constants, {"act": (1, 4, 5, 6)})
    assert [n.name for n in kept] == ["huge", "float_zeros", "float_in", "int8_weights"]
    assert constants["small"].tolist() == [7, 7, 7] and constants["dims"].tolist() == [1, 4, 5, 6]


def test_a_shape_of_a_dynamic_dimension_is_named_with_the_pin_hint() -> None:
    """With a dynamic batch the flatten's Shape cannot fold: the error names it and says how to
    pin the shape."""
    q = quantize(torch_style_model(), "QDQ")
    q.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "n"
    with pytest.raises(ModelError) as err:
        import_model(q, "dyn")
    (shape_problem,) = [p for p in err.value.problems if "(Shape)" in p]
    assert shape_problem.startswith("node 'shape' (Shape): the shape of") and "update_inputs_outputs_dims" in shape_problem
