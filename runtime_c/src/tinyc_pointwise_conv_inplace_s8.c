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
 */
#include "tinyc/tinyc_nn.h"
#include "tinyc/requant.h"

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
}
