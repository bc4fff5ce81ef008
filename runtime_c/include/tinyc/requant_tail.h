/*
 * The requantize tail of the pointwise and depthwise kernels' SIMD paths: requant.h's fast
 * tail (tinyc_requant_channel_of, tinyc_requant_fast_mbqm, the reference fallback), with one
 * channel's constants derived once per block of outputs and held in scalars, and the clamp
 * to the full int8 range as one SSAT where the kernel knows the activation range is
 * [-128, 127] (a constant at every call site, so the choice is made at compile time).
 * Passing requant.h's structs by value made gcc keep them on the stack and copy them for
 * every output. Not part of the public API.
 */
#ifndef TINYC_REQUANT_TAIL_H
#define TINYC_REQUANT_TAIL_H

#include <stdint.h>

#include "tinyc/arm_dsp.h"
#include "tinyc/requant.h"

typedef struct {
    int32_t multiplier, shift, double_shift, right_shift, round, sign_mask;
} tinyc_tail_channel;

static inline tinyc_tail_channel tinyc_tail_channel_of(int32_t multiplier, int32_t shift)
{
    tinyc_tail_channel q;
    const int32_t left = shift > 0 ? shift : 0;
    q.multiplier = multiplier;
    q.shift = shift;
    q.double_shift = left + 1;
    q.right_shift = left - shift;
    q.round = (int32_t)((1u << q.right_shift) >> 1);
    q.sign_mask = -(int32_t)(q.right_shift != 0);
    return q;
}

/* The same constants precomputed by the compiler (kernels/pointwise.py requant_table), for
 * kernels that take them instead of a shift per channel: requant[2 * c] = double_shift |
 * right_shift << 8 | (right_shift != 0) << 16, requant[2 * c + 1] = round. Three loads and
 * three bit-field extractions instead of the derivation above. */
static inline tinyc_tail_channel tinyc_tail_channel_packed(const int32_t *multiplier, const int32_t *requant,
                                                           int32_t c)
{
    tinyc_tail_channel q;
    const uint32_t packed = (uint32_t)requant[2 * c];
    q.multiplier = multiplier[c];
    q.double_shift = (int32_t)(packed & 0xFFu);
    q.right_shift = (int32_t)((packed >> 8) & 0xFFu);
    q.sign_mask = -(int32_t)((packed >> 16) & 1u);
    q.round = requant[2 * c + 1];
    q.shift = q.double_shift - 1 - q.right_shift;
    return q;
}

/* The shift a packed entry was made from (for the reference tail). */
static inline int32_t tinyc_tail_packed_shift(const int32_t *requant, int32_t c)
{
    const uint32_t packed = (uint32_t)requant[2 * c];
    return (int32_t)(packed & 0xFFu) - 1 - (int32_t)((packed >> 8) & 0xFFu);
}

/* x clamped to [-128, 127]: SSAT #8 on a DSP core. */
static inline int32_t tinyc_tail_sat8(int32_t x)
{
#if TINYC_HAVE_DSP
    int32_t r;
    __asm__("ssat %0, #8, %1" : "=r"(r) : "r"(x));
    return r;
#else
    return x < -128 ? -128 : (x > 127 ? 127 : x);
#endif
}

/* acc -> the output byte: SMMULR and the rounding shift where 2 * (acc << left) fits int32
 * (every real layer), the reference tail otherwise, so exact for every acc (requant.h).
 * full_range: act_min == -128 and act_max == 127 (then they are not read). */
static inline int8_t tinyc_tail_s8(int32_t acc, tinyc_tail_channel q, int32_t output_offset, int32_t act_min,
                                   int32_t act_max, int full_range)
{
    const int32_t doubled = (int32_t)((uint32_t)acc << q.double_shift);
    int32_t v;
    if ((doubled >> q.double_shift) != acc) {
        return tinyc_requant_slow_s8(acc, q.multiplier, q.shift, output_offset, act_min, act_max);
    }
    v = tinyc_smmulr(doubled, q.multiplier);
    v = ((v + q.round + ((v >> 31) & q.sign_mask)) >> q.right_shift) + output_offset;
    if (full_range) {
        return (int8_t)tinyc_tail_sat8(v);
    }
    v = v < act_min ? act_min : v;
    v = v > act_max ? act_max : v;
    return (int8_t)v;
}

/* The tail without a guard, for a channel whose constants the compiler proved
 * (kernels/pointwise.py proved_tail_table, the proof of kernels/depthwise3x3.py): for every
 * accumulator the layer can produce, 2 * (acc << left) fits int32, right_shift >= 1 and
 * v + k + (v >> 31) cannot overflow, with k = round + (output_offset << right_shift); then
 * tinyc_tail_s8's value before its clamp is exactly (v + k + (v >> 31)) >> right_shift:
 * SMMULR, two adds and two shifts, no guard, no offset add. */
static inline int32_t tinyc_tail_proved(int32_t acc, int32_t multiplier, int32_t k, int32_t right_shift,
                                        int32_t double_shift)
{
    const int32_t v = tinyc_smmulr((int32_t)((uint32_t)acc << double_shift), multiplier);
    return (v + k + (v >> 31)) >> right_shift;
}

/* The single-rounding tail (kernels/single_tail.py, the proof): for a layer whose every
 * channel has right shift 0 (ONNX semantics, or a multiplier >= 1), tinyc_tail_s8's value
 * before its clamp is SMMULR(acc << double_shift, multiplier) + output_offset, one SMMLAR, once
 * the compiler has shown acc << double_shift fits int32 for every accumulator of the layer.
 * `offset`: the output offset, or a constant channel's byte (multiplier 0). */
static inline int32_t tinyc_tail_single(int32_t acc, int32_t multiplier, int32_t offset, int32_t double_shift)
{
    return tinyc_smmlar((int32_t)((uint32_t)acc << double_shift), multiplier, offset);
}

/* v clamped to the activation range (full_range: [-128, 127], one SSAT; a constant at every
 * call site). */
static inline int8_t tinyc_tail_clamp_s8(int32_t v, int32_t act_min, int32_t act_max, int full_range)
{
    if (full_range) {
        return (int8_t)tinyc_tail_sat8(v);
    }
    v = v < act_min ? act_min : v;
    v = v > act_max ? act_max : v;
    return (int8_t)v;
}

#endif /* TINYC_REQUANT_TAIL_H */
