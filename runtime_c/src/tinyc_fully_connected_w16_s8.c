/*
 * Fully connected with weights pre-expanded to int16 at compile time: the DSP inner loop
 * skips the weights' SXTB16 (the flash-for-speed layout of issue 8, chosen by the compiler
 * only where the board's flash has room: kernels/conv.py).
 *
 * input [batch][in_features] int8, output [batch][out_features] int8, in_features and
 * out_features multiples of 4, symmetric weights, the input offset folded into the bias by
 * the compiler (bias may be NULL when both are 0). weights: int32 words, each two int16 weights. Rows
 * in blocks of four; per block, per group of four inputs x0..x3, per row of the block, the
 * words {w0, w2} and {w1, w3}: what the input word becomes through SXTB16 and SXTB16 ROR #8,
 * so one LDMIA of two rows' four words and four SMLADs per two rows and group on a DSP core,
 * and the input word is expanded once for the four rows. Words are 4-byte aligned (an int32_t
 * array), so LDMIA and LDRD never fault.
 *
 * tinyc_fully_connected_single_w16_s8 (below) is the same loop for layers whose every
 * channel has right shift 0 (ONNX semantics: onnxruntime-born models), with the
 * single-rounding tail the compiler proved (kernels/fc_single.py, kernels/single_tail.py):
 * one SMMLAR with the output offset and the clamp, no guard.
 *
 * Order (kernels/access.py fully_connected): per batch row, four outputs at a time, each
 * reading the whole input row before its byte is written. The portable build runs the same
 * blocks one value at a time, with the same requantize tail.
 */
#include <string.h>

#include "tinyc/arm_dsp.h"
#include "tinyc/requant.h"
#include "tinyc/requant_tail.h"
#include "tinyc/tinyc_nn.h"

#if TINYC_USE_SIMD
#if defined(__GNUC__) && !defined(__clang__)
#define TINYC_FC16_LOOP static __attribute__((noinline, optimize("no-schedule-insns")))
#else
#define TINYC_FC16_LOOP static
#endif

/* A group's words: what the loads below read (for the compiler's view of memory). */
typedef struct {
    int32_t words[8];
} tinyc_fc16_group;

/* A row's two words of a group in one LDRD (the array is int32_t: 4-byte aligned, which is
 * all LDRD needs); gcc only ever emits two LDRs here, so on the core it is spelled out. */
#if TINYC_HAVE_DSP
#define TINYC_FC16_ROW(w, offset, xe, xo, acc)                                                        \
    do {                                                                                              \
        int32_t lo, hi;                                                                               \
        __asm__("ldrd %0, %1, [%2, #" #offset "]"                                                     \
                : "=r"(lo), "=r"(hi)                                                                  \
                : "r"(w), "m"(*(const tinyc_fc16_group *)(const void *)(w)));                        \
        (acc) = tinyc_smlad(lo, (xe), (acc));                                                         \
        (acc) = tinyc_smlad(hi, (xo), (acc));                                                         \
    } while (0)
#else
#define TINYC_FC16_ROW(w, offset, xe, xo, acc)                                                        \
    do {                                                                                              \
        (acc) = tinyc_smlad((w)[(offset) / 4], (xe), (acc));                                          \
        (acc) = tinyc_smlad((w)[(offset) / 4 + 1], (xo), (acc));                                      \
    } while (0)
#endif

/* One group of four inputs at x, its 8 words at w + word_offset. */
#define TINYC_FC16_GROUP(x, w, word_offset)                     \
    do {                                                        \
        const int32_t xv = tinyc_read_s8x4(x);                  \
        const int32_t xe = tinyc_sxtb16(xv);                    \
        const int32_t xo = tinyc_sxtb16_ror8(xv);               \
        TINYC_FC16_ROW(w, word_offset * 4 + 0, xe, xo, a0);     \
        TINYC_FC16_ROW(w, word_offset * 4 + 8, xe, xo, a1);     \
        TINYC_FC16_ROW(w, word_offset * 4 + 16, xe, xo, a2);    \
        TINYC_FC16_ROW(w, word_offset * 4 + 24, xe, xo, a3);    \
    } while (0)

#if TINYC_HAVE_DSP
/* One group of four inputs at x against its 8 words at w; w += 8 (two LDMIA). */
#define TINYC_FC16_GROUP_STEP(x, w)                                                                   \
    do {                                                                                              \
        const int32_t xv = tinyc_read_s8x4(x);                                                        \
        const int32_t xe = tinyc_sxtb16(xv);                                                          \
        const int32_t xo = tinyc_sxtb16_ror8(xv);                                                     \
        TINYC_LDMIA4_SMLAD_PAIRS(w, xe, xo, a0, a1);                                                  \
        TINYC_LDMIA4_SMLAD_PAIRS(w, xe, xo, a2, a3);                                                  \
    } while (0)
#else
#define TINYC_FC16_GROUP_STEP(x, w)                                                                   \
    do {                                                                                              \
        TINYC_FC16_GROUP(x, w, 0);                                                                    \
        (w) += 8;                                                                                     \
    } while (0)
#endif

/* Four rows over `groups` groups of four inputs; w: the block's words in order. Two groups
 * per iteration: the loop's count updates once per 32 MACs. */
TINYC_FC16_LOOP void tinyc_fc16_dot4(const int8_t *x, const int32_t *w, int32_t groups, int32_t acc[4])
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    int32_t pairs;
    for (pairs = groups >> 1; pairs > 0; --pairs, x += 8) {
        TINYC_FC16_GROUP_STEP(x, w);
        TINYC_FC16_GROUP_STEP(x + 4, w);
    }
    if (groups & 1) {
        TINYC_FC16_GROUP_STEP(x, w);
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}
#else
/* The same sums, one value at a time: input k = 4 g + j meets lane j / 2 of word j % 2. */
static void tinyc_fc16_dot4(const int8_t *x, const int32_t *w, int32_t groups, int32_t acc[4])
{
    int32_t g, r, j;
    for (g = 0; g < groups; ++g) {
        for (r = 0; r < 4; ++r) {
            for (j = 0; j < 4; ++j) {
                const int32_t word = w[g * 8 + r * 2 + (j & 1)];
                const int32_t weight = (j >> 1) != 0 ? tinyc_hi16(word) : tinyc_lo16(word);
                acc[r] += weight * (int32_t)x[4 * g + j];
            }
        }
    }
}
#endif

void tinyc_fully_connected_w16_s8(const tinyc_fully_connected_params *params, const int8_t *input,
                                  const int32_t *weights, const int32_t *bias, const int32_t *multiplier,
                                  const int32_t *shift, int8_t *output)
{
    const int32_t batch = params->batch;
    const int32_t in_features = params->in_features;
    const int32_t out_features = params->out_features;
    const int32_t groups = in_features >> 2;
    const int32_t per_channel = params->per_channel;
    const tinyc_requant_output out_q = tinyc_requant_output_of(params->output_offset, params->act_min, params->act_max);
    const tinyc_requant_channel tensor_q = tinyc_requant_channel_of(multiplier[0], shift[0]);
    int32_t b, o, j;

    for (b = 0; b < batch; ++b) {
        const int8_t *x = input + b * in_features;
        int8_t *y = output + b * out_features;
        for (o = 0; o < out_features; o += 4) {
            int32_t acc[4] = {0, 0, 0, 0};
            if (bias != 0) {
                memcpy(acc, bias + o, sizeof acc);
            }
            tinyc_fc16_dot4(x, weights + o * 2 * groups, groups, acc);
            if (per_channel) {
                for (j = 0; j < 4; ++j) {
                    y[o + j] = tinyc_requantize_channel_s8(
                        acc[j], tinyc_requant_channel_of(multiplier[o + j], shift[o + j]), out_q);
                }
            } else {
                for (j = 0; j < 4; ++j) {
                    y[o + j] = tinyc_requantize_channel_s8(acc[j], tensor_q, out_q);
                }
            }
        }
    }
}

/* The single-rounding variant: table [out_features][2] {multiplier, offset}, then the double
 * shift every channel shares (kernels/single_tail.py: acc << double_shift fits int32 for every
 * accumulator of the layer, so requant.h's guarded tail is exactly SMMLAR(acc << double_shift,
 * multiplier, offset) before the clamp). bias: out_features entries (never NULL). */
void tinyc_fully_connected_single_w16_s8(const tinyc_fully_connected_params *params, const int8_t *input,
                                         const int32_t *weights, const int32_t *bias, const int32_t *table,
                                         int8_t *output)
{
    const int32_t batch = params->batch;
    const int32_t in_features = params->in_features;
    const int32_t out_features = params->out_features;
    const int32_t groups = in_features >> 2;
    const int32_t act_min = params->act_min;
    const int32_t act_max = params->act_max;
    const int32_t double_shift = table[2 * out_features];
    int32_t b, o, j;

    for (b = 0; b < batch; ++b) {
        const int8_t *x = input + b * in_features;
        int8_t *y = output + b * out_features;
        for (o = 0; o < out_features; o += 4) {
            int32_t acc[4];
            memcpy(acc, bias + o, sizeof acc);
            tinyc_fc16_dot4(x, weights + o * 2 * groups, groups, acc);
            for (j = 0; j < 4; ++j) {
                const int32_t *q = table + 2 * (o + j);
                int32_t v = tinyc_tail_sat8(tinyc_tail_single(acc[j], q[0], q[1], double_shift));
                v = v < act_min ? act_min : v;
                y[o + j] = (int8_t)(v > act_max ? act_max : v);
            }
        }
    }
}
