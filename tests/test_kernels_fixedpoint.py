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


# --- the requantize tails (requant.h): reference, fast (SMMULR) and the build's choice --------

REQUANT_N = 1_000_000


def _requant_cases(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Accumulators, multipliers and shifts over the whole range TFLite's QuantizeMultiplier
    gives (multiplier 0 or [2^30, 2^31), shift [-31, 30]), accumulators biased towards the
    precondition's edge |acc << left| ~ 2^30 and the int32 extremes."""
    shift = rng.integers(-31, 31, size=n)
    shift[: n // 20] = rng.integers(0, 31, size=n // 20)  # more left shifts than uniform
    multiplier = rng.integers(1 << 30, 1 << 31, size=n)
    multiplier[: n // 50] = rng.choice([0, 1 << 30, (1 << 31) - 1], size=n // 50)
    edge = (1 << 30) >> np.maximum(shift, 0)
    kind = rng.integers(0, 5, size=n)
    acc = np.select(
        [kind == 0, kind == 1, kind == 2, kind == 3],
        [
            rng.integers(INT32_MIN, INT32_MAX + 1, size=n),  # anything (the guard's other side too)
            edge + rng.integers(-3, 3, size=n),  # around the fast path's limit
            -edge + rng.integers(-3, 3, size=n),
            rng.integers(-(1 << 24), 1 << 24, size=n),  # what a real layer accumulates
        ],
        default=rng.integers(-300, 300, size=n),
    )
    acc = np.clip(acc, INT32_MIN, INT32_MAX)
    return acc, multiplier, shift


def _requant_call(runners, name: str, acc, multiplier, shift, output: tuple[int, int, int]) -> np.ndarray:
    n = len(acc)
    data = [np.ascontiguousarray(v, dtype=np.int32).tobytes() for v in (acc, multiplier, shift, output)]
    results = [
        np.frombuffer(runner.run(raw_plan(name, struct.pack("<i", n), data, [n]))[4], dtype=np.int8)
        for runner in runners
    ]
    for other in results[1:]:
        assert np.array_equal(results[0], other), f"{name}: runners disagree"
    return results[0]


@pytest.mark.parametrize("output", [(0, -128, 127), (-128, -128, 127), (127, -128, 127), (5, -20, 90)])
def test_requantize_tails_equal_python(kernel_runners, rng, output):
    """Both tails equal the Python twin wherever TFLite's int32 left shift is defined, and the
    fast tail equals the reference on every input (it falls back to it beyond its precondition)."""
    acc, multiplier, shift = _requant_cases(rng, REQUANT_N)
    offset, act_min, act_max = output
    want = np.clip(fp.multiply_by_quantized_multiplier(acc, multiplier, shift) + offset, act_min, act_max)
    defined = np.abs(acc.astype(np.int64) << np.maximum(shift, 0)) < (1 << 31)
    assert defined.mean() > 0.5
    reference = _requant_call(kernel_runners, "tinyc_test_requantize_reference", acc, multiplier, shift, output)
    fast = _requant_call(kernel_runners, "tinyc_test_requantize_fast", acc, multiplier, shift, output)
    chosen = _requant_call(kernel_runners, "tinyc_test_requantize", acc, multiplier, shift, output)
    assert np.array_equal(reference[defined], want[defined])
    assert np.array_equal(fast, reference)
    assert np.array_equal(chosen, reference)


def test_fast_mbqm_takes_the_fast_path_on_every_real_accumulator(kernel_runners, rng):
    """The guard is exact, not pessimistic: every acc with |acc << left| < 2^30 (all a layer can
    produce) takes the SMMULR path, and its value is the reference's; beyond, it falls back."""
    acc, multiplier, shift = _requant_cases(rng, REQUANT_N)
    data = [np.ascontiguousarray(v, dtype=np.int32).tobytes() for v in (acc, multiplier, shift)]
    for runner in kernel_runners:
        buffers = runner.run(raw_plan("tinyc_test_mbqm_fast", struct.pack("<i", len(acc)), data, [4 * len(acc)] * 2))
        value, exact = (np.frombuffer(b, dtype=np.int32) for b in buffers[3:])
        doubled = acc.astype(np.int64) << (np.maximum(shift, 0) + 1)
        fits = (doubled >= INT32_MIN) & (doubled <= INT32_MAX)
        assert np.array_equal(exact != 0, fits)
        assert np.array_equal(value[fits], fp.multiply_by_quantized_multiplier(acc, multiplier, shift)[fits])


def test_requantize_tails_on_cortex_m(qemu_kernel_runner, rng):
    """The DSP build's tails (SMMULR in hardware) on qemu-m4/m7: the same bits as Python, on
    2 M cases in one emulator run (chunks small enough for the board's 4 MB of RAM)."""
    chunk, chunks = 100_000, 20
    acc, multiplier, shift = _requant_cases(rng, chunk * chunks)
    output = (-3, -128, 127)
    want = np.clip(fp.multiply_by_quantized_multiplier(acc, multiplier, shift) + output[0], -128, 127)
    defined = np.abs(acc.astype(np.int64) << np.maximum(shift, 0)) < (1 << 31)
    plans = []
    for i in range(chunks):
        part = slice(i * chunk, (i + 1) * chunk)
        data = [np.ascontiguousarray(v, dtype=np.int32).tobytes() for v in (acc[part], multiplier[part], shift[part])]
        data.append(np.array(output, dtype=np.int32).tobytes())
        for name in ("tinyc_test_requantize", "tinyc_test_requantize_reference"):
            plans.append(raw_plan(name, struct.pack("<i", chunk), data, [chunk]))
    results = qemu_kernel_runner.run_many(plans)
    chosen = np.concatenate([np.frombuffer(r[4], dtype=np.int8) for r in results[0::2]])
    reference = np.concatenate([np.frombuffer(r[4], dtype=np.int8) for r in results[1::2]])
    assert np.array_equal(chosen, reference)
    assert np.array_equal(chosen[defined], want[defined])
