/* npy.c - export a tensor as a NumPy .npy file (format version 1.0), so
 * embeddings and results open with numpy.load:
 *   "\x93NUMPY" 01 00, u16 LE header length, then the header
 *   "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }" padded with
 *   spaces and ending in '\n' so the data starts at a multiple of 64 bytes (as
 *   numpy writes it), then the data little-endian in C order. */
#include "core/error.h"
#include "core/tensor.h"
#include "core/atomic.h"

#include <string.h>

nb_status nb_save_npy(const char *path, nb_tensor *t)
{
    if (!path || !t) return nb__fail(NB_ERR_ARG, "nb_save_npy: NULL argument");
    if (t->dtype != NB_F32 && t->dtype != NB_I64)
        return nb__fail(NB_ERR_ARG, "nb_save_npy: %s: unsupported dtype", path);
    char dict[512];
    size_t k = (size_t)snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                                t->dtype == NB_F32 ? "<f4" : "<i8");
    for (int i = 0; i < t->ndim; i++)
        k += (size_t)snprintf(dict + k, sizeof dict - k, "%lld%s", (long long)t->shape[i],
                              t->ndim == 1 ? "," : i + 1 < t->ndim ? ", " : "");
    k += (size_t)snprintf(dict + k, sizeof dict - k, "), }");
    unsigned char head[640];
    size_t total = 10 + k + 1; /* magic, version, length, dict, '\n' */
    size_t padded = (total + 63) / 64 * 64;
    memcpy(head, "\x93NUMPY\x01\x00", 8);
    size_t hlen = padded - 10;
    head[8] = (unsigned char)(hlen & 0xff);
    head[9] = (unsigned char)(hlen >> 8);
    memcpy(head + 10, dict, k);
    memset(head + 10 + k, ' ', padded - total);
    head[padded - 1] = '\n';

    nb_atomic_file af;
    if (nb__atomic_begin(&af, path)) return NB_ERR_IO;
    nb__atomic_write(&af, head, padded);
    size_t esz = t->dtype == NB_F32 ? 4 : 8, bytes = (size_t)t->numel * esz;
    if (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__) {
        nb__atomic_write(&af, t->data, bytes);
    } else {
        unsigned char buf[1 << 14];
        const unsigned char *src = t->data;
        for (size_t off = 0; off < bytes && !af.failed;) {
            size_t n = bytes - off < sizeof buf ? bytes - off : sizeof buf;
            for (size_t i = 0; i < n; i += esz)
                for (size_t b = 0; b < esz; b++) buf[i + b] = src[off + i + esz - 1 - b];
            nb__atomic_write(&af, buf, n);
            off += n;
        }
    }
    return nb__atomic_commit(&af);
}
