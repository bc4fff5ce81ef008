/*
 * gemmlowp's fixed-point transcendental helpers for TFLite's int8 softmax: the C twin of
 * tinycc_ml/quant/softmax.py (same names, tinyc_ prefix, same bits).
 *
 * A gemmlowp FixedPoint<int32_t, n> is its raw int32 value: multiplying two is
 * SaturatingRoundingDoublingHighMul (integer bits add up), adding is a plain int32 add.
 * gemmlowp's plain adds wrap in practice; here they are done in uint32 so that wrapping is
 * defined (no UB) and equal to the Python twin's _wrap32.
 */
#ifndef TINYC_FIXEDPOINT_H
#define TINYC_FIXEDPOINT_H

#include <stdint.h>

#include "tinyc/requant.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TINYC_SCALED_DIFF_INTEGER_BITS 5   /* softmax: exp() input is Q5.26 */
#define TINYC_ACCUMULATION_INTEGER_BITS 12 /* softmax: sum of exps is Q12.19 */

/* int32 addition that wraps instead of overflowing (the uint32 -> int32 conversion is
 * modulo 2^32 on every compiler tinyc supports). */
static inline int32_t tinyc_wrapping_add(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a + (uint32_t)b);
}

static inline int32_t tinyc_wrapping_sub(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a - (uint32_t)b);
}

/* gemmlowp::SaturatingRoundingMultiplyByPOT<exponent>: rounding right shift for a negative
 * exponent, saturating left shift for a positive one. */
static inline int32_t tinyc_saturating_rounding_multiply_by_pot(int32_t x, int32_t exponent)
{
    if (exponent < 0) {
        return tinyc_rounding_divide_by_pot(x, -exponent);
    }
    if (exponent > 0) {
        const int32_t threshold = (int32_t)((1L << (31 - exponent)) - 1);
        if (x > threshold) {
            return TINYC_INT32_MAX;
        }
        if (x < -threshold) {
            return TINYC_INT32_MIN;
        }
        return (int32_t)((uint32_t)x << exponent);
    }
    return x;
}

/* gemmlowp::RoundingHalfSum for int32: (a + b + sign) / 2 with C truncation. */
static inline int32_t tinyc_rounding_half_sum(int32_t a, int32_t b)
{
    const int64_t sum = (int64_t)a + (int64_t)b;
    const int64_t sign = sum >= 0 ? 1 : -1;
    return (int32_t)((sum + sign) / 2);
}

/* exp(a) for a in [-1/4, 0), Q0.31 in and out: Taylor series around -1/8. */
static inline int32_t tinyc_exp_on_interval_between_negative_one_quarter_and_0_excl(int32_t a)
{
    const int32_t constant_term = 1895147668; /* exp(-1/8) */
    const int32_t constant_1_over_3 = 715827883;
    const int32_t x = a + (1 << 28); /* a + 1/8 */
    const int32_t x2 = tinyc_saturating_rounding_doubling_high_mul(x, x);
    const int32_t x3 = tinyc_saturating_rounding_doubling_high_mul(x2, x);
    const int32_t x4 = tinyc_saturating_rounding_doubling_high_mul(x2, x2);
    const int32_t x4_over_4 = tinyc_saturating_rounding_multiply_by_pot(x4, -2);
    const int32_t x4_over_24_plus_x3_over_6_plus_x2_over_2 = tinyc_saturating_rounding_multiply_by_pot(
        tinyc_saturating_rounding_doubling_high_mul(x4_over_4 + x3, constant_1_over_3) + x2, -1);
    return tinyc_wrapping_add(constant_term, tinyc_saturating_rounding_doubling_high_mul(
                                                 constant_term, x + x4_over_24_plus_x3_over_6_plus_x2_over_2));
}

/* gemmlowp::exp_on_negative_values for a Q5.26 input a <= 0; Q0.31 result. */
static inline int32_t tinyc_exp_on_negative_values(int32_t a)
{
    const int32_t fractional_bits = 31 - TINYC_SCALED_DIFF_INTEGER_BITS;
    const int32_t one_quarter = (int32_t)1 << (fractional_bits - 2);
    const int32_t a_mod_quarter_minus_one_quarter = (a & (one_quarter - 1)) - one_quarter;
    const int32_t remainder = a_mod_quarter_minus_one_quarter - a;
    /* (exponent, raw Q0.31 exp(-2^exponent)) for exponent -2..4: the barrel shifter */
    static const int32_t barrel[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
    int32_t result = tinyc_exp_on_interval_between_negative_one_quarter_and_0_excl(
        tinyc_saturating_rounding_multiply_by_pot(a_mod_quarter_minus_one_quarter, TINYC_SCALED_DIFF_INTEGER_BITS));
    int32_t k;
    for (k = 0; k < 7; ++k) {
        const int32_t exponent = k - 2;
        if (TINYC_SCALED_DIFF_INTEGER_BITS > exponent &&
            (remainder & ((int32_t)1 << (fractional_bits + exponent))) != 0) {
            result = tinyc_saturating_rounding_doubling_high_mul(result, barrel[k]);
        }
    }
    /* With 5 integer bits gemmlowp has no clamp below -32. */
    return a == 0 ? TINYC_INT32_MAX : result;
}

/* gemmlowp::one_over_one_plus_x_for_x_in_0_1: Q0.31 in, Q0.31 out, Newton-Raphson. */
static inline int32_t tinyc_one_over_one_plus_x_for_x_in_0_1(int32_t a)
{
    const int32_t half_denominator = tinyc_rounding_half_sum(a, TINYC_INT32_MAX);
    const int32_t constant_48_over_17 = 1515870810;      /* Q2.29 */
    const int32_t constant_neg_32_over_17 = -1010580540; /* Q2.29 */
    const int32_t one_q2_29 = (int32_t)1 << 29;
    int32_t x = tinyc_wrapping_add(constant_48_over_17,
                                   tinyc_saturating_rounding_doubling_high_mul(half_denominator, constant_neg_32_over_17));
    int32_t i;
    for (i = 0; i < 3; ++i) {
        const int32_t half_denominator_times_x = tinyc_saturating_rounding_doubling_high_mul(half_denominator, x);
        const int32_t one_minus_half_denominator_times_x = tinyc_wrapping_sub(one_q2_29, half_denominator_times_x);
        x = tinyc_wrapping_add(x, tinyc_saturating_rounding_multiply_by_pot(
                                      tinyc_saturating_rounding_doubling_high_mul(x, one_minus_half_denominator_times_x), 2));
    }
    /* ExactMulByPot<-1> reinterprets Q2.29 as Q1.30; Rescale<0> shifts left by one. */
    return tinyc_saturating_rounding_multiply_by_pot(x, 1);
}

static inline int32_t tinyc_count_leading_zeros(uint32_t x)
{
#if defined(__GNUC__)
    return x == 0 ? 32 : (int32_t)__builtin_clz(x);
#else
    int32_t n = 0;
    if (x == 0) {
        return 32;
    }
    while ((x & 0x80000000u) == 0) {
        x <<= 1;
        ++n;
    }
    return n;
#endif
}

/* TFLite's GetReciprocal for x > 0: the Q0.31 reciprocal of x normalised to [1, 2), and
 * how many bits x has above the unit of a Q(x_integer_digits) number. */
static inline int32_t tinyc_get_reciprocal(int32_t x, int32_t x_integer_digits, int32_t *num_bits_over_unit)
{
    const int32_t headroom_plus_one = tinyc_count_leading_zeros((uint32_t)x);
    const uint32_t shifted = headroom_plus_one < 32 ? (uint32_t)x << headroom_plus_one : 0u;
    *num_bits_over_unit = x_integer_digits - headroom_plus_one;
    return tinyc_one_over_one_plus_x_for_x_in_0_1((int32_t)(shifted - 0x80000000u));
}

#ifdef __cplusplus
}
#endif

#endif /* TINYC_FIXEDPOINT_H */
