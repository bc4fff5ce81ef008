"""quant/softmax.py: TFLite Micro's int8 softmax.

Checked three ways: against a scalar transcription of gemmlowp / TFLite's reference
kernel in plain Python ints (catches vectorisation slips), against the real functions
it approximates (catches wrong constants), and, in test_mlperf_interp.py, against TFLite
Micro itself on three models whose last op is this softmax.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinycc_ml.ir.graph import QuantParams
from tinycc_ml.quant import softmax as sm
from tinycc_ml.quant.params import SoftmaxParams, softmax_params

I32_MIN, I32_MAX = -(1 << 31), (1 << 31) - 1


# ---- scalar reference, one gemmlowp function at a time ----

def wrap(x: int) -> int:
    return (x - I32_MIN) % (1 << 32) + I32_MIN


def srdhm(a: int, b: int) -> int:
    if a == b == I32_MIN:
        return I32_MAX
    ab = a * b
    num = ab + ((1 << 30) if ab >= 0 else 1 - (1 << 30))
    q = abs(num) >> 31
    return q if num >= 0 else -q


def rdbp(x: int, e: int) -> int:
    mask = (1 << e) - 1
    rem = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> e) + (1 if rem > threshold else 0)


def mul_by_pot(x: int, e: int) -> int:
    if e <= 0:
        return rdbp(x, -e)
    if x > (1 << (31 - e)) - 1:
        return I32_MAX
    if x < -((1 << (31 - e)) - 1):
        return I32_MIN
    return x << e


def exp_quarter(a: int) -> int:
    x = wrap(a + (1 << 28))
    x2 = srdhm(x, x)
    x3 = srdhm(x2, x)
    x4 = srdhm(x2, x2)
    poly = rdbp(wrap(srdhm(wrap(rdbp(x4, 2) + x3), 715827883) + x2), 1)
    return wrap(1895147668 + srdhm(1895147668, wrap(x + poly)))


def exp_neg(a: int) -> int:
    quarter = 1 << 24
    a_mod = wrap((a & (quarter - 1)) - quarter)
    result = exp_quarter(mul_by_pot(a_mod, 5))
    remainder = wrap(a_mod - a)
    for exponent, mult in ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308),
                           (2, 39332535), (3, 720401), (4, 242)):
        if remainder & (1 << (26 + exponent)):
            result = srdhm(result, mult)
    return I32_MAX if a == 0 else result


def one_over_one_plus_x(a: int) -> int:
    s = a + I32_MAX
    s += 1 if s >= 0 else -1
    half = abs(s) // 2 * (1 if s >= 0 else -1)
    x = wrap(1515870810 + srdhm(half, -1010580540))
    for _ in range(3):
        x = wrap(x + mul_by_pot(srdhm(x, wrap((1 << 29) - srdhm(half, x))), 2))
    return mul_by_pot(x, 1)


def ref_softmax_row(row: list[int], p: SoftmaxParams) -> list[int]:
    top = max(row)
    total = 0
    for v in row:
        d = v - top
        if d >= p.diff_min:
            total = wrap(total + rdbp(exp_neg(srdhm(d * (1 << p.input_left_shift), p.input_multiplier)), 12))
    headroom_plus_one = 32 - total.bit_length()
    num_bits_over_unit = 12 - headroom_plus_one
    scale = one_over_one_plus_x(((total << headroom_plus_one) & 0xFFFFFFFF) - (1 << 31))
    out = []
    for v in row:
        d = v - top
        if d >= p.diff_min:
            e = exp_neg(srdhm(d * (1 << p.input_left_shift), p.input_multiplier))
            out.append(max(-128, min(127, rdbp(srdhm(scale, e), num_bits_over_unit + 23) - 128)))
        else:
            out.append(-128)
    return out


# ---- tests ----

scales = st.floats(min_value=1e-3, max_value=2.0, allow_nan=False).map(lambda s: float(np.float32(s)))


@settings(max_examples=150, deadline=None)
@given(scales, st.integers(-128, 127), st.lists(st.integers(-128, 127), min_size=1, max_size=40))
def test_softmax_matches_scalar_reference(scale: float, zp: int, row: list[int]) -> None:
    p = softmax_params(QuantParams.per_tensor(scale, zp))
    got = sm.softmax_int8(np.array([row], dtype=np.int8), p)
    assert got[0].tolist() == ref_softmax_row(row, p)


@settings(max_examples=60, deadline=None)
@given(scales, st.lists(st.integers(-128, 127), min_size=2, max_size=64))
def test_softmax_is_close_to_float(scale: float, row: list[int]) -> None:
    """Within 2/256 of the exact softmax (TFLite's fixed-point approximations are ~1 LSB)."""
    p = softmax_params(QuantParams.per_tensor(scale, 0))
    got = sm.softmax_int8(np.array(row, dtype=np.int8), p).astype(np.float64)
    z = np.asarray(row, dtype=np.float64) * scale
    exact = np.exp(z - z.max())
    exact /= exact.sum()
    assert np.max(np.abs((got + 128) / 256 - exact)) <= 2 / 256


def test_softmax_rows_are_independent_and_shape_kept() -> None:
    rng = np.random.default_rng(1)
    x = rng.integers(-128, 128, size=(2, 3, 10), dtype=np.int8)
    p = softmax_params(QuantParams.per_tensor(0.25, 3))
    got = sm.softmax_int8(x, p)
    assert got.shape == x.shape and got.dtype == np.int8
    for idx in np.ndindex(2, 3):
        assert got[idx].tolist() == ref_softmax_row(x[idx].tolist(), p)


def test_exp_on_negative_values_accuracy() -> None:
    # Q5.26 inputs from 0 down to -31.99; result Q0.31.
    raw = np.concatenate([np.arange(0, -(32 << 26), -(1 << 19)), [-1, -2, -(1 << 24), -(1 << 24) - 1]])
    got = sm.exp_on_negative_values(raw).astype(np.float64) / 2**31
    exact = np.exp(raw.astype(np.float64) / 2**26)
    assert np.max(np.abs(got - exact)) < 3e-7  # 4th-order Taylor around -1/8: (1/8)^5 / 120
    assert [sm.exp_on_negative_values(np.array(v)).item() for v in (0, -1, -(1 << 24), -(5 << 26))] == [
        exp_neg(v) for v in (0, -1, -(1 << 24), -(5 << 26))
    ]


def test_one_over_one_plus_x_accuracy() -> None:
    raw = np.linspace(0, I32_MAX, 4097).astype(np.int64)
    got = sm.one_over_one_plus_x_for_x_in_0_1(raw).astype(np.float64) / 2**31
    exact = 1.0 / (1.0 + raw / 2**31)
    assert np.max(np.abs(got - exact)) < 1e-8
    assert [int(v) for v in sm.one_over_one_plus_x_for_x_in_0_1(raw[::256])] == [
        one_over_one_plus_x(int(v)) for v in raw[::256]
    ]


def test_softmax_params_match_tflite_prepare() -> None:
    # beta * s * 2^26 = 0.3302918 * 2^26 -> frexp -> multiplier/shift; diff_min = -floor(31 * 2^26 / 2^shift)
    q = QuantParams.per_tensor(0.3302918, 45)
    p = softmax_params(q)
    real = float(np.float32(0.3302918)) * 2.0**26
    mant, exp = math.frexp(real)
    assert (p.input_multiplier, p.input_left_shift) == (round(mant * 2**31), exp)
    assert p.diff_min == -math.floor(31 * 2**26 / 2**exp)
    # a huge scale saturates the real multiplier at 2^31 - 1
    big = softmax_params(QuantParams.per_tensor(1000.0, 0))
    assert (big.input_multiplier, big.input_left_shift, big.diff_min) == (I32_MAX, 31, 0)


def test_softmax_rejects_non_int8() -> None:
    with pytest.raises(TypeError):
        sm.softmax_int8(np.zeros(4, dtype=np.int16), softmax_params(QuantParams.per_tensor(0.1, 0)))
