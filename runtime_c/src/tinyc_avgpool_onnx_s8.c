/*
 * Average pooling on NHWC, int8, as onnxruntime computes a QDQ AveragePool (ONNX semantics):
 * DequantizeLinear, MLAS's float32 AveragePool, QuantizeLinear, each float32 operation in
 * onnxruntime's order, so the result equals onnxruntime's bit for bit, ties included. The twin
 * of tinycc_ml/quant/ort_pool.py (which cites the MLAS kernels followed).
 *
 * Parameters: input_offset = -zp_in, output_offset = zp_out; multiplier and shift carry the
 * float32 bit patterns of the input and output scales; requantize names the summation order:
 *   0 rows:    the window's cells row-major, from 0.0f (MlasPool2DKernel);
 *   1 columns: per window column its rows top to bottom, then the column sums left to right
 *              (MlasPool2DVectorKernel);
 *   2 global:  four lane sums over the flattened plane, (l0 + l2) + (l1 + l3), then the tail
 *              (MlasPoolGlobalKernel; the window is the whole input).
 * The divisor is the cells inside the input, or with count_include_pad the whole kernel. Pad
 * cells add 0.0f, which changes no sum, so they are skipped. Then x / scale_out rounded half to
 * even, + zp_out, clamped to the activation range (include/tinyc/onnx_float.h).
 *
 * Each operation is one IEEE float32 operation: the single-precision FPU of the M4/M7 or the
 * soft-float library of the M3 rounds as SSE does on the host, provided no a * b + c becomes an
 * FMA (the M4/M7 have VFMA; onnxruntime's x86 kernels do not fuse). ISO C modes (-std=c99) keep
 * contraction off in GCC; the pragma below keeps it off in GNU modes too (STM32CubeIDE builds
 * with -std=gnu11).
 */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "tinyc/tinyc_nn.h"
#include "tinyc/onnx_float.h"

static int32_t tinyc_pool_onnx_min(int32_t a, int32_t b)
{
    return a < b ? a : b;
}

static int32_t tinyc_pool_onnx_max(int32_t a, int32_t b)
{
    return a > b ? a : b;
}

static float tinyc_pool_onnx_global_sum(const tinyc_pool_params *params, const int8_t *plane, float scale_in)
{
    const int32_t channels = params->channels;
    const int32_t size = params->in_h * params->in_w;
    const int32_t body = size / 4 * 4;
    float lane[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    float total;
    int32_t i, j;
    for (i = 0; i < body; i += 4) {
        for (j = 0; j < 4; ++j) {
            lane[j] += tinyc_onnx_dequantize(plane[(i + j) * channels], params->input_offset, scale_in);
        }
    }
    total = (lane[0] + lane[2]) + (lane[1] + lane[3]);
    for (i = body; i < size; ++i) {
        total += tinyc_onnx_dequantize(plane[i * channels], params->input_offset, scale_in);
    }
    return total;
}

void tinyc_avgpool_onnx_s8(const tinyc_pool_params *params, const int8_t *input, int8_t *output)
{
    const int32_t in_h = params->in_h;
    const int32_t in_w = params->in_w;
    const int32_t channels = params->channels;
    const float scale_in = tinyc_onnx_float_of_bits(params->multiplier);
    const float scale_out = tinyc_onnx_float_of_bits(params->shift);
    int32_t b, oy, ox, c, y, x;

    for (b = 0; b < params->batch; ++b) {
        const int8_t *image = input + b * in_h * in_w * channels;
        for (oy = 0; oy < params->out_h; ++oy) {
            const int32_t y0 = oy * params->stride_h - params->pad_top;
            const int32_t y_begin = tinyc_pool_onnx_max(y0, 0);
            const int32_t y_end = tinyc_pool_onnx_min(y0 + params->kernel_h, in_h);
            for (ox = 0; ox < params->out_w; ++ox) {
                const int32_t x0 = ox * params->stride_w - params->pad_left;
                const int32_t x_begin = tinyc_pool_onnx_max(x0, 0);
                const int32_t x_end = tinyc_pool_onnx_min(x0 + params->kernel_w, in_w);
                const int32_t inside =
                    tinyc_pool_onnx_max(y_end - y_begin, 0) * tinyc_pool_onnx_max(x_end - x_begin, 0);
                const int32_t count = params->count_include_pad ? params->kernel_h * params->kernel_w : inside;
                for (c = 0; c < channels; ++c) {
                    float sum = 0.0f;
                    if (params->requantize == 2) {
                        sum = tinyc_pool_onnx_global_sum(params, image + c, scale_in);
                    } else if (params->requantize == 1) {
                        for (x = x_begin; x < x_end; ++x) {
                            float column = 0.0f;
                            for (y = y_begin; y < y_end; ++y) {
                                column += tinyc_onnx_dequantize(image[(y * in_w + x) * channels + c],
                                                                     params->input_offset, scale_in);
                            }
                            sum += column;
                        }
                    } else {
                        for (y = y_begin; y < y_end; ++y) {
                            for (x = x_begin; x < x_end; ++x) {
                                sum += tinyc_onnx_dequantize(image[(y * in_w + x) * channels + c],
                                                                  params->input_offset, scale_in);
                            }
                        }
                    }
                    /* a window over no cell: the compiler never emits one */
                    *output++ = count > 0 ? tinyc_onnx_quantize(sum / (float)count, scale_out, params->output_offset, params->act_min,
                                                              params->act_max)
                                          : (int8_t)0;
                }
            }
        }
    }
}
