"""The registry's contract with the C runtime: parameter structs field for field like
tinyc_nn.h, ctypes sizes equal to C's, scratch sizes equal to the C _get_buffer_size twins,
sources per symbol, variant choice and the errors it raises."""

from __future__ import annotations

import ctypes
import re
from dataclasses import replace

import numpy as np
import pytest
from kernel_support import NHWC, act, const, single_node

from tinycc_ml.errors import ModelError
from tinycc_ml.ir import ops
from tinycc_ml.ir.graph import DType, Graph, Node, QuantParams, Tensor
from tinycc_ml.kernels.call import KernelCall, ParamStruct
from tinycc_ml.kernels.ctypes_bridge import ctypes_type
from tinycc_ml.kernels.registry import KernelLayoutError, kernel_calls, scratch_bytes
from tinycc_ml.resources import runtime_dir
from tinycc_ml.kernels.depthwise3x3 import DEPTHWISE_3X3
from tinycc_ml.targets.runtime_build import runtime_sources, runtime_sources_for

Q = QuantParams.per_tensor(0.05, 3)
Q_OUT = QuantParams.per_tensor(0.1, -7)


def _conv_graph(in_c: int, out_c: int, groups: int, orders=None) -> Graph:
    rng = np.random.default_rng(0)
    w = rng.integers(-128, 128, size=(out_c, in_c // groups, 3, 3)).astype(np.int8)
    inputs = [act("x", (1, in_c, 5, 5), Q), const("w", w, QuantParams.per_tensor(0.01, 0)), None]
    return single_node(ops.Conv2d(pads=(1, 1, 1, 1), groups=groups), inputs, act("y", (1, out_c, 5, 5), Q_OUT),
                       {"x": NHWC, "y": NHWC} if orders is None else orders)  # fmt: skip


def sample_graphs() -> dict[str, Graph]:
    """One small graph per op kind (every params type appears)."""
    fc_w = const("w", np.arange(12, dtype=np.int8).reshape(3, 4), QuantParams.per_tensor(0.02, 0))
    soft_out = QuantParams.per_tensor(1.0 / 256.0, -128)
    table = tuple(range(-128, 128))
    return {
        "Conv2d": _conv_graph(4, 6, 2),
        "DepthwiseConv2d": _conv_graph(4, 8, 4),
        "FullyConnected": single_node(ops.FullyConnected(), [act("x", (2, 4), Q), fc_w, None], act("y", (2, 3), Q_OUT)),
        "Add": single_node(ops.Add(), [act("a", (2, 3), Q), act("b", (3,), Q_OUT)], act("y", (2, 3), Q)),
        # from 256 outputs on, Add runs through its compile-time table (tinyc_add_table_s8)
        "AddTable": single_node(ops.Add(), [act("a", (16, 16), Q), act("b", (16,), Q_OUT)], act("y", (16, 16), Q)),
        "Mul": single_node(ops.Mul(), [act("a", (2, 3), Q), act("b", (2, 1), Q_OUT)], act("y", (2, 3), Q)),
        "AveragePool2d": single_node(ops.AveragePool2d((2, 2), (2, 2)), [act("x", (1, 3, 4, 4), Q)],
                                     act("y", (1, 3, 2, 2), Q), {"x": NHWC, "y": NHWC}),
        "MaxPool2d": single_node(ops.MaxPool2d((2, 2), (2, 2)), [act("x", (1, 3, 4, 4), Q)],
                                 act("y", (1, 3, 2, 2), Q), {"x": NHWC, "y": NHWC}),
        "Softmax": single_node(ops.Softmax(), [act("x", (1, 10), Q)], act("y", (1, 10), soft_out)),
        "Lut": single_node(ops.Lut(table), [act("x", (7,), Q)], act("y", (7,), Q_OUT)),
        "Transpose": single_node(ops.Transpose((1, 0)), [act("x", (2, 3), Q)], act("y", (3, 2), Q)),
        "Concat": single_node(ops.Concat(0), [act("a", (2, 3), Q), act("b", (1, 3), Q)], act("y", (3, 3), Q)),
        "Pad": single_node(ops.Pad((1, 0, 0, 2), 3), [act("x", (2, 3), Q)], act("y", (3, 5), Q)),
        "SignFlip": single_node(ops.SignFlip(), [Tensor("x", (7,), DType.UINT8, QuantParams.per_tensor(Q.s, Q.zp + 128))],
                                act("y", (7,), Q)),
        # the variants of ONNX semantics (kernels/onnx_arith.py)
        "OnnxSoftmax": _onnx(single_node(ops.Softmax(semantics=ops.ONNX), [act("x", (1, 10), Q)], act("y", (1, 10), Q_OUT))),
        "OnnxAveragePool2d": _onnx(single_node(ops.AveragePool2d((2, 2), (2, 2), semantics=ops.ONNX),
                                               [act("x", (1, 3, 4, 4), Q)], act("y", (1, 3, 2, 2), Q_OUT),
                                               {"x": NHWC, "y": NHWC})),
        "OnnxReduceMean": _onnx(single_node(ops.AveragePool2d((4, 4), semantics=ops.ONNX, mean_of=ops.MEAN_NCHW),
                                            [act("x", (1, 3, 4, 4), Q)], act("y", (1, 3, 1, 1), Q_OUT),
                                            {"x": NHWC, "y": NHWC})),
    }  # fmt: skip


def _onnx(graph: Graph) -> Graph:
    return replace(graph, semantics=ops.ONNX)


def sample_calls() -> dict[str, list[KernelCall]]:
    return {name: kernel_calls(g.nodes[0], g) for name, g in sample_graphs().items()}


def _header_structs() -> dict[str, list[tuple[str, object]]]:
    """typedef structs of tinyc_nn.h as [(field, None | array length | struct type name)]."""
    text = (runtime_dir() / "include" / "tinyc" / "tinyc_nn.h").read_text()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    macros = {name: int(value) for name, value in re.findall(r"#define\s+(\w+)\s+(\d+)", text)}
    structs: dict[str, list[tuple[str, object]]] = {}
    for body, type_name in re.findall(r"typedef struct\s*\{(.*?)\}\s*(\w+)\s*;", text, flags=re.S):
        fields: list[tuple[str, object]] = []
        for decl in filter(None, (d.strip() for d in body.split(";"))):
            ctype, names = decl.split(None, 1)
            for name in (n.strip() for n in names.split(",")):
                array = re.fullmatch(r"(\w+)\[(\w+)\]", name)
                if array:
                    size = array.group(2)
                    fields.append((array.group(1), int(macros.get(size, size))))
                else:
                    fields.append((name, None if ctype == "int32_t" else ctype))
        structs[type_name] = fields
    return structs


def _shape(params: ParamStruct) -> list[tuple[str, object]]:
    return [(n, len(v) if isinstance(v, tuple) else (v if isinstance(v, ParamStruct) else None)) for n, v in params.fields]


def test_param_structs_list_the_header_fields_in_order():
    structs = _header_structs()
    for op, calls in sample_calls().items():
        for call in calls:
            expected = structs[call.params_type]
            got = _shape(call.params)
            for (name, kind), (want_name, want_kind) in zip(got, expected):
                assert name == want_name, (op, call.params_type)
                if isinstance(kind, ParamStruct):
                    assert _shape(kind) == structs[str(want_kind)], (op, name)
                else:
                    assert kind == want_kind, (op, name)
            assert len(got) == len(expected), (op, call.params_type)


def test_ctypes_layout_has_the_c_sizeof(kernel_lib):
    seen = set()
    for calls in sample_calls().values():
        for call in calls:
            size = ctypes.sizeof(ctypes_type(call.params, call.params_type))
            assert size == kernel_lib.sizeof(call.params_type) > 0, call.params_type
            seen.add(call.params_type)
    # Every params struct of the header is produced by some op.
    assert seen == set(_header_structs()) - {"tinyc_broadcast"}
    assert kernel_lib.sizeof("tinyc_broadcast") == 64  # dims, a, b and y strides


def test_python_scratch_sizes_equal_the_c_twins(kernel_lib):
    for groups, out_c in ((1, 4), (2, 6), (4, 8)):
        (call,) = kernel_calls(_conv_graph(4, out_c, groups).nodes[0], _conv_graph(4, out_c, groups))
        c_bytes = kernel_lib.call_int(f"{call.symbol}_get_buffer_size", call.params, call.params_type)
        assert scratch_bytes(call) == c_bytes == call.scratch_bytes == 0


def test_variant_choice_and_weight_layouts():
    graph = _conv_graph(4, 8, 4)
    (call,) = kernel_calls(graph.nodes[0], graph)
    w = graph.tensor("w").data  # OIHW [8, 1, 3, 3]
    assert (call.symbol, call.params_type) == ("tinyc_depthwise_conv_s8", "tinyc_conv_params")
    assert call.args[1].values.tolist() == w[:, 0].transpose(1, 2, 0).reshape(-1).tolist()  # [KH][KW][OUT_C]
    graph = _conv_graph(4, 6, 2)
    (call,) = kernel_calls(graph.nodes[0], graph)
    w = graph.tensor("w").data
    assert call.symbol == "tinyc_conv_s8"
    assert call.args[1].values.tolist() == w.transpose(0, 2, 3, 1).reshape(-1).tolist()  # OHWI
    assert call.params["groups"] == 2 and call.args[2].__class__.__name__ == "NullArg"


def test_broadcast_strides_follow_physical_orders():
    # y [2, 3, 4] stored as (2, 4, 3); a [3, 1] stored row-major; b [4] broadcast everywhere.
    a, b, y = act("a", (3, 1), Q), act("b", (4,), Q), act("y", (2, 3, 4), Q)
    graph = single_node(ops.Add(), [a, b], y, {"y": (0, 2, 1)})
    (call,) = kernel_calls(graph.nodes[0], graph)
    shape = call.params["shape"]
    # dims (2, 4, 3): the batch axis reads nothing of a or b; a walks its 3 rows, b its 4 values.
    assert shape["dims"] == (1, 2, 4, 3)
    assert shape["a_strides"] == (0, 0, 0, 1)
    assert shape["b_strides"] == (0, 0, 1, 0)


def test_spatial_kernels_reject_a_non_nhwc_layout():
    with pytest.raises(KernelLayoutError, match=r"node op \(Conv2d\): tensor x has shape \[1, 4, 5, 5\] and dim order \[0, 1, 2, 3\]"):
        graph = _conv_graph(4, 6, 2, orders={"y": NHWC})
        kernel_calls(graph.nodes[0], graph)
    graph = sample_graphs()["MaxPool2d"]
    graph = single_node(graph.nodes[0].attrs, [graph.tensor("x")], graph.tensor("y"), {"x": NHWC})
    with pytest.raises(KernelLayoutError, match=r"node op \(MaxPool2d\): tensor y .* dim order \[0, 1, 2, 3\]"):
        kernel_calls(graph.nodes[0], graph)


def test_unsupported_shapes_are_model_errors():
    big = act("x", (1, 5000), Q)
    graph = single_node(ops.Softmax(), [big], act("y", (1, 5000), QuantParams.per_tensor(1.0 / 256.0, -128)))
    with pytest.raises(ModelError, match="node op: Softmax over 5000 values; the int8 kernel supports 4095"):
        kernel_calls(graph.nodes[0], graph)
    # Five axes that neither squeeze nor merge: a and b broadcast differently on each.
    a, b = act("a", (2, 1, 2, 1, 2), Q), act("b", (1, 2, 1, 2, 1), Q)
    graph = single_node(ops.Add(), [a, b], act("y", (2, 2, 2, 2, 2), Q))
    with pytest.raises(ModelError, match=r"node op \(Add\): broadcasting \[2, 1, 2, 1, 2\] with \[1, 2, 1, 2, 1\] needs 5"):
        kernel_calls(graph.nodes[0], graph)
    node = Node("mystery", ops.OpAttrs(), ("x",), ("y",))
    with pytest.raises(ModelError, match=r"node mystery: no C kernel implements op \?"):
        kernel_calls(node, sample_graphs()["Lut"])


def test_every_op_kind_has_a_kernel_and_sources():
    calls = sample_calls()
    extra = {"DepthwiseConv2d", "AddTable", "OnnxSoftmax", "OnnxAveragePool2d", "OnnxReduceMean"}  # further variants of op kinds
    assert (set(calls) - extra) | {"Reshape"} == set(ops.OPS_BY_KIND)  # Reshape: no call here
    every = [c for cs in calls.values() for c in cs]
    names = {p.name for p in runtime_sources_for(every)}
    # The in-place / channel-major conv variants need layouts or flags these samples lack;
    # tests/test_inplace_kernels.py covers their sources.
    variants = {p.name for p in runtime_sources() if "inplace" in p.name or "pointwise" in p.name}
    variants.add(DEPTHWISE_3X3.source)  # DSP cores only: tests/test_kernels_depthwise.py covers it
    # The DSP cores' variants never run on the host target these samples use;
    # tests/test_kernels_conv_dsp.py and test_kernels_conv_w16.py cover their sources.
    variants |= {"tinyc_conv_im2col_s8.c", "tinyc_conv_im2col8_s8.c", "tinyc_fully_connected_w16_s8.c",
                 "tinyc_conv_w16_s8.c",  # tests/test_kernels_conv_w16.py
                 "tinyc_conv_gather_w16_s8.c"}  # tests/test_kernels_conv_gather.py
    assert names == {p.name for p in runtime_sources()} - {"tinyc_quantize_f32.c"} - variants
    assert [p.name for p in runtime_sources_for(calls["Conv2d"] + calls["Softmax"])] == [
        "tinyc_conv_s8.c",
        "tinyc_requant_s8.c",  # LIBRARY_SOURCES: the guarded tails' shared fallback
        "tinyc_softmax_s8.c",
    ]
    assert runtime_sources_for([]) == []



def test_int16_weight_records_say_so():
    """A record whose weight layout is int16 says int16_weights (the flag report.json's
    int16_weights_extra_bytes counts, and the flash rule of kernels/wide_weights.py gates)."""
    from tinycc_ml.kernels.registry import VARIANTS

    for record in VARIANTS:
        assert record.int16_weights == record.weight_layout.startswith(("int16", "OHWI/K4 int16")), record.symbol
