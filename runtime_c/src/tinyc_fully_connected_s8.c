/*
 * Fully connected, int8 (TFLite's FullyConnected / FullyConnectedPerChannel reference kernels).
 *
 * input [batch][in_features], weights [out_features][in_features], output [batch][out_features].
 * acc = sum_k (w + filter_offset) * (x + input_offset), + bias, then the shared requantize tail
 * with the output channel's multiplier (per_channel) or the single one.
 */
#include "tinyc/tinyc_nn.h"
#include "tinyc/requant.h"

void tinyc_fully_connected_s8(const tinyc_fully_connected_params *params, const int8_t *input,
                              const int8_t *weights, const int32_t *bias, const int32_t *multiplier,
                              const int32_t *shift, int8_t *output)
{
    const int32_t in_features = params->in_features;
    int32_t b, o, k;

    for (b = 0; b < params->batch; ++b) {
        const int8_t *x = input + b * in_features;
        for (o = 0; o < params->out_features; ++o) {
            const int8_t *w = weights + o * in_features;
            const int32_t q = params->per_channel ? o : 0;
            int32_t acc = 0;
            for (k = 0; k < in_features; ++k) {
                acc += ((int32_t)w[k] + params->filter_offset) * ((int32_t)x[k] + params->input_offset);
            }
            if (bias != 0) {
                acc += bias[o];
            }
            *output++ = tinyc_requantize_s8(acc, multiplier[q], shift[q], params->output_offset, params->act_min,
                                            params->act_max);
        }
    }
}
