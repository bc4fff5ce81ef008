/*
 * The edge of a uint8 model (onnxruntime's QUInt8 activations, a TFLite model with uint8
 * input/output): a uint8 value q is the int8 value q - 128 with the zero point moved by 128,
 * and q - 128 as a byte is q XOR 0x80. So the whole conversion, in either direction, is one
 * XOR per byte, done here four bytes per 32-bit word. Each word is read whole before it is
 * written, so the output may alias the input exactly or start before it
 * (tinycc_ml/kernels/access.py: sign_flip).
 */
#include <string.h>

#include "tinyc/tinyc_nn.h"

void tinyc_sign_flip_s8(const tinyc_sign_flip_params *params, const int8_t *input, int8_t *output)
{
    const int32_t size = params->size;
    int32_t i = 0;
    /* memcpy to a local word: no alignment or aliasing assumption; gcc emits one load and
     * one store (Cortex-M4/M7 allow unaligned word access). */
    for (; i + 4 <= size; i += 4) {
        uint32_t word;
        memcpy(&word, input + i, sizeof word);
        word ^= 0x80808080u;
        memcpy(output + i, &word, sizeof word);
    }
    for (; i < size; ++i) {
        output[i] = (int8_t)(uint8_t)((uint8_t)input[i] ^ 0x80u);
    }
}
