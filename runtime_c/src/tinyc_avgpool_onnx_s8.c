/*
 * Average pooling on NHWC, int8, as ONNX defines it (ONNX semantics): the average of the
 * dequantized window, quantized once, half to even. The twin of tinycc_ml/quant/params.py
 * onnx_avgpool_params / onnx_average.
 *
 * The window and its divisor n are tinyc_avgpool_s8's (clipped to the input; with
 * count_include_pad the explicit pads count, never the ceil_mode overhang). With
 * acc = sum of (x + input_offset) over the cells inside (a counted pad cell is a real 0.0 and
 * adds nothing) and r = s_in / s_out = multiplier * 2^-shift:
 *   t = acc * multiplier, u = 2t + n * 2^shift, h = u >> (shift + 1), q = floor(h / n)
 * is round_half_up(acc * r / n) (floor divisions compose); when u's low shift + 1 bits are
 * zero and n divides h the value was a tie, and an odd q steps down to the even one. Then
 * + output_offset and the activation clamp. One 32x32->64 multiply, a 32-bit division and a
 * few ALU instructions per output on top of the window sum; no 64-bit division helper.
 */
#include "tinyc/tinyc_nn.h"
#include "tinyc/requant.h"

static int32_t tinyc_pool_onnx_min(int32_t a, int32_t b)
{
    return a < b ? a : b;
}

static int32_t tinyc_pool_onnx_max(int32_t a, int32_t b)
{
    return a > b ? a : b;
}

/* floor(a / n) for n > 0 (C division truncates toward zero). */
static int32_t tinyc_pool_onnx_floor_div(int32_t a, int32_t n)
{
    const int32_t q = a / n;
    return (a % n != 0 && a < 0) ? q - 1 : q;
}

static int8_t tinyc_pool_onnx_average(const tinyc_pool_params *params, int32_t acc, int32_t count)
{
    const int64_t t = (int64_t)acc * params->multiplier;
    const int64_t u = 2 * t + (int64_t)count * ((int64_t)1 << params->shift);
    const uint64_t low_mask = ((uint64_t)1 << (params->shift + 1)) - 1u;
    /* Arithmetic right shift of a negative value: floor, as requant.h relies on. */
    const int32_t h = (int32_t)(u >> (params->shift + 1));
    int32_t q = tinyc_pool_onnx_floor_div(h, count);
    if (((uint64_t)u & low_mask) == 0 && h % count == 0 && (q & 1) != 0) {
        q -= 1;
    }
    return (int8_t)tinyc_clamp_i32(q + params->output_offset, params->act_min, params->act_max);
}

void tinyc_avgpool_onnx_s8(const tinyc_pool_params *params, const int8_t *input, int8_t *output)
{
    const int32_t in_h = params->in_h;
    const int32_t in_w = params->in_w;
    const int32_t channels = params->channels;
    int32_t b, oy, ox, c, y, x;

    for (b = 0; b < params->batch; ++b) {
        const int8_t *image = input + b * in_h * in_w * channels;
        for (oy = 0; oy < params->out_h; ++oy) {
            const int32_t y0 = oy * params->stride_h - params->pad_top;
            const int32_t y_begin = tinyc_pool_onnx_max(y0, 0);
            const int32_t y_end = tinyc_pool_onnx_min(y0 + params->kernel_h, in_h);
            const int32_t padded_rows = tinyc_pool_onnx_min(y0 + params->kernel_h, in_h + params->pad_bottom) -
                                        tinyc_pool_onnx_max(y0, -params->pad_top);
            for (ox = 0; ox < params->out_w; ++ox) {
                const int32_t x0 = ox * params->stride_w - params->pad_left;
                const int32_t x_begin = tinyc_pool_onnx_max(x0, 0);
                const int32_t x_end = tinyc_pool_onnx_min(x0 + params->kernel_w, in_w);
                const int32_t padded_cols = tinyc_pool_onnx_min(x0 + params->kernel_w, in_w + params->pad_right) -
                                            tinyc_pool_onnx_max(x0, -params->pad_left);
                const int32_t inside =
                    tinyc_pool_onnx_max(y_end - y_begin, 0) * tinyc_pool_onnx_max(x_end - x_begin, 0);
                const int32_t count = params->count_include_pad
                                          ? tinyc_pool_onnx_max(padded_rows, 0) * tinyc_pool_onnx_max(padded_cols, 0)
                                          : inside;
                for (c = 0; c < channels; ++c) {
                    int32_t acc = 0;
                    for (y = y_begin; y < y_end; ++y) {
                        const int8_t *cell = image + (y * in_w + x_begin) * channels + c;
                        for (x = x_begin; x < x_end; ++x) {
                            acc += (int32_t)*cell;
                            cell += channels;
                        }
                    }
                    /* a window over no cell: the compiler never emits one */
                    *output++ = count > 0 ? tinyc_pool_onnx_average(params, acc + inside * params->input_offset, count)
                                          : (int8_t)0;
                }
            }
        }
    }
}
