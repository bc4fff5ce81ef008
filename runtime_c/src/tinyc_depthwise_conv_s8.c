/*
 * Depthwise 2-D convolution, int8 (TFLite's DepthwiseConvPerChannel reference kernel).
 *
 * groups == in_c and out_c = in_c * multiplier; output channel oc = ic * multiplier + m reads
 * input channel ic only. input NHWC, weights [kernel_h][kernel_w][out_c] (TFLite's 1HWC),
 * output NHWC. Padding taps are skipped; bias and the shared requantize tail as in conv.
 *
 * SIMD path (TINYC_USE_SIMD): per output pixel the window is clipped to the input once, then
 * four output channels at a time run over it (tinyc_dw_mac4: one word of input and one of
 * weights per tap; a full 3x3 window is unrolled), their four outputs written after their
 * reads: consecutive blocks of the loop order kernels/access.py models, merged, so every
 * overlap the model allows stays safe. With a depth multiplier the input value of a tap is
 * shared by four consecutive output channels (tinyc_dw_mac4_broadcast). Leftover channels
 * run the portable arithmetic.
 */
#include "tinyc/tinyc_nn.h"
#include "tinyc/depthwise.h"
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
#if TINYC_USE_SIMD
    const int32_t offset_pair = tinyc_dw_offset_pair(params->input_offset);
    const int32_t kernel_h = params->kernel_h;
    const int32_t kernel_w = params->kernel_w;
    const int32_t dilation_h = params->dilation_h;
    const int32_t dilation_w = params->dilation_w;
    const int32_t row_stride = in_w * in_c;
    const int32_t full_3x3 = kernel_h == 3 && kernel_w == 3 && dilation_h == 1 && dilation_w == 1;
    int32_t b, oy, ox;
    (void)depth_multiplier;

    for (b = 0; b < params->batch; ++b) {
        const int8_t *image = input + b * in_h * row_stride;
        for (oy = 0; oy < params->out_h; ++oy) {
            const int32_t in_y0 = oy * params->stride_h - params->pad_top;
            const int32_t ky_lo = tinyc_dw_first_tap(in_y0, dilation_h);
            const int32_t ky_hi = tinyc_dw_end_tap(in_y0, dilation_h, in_h, kernel_h);
            for (ox = 0; ox < params->out_w; ++ox) {
                const int32_t in_x0 = ox * params->stride_w - params->pad_left;
                const int32_t kx_lo = tinyc_dw_first_tap(in_x0, dilation_w);
                const int32_t kx_hi = tinyc_dw_end_tap(in_x0, dilation_w, in_w, kernel_w);
                const int32_t full = ky_lo == 0 && ky_hi == kernel_h && kx_lo == 0 && kx_hi == kernel_w;
                const int32_t inside = ky_lo < ky_hi && kx_lo < kx_hi; /* else only the bias */
                /* the first tap inside the input, and its weights (channel 0) */
                const int8_t *window =
                    inside ? image + ((in_y0 + ky_lo * dilation_h) * in_w + in_x0 + kx_lo * dilation_w) * in_c : image;
                const int8_t *filter = inside ? weights + (ky_lo * kernel_w + kx_lo) * out_c : weights;
                int32_t ic = 0, oc = 0, ky, kx;
                if (depth_multiplier == 1) {
                    for (; oc + 4 <= out_c; oc += 4) {
                        int32_t acc[4];
                        tinyc_dw_init4(bias, oc, acc);
                        if (full && full_3x3) {
                            const int8_t *x = window + oc;
                            const int8_t *w = filter + oc;
                            for (ky = 0; ky < 3; ++ky) {
                                tinyc_dw_mac4(x, w, offset_pair, acc);
                                tinyc_dw_mac4(x + in_c, w + out_c, offset_pair, acc);
                                tinyc_dw_mac4(x + 2 * in_c, w + 2 * out_c, offset_pair, acc);
                                x += row_stride;
                                w += 3 * out_c;
                            }
                        } else {
                            for (ky = 0; ky < ky_hi - ky_lo; ++ky) {
                                const int8_t *x = window + ky * dilation_h * row_stride + oc;
                                const int8_t *w = filter + ky * kernel_w * out_c + oc;
                                for (kx = 0; kx < kx_hi - kx_lo; ++kx) {
                                    tinyc_dw_mac4(x + kx * dilation_w * in_c, w + kx * out_c, offset_pair, acc);
                                }
                            }
                        }
                        tinyc_dw_store4(params, multiplier, shift, oc, acc, output + oc);
                    }
                } else {
                    for (ic = 0; ic < in_c; ++ic) {
                        int32_t m = 0;
                        for (; m + 4 <= depth_multiplier; m += 4, oc += 4) {
                            int32_t acc[4];
                            tinyc_dw_init4(bias, oc, acc);
                            for (ky = 0; ky < ky_hi - ky_lo; ++ky) {
                                const int8_t *x = window + ky * dilation_h * row_stride + ic;
                                const int8_t *w = filter + ky * kernel_w * out_c + oc;
                                for (kx = 0; kx < kx_hi - kx_lo; ++kx) {
                                    const int32_t value = (int32_t)x[kx * dilation_w * in_c] + params->input_offset;
                                    tinyc_dw_mac4_broadcast(value, w + kx * out_c, acc);
                                }
                            }
                            tinyc_dw_store4(params, multiplier, shift, oc, acc, output + oc);
                        }
                        /* channels left of this input channel: the portable arithmetic */
                        for (; m < depth_multiplier; ++m, ++oc) {
                            int32_t acc = bias != 0 ? bias[oc] : 0;
                            for (ky = 0; ky < ky_hi - ky_lo; ++ky) {
                                const int8_t *x = window + ky * dilation_h * row_stride + ic;
                                const int8_t *w = filter + ky * kernel_w * out_c + oc;
                                for (kx = 0; kx < kx_hi - kx_lo; ++kx) {
                                    acc += ((int32_t)x[kx * dilation_w * in_c] + params->input_offset) *
                                           (int32_t)w[kx * out_c];
                                }
                            }
                            output[oc] = tinyc_requantize_s8(acc, multiplier[oc], shift[oc], params->output_offset,
                                                             params->act_min, params->act_max);
                        }
                    }
                }
                /* multiplier 1, channels left after the groups of four */
                for (; oc < out_c; ++oc) {
                    int32_t acc = bias != 0 ? bias[oc] : 0;
                    for (ky = 0; ky < ky_hi - ky_lo; ++ky) {
                        const int8_t *x = window + ky * dilation_h * row_stride + oc;
                        const int8_t *w = filter + ky * kernel_w * out_c + oc;
                        for (kx = 0; kx < kx_hi - kx_lo; ++kx) {
                            acc += ((int32_t)x[kx * dilation_w * in_c] + params->input_offset) * (int32_t)w[kx * out_c];
                        }
                    }
                    output[oc] = tinyc_requantize_s8(acc, multiplier[oc], shift[oc], params->output_offset,
                                                     params->act_min, params->act_max);
                }
                output += out_c;
            }
        }
    }
#else
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
#endif
}
