/* fuzz_idx.c - libFuzzer target for the IDX reader (Fashion-MNIST/MNIST files,
 * plain or gzip). Input: byte 0 picks gzip for the images (bit 0) and the labels
 * (bit 1); bytes 1-2 the length of the images part; the rest the labels file. A
 * gzip part is compressed here, so the fuzzer explores what is inside as well as
 * torn gzip streams (bit 2: cut the compressed stream at a byte the input gives).
 * A dataset that opens is read at three samples. */
#include "fuzz_common.h"

#include <zlib.h>

/* src as a gzip stream, malloc'ed into *out; cut (0: no) truncates it. */
static size_t gzip(const uint8_t *src, size_t n, uint8_t **out, size_t cut)
{
    z_stream z = {0};
    if (deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK) return 0;
    size_t cap = deflateBound(&z, n) + 32;
    *out = malloc(cap);
    if (!*out) {
        deflateEnd(&z);
        return 0;
    }
    z.next_in = (Bytef *)src, z.avail_in = (uInt)n, z.next_out = *out, z.avail_out = (uInt)cap;
    deflate(&z, Z_FINISH);
    size_t len = cap - z.avail_out;
    deflateEnd(&z);
    return cut && cut < len ? cut : len;
}

static int as_file(const uint8_t *p, size_t n, int gz, size_t cut, char path[64])
{
    if (!gz) return fuzz_file(p, n, path);
    uint8_t *g = NULL;
    size_t gn = gzip(p, n, &g, cut);
    int fd = fuzz_file(g ? g : p, g ? gn : 0, path);
    free(g);
    return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4) return 0;
    int mode = data[0];
    size_t ni = (size_t)data[1] | (size_t)data[2] << 8;
    size_t cut = mode & 4 ? data[3] : 0;
    data += 4, size -= 4;
    if (ni > size) ni = size;
    char ip[64], lp[64];
    int fi = as_file(data, ni, mode & 1, cut, ip);
    int fl = as_file(data + ni, size - ni, mode & 2, cut, lp);
    if (fi >= 0 && fl >= 0) {
        nb_dataset *d = nb_idx_dataset_new(ip, lp);
        if (d) fuzz_read_samples(d);
        nb_dataset_free(d);
    }
    if (fi >= 0) close(fi);
    if (fl >= 0) close(fl);
    nb_clear_error();
    return 0;
}
