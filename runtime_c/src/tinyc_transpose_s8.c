/*
 * Generic strided copy, int8: the output is dense over out_dims (row-major, up to 6 dims);
 * the element at output index (i0..i5) comes from input[sum(i_k * in_strides[k])].
 * Transposes, layout changes and reshapes across layouts all compile to this.
 * The compiler pads unused leading dims with 1 and merges contiguous dims first.
 */
#include "tinyc/tinyc_nn.h"

void tinyc_transpose_s8(const tinyc_transpose_params *params, const int8_t *input, int8_t *output)
{
    const int32_t *d = params->out_dims;
    const int32_t *s = params->in_strides;
    int32_t i0, i1, i2, i3, i4, i5;

    for (i0 = 0; i0 < d[0]; ++i0) {
        for (i1 = 0; i1 < d[1]; ++i1) {
            for (i2 = 0; i2 < d[2]; ++i2) {
                for (i3 = 0; i3 < d[3]; ++i3) {
                    const int8_t *plane = input + i0 * s[0] + i1 * s[1] + i2 * s[2] + i3 * s[3];
                    for (i4 = 0; i4 < d[4]; ++i4) {
                        const int8_t *row = plane + i4 * s[4];
                        if (s[5] == 1) {
                            for (i5 = 0; i5 < d[5]; ++i5) {
                                *output++ = row[i5];
                            }
                        } else {
                            for (i5 = 0; i5 < d[5]; ++i5) {
                                *output++ = row[i5 * s[5]];
                            }
                        }
                    }
                }
            }
        }
    }
}
