"""tinyc_depthwise_conv_inplace_c4_s8 and its int16-weight twin _c4_w16_s8: the DSP cores'
in-place NHWC depthwise conv (channels % 4 == 0, up to 25 taps; kws's four 3x3 layers). Each
equals the interpreter byte for byte,
portable and SIMD (emulated on the host), in-process and under the sanitizers, and on
emulated Cortex-M4 and M7, over channels 4..68, every kernel size up to 5x5, dilation, every
padding, zero points and weights at their extremes and per-channel scales six decades apart;
shapes it does not take (channels not % 4, a host target) keep the general in-place kernel.
It keeps the general kernel's ring (scratch twin) and its overlap: exactly in place, checked
on one shared buffer. Where the registry picks a kernel's _proved twin (the tail proved for the
layer), the same layer also runs the kernel itself (the guarded tail: kernel_support.both_tails)."""

from __future__ import annotations

import itertools
import os

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from kernel_support import (
    NHWC,
    act,
    act_range,
    both_tails,
    check_kernels,
    check_kernels_batch,
    const,
    draw_examples,
    general,
    is_proved,
    kernel_case,
    seeds,
    single_node,
)
from overlap_support import check_grid, single_node_distance

from tinycc_ml.ir import ops
from tinycc_ml.ir.graph import Graph, QuantParams
from tinycc_ml.kernels.depthwise_inplace4 import SYMBOL, SYMBOL_W16, pair_taps, pair_taps_w16
from tinycc_ml.kernels.registry import kernel_calls, scratch_bytes
from tinycc_ml.kernels.target import HOST_TARGET, KernelTarget
from tinycc_ml.quant import params as qparams

M7 = KernelTarget("cortex-m7", dsp=True, fpu="fpv5-d16")  # no flash figure: int8 weights
M7_FLASH = KernelTarget("cortex-m7", dsp=True, fpu="fpv5-d16", flash_bytes=1 << 20)  # the STM32F746: int16
TARGETS = {SYMBOL: M7, SYMBOL_W16: M7_FLASH}
GENERAL = "tinyc_depthwise_conv_inplace_s8"
SETTINGS = settings(max_examples=80, deadline=None, derandomize="CI" in os.environ,
                    suppress_health_check=[HealthCheck.too_slow])
ZERO_POINTS = st.sampled_from([-128, 127, 0, -5, 64])


def _weights(draw: st.DrawFn, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    kind = draw(st.sampled_from(["random", "extreme", "plus127", "minus127"]))
    if kind == "random":
        return rng.integers(-128, 128, size=shape).astype(np.int8)
    if kind == "extreme":
        return rng.choice(np.array([-127, 127], dtype=np.int8), size=shape)
    return np.full(shape, 127 if kind == "plus127" else -127, dtype=np.int8)


def _weight_quant(draw: st.DrawFn, channels: int) -> QuantParams:
    if draw(st.booleans()):
        return QuantParams.per_tensor(float(np.float32(10.0 ** draw(st.floats(-5.0, 0.0)))), 0)
    low, high = float(np.float32(1e-6)), float(np.float32(1.0))
    values = [draw(st.sampled_from([low, high, float(np.float32(0.01 * (1 + c)))])) for c in range(channels)]
    return QuantParams(tuple(values), (0,) * channels, axis=0)


@st.composite
def ring_graphs(draw: st.DrawFn, fours: bool = True, kws_like: bool = False):
    """Same-size, stride-1 depthwise convs marked in place: channels 4..68 in fours (fours) or
    any count 2..69 (then mostly not % 4), kernels 1..5 x 1..5, dilation 1 or 2, every top
    and left padding. kws_like: 3x3 windows and scales whose requantize tail the compiler
    proves (kws's case: the unrolled nine-tap loop and the proved tail)."""
    rng = np.random.default_rng(draw(seeds))
    c = 4 * draw(st.integers(1, 17)) if fours else draw(st.integers(2, 69))
    kh, kw = draw(st.sampled_from([1, 2, 3, 3, 3, 4, 5])), draw(st.sampled_from([1, 2, 3, 3, 3, 5]))
    if kws_like:
        kh = kw = 3
    if kh == kw == 1:
        kw = 3  # a 1x1 depthwise conv is pointwise: another kernel
    dh, dw = draw(st.sampled_from([1, 1, 2])), draw(st.sampled_from([1, 1, 2]))
    eh, ew = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    top, left = draw(st.integers(0, eh - 1)), draw(st.integers(0, ew - 1))
    pads = (top, left, eh - 1 - top, ew - 1 - left)
    n, h, w = draw(st.integers(1, 2)), draw(st.integers(1, 7)), draw(st.integers(1, 7))
    in_q = QuantParams.per_tensor(float(np.float32(10.0 ** draw(st.floats(-3.0, 0.0)))), draw(ZERO_POINTS))
    if kws_like:  # per-channel scales within a factor 2, an output scale above the products'
        w_q = QuantParams(tuple(float(np.float32(0.01 * (1 + (i % 7) / 7))) for i in range(c)), (0,) * c, axis=0)
        out_q = QuantParams.per_tensor(in_q.s * 0.02 * 10 ** draw(st.floats(0.5, 2.5)), draw(ZERO_POINTS))
    else:
        w_q = _weight_quant(draw, c)
        out_q = QuantParams.per_tensor(in_q.s * max(w_q.scale) * 10 ** draw(st.floats(-1.0, 3.0)),
                                       draw(ZERO_POINTS))
    weights = _weights(draw, rng, (c, 1, kh, kw))
    bias = None if draw(st.booleans()) else rng.integers(-(1 << 16), 1 << 16, size=c).astype(np.int32)
    requant = qparams.conv_requant(in_q, w_q, out_q)
    max_acc = 255 * 128 * kh * kw + (0 if bias is None else int(np.abs(bias).max()))
    assume(all(max_acc << max(shift, 0) < (1 << 31) for shift in requant.shifts))
    act_min, act_max = draw(act_range())
    attrs = ops.Conv2d((1, 1), (dh, dw), pads, c, act_min, act_max, True)
    inputs = [act("x", (n, c, h, w), in_q), const("w", weights, w_q), const("b", bias) if bias is not None else None]
    return single_node(attrs, inputs, act("y", (n, c, h, w), out_q), {"x": NHWC, "y": NHWC})


def _symbol(graph: Graph, target: KernelTarget = M7) -> str:
    (call,) = kernel_calls(graph.nodes[0], graph, target)
    return call.symbol


@SETTINGS
@given(graph=ring_graphs(), seed=seeds, symbol=st.sampled_from(sorted(TARGETS)))
def test_matches_interpreter(kernel_runners, graph, seed, symbol):
    assert general(_symbol(graph, TARGETS[symbol])) == symbol
    for g in both_tails(graph, TARGETS[symbol]):
        check_kernels(g, kernel_runners, seed, target=TARGETS[symbol])


@SETTINGS
@given(graph=ring_graphs(fours=False), seed=seeds)
def test_other_channel_counts_keep_the_general_kernel(kernel_runners, graph, seed):
    c = graph.tensor("x").shape[1]
    assert general(_symbol(graph)) == (SYMBOL if c % 4 == 0 else GENERAL)
    assert _symbol(graph, HOST_TARGET) == GENERAL
    check_kernels(graph, kernel_runners, seed, target=M7)


def _proved(graph: Graph, target: KernelTarget) -> bool:
    (call,) = kernel_calls(graph.nodes[0], graph, target)
    return int(next(a for a in call.args if getattr(a, "name", "") == "requant").values[-1]) != 0


@SETTINGS
@given(graph=ring_graphs(kws_like=True), seed=seeds, symbol=st.sampled_from(sorted(TARGETS)))
def test_proved_nine_tap_loop_matches_interpreter(kernel_runners, graph, seed, symbol):
    chosen = _symbol(graph, TARGETS[symbol])
    assert general(chosen) == symbol and is_proved(chosen) and _proved(graph, TARGETS[symbol])
    for g in both_tails(graph, TARGETS[symbol]):
        check_kernels(g, kernel_runners, seed, target=TARGETS[symbol])


def test_on_cortex_m(qemu_kernel_runner):
    strategy = st.tuples(st.one_of(ring_graphs(), ring_graphs(kws_like=True)), seeds, st.sampled_from(sorted(TARGETS)))
    cases = draw_examples(strategy, 200)
    assert all(general(_symbol(g, TARGETS[symbol])) == symbol for g, _, symbol in cases)
    assert {symbol for _, _, symbol in cases} == set(TARGETS)
    # every pixel loop: guarded and proved tails, 3x3 unrolled or any window, clamped or full range
    shapes = {(_proved(g, TARGETS[symbol]), g.tensor("w").shape[2:] == (3, 3),
               g.nodes[0].attrs.act_min == -128 and g.nodes[0].attrs.act_max == 127) for g, _, symbol in cases}
    assert len(shapes) == 8, shapes
    batch = [kernel_case(one, seed, target=TARGETS[symbol]) for g, seed, symbol in cases
             for one in both_tails(g, TARGETS[symbol])]
    assert check_kernels_batch(batch, qemu_kernel_runner) > 300


def _grid_graph(n, c, h, w, kh, kw, dil, top, left, seed) -> Graph:
    eh, ew = (kh - 1) * dil + 1, (kw - 1) * dil + 1
    rng = np.random.default_rng(seed)
    wt = rng.integers(-128, 128, size=(c, 1, kh, kw)).astype(np.int8)
    b = rng.integers(-3000, 3000, size=c).astype(np.int32)
    wq = QuantParams(tuple(0.004 + 0.001 * i for i in range(c)), (0,) * c, axis=0)
    attrs = ops.Conv2d((1, 1), (dil, dil), (top, left, eh - 1 - top, ew - 1 - left), c, -100, 120, True)
    return single_node(attrs, [act("x", (n, c, h, w), QuantParams.per_tensor(0.05, 3)), const("w", wt, wq),
                               const("b", b)],
                       act("y", (n, c, h, w), QuantParams.per_tensor(0.02, -5)), {"x": NHWC, "y": NHWC})


def _overlap_grid() -> list[Graph]:
    grid = itertools.product((1, 2), (4, 8), (1, 3, 4), (2, 5), (1, 3), (2, 3), (1, 2), (0, 1, 2), (0, 1, 2))
    return [_grid_graph(n, c, h, w, kh, kw, dil, top, left, seed=i)
            for i, (n, c, h, w, kh, kw, dil, top, left) in enumerate(grid)
            if top <= (kh - 1) * dil and left <= (kw - 1) * dil]


def test_is_in_place_on_one_shared_buffer(kernel_lib, kernel_lib_simd):
    """The access model's distance (exactly in place or better), run on one buffer at that
    distance by the portable and the SIMD build."""
    for symbol, target in TARGETS.items():
        graphs = [g for graph in _overlap_grid() for g in both_tails(graph, target)]  # both tails
        assert {_symbol(g, target) for g in graphs} == {symbol.replace("_c4_", "_c4_proved_"), symbol}
        assert all(single_node_distance(g, "x", target=target) <= 0 for g in graphs)
        for lib in (kernel_lib, kernel_lib_simd):
            tally = check_grid(lib, graphs, replayable=False, target=target)
            assert {general(s) for s in tally.symbols} == {symbol} and tally.cases == len(graphs) > 400, tally
            assert tally.tight > tally.cases // 3


def test_scratch_twin_is_the_ring(kernel_lib):
    for shape in ((1, 8, 5, 4, 3, 3, 1, 1, 1), (2, 12, 25, 5, 3, 3, 1, 1, 1), (1, 4, 3, 6, 5, 5, 1, 4, 2),
                  (1, 4, 2, 2, 3, 3, 2, 4, 4)):
        graph = _grid_graph(*shape, seed=0)
        n, c, h, w, kh, kw, dil, top, left = shape
        want = min(top * w + left + 1, h * w) * c
        for symbol, target in TARGETS.items():
            for g in both_tails(graph, target):
                (call,) = kernel_calls(g.nodes[0], g, target)
                assert general(call.symbol) == symbol and scratch_bytes(call) == call.scratch_bytes == want
                assert kernel_lib.call_int(f"{call.symbol}_get_buffer_size", call.params, call.params_type) == want


def test_constants_the_compiler_prepares():
    """Weights in SMLAD tap pairs, the input offset folded into the bias, per group of four
    channels its biases, multipliers and tail constants in one row, a pad row of input zero
    points, and the proved tail's word."""
    wt = (np.arange(8 * 9, dtype=np.int64).reshape(8, 1, 3, 3) % 11 - 5).astype(np.int8)
    flat = pair_taps(wt)
    taps = wt[:, 0].reshape(8, 9)
    assert flat[:8].tolist() == [taps[0, 0], taps[1, 0], taps[0, 1], taps[1, 1],
                                 taps[2, 0], taps[3, 0], taps[2, 1], taps[3, 1]]
    assert flat[32:36].tolist() == taps[0:4, 8].tolist()  # the odd ninth tap, one word
    assert flat[36:40].tolist() == [taps[4, 0], taps[5, 0], taps[4, 1], taps[5, 1]]
    assert sorted(flat.tolist()) == sorted(wt.reshape(-1).tolist())
    words = pair_taps_w16(wt).view(np.uint32).astype(np.int64)
    halves = np.stack([words & 0xFFFF, words >> 16], axis=1).reshape(-1).astype(np.uint16).view(np.int16)
    assert halves[:8].tolist() == [taps[0, 0], taps[0, 1], taps[1, 0], taps[1, 1],
                                   taps[2, 0], taps[2, 1], taps[3, 0], taps[3, 1]]
    assert halves[32:36].tolist() == [taps[0, 8], taps[2, 8], taps[1, 8], taps[3, 8]]  # {w0, w2} {w1, w3}
    assert halves[36:38].tolist() == [taps[4, 0], taps[4, 1]]
    assert len(halves) == wt.size
    graph = _grid_graph(1, 8, 4, 4, 3, 3, 1, 1, 1, seed=3)
    (call,) = kernel_calls(graph.nodes[0], graph, M7)
    args = {a.name: a for a in call.args if hasattr(a, "values")}
    w, b, zp = graph.tensor("w").data, graph.tensor("b").data, graph.tensor("x").quant.zp
    folded = b - zp * w.astype(np.int64).reshape(8, -1).sum(axis=1)
    consts = np.asarray(args["consts"].values).reshape(2, 16)  # per group: bias[4], multiplier[4], (k, shift)[4]
    requant = np.asarray(args["requant"].values)
    assert consts[:, :4].reshape(-1).tolist() == folded.tolist()
    assert len(requant) == 2 * 8 + 1 and requant[-1] != 0  # packed shifts; this layer's tail is proved
    assert np.all(consts[:, 4:8] >= 1 << 30) and np.all(consts[:, 9:16:2] >= 1)  # multipliers, right shifts
    assert np.asarray(args["pad"].values).tolist() == [zp] * 8


def test_on_m33_and_m3(qemu_other_core_runner):
    """The Cortex-M33's DSP build and the Cortex-M3's portable firmware (selected for a DSP
    target, so the M3 runs these kernels' portable path on their compile-time layouts)."""
    cases = draw_examples(st.tuples(ring_graphs(), seeds, st.sampled_from(sorted(TARGETS))), 40)
    batch = [kernel_case(one, seed, target=TARGETS[symbol]) for g, seed, symbol in cases
             for one in both_tails(g, TARGETS[symbol])]
    assert {general(call.symbol) for case in batch for call in case.calls} == set(TARGETS)
    assert check_kernels_batch(batch, qemu_other_core_runner) == len(batch)


def _tiny_accumulator_graph(seed: int) -> Graph:
    """Weights in {-1, 0, 1} and biases in [-3, 3]: accumulators near 0 of both signs, where
    the proved tail's rounded product is 0 for a negative accumulator (the SMMLAR form's
    sign fix-up reads the accumulator's sign, tinyc/dw_inplace4.h)."""
    rng = np.random.default_rng(seed)
    c = 8
    wt = rng.integers(-1, 2, size=(c, 1, 3, 3)).astype(np.int8)
    wt[: c // 2] = 0  # half the channels: the bias alone
    b = rng.integers(-3, 4, size=c).astype(np.int32)
    wq = QuantParams(tuple(0.01 * (1 + i / 8) for i in range(c)), (0,) * c, axis=0)
    attrs = ops.Conv2d((1, 1), (1, 1), (1, 1, 1, 1), c, -128, 127, True)
    return single_node(attrs, [act("x", (1, c, 4, 5), QuantParams.per_tensor(0.05, 0)), const("w", wt, wq),
                               const("b", b)],
                       act("y", (1, c, 4, 5), QuantParams.per_tensor(0.05 * 0.01 * 4, 0)), {"x": NHWC, "y": NHWC})


def test_proved_tail_near_zero(kernel_runners, qemu_kernel_runner):
    graphs = [_tiny_accumulator_graph(seed) for seed in range(6)]
    for symbol, target in TARGETS.items():
        assert all(general(_symbol(g, target)) == symbol and _proved(g, target) for g in graphs)
        for seed, g in enumerate(graphs):
            check_kernels(g, kernel_runners, seed, target=target)
        assert check_kernels_batch([kernel_case(g, seed, target=target) for seed, g in enumerate(graphs)],
                                   qemu_kernel_runner) == len(graphs)


def test_int16_weights_take_the_proved_double_shift():
    """Where the tail is proved, the int16-weight kernel's weights and biases come shifted by
    its double shift (the tail then shifts nothing); the int8 kernel's do not."""
    graph = _grid_graph(1, 8, 4, 4, 3, 3, 1, 1, 1, seed=3)
    calls = {symbol: kernel_calls(graph.nodes[0], graph, target)[0] for symbol, target in TARGETS.items()}
    args = {symbol: {a.name: a for a in call.args if hasattr(a, "values")} for symbol, call in calls.items()}
    shift = int(np.asarray(args[SYMBOL]["requant"].values)[-1])
    assert shift >= 1 and int(np.asarray(args[SYMBOL_W16]["requant"].values)[-1]) == shift
    narrow = np.asarray(args[SYMBOL]["consts"].values).reshape(2, 16)
    wide = np.asarray(args[SYMBOL_W16]["consts"].values).reshape(2, 16)
    assert wide[:, :4].tolist() == (narrow[:, :4].astype(np.int64) << shift).tolist()
    assert wide[:, 4:].tolist() == narrow[:, 4:].tolist()
    words = np.asarray(args[SYMBOL_W16]["weights"].values).view(np.uint32).astype(np.int64)
    halves = np.stack([words & 0xFFFF, words >> 16], axis=1).reshape(-1).astype(np.uint16).view(np.int16)
    plain = pair_taps_w16(graph.tensor("w").data).view(np.uint32).astype(np.int64)
    plain_halves = np.stack([plain & 0xFFFF, plain >> 16], axis=1).reshape(-1).astype(np.uint16).view(np.int16)
    assert halves.astype(np.int64).tolist() == (plain_halves.astype(np.int64) << shift).tolist()
