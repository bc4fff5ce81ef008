/*
 * The requantize tails of the four-channel depthwise kernels' SIMD paths
 * (tinyc_depthwise_conv_3x3_s8, tinyc_depthwise_conv_inplace_c4_s8): four accumulators of
 * channels c..c + 3 to four output bytes, stored as one word after the group's reads, through
 * requant_tail.h's guarded tail (requant: its packed constants) or through the tail the
 * compiler proved needs no guard (kernels/depthwise3x3.py fast_tail_table). Not part of the
 * public API.
 */
#ifndef TINYC_DW_TAIL4_H
#define TINYC_DW_TAIL4_H

#include <string.h>

#include "tinyc/arm_dsp.h"
#include "tinyc/depthwise.h"
#include "tinyc/requant_tail.h"

#if TINYC_USE_SIMD
typedef struct {
    int32_t output_offset, act_min, act_max;
} tinyc_dw3_out;

#if defined(__GNUC__)
#define TINYC_DW3_INLINE static inline __attribute__((always_inline))
#else
#define TINYC_DW3_INLINE static inline
#endif

/* The four outputs of channels c..c + 3, stored as one word after the group's reads. */
TINYC_DW3_INLINE void tinyc_dw3_store4(tinyc_acc4 acc, const int32_t *multiplier, const int32_t *requant, int32_t c,
                                    tinyc_dw3_out o, int full_range, int8_t *out)
{
    int8_t bytes[4];
    bytes[0] = tinyc_tail_s8(acc.a0, tinyc_tail_channel_packed(multiplier, requant, c), o.output_offset, o.act_min,
                             o.act_max, full_range);
    bytes[1] = tinyc_tail_s8(acc.a1, tinyc_tail_channel_packed(multiplier, requant, c + 1), o.output_offset,
                             o.act_min, o.act_max, full_range);
    bytes[2] = tinyc_tail_s8(acc.a2, tinyc_tail_channel_packed(multiplier, requant, c + 2), o.output_offset,
                             o.act_min, o.act_max, full_range);
    bytes[3] = tinyc_tail_s8(acc.a3, tinyc_tail_channel_packed(multiplier, requant, c + 3), o.output_offset,
                             o.act_min, o.act_max, full_range);
    memcpy(out + c, bytes, sizeof bytes);
}

/* The proved tail of one output (kernels/depthwise3x3.py fast_tail_table): the compiler has
 * shown that for this channel 2 * (acc << left) fits int32 for every accumulator the window
 * can produce, that right_shift >= 1 (so the sign fix-up is v >> 31), and that adding
 * k = round + (output_offset << right_shift) cannot overflow; then
 * ((v + round + (v >> 31)) >> right_shift) + output_offset == (v + k + (v >> 31)) >> right_shift
 * exactly, and requant_tail.h's guard, sign mask and offset add are not needed.
 * fast[2 * c] = k, fast[2 * c + 1] = right_shift; double_shift is the same for every channel. */
TINYC_DW3_INLINE int32_t tinyc_dw3_fast_tail(int32_t acc, int32_t m, const int32_t *fast, int32_t double_shift)
{
    const int32_t v = tinyc_smmulr((int32_t)((uint32_t)acc << double_shift), m);
    return (v + fast[0] + (v >> 31)) >> fast[1];
}

TINYC_DW3_INLINE int8_t tinyc_dw3_fast_clamp(int32_t v, tinyc_dw3_out o, int full_range)
{
    if (full_range) {
        return (int8_t)tinyc_tail_sat8(v);
    }
    v = v < o.act_min ? o.act_min : v;
    v = v > o.act_max ? o.act_max : v;
    return (int8_t)v;
}

/* The four outputs of channels c..c + 3 through the proved tail, stored as one word. */
TINYC_DW3_INLINE void tinyc_dw3_store4_fast(tinyc_acc4 acc, const int32_t *multiplier, const int32_t *fast,
                                            int32_t double_shift, int32_t c, tinyc_dw3_out o, int full_range,
                                            int8_t *out)
{
    int8_t bytes[4];
    const int32_t *m = multiplier + c;
    const int32_t *f = fast + 2 * c;
    bytes[0] = tinyc_dw3_fast_clamp(tinyc_dw3_fast_tail(acc.a0, m[0], f, double_shift), o, full_range);
    bytes[1] = tinyc_dw3_fast_clamp(tinyc_dw3_fast_tail(acc.a1, m[1], f + 2, double_shift), o, full_range);
    bytes[2] = tinyc_dw3_fast_clamp(tinyc_dw3_fast_tail(acc.a2, m[2], f + 4, double_shift), o, full_range);
    bytes[3] = tinyc_dw3_fast_clamp(tinyc_dw3_fast_tail(acc.a3, m[3], f + 6, double_shift), o, full_range);
    memcpy(out + c, bytes, sizeof bytes);
}

#endif /* TINYC_USE_SIMD */

#endif /* TINYC_DW_TAIL4_H */
