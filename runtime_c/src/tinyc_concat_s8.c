/*
 * One input of a concatenation, int8: for o in [0, outer) copy `inner` bytes from
 * input + o * inner to output + o * out_inner + offset. The compiler emits one call per
 * input, with outer/inner taken from the physical position of the concatenation axis.
 */
#include <string.h>

#include "tinyc/tinyc_nn.h"

void tinyc_concat_s8(const tinyc_concat_params *params, const int8_t *input, int8_t *output)
{
    int32_t o;
    for (o = 0; o < params->outer; ++o) {
        memcpy(output + o * params->out_inner + params->offset, input + o * params->inner, (size_t)params->inner);
    }
}
