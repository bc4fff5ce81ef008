/*
 * Pointwise convolution (1x1, stride 1, no padding, groups 1) that may write its output
 * over its own input, NHWC, int8.
 *
 * Per pixel, the input pixel's in_c bytes are first copied into a one-pixel scratch, and
 * every output channel of the pixel is computed from that copy. So all of a pixel's input
 * is read before any of its output is written: with out_c <= in_c the output may start
 * exactly on the input (or anywhere before it), with out_c > in_c (pixels - 1) * (out_c -
 * in_c) bytes before it (kernels/access.py). weights [out_c][in_c]. The arithmetic is
 * tinyc_conv_s8's, bit for bit.
 *
 * The SIMD path keeps that order: the copy, then four output channels at a time from it
 * (tinyc/dot_s8.h), their bytes written after the four dot products. The registry folds
 * the input offset into the bias (no tap is padding), so the inner loop has no offset; the
 * four outputs take tinyc/requant_tail.h's inline requantize tail.
 */
#include "tinyc/dot_s8.h"
#include "tinyc/requant.h"
#include "tinyc/requant_tail.h"
#include "tinyc/tinyc_nn.h"

int32_t tinyc_pointwise_conv_inplace_s8_get_buffer_size(const tinyc_conv_params *params)
{
    return params->in_c;
}

void tinyc_pointwise_conv_inplace_s8(const tinyc_conv_params *params, const int8_t *input, const int8_t *weights,
                                     const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                                     int8_t *output, int8_t *scratch)
{
    const int32_t pixels = params->batch * params->in_h * params->in_w;
    const int32_t in_c = params->in_c;
    const int32_t out_c = params->out_c;
    int32_t p, oc, c;
#if TINYC_USE_SIMD
    const int32_t input_offset = params->input_offset;
    const int32_t output_offset = params->output_offset;
    const int32_t act_min = params->act_min;
    const int32_t act_max = params->act_max;

    for (p = 0; p < pixels; ++p) {
        int8_t *out = output + p * out_c;
        for (c = 0; c < in_c; ++c) {
            scratch[c] = input[p * in_c + c];
        }
        for (oc = 0; oc < out_c; oc += 4) {
            const int32_t count = out_c - oc < 4 ? out_c - oc : 4;
            int32_t acc[4] = {0, 0, 0, 0};
            int32_t j;
            if (count == 4) {
                tinyc_dot4_s8(scratch, weights + oc * in_c, in_c, in_c, input_offset, 0, acc);
            } else {
                for (j = 0; j < count; ++j) {
                    acc[j] = tinyc_dot1_s8(scratch, weights + (oc + j) * in_c, in_c, input_offset, 0, 0);
                }
            }
            for (j = 0; j < count; ++j) {
                const int32_t a = bias != 0 ? acc[j] + bias[oc + j] : acc[j];
                out[oc + j] = tinyc_tail_s8(a, tinyc_tail_channel_of(multiplier[oc + j], shift[oc + j]), output_offset,
                                            act_min, act_max, 0);
            }
        }
    }
#else

    for (p = 0; p < pixels; ++p) {
        for (c = 0; c < in_c; ++c) {
            scratch[c] = input[p * in_c + c];
        }
        for (oc = 0; oc < out_c; ++oc) {
            const int8_t *w = weights + oc * in_c;
            int32_t acc = 0;
            for (c = 0; c < in_c; ++c) {
                acc += ((int32_t)scratch[c] + params->input_offset) * (int32_t)w[c];
            }
            if (bias != 0) {
                acc += bias[oc];
            }
            output[p * out_c + oc] = tinyc_requantize_s8(acc, multiplier[oc], shift[oc], params->output_offset,
                                                         params->act_min, params->act_max);
        }
    }
#endif
}
