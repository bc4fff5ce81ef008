/*
 * Fully connected, int8 (TFLite's FullyConnected / FullyConnectedPerChannel reference kernels).
 *
 * input [batch][in_features], weights [out_features][in_features], output [batch][out_features].
 * acc = sum_k (w + filter_offset) * (x + input_offset), + bias, then the shared requantize tail
 * with the output channel's multiplier (per_channel) or the single one.
 *
 * Under TINYC_USE_SIMD four output rows per pass over the input row (tinyc/dot_s8.h:
 * SXTB16 + SMLAD), then their four bytes; the rows left over (and the portable build's)
 * one at a time. Each output
 * still depends on the whole input row, read before the output is written, as the access
 * model (kernels/access.py _fully_connected) states; four consecutive outputs merely share
 * the reads. The params fields and the single channel's constants live in locals: an int8
 * store may alias them.
 */
#include "tinyc/dot_s8.h"
#include "tinyc/requant.h"
#include "tinyc/tinyc_nn.h"

TINYC_SIZE_OPTIMIZED void tinyc_fully_connected_s8(const tinyc_fully_connected_params *params, const int8_t *input,
                              const int8_t *weights, const int32_t *bias, const int32_t *multiplier,
                              const int32_t *shift, int8_t *output)
{
    const int32_t batch = params->batch;
    const int32_t in_features = params->in_features;
    const int32_t out_features = params->out_features;
    const int32_t input_offset = params->input_offset;
    const int32_t filter_offset = params->filter_offset;
    const int32_t per_channel = params->per_channel;
    const tinyc_requant_output out_q = tinyc_requant_output_of(params->output_offset, params->act_min, params->act_max);
    const tinyc_requant_channel tensor_q = tinyc_requant_channel_of(multiplier[0], shift[0]);
    int32_t b, o;

    for (b = 0; b < batch; ++b) {
        const int8_t *x = input + b * in_features;
        o = 0;
#if TINYC_USE_SIMD
        for (; o + 4 <= out_features; o += 4) {
            int32_t acc[4];
            int8_t y0, y1, y2, y3;
            /* stores, not an initializer: compiled for size, that becomes a call to memset */
            acc[0] = acc[1] = acc[2] = acc[3] = 0;
            tinyc_dot4_s8(x, weights + o * in_features, in_features, in_features, input_offset, filter_offset, acc);
            if (bias != 0) {
                acc[0] += bias[o];
                acc[1] += bias[o + 1];
                acc[2] += bias[o + 2];
                acc[3] += bias[o + 3];
            }
            if (per_channel) {
                y0 = tinyc_requantize_channel_s8(acc[0], tinyc_requant_channel_of(multiplier[o], shift[o]), out_q);
                y1 = tinyc_requantize_channel_s8(acc[1], tinyc_requant_channel_of(multiplier[o + 1], shift[o + 1]),
                                                 out_q);
                y2 = tinyc_requantize_channel_s8(acc[2], tinyc_requant_channel_of(multiplier[o + 2], shift[o + 2]),
                                                 out_q);
                y3 = tinyc_requantize_channel_s8(acc[3], tinyc_requant_channel_of(multiplier[o + 3], shift[o + 3]),
                                                 out_q);
            } else {
                y0 = tinyc_requantize_channel_s8(acc[0], tensor_q, out_q);
                y1 = tinyc_requantize_channel_s8(acc[1], tensor_q, out_q);
                y2 = tinyc_requantize_channel_s8(acc[2], tensor_q, out_q);
                y3 = tinyc_requantize_channel_s8(acc[3], tensor_q, out_q);
            }
            output[0] = y0;
            output[1] = y1;
            output[2] = y2;
            output[3] = y3;
            output += 4;
        }
#endif
        /* The portable build: one row at a time, the reference loop order. */
        for (; o < out_features; ++o) {
            int32_t acc = tinyc_dot1_s8(x, weights + o * in_features, in_features, input_offset, filter_offset, 0);
            if (bias != 0) {
                acc += bias[o];
            }
            *output++ = tinyc_requantize_channel_s8(
                acc, per_channel ? tinyc_requant_channel_of(multiplier[o], shift[o]) : tensor_q, out_q);
        }
    }
}
