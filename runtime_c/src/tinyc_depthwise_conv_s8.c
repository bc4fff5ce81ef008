/*
 * Depthwise 2-D convolution, int8 (TFLite's DepthwiseConvPerChannel reference kernel).
 *
 * groups == in_c and out_c = in_c * multiplier; output channel oc = ic * multiplier + m reads
 * input channel ic only. input NHWC, weights [kernel_h][kernel_w][out_c] (TFLite's 1HWC),
 * output NHWC. Padding taps are skipped; bias and the shared requantize tail as in conv.
 *
 * SIMD path (TINYC_USE_SIMD): per output pixel the window is clipped to the input once (and,
 * up to TINYC_DW_MAX_TAPS taps, listed), then four output channels at a time run over it
 * (tinyc_dw_mac4: one word of input and one of weights per tap; a full 3x3 window is
 * unrolled; tinyc/depthwise.h), their four outputs written after their
 * reads: consecutive blocks of the loop order kernels/access.py models, merged, so every
 * overlap the model allows stays safe. With a depth multiplier the input value of a tap is
 * shared by four consecutive output channels (tinyc_dw_mac4_broadcast). Leftover channels
 * run the portable arithmetic.
 */
#include "tinyc/tinyc_nn.h"
#include "tinyc/depthwise.h"
#include "tinyc/requant.h"

#if TINYC_USE_SIMD
/* The part of one output pixel's window inside the input: rows x cols taps, the first at x
 * (channel 0) with its weights at w; the next row / column of taps x_row / x_col bytes on in
 * the input and w_row / w_col in the weights. */
typedef struct {
    const int8_t *x;
    const int8_t *w;
    int32_t rows, cols;
    int32_t x_row, x_col, w_row, w_col;
} tinyc_dw_window;

/* Channel c over the window, the portable arithmetic (channels left after groups of four;
 * ic is the input channel, oc the output channel). */
TINYC_DW_NOINLINE static int32_t tinyc_dw_dot1(const tinyc_dw_window *win, int32_t input_offset, int32_t ic,
                                               int32_t oc, int32_t acc)
{
    int32_t ky, kx;
    for (ky = 0; ky < win->rows; ++ky) {
        const int8_t *x = win->x + ky * win->x_row + ic;
        const int8_t *w = win->w + ky * win->w_row + oc;
        for (kx = 0; kx < win->cols; ++kx) {
            acc += ((int32_t)x[kx * win->x_col] + input_offset) * (int32_t)w[kx * win->w_col];
        }
    }
    return acc;
}

/* Multiplier 1, any window: four channels per iteration over the clipped taps. */
TINYC_DW_NOINLINE static void tinyc_dw_pixel(const tinyc_conv_params *params, const tinyc_dw_window *win, int32_t offset_pair,
                           const int32_t *bias, const int32_t *multiplier, const int32_t *shift, int8_t *out)
{
    const int32_t channels = params->out_c;
    int32_t c, ky, kx;
    for (c = 0; c + 4 <= channels; c += 4) {
        tinyc_acc4 acc = tinyc_dw_init4(bias, c);
        for (ky = 0; ky < win->rows; ++ky) {
            const int8_t *x = win->x + ky * win->x_row + c;
            const int8_t *w = win->w + ky * win->w_row + c;
            for (kx = 0; kx < win->cols; ++kx) {
                tinyc_dw_mac4(x, w, offset_pair, &acc);
                x += win->x_col;
                w += win->w_col;
            }
        }
        tinyc_dw_store4(params, multiplier, shift, c, acc, out + c);
    }
    for (; c < channels; ++c) {
        const int32_t acc = tinyc_dw_dot1(win, params->input_offset, c, c, bias != 0 ? bias[c] : 0);
        out[c] = tinyc_requantize_s8(acc, multiplier[c], shift[c], params->output_offset, params->act_min,
                                     params->act_max);
    }
}

/* One input channel, dilation 1 (a first layer routed here): four output channels over the
 * window's rows, each row's taps four per input word (then one at a time), the word offset
 * and widened once as (x0, x2) and (x1, x3), each lane then used by four MACs. */
TINYC_DW_NOINLINE static tinyc_acc4 tinyc_dw_window_1ch(const tinyc_dw_window *win, const int8_t *x,
                                                        const int8_t *w, int32_t input_offset, tinyc_acc4 acc)
{
    const int32_t offset_pair = tinyc_dw_offset_pair(input_offset);
    const int32_t w_col = win->w_col;
    const int32_t words = win->cols >> 2;
    const int32_t rest = win->cols & 3;
    int32_t ky, k;
    for (ky = 0; ky < win->rows; ++ky) {
        const int8_t *xr = x + ky * win->x_row;
        const int8_t *wr = w + ky * win->w_row;
        for (k = words; k > 0; --k) {
            const int32_t xs = tinyc_read_s8x4(xr);
            const int32_t x02 = tinyc_sxtab16(offset_pair, xs);
            const int32_t x13 = tinyc_sxtab16_ror8(offset_pair, xs);
            xr += 4;
            tinyc_dw_mac4_broadcast(x02, wr, &acc);
            wr += w_col;
            tinyc_dw_mac4_broadcast(x13, wr, &acc);
            wr += w_col;
            tinyc_dw_mac4_broadcast_top(x02, wr, &acc);
            wr += w_col;
            tinyc_dw_mac4_broadcast_top(x13, wr, &acc);
            wr += w_col;
        }
        for (k = rest; k > 0; --k) {
            tinyc_dw_mac4_broadcast((int32_t)*xr + input_offset, wr, &acc);
            xr += 1;
            wr += w_col;
        }
    }
    return acc;
}

/* Depth multiplier > 1: per input channel, four of its output channels per iteration share
 * each tap's input value (tinyc_dw_mac4_broadcast); with one input channel (a first layer
 * routed here), four taps of a row come from one word. */
TINYC_DW_NOINLINE static void tinyc_dw_pixel_multiplier(const tinyc_conv_params *params, const tinyc_dw_window *win,
                                      int32_t depth_multiplier, const int32_t *bias, const int32_t *multiplier,
                                      const int32_t *shift, int8_t *out)
{
    const int32_t input_offset = params->input_offset;
    int32_t ic, oc = 0, ky, kx;
    for (ic = 0; ic < params->in_c; ++ic) {
        int32_t m = 0;
        for (; m + 4 <= depth_multiplier; m += 4, oc += 4) {
            tinyc_acc4 acc = tinyc_dw_init4(bias, oc);
            if (win->x_col == 1) { /* one input channel, dilation 1: contiguous taps */
                acc = tinyc_dw_window_1ch(win, win->x + ic, win->w + oc, input_offset, acc);
            } else {
                for (ky = 0; ky < win->rows; ++ky) {
                    const int8_t *x = win->x + ky * win->x_row + ic;
                    const int8_t *w = win->w + ky * win->w_row + oc;
                    for (kx = 0; kx < win->cols; ++kx) {
                        tinyc_dw_mac4_broadcast((int32_t)*x + input_offset, w, &acc);
                        x += win->x_col;
                        w += win->w_col;
                    }
                }
            }
            tinyc_dw_store4(params, multiplier, shift, oc, acc, out + oc);
        }
        for (; m < depth_multiplier; ++m, ++oc) {
            const int32_t acc = tinyc_dw_dot1(win, input_offset, ic, oc, bias != 0 ? bias[oc] : 0);
            out[oc] = tinyc_requantize_s8(acc, multiplier[oc], shift[oc], params->output_offset, params->act_min,
                                          params->act_max);
        }
    }
}
#endif

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
    const int32_t in_row_pitch = params->input_row_stride;
    const int32_t out_row_pitch = params->output_row_stride;
    const int32_t listed = depth_multiplier == 1 && kernel_h * kernel_w <= TINYC_DW_MAX_TAPS;
    tinyc_dw_tap taps[TINYC_DW_MAX_TAPS];
    int32_t b, oy, ox;

    for (b = 0; b < params->batch; ++b) {
        const int8_t *image = input + b * in_h * in_row_pitch;
        for (oy = 0; oy < params->out_h; ++oy) {
            const int32_t in_y0 = oy * params->stride_h - params->pad_top;
            int8_t *out = output + (b * params->out_h + oy) * out_row_pitch;
            const int32_t ky_lo = tinyc_dw_first_tap(in_y0, dilation_h);
            const int32_t ky_hi = tinyc_dw_end_tap(in_y0, dilation_h, in_h, kernel_h);
            int32_t listed_full_ox = -1; /* the ox whose full window the list holds */
            for (ox = 0; ox < params->out_w; ++ox) {
                const int32_t in_x0 = ox * params->stride_w - params->pad_left;
                const int32_t kx_lo = tinyc_dw_first_tap(in_x0, dilation_w);
                const int32_t kx_hi = tinyc_dw_end_tap(in_x0, dilation_w, in_w, kernel_w);
                tinyc_dw_window window;
                window.rows = ky_hi > ky_lo ? ky_hi - ky_lo : 0;
                window.cols = kx_hi > kx_lo ? kx_hi - kx_lo : 0;
                if (window.rows == 0 || window.cols == 0) {
                    window.rows = window.cols = 0; /* no tap inside the input: only the bias */
                    window.x = image;
                    window.w = weights;
                } else {
                    window.x = image + (in_y0 + ky_lo * dilation_h) * in_row_pitch + (in_x0 + kx_lo * dilation_w) * in_c;
                    window.w = weights + (ky_lo * kernel_w + kx_lo) * out_c;
                }
                window.x_row = dilation_h * in_row_pitch;
                window.x_col = dilation_w * in_c;
                window.w_row = kernel_w * out_c;
                window.w_col = out_c;
                if (listed) {
                    const int32_t full = window.rows == kernel_h && window.cols == kernel_w;
                    if (full && listed_full_ox >= 0) {
                        /* the row's list of a full window, moved on by whole pixels */
                        const int32_t x_shift = (ox - listed_full_ox) * params->stride_w * in_c;
                        tinyc_dw_taps_pixel(params, taps, kernel_h * kernel_w, x_shift, bias, multiplier, shift,
                                            out);
                    } else {
                        int32_t ky, kx, count = 0;
                        for (ky = 0; ky < window.rows; ++ky) {
                            for (kx = 0; kx < window.cols; ++kx) {
                                taps[count].x = window.x + ky * window.x_row + kx * window.x_col;
                                taps[count].w = window.w + ky * window.w_row + kx * window.w_col;
                                ++count;
                            }
                        }
                        listed_full_ox = full ? ox : -1;
                        tinyc_dw_taps_pixel(params, taps, count, 0, bias, multiplier, shift, out);
                    }
                } else if (depth_multiplier == 1) {
                    tinyc_dw_pixel(params, &window, offset_pair, bias, multiplier, shift, out);
                } else {
                    tinyc_dw_pixel_multiplier(params, &window, depth_multiplier, bias, multiplier, shift, out);
                }
                out += out_c;
            }
        }
    }
#else
    const int32_t in_row_pitch = params->input_row_stride;
    const int32_t out_row_pitch = params->output_row_stride;
    int32_t b, oy, ox, oc, ky, kx;

    for (b = 0; b < params->batch; ++b) {
        const int8_t *image = input + b * in_h * in_row_pitch;
        for (oy = 0; oy < params->out_h; ++oy) {
            const int32_t in_y0 = oy * params->stride_h - params->pad_top;
            int8_t *out = output + (b * params->out_h + oy) * out_row_pitch;
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
                            acc += ((int32_t)image[in_y * in_row_pitch + in_x * in_c + ic] + params->input_offset) *
                                   (int32_t)weights[(ky * params->kernel_w + kx) * out_c + oc];
                        }
                    }
                    if (bias != 0) {
                        acc += bias[oc];
                    }
                    *out++ = tinyc_requantize_s8(acc, multiplier[oc], shift[oc], params->output_offset,
                                                 params->act_min, params->act_max);
                }
            }
        }
    }
#endif
}
