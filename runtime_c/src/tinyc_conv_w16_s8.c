/*
 * Regular 2-D convolution (one group, dilation 1), int8, with weights pre-expanded to int16
 * at compile time: the scratch-free KxK conv of DSP cores (resnet8's peak step, where no
 * im2col scratch fits the arena), chosen only where the board's flash has room for the
 * doubled weights (kernels/conv_w16.py).
 *
 * input NHWC, output NHWC, in_c and out_c multiples of 4. weights: int32 words, each two
 * int16 weights, in blocks of four output channels: [out_c / 4][kernel_h][kernel_w * in_c / 4]
 * [4 channels][2 words], word 0 = {w[4g], w[4g + 2]}, word 1 = {w[4g + 1], w[4g + 3]} (low
 * half first): what the input word becomes through SXTAB16 and SXTAB16 ROR #8 (the input
 * offset added to both lanes for free: padding taps are skipped, so the offset cannot fold
 * into the bias). Per group of four input values: one LDR and two SXTAB16 for the input,
 * one LDRD and two SMLADs per output channel, so 16 MACs in ~17 instructions, one weight
 * pointer walking the block's words in order.
 *
 * Order (kernels/access.py conv, as tinyc_conv_s8): pixel by pixel, four output channels at
 * a time, each block reading the pixel's whole window before its four bytes are written.
 * The in-bounds taps of a kernel row are (kx_hi - kx_lo) * in_c consecutive input bytes and
 * consecutive weight words alike, so a kernel row is one run. The portable build runs the
 * same blocks one value at a time, with the same requantize tail.
 */
#include <string.h>

#include "tinyc/arm_dsp.h"
#include "tinyc/requant.h"
#include "tinyc/tinyc_nn.h"

#if TINYC_USE_SIMD
#if defined(__GNUC__) && !defined(__clang__)
#define TINYC_CONV16_LOOP static __attribute__((noinline, optimize("no-schedule-insns")))
#else
#define TINYC_CONV16_LOOP static
#endif

/* A group's words: what the loads below read (for the compiler's view of memory). */
typedef struct {
    int32_t words[8];
} tinyc_conv16_group;

#if TINYC_HAVE_DSP
#define TINYC_CONV16_CHANNEL(w, offset, xe, xo, acc)                                                  \
    do {                                                                                              \
        int32_t lo, hi;                                                                               \
        __asm__("ldrd %0, %1, [%2, #" #offset "]"                                                     \
                : "=r"(lo), "=r"(hi)                                                                  \
                : "r"(w), "m"(*(const tinyc_conv16_group *)(const void *)(w)));                      \
        (acc) = tinyc_smlad(lo, (xe), (acc));                                                         \
        (acc) = tinyc_smlad(hi, (xo), (acc));                                                         \
    } while (0)
#else
#define TINYC_CONV16_CHANNEL(w, offset, xe, xo, acc)                                                  \
    do {                                                                                              \
        (acc) = tinyc_smlad((w)[(offset) / 4], (xe), (acc));                                          \
        (acc) = tinyc_smlad((w)[(offset) / 4 + 1], (xo), (acc));                                      \
    } while (0)
#endif

/* `rows` runs of `groups` groups of four input values: run r starts at x + r * x_stride, its
 * words at w + r * w_stride. */
TINYC_CONV16_LOOP void tinyc_conv16_window(const int8_t *x, int32_t x_stride, const int32_t *w, int32_t w_stride,
                                           int32_t rows, int32_t groups, int32_t input_offset, int32_t acc[4])
{
    const int32_t in2 = tinyc_pack_s16x2(input_offset, input_offset);
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    int32_t r, g;
    for (r = 0; r < rows; ++r) {
        const int8_t *xr = x + r * x_stride;
        const int32_t *wr = w + r * w_stride;
        for (g = groups; g > 0; --g, xr += 4, wr += 8) {
            const int32_t xv = tinyc_read_s8x4(xr);
            const int32_t xe = tinyc_sxtab16(in2, xv);
            const int32_t xo = tinyc_sxtab16_ror8(in2, xv);
            TINYC_CONV16_CHANNEL(wr, 0, xe, xo, a0);
            TINYC_CONV16_CHANNEL(wr, 8, xe, xo, a1);
            TINYC_CONV16_CHANNEL(wr, 16, xe, xo, a2);
            TINYC_CONV16_CHANNEL(wr, 24, xe, xo, a3);
        }
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}
#else
/* The same sums, one value at a time: input k = 4 g + j meets lane j / 2 of word j % 2. */
static void tinyc_conv16_window(const int8_t *x, int32_t x_stride, const int32_t *w, int32_t w_stride, int32_t rows,
                                int32_t groups, int32_t input_offset, int32_t acc[4])
{
    int32_t r, g, c, j;
    for (r = 0; r < rows; ++r) {
        for (g = 0; g < groups; ++g) {
            for (c = 0; c < 4; ++c) {
                for (j = 0; j < 4; ++j) {
                    const int32_t word = w[r * w_stride + g * 8 + c * 2 + (j & 1)];
                    const int32_t weight = (j >> 1) != 0 ? tinyc_hi16(word) : tinyc_lo16(word);
                    acc[c] += weight * ((int32_t)x[r * x_stride + 4 * g + j] + input_offset);
                }
            }
        }
    }
}
#endif

void tinyc_conv_w16_s8(const tinyc_conv_params *params, const int8_t *input, const int32_t *weights,
                       const int32_t *bias, const int32_t *multiplier, const int32_t *shift, int8_t *output)
{
    const int32_t in_h = params->in_h;
    const int32_t in_w = params->in_w;
    const int32_t in_c = params->in_c;
    const int32_t out_h = params->out_h;
    const int32_t out_w = params->out_w;
    const int32_t out_c = params->out_c;
    const int32_t kernel_h = params->kernel_h;
    const int32_t kernel_w = params->kernel_w;
    const int32_t stride_h = params->stride_h;
    const int32_t stride_w = params->stride_w;
    const int32_t pad_top = params->pad_top;
    const int32_t pad_left = params->pad_left;
    const int32_t input_offset = params->input_offset;
    const int32_t in_row_pitch = params->input_row_stride;
    const int32_t out_row_pitch = params->output_row_stride;
    const int32_t row_words = kernel_w * in_c * 2;     /* one kernel row of a block of four channels */
    const int32_t block_words = kernel_h * row_words; /* a block of four output channels */
    const tinyc_requant_output out_q = tinyc_requant_output_of(params->output_offset, params->act_min, params->act_max);
    int32_t b, oy, ox, oc, j;

    for (b = 0; b < params->batch; ++b) {
        const int8_t *image = input + b * in_h * in_row_pitch;
        for (oy = 0; oy < out_h; ++oy) {
            const int32_t in_y0 = oy * stride_h - pad_top;
            const int32_t ky_lo = in_y0 < 0 ? -in_y0 : 0;
            const int32_t ky_hi = in_h - in_y0 < kernel_h ? in_h - in_y0 : kernel_h;
            int8_t *out = output + (b * out_h + oy) * out_row_pitch;
            for (ox = 0; ox < out_w; ++ox) {
                const int32_t in_x0 = ox * stride_w - pad_left;
                const int32_t kx_lo = in_x0 < 0 ? -in_x0 : 0;
                const int32_t kx_hi = in_w - in_x0 < kernel_w ? in_w - in_x0 : kernel_w;
                const int32_t rows = ky_hi - ky_lo;
                const int32_t groups = (kx_hi - kx_lo) * in_c / 4;
                const int8_t *x0 = image + (in_y0 + ky_lo) * in_row_pitch + (in_x0 + kx_lo) * in_c;
                const int32_t *w0 = weights + ky_lo * row_words + kx_lo * in_c * 2;
                for (oc = 0; oc < out_c; oc += 4) {
                    int32_t acc[4] = {0, 0, 0, 0};
                    if (bias != 0) {
                        memcpy(acc, bias + oc, sizeof acc);
                    }
                    if (rows > 0 && groups > 0) {
                        tinyc_conv16_window(x0, in_row_pitch, w0 + (oc / 4) * block_words, row_words, rows, groups,
                                            input_offset, acc);
                    }
                    for (j = 0; j < 4; ++j) {
                        out[j] = tinyc_requantize_channel_s8(
                            acc[j], tinyc_requant_channel_of(multiplier[oc + j], shift[oc + j]), out_q);
                    }
                    out += 4;
                }
            }
        }
    }
}
