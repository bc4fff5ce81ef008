"""The C fixed-point primitives (requant.h, fixedpoint.h) equal their Python twins
(quant/fixedpoint.py, quant/softmax.py) on hundreds of thousands of values, extremes
included. A softmax output hides most reciprocal errors behind its 8 bits; these do not."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from tinycc_ml.kernels.harness import raw_plan
from tinycc_ml.quant import fixedpoint as fp
from tinycc_ml.quant import softmax as sm

N = 200_000
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


def _call(runners, name: str, *inputs: np.ndarray, outputs: int = 1) -> list[np.ndarray]:
    """Run a tinyc_test_* array wrapper on every runner (in-process and sanitized); they
    must agree, and the in-process result is returned."""
    n = len(inputs[0])
    data = [np.ascontiguousarray(x, dtype=np.int32).tobytes() for x in inputs]
    results = []
    for runner in runners:
        buffers = runner.run(raw_plan(name, struct.pack("<i", n), data, [4 * n] * outputs))
        results.append([np.frombuffer(b, dtype=np.int32) for b in buffers[len(inputs) :]])
    for other in results[1:]:
        assert all(np.array_equal(x, y) for x, y in zip(results[0], other)), f"{name}: runners disagree"
    return results[0]


def _int32s(rng: np.random.Generator, low: int, high: int) -> np.ndarray:
    """Uniform values plus the edges of the range and small values near zero."""
    edges = np.array([low, low + 1, high - 1, high, 0, 1, -1, 2, -2], dtype=np.int64)
    edges = edges[(edges >= low) & (edges <= high)]
    small = rng.integers(max(low, -1000), min(high, 1000) + 1, size=N // 10)
    return np.concatenate([edges, small, rng.integers(low, high + 1, size=N, dtype=np.int64)])


@pytest.fixture(scope="module")
def rng() -> np.random.Generator:
    return np.random.default_rng(20240501)


def test_saturating_rounding_doubling_high_mul(kernel_runners, rng):
    a, b = _int32s(rng, INT32_MIN, INT32_MAX), _int32s(rng, INT32_MIN, INT32_MAX)
    (got,) = _call(kernel_runners, "tinyc_test_srdhm", a, b)
    assert np.array_equal(got, fp.saturating_rounding_doubling_high_mul(a, b))


def test_rounding_divide_by_pot(kernel_runners, rng):
    x = _int32s(rng, INT32_MIN, INT32_MAX)
    exponent = rng.integers(0, 32, size=len(x))
    (got,) = _call(kernel_runners, "tinyc_test_rounding_divide_by_pot", x, exponent)
    assert np.array_equal(got, fp.rounding_divide_by_pot(x, exponent))


def test_multiply_by_quantized_multiplier(kernel_runners, rng):
    shift = rng.integers(-31, 31, size=N)
    multiplier = rng.integers(1 << 30, 1 << 31, size=N)
    # Only where the int32 left shift cannot overflow (TFLite's own precondition).
    limit = (1 << 31) >> np.maximum(shift, 0)
    x = (rng.integers(INT32_MIN, INT32_MAX + 1, size=N) % (2 * limit)) - limit
    (got,) = _call(kernel_runners, "tinyc_test_mbqm", x, multiplier, shift)
    assert np.array_equal(got, fp.multiply_by_quantized_multiplier(x, multiplier, shift))


def test_exp_on_negative_values(kernel_runners, rng):
    a = np.concatenate([_int32s(rng, INT32_MIN, 0), -np.arange(0, 1 << 16) * 1024])
    (got,) = _call(kernel_runners, "tinyc_test_exp_on_negative_values", a)
    assert np.array_equal(got, sm.exp_on_negative_values(a))


def test_one_over_one_plus_x_for_x_in_0_1(kernel_runners, rng):
    a = _int32s(rng, 0, INT32_MAX)
    (got,) = _call(kernel_runners, "tinyc_test_one_over_one_plus_x_for_x_in_0_1", a)
    assert np.array_equal(got, sm.one_over_one_plus_x_for_x_in_0_1(a))


def test_get_reciprocal(kernel_runners, rng):
    x = np.concatenate([_int32s(rng, 1, INT32_MAX), 1 << np.arange(31)])
    got, bits = _call(kernel_runners, "tinyc_test_get_reciprocal", x, outputs=2)
    want, want_bits = sm.get_reciprocal(x.astype(np.int64), sm.ACCUMULATION_INTEGER_BITS)
    assert np.array_equal(got, want)
    assert np.array_equal(bits, want_bits)


def test_add_rescale_equals_mbqm_of_shifted_input(kernel_runners, rng):
    """tinyc_add_s8's int32 input rescale (add_rescale.h) equals
    MultiplyByQuantizedMultiplier(v << left_shift, m, shift) for every v an int8 plus its
    offset can be, multipliers over [2^30, 2^31) plus 0 and the extremes, every shift in
    [-31, 0] and the left shifts it accepts (TFLite's is 20)."""
    v = np.tile(np.arange(-255, 256), 400)
    n = v.size
    multiplier = rng.integers(1 << 30, 1 << 31, size=n)
    multiplier[:511] = (1 << 31) - 1
    multiplier[511:1022] = 1 << 30
    multiplier[1022:1533] = 0
    shift = rng.integers(-31, 1, size=n)
    left_shift = np.where(rng.random(n) < 0.5, 20, rng.integers(9, 23, size=n))
    (got,) = _call(kernel_runners, "tinyc_test_add_rescale", v, multiplier, shift, left_shift)
    want = fp.multiply_by_quantized_multiplier(v.astype(np.int64) << left_shift, multiplier, shift)
    assert np.array_equal(got, want)
