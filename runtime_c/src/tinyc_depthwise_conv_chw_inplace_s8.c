/*
 * Depthwise 2-D convolution on channel-major (CHW) images, one channel at a time, int8
 * (TinyEngine's in-place depthwise): output channel c is computed into a one-channel
 * scratch (out_h * out_w bytes), then copied over output plane c. Input plane c is read
 * only while channel c is computed, so when the planes keep their size the output may sit
 * exactly over the input, or anywhere before it (offset(input) - offset(output) >= 0;
 * kernels/access.py derives the distance for every shape).
 *
 * Depthwise multiplier 1 (out_c == in_c == groups); any kernel size, stride, dilation and
 * padding. input and output are [batch][channels][h][w]; weights [channels][kernel_h]
 * [kernel_w]. The arithmetic is tinyc_depthwise_conv_s8's, bit for bit.
 */
#include "tinyc/tinyc_nn.h"
#include "tinyc/requant.h"

int32_t tinyc_depthwise_conv_chw_inplace_s8_get_buffer_size(const tinyc_conv_params *params)
{
    return params->out_h * params->out_w;
}

void tinyc_depthwise_conv_chw_inplace_s8(const tinyc_conv_params *params, const int8_t *input,
                                         const int8_t *weights, const int32_t *bias, const int32_t *multiplier,
                                         const int32_t *shift, int8_t *output, int8_t *scratch)
{
    const int32_t in_h = params->in_h;
    const int32_t in_w = params->in_w;
    const int32_t in_plane = in_h * in_w;
    const int32_t out_plane = params->out_h * params->out_w;
    const int32_t taps = params->kernel_h * params->kernel_w;
    int32_t b, c, oy, ox, ky, kx, i;

    for (b = 0; b < params->batch; ++b) {
        for (c = 0; c < params->in_c; ++c) {
            const int8_t *plane = input + (b * params->in_c + c) * in_plane;
            const int8_t *filter = weights + c * taps;
            int8_t *tmp = scratch;
            int8_t *dst = output + (b * params->in_c + c) * out_plane;
            for (oy = 0; oy < params->out_h; ++oy) {
                const int32_t in_y0 = oy * params->stride_h - params->pad_top;
                for (ox = 0; ox < params->out_w; ++ox) {
                    const int32_t in_x0 = ox * params->stride_w - params->pad_left;
                    int32_t acc = 0;
                    for (ky = 0; ky < params->kernel_h; ++ky) {
                        const int32_t in_y = in_y0 + ky * params->dilation_h;
                        if (in_y < 0 || in_y >= in_h) {
                            continue;
                        }
                        for (kx = 0; kx < params->kernel_w; ++kx) {
                            const int32_t in_x = in_x0 + kx * params->dilation_w;
                            if (in_x < 0 || in_x >= in_w) {
                                continue;
                            }
                            acc += ((int32_t)plane[in_y * in_w + in_x] + params->input_offset) *
                                   (int32_t)filter[ky * params->kernel_w + kx];
                        }
                    }
                    if (bias != 0) {
                        acc += bias[c];
                    }
                    *tmp++ = tinyc_requantize_s8(acc, multiplier[c], shift[c], params->output_offset, params->act_min,
                                                 params->act_max);
                }
            }
            /* channel c is done with its input plane: copy it into place */
            for (i = 0; i < out_plane; ++i) {
                dst[i] = scratch[i];
            }
        }
    }
}
