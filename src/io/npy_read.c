/* npy_read.c - read NumPy .npy files (format 1.0, 2.0, 3.0) into tensors, and write
 * tensors under a chosen NumPy type (bool, uint8, ...), for `nabla run`.
 *
 *   "\x93NUMPY" major minor, header length (u16 LE for 1.0, u32 LE after), then
 *   "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }" and the data.
 * Floating types (f2, f4, f8) load as F32, integer types and bool as I64. Fortran
 * order, big-endian data, structured and object arrays are refused with a message. */
#include "core/error.h"
#include "core/tensor.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NPY_MAX_NUMEL ((int64_t)1 << 31)

static float half_to_float(uint16_t h)
{
    uint32_t s = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 31, f = h & 1023, u;
    if (e == 0) {
        float v = ldexpf((float)f, -24);
        return s ? -v : v;
    }
    u = e == 31 ? s | 0x7f800000u | (f << 13) : s | ((e + 112) << 23) | (f << 13);
    float v;
    memcpy(&v, &u, 4);
    return v;
}

/* the value of key in the header dict: a pointer just past "'key':" and spaces */
static const char *dict_value(const char *h, const char *key)
{
    char k[32];
    snprintf(k, sizeof k, "'%s'", key);
    const char *p = strstr(h, k);
    if (!p) return NULL;
    p += strlen(k);
    while (*p == ' ') p++;
    if (*p != ':') return NULL;
    p++;
    while (*p == ' ') p++;
    return p;
}

nb_tensor *nb_load_npy(nb_ctx *ctx, const char *path)
{
    if (!ctx || !path) {
        nb__fail(NB_ERR_ARG, "nb_load_npy: NULL argument");
        return NULL;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        nb__fail(NB_ERR_IO, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    unsigned char pre[12];
    char *h = NULL;
    nb_tensor *t = NULL;
    unsigned char *raw = NULL;
    if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6)) {
        nb__fail(NB_ERR_FORMAT, "%s: not a NumPy .npy file (no \\x93NUMPY magic)", path);
        goto done;
    }
    size_t hlen;
    if (pre[6] == 1) hlen = (size_t)pre[8] | (size_t)pre[9] << 8;
    else if (pre[6] == 2 || pre[6] == 3) {
        if (fread(pre + 10, 1, 2, f) != 2) {
            nb__fail(NB_ERR_FORMAT, "%s: truncated header", path);
            goto done;
        }
        hlen = (size_t)pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
    } else {
        nb__fail(NB_ERR_FORMAT, "%s: .npy format version %d is not supported", path, pre[6]);
        goto done;
    }
    if (hlen > (1u << 20)) {
        nb__fail(NB_ERR_FORMAT, "%s: header of %zu bytes", path, hlen);
        goto done;
    }
    h = malloc(hlen + 1);
    if (!h || fread(h, 1, hlen, f) != hlen) {
        nb__fail(NB_ERR_FORMAT, "%s: truncated header", path);
        goto done;
    }
    h[hlen] = 0;
    const char *d = dict_value(h, "descr"), *fo = dict_value(h, "fortran_order"), *sh = dict_value(h, "shape");
    if (!d || !fo || !sh || (*d != '\'' && *d != '"') || *sh != '(') {
        nb__fail(NB_ERR_FORMAT, "%s: the header lacks descr, fortran_order or shape", path);
        goto done;
    }
    if (!strncmp(fo, "True", 4)) {
        nb__fail(NB_ERR_FORMAT, "%s: Fortran-order arrays are not supported (save with np.ascontiguousarray)", path);
        goto done;
    }
    char descr[16] = {0};
    for (int i = 0; i < 15 && d[1 + i] && d[1 + i] != '\'' && d[1 + i] != '"'; i++) descr[i] = d[1 + i];
    char order = descr[0], kind = descr[1];
    int esz = atoi(descr + 2);
    if (order == '>' && esz > 1) {
        nb__fail(NB_ERR_FORMAT, "%s: big-endian data ('%s') is not supported", path, descr);
        goto done;
    }
    int ok = (order == '<' || order == '|' || order == '=') &&
             ((kind == 'f' && (esz == 2 || esz == 4 || esz == 8)) || ((kind == 'i' || kind == 'u') && (esz == 1 || esz == 2 || esz == 4 || esz == 8)) ||
              (kind == 'b' && esz == 1));
    if (!ok) {
        nb__fail(NB_ERR_FORMAT, "%s: dtype '%s' is not supported (float, int, uint or bool)", path, descr);
        goto done;
    }
    int64_t shape[NB_MAX_DIMS], numel = 1;
    int nd = 0;
    for (const char *p = sh + 1; *p && *p != ')';) {
        while (*p == ' ' || *p == ',') p++;
        if (*p == ')') break;
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (end == p || errno || v < 0 || nd == NB_MAX_DIMS) {
            nb__fail(NB_ERR_FORMAT, "%s: bad shape in the header (at most %d non-negative dims)", path, NB_MAX_DIMS);
            goto done;
        }
        if (v && numel > NPY_MAX_NUMEL / v) {
            nb__fail(NB_ERR_FORMAT, "%s: more than %lld elements", path, (long long)NPY_MAX_NUMEL);
            goto done;
        }
        numel *= v;
        shape[nd++] = v;
        p = end;
    }
    size_t bytes = (size_t)numel * (size_t)esz;
    long here = ftell(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, here, SEEK_SET);
    if (here < 0 || size < here || (size_t)(size - here) < bytes) {
        nb__fail(NB_ERR_FORMAT, "%s: %ld data bytes, the shape needs %zu", path, size - here, bytes);
        goto done;
    }
    raw = malloc(bytes ? bytes : 1);
    if (!raw || fread(raw, 1, bytes, f) != bytes) {
        nb__fail(raw ? NB_ERR_IO : NB_ERR_MEM, "%s: cannot read the data", path);
        goto done;
    }
    t = nb_tensor_new(ctx, kind == 'f' ? NB_F32 : NB_I64, nd, shape);
    if (!t) goto done;
    for (int64_t i = 0; i < numel; i++) {
        const unsigned char *q = raw + (size_t)i * (size_t)esz;
        uint64_t u = 0;
        for (int b = 0; b < esz; b++) u |= (uint64_t)q[b] << (8 * b);
        if (kind == 'f') {
            float v;
            if (esz == 2) v = half_to_float((uint16_t)u);
            else if (esz == 4) {
                uint32_t w = (uint32_t)u;
                memcpy(&v, &w, 4);
            } else {
                double dv;
                memcpy(&dv, &u, 8);
                v = (float)dv;
            }
            ((float *)t->data)[i] = v;
        } else {
            int64_t v;
            if (kind == 'b') v = u != 0;
            else if (kind == 'u') v = (int64_t)u;
            else if (esz == 1) v = (int8_t)u;
            else if (esz == 2) v = (int16_t)u;
            else if (esz == 4) v = (int32_t)u;
            else v = (int64_t)u;
            ((int64_t *)t->data)[i] = v;
        }
    }
done:
    free(h);
    free(raw);
    fclose(f);
    return t;
}

nb_status nb_save_npy_as(const char *path, nb_tensor *t, const char *descr)
{
    if (!path || !t || !descr) return nb__fail(NB_ERR_ARG, "nb_save_npy_as: NULL argument");
    char kind = descr[1];
    int esz = atoi(descr + 2);
    int ok = (descr[0] == '<' || descr[0] == '|') &&
             ((kind == 'f' && (esz == 4 || esz == 8)) || ((kind == 'i' || kind == 'u') && (esz == 1 || esz == 2 || esz == 4 || esz == 8)) ||
              (kind == 'b' && esz == 1));
    if (!ok) return nb__fail(NB_ERR_ARG, "nb_save_npy_as: %s: unsupported dtype '%s'", path, descr);
    char dict[512];
    size_t k = (size_t)snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    for (int i = 0; i < t->ndim; i++)
        k += (size_t)snprintf(dict + k, sizeof dict - k, "%lld%s", (long long)t->shape[i],
                              t->ndim == 1 ? "," : i + 1 < t->ndim ? ", " : "");
    k += (size_t)snprintf(dict + k, sizeof dict - k, "), }");
    size_t total = 10 + k + 1, padded = (total + 63) / 64 * 64;
    unsigned char head[640];
    memcpy(head, "\x93NUMPY\x01\x00", 8);
    head[8] = (unsigned char)((padded - 10) & 0xff);
    head[9] = (unsigned char)((padded - 10) >> 8);
    memcpy(head + 10, dict, k);
    memset(head + 10 + k, ' ', padded - total);
    head[padded - 1] = '\n';
    size_t bytes = (size_t)t->numel * (size_t)esz;
    unsigned char *buf = malloc(padded + bytes);
    if (!buf) return nb__fail(NB_ERR_MEM, "out of memory writing %s", path);
    memcpy(buf, head, padded);
    for (int64_t i = 0; i < t->numel; i++) {
        uint64_t u;
        if (kind == 'f') {
            double v = t->dtype == NB_F32 ? ((float *)t->data)[i] : (double)((int64_t *)t->data)[i];
            if (esz == 4) {
                float fv = (float)v;
                uint32_t w;
                memcpy(&w, &fv, 4);
                u = w;
            } else memcpy(&u, &v, 8);
        } else {
            int64_t v = t->dtype == NB_I64 ? ((int64_t *)t->data)[i] : (int64_t)((float *)t->data)[i];
            u = kind == 'b' ? (uint64_t)(v != 0) : (uint64_t)v;
        }
        for (int b = 0; b < esz; b++) buf[padded + (size_t)i * (size_t)esz + (size_t)b] = (unsigned char)(u >> (8 * b));
    }
    nb_status st = nb_write_file_atomic(path, buf, padded + bytes);
    free(buf);
    return st;
}
