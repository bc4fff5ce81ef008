/*
 * The float boundary of onnxruntime's QDQ models, exactly ONNX QuantizeLinear and
 * DequantizeLinear in float32:
 *   q = saturate(round_half_to_even(x / scale) + zero_point)   (one float32 division)
 *   x = (float)(q - zero_point) * scale                         (one float32 multiplication)
 * Rounding is done with integer arithmetic, so it depends neither on the FPU rounding mode
 * nor on libm. A NaN quantizes to the zero point (a real 0.0); infinities saturate.
 */
#include "tinyc/tinyc_nn.h"

/* round_half_to_even(v) clamped to [-1024, 1024], a range that covers every v whose result
 * can land in int8 after adding any int8 zero point. */
static int32_t tinyc_round_half_even_clamped(float v)
{
    int32_t t;
    float frac;
    if (v != v) {
        return 0;
    }
    if (v > 1024.0f) {
        return 1024;
    }
    if (v < -1024.0f) {
        return -1024;
    }
    t = (int32_t)v;        /* truncates toward zero; |v| <= 1024 so it is defined */
    frac = v - (float)t;   /* exact: the fractional bits of v, |frac| < 1 */
    if (frac > 0.5f || (frac == 0.5f && (t % 2) != 0)) {
        return t + 1;
    }
    if (frac < -0.5f || (frac == -0.5f && (t % 2) != 0)) {
        return t - 1;
    }
    return t;
}

void tinyc_quantize_f32(const float *input, int32_t size, float scale, int32_t zero_point, int8_t *output)
{
    int32_t i;
    for (i = 0; i < size; ++i) {
        const int32_t q = tinyc_round_half_even_clamped(input[i] / scale) + zero_point;
        output[i] = (int8_t)(q < -128 ? -128 : (q > 127 ? 127 : q));
    }
}

void tinyc_dequantize_f32(const int8_t *input, int32_t size, float scale, int32_t zero_point, float *output)
{
    int32_t i;
    for (i = 0; i < size; ++i) {
        output[i] = (float)((int32_t)input[i] - zero_point) * scale;
    }
}
