/*
 * Average pooling on NHWC, int8 (TFLite's reference AveragePool, plus a requantizing form
 * for models whose pool output has its own scale; see tinycc_ml/quant/params.py
 * avgpool_params).
 *
 * The sum runs over the window clipped to the input. The divisor n is the number of summed
 * cells, or (count_include_pad) the window clipped to the input plus its explicit pads,
 * never the overhang that ceil_mode adds past them.
 *   requantize == 0: out = round(sum of raw x / n)                    (TFLite; a counted
 *                    explicit pad cell adds the input zero point -input_offset, a real 0.0)
 *   requantize != 0: out = round(MBQM(sum of (x + input_offset)) / n) + output_offset
 * round(a / n) is TFLite's a > 0 ? (a + n/2) / n : (a - n/2) / n with C division.
 * The result is clamped to the activation range.
 */
#include "tinyc/tinyc_nn.h"
#include "tinyc/requant.h"

static int32_t tinyc_min_i32(int32_t a, int32_t b)
{
    return a < b ? a : b;
}

static int32_t tinyc_max_i32(int32_t a, int32_t b)
{
    return a > b ? a : b;
}

static int32_t tinyc_rounded_div(int32_t a, int32_t n)
{
    return a > 0 ? (a + n / 2) / n : (a - n / 2) / n;
}

void tinyc_avgpool_s8(const tinyc_pool_params *params, const int8_t *input, int8_t *output)
{
    const int32_t in_h = params->in_h;
    const int32_t in_w = params->in_w;
    const int32_t channels = params->channels;
    const int32_t cell_offset = params->requantize ? params->input_offset : 0;
    int32_t b, oy, ox, c, y, x;

    for (b = 0; b < params->batch; ++b) {
        const int8_t *image = input + b * in_h * in_w * channels;
        for (oy = 0; oy < params->out_h; ++oy) {
            const int32_t y0 = oy * params->stride_h - params->pad_top;
            const int32_t y_begin = tinyc_max_i32(y0, 0);
            const int32_t y_end = tinyc_min_i32(y0 + params->kernel_h, in_h);
            const int32_t padded_rows = tinyc_min_i32(y0 + params->kernel_h, in_h + params->pad_bottom) -
                                        tinyc_max_i32(y0, -params->pad_top);
            for (ox = 0; ox < params->out_w; ++ox) {
                const int32_t x0 = ox * params->stride_w - params->pad_left;
                const int32_t x_begin = tinyc_max_i32(x0, 0);
                const int32_t x_end = tinyc_min_i32(x0 + params->kernel_w, in_w);
                const int32_t padded_cols = tinyc_min_i32(x0 + params->kernel_w, in_w + params->pad_right) -
                                            tinyc_max_i32(x0, -params->pad_left);
                const int32_t inside = tinyc_max_i32(y_end - y_begin, 0) * tinyc_max_i32(x_end - x_begin, 0);
                const int32_t count = params->count_include_pad
                                          ? tinyc_max_i32(padded_rows, 0) * tinyc_max_i32(padded_cols, 0)
                                          : inside;
                for (c = 0; c < channels; ++c) {
                    int32_t acc = 0;
                    int32_t out;
                    for (y = y_begin; y < y_end; ++y) {
                        for (x = x_begin; x < x_end; ++x) {
                            acc += (int32_t)image[(y * in_w + x) * channels + c] + cell_offset;
                        }
                    }
                    if (count <= 0) {
                        out = 0; /* a window over no cell: the compiler never emits one */
                    } else if (params->requantize) {
                        /* explicit pad cells hold a real 0.0: (zp - zp) adds nothing */
                        out = tinyc_rounded_div(
                                  tinyc_multiply_by_quantized_multiplier(acc, params->multiplier, params->shift), count) +
                              params->output_offset;
                    } else {
                        /* raw sum: every counted pad cell holds the zero point, a real 0.0 */
                        acc += (count - inside) * -params->input_offset;
                        out = tinyc_rounded_div(acc, count);
                    }
                    *output++ = (int8_t)tinyc_clamp_i32(out, params->act_min, params->act_max);
                }
            }
        }
    }
}
