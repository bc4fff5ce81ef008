"""The kernels under ONNX semantics equal the interpreter bit for bit (portable and emulated-SIMD
builds, under the sanitizers, and on qemu-m4/m7):

* conv, fully connected, Add and Mul on the shared kernels with their single-rounding constants
  (quant/params.py: shift 0 multipliers, Add's power-of-two output multiplier);
* tinyc_softmax_table_s8 (the exp table, any output quantization) and tinyc_avgpool_onnx_s8
  (the average rounded once, half to even).

The graphs are the TFLite kernel tests' own strategies, turned to ONNX semantics.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kernel_support import (
    NHWC, act, check_kernels, check_kernels_batch, draw_examples, kernel_case, permutations, per_tensor, scales, seeds,
    single_node,
)
from test_kernels_conv import conv_graphs, fully_connected_graphs
from test_kernels_elementwise import binary_graphs
from test_kernels_pool import pool_graphs

from tinycc_ml.interp import run_core
from tinycc_ml.ir import ops
from tinycc_ml.ir.graph import Graph, QuantParams
from tinycc_ml.kernels.registry import kernel_calls
from tinycc_ml.quant import params as qparams

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def as_onnx(graph: Graph) -> Graph:
    nodes = tuple(replace(n, attrs=replace(n.attrs, semantics=ops.ONNX)) for n in graph.nodes)
    # (the strategies' graphs are single kernels' cases, not always whole-graph invariants)
    return replace(graph, nodes=nodes, semantics=ops.ONNX)


@SETTINGS
@given(case=conv_graphs(), seed=seeds)
def test_conv2d_single_rounding_matches_interpreter(kernel_runners, case, seed):
    graph = as_onnx(case[0])
    (call,) = kernel_calls(graph.nodes[0], graph)
    # a multiplier below one runs with shift 0: the tail's only rounding is the high multiply's
    assert all(s >= 0 for s in call.args[4].values.tolist())
    check_kernels(graph, kernel_runners, seed)


@SETTINGS
@given(case=conv_graphs(wide=True), seed=seeds)
def test_wide_conv2d_single_rounding_matches_interpreter(kernel_runners, case, seed):
    check_kernels(as_onnx(case[0]), kernel_runners, seed)


@SETTINGS
@given(graph=fully_connected_graphs(), seed=seeds)
def test_fully_connected_single_rounding_matches_interpreter(kernel_runners, graph, seed):
    check_kernels(as_onnx(graph), kernel_runners, seed)


@SETTINGS
@given(graph=binary_graphs("add"), seed=seeds)
def test_onnx_add_matches_interpreter(kernel_runners, graph, seed):
    check_kernels(as_onnx(graph), kernel_runners, seed)


@SETTINGS
@given(graph=binary_graphs("mul"), seed=seeds)
def test_onnx_mul_matches_interpreter(kernel_runners, graph, seed):
    check_kernels(as_onnx(graph), kernel_runners, seed)


@SETTINGS
@given(graph=pool_graphs(average=True), seed=seeds)
def test_onnx_average_pool_matches_interpreter(kernel_runners, graph, seed):
    graph = as_onnx(graph)
    (call,) = kernel_calls(graph.nodes[0], graph)
    assert call.symbol == "tinyc_avgpool_onnx_s8"
    check_kernels(graph, kernel_runners, seed)


@st.composite
def softmax_table_graphs(draw: st.DrawFn):
    rank = draw(st.integers(1, 3))
    depth = draw(st.one_of(st.integers(1, 40), st.integers(100, 1200)))
    shape = tuple(draw(st.integers(1, 3)) for _ in range(rank - 1)) + (depth,)
    order = draw(permutations(rank - 1)) + (rank - 1,)
    x = act("x", shape, QuantParams.per_tensor(draw(scales(-4, 2)), draw(st.integers(-128, 127))))
    # onnxruntime's calibrated softmax outputs: near 1/256 or 1/255, and any other scale too
    out_scale = draw(st.one_of(st.sampled_from([1 / 256, 1 / 255, 0.003921568859368563]), scales(-5, 0)))
    y = act("y", shape, QuantParams.per_tensor(out_scale, draw(st.integers(-128, 127))))
    graph = single_node(ops.Softmax(draw(st.sampled_from([1.0, 0.5, 2.0]))), [x], y, {"x": order, "y": order})
    return as_onnx(graph)


@SETTINGS
@given(graph=softmax_table_graphs(), seed=seeds)
def test_softmax_table_matches_interpreter(kernel_runners, graph, seed):
    (call,) = kernel_calls(graph.nodes[0], graph)
    assert call.symbol == "tinyc_softmax_table_s8"
    check_kernels(graph, kernel_runners, seed)


def test_softmax_table_is_the_float_softmax_rounded_once(kernel_runners):
    """Against float64 softmax of the dequantized row, quantized half to even: equal except where
    the real value lies within 1e-4 LSB of a rounding boundary (none in these rows)."""
    rng = np.random.default_rng(5)
    in_q, out_q = QuantParams.per_tensor(0.173, 7), QuantParams.per_tensor(1 / 255, -128)
    graph = as_onnx(single_node(ops.Softmax(), [act("x", (64, 12), in_q)], act("y", (64, 12), out_q)))
    x = rng.integers(-128, 128, size=(64, 12)).astype(np.int8)
    got = check_kernels(graph, kernel_runners, seed=0, inputs={"x": x})
    real = (x.astype(np.float64) - in_q.zp) * in_q.s
    e = np.exp(real - real.max(axis=1, keepdims=True))
    ratio = e / e.sum(axis=1, keepdims=True) / out_q.s
    assert np.abs(ratio - np.floor(ratio) - 0.5).min() > 1e-4
    assert np.array_equal(got, np.clip(np.rint(ratio) + out_q.zp, -128, 127).astype(np.int8))


def test_onnx_average_pool_rounds_ties_to_even(kernel_runners):
    """2x2 windows of equal quantization: every sum that is 2 mod 4 is a tie, half to even as
    QuantizeLinear rounds (TFLite's pool rounds them away from zero)."""
    q = QuantParams.per_tensor(0.05, 3)
    attrs = ops.AveragePool2d((2, 2), (2, 2))
    x = np.array([[[[4, 5], [4, 5]], [[3, 4], [4, 5]], [[2, 3], [3, 4]], [[-3, -2], [-2, -1]]]], dtype=np.int8)
    x = x.reshape(1, 4, 2, 2)
    graph = as_onnx(single_node(attrs, [act("x", (1, 4, 2, 2), q)], act("y", (1, 4, 1, 1), q), {"x": NHWC, "y": NHWC}))
    got = check_kernels(graph, kernel_runners, seed=0, inputs={"x": x})
    # centred sums: 6, 4, -0 ... averages (x - 3): 1.5 -> 2, 1.0 -> 1, -0.0 -> 0, -5.0 -> -5 (then + 3)
    centred = (x.astype(np.int64) - 3).reshape(4, 4).sum(axis=1) / 4
    assert got.reshape(-1).tolist() == (np.rint(centred) + 3).astype(int).tolist()
    tflite = run_core(replace(graph, nodes=(replace(graph.nodes[0], attrs=attrs),), semantics=ops.TFLITE), {"x": x})["y"]
    assert tflite.reshape(-1).tolist()[0] == 5  # 1.5 rounded away from zero, + 3


def test_single_rounding_constants_round_once():
    """x * real rounded once: the shift-0 constants equal round(x * real) wherever x * real is
    farther than |x| * 2^-32 (the multiplier's own error) from a half. TFLite's constants round
    twice, and differ from these next to halves."""
    from tinycc_ml.quant.fixedpoint import multiply_by_quantized_multiplier, quantize_multiplier

    real = 0.000123456789
    x = np.arange(-(1 << 22), 1 << 22, 13, dtype=np.int64)
    exact = x * real
    clear = np.abs(exact - np.floor(exact) - 0.5) > np.abs(x) * 2.0**-32 + 1e-12
    m, s = qparams.single_rounding_multiplier(real)
    assert s == 0 and m == round(real * 2**31)
    single = multiply_by_quantized_multiplier(x, m, s)
    assert np.array_equal(single[clear], np.floor(exact[clear] + 0.5).astype(np.int64))
    double = multiply_by_quantized_multiplier(x, *quantize_multiplier(real))
    assert np.count_nonzero(double != single) > 0


# --- on qemu-m4 / qemu-m7 (the DSP builds), one emulator run per test --------------------

QEMU_CASES = 60


def test_onnx_semantics_kernels_on_cortex_m(qemu_kernel_runner):
    strategy = st.one_of(
        conv_graphs().map(lambda case: as_onnx(case[0])),
        conv_graphs(wide=True).map(lambda case: as_onnx(case[0])),
        fully_connected_graphs().map(as_onnx),
        binary_graphs("add").map(as_onnx),
        pool_graphs(average=True).map(as_onnx),
        softmax_table_graphs(),
    )
    cases = draw_examples(st.tuples(strategy, seeds), QEMU_CASES)
    assert check_kernels_batch([kernel_case(graph, seed) for graph, seed in cases], qemu_kernel_runner) > 40


# --- onnxruntime's own float32 average pool (quant/ort_pool.py) ---------------------------

ORT_POOL_CASES = {
    # (input N, C, H, W), kernel, strides, pads, count_include_pad -> MLAS kernel
    "global": ((1, 5, 7, 9), (7, 9), (1, 1), (0, 0, 0, 0), False, "GLOBAL"),
    "columns_2x2": ((1, 6, 8, 8), (2, 2), (2, 2), (0, 0, 0, 0), False, "COLUMNS"),
    "columns_pads": ((2, 3, 9, 7), (3, 3), (1, 1), (1, 1, 1, 1), False, "COLUMNS"),
    "columns_pads_counted": ((1, 3, 6, 6), (3, 3), (2, 2), (1, 1, 1, 1), True, "COLUMNS"),
    "rows_stride3": ((1, 4, 9, 10), (3, 3), (3, 3), (0, 1, 0, 1), False, "ROWS"),
    "rows_wide_kernel": ((1, 2, 3, 40), (2, 33), (1, 1), (0, 0, 0, 0), False, "ROWS"),
}


def _ort_qdq_pool(shape, kernel, strides, pads, include, s_in, zp_in, s_out, zp_out):
    import onnx
    from onnx import TensorProto, helper

    n, c, h, w = shape
    oh = (h + pads[0] + pads[2] - kernel[0]) // strides[0] + 1
    ow = (w + pads[1] + pads[3] - kernel[1]) // strides[1] + 1
    init = [helper.make_tensor("s_in", TensorProto.FLOAT, [], [s_in]),
            helper.make_tensor("zp_in", TensorProto.INT8, [], [zp_in]),
            helper.make_tensor("s_out", TensorProto.FLOAT, [], [s_out]),
            helper.make_tensor("zp_out", TensorProto.INT8, [], [zp_out])]
    nodes = [helper.make_node("DequantizeLinear", ["x", "s_in", "zp_in"], ["xf"]),
             helper.make_node("AveragePool", ["xf"], ["yf"], kernel_shape=list(kernel), strides=list(strides),
                              pads=[pads[0], pads[1], pads[2], pads[3]], count_include_pad=int(include)),
             helper.make_node("QuantizeLinear", ["yf", "s_out", "zp_out"], ["y"])]
    graph = helper.make_graph(nodes, "pool", [helper.make_tensor_value_info("x", TensorProto.INT8, list(shape))],
                              [helper.make_tensor_value_info("y", TensorProto.INT8, [n, c, oh, ow])], init)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    return onnx.checker.check_model(model) or model.SerializeToString(), (oh, ow)


def test_mlas_summation_order_follows_mlaspools_choice():
    from tinycc_ml.quant import ort_pool

    for name, (shape, kernel, strides, pads, _, order) in ORT_POOL_CASES.items():
        assert ort_pool.summation_order(shape[2:], kernel, strides, pads) == getattr(ort_pool, order), name
    # a padded row longer than MLAS's 2045-float reduction buffer falls back to the generic kernel
    assert ort_pool.summation_order((4, 2040), (2, 2), (2, 2), (0, 3, 0, 3)) == ort_pool.ROWS
    assert ort_pool.summation_order((4, 2040), (2, 2), (2, 2), (0, 2, 0, 3)) == ort_pool.COLUMNS


@pytest.mark.parametrize("name", sorted(ORT_POOL_CASES))
def test_ort_average_pool_equals_onnxruntime_bit_for_bit(name):
    """DequantizeLinear -> AveragePool -> QuantizeLinear in onnxruntime (ORT_DISABLE_ALL) against
    the interpreter's float32 replay, on scales whose float sums are inexact (ties and near-ties
    resolved by the float order): every element equal."""
    ort = pytest.importorskip("onnxruntime")
    from tinycc_ml.quant.ort_pool import ort_average_pool

    shape, kernel, strides, pads, include, _ = ORT_POOL_CASES[name]
    rng = np.random.default_rng(sum(map(ord, name)))
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    for s_in, zp_in, s_out, zp_out in ((0.0370, 3, 0.0370, 3), (0.1234567, -7, 0.0891, 11), (0.05, 0, 0.05, 0)):
        model, out_hw = _ort_qdq_pool(shape, kernel, strides, pads, include, s_in, zp_in, s_out, zp_out)
        session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        for _ in range(10):
            x = rng.integers(-128, 128, size=shape).astype(np.int8)
            (theirs,) = session.run(None, {"x": x})
            ours = ort_average_pool(x, zp_in, s_in, zp_out, s_out, kernel, strides, pads, include, out_hw, -128, 127)
            assert np.array_equal(ours, theirs), (name, s_in, s_out, np.argwhere(ours != theirs)[:5])


def test_onnx_average_pool_on_m33_and_m3(qemu_other_core_runner):
    """The float32 replay on the M33's FPU and through the M3's soft-float library (no FPU):
    IEEE float32 either way, so equal to the interpreter bit for bit."""
    cases = draw_examples(st.tuples(pool_graphs(average=True).map(as_onnx), seeds), 40)
    batch = [kernel_case(graph, seed) for graph, seed in cases]
    assert all(c.calls[0].symbol == "tinyc_avgpool_onnx_s8" for c in batch if c.calls)
    assert check_kernels_batch(batch, qemu_other_core_runner) >= len([c for c in batch if c.calls]) > 0


def test_onnx_average_pool_has_no_fused_multiply_add_in_gnu_mode(tmp_path):
    """-std=gnu11 (STM32CubeIDE's default) lets GCC contract a * b + c into VFMA on the M7, which
    rounds once where onnxruntime rounds twice; the kernel's pragma keeps every float32 operation
    separate (without it GCC emits 4 VFMA here)."""
    import os
    import shutil
    import subprocess
    from pathlib import Path

    gcc, objdump = shutil.which("arm-none-eabi-gcc"), shutil.which("arm-none-eabi-objdump")
    if not (gcc and objdump):
        if os.environ.get("CI"):
            pytest.fail("arm-none-eabi-gcc / objdump not found")
        pytest.skip("arm-none-eabi-gcc not found")
    runtime = Path(__file__).resolve().parents[1] / "runtime_c"
    obj = tmp_path / "pool.o"
    subprocess.run([gcc, "-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-sp-d16", "-O2", "-std=gnu11",
                    f"-I{runtime / 'include'}", "-c", str(runtime / "src" / "tinyc_avgpool_onnx_s8.c"), "-o", str(obj)],
                   check=True)
    listing = subprocess.run([objdump, "-d", str(obj)], check=True, capture_output=True, text=True).stdout
    assert "vadd.f32" in listing and "vdiv.f32" in listing
    assert not any(op in listing for op in ("vfma", "vfms", "vmla", "vmls", "vfnm")), "a fused multiply-add"
