/*
 * Regular and grouped 2-D convolution, int8 (TFLite's ConvPerChannel reference kernel).
 *
 * input NHWC, weights OHWI ([out_c][kernel_h][kernel_w][in_c / groups]), output NHWC.
 * For every output value: acc = sum over the window of (x + input_offset) * w, padding taps
 * skipped (they read the input zero point, so they add 0), then + bias, then the shared
 * requantize tail. The portable path walks one output pixel at a time and keeps the inner
 * dot product over input channels in its own function, the piece a later Armv7E-M path
 * (SXTB16 + SMLAD on pairs of channels) replaces.
 */
#include "tinyc/tinyc_nn.h"
#include "tinyc/requant.h"

/* sum_k (x[k] + input_offset) * w[k]: the inner loop over the channels of one tap. */
static int32_t tinyc_conv_dot_s8(const int8_t *x, const int8_t *w, int32_t n, int32_t input_offset)
{
    int32_t acc = 0;
    int32_t k;
    for (k = 0; k < n; ++k) {
        acc += ((int32_t)x[k] + input_offset) * (int32_t)w[k];
    }
    return acc;
}

int32_t tinyc_conv_s8_get_buffer_size(const tinyc_conv_params *params)
{
    (void)params;
    return 0; /* the portable path needs no scratch */
}

void tinyc_conv_s8(const tinyc_conv_params *params, const int8_t *input, const int8_t *weights,
                   const int32_t *bias, const int32_t *multiplier, const int32_t *shift, int8_t *output)
{
    const int32_t in_h = params->in_h;
    const int32_t in_w = params->in_w;
    const int32_t in_c = params->in_c;
    const int32_t out_c = params->out_c;
    const int32_t kernel_h = params->kernel_h;
    const int32_t kernel_w = params->kernel_w;
    const int32_t group_in_c = in_c / params->groups;
    const int32_t group_out_c = out_c / params->groups;
    int32_t b, oy, ox, oc, ky, kx;

    for (b = 0; b < params->batch; ++b) {
        const int8_t *image = input + b * in_h * in_w * in_c;
        for (oy = 0; oy < params->out_h; ++oy) {
            const int32_t in_y0 = oy * params->stride_h - params->pad_top;
            for (ox = 0; ox < params->out_w; ++ox) {
                const int32_t in_x0 = ox * params->stride_w - params->pad_left;
                for (oc = 0; oc < out_c; ++oc) {
                    const int32_t channel0 = (oc / group_out_c) * group_in_c;
                    const int8_t *filter = weights + oc * kernel_h * kernel_w * group_in_c;
                    int32_t acc = 0;
                    for (ky = 0; ky < kernel_h; ++ky) {
                        const int32_t in_y = in_y0 + ky * params->dilation_h;
                        if (in_y < 0 || in_y >= in_h) {
                            continue;
                        }
                        for (kx = 0; kx < kernel_w; ++kx) {
                            const int32_t in_x = in_x0 + kx * params->dilation_w;
                            if (in_x < 0 || in_x >= in_w) {
                                continue;
                            }
                            acc += tinyc_conv_dot_s8(image + (in_y * in_w + in_x) * in_c + channel0,
                                                     filter + (ky * kernel_w + kx) * group_in_c, group_in_c,
                                                     params->input_offset);
                        }
                    }
                    if (bias != 0) {
                        acc += bias[oc];
                    }
                    *output++ = tinyc_requantize_s8(acc, multiplier[oc], shift[oc], params->output_offset,
                                                    params->act_min, params->act_max);
                }
            }
        }
    }
}
