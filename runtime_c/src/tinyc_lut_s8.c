/*
 * Table lookup, int8: output[i] = table[input[i] + 128]. Sigmoid, tanh, hard-swish, a
 * standalone clip or a requantization all become a 256-entry table at compile time.
 * The output may alias the input exactly (in-place).
 */
#include "tinyc/tinyc_nn.h"

void tinyc_lut_s8(const tinyc_lut_params *params, const int8_t *table, const int8_t *input, int8_t *output)
{
    int32_t i;
    for (i = 0; i < params->size; ++i) {
        output[i] = table[(int32_t)input[i] + 128];
    }
}
