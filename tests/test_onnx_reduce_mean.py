"""ReduceMean under ONNX semantics follows onnxruntime (ORT_DISABLE_ALL) bit for bit: DequantizeLinear,
the float32 sum in onnxruntime's own order (Eigen's packets for NCHW, MLAS's row-of-ones MatMul for
NHWC: quant/ort_reduce.py), the division by float(count), QuantizeLinear half to even. The C
kernel (tinyc_reduce_mean_onnx_s8) equals the interpreter on the host (portable and
emulated-SIMD builds, sanitizers) and on qemu-m4/m7/m33/m3. TFLite semantics keeps TFLite Micro's
MEAN (a depthwise conv of ones).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kernel_support import NHWC, act, check_kernels, check_kernels_batch, draw_examples, kernel_case, per_tensor, seeds
from kernel_support import single_node
from onnx import TensorProto, helper

from tinycc_ml.errors import ModelError
from tinycc_ml.frontend.onnx_import import load_model_with_semantics as load_path
from tinycc_ml.interp import run_graph
from tinycc_ml.ir import ops
from tinycc_ml.ir.graph import QuantParams
from tinycc_ml.kernels.registry import kernel_calls
from tinycc_ml.op_agreement import compare_ops
from tinycc_ml.quant import ort_pool, ort_reduce

ort = pytest.importorskip("onnxruntime")

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _qdq_mean(shape, axes, keepdims, s_in, zp_in, s_out, zp_out, pads=None, opset=13) -> bytes:
    """int8 x -> DequantizeLinear -> [Pad -> Q -> DQ] -> ReduceMean -> QuantizeLinear -> int8 y."""
    init = [helper.make_tensor("s_in", TensorProto.FLOAT, [], [s_in]),
            helper.make_tensor("zp_in", TensorProto.INT8, [], [zp_in]),
            helper.make_tensor("s_out", TensorProto.FLOAT, [], [s_out]),
            helper.make_tensor("zp_out", TensorProto.INT8, [], [zp_out])]
    nodes = [helper.make_node("DequantizeLinear", ["x", "s_in", "zp_in"], ["xf"], name="dq")]
    source = "xf"
    if pads is not None:
        init.append(helper.make_tensor("pads", TensorProto.INT64, [len(pads)], list(pads)))
        nodes += [helper.make_node("Pad", ["xf", "pads"], ["pf"], name="pad"),
                  helper.make_node("QuantizeLinear", ["pf", "s_in", "zp_in"], ["pq"], name="pad_q"),
                  helper.make_node("DequantizeLinear", ["pq", "s_in", "zp_in"], ["pd"], name="pad_dq")]
        source = "pd"
    if opset >= 18:  # the axes are an input from opset 18 on
        init.append(helper.make_tensor("axes", TensorProto.INT64, [len(axes)], list(axes)))
        mean = helper.make_node("ReduceMean", [source, "axes"], ["yf"], name="mean", keepdims=keepdims)
    else:
        mean = helper.make_node("ReduceMean", [source], ["yf"], name="mean", axes=list(axes), keepdims=keepdims)
    nodes += [mean,
              helper.make_node("QuantizeLinear", ["yf", "s_out", "zp_out"], ["y"], name="q")]
    padded = [d + (pads[i] + pads[i + len(shape)] if pads else 0) for i, d in enumerate(shape)]
    reduced = {a % len(shape) for a in axes}
    out_shape = [1 if i in reduced else d for i, d in enumerate(padded) if keepdims or i not in reduced]
    graph = helper.make_graph(nodes, "mean", [helper.make_tensor_value_info("x", TensorProto.INT8, list(shape))],
                              [helper.make_tensor_value_info("y", TensorProto.INT8, out_shape)], init)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="onnx.quantize")  # as onnxruntime's quantizer writes it
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def load_model_with_semantics(model: bytes, semantics: str = "auto"):
    """tinyc's import of a serialized model (written to a file, as the CLI reads it)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mean.onnx"
        path.write_bytes(model)
        return load_path(path, semantics)


def _session(model: bytes):
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 4
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


# (shape, axes, keepdims, pads): H*W of every residue mod 4 and mod 8, rows starting at every
# alignment, bodies shorter than one packet, one packet, an odd number of packets, big planes.
ORT_CASES = {
    "nchw_7x7": ((1, 8, 7, 7), (2, 3), 1, None),
    "nchw_5x5_batch2": ((2, 3, 5, 5), (2, 3), 0, None),
    "nchw_3x3_odd_channels": ((1, 7, 3, 3), (2, 3), 1, None),
    "nchw_1x3": ((1, 5, 1, 3), (2, 3), 0, None),
    "nchw_2x2": ((1, 6, 2, 2), (2, 3), 1, None),
    "nchw_12x10": ((1, 5, 12, 10), (2, 3), 1, None),
    "nchw_6x2": ((1, 9, 6, 2), (2, 3), 0, None),
    "nchw_40x40": ((1, 3, 40, 40), (2, 3), 1, None),
    "nchw_1x1": ((1, 4, 1, 1), (2, 3), 0, None),
    "nchw_padded": ((1, 5, 5, 6), (2, 3), 1, (0, 0, 1, 2, 0, 0, 0, 1)),
    "nhwc_7x7": ((1, 7, 7, 8), (1, 2), 1, None),
    "nhwc_5x5_odd_channels": ((1, 5, 5, 3), (1, 2), 0, None),
    "nhwc_one_channel": ((1, 9, 6, 1), (1, 2), 0, None),
    "nhwc_50x50": ((1, 50, 50, 3), (1, 2), 1, None),
    "nhwc_2x3_wide": ((1, 2, 3, 70), (1, 2), 0, None),
    "nchw_opset18": ((1, 6, 5, 7), (-1, -2), 1, None, 18),
    "nhwc_opset18": ((1, 6, 5, 7), (1, 2), 0, None, 18),
}
QUANTS = (
    (0.0370, 3, 0.0370, 3),  # equal quantization: sums of integers over H*W, with exact ties
    (0.1234567, -7, 0.0891, 11),
    (0.05, -128, 0.05, 127),  # the zero points at the ends of the range
    (0.00390625, 127, 0.0078125, -128),  # power-of-two scales: exact float sums, ties
)


@pytest.mark.parametrize("name", sorted(ORT_CASES))
def test_reduce_mean_equals_onnxruntime_bit_for_bit(name):
    """The interpreter on tinyc's import of the QDQ model against onnxruntime (ORT_DISABLE_ALL):
    every element equal, over scales whose float sums are inexact and scales with exact ties."""
    shape, axes, keepdims, pads, *opset = ORT_CASES[name]
    rng = np.random.default_rng(sum(map(ord, name)))
    for s_in, zp_in, s_out, zp_out in QUANTS:
        model = _qdq_mean(shape, axes, keepdims, s_in, zp_in, s_out, zp_out, pads, *opset)
        graph, choice = load_model_with_semantics(model)
        assert choice.semantics == "onnx"
        (mean,) = [n for n in graph.nodes if n.kind == ops.AveragePool2d.kind]
        assert mean.attrs.mean_of == (ops.MEAN_NHWC if tuple(axes) == (1, 2) else ops.MEAN_NCHW)
        session = _session(model)
        for trial in range(8):
            x = rng.integers(-128, 128, size=shape).astype(np.int8)
            if trial == 0:  # the plane at the far end of the range: the largest sums
                x[...] = -128 if zp_in == 127 else 127
            (theirs,) = session.run(None, {"x": x})
            ours = run_graph(graph, {"x": x})["y"]
            assert ours.shape == theirs.shape
            assert np.array_equal(ours, theirs), (name, s_in, s_out, np.argwhere(ours != theirs)[:5])


def test_equal_quantization_ties_round_to_even_like_onnxruntime():
    """Sums of centred integers that are exactly k + 1/2 times the count: onnxruntime rounds them
    to even (the 2x2 plane here: sums 2 mod 4); tinyc does the same, TFLite's MEAN away from zero."""
    model = _qdq_mean((1, 4, 2, 2), (2, 3), 1, 0.25, 0, 0.25, 0)
    x = np.array([[1, 1, 0, 0], [3, 3, 0, 0], [-1, -1, 0, 0], [5, 1, 0, 0]], dtype=np.int8).reshape(1, 4, 2, 2)
    (theirs,) = _session(model).run(None, {"x": x})
    graph, _ = load_model_with_semantics(model)
    ours = run_graph(graph, {"x": x})["y"]
    assert theirs.reshape(-1).tolist() == [0, 2, 0, 2] == ours.reshape(-1).tolist()
    tflite, _ = load_model_with_semantics(model, "tflite")
    assert run_graph(tflite, {"x": x})["y"].reshape(-1).tolist() != theirs.reshape(-1).tolist()


def test_eigen_order_depends_on_the_rows_alignment():
    """The same values summed in a row that starts 16-byte aligned and in one that does not give
    different float32 sums; onnxruntime's are reproduced in both places (row 0 and row 1 of an
    NCHW tensor with H*W = 5)."""
    values = np.array([1e8, 1.0, -1e8, 1.0, 3.0], dtype=np.float32)
    rows = np.stack([values, values])
    sums = ort_reduce.eigen_row_sums(rows)
    assert ort_reduce.aligned_start(0, 5) == 0 and ort_reduce.aligned_start(1, 5) == 3
    assert sums[0] != sums[1]
    model = _float_mean((1, 2, 1, 5), (2, 3))
    (theirs,) = _session(model).run(None, {"x": rows.reshape(1, 2, 1, 5)})
    assert np.array_equal(theirs.reshape(-1), (sums / np.float32(5)).astype(np.float32))


def _float_mean(shape, axes) -> bytes:
    graph = helper.make_graph([helper.make_node("ReduceMean", ["x"], ["y"], axes=list(axes), keepdims=1)], "mean",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()


def test_batched_nhwc_mean_is_an_error_under_onnx_semantics_only():
    model = _qdq_mean((2, 5, 5, 3), (1, 2), 1, 0.05, 0, 0.05, 0)
    with pytest.raises(ModelError, match=r"node 'mean'.*axes \[1, 2\] of a batch of 2.*--semantics tflite"):
        load_model_with_semantics(model)
    graph, _ = load_model_with_semantics(model, "tflite")
    assert not any(n.kind == ops.AveragePool2d.kind for n in graph.nodes)  # TFLite Micro's MEAN: a conv of ones


def test_tflite_semantics_keeps_tflite_micros_mean():
    graph, _ = load_model_with_semantics(_qdq_mean((1, 4, 5, 5), (2, 3), 1, 0.05, 0, 0.07, 3), "tflite")
    (mean,) = [n for n in graph.nodes if n.name == "mean"]
    assert mean.kind == ops.Conv2d.kind and mean.attrs.fixed_requant is not None


# --- repo-built models quantized by onnxruntime (quantize_static) --------------------------


def _conv_mean_head(axes, keepdims, hw):
    """Conv -> Relu -> [Transpose to NHWC] -> ReduceMean -> the head: Gemm on the [1, C] mean
    (keepdims 0), or a 1x1 Conv on the 4-D one (keepdims 1)."""
    from frontend_support import model, rand

    h, w = hw
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"], name="relu")]
    source = "r"
    if axes == (1, 2):
        nodes.append(helper.make_node("Transpose", ["r"], ["t"], name="to_nhwc", perm=[0, 2, 3, 1]))
        source = "t"
    nodes.append(helper.make_node("ReduceMean", [source], ["m"], name="mean", axes=list(axes), keepdims=keepdims))
    inits = {"w": rand((6, 3, 3, 3), 1, 0.5), "b": rand((6,), 2, 0.1), "b2": rand((4,), 4, 0.1)}
    if keepdims:  # an NHWC mean [1, 1, 1, C] is read as one channel of 1 x C pixels
        nodes.append(helper.make_node("Conv", ["m", "w2", "b2"], ["y"], name="head"))
        inits["w2"] = rand((4, 6 if axes == (2, 3) else 1, 1, 1), 3, 0.5)
    else:
        nodes.append(helper.make_node("Gemm", ["m", "w2", "b2"], ["y"], name="head", transB=1))
        inits["w2"] = rand((4, 6), 3, 0.5)
    return model(nodes, ("x", (1, 3, h, w)), ("y", None), inits, opset=13)


@pytest.mark.parametrize("axes,keepdims,hw", [((2, 3), 1, (7, 7)), ((2, 3), 0, (6, 5)), ((1, 2), 1, (5, 5)),
                                              ((1, 2), 0, (9, 4))])
def test_ort_quantized_models_reduce_mean_equals_onnxruntime(tmp_path, axes, keepdims, hw):
    """Conv -> Relu -> [Transpose] -> ReduceMean -> head, quantized by onnxruntime: the mean (or the
    Reshape of it that writes onnxruntime's tensor) on onnxruntime's own int8 input equals
    onnxruntime's on every element of 40 inputs."""
    from frontend_support import quantize

    path = tmp_path / "model.onnx"
    onnx.save(quantize(_conv_mean_head(axes, keepdims, hw)), path)
    graph, choice = load_path(path)
    assert choice.semantics == "onnx"
    (pool,) = [n for n in graph.nodes if n.kind == ops.AveragePool2d.kind]
    assert pool.attrs.mean_of == (ops.MEAN_NCHW if axes == (2, 3) else ops.MEAN_NHWC)
    result = compare_ops(path, graph, count=40, seed=1)
    (mean,) = [op for op in result.ops if op.node in ("mean", "mean/reshape")]
    assert mean.elements == 40 * 6 and mean.equal == mean.elements, mean
    assert result.output_max_lsb <= 1, result


@pytest.mark.parametrize("axes,keepdims", [((2, 3), 1), ((1, 2), 0)])
def test_compiled_model_equals_interpreter_on_host_and_cortex_m7(tmp_path, axes, keepdims):
    """The whole compiled model (planned arena, generated C) with its ReduceMean in onnxruntime's
    order: byte for byte the interpreter's, on the host and on qemu-m7."""
    from frontend_support import quantize

    from tinycc_ml.verification import verify_model

    path = tmp_path / "model.onnx"
    onnx.save(quantize(_conv_mean_head(axes, keepdims, (7, 6))), path)
    result = verify_model(path, "stm32f746", 3, 0, targets=("host", "qemu-m7"))
    assert result.ok, "\n".join(result.lines())


# --- the C kernel equals the interpreter -------------------------------------------------


@st.composite
def mean_graphs(draw: st.DrawFn):
    """A whole-plane pool as ReduceMean lowers to, pads included (a Pad the fuse pass folded)."""
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 9))
    h, w = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    pads = tuple(draw(st.integers(0, 2)) if draw(st.booleans()) else 0 for _ in range(4))
    kernel = (h + pads[0] + pads[2], w + pads[1] + pads[3])
    in_q = draw(per_tensor())
    out_q = in_q if draw(st.booleans()) else QuantParams.per_tensor(in_q.s * 10 ** draw(st.floats(-2.0, 2.0)),
                                                                     draw(per_tensor()).zp)
    mean_of = draw(st.sampled_from([ops.MEAN_NCHW, ops.MEAN_NHWC]))
    attrs = ops.AveragePool2d(kernel, (1, 1), pads, any(pads), semantics=ops.ONNX, mean_of=mean_of)
    return single_node(attrs, [act("x", (n, c, h, w), in_q)], act("y", (n, c, 1, 1), out_q), {"x": NHWC, "y": NHWC})


@SETTINGS
@given(graph=mean_graphs(), seed=seeds)
def test_reduce_mean_kernel_matches_interpreter(kernel_runners, graph, seed):
    (call,) = kernel_calls(graph.nodes[0], graph)
    assert call.symbol == "tinyc_reduce_mean_onnx_s8"
    order = ort_pool.EIGEN_ROWS if graph.nodes[0].attrs.mean_of == ops.MEAN_NCHW else ort_pool.SEQUENTIAL
    assert call.params["requantize"] == order
    check_kernels(graph, kernel_runners, seed)


# Equal input and output quantization at an inexact scale: every channel whose integer sum is
# count/2 mod count is a tie in real arithmetic, and the float32 order decides it (one channel in
# `count` of them, thousands here). (n, c, h, w, pads, mean_of)
TIE_CASES = (
    (2, 256, 2, 3, (0, 0, 0, 0), ops.MEAN_NCHW),
    (1, 512, 5, 6, (0, 0, 0, 0), ops.MEAN_NCHW),
    (2, 256, 3, 10, (0, 0, 0, 0), ops.MEAN_NCHW),
    (1, 384, 7, 2, (1, 0, 0, 1), ops.MEAN_NCHW),
    (1, 512, 5, 6, (0, 0, 0, 0), ops.MEAN_NHWC),
    (1, 384, 9, 2, (0, 1, 1, 0), ops.MEAN_NHWC),
)
TIE_QUANT = QuantParams.per_tensor(0.0370, 3)


def _tie_case(n, c, h, w, pads, mean_of, seed) -> tuple:
    kernel = (h + pads[0] + pads[2], w + pads[1] + pads[3])
    attrs = ops.AveragePool2d(kernel, (1, 1), pads, any(pads), semantics=ops.ONNX, mean_of=mean_of)
    graph = single_node(attrs, [act("x", (n, c, h, w), TIE_QUANT)], act("y", (n, c, 1, 1), TIE_QUANT),
                        {"x": NHWC, "y": NHWC})
    return graph, {"x": np.random.default_rng(seed).integers(-128, 128, size=(n, c, h, w)).astype(np.int8)}


def test_tie_cases_tell_the_orders_apart():
    """On the tie cases' inputs the two reduction orders and MLAS's global pool order give different
    bytes, so a kernel summing in another order than the interpreter's fails them."""
    for i, (n, c, h, w, pads, _) in enumerate(TIE_CASES[:4]):
        _, inputs = _tie_case(n, c, h, w, pads, ops.MEAN_NCHW, i)
        x, kernel = inputs["x"], (h + pads[0] + pads[2], w + pads[1] + pads[3])
        outs = [ort_pool.ort_average_pool(x, 3, 0.0370, 3, 0.0370, kernel, (1, 1), pads, any(pads), (1, 1), -128, 127,
                                          mean_of) for mean_of in (ops.MEAN_NCHW, ops.MEAN_NHWC, "")]
        assert all(not np.array_equal(a, b) for a, b in ((outs[0], outs[1]), (outs[0], outs[2]), (outs[1], outs[2]))), (h, w)


def test_reduce_mean_kernel_decides_ties_like_the_interpreter(kernel_runners):
    for i, case in enumerate(TIE_CASES):
        graph, inputs = _tie_case(*case, seed=i)
        check_kernels(graph, kernel_runners, 0, inputs=inputs)


def _cortex_m_cases(count: int) -> list:
    drawn = draw_examples(st.tuples(mean_graphs(), seeds), count)
    ties = [_tie_case(*case, seed=i) for i, case in enumerate(TIE_CASES)]
    return ([kernel_case(graph, seed) for graph, seed in drawn]
            + [kernel_case(graph, 0, inputs=inputs) for graph, inputs in ties])


def test_reduce_mean_kernel_on_cortex_m(qemu_kernel_runner):
    assert check_kernels_batch(_cortex_m_cases(40), qemu_kernel_runner) == 40 + len(TIE_CASES)


def test_reduce_mean_kernel_on_m33_and_m3(qemu_other_core_runner):
    assert check_kernels_batch(_cortex_m_cases(30), qemu_other_core_runner) == 30 + len(TIE_CASES)


def test_reduce_mean_kernel_has_no_fused_multiply_add_in_gnu_mode(tmp_path):
    """As tinyc_avgpool_onnx_s8: under -std=gnu11 GCC may contract a * b + c into VFMA on the M7,
    which rounds once where onnxruntime rounds twice; the kernel's pragma keeps them apart."""
    import os
    import shutil
    import subprocess

    gcc, objdump = shutil.which("arm-none-eabi-gcc"), shutil.which("arm-none-eabi-objdump")
    if not (gcc and objdump):
        if os.environ.get("CI"):
            pytest.fail("arm-none-eabi-gcc / objdump not found")
        pytest.skip("arm-none-eabi-gcc not found")
    runtime = Path(__file__).resolve().parents[1] / "runtime_c"
    obj = tmp_path / "mean.o"
    subprocess.run([gcc, "-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-sp-d16", "-O2", "-std=gnu11",
                    f"-I{runtime / 'include'}", "-c", str(runtime / "src" / "tinyc_reduce_mean_onnx_s8.c"), "-o", str(obj)],
                   check=True)
    listing = subprocess.run([objdump, "-d", str(obj)], check=True, capture_output=True, text=True).stdout
    assert "vadd.f32" in listing and "vdiv.f32" in listing and "vmul.f32" in listing
    assert not any(op in listing for op in ("vfma", "vfms", "vmla", "vmls", "vfnm")), "a fused multiply-add"
