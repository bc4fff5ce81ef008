/*
 * Pieces shared by the depthwise kernels (tinyc_depthwise_conv{,_inplace,_chw_inplace}_s8):
 * the window clipped to the input, and the SIMD multiply-accumulate of four channels of one
 * tap. Not part of the public API.
 */
#ifndef TINYC_DEPTHWISE_H
#define TINYC_DEPTHWISE_H

#include "tinyc/arm_dsp.h"
#include "tinyc/requant.h"
#include "tinyc/requant_tail.h"
#include "tinyc/tinyc_nn.h"

/* Keeps a pixel's loop out of the kernel's outer loops, so the compiler gives its
 * accumulators and pointers the registers instead of spilling them. */
#if defined(__GNUC__)
#define TINYC_DW_NOINLINE __attribute__((noinline, unused))
#else
#define TINYC_DW_NOINLINE
#endif

/* The first tap index k (0 <= k) with start + k * dilation >= 0. */
static inline int32_t tinyc_dw_first_tap(int32_t start, int32_t dilation)
{
    return start >= 0 ? 0 : (-start + dilation - 1) / dilation;
}

/* One past the last tap index k < taps with start + k * dilation < size. */
static inline int32_t tinyc_dw_end_tap(int32_t start, int32_t dilation, int32_t size, int32_t taps)
{
    int32_t end;
    if (start >= size) {
        return 0;
    }
    end = (size - 1 - start) / dilation + 1;
    return end < taps ? end : taps;
}

/* Four accumulators in a struct rather than an array: the compiler keeps them in registers. */
typedef struct {
    int32_t a0, a1, a2, a3;
} tinyc_acc4;

/* The offset added to both int16 lanes by SXTAB16: (offset, offset). */
static inline int32_t tinyc_dw_offset_pair(int32_t offset)
{
    return tinyc_pack_s16x2(offset, offset);
}

/* Four channels of one tap: acc[k] += (x[k] + offset) * w[k], k = 0..3. x + offset lies in
 * [-255, 255] and w in [-128, 127], so every int16 lane is exact and the products are the
 * portable loop's. Two SXTAB16 add the offset to the input lanes, two SXTB16 widen the
 * weights, four SMLAxy accumulate: ten instructions for four MACs with the loads. */
static inline void tinyc_dw_mac4(const int8_t *x, const int8_t *w, int32_t offset_pair, tinyc_acc4 *acc)
{
    const int32_t xs = tinyc_read_s8x4(x);
    const int32_t ws = tinyc_read_s8x4(w);
    const int32_t x02 = tinyc_sxtab16(offset_pair, xs);
    const int32_t x13 = tinyc_sxtab16_ror8(offset_pair, xs);
    const int32_t w02 = tinyc_sxtb16(ws);
    const int32_t w13 = tinyc_sxtb16_ror8(ws);
    acc->a0 = tinyc_smlabb(x02, w02, acc->a0);
    acc->a1 = tinyc_smlabb(x13, w13, acc->a1);
    acc->a2 = tinyc_smlatt(x02, w02, acc->a2);
    acc->a3 = tinyc_smlatt(x13, w13, acc->a3);
}

/* One input value (already offset, in the low half of x) times four weights of consecutive
 * output channels (depth multiplier > 1): acc[k] += x * w[k]. */
static inline void tinyc_dw_mac4_broadcast(int32_t x, const int8_t *w, tinyc_acc4 *acc)
{
    const int32_t ws = tinyc_read_s8x4(w);
    const int32_t w02 = tinyc_sxtb16(ws);
    const int32_t w13 = tinyc_sxtb16_ror8(ws);
    acc->a0 = tinyc_smlabb(w02, x, acc->a0);
    acc->a1 = tinyc_smlabb(w13, x, acc->a1);
    acc->a2 = tinyc_smlatb(w02, x, acc->a2);
    acc->a3 = tinyc_smlatb(w13, x, acc->a3);
}

/* The same with the input value in the high half of x (its low half is ignored). */
static inline void tinyc_dw_mac4_broadcast_top(int32_t x, const int8_t *w, tinyc_acc4 *acc)
{
    const int32_t ws = tinyc_read_s8x4(w);
    const int32_t w02 = tinyc_sxtb16(ws);
    const int32_t w13 = tinyc_sxtb16_ror8(ws);
    acc->a0 = tinyc_smlabt(w02, x, acc->a0);
    acc->a1 = tinyc_smlabt(w13, x, acc->a1);
    acc->a2 = tinyc_smlatt(w02, x, acc->a2);
    acc->a3 = tinyc_smlatt(w13, x, acc->a3);
}

/* Bias (or 0) of four consecutive channels: the accumulators' start. */
static inline tinyc_acc4 tinyc_dw_init4(const int32_t *bias, int32_t channel)
{
    tinyc_acc4 acc = {0, 0, 0, 0};
    if (bias != 0) {
        acc.a0 = bias[channel];
        acc.a1 = bias[channel + 1];
        acc.a2 = bias[channel + 2];
        acc.a3 = bias[channel + 3];
    }
    return acc;
}

/* The shared requantize tail of four consecutive channels, stored as four bytes (SIMD paths:
 * tinyc/requant_tail.h, its SSAT clamp where the activation range is all of int8). */
static inline void tinyc_dw_store4(const tinyc_conv_params *params, const int32_t *multiplier, const int32_t *shift,
                                   int32_t channel, tinyc_acc4 acc, int8_t *out)
{
    const int32_t output_offset = params->output_offset;
    const int32_t act_min = params->act_min;
    const int32_t act_max = params->act_max;
    const int32_t *m = multiplier + channel;
    const int32_t *s = shift + channel;
    int8_t bytes[4];
    if (act_min == -128 && act_max == 127) {
        bytes[0] = tinyc_tail_s8(acc.a0, tinyc_tail_channel_of(m[0], s[0]), output_offset, act_min, act_max, 1);
        bytes[1] = tinyc_tail_s8(acc.a1, tinyc_tail_channel_of(m[1], s[1]), output_offset, act_min, act_max, 1);
        bytes[2] = tinyc_tail_s8(acc.a2, tinyc_tail_channel_of(m[2], s[2]), output_offset, act_min, act_max, 1);
        bytes[3] = tinyc_tail_s8(acc.a3, tinyc_tail_channel_of(m[3], s[3]), output_offset, act_min, act_max, 1);
    } else {
        bytes[0] = tinyc_tail_s8(acc.a0, tinyc_tail_channel_of(m[0], s[0]), output_offset, act_min, act_max, 0);
        bytes[1] = tinyc_tail_s8(acc.a1, tinyc_tail_channel_of(m[1], s[1]), output_offset, act_min, act_max, 0);
        bytes[2] = tinyc_tail_s8(acc.a2, tinyc_tail_channel_of(m[2], s[2]), output_offset, act_min, act_max, 0);
        bytes[3] = tinyc_tail_s8(acc.a3, tinyc_tail_channel_of(m[3], s[3]), output_offset, act_min, act_max, 0);
    }
    memcpy(out, bytes, sizeof bytes);
}

/* The taps of one output pixel's window that lie inside the input, listed once per pixel
 * so that every group of four channels runs over them without recomputing addresses. */
#define TINYC_DW_MAX_TAPS 25 /* 5x5; larger windows take the kernels' other loops */

typedef struct {
    const int8_t *x; /* channel 0 of the tapped input pixel */
    const int8_t *w; /* the tap's weights, channel 0 */
} tinyc_dw_tap;

/* Multiplier 1: one output pixel (channels values) from its listed taps, every input pointer
 * moved on by x_shift bytes (so a list stays valid along a row of full windows), four
 * channels per iteration (a full 3x3 window unrolled), then the channels left over one at a
 * time. */
TINYC_DW_NOINLINE static void tinyc_dw_taps_pixel(const tinyc_conv_params *params, const tinyc_dw_tap *taps,
                                                  int32_t count, int32_t x_shift, const int32_t *bias,
                                                  const int32_t *multiplier, const int32_t *shift, int8_t *out)
{
    const int32_t channels = params->out_c;
    const int32_t offset_pair = tinyc_dw_offset_pair(params->input_offset);
    int32_t c, t;
    for (c = 0; c + 4 <= channels; c += 4) {
        const int32_t xc = x_shift + c;
        tinyc_acc4 acc = tinyc_dw_init4(bias, c);
        if (count == 9) {
            tinyc_dw_mac4(taps[0].x + xc, taps[0].w + c, offset_pair, &acc);
            tinyc_dw_mac4(taps[1].x + xc, taps[1].w + c, offset_pair, &acc);
            tinyc_dw_mac4(taps[2].x + xc, taps[2].w + c, offset_pair, &acc);
            tinyc_dw_mac4(taps[3].x + xc, taps[3].w + c, offset_pair, &acc);
            tinyc_dw_mac4(taps[4].x + xc, taps[4].w + c, offset_pair, &acc);
            tinyc_dw_mac4(taps[5].x + xc, taps[5].w + c, offset_pair, &acc);
            tinyc_dw_mac4(taps[6].x + xc, taps[6].w + c, offset_pair, &acc);
            tinyc_dw_mac4(taps[7].x + xc, taps[7].w + c, offset_pair, &acc);
            tinyc_dw_mac4(taps[8].x + xc, taps[8].w + c, offset_pair, &acc);
        } else {
            const tinyc_dw_tap *tap = taps;
            const tinyc_dw_tap *end = taps + count;
            for (; tap != end; ++tap) {
                tinyc_dw_mac4(tap->x + xc, tap->w + c, offset_pair, &acc);
            }
        }
        tinyc_dw_store4(params, multiplier, shift, c, acc, out + c);
    }
    for (; c < channels; ++c) {
        int32_t acc = bias != 0 ? bias[c] : 0;
        for (t = 0; t < count; ++t) {
            acc += ((int32_t)taps[t].x[x_shift + c] + params->input_offset) * (int32_t)taps[t].w[c];
        }
        out[c] = tinyc_requantize_s8(acc, multiplier[c], shift[c], params->output_offset, params->act_min,
                                     params->act_max);
    }
}

#endif /* TINYC_DEPTHWISE_H */
