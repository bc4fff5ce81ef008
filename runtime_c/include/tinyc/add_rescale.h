/*
 * The input rescale of tinyc_add_s8 without a 64-bit product: the same bits as
 * tinyc_multiply_by_quantized_multiplier(v << left_shift, multiplier, shift) for v in
 * [-255, 255] (an int8 plus its offset), 9 <= left_shift <= 22, -31 <= shift <= 0 and
 * multiplier >= 0. Not part of the public API.
 *
 * With k = 31 - left_shift, SaturatingRoundingDoublingHighMul(v * 2^left_shift, m) is
 * trunc((v * m * 2^left_shift + nudge) / 2^31), nudge = 2^30 or 1 - 2^30 by sign, which is
 * exactly floor((v * m + 2^(k-1)) / 2^k) for both signs (for a negative product the nudge's
 * extra 1 - 2^-left_shift never reaches the next multiple of 2^k). Splitting
 * m = high * 2^k + low gives v * high + floor((v * low + 2^(k-1)) / 2^k), all in int32:
 * |v * high| < 2^8 * 2^left_shift <= 2^30 and |v * low| < 2^8 * 2^k <= 2^30. The rounding
 * right shift by -shift follows with its mask and threshold computed once per call.
 */
#ifndef TINYC_ADD_RESCALE_H
#define TINYC_ADD_RESCALE_H

#include <stdint.h>

typedef struct {
    int32_t offset;
    int32_t high, low; /* the multiplier split at bit k: m = high * 2^k + low */
    int32_t k, half;   /* 31 - left_shift, 2^(k-1) */
    int32_t exponent;  /* -shift: the rounding right shift */
    int32_t mask, threshold;
} tinyc_add_rescale;

static inline tinyc_add_rescale tinyc_add_rescale_of(int32_t offset, int32_t multiplier, int32_t shift,
                                                     int32_t left_shift)
{
    tinyc_add_rescale r;
    r.offset = offset;
    r.k = 31 - left_shift;
    r.half = (int32_t)1 << (r.k - 1);
    r.high = (int32_t)((uint32_t)multiplier >> r.k);
    r.low = (int32_t)((uint32_t)multiplier & (((uint32_t)1 << r.k) - 1u));
    r.exponent = -shift;
    r.mask = (int32_t)((1LL << r.exponent) - 1);
    r.threshold = r.mask >> 1;
    return r;
}

/* x: the int8 input value; its offset is added here. */
static inline int32_t tinyc_add_rescale_one(const tinyc_add_rescale *r, int32_t x)
{
    const int32_t v = x + r->offset;
    /* Arithmetic right shifts of negative values, as requant.h relies on. */
    const int32_t high_mul = v * r->high + ((v * r->low + r->half) >> r->k);
    const int32_t remainder = high_mul & r->mask;
    const int32_t threshold = r->threshold + (high_mul < 0 ? 1 : 0);
    return (high_mul >> r->exponent) + (remainder > threshold ? 1 : 0);
}

#endif /* TINYC_ADD_RESCALE_H */
