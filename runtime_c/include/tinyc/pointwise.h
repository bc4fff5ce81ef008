/*
 * The loop shared by the pointwise (1x1, stride 1, unpadded, ungrouped) convolutions that
 * read or write channel-major (CHW) images: tinyc_pointwise_conv_{chw,chw_hwc,hwc_chw}_s8.
 * Pixel p, channel c of the input sits at input[p * in_pixel_stride + c * in_channel_stride]
 * (NHWC: strides in_c and 1; CHW: 1 and h * w), likewise the output. Per image, per pixel,
 * per output channel: the dot product over the input channels, + bias, the shared
 * requantize tail, one byte written. Not part of the public API.
 *
 * With an NHWC input (channels contiguous) the SIMD path computes four output channels of a
 * pixel per pass (tinyc/dot_s8.h) and then writes their four bytes: the same order, blocks
 * merged. The registry folds the input offset into the bias for it.
 */
#ifndef TINYC_POINTWISE_H
#define TINYC_POINTWISE_H

#include "tinyc/dot_s8.h"
#include "tinyc/requant.h"
#include "tinyc/tinyc_nn.h"

/* The pointwise kernels' requantize tail on their SIMD paths: one channel's constants,
 * derived once per block and used for every pixel of it. It is requant.h's fast tail
 * (tinyc_requant_channel_of, tinyc_requant_fast_mbqm) with the constants in scalars and
 * inline, so that they stay in registers (the struct-passing versions left them on the
 * stack and copied them per output). */
typedef struct {
    int32_t multiplier, shift, double_shift, right_shift, round, sign_mask;
} tinyc_pw_requant_channel;

static inline tinyc_pw_requant_channel tinyc_pw_requant_channel_of(int32_t multiplier, int32_t shift)
{
    tinyc_pw_requant_channel q;
    const int32_t left = shift > 0 ? shift : 0;
    q.multiplier = multiplier;
    q.shift = shift;
    q.double_shift = left + 1;
    q.right_shift = left - shift;
    q.round = (int32_t)((1u << q.right_shift) >> 1);
    q.sign_mask = -(int32_t)(q.right_shift != 0);
    return q;
}

/* acc -> the output byte: SMMULR and the rounding shift where 2 * (acc << left) fits int32
 * (every real layer), the reference tail otherwise: exact for every acc (requant.h). */
static inline int8_t tinyc_pw_requant_s8(int32_t acc, tinyc_pw_requant_channel q, int32_t output_offset,
                                         int32_t act_min, int32_t act_max)
{
    const int32_t doubled = (int32_t)((uint32_t)acc << q.double_shift);
    int32_t v;
    if ((doubled >> q.double_shift) != acc) {
        return tinyc_requant_slow_s8(acc, q.multiplier, q.shift, output_offset, act_min, act_max);
    }
    v = tinyc_smmulr(doubled, q.multiplier);
    v = ((v + q.round + ((v >> 31) & q.sign_mask)) >> q.right_shift) + output_offset;
    v = v < act_min ? act_min : v;
    v = v > act_max ? act_max : v;
    return (int8_t)v;
}

static inline void tinyc_pointwise_strided_s8(const tinyc_conv_params *params, const int8_t *input,
                                              const int8_t *weights, const int32_t *bias, const int32_t *multiplier,
                                              const int32_t *shift, int8_t *output, int32_t in_chw, int32_t out_chw)
{
    const int32_t pixels = params->in_h * params->in_w;
    const int32_t in_c = params->in_c;
    const int32_t out_c = params->out_c;
    const int32_t in_pixel_stride = in_chw ? 1 : in_c;
    const int32_t in_channel_stride = in_chw ? pixels : 1;
    const int32_t out_pixel_stride = out_chw ? 1 : out_c;
    const int32_t out_channel_stride = out_chw ? pixels : 1;
    int32_t b, p, oc, c;
#if TINYC_USE_SIMD
    if (!in_chw) {
        const int32_t input_offset = params->input_offset;
        const int32_t output_offset = params->output_offset;
        const int32_t act_min = params->act_min;
        const int32_t act_max = params->act_max;
        for (b = 0; b < params->batch; ++b) {
            const int8_t *image = input + b * pixels * in_c;
            int8_t *out = output + b * pixels * out_c;
            for (p = 0; p < pixels; ++p) {
                const int8_t *x = image + p * in_c;
                for (oc = 0; oc < out_c; oc += 4) {
                    const int32_t count = out_c - oc < 4 ? out_c - oc : 4;
                    int32_t acc[4] = {0, 0, 0, 0};
                    int8_t y[4];
                    int32_t j;
                    if (count == 4) {
                        tinyc_dot4_s8(x, weights + oc * in_c, in_c, in_c, input_offset, 0, acc);
                    } else {
                        for (j = 0; j < count; ++j) {
                            acc[j] = tinyc_dot1_s8(x, weights + (oc + j) * in_c, in_c, input_offset, 0, 0);
                        }
                    }
                    tinyc_requantize_channels_s8(acc, count, bias != 0 ? bias + oc : 0, multiplier + oc, shift + oc,
                                                 output_offset, act_min, act_max, y);
                    for (j = 0; j < count; ++j) {
                        out[p * out_pixel_stride + (oc + j) * out_channel_stride] = y[j];
                    }
                }
            }
        }
        return;
    }
#endif

    for (b = 0; b < params->batch; ++b) {
        const int8_t *image = input + b * pixels * in_c;
        int8_t *out = output + b * pixels * out_c;
        for (p = 0; p < pixels; ++p) {
            const int8_t *x = image + p * in_pixel_stride;
            for (oc = 0; oc < out_c; ++oc) {
                const int8_t *w = weights + oc * in_c;
                int32_t acc = 0;
                for (c = 0; c < in_c; ++c) {
                    acc += ((int32_t)x[c * in_channel_stride] + params->input_offset) * (int32_t)w[c];
                }
                if (bias != 0) {
                    acc += bias[oc];
                }
                out[p * out_pixel_stride + oc * out_channel_stride] = tinyc_requantize_s8(
                    acc, multiplier[oc], shift[oc], params->output_offset, params->act_min, params->act_max);
            }
        }
    }
}

#endif /* TINYC_POINTWISE_H */
