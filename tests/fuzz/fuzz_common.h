/* fuzz_common.h - what the libFuzzer targets share: the input as a file (an
 * in-memory memfd opened by path through /proc/self/fd, as users open files),
 * a NUL-terminated copy for the text readers, and a context made once. */
#ifndef NB_FUZZ_COMMON_H
#define NB_FUZZ_COMMON_H
#include "core/error.h"
#include "core/tensor.h"
#include "core/ctx.h"
#include "data/dataset.h"
#include "nn/module.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* data as a file; *fd to close after; path receives /proc/self/fd/N. -1 on failure. */
static inline int fuzz_file(const uint8_t *data, size_t size, char path[64])
{
    int fd = memfd_create("fuzz", 0);
    if (fd < 0) return -1;
    size_t off = 0;
    while (off < size) {
        ssize_t k = write(fd, data + off, size - off);
        if (k <= 0) break;
        off += (size_t)k;
    }
    snprintf(path, 64, "/proc/self/fd/%d", fd);
    return fd;
}

/* data + a NUL, malloc'ed. */
static inline char *fuzz_str(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s) return NULL;
    memcpy(s, data, size);
    s[size] = 0;
    return s;
}

static inline nb_ctx *fuzz_ctx(void)
{
    static nb_ctx *ctx;
    /* a tensor budget: a legal model file may ask for terabytes (conv2d(1, 1e9, 28, 28)),
     * which the library refuses cleanly as out of memory when malloc says so, but which
     * ASan and libFuzzer's malloc limit report as a crash */
    if (!ctx) ctx = nb_ctx_new(&(nb_ctx_opts){.threads = 1, .max_tensor_bytes = 16 << 20});
    return ctx;
}

/* Read every value of a tensor (ASan sees an out-of-bounds or uninitialised read). */
static inline void fuzz_touch(const nb_tensor *t)
{
    if (!t) return;
    volatile double s = 0;
    int64_t n = nb_tensor_numel(t);
    if (nb_tensor_dtype(t) == NB_F32)
        for (int64_t k = 0; k < n; k++) s += nb_tensor_data((nb_tensor *)t)[k];
    else
        for (int64_t k = 0; k < n; k++) s += (double)nb_tensor_data_i64((nb_tensor *)t)[k];
    (void)s;
}

/* Read samples first, middle and last of a dataset through the loader's path. */
static inline void fuzz_read_samples(nb_dataset *d)
{
    int64_t n = nb_dataset_len(d), chw[3];
    if (n <= 0) return;
    nb_dataset_sample_shape(d, chw);
    int64_t per = chw[0] * chw[1] * chw[2];
    if (per <= 0 || per > ((int64_t)1 << 24)) return;
    float *x = malloc((size_t)per * 3 * sizeof(float));
    int64_t idx[3] = {0, n / 2, n - 1}, lab[3];
    if (x && !nb__dataset_get_batch(d, idx, 3, x, lab, 0)) {
        volatile float s = 0;
        for (int64_t k = 0; k < per * 3; k++) s += x[k];
        (void)s;
    }
    free(x);
}
#endif
