"""AveragePool2d (TFLite raw and requantizing, count_include_pad, ceil_mode shapes) and
MaxPool2d: the C kernels equal the interpreter bit for bit, under the sanitizers too."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kernel_support import (NHWC, act, act_range, check_kernels, check_kernels_batch, draw_examples, kernel_case,
                            per_tensor, seeds, single_node)

from tinycc_ml.ir import ops
from tinycc_ml.ir.graph import QuantParams

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _out_size(draw: st.DrawFn, size: int, kernel: int, stride: int, begin: int, end: int) -> int:
    """floor or ceil mode; a ceil-mode window must still start inside input + begin pad."""
    span = size + begin + end - kernel
    out = span // stride + 1
    if draw(st.booleans()) and span % stride:
        out += 1
        if (out - 1) * stride >= size + begin:
            out -= 1
    return out


@st.composite
def pool_graphs(draw: st.DrawFn, average: bool):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    # Pads smaller than the kernel: every window keeps at least one input cell.
    pads = (draw(st.integers(0, kh - 1)), draw(st.integers(0, kw - 1)), draw(st.integers(0, kh - 1)), draw(st.integers(0, kw - 1)))
    h = draw(st.integers(max(1, kh - pads[0] - pads[2]), 9))
    w = draw(st.integers(max(1, kw - pads[1] - pads[3]), 9))
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 7))
    oh = _out_size(draw, h, kh, sh, pads[0], pads[2])
    ow = _out_size(draw, w, kw, sw, pads[1], pads[3])
    in_q = draw(per_tensor())
    act_min, act_max = draw(act_range())
    if average:
        # Same quantization (TFLite) or a rescale of up to 1000x either way (onnxruntime).
        if draw(st.booleans()):
            out_q = in_q
        else:
            out_q = QuantParams.per_tensor(in_q.s * 10 ** draw(st.floats(-3.0, 3.0)), draw(per_tensor()).zp)
        attrs: ops.OpAttrs = ops.AveragePool2d((kh, kw), (sh, sw), pads, draw(st.booleans()), act_min, act_max)
    else:
        out_q = in_q
        attrs = ops.MaxPool2d((kh, kw), (sh, sw), pads, act_min, act_max)
    x, y = act("x", (n, c, h, w), in_q), act("y", (n, c, oh, ow), out_q)
    return single_node(attrs, [x], y, {"x": NHWC, "y": NHWC})


@SETTINGS
@given(graph=pool_graphs(average=True), seed=seeds)
def test_average_pool_matches_interpreter(kernel_runners, graph, seed):
    check_kernels(graph, kernel_runners, seed)


@SETTINGS
@given(graph=pool_graphs(average=False), seed=seeds)
def test_max_pool_matches_interpreter(kernel_runners, graph, seed):
    check_kernels(graph, kernel_runners, seed)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(size=st.sampled_from([(16, 16), (17, 16), (23, 29), (5, 60)]), c=st.integers(1, 9),
       fill=st.sampled_from(["min", "max", "random"]), in_q=per_tensor(), rescale=st.booleans(),
       out_zp=st.integers(-128, 127), seed=seeds)
def test_average_pool_large_windows(kernel_runners, size, c, fill, in_q, rescale, out_zp, seed):
    """Global and near-global windows of 256 to 1,000 cells at the int8 extremes: the SIMD
    path's int16 lane sums are flushed before they could wrap, and its division by
    multiplication is exact for every count (the window clipped by the padding varies it)."""
    h, w = size
    pads = (1, 2, 0, 1)
    kh, kw = h, w - 3
    oh, ow = (h + 1 - kh) + 1, (w + 3 - kw) // 2 + 1
    out_q = QuantParams.per_tensor(in_q.s * 10 ** (0.7 if rescale else 0.0), out_zp) if rescale else in_q
    attrs = ops.AveragePool2d((kh, kw), (1, 2), pads, seed % 2 == 0)
    graph = single_node(attrs, [act("x", (1, c, h, w), in_q)], act("y", (1, c, oh, ow), out_q), {"x": NHWC, "y": NHWC})
    rng = np.random.default_rng(seed)
    if fill == "random":
        x = rng.integers(-128, 128, size=(1, c, h, w)).astype(np.int8)
    else:
        x = np.full((1, c, h, w), -128 if fill == "min" else 127, dtype=np.int8)
    check_kernels(graph, kernel_runners, seed, inputs={"x": x})


# --- the same strategies on qemu-m4 / qemu-m7 (the DSP paths), one emulator run per test ----


@pytest.mark.parametrize("average", [True, False], ids=["average", "max"])
def test_pools_on_cortex_m(qemu_kernel_runner, average):
    cases = draw_examples(st.tuples(pool_graphs(average=average), seeds), 120)
    # and windows over several int16 lane flushes, at the int8 extremes
    for c, fill in ((4, -128), (8, 127), (5, -128)):
        x = np.full((1, c, 23, 29), fill, dtype=np.int8)
        attrs = ops.AveragePool2d((23, 26), (1, 2), (1, 2, 0, 1), True) if average else ops.MaxPool2d((23, 26), (1, 2), (1, 2, 0, 1))
        q = QuantParams.per_tensor(0.02, 5)
        graph = single_node(attrs, [act("x", x.shape, q)], act("y", (1, c, 2, 4), q), {"x": NHWC, "y": NHWC})
        cases.append((graph, 0))
    batch = [kernel_case(graph, seed) for graph, seed in cases]
    assert check_kernels_batch(batch, qemu_kernel_runner) >= 100
