/*
 * Softmax over the innermost dimension, int8 in and out (TFLite Micro's reference int8
 * softmax; CMSIS-NN's arm_softmax_s8 computes the same bits). Output (1/256, -128).
 *
 * Per row: the difference to the row maximum is rescaled into Q5.26 with the compile-time
 * (input_multiplier, input_left_shift); differences below diff_min give exp = 0 (output
 * -128). exp() and the reciprocal of the sum are gemmlowp's fixed-point routines
 * (tinyc/fixedpoint.h, twin of tinycc_ml/quant/softmax.py). The compiler limits depth to
 * 4095 so the Q12.19 sum of exps cannot overflow int32.
 */
#include "tinyc/tinyc_nn.h"
#include "tinyc/fixedpoint.h"
#include "tinyc/requant.h"

static int32_t tinyc_softmax_exp(const tinyc_softmax_params *p, int32_t diff)
{
    const int32_t scaled_diff =
        tinyc_multiply_by_quantized_multiplier_greater_than_one(diff, p->input_multiplier, p->input_left_shift);
    return tinyc_exp_on_negative_values(scaled_diff);
}

TINYC_SIZE_OPTIMIZED void tinyc_softmax_s8(const tinyc_softmax_params *params, const int8_t *input, int8_t *output)
{
    const int32_t depth = params->depth;
    int32_t row, c;

    for (row = 0; row < params->outer; ++row) {
        const int8_t *x = input + row * depth;
        int8_t *y = output + row * depth;
        int32_t max = -128;
        uint32_t sum_of_exps = 0; /* Q12.19 */
        int32_t num_bits_over_unit;
        int32_t reciprocal;
        int32_t exponent;

        for (c = 0; c < depth; ++c) {
            max = x[c] > max ? x[c] : max;
        }
        for (c = 0; c < depth; ++c) {
            const int32_t diff = (int32_t)x[c] - max;
            if (diff >= params->diff_min) {
                sum_of_exps += (uint32_t)tinyc_saturating_rounding_multiply_by_pot(
                    tinyc_softmax_exp(params, diff), -TINYC_ACCUMULATION_INTEGER_BITS);
            }
        }
        reciprocal = tinyc_get_reciprocal((int32_t)sum_of_exps, TINYC_ACCUMULATION_INTEGER_BITS, &num_bits_over_unit);
        /* Above 31 (a sum of 2^28 or more: over 511 near-maximal values) every quotient is
         * below one half and rounds to 0; TFLite leaves that shift undefined, here it is 0. */
        exponent = num_bits_over_unit + 31 - 8;
        /* Read every input before writing its output: y may alias x. */
        for (c = 0; c < depth; ++c) {
            const int32_t diff = (int32_t)x[c] - max;
            if (diff >= params->diff_min && exponent <= 31) {
                const int32_t unsat = tinyc_rounding_divide_by_pot(
                    tinyc_saturating_rounding_doubling_high_mul(reciprocal, tinyc_softmax_exp(params, diff)), exponent);
                y[c] = (int8_t)tinyc_clamp_i32(unsat - 128, -128, 127);
            } else {
                y[c] = -128;
            }
        }
    }
}
