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
 * two int16x2 sums by SXTAB16 (flushed into int32 every 256 cells, before a lane could
 * overflow); the per-cell input offset becomes one multiply by the cell count. No division
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

/* One output value from its window sum (the portable loop's tail, division by d). */
static inline int8_t tinyc_pool_average(const tinyc_pool_params *params, int32_t acc, int32_t inside,
                                        const tinyc_pool_divisor *d)
{
    int32_t out;
    if (d->n <= 0) {
        out = 0;
    } else if (params->requantize) {
        acc += inside * params->input_offset;
        out = tinyc_pool_rounded_div(tinyc_multiply_by_quantized_multiplier(acc, params->multiplier, params->shift), d) +
              params->output_offset;
    } else {
        acc += (d->n - inside) * -params->input_offset;
        out = tinyc_pool_rounded_div(acc, d);
    }
    return (int8_t)tinyc_clamp_i32(out, params->act_min, params->act_max);
}
#endif

void tinyc_avgpool_s8(const tinyc_pool_params *params, const int8_t *input, int8_t *output)
{
    const int32_t in_h = params->in_h;
    const int32_t in_w = params->in_w;
    const int32_t channels = params->channels;
    const int32_t cell_offset = params->requantize ? params->input_offset : 0;
    const int32_t in_row_pitch = params->input_row_stride;
    const int32_t out_row_pitch = params->output_row_stride;
    int32_t b, oy, ox, c, y, x;
#if TINYC_USE_SIMD
    const tinyc_pool_divisor empty = {0, 0, 0};
    tinyc_pool_divisor divisor = empty;
    int32_t k;
#endif

    for (b = 0; b < params->batch; ++b) {
        const int8_t *image = input + b * in_h * in_row_pitch;
        for (oy = 0; oy < params->out_h; ++oy) {
            const int32_t y0 = oy * params->stride_h - params->pad_top;
            int8_t *out_px = output + (b * params->out_h + oy) * out_row_pitch;
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
#if TINYC_USE_SIMD
                if (count != divisor.n) {
                    divisor = count > 0 ? tinyc_pool_divisor_of(count) : empty;
                }
                for (c = 0; c + 4 <= channels; c += 4) {
                    int32_t sum[4] = {0, 0, 0, 0};
                    int32_t lanes02 = 0, lanes13 = 0, cells = 0;
                    int8_t bytes[4];
                    for (y = y_begin; y < y_end; ++y) {
                        const int8_t *cell = image + y * in_row_pitch + x_begin * channels + c;
                        for (x = x_begin; x < x_end; ++x) {
                            const int32_t word = tinyc_read_s8x4(cell);
                            lanes02 = tinyc_sxtab16(lanes02, word);
                            lanes13 = tinyc_sxtab16_ror8(lanes13, word);
                            cell += channels;
                            if (++cells == 256) { /* |lane| <= 256 * 128: flush before it can wrap */
                                sum[0] += tinyc_lo16(lanes02);
                                sum[1] += tinyc_lo16(lanes13);
                                sum[2] += tinyc_hi16(lanes02);
                                sum[3] += tinyc_hi16(lanes13);
                                lanes02 = lanes13 = cells = 0;
                            }
                        }
                    }
                    sum[0] += tinyc_lo16(lanes02);
                    sum[1] += tinyc_lo16(lanes13);
                    sum[2] += tinyc_hi16(lanes02);
                    sum[3] += tinyc_hi16(lanes13);
                    for (k = 0; k < 4; ++k) {
                        bytes[k] = tinyc_pool_average(params, sum[k], inside, &divisor);
                    }
                    memcpy(out_px, bytes, sizeof bytes);
                    out_px += 4;
                }
                for (; c < channels; ++c) {
                    int32_t acc = 0;
                    for (y = y_begin; y < y_end; ++y) {
                        for (x = x_begin; x < x_end; ++x) {
                            acc += (int32_t)image[y * in_row_pitch + x * channels + c];
                        }
                    }
                    *out_px++ = tinyc_pool_average(params, acc, inside, &divisor);
                }
                (void)cell_offset;
#else
                for (c = 0; c < channels; ++c) {
                    int32_t acc = 0;
                    int32_t out;
                    for (y = y_begin; y < y_end; ++y) {
                        for (x = x_begin; x < x_end; ++x) {
                            acc += (int32_t)image[y * in_row_pitch + x * channels + c] + cell_offset;
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
                    *out_px++ = (int8_t)tinyc_clamp_i32(out, params->act_min, params->act_max);
                }
#endif
            }
        }
    }
}
