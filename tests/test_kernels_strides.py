"""Kernels on regions of a larger image (row strides): every kernel whose record takes row
strides reads its inputs and writes its output as windows of wider NHWC images, and gives
the interpreter's bytes exactly; the bytes between the window's rows are never written.

Each activation of a dense single-node case is embedded in a wider image (a few extra
columns of junk, so a kernel that ignored the stride would read them); its buffer ends at
the window's last byte, so an overread past the last row trips AddressSanitizer in the
driver. Portable and emulated-SIMD builds on the host, and the DSP build on qemu-m7.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from kernel_support import (
    NHWC,
    act,
    act_range,
    assert_same,
    const,
    draw_examples,
    from_physical,
    per_tensor,
    random_int8,
    seeds,
    single_node,
    to_physical,
)
from test_kernels_conv import conv_graphs
from test_kernels_conv_dsp import DSP
from test_kernels_conv_gather import GATHER, GATHER_SINGLE, as_onnx_conv, gather_graphs, single_expected
from test_kernels_conv_w16 import W16, W16_SINGLE, w16_conv_graphs
from test_kernels_onnx_semantics import as_onnx
from test_kernels_pool import pool_graphs

from tinycc_ml.interp import run_core
from tinycc_ml.ir import ops
from tinycc_ml.ir.graph import Graph, QuantParams
from tinycc_ml.kernels.call import KernelCall, TensorArg
from tinycc_ml.kernels.harness import POISON, BatchRunner, Runner, plan, run_calls
from tinycc_ml.kernels.registry import VARIANTS, kernel_calls
from tinycc_ml.kernels.target import HOST_TARGET, KernelTarget
from tinycc_ml.targets.qemu_driver import QemuDriverRunner

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
STRIDED = ("tinyc_conv_s8", "tinyc_depthwise_conv_s8", "tinyc_avgpool_s8", "tinyc_maxpool_s8", "tinyc_pad_s8",
           "tinyc_add_s8", "tinyc_mul_s8", "tinyc_lut_s8",
           # the layout copy reads a band of a CHW image, a plane apart (tests/test_patch_chw_input.py)
           "tinyc_transpose_s8",
           # DSP cores: first layers and strided 1x1 convs (a patch stage's first conv)
           "tinyc_conv_gather_w16_s8", "tinyc_conv_gather_single_w16_s8",
           # DSP cores: KxK convs on int16 weights (a patch stage's 3x3 convs)
           "tinyc_conv_w16_s8", "tinyc_conv_w16_single_s8")


def test_the_records_say_which_kernels_take_row_strides():
    assert {v.symbol for v in VARIANTS if v.row_strides} == set(STRIDED)


@dataclass(frozen=True)
class StridedCase:
    graph: Graph
    calls: tuple[KernelCall, ...]
    contents: Mapping[str, bytes]  # every activation's buffer: its window's rows, `pitch` bytes apart
    sizes: Mapping[str, int]
    pitch: Mapping[str, int]  # bytes from one row to the next
    want: np.ndarray

    @property
    def output(self) -> str:
        (name,) = self.graph.output_tensors()
        return name


def _rows(graph: Graph, name: str) -> tuple[int, int]:
    n, c, h, w = graph.tensor(name).shape
    return n * h, w * c


def embed(dense: bytes, rows: int, row: int, pitch: int, fill: np.ndarray) -> bytes:
    """The dense rows placed `pitch` bytes apart, the gaps taken from `fill`."""
    out = fill.copy()
    for r in range(rows):
        out[r * pitch:r * pitch + row] = np.frombuffer(dense, dtype=np.uint8)[r * row:(r + 1) * row]
    return out.tobytes()


def extract(data: bytes, rows: int, row: int, pitch: int) -> bytes:
    return b"".join(data[r * pitch:r * pitch + row] for r in range(rows))


def strided_case(graph: Graph, seed: int, extra: Sequence[int], target: KernelTarget = HOST_TARGET) -> StridedCase | None:
    """The graph's node with activation k embedded in an image extra[k] columns wider (None
    when no tensor ends up strided: one row each, or no extra columns), its kernels chosen
    for `target`."""
    rng = np.random.default_rng(seed)
    inputs = {name: random_int8(rng, graph.tensor(name).shape) for name in graph.input_tensors()}
    want = run_core(graph, inputs)[graph.output_tensors()[0]]
    names = [t.name for t in graph.activations()]
    strides, pitch, sizes, contents = {}, {}, {}, {}
    for k, name in enumerate(names):
        rows, row = _rows(graph, name)
        c = graph.tensor(name).shape[1]
        pitch[name] = row + extra[k % len(extra)] * c
        if pitch[name] != row and rows > 1:
            strides[name] = pitch[name]
        sizes[name] = (rows - 1) * pitch[name] + row
        if name in inputs:
            junk = rng.integers(0, 256, size=sizes[name], dtype=np.uint8)
            contents[name] = embed(to_physical(graph, name, inputs[name]), rows, row, pitch[name], junk)
    if not strides:
        return None
    calls = tuple(c for node in graph.nodes for c in kernel_calls(node, graph, target, strides))
    for call in calls:
        assert call.symbol in STRIDED
        for arg in call.args:
            if isinstance(arg, TensorArg):
                assert arg.row_stride == strides.get(arg.tensor, 0)
    return StridedCase(graph, calls, contents, sizes, pitch, want)


def _check_output(case: StridedCase, data: bytes, where: str) -> None:
    rows, row = _rows(case.graph, case.output)
    pitch = case.pitch[case.output]
    got = from_physical(case.graph, case.output, extract(data, rows, row, pitch))
    assert_same(got, case.want, f"{where}: {case.calls[0].symbol} {case.calls[0].params}")
    gaps = bytes(b for r in range(rows - 1) for b in data[r * pitch + row:(r + 1) * pitch])
    assert gaps == bytes([POISON]) * len(gaps), f"{where}: {case.calls[0].symbol} wrote between the window's rows"


def check_strided(case: StridedCase | None, runners: Sequence[Runner]) -> None:
    assume(case is not None)
    assert case is not None
    for runner in runners:
        result = run_calls(runner, case.calls, case.contents, case.sizes)
        _check_output(case, result[case.output], type(runner).__name__)


def check_strided_batch(cases: Sequence[StridedCase], runner: BatchRunner) -> int:
    plans = [plan(case.calls, case.contents, case.sizes) for case in cases]
    for case, p, buffers in zip(cases, plans, runner.run_many(plans)):
        _check_output(case, buffers[p.tensor_buffers[case.output]], getattr(runner, "name", "qemu"))
    return len(cases)


extras = st.lists(st.integers(0, 3), min_size=1, max_size=3).filter(lambda e: any(e))


# --- the conv family and pooling: the existing strategies, embedded ---------------------


@SETTINGS
@given(case=conv_graphs(), seed=seeds, extra=extras)
def test_conv_and_depthwise_on_strided_regions(kernel_runners, case, seed, extra):
    check_strided(strided_case(case[0], seed, extra), kernel_runners)


@SETTINGS
@given(case=conv_graphs(wide=True), seed=seeds, extra=extras)
def test_wide_conv_on_strided_regions(kernel_runners, case, seed, extra):
    check_strided(strided_case(case[0], seed, extra), kernel_runners)


@SETTINGS
@given(graph=st.one_of(pool_graphs(average=True), pool_graphs(average=False)), seed=seeds, extra=extras)
def test_pooling_on_strided_regions(kernel_runners, graph, seed, extra):
    check_strided(strided_case(graph, seed, extra), kernel_runners)


@SETTINGS
@given(graph=gather_graphs, seed=seeds, extra=extras)
def test_gather_conv_on_strided_regions(kernel_runners, graph, seed, extra):
    case = strided_case(graph, seed, extra, DSP)
    assume(case is not None)
    assert case is not None and case.calls[0].symbol == GATHER
    check_strided(case, kernel_runners)


@SETTINGS
@given(graph=gather_graphs, seed=seeds, extra=extras)
def test_single_gather_conv_on_strided_regions(kernel_runners, graph, seed, extra):
    graph = as_onnx_conv(graph)
    case = strided_case(graph, seed, extra, DSP)
    assume(case is not None)
    assert case is not None and case.calls[0].symbol == single_expected(graph)
    check_strided(case, kernel_runners)


@SETTINGS
@given(graph=w16_conv_graphs(), seed=seeds, extra=extras, onnx=st.booleans())
def test_int16_weight_conv_on_strided_regions(kernel_runners, graph, seed, extra, onnx):
    case = strided_case(as_onnx(graph) if onnx else graph, seed, extra, DSP)
    assume(case is not None)
    assert case is not None and case.calls[0].symbol in (W16, W16_SINGLE)
    check_strided(case, kernel_runners)


# --- pad, add, mul, lut on NHWC images -----------------------------------------------------


@st.composite
def image_shapes(draw: st.DrawFn) -> tuple[int, int, int, int]:
    return draw(st.integers(1, 2)), draw(st.integers(1, 6)), draw(st.integers(1, 6)), draw(st.integers(1, 6))


@st.composite
def pad_graphs(draw: st.DrawFn):
    n, c, h, w = draw(image_shapes())
    pads = [draw(st.integers(0, 2)) for _ in range(4)]  # top, left, bottom, right
    q = draw(per_tensor())
    x = act("x", (n, c, h, w), q)
    y = act("y", (n, c, h + pads[0] + pads[2], w + pads[1] + pads[3]), q)
    attrs = ops.Pad(pads=(0, 0, pads[0], pads[1], 0, 0, pads[2], pads[3]), value=draw(st.integers(-128, 127)))
    return single_node(attrs, [x], y, {"x": NHWC, "y": NHWC})


@st.composite
def binary_image_graphs(draw: st.DrawFn):
    shape = draw(image_shapes())
    a_q, b_q = draw(per_tensor()), draw(per_tensor())
    act_min, act_max = draw(act_range())
    # Output scales where TFLite's int32 left shift is defined (as test_kernels_elementwise).
    if draw(st.booleans()):
        attrs: ops.OpAttrs = ops.Add(act_min, act_max)
        y_scale = max(a_q.s, b_q.s) * 10 ** draw(st.floats(-3.0, 4.0))
    else:
        attrs = ops.Mul(act_min, act_max)
        y_scale = a_q.s * b_q.s * 10 ** draw(st.floats(-4.0, 5.0))
    y_q = QuantParams.per_tensor(y_scale, draw(per_tensor()).zp)
    a, b, y = act("a", shape, a_q), act("b", shape, b_q), act("y", shape, y_q)
    return single_node(attrs, [a, b], y, {"a": NHWC, "b": NHWC, "y": NHWC})


@st.composite
def lut_image_graphs(draw: st.DrawFn):
    shape = draw(image_shapes())
    table = tuple(int(v) for v in np.random.default_rng(draw(seeds)).integers(-128, 128, 256))
    x, y = act("x", shape, draw(per_tensor())), act("y", shape, draw(per_tensor()))
    return single_node(ops.Lut(table, "random"), [x], y, {"x": NHWC, "y": NHWC})


@SETTINGS
@given(graph=st.one_of(pad_graphs(), binary_image_graphs(), lut_image_graphs()), seed=seeds, extra=extras)
def test_pad_add_mul_lut_on_strided_regions(kernel_runners, graph, seed, extra):
    check_strided(strided_case(graph, seed, extra), kernel_runners)


def test_add_with_a_constant_operand_on_a_strided_region(kernel_runners):
    """A broadcast constant next to a strided input and output: the strides combine."""
    qa, qb, qy = QuantParams.per_tensor(0.05, 3), QuantParams.per_tensor(0.02, -7), QuantParams.per_tensor(0.06, 1)
    bias = np.arange(-2, 3, dtype=np.int8).reshape(1, 5, 1, 1)
    graph = single_node(ops.Add(), [act("a", (1, 5, 4, 3), qa), const("b", bias, qb)], act("y", (1, 5, 4, 3), qy),
                        {"a": NHWC, "b": NHWC, "y": NHWC})
    case = strided_case(graph, 4, [2, 1])
    assert case is not None and set(case.pitch) == {"a", "y"}
    check_strided(case, kernel_runners)


# --- the DSP builds on qemu-m7, one emulator run for the lot ---------------------------------


@pytest.fixture(scope="module")
def qemu_m7_runner() -> QemuDriverRunner:
    """The kernel driver on the emulated Cortex-M7 only (the M4 runs the same DSP paths);
    without the toolchain the test skips, except under CI, where it fails."""
    missing = [tool for tool in ("arm-none-eabi-gcc", "qemu-system-arm") if shutil.which(tool) is None]
    if missing:
        message = f"{' and '.join(missing)} not found (make setup-system)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return QemuDriverRunner.for_target("qemu-m7")


def test_strided_kernels_on_cortex_m7(qemu_m7_runner):
    graphs = [
        *(case[0] for case in draw_examples(conv_graphs(), 30)),
        *(case[0] for case in draw_examples(conv_graphs(wide=True), 30)),
        *draw_examples(st.one_of(pool_graphs(average=True), pool_graphs(average=False)), 30),
        *draw_examples(st.one_of(pad_graphs(), binary_image_graphs(), lut_image_graphs()), 30),
    ]
    cases = [c for seed, g in enumerate(graphs) if (c := strided_case(g, seed, [1 + seed % 3, seed % 2]))]
    gather = [c for seed, g in enumerate(draw_examples(gather_graphs, 30))
              if (c := strided_case(g, seed, [1 + seed % 3, seed % 2], DSP))]
    assert {c.calls[0].symbol for c in gather} == {GATHER}
    single = [c for seed, g in enumerate(draw_examples(gather_graphs, 30))
              if (c := strided_case(as_onnx_conv(g), seed, [1 + seed % 3, seed % 2], DSP))]
    assert GATHER_SINGLE in {c.calls[0].symbol for c in single}
    gather += single
    wide = [c for seed, g in enumerate(draw_examples(w16_conv_graphs(), 30))
            if (c := strided_case(as_onnx(g) if seed % 2 else g, seed, [1 + seed % 3, seed % 2], DSP))]
    assert {c.calls[0].symbol for c in wide} == {W16, W16_SINGLE}
    gather += wide
    assert check_strided_batch(cases + gather, qemu_m7_runner) == len(cases) + len(gather) > 130
