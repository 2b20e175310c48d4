/* test_npy.c - nb_save_npy writes exactly the bytes numpy.save writes
 * (tests/goldens/npy_*.npy from tools/goldens/gen_npy.py), atomically. */
#include "check.h"
#include "nabla.h"

#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

static long read_all(const char *path, unsigned char *buf, size_t cap)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return -1;
    size_t n = fread(buf, 1, cap, fp);
    fclose(fp);
    return (long)n;
}

static void same_as_numpy(const char *label, nb_tensor *t, const char *golden)
{
    char path[256];
    snprintf(path, sizeof path, "/tmp/nb_test_npy.%ld.npy", (long)getpid());
    nb_status st = nb_save_npy(path, t);
    unsigned char got[1024], want[1024];
    long ng = read_all(path, got, sizeof got), nw = read_all(golden, want, sizeof want);
    long at = -1;
    for (long i = 0; i < ng && i < nw && at < 0; i++)
        if (got[i] != want[i]) at = i;
    CHECK(label, st == NB_OK && nw > 0 && ng == nw && at < 0, "status %d (%s), %ld vs %ld bytes, first difference at %ld", st,
          nb_last_error(), ng, nw, at);
    unlink(path);
}

int main(void)
{
    nb_ctx *ctx = nb_ctx_new(NULL);
    float a[6] = {1.5f, -2.0f, 0.0f, 3.25f, 1e-8f, -7.0f};
    int64_t q[4] = {-1, 0, (int64_t)1 << 40, INT64_MIN};
    float s = 2.5f;
    nb_tensor *t1 = nb_tensor_from(ctx, NB_F32, 2, (int64_t[]){2, 3}, a);
    nb_tensor *t2 = nb_tensor_from(ctx, NB_I64, 1, (int64_t[]){4}, q);
    nb_tensor *t3 = nb_tensor_from(ctx, NB_F32, 0, NULL, &s);
    nb_tensor *t4 = nb_tensor_new(ctx, NB_F32, 3, (int64_t[]){2, 0, 3});
    same_as_numpy("F32 (2, 3) byte-identical to numpy.save", t1, "tests/goldens/npy_f32_2x3.npy");
    same_as_numpy("I64 (4,) byte-identical to numpy.save", t2, "tests/goldens/npy_i64_4.npy");
    same_as_numpy("F32 scalar () byte-identical to numpy.save", t3, "tests/goldens/npy_f32_scalar.npy");
    same_as_numpy("F32 (2, 0, 3) byte-identical to numpy.save", t4, "tests/goldens/npy_f32_2x0x3.npy");

    /* atomic: a failed write leaves the old file */
    char path[256], tmp[300];
    snprintf(path, sizeof path, "/tmp/nb_test_npy_atomic.%ld.npy", (long)getpid());
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *fp = fopen(path, "wb");
    fputs("old", fp);
    fclose(fp);
    mkdir(tmp, 0755);
    nb_status st = nb_save_npy(path, t1);
    unsigned char buf[16];
    long n = read_all(path, buf, sizeof buf);
    CHECK("atomic: failed write -> NB_ERR_IO, old file intact", st == NB_ERR_IO && n == 3 && !memcmp(buf, "old", 3) &&
                                                                  strstr(nb_last_error(), path),
          "status %d, %ld bytes: %s", st, n, nb_last_error());
    rmdir(tmp);
    unlink(path);
    CHECK("NULL tensor rejected", nb_save_npy(path, NULL) == NB_ERR_ARG && access(path, F_OK) != 0, "%s", nb_last_error());
    nb_tensor_free(t1);
    nb_tensor_free(t2);
    nb_tensor_free(t3);
    nb_tensor_free(t4);
    nb_ctx_free(ctx);
    CHECK_DONE();
}
