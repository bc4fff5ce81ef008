/*
 * Depthwise 2-D convolution, int8 (TFLite's DepthwiseConvPerChannel reference kernel).
 *
 * groups == in_c and out_c = in_c * multiplier; output channel oc = ic * multiplier + m reads
 * input channel ic only. input NHWC, weights [kernel_h][kernel_w][out_c] (TFLite's 1HWC),
 * output NHWC. Padding taps are skipped; bias and the shared requantize tail as in conv.
 */
#include "tinyc/tinyc_nn.h"
#include "tinyc/requant.h"

int32_t tinyc_depthwise_conv_s8_get_buffer_size(const tinyc_conv_params *params)
{
    (void)params;
    return 0; /* the portable path needs no scratch */
}

void tinyc_depthwise_conv_s8(const tinyc_conv_params *params, const int8_t *input, const int8_t *weights,
                             const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                             int8_t *output)
{
    const int32_t in_h = params->in_h;
    const int32_t in_w = params->in_w;
    const int32_t in_c = params->in_c;
    const int32_t out_c = params->out_c;
    const int32_t depth_multiplier = out_c / in_c;
    int32_t b, oy, ox, oc, ky, kx;

    for (b = 0; b < params->batch; ++b) {
        const int8_t *image = input + b * in_h * in_w * in_c;
        for (oy = 0; oy < params->out_h; ++oy) {
            const int32_t in_y0 = oy * params->stride_h - params->pad_top;
            for (ox = 0; ox < params->out_w; ++ox) {
                const int32_t in_x0 = ox * params->stride_w - params->pad_left;
                for (oc = 0; oc < out_c; ++oc) {
                    const int32_t ic = oc / depth_multiplier;
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
                            acc += ((int32_t)image[(in_y * in_w + in_x) * in_c + ic] + params->input_offset) *
                                   (int32_t)weights[(ky * params->kernel_w + kx) * out_c + oc];
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
