/*
 * Softmax over the innermost dimension, int8 in and out, as ONNX defines it for a
 * DequantizeLinear -> Softmax -> QuantizeLinear chain: the exact softmax of the dequantized
 * row, quantized once (half to even) into the output's own quantization. The twin of
 * tinycc_ml/quant/softmax_table.py, bit for bit.
 *
 * exp_table[d] = round(exp(-beta * s_in * d) * 2^24) for d = max - x is computed at compile
 * time (exp_table[0] = 2^24). Per row: the maximum, the uint64 sum of the row's exps, then one
 * quotient scale = round(output_multiplier * 2^24 / sum) < 2^31 (sum >= 2^24) by shift and
 * subtract, so no 64-bit division helper is linked. Per element:
 * round_half_even(exp * scale / 2^output_shift) + output_offset, clamped to int8: a 32x32
 * multiply and a few ALU instructions.
 */
#include "tinyc/tinyc_nn.h"

/* round_half_up(numerator / denominator) for numerator < 2^56 and a quotient below 2^32:
 * restoring division, one quotient bit per step from bit 31 down. */
static uint32_t tinyc_softmax_table_quotient(uint64_t numerator, uint64_t denominator)
{
    uint64_t remainder = numerator + (denominator >> 1);
    uint32_t quotient = 0;
    int32_t bit;
    for (bit = 31; bit >= 0; --bit) {
        const uint64_t step = denominator << bit;
        /* step can exceed 2^64 only when denominator >= 2^(64 - bit), which also makes the
         * quotient bit 0: checked by shifting back. */
        if ((step >> bit) == denominator && remainder >= step) {
            remainder -= step;
            quotient |= (uint32_t)1 << bit;
        }
    }
    return quotient;
}

void tinyc_softmax_table_s8(const tinyc_softmax_table_params *params, const int32_t *exp_table, const int8_t *input,
                            int8_t *output)
{
    const int32_t depth = params->depth;
    const uint32_t shift = (uint32_t)params->output_shift;
    const uint64_t half_minus_one = ((uint64_t)1 << (shift - 1u)) - 1u;
    int32_t row, c;

    for (row = 0; row < params->outer; ++row) {
        const int8_t *x = input + row * depth;
        int8_t *y = output + row * depth;
        int32_t max = -128;
        uint64_t sum = 0;
        uint32_t scale;
        for (c = 0; c < depth; ++c) {
            max = x[c] > max ? x[c] : max;
        }
        for (c = 0; c < depth; ++c) {
            sum += (uint32_t)exp_table[max - x[c]];
        }
        scale = tinyc_softmax_table_quotient((uint64_t)(uint32_t)params->output_multiplier << 24, sum);
        for (c = 0; c < depth; ++c) {
            const uint64_t product = (uint64_t)(uint32_t)exp_table[max - x[c]] * scale;
            const uint64_t odd = (product >> shift) & 1u;
            const uint64_t rounded = (product + half_minus_one + odd) >> shift;
            const int64_t out = (int64_t)rounded + params->output_offset;
            y[c] = (int8_t)(out > 127 ? 127 : (out < -128 ? -128 : out));
        }
    }
}
