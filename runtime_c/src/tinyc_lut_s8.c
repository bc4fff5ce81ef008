/*
 * Table lookup, int8: output[i] = table[input[i] + 128], over `rows` runs of `size` values
 * whose starts are input_row_stride / output_row_stride elements apart (one run for a whole
 * tensor; a region of a larger image has one per image row). Sigmoid, tanh, hard-swish, a
 * standalone clip or a requantization all become a 256-entry table at compile time.
 * The output may alias the input exactly (in-place).
 */
#include "tinyc/tinyc_nn.h"

void tinyc_lut_s8(const tinyc_lut_params *params, const int8_t *table, const int8_t *input, int8_t *output)
{
    const int32_t in_row_pitch = params->input_row_stride;
    const int32_t out_row_pitch = params->output_row_stride;
    int32_t r, i;
    for (r = 0; r < params->rows; ++r) {
        const int8_t *x = input + r * in_row_pitch;
        int8_t *y = output + r * out_row_pitch;
        for (i = 0; i < params->size; ++i) {
            y[i] = table[(int32_t)x[i] + 128];
        }
    }
}
