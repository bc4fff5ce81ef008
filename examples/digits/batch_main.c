/* Batch harness for tinyc's generated code (examples/digits): runs many inputs in one process.
 *
 * stdin:  N records, each MODEL_INPUT_SIZE elements of IN_T (the ONNX input's dtype, raw bytes)
 * stdout: N records, each MODEL_OUTPUT_SIZE elements of OUT_T (what model_run wrote)
 *         followed by MODEL_OUTPUT_SIZE int8 (model_output(): the int8 core's result)
 *
 * IN_T / OUT_T are given on the compiler command line (-DIN_T=float ...), because model.h
 * does not name the boundary types as macros. The generated model's prefix must be "model". */
#include <stdint.h>
#include <stdio.h>

#include "model.h"

#ifndef IN_T
#error "define IN_T (float or int8_t)"
#endif
#ifndef OUT_T
#error "define OUT_T (float or int8_t)"
#endif

static IN_T input[MODEL_INPUT_SIZE];
static OUT_T output[MODEL_OUTPUT_SIZE];

int main(void)
{
    long records = 0;
    if (model_init() != MODEL_OK) {
        fprintf(stderr, "model_init failed\n");
        return 1;
    }
    for (;;) {
        size_t got = fread(input, sizeof input[0], MODEL_INPUT_SIZE, stdin);
        model_status status;
        if (got == 0 && feof(stdin)) {
            break;
        }
        if (got != MODEL_INPUT_SIZE) {
            fprintf(stderr, "stdin ended inside record %ld\n", records);
            return 2;
        }
        status = model_run(input, output);
        if (status != MODEL_OK) {
            fprintf(stderr, "model_run failed with status %d on record %ld\n", (int)status, records);
            return 1;
        }
        if (fwrite(output, sizeof output[0], MODEL_OUTPUT_SIZE, stdout) != MODEL_OUTPUT_SIZE ||
            fwrite(model_output(), 1, MODEL_OUTPUT_SIZE, stdout) != MODEL_OUTPUT_SIZE) {
            fprintf(stderr, "cannot write the output of record %ld\n", records);
            return 2;
        }
        ++records;
    }
    return fflush(stdout) == 0 ? 0 : 2;
}
