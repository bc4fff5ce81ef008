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
 *
 * SIMD path (TINYC_USE_SIMD): four channels at a time, each window cell one word added into
 * two int16x2 sums by SXTAB16 (a window of up to 256 cells cannot wrap a lane; a larger one
 * is flushed into int32 every 256 cells); the per-cell input offset becomes one multiply by
 * the cell count, once per output pixel, and the tail's constants sit in locals. No division
 * per output: round(a / n) is sign(a) * floor((|a| + n/2) / n), and floor(u / n) for
 * 0 <= u < 2^31 is the high part of u * magic (Granlund-Montgomery, magic = floor(2^(31+l) / n)
 * + 1 with l = ceil(log2 n)), the magic derived once per distinct count (only border windows
 * differ). Per output pixel its channels are read, then written: consecutive blocks of the
 * loop order kernels/access.py models, merged.
 */
#include "tinyc/tinyc_nn.h"
#include "tinyc/arm_dsp.h"
#include "tinyc/requant.h"

static int32_t tinyc_min_i32(int32_t a, int32_t b)
{
    return a < b ? a : b;
}

static int32_t tinyc_max_i32(int32_t a, int32_t b)
{
    return a > b ? a : b;
}

#if !TINYC_USE_SIMD
static int32_t tinyc_rounded_div(int32_t a, int32_t n)
{
    return a > 0 ? (a + n / 2) / n : (a - n / 2) / n;
}
#endif

#if TINYC_USE_SIMD
/* floor(u / n) = (u * magic) >> (31 + l) for 0 <= u < 2^31 (see the file comment). */
typedef struct {
    int32_t n;
    uint32_t magic;
    int32_t high_shift; /* l - 1: the shift of the product's high word; -1 for n == 1 */
} tinyc_pool_divisor;

static tinyc_pool_divisor tinyc_pool_divisor_of(int32_t n)
{
    tinyc_pool_divisor d;
    int32_t l = 0, i;
    uint32_t q, r;
    while (l < 31 && ((int32_t)1 << l) < n) {
        ++l;
    }
    /* floor(2^(31+l) / n) < 2^32 in 32-bit steps (no 64-bit division: the runtime links no
     * libgcc helpers): 2^31 / n, then l doublings of quotient and remainder (r < n <= 2^31). */
    q = 0x80000000u / (uint32_t)n;
    r = 0x80000000u % (uint32_t)n;
    for (i = 0; i < l; ++i) {
        r <<= 1;
        q <<= 1;
        if (r >= (uint32_t)n) {
            r -= (uint32_t)n;
            q |= 1u;
        }
    }
    d.n = n;
    d.magic = q + 1u;
    d.high_shift = l - 1;
    return d;
}

/* TFLite's round(a / n): a > 0 ? (a + n/2) / n : (a - n/2) / n, C division. */
static inline int32_t tinyc_pool_rounded_div(int32_t a, const tinyc_pool_divisor *d)
{
    const uint32_t magnitude = a < 0 ? 0u - (uint32_t)a : (uint32_t)a;
    const uint32_t u = magnitude + (uint32_t)(d->n / 2);
    uint32_t q;
    if (d->high_shift < 0) {
        q = u;
    } else if (u < 0x80000000u) {
        q = (uint32_t)(((uint64_t)u * d->magic) >> 32) >> d->high_shift;
    } else {
        q = u / (uint32_t)d->n; /* beyond any real window sum: exact either way */
    }
    return a < 0 ? -(int32_t)q : (int32_t)q;
}

/* What the tail of one output pixel needs, in locals (an int8 store may alias params). */
typedef struct {
    int32_t requantize, multiplier, shift, output_offset, act_min, act_max;
    int32_t acc_term; /* added to every window sum: the offsets of the summed or counted pad cells */
} tinyc_pool_tail;

/* One output value from its window sum (the portable loop's tail, division by d). */
static inline int8_t tinyc_pool_average(const tinyc_pool_tail *t, int32_t acc, const tinyc_pool_divisor *d)
{
    int32_t out;
    acc += t->acc_term;
    if (d->n <= 0) {
        out = 0;
    } else if (t->requantize) {
        out = tinyc_pool_rounded_div(tinyc_multiply_by_quantized_multiplier(acc, t->multiplier, t->shift), d) +
              t->output_offset;
    } else {
        out = tinyc_pool_rounded_div(acc, d);
    }
    return (int8_t)tinyc_clamp_i32(out, t->act_min, t->act_max);
}

/* The raw sums of four channels over the window rows [y_begin, y_end) x [x_begin, x_end):
 * each cell one word into two int16x2 lane sums by SXTAB16. A window of at most 256 cells
 * cannot wrap a lane (|sum| <= 256 * 128 = 2^15 fits int16: -32768 is the extreme), so it
 * needs no flush; a larger one flushes every 256 cells. */
static inline void tinyc_pool_sum4(const int8_t *first_cell, int32_t rows, int32_t cols, int32_t in_row_pitch,
                                   int32_t channels, int32_t sum[4])
{
    int32_t lanes02 = 0, lanes13 = 0, y, x;
    sum[0] = sum[1] = sum[2] = sum[3] = 0;
    if (cols * channels == in_row_pitch) { /* whole rows: the window is one run of cells */
        cols *= rows;
        rows = 1;
    }
    if (rows * cols <= 256) {
        for (y = 0; y < rows; ++y) {
            const int8_t *cell = first_cell + y * in_row_pitch;
            for (x = 0; x + 2 <= cols; x += 2) {
                const int32_t word0 = tinyc_read_s8x4(cell);
                const int32_t word1 = tinyc_read_s8x4(cell + channels);
                lanes02 = tinyc_sxtab16(tinyc_sxtab16(lanes02, word0), word1);
                lanes13 = tinyc_sxtab16_ror8(tinyc_sxtab16_ror8(lanes13, word0), word1);
                cell += 2 * channels;
            }
            if (x < cols) {
                const int32_t word = tinyc_read_s8x4(cell);
                lanes02 = tinyc_sxtab16(lanes02, word);
                lanes13 = tinyc_sxtab16_ror8(lanes13, word);
            }
        }
    } else {
        int32_t cells = 0;
        for (y = 0; y < rows; ++y) {
            const int8_t *cell = first_cell + y * in_row_pitch;
            for (x = 0; x < cols; ++x) {
                const int32_t word = tinyc_read_s8x4(cell);
                lanes02 = tinyc_sxtab16(lanes02, word);
                lanes13 = tinyc_sxtab16_ror8(lanes13, word);
                cell += channels;
                if (++cells == 256) { /* flush before a lane could wrap */
                    sum[0] += tinyc_lo16(lanes02);
                    sum[1] += tinyc_lo16(lanes13);
                    sum[2] += tinyc_hi16(lanes02);
                    sum[3] += tinyc_hi16(lanes13);
                    lanes02 = lanes13 = cells = 0;
                }
            }
        }
    }
    sum[0] += tinyc_lo16(lanes02);
    sum[1] += tinyc_lo16(lanes13);
    sum[2] += tinyc_hi16(lanes02);
    sum[3] += tinyc_hi16(lanes13);
}
#endif

TINYC_SIZE_OPTIMIZED void tinyc_avgpool_s8(const tinyc_pool_params *params, const int8_t *input, int8_t *output)
{
    const int32_t in_h = params->in_h;
    const int32_t in_w = params->in_w;
    const int32_t channels = params->channels;
    const int32_t out_h = params->out_h;
    const int32_t out_w = params->out_w;
    const int32_t in_row_pitch = params->input_row_stride;
    const int32_t out_row_pitch = params->output_row_stride;
    int32_t b, oy, ox, c, y, x;
#if TINYC_USE_SIMD
    const tinyc_pool_divisor empty = {0, 0, 0};
    tinyc_pool_divisor divisor = empty;
    tinyc_pool_tail tail;
    int32_t k;
    tail.requantize = params->requantize;
    tail.multiplier = params->multiplier;
    tail.shift = params->shift;
    tail.output_offset = params->output_offset;
    tail.act_min = params->act_min;
    tail.act_max = params->act_max;
#else
    const int32_t cell_offset = params->requantize ? params->input_offset : 0;
#endif

    for (b = 0; b < params->batch; ++b) {
        const int8_t *image = input + b * in_h * in_row_pitch;
        int8_t *out_image = output + b * out_h * out_row_pitch;
        for (oy = 0; oy < out_h; ++oy) {
            const int32_t y0 = oy * params->stride_h - params->pad_top;
            const int32_t y_begin = tinyc_max_i32(y0, 0);
            const int32_t y_end = tinyc_min_i32(y0 + params->kernel_h, in_h);
            const int32_t padded_rows = tinyc_min_i32(y0 + params->kernel_h, in_h + params->pad_bottom) -
                                        tinyc_max_i32(y0, -params->pad_top);
            for (ox = 0; ox < out_w; ++ox) {
                const int32_t x0 = ox * params->stride_w - params->pad_left;
                const int32_t x_begin = tinyc_max_i32(x0, 0);
                const int32_t x_end = tinyc_min_i32(x0 + params->kernel_w, in_w);
                const int32_t padded_cols = tinyc_min_i32(x0 + params->kernel_w, in_w + params->pad_right) -
                                            tinyc_max_i32(x0, -params->pad_left);
                const int32_t rows = tinyc_max_i32(y_end - y_begin, 0);
                const int32_t cols = tinyc_max_i32(x_end - x_begin, 0);
                const int32_t inside = rows * cols;
                const int32_t count = params->count_include_pad
                                          ? tinyc_max_i32(padded_rows, 0) * tinyc_max_i32(padded_cols, 0)
                                          : inside;
                /* (a window over no cell reads nothing: its pointer stays in the image) */
                const int8_t *first_cell = inside > 0 ? image + y_begin * in_row_pitch + x_begin * channels : image;
                int8_t *out_pixel = out_image + oy * out_row_pitch + ox * channels;
#if TINYC_USE_SIMD
                if (count != divisor.n) {
                    divisor = count > 0 ? tinyc_pool_divisor_of(count) : empty;
                }
                /* requantize: every summed cell's offset; raw: every counted pad cell holds
                 * the zero point (-input_offset), a real 0.0. */
                tail.acc_term = params->requantize ? inside * params->input_offset
                                                   : (count - inside) * -params->input_offset;
                for (c = 0; c + 4 <= channels; c += 4) {
                    int32_t sum[4];
                    int8_t bytes[4];
                    tinyc_pool_sum4(first_cell + c, rows, cols, in_row_pitch, channels, sum);
                    for (k = 0; k < 4; ++k) {
                        bytes[k] = tinyc_pool_average(&tail, sum[k], &divisor);
                    }
                    memcpy(out_pixel + c, bytes, sizeof bytes);
                }
                for (; c < channels; ++c) {
                    int32_t acc = 0;
                    for (y = 0; y < rows; ++y) {
                        for (x = 0; x < cols; ++x) {
                            acc += (int32_t)first_cell[y * in_row_pitch + x * channels + c];
                        }
                    }
                    out_pixel[c] = tinyc_pool_average(&tail, acc, &divisor);
                }
#else
                for (c = 0; c < channels; ++c) {
                    int32_t acc = 0;
                    int32_t out;
                    for (y = 0; y < rows; ++y) {
                        for (x = 0; x < cols; ++x) {
                            acc += (int32_t)first_cell[y * in_row_pitch + x * channels + c] + cell_offset;
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
                    out_pixel[c] = (int8_t)tinyc_clamp_i32(out, params->act_min, params->act_max);
                }
#endif
            }
        }
    }
}
