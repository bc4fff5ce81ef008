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
#include "tinyc/requant_tail.h"
#include "tinyc/tinyc_nn.h"

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
