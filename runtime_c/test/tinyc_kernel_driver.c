/*
 * Test driver (not part of the runtime): runs kernel calls described by the Python tests,
 * so the kernels can be exercised under -fsanitize=address,undefined in a separate
 * process (tinycc_ml/kernels/harness.py speaks the other side).
 *
 * Every buffer is its own malloc of exactly its size, so AddressSanitizer reports any
 * byte read or written outside it. Requests on stdin, little-endian, repeated until EOF
 * or command 0:
 *   u32 command (1 = run)
 *   u32 buffer count, then per buffer: u32 size, size bytes (initial contents)
 *   u32 call count, then per call: u32 symbol length, symbol, u32 params size, params,
 *       u32 arg count, then per arg: i32 buffer index (-1 = NULL)
 * Reply on stdout: u32 status (0 = ok, else the index of the failing call + 1), then per
 * buffer: u32 size, its bytes after all calls.
 *
 * Built with -DTINYC_DRIVER_FILES (the Cortex-M firmware under QEMU, newlib + semihosting:
 * tinycc_ml/targets/qemu_driver.py) it reads the requests from request.bin and writes the
 * replies to reply.bin in QEMU's working directory instead, a whole batch per run; there
 * malloc is newlib's (no sanitizer), and the point is the Cortex-M build of the kernels.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinyc/tinyc_nn.h"

#include "tinyc_test_support.h"

#define MAX_BUFFERS 64

static FILE *requests;
static FILE *replies;
#define MAX_ARGS 8

static void die(const char *message)
{
    fprintf(stderr, "tinyc_kernel_driver: %s\n", message);
    exit(2);
}

static void read_exact(void *data, size_t size)
{
    if (size != 0 && fread(data, 1, size, requests) != size) {
        die("short read on stdin");
    }
}

static uint32_t read_u32(void)
{
    unsigned char b[4];
    read_exact(b, 4);
    return (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) | ((uint32_t)b[3] << 24);
}

static void write_u32(uint32_t v)
{
    unsigned char b[4];
    b[0] = (unsigned char)v;
    b[1] = (unsigned char)(v >> 8);
    b[2] = (unsigned char)(v >> 16);
    b[3] = (unsigned char)(v >> 24);
    fwrite(b, 1, 4, replies);
}

/* Copy the params blob into a properly typed (aligned) struct after checking its size. */
#define PARAMS(type, name)                      \
    type name;                                  \
    if (params_size != sizeof(type)) {          \
        return 0;                               \
    }                                           \
    memcpy(&name, params, sizeof(type))

#define NEED_ARGS(n)   \
    if (nargs != (n)) { \
        return 0;       \
    }

/* Returns 1 when the call ran, 0 when symbol, params size or argument count is wrong.
 * Kernel variants dispatch through the table generated from their records
 * (tinyc_test_run_variant); only the functions outside the kernel convention are here. */
static int run_call(const char *symbol, const void *params, size_t params_size, void **a, uint32_t nargs)
{
    const int variant = tinyc_test_run_variant(symbol, params, params_size, a, nargs);
    if (variant >= 0) {
        return variant;
    }
    if (strcmp(symbol, "tinyc_quantize_f32") == 0 || strcmp(symbol, "tinyc_dequantize_f32") == 0) {
        /* params: int32 size, float scale, int32 zero point (the boundary functions take
         * them as plain arguments) */
        int32_t size, zero_point;
        float scale;
        if (params_size != 12) {
            return 0;
        }
        NEED_ARGS(2);
        memcpy(&size, (const char *)params, 4);
        memcpy(&scale, (const char *)params + 4, 4);
        memcpy(&zero_point, (const char *)params + 8, 4);
        if (symbol[6] == 'q') {
            tinyc_quantize_f32(a[0], size, scale, zero_point, a[1]);
        } else {
            tinyc_dequantize_f32(a[0], size, scale, zero_point, a[1]);
        }
    } else if (strncmp(symbol, "tinyc_test_", 11) == 0) {
        /* array wrappers of the fixed-point primitives (tinyc_test_support.c); params: n */
        PARAMS(int32_t, n);
        if (strcmp(symbol, "tinyc_test_srdhm") == 0 && nargs == 3) {
            tinyc_test_srdhm(a[0], a[1], a[2], n);
        } else if (strcmp(symbol, "tinyc_test_rounding_divide_by_pot") == 0 && nargs == 3) {
            tinyc_test_rounding_divide_by_pot(a[0], a[1], a[2], n);
        } else if (strcmp(symbol, "tinyc_test_mbqm") == 0 && nargs == 4) {
            tinyc_test_mbqm(a[0], a[1], a[2], a[3], n);
        } else if (strcmp(symbol, "tinyc_test_exp_on_negative_values") == 0 && nargs == 2) {
            tinyc_test_exp_on_negative_values(a[0], a[1], n);
        } else if (strcmp(symbol, "tinyc_test_one_over_one_plus_x_for_x_in_0_1") == 0 && nargs == 2) {
            tinyc_test_one_over_one_plus_x_for_x_in_0_1(a[0], a[1], n);
        } else if (strcmp(symbol, "tinyc_test_get_reciprocal") == 0 && nargs == 3) {
            tinyc_test_get_reciprocal(a[0], a[1], a[2], n);
        } else if (strcmp(symbol, "tinyc_test_add_rescale") == 0 && nargs == 5) {
            tinyc_test_add_rescale(a[0], a[1], a[2], a[3], a[4], n);
        } else if (strcmp(symbol, "tinyc_test_requantize") == 0 && nargs == 5) {
            tinyc_test_requantize(a[0], a[1], a[2], a[3], a[4], n);
        } else if (strcmp(symbol, "tinyc_test_requantize_reference") == 0 && nargs == 5) {
            tinyc_test_requantize_reference(a[0], a[1], a[2], a[3], a[4], n);
        } else if (strcmp(symbol, "tinyc_test_requantize_fast") == 0 && nargs == 5) {
            tinyc_test_requantize_fast(a[0], a[1], a[2], a[3], a[4], n);
        } else if (strcmp(symbol, "tinyc_test_mbqm_fast") == 0 && nargs == 5) {
            tinyc_test_mbqm_fast(a[0], a[1], a[2], a[3], a[4], n);
        } else {
            return 0;
        }
    } else {
        return 0;
    }
    return 1;
}

static int serve_one(void)
{
    void *buffers[MAX_BUFFERS];
    uint32_t sizes[MAX_BUFFERS];
    uint32_t nbuffers, ncalls, i, c, status = 0;

    nbuffers = read_u32();
    if (nbuffers > MAX_BUFFERS) {
        die("too many buffers");
    }
    for (i = 0; i < nbuffers; ++i) {
        sizes[i] = read_u32();
        buffers[i] = malloc(sizes[i] != 0 ? sizes[i] : 1);
        if (buffers[i] == NULL) {
            die("out of memory");
        }
        read_exact(buffers[i], sizes[i]);
    }
    ncalls = read_u32();
    for (c = 0; c < ncalls; ++c) {
        char symbol[64];
        void *args[MAX_ARGS];
        uint32_t symbol_size = read_u32(), params_size, nargs, k;
        void *params;
        if (symbol_size >= sizeof symbol) {
            die("symbol too long");
        }
        read_exact(symbol, symbol_size);
        symbol[symbol_size] = '\0';
        params_size = read_u32();
        params = malloc(params_size != 0 ? params_size : 1);
        if (params == NULL) {
            die("out of memory");
        }
        read_exact(params, params_size);
        nargs = read_u32();
        if (nargs > MAX_ARGS) {
            die("too many arguments");
        }
        for (k = 0; k < nargs; ++k) {
            const int32_t index = (int32_t)read_u32();
            if (index >= (int32_t)nbuffers) {
                die("argument names no buffer");
            }
            args[k] = index < 0 ? NULL : buffers[index];
        }
        if (status == 0 && !run_call(symbol, params, params_size, args, nargs)) {
            status = c + 1;
        }
        free(params);
    }
    write_u32(status);
    for (i = 0; i < nbuffers; ++i) {
        write_u32(sizes[i]);
        fwrite(buffers[i], 1, sizes[i], replies);
        free(buffers[i]);
    }
    fflush(replies);
    return 1;
}

int main(void)
{
#ifdef TINYC_DRIVER_FILES
    requests = fopen("request.bin", "rb");
    replies = fopen("reply.bin", "wb");
    if (requests == NULL || replies == NULL) {
        die("cannot open request.bin / reply.bin");
    }
#else
    requests = stdin;
    replies = stdout;
#endif
    for (;;) {
        unsigned char b[4];
        uint32_t command;
        if (fread(b, 1, 4, requests) != 4) {
            break;
        }
        command = (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) | ((uint32_t)b[3] << 24);
        if (command == 0) {
            break;
        }
        if (command != 1) {
            die("unknown command");
        }
        serve_one();
    }
    return fclose(replies) == 0 ? 0 : 3;
}
