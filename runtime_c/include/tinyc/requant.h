/*
 * Fixed-point primitives of TFLite's int8 scheme: the C twin of
 * tinycc_ml/quant/fixedpoint.py. Same names (tinyc_ prefix), same bits.
 */
#ifndef TINYC_REQUANT_H
#define TINYC_REQUANT_H

#include <stdint.h>

#include "tinyc/arm_dsp.h"

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

/* The reference requantize tail (CMSIS-NN's arm_nn_requantize + offset + clamp): acc ->
 * MultiplyByQuantizedMultiplier -> + output offset -> clamp to the activation range. The
 * offset is added in 64 bits so an extreme product cannot overflow (UB); Python adds in int64
 * too, so the bits agree. tinyc_requantize_s8 below falls back to it where the fast tail's
 * precondition fails. */
static inline int8_t tinyc_requantize_s8_reference(int32_t acc, int32_t multiplier, int32_t shift,
                                                   int32_t output_offset, int32_t act_min, int32_t act_max)
{
    const int64_t out = (int64_t)tinyc_multiply_by_quantized_multiplier(acc, multiplier, shift) + output_offset;
    return (int8_t)(out < act_min ? act_min : (out > act_max ? act_max : out));
}

/*
 * The fast requantize tail: SMMULR plus a handful of ALU instructions, bit-exact with the
 * reference for every input.
 *
 * Why it is exact. With y = x << left (left = max(shift, 0), right = max(-shift, 0)) and a
 * multiplier m in [0, 2^31):
 *   SRDHM(y, m) == floor((y * m + 2^30) / 2^31)           (gemmlowp's nudge and truncating
 *                                                            division, worked out for both signs)
 *               == floor((2y * m + 2^31) / 2^32) == SMMULR(2y, m)   whenever 2y fits int32;
 *   RoundingDivideByPOT(v, e) == (v + 2^(e-1) + (v >> 31)) >> e   for e >= 1 (half away from
 *                                                            zero), and v for e == 0,
 * and |v| < 2^30 there, so v + 2^(e-1) cannot overflow either. The one precondition, 2y in
 * int32, holds for every accumulator of a real layer (|acc| < 2^30 >> left); a cheap guard
 * (shift back and compare) sends any other input to the reference path, so the function is
 * exact for everything it can receive. tests/test_kernels_fixedpoint.py compares both tails
 * with the Python twin on millions of values, on the host and on qemu-m4/m7.
 *
 * The per-channel constants are derived once (tinyc_requant_channel_of) and kept in locals:
 * an int8 output store may alias any const array or params struct, so a kernel that reads
 * them through pointers after a store reloads them for every output.
 */
typedef struct {
    int32_t multiplier;
    int32_t shift;        /* the original shift (the reference path's argument) */
    int32_t double_shift; /* left + 1: y << 1 is the doubling SMMULR needs */
    int32_t right_shift;  /* e */
    int32_t round;        /* 2^(e-1), 0 when e == 0 */
    int32_t sign_mask;    /* -1 when e >= 1 (negative values round down at a tie), else 0 */
} tinyc_requant_channel;

typedef struct {
    int32_t output_offset, act_min, act_max;
} tinyc_requant_output;

static inline tinyc_requant_channel tinyc_requant_channel_of(int32_t multiplier, int32_t shift)
{
    tinyc_requant_channel q;
    const int32_t left = shift > 0 ? shift : 0;
    q.multiplier = multiplier;
    q.shift = shift;
    q.double_shift = left + 1;
    q.right_shift = left - shift;
    q.round = (int32_t)((1u << q.right_shift) >> 1);
    q.sign_mask = q.right_shift != 0 ? -1 : 0;
    return q;
}

static inline tinyc_requant_output tinyc_requant_output_of(int32_t output_offset, int32_t act_min, int32_t act_max)
{
    tinyc_requant_output o;
    o.output_offset = output_offset;
    o.act_min = act_min;
    o.act_max = act_max;
    return o;
}

/* MultiplyByQuantizedMultiplier through SMMULR; the value and a flag saying whether the fast
 * precondition held (when it did not, the value is meaningless). */
static inline int32_t tinyc_requant_fast_mbqm(int32_t acc, tinyc_requant_channel q, int32_t *exact)
{
    /* 2y = acc << (left + 1), wrapping (unsigned: no UB); it is exact iff shifting it back
     * gives acc again. The int32 conversion wraps on every compiler tinyc supports. */
    const int32_t doubled = (int32_t)((uint32_t)acc << q.double_shift);
    const int32_t v = tinyc_smmulr(doubled, q.multiplier);
    *exact = (doubled >> q.double_shift) == acc;
    return (v + q.round + ((v >> 31) & q.sign_mask)) >> q.right_shift;
}

/* The fallback stays out of line so every kernel's inner tail is only the fast path. */
#if defined(__GNUC__)
#define TINYC_COLD_FUNCTION __attribute__((noinline, cold))
#else
#define TINYC_COLD_FUNCTION
#endif

/* Code that runs a handful of times per inference (kernels a model calls once, border pixels)
 * compiled for size (not the unproved-tail paths: they are the main path of onnxruntime-born
 * models): it is most of a firmware's runtime code and almost
 * none of its instructions. Without loop distribution, so no loop becomes a call to memset
 * (which would link the library's). GCC only; clang has no per-function optimization level. */
#if defined(__GNUC__) && !defined(__clang__)
#define TINYC_SIZE_OPTIMIZED __attribute__((optimize("Os", "no-tree-loop-distribute-patterns")))
#else
#define TINYC_SIZE_OPTIMIZED
#endif

/* tinyc_requantize_s8_reference out of line, in its own source (tinyc_requant_s8.c): one
 * copy per firmware, not one per kernel source that has a guarded tail. Scalars, not the
 * structs: passing those by value would make every caller keep a copy of them in memory just
 * in case. */
TINYC_COLD_FUNCTION int8_t tinyc_requant_slow_s8(int32_t acc, int32_t multiplier, int32_t shift, int32_t output_offset,
                                                 int32_t act_min, int32_t act_max);

/* acc -> int8 with the fast tail (exact for every acc: see above). */
static inline int8_t tinyc_requant_fast_s8(int32_t acc, tinyc_requant_channel q, tinyc_requant_output o)
{
    int32_t exact;
    const int32_t v = tinyc_requant_fast_mbqm(acc, q, &exact);
    if (exact) {
        const int32_t out = v + o.output_offset; /* |v| < 2^30: no overflow */
        return (int8_t)(out < o.act_min ? o.act_min : (out > o.act_max ? o.act_max : out));
    }
    return tinyc_requant_slow_s8(acc, q.multiplier, q.shift, o.output_offset, o.act_min, o.act_max);
}

/* The requantize tail every accumulating kernel shares: the fast tail where kernels take
 * their SIMD path (DSP cores, or TINYC_SIMD_EMULATE), the reference elsewhere, so the
 * host's two builds test both. SIMD paths call this same function per output. */
static inline int8_t tinyc_requantize_channel_s8(int32_t acc, tinyc_requant_channel q, tinyc_requant_output o)
{
#if TINYC_USE_SIMD
    return tinyc_requant_fast_s8(acc, q, o);
#else
    return tinyc_requantize_s8_reference(acc, q.multiplier, q.shift, o.output_offset, o.act_min, o.act_max);
#endif
}

/* `count` outputs of consecutive channels c0, c0 + 1, ... (acc + bias[c] when bias is not
 * NULL; the arrays start at c0), out of line so that a large kernel's loop nest does not
 * leave the tail's constants on the stack. */
#if defined(__GNUC__)
#define TINYC_OUTLINE_FUNCTION static __attribute__((noinline, unused))
#else
#define TINYC_OUTLINE_FUNCTION static
#endif

TINYC_OUTLINE_FUNCTION void tinyc_requantize_channels_s8(const int32_t *acc, int32_t count, const int32_t *bias,
                                                         const int32_t *multiplier, const int32_t *shift,
                                                         int32_t output_offset, int32_t act_min, int32_t act_max,
                                                         int8_t *out)
{
    const tinyc_requant_output o = tinyc_requant_output_of(output_offset, act_min, act_max);
    int32_t j;
    for (j = 0; j < count; ++j) {
        const int32_t a = bias != 0 ? acc[j] + bias[j] : acc[j];
        out[j] = tinyc_requantize_channel_s8(a, tinyc_requant_channel_of(multiplier[j], shift[j]), o);
    }
}

static inline int8_t tinyc_requantize_s8(int32_t acc, int32_t multiplier, int32_t shift, int32_t output_offset,
                                         int32_t act_min, int32_t act_max)
{
#if TINYC_USE_SIMD
    return tinyc_requant_fast_s8(acc, tinyc_requant_channel_of(multiplier, shift),
                                 tinyc_requant_output_of(output_offset, act_min, act_max));
#else
    return tinyc_requantize_s8_reference(acc, multiplier, shift, output_offset, act_min, act_max);
#endif
}

#ifdef __cplusplus
}
#endif

#endif /* TINYC_REQUANT_H */
