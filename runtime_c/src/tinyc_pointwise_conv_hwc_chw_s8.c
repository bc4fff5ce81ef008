/*
 * Pointwise convolution (1x1, stride 1, no padding, groups 1), NHWC in, CHW out, int8: the layout
 * variant that lets a channel-major in-place depthwise block (tinyc_depthwise_conv_chw_inplace_s8)
 * sit between NHWC layers without transpose copies. weights [out_c][in_c]. The arithmetic
 * is tinyc_conv_s8's, bit for bit; the loop is tinyc/pointwise.h's.
 */
#include "tinyc/pointwise.h"

void tinyc_pointwise_conv_hwc_chw_s8(const tinyc_conv_params *params, const int8_t *input, const int8_t *weights,
                                  const int32_t *bias, const int32_t *multiplier, const int32_t *shift, int8_t *output)
{
    tinyc_pointwise_strided_s8(params, input, weights, bias, multiplier, shift, output, 0, 1);
}
