/*
 * Constant padding over up to 4 physical dims, int8. The output is dense over
 * pad_before[k] + in_dims[k] + pad_after[k]; output index o of dim k reads input index
 * o - pad_before[k] when that is inside the input, else `value` (already quantized by the
 * compiler). A negative pad crops, as in ONNX Pad. The rows (dim 3 runs) of the input and of
 * the output start input_row_stride / output_row_stride elements apart (in_dims[3] and the
 * output's dim 3 when dense; more for a region of a larger image).
 */
#include <string.h>

#include "tinyc/tinyc_nn.h"

/* Is output index i of dim k inside the input, and which input index is it? */
static int32_t tinyc_pad_inside(const tinyc_pad_params *p, int32_t k, int32_t i)
{
    return i - p->pad_before[k] >= 0 && i - p->pad_before[k] < p->in_dims[k];
}

static int32_t tinyc_pad_clamp(int32_t x, int32_t lo, int32_t hi)
{
    return x < lo ? lo : (x > hi ? hi : x);
}

void tinyc_pad_s8(const tinyc_pad_params *params, const int8_t *input, int8_t *output)
{
    const int32_t *in_dims = params->in_dims;
    const int8_t value = (int8_t)params->value;
    const int32_t in_row_pitch = params->input_row_stride;
    const int32_t out_row_pitch = params->output_row_stride;
    int32_t out_dims[4];
    int32_t k, i0, i1, i2;
    int32_t lead, first, copy, trail;

    for (k = 0; k < 4; ++k) {
        out_dims[k] = params->pad_before[k] + in_dims[k] + params->pad_after[k];
    }
    /* The innermost row: `lead` values, `copy` input bytes from index `first`, `trail` values. */
    lead = tinyc_pad_clamp(params->pad_before[3], 0, out_dims[3]);
    first = params->pad_before[3] < 0 ? -params->pad_before[3] : 0;
    copy = tinyc_pad_clamp(in_dims[3] - first, 0, out_dims[3] - lead);
    trail = out_dims[3] - lead - copy;

    for (i0 = 0; i0 < out_dims[0]; ++i0) {
        for (i1 = 0; i1 < out_dims[1]; ++i1) {
            for (i2 = 0; i2 < out_dims[2]; ++i2) {
                int8_t *out = output + ((i0 * out_dims[1] + i1) * out_dims[2] + i2) * out_row_pitch;
                if (tinyc_pad_inside(params, 0, i0) && tinyc_pad_inside(params, 1, i1) &&
                    tinyc_pad_inside(params, 2, i2)) {
                    const int32_t row = (((i0 - params->pad_before[0]) * in_dims[1] + (i1 - params->pad_before[1])) *
                                             in_dims[2] +
                                         (i2 - params->pad_before[2])) *
                                        in_row_pitch;
                    memset(out, value, (size_t)lead);
                    memcpy(out + lead, input + row + first, (size_t)copy);
                    memset(out + lead + copy, value, (size_t)trail);
                } else {
                    memset(out, value, (size_t)out_dims[3]);
                }
            }
        }
    }
}
