"""Hand-built graphs through the real pipeline (layout, registry, planner, templates) to
C on the host, compared byte for byte with the interpreter on the graph before passes.
These cover the layout copies the MLPerf models never need (NCHW graph input into a conv,
conv output as the graph output, flatten of a real image)."""

from __future__ import annotations

import numpy as np
import pytest

from codegen_support import act, conv, conv_weights, graph, kws_like, vww_like
from tinycc_ml.codegen import build_context
from tinycc_ml.compiler import lower, write_output_dir
from tinycc_ml.interp import run_graph
from tinycc_ml.ir import ops
from tinycc_ml.ir.graph import Node, QuantParams
from tinycc_ml.report import build_report
from tinycc_ml.boards import load_board
from tinycc_ml.targets import host, read_build_info

OUT_Q = QuantParams.per_tensor(0.75, 5)


def nchw_conv_graph():
    w, b = conv_weights("k", 4, 3, 3, seed=2)
    return graph([act("x", (1, 3, 6, 5)), w, b, act("y", (1, 4, 6, 5), OUT_Q)],
                 [conv("conv", "x", "k_w", "k_b", "y", pads=(1, 1, 1, 1), act_min=-20)], "x", "y")


def flatten_graph():
    w, b = conv_weights("k", 4, 2, 1, seed=3)
    return graph([act("x", (1, 2, 3, 3)), w, b, act("c", (1, 4, 3, 3), OUT_Q), act("y", (1, 36), OUT_Q)],
                 [conv("conv", "x", "k_w", "k_b", "c"), Node("flatten", ops.Reshape(), ("c",), ("y",))], "x", "y")


def residual_graph():
    """Transpose(0,3,1,2) alias in, conv, Add with the conv's input, Transpose back (alias)."""
    w, b = conv_weights("k", 2, 2, 1, seed=4)
    return graph([act("x", (1, 4, 5, 2)), act("t", (1, 2, 4, 5)), w, b, act("c", (1, 2, 4, 5), OUT_Q),
                  act("s", (1, 2, 4, 5), OUT_Q), act("y", (1, 4, 5, 2), OUT_Q)],
                 [Node("t_in", ops.Transpose(perm=(0, 3, 1, 2)), ("x",), ("t",)),
                  conv("conv", "t", "k_w", "k_b", "c"),
                  Node("add", ops.Add(), ("c", "t"), ("s",)),
                  Node("t_out", ops.Transpose(perm=(0, 2, 3, 1)), ("s",), ("y",))], "x", "y")


def movement_graph():
    """MaxPool, Concat on channels and a 4-D Pad, all NHWC between two alias Transposes."""
    w, b = conv_weights("k", 3, 2, 1, seed=5)
    tensors = [act("x", (1, 8, 8, 2)), act("t", (1, 2, 8, 8)), act("m", (1, 2, 4, 4)), w, b, act("c", (1, 3, 4, 4)),
               act("cat", (1, 5, 4, 4)), act("pad", (1, 5, 6, 6)), act("y", (1, 6, 6, 5))]
    nodes = [Node("t_in", ops.Transpose(perm=(0, 3, 1, 2)), ("x",), ("t",)),
             Node("maxpool", ops.MaxPool2d(kernel=(2, 2), strides=(2, 2)), ("t",), ("m",)),
             conv("conv", "m", "k_w", "k_b", "c"),
             Node("concat", ops.Concat(axis=1), ("m", "c"), ("cat",)),
             Node("pad", ops.Pad(pads=(0, 0, 1, 1, 0, 0, 1, 1), value=-3), ("cat",), ("pad",)),
             Node("t_out", ops.Transpose(perm=(0, 2, 3, 1)), ("pad",), ("y",))]
    return graph(tensors, nodes, "x", "y")


CASES = {"movement": movement_graph, "nchw_conv": nchw_conv_graph, "flatten": flatten_graph, "residual": residual_graph,
         "kws_like": kws_like, "vww_like": vww_like}
CALLS = {  # kernel symbols in order: the layout copies show up as tinyc_transpose_s8
    "movement": ["tinyc_maxpool_s8", "tinyc_conv_s8", "tinyc_concat_s8", "tinyc_concat_s8", "tinyc_pad_s8"],
    "nchw_conv": ["tinyc_transpose_s8", "tinyc_conv_s8", "tinyc_transpose_s8"],
    "flatten": ["tinyc_transpose_s8", "tinyc_conv_s8", "tinyc_transpose_s8"],
    "residual": ["tinyc_conv_s8", "tinyc_add_s8"],
    # one input channel: a regular conv (its DSP path beats the depthwise kernel there)
    "kws_like": ["tinyc_conv_s8", "tinyc_avgpool_s8", "tinyc_fully_connected_s8", "tinyc_softmax_s8"],
    "vww_like": ["tinyc_conv_s8", "tinyc_avgpool_s8"],
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_handmade_graph_matches_interpreter(case, tmp_path):
    g = CASES[case]()
    program, _ = lower(g)
    assert [c.symbol for n in program.schedule for c in program.calls[n.name]] == CALLS[case]
    ctx = build_context(program, "model", f"{case}.onnx", "stm32f746")
    write_output_dir(tmp_path, ctx, program, build_report(program, ctx, load_board("stm32f746"), f"{case}.onnx", True))
    info = read_build_info(tmp_path)
    exe = host.build(info, sanitize=True)
    rng = np.random.default_rng(11)
    io_in, io_out = g.inputs[0], g.outputs[0]
    for _ in range(3):
        x = rng.integers(-128, 128, size=io_in.shape).astype(np.int8)
        y, _ = host.run_executable(exe, info, x)
        assert y.tobytes() == run_graph(g, {io_in.onnx_name: x})[io_out.onnx_name].tobytes()
