/*
 * Fixed-point primitives of TFLite's int8 scheme: the C twin of
 * tinycc_ml/quant/fixedpoint.py. Same names (tinyc_ prefix), same bits.
 */
#ifndef TINYC_REQUANT_H
#define TINYC_REQUANT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TINYC_INT32_MIN ((int32_t)(-2147483647 - 1))
#define TINYC_INT32_MAX ((int32_t)2147483647)

static inline int32_t tinyc_saturating_rounding_doubling_high_mul(int32_t a, int32_t b)
{
    if (a == b && a == TINYC_INT32_MIN) {
        return TINYC_INT32_MAX;
    }
    const int64_t ab = (int64_t)a * (int64_t)b;
    const int64_t nudge = ab >= 0 ? (1LL << 30) : (1 - (1LL << 30));
    /* C division truncates toward zero, as gemmlowp relies on. */
    return (int32_t)((ab + nudge) / (1LL << 31));
}

static inline int32_t tinyc_rounding_divide_by_pot(int32_t x, int32_t exponent)
{
    const int32_t mask = (int32_t)((1LL << exponent) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    /* Arithmetic right shift of a negative value: implementation-defined in C99, but
     * arithmetic on every compiler tinyc supports (gcc documents it). */
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

static inline int32_t tinyc_multiply_by_quantized_multiplier(int32_t x, int32_t multiplier, int32_t shift)
{
    const int32_t left_shift = shift > 0 ? shift : 0;
    const int32_t right_shift = shift > 0 ? 0 : -shift;
    /* Multiply in 64 bits and narrow, so a left shift never overflows int32 (UB); for every
     * value TFLite's int32 product does not overflow, the result is the same. */
    const int32_t shifted = (int32_t)((int64_t)x * ((int64_t)1 << left_shift));
    return tinyc_rounding_divide_by_pot(tinyc_saturating_rounding_doubling_high_mul(shifted, multiplier), right_shift);
}

static inline int32_t tinyc_multiply_by_quantized_multiplier_greater_than_one(int32_t x, int32_t multiplier,
                                                                            int32_t left_shift)
{
    const int32_t shifted = (int32_t)((int64_t)x * ((int64_t)1 << left_shift));
    return tinyc_saturating_rounding_doubling_high_mul(shifted, multiplier);
}

static inline int32_t tinyc_clamp_i32(int32_t x, int32_t lo, int32_t hi)
{
    return x < lo ? lo : (x > hi ? hi : x);
}

/* The requantize tail every accumulating kernel shares (CMSIS-NN's arm_nn_requantize + offset +
 * clamp): acc -> MultiplyByQuantizedMultiplier -> + output offset -> clamp to the activation
 * range. The offset is added in 64 bits so an extreme product cannot overflow (UB); Python
 * adds in int64 too, so the bits agree. SIMD paths call this same function per lane. */
static inline int8_t tinyc_requantize_s8(int32_t acc, int32_t multiplier, int32_t shift, int32_t output_offset,
                                         int32_t act_min, int32_t act_max)
{
    const int64_t out = (int64_t)tinyc_multiply_by_quantized_multiplier(acc, multiplier, shift) + output_offset;
    return (int8_t)(out < act_min ? act_min : (out > act_max ? act_max : out));
}

#ifdef __cplusplus
}
#endif

#endif /* TINYC_REQUANT_H */
