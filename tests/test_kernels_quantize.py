"""tinyc_quantize_f32 / tinyc_dequantize_f32 equal ONNX QuantizeLinear / DequantizeLinear in
float32 (quant/qdq.py, the Python twin) bit for bit, ties and saturation included."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from kernel_support import scales, seeds, zero_points

from tinycc_ml.ir.graph import QuantParams
from tinycc_ml.kernels.harness import float_boundary_plan
from tinycc_ml.quant.qdq import dequantize_f32, quantize_f32


def _quantize_c(runner, x: np.ndarray, q: QuantParams) -> np.ndarray:
    plan = float_boundary_plan("tinyc_quantize_f32", x.astype(np.float32).tobytes(), x.size, x.size, q.s, q.zp)
    return np.frombuffer(runner.run(plan)[1], dtype=np.int8)


def _dequantize_c(runner, x: np.ndarray, q: QuantParams) -> np.ndarray:
    plan = float_boundary_plan("tinyc_dequantize_f32", x.astype(np.int8).tobytes(), 4 * x.size, x.size, q.s, q.zp)
    return np.frombuffer(runner.run(plan)[1], dtype=np.float32)


def _inputs(rng: np.random.Generator, q: QuantParams, size: int) -> np.ndarray:
    """Values near every rounding tie (k + 1/2) * scale, exact ties, huge values, infinities."""
    scale = np.float32(q.s)
    k = rng.integers(-300, 300, size=size).astype(np.float32)
    near_ties = (k + np.float32(0.5)) * scale
    nudged = np.nextafter(near_ties, rng.choice([-np.inf, np.inf], size=size).astype(np.float32))
    uniform = rng.uniform(-200, 200, size=size).astype(np.float32) * scale
    special = np.array([0.0, -0.0, np.inf, -np.inf, 3e38, -3e38, 1e-45, 0.5 * scale, -0.5 * scale, 1.5 * scale,
                        -2.5 * scale, 127.5 * scale, -128.5 * scale], dtype=np.float32)  # fmt: skip
    return np.concatenate([near_ties, nudged, uniform, special]).astype(np.float32)


@settings(max_examples=40, deadline=None)
@given(scale=scales(), zero_point=zero_points, seed=seeds)
def test_quantize_matches_onnx_float32_semantics(kernel_runners, scale, zero_point, seed):
    q = QuantParams.per_tensor(scale, zero_point)
    x = _inputs(np.random.default_rng(seed), q, 64)
    want = quantize_f32(x, q)
    for runner in kernel_runners:
        got = _quantize_c(runner, x, q)
        assert got.tobytes() == want.tobytes(), (type(runner).__name__, np.argwhere(got != want)[:5].ravel())


@settings(max_examples=40, deadline=None)
@given(scale=scales(), zero_point=zero_points)
def test_dequantize_matches_onnx_float32_semantics(kernel_runners, scale, zero_point):
    q = QuantParams.per_tensor(scale, zero_point)
    x = np.arange(-128, 128, dtype=np.int8)
    want = dequantize_f32(x, q)
    for runner in kernel_runners:
        assert _dequantize_c(runner, x, q).view(np.uint32).tolist() == want.view(np.uint32).tolist()


def test_quantize_rounds_ties_to_even_and_maps_nan_to_the_zero_point(kernel_runners):
    q = QuantParams.per_tensor(1.0, 3)
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49999997, 124.5, 125.5, np.nan], dtype=np.float32)
    for runner in kernel_runners:
        assert _quantize_c(runner, x, q).tolist() == [3, 5, 5, 3, 1, 1, 3, 127, 127, 3]
