/* fuzz_safetensors.c - libFuzzer target for the safetensors reader.
 *
 * Each input is written to an in-memory file (memfd) and opened by path through
 * /proc/self/fd, as users open weights. A file that opens is then read in full:
 * every entry's name, dtype and shape, every tensor converted (nb_safetensors_get),
 * a metadata lookup, and a non-strict and a strict nb_load_safetensors into a small
 * module whose names ("w", "b", "bn.num_batches_tracked") a fuzzer can hit. The
 * reader must never crash, leak or read out of bounds (ASan/UBSan), whatever the
 * bytes. Build and run: sh tests/fuzz/run.sh [SECONDS] (clang, libclang-rt-14-dev). */
#include "nn/module.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static nb_ctx *g_ctx;
static nb_module *g_mod;

static nb_tensor *plain_forward(nb_module *m, nb_tensor *x) { return x; }
static const nb_module_vtable fuzz_vt = {.kind = "FuzzModule", .forward = plain_forward};

static void setup(void)
{
    g_ctx = nb_ctx_new(&(nb_ctx_opts){.threads = 1});
    g_mod = nb__module_new(g_ctx, &fuzz_vt);
    nb_module *bn = nb__module_new(g_ctx, &fuzz_vt);
    nb__module_add(g_mod, "w", nb_tensor_new(g_ctx, NB_F32, 2, (int64_t[]){2, 3}), 0);
    nb__module_add(g_mod, "b", nb_tensor_new(g_ctx, NB_F32, 1, (int64_t[]){2}), 0);
    nb__module_add(bn, "num_batches_tracked", nb_tensor_new(g_ctx, NB_I64, 0, NULL), 1);
    nb__module_add_child(g_mod, "bn", bn);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_ctx) setup();
    int fd = memfd_create("fuzz.safetensors", 0);
    if (fd < 0) return 0;
    size_t off = 0;
    while (off < size) {
        ssize_t k = write(fd, data + off, size - off);
        if (k <= 0) break;
        off += (size_t)k;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    nb_safetensors *f = nb_safetensors_open(path);
    if (f) {
        int n = nb_safetensors_count(f);
        for (int i = 0; i < n; i++) {
            const char *name = nb_safetensors_name(f, i);
            int64_t shape[NB_MAX_DIMS];
            int nd = nb_safetensors_shape(f, i, shape);
            const char *dt = nb_safetensors_dtype(f, i);
            if (!name || !dt || nd < 0 || nd > NB_MAX_DIMS || nb_safetensors_find(f, name) != i) __builtin_trap();
            nb_tensor *t = nb_safetensors_get(f, g_ctx, name);
            if (t) {
                volatile double s = 0; /* touch every value */
                int64_t numel = nb_tensor_numel(t);
                if (nb_tensor_dtype(t) == NB_F32)
                    for (int64_t k = 0; k < numel; k++) s += nb_tensor_data(t)[k];
                else
                    for (int64_t k = 0; k < numel; k++) s += (double)nb_tensor_data_i64(t)[k];
                (void)s;
            }
            nb_tensor_free(t);
        }
        nb_safetensors_metadata(f, "format");
        nb_safetensors_close(f);
        nb_load_safetensors(g_mod, path, 0);
        nb_load_safetensors(g_mod, path, 1);
    }
    close(fd);
    nb_clear_error();
    return 0;
}
