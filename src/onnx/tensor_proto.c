/* tensor_proto.c - ONNX TensorProto to nabla tensors, and the value helpers the
 * ops share (element access, casts, wrapping integers to their type's range).
 *
 * A TensorProto's data is in a typed field (float_data, int32_data, int64_data,
 * double_data, uint64_data), in raw_data (little-endian, fixed width), or in an
 * external file named relative to the model. Every count is checked against the
 * shape before anything the shape promises is allocated. */
#include "onnx/onnx_internal.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Tensors larger than this many elements are refused (4 GiB of float32); the fuzz
 * target lowers it. */
int64_t nb__onnx_max_numel = (int64_t)1 << 30;
#define OX_MAX_NUMEL nb__onnx_max_numel

const char *ox_type_name(int et)
{
    static const char *names[] = {"undefined", "float", "uint8", "int8", "uint16", "int16", "int32", "int64",
                                  "string", "bool", "float16", "double", "uint32", "uint64", "complex64",
                                  "complex128", "bfloat16"};
    return et >= 0 && et <= 16 ? names[et] : "unknown";
}

nb_tensor *ox_new(nb_ctx *ctx, int et, int ndim, const int64_t *shape)
{
    if (ox_too_big(ndim, shape)) return NULL;
    return nb__empty(ctx, ox_storage(et), ndim, shape);
}

int ox_too_big(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0) return 0; /* nb__empty reports it */
        if (shape[d] && n > OX_MAX_NUMEL / shape[d]) n = OX_MAX_NUMEL + 1;
        else n *= shape[d];
    }
    if (n <= OX_MAX_NUMEL) return 0;
    char b[160];
    nb__shape_str(ndim, shape, b, sizeof b);
    nb__fail(NB_ERR_SHAPE, "a result of shape %s would have more than %lld elements", b, (long long)OX_MAX_NUMEL);
    return 1;
}

double ox_get_f(const nb_tensor *t, int64_t i)
{
    if (i < 0 || i >= t->numel) return 0; /* a scalar input given as an empty tensor */
    return t->dtype == NB_F32 ? (double)nb__f(t)[i] : (double)nb__i(t)[i];
}

int64_t ox_get_i(const nb_tensor *t, int64_t i)
{
    if (i < 0 || i >= t->numel) return 0; /* a scalar input given as an empty tensor */
    if (t->dtype == NB_I64) return nb__i(t)[i];
    float v = nb__f(t)[i];
    if (!(v == v)) return 0;
    if (v >= 9.2e18f) return INT64_MAX;
    if (v <= -9.2e18f) return INT64_MIN;
    return (int64_t)v;
}

static int64_t wrap1(int64_t v, int et)
{
    switch (et) {
    case OX_BOOL: return v != 0;
    case OX_UINT8: return (uint8_t)v;
    case OX_INT8: return (int8_t)v;
    case OX_UINT16: return (uint16_t)v;
    case OX_INT16: return (int16_t)v;
    case OX_INT32: return (int32_t)v;
    case OX_UINT32: return (uint32_t)v;
    default: return v;
    }
}

void ox_wrap(nb_tensor *t, int et)
{
    if (!t || t->dtype != NB_I64 || et == OX_INT64 || et == OX_UINT64) return;
    int64_t *d = nb__i(t);
    for (int64_t i = 0; i < t->numel; i++) d[i] = wrap1(d[i], et);
}

static float half_to_float(uint16_t h)
{
    uint32_t s = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 31, f = h & 1023, u;
    if (e == 0) {
        float v = ldexpf((float)f, -24);
        return s ? -v : v;
    }
    if (e == 31) u = s | 0x7f800000u | (f << 13);
    else u = s | ((e + 112) << 23) | (f << 13);
    float v;
    memcpy(&v, &u, 4);
    return v;
}

/* float32 -> float16 bits, rounding to nearest even (overflow to infinity) */
static uint16_t float_to_half(float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    uint32_t sign = (u >> 16) & 0x8000u, e = (u >> 23) & 0xff, f = u & 0x7fffffu;
    if (e == 0xff) return (uint16_t)(sign | 0x7c00u | (f ? 0x200u : 0));
    int ex = (int)e - 127 + 15;
    if (ex >= 31) return (uint16_t)(sign | 0x7c00u);
    if (ex <= 0) { /* subnormal half */
        if (ex < -10) return (uint16_t)sign;
        f |= 0x800000u;
        int shift = 14 - ex;
        uint32_t hv = f >> shift, rem = f & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (hv & 1))) hv++;
        return (uint16_t)(sign | hv);
    }
    uint32_t hv = ((uint32_t)ex << 10) | (f >> 13), rem = f & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (hv & 1))) hv++;
    return (uint16_t)(sign | hv);
}

/* float32 rounded as the type would store it (double keeps float32 here). */
static float round_float(float v, int et)
{
    if (et == OX_BFLOAT16) { /* truncation, as ONNX 1.12's reference and test data */
        uint32_t u;
        memcpy(&u, &v, 4);
        if ((u & 0x7fffffffu) > 0x7f800000u) return v;
        u &= 0xffff0000u;
        memcpy(&v, &u, 4);
        return v;
    }
    if (et == OX_FLOAT16) return half_to_float(float_to_half(v));
    return v;
}

nb_tensor *ox_cast(nb_tensor *t, int from_et, int to_et)
{
    if (!t) return NULL;
    nb_tensor *o = ox_new(t->ctx, to_et, t->ndim, t->shape);
    if (!o) return NULL;
    int64_t n = t->numel;
    if (ox_is_float(to_et)) {
        float *d = nb__f(o);
        for (int64_t i = 0; i < n; i++) d[i] = round_float((float)ox_get_f(t, i), to_et);
    } else if (t->dtype == NB_F32) {
        int64_t *d = nb__i(o);
        const float *s = nb__f(t);
        for (int64_t i = 0; i < n; i++) d[i] = to_et == OX_BOOL ? s[i] != 0 : wrap1(ox_get_i(t, i), to_et);
    } else {
        int64_t *d = nb__i(o);
        const int64_t *s = nb__i(t);
        for (int64_t i = 0; i < n; i++) d[i] = wrap1(s[i], to_et);
    }
    (void)from_et;
    return o;
}

nb_tensor *ox_as_float(ox_val v)
{
    if (!v.t) return NULL;
    if (v.t->dtype == NB_F32) return v.t;
    return ox_cast(v.t, v.et, OX_FLOAT);
}

nb_status ox_ints_of(const ox_model *m, const ox_node *n, ox_val v, int64_t *out, int max, int *count,
                     const char *what)
{
    if (!v.t) return ox_fail(m, n, NB_ERR_ARG, "%s is missing", what);
    if (v.t->ndim > 1) return ox_fail(m, n, NB_ERR_SHAPE, "%s must be 1-D, got %s", what, nb__tshape(v.t));
    if (v.t->numel > max) return ox_fail(m, n, NB_ERR_SHAPE, "%s has %lld values, at most %d are supported", what,
                                         (long long)v.t->numel, max);
    for (int64_t i = 0; i < v.t->numel; i++) out[i] = ox_get_i(v.t, i);
    *count = (int)v.t->numel;
    return NB_OK;
}


static int elem_size(int et)
{
    switch (et) {
    case OX_FLOAT: case OX_INT32: case OX_UINT32: return 4;
    case OX_DOUBLE: case OX_INT64: case OX_UINT64: return 8;
    case OX_FLOAT16: case OX_BFLOAT16: case OX_INT16: case OX_UINT16: return 2;
    case OX_INT8: case OX_UINT8: case OX_BOOL: return 1;
    default: return 0;
    }
}

/* Element i of little-endian fixed-width data of type et into the tensor. */
static void store_raw(nb_tensor *t, int et, int64_t i, const unsigned char *p)
{
    uint64_t u = 0;
    int sz = elem_size(et);
    for (int b = 0; b < sz; b++) u |= (uint64_t)p[b] << (8 * b);
    switch (et) {
    case OX_FLOAT: { float v; uint32_t w = (uint32_t)u; memcpy(&v, &w, 4); nb__f(t)[i] = v; break; }
    case OX_DOUBLE: { double v; memcpy(&v, &u, 8); nb__f(t)[i] = (float)v; break; }
    case OX_FLOAT16: nb__f(t)[i] = half_to_float((uint16_t)u); break;
    case OX_BFLOAT16: { uint32_t w = (uint32_t)u << 16; float v; memcpy(&v, &w, 4); nb__f(t)[i] = v; break; }
    case OX_INT8: nb__i(t)[i] = (int8_t)u; break;
    case OX_INT16: nb__i(t)[i] = (int16_t)u; break;
    case OX_INT32: nb__i(t)[i] = (int32_t)u; break;
    case OX_BOOL: nb__i(t)[i] = u != 0; break;
    default: nb__i(t)[i] = (int64_t)u; break; /* uint8/16/32/64, int64 */
    }
}

/* Refuse locations that leave dir: absolute paths, ".." components, symlinks out. */
static char *external_path(const char *dir, const char *loc, const char *tname)
{
    if (!loc || !*loc) {
        nb__fail(NB_ERR_FORMAT, "tensor '%s': external data without a location", tname);
        return NULL;
    }
    if (loc[0] == '/') {
        nb__fail(NB_ERR_FORMAT, "tensor '%s': external data location '%s' is absolute; it must be relative to the model's folder",
                 tname, loc);
        return NULL;
    }
    for (const char *p = loc; *p;) {
        const char *q = strchr(p, '/');
        size_t len = q ? (size_t)(q - p) : strlen(p);
        if (len == 2 && p[0] == '.' && p[1] == '.') {
            nb__fail(NB_ERR_FORMAT, "tensor '%s': external data location '%s' leaves the model's folder", tname, loc);
            return NULL;
        }
        p += len + (q ? 1 : 0);
    }
    size_t n = strlen(dir) + strlen(loc) + 2;
    char *path = malloc(n);
    if (!path) {
        nb__fail(NB_ERR_MEM, "out of memory");
        return NULL;
    }
    snprintf(path, n, "%s/%s", dir, loc);
    char *rd = realpath(dir, NULL), *rp = realpath(path, NULL);
    int ok = rd && rp && !strncmp(rp, rd, strlen(rd)) && rp[strlen(rd)] == '/';
    if (!rp) nb__fail(NB_ERR_IO, "tensor '%s': cannot open external data file '%s': %s", tname, path, strerror(errno));
    else if (!ok) nb__fail(NB_ERR_FORMAT, "tensor '%s': external data location '%s' leaves the model's folder", tname, loc);
    free(rd);
    free(rp);
    if (!ok) {
        free(path);
        return NULL;
    }
    return path;
}

/* Read external bytes (offset, length as the entries say) into a malloc'd buffer of exactly `need` bytes. */
static unsigned char *read_external(const Onnx__TensorProto *tp, const char *dir, size_t need, const char *tname)
{
    const char *loc = NULL;
    long long off = 0, len = -1;
    for (size_t i = 0; i < tp->n_external_data; i++) {
        const Onnx__StringStringEntryProto *e = tp->external_data[i];
        if (!e->key || !e->value) continue;
        char *end;
        if (!strcmp(e->key, "location")) loc = e->value;
        else if (!strcmp(e->key, "offset") || !strcmp(e->key, "length")) {
            errno = 0;
            long long v = strtoll(e->value, &end, 10);
            if (errno || end == e->value || *end || v < 0) {
                nb__fail(NB_ERR_FORMAT, "tensor '%s': external data %s '%s' is not a byte count", tname, e->key, e->value);
                return NULL;
            }
            if (!strcmp(e->key, "offset")) off = v;
            else len = v;
        }
    }
    if (!dir) {
        nb__fail(NB_ERR_FORMAT, "tensor '%s': external data needs the model's folder (load the model from a file)", tname);
        return NULL;
    }
    char *path = external_path(dir, loc, tname);
    if (!path) return NULL;
    unsigned char *buf = NULL;
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (!f || fstat(fileno(f), &st)) {
        nb__fail(NB_ERR_IO, "tensor '%s': cannot open external data file '%s': %s", tname, path, strerror(errno));
        goto done;
    }
    if (len >= 0 && (size_t)len != need) {
        nb__fail(NB_ERR_FORMAT, "tensor '%s': external data length %lld, but its shape needs %zu bytes", tname, len, need);
        goto done;
    }
    if (off > (long long)st.st_size || (size_t)(st.st_size - off) < need) {
        nb__fail(NB_ERR_FORMAT, "tensor '%s': external data file '%s' has %lld bytes after offset %lld, the shape needs %zu",
                 tname, path, (long long)(st.st_size > off ? st.st_size - off : 0), off, need);
        goto done;
    }
    buf = malloc(need ? need : 1);
    if (!buf) {
        nb__fail(NB_ERR_MEM, "out of memory reading tensor '%s'", tname);
        goto done;
    }
    if (fseeko(f, (off_t)off, SEEK_SET) || fread(buf, 1, need, f) != need) {
        nb__fail(NB_ERR_IO, "tensor '%s': reading external data file '%s' failed", tname, path);
        free(buf);
        buf = NULL;
    }
done:
    if (f) fclose(f);
    free(path);
    return buf;
}

nb_tensor *ox_tensor_decode(nb_ctx *ctx, const Onnx__TensorProto *tp, const char *dir, int *et_out)
{
    const char *tname = tp->name && *tp->name ? tp->name : "(unnamed)";
    int et = tp->has_data_type ? tp->data_type : OX_UNDEF;
    int esz = elem_size(et);
    if (!esz) {
        nb__fail(NB_ERR_FORMAT, "tensor '%s': data type %s (%d) is not supported", tname, ox_type_name(et), et);
        return NULL;
    }
    if (tp->n_dims > NB_MAX_DIMS) {
        nb__fail(NB_ERR_FORMAT, "tensor '%s' has %zu dimensions; nabla supports at most %d", tname, tp->n_dims,
                 NB_MAX_DIMS);
        return NULL;
    }
    int64_t numel = 1;
    for (size_t i = 0; i < tp->n_dims; i++) {
        if (tp->dims[i] < 0) {
            nb__fail(NB_ERR_FORMAT, "tensor '%s': dimension %zu is negative (%lld)", tname, i, (long long)tp->dims[i]);
            return NULL;
        }
        if (tp->dims[i] && numel > OX_MAX_NUMEL / tp->dims[i]) {
            nb__fail(NB_ERR_FORMAT, "tensor '%s': its shape has more than %lld elements", tname, (long long)OX_MAX_NUMEL);
            return NULL;
        }
        numel *= tp->dims[i];
    }
    if (numel > OX_MAX_NUMEL) {
        nb__fail(NB_ERR_FORMAT, "tensor '%s': its shape has more than %lld elements", tname, (long long)OX_MAX_NUMEL);
        return NULL;
    }
    size_t need = (size_t)numel * (size_t)esz;
    const unsigned char *raw = NULL;
    unsigned char *ext = NULL;
    size_t typed = 0;
    const char *field = NULL;
    int external = tp->has_data_location && tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    if (external) {
        ext = read_external(tp, dir, need, tname);
        if (!ext) return NULL;
        raw = ext;
    } else if (tp->has_raw_data) {
        if (tp->raw_data.len != need) {
            nb__fail(NB_ERR_FORMAT, "tensor '%s': raw_data holds %zu bytes, its shape and type (%s) need %zu", tname,
                     tp->raw_data.len, ox_type_name(et), need);
            return NULL;
        }
        raw = tp->raw_data.data;
    } else {
        switch (et) {
        case OX_FLOAT: typed = tp->n_float_data; field = "float_data"; break;
        case OX_DOUBLE: typed = tp->n_double_data; field = "double_data"; break;
        case OX_INT64: typed = tp->n_int64_data; field = "int64_data"; break;
        case OX_UINT32: case OX_UINT64: typed = tp->n_uint64_data; field = "uint64_data"; break;
        default: typed = tp->n_int32_data; field = "int32_data"; break;
        }
        if (typed != (size_t)numel) {
            nb__fail(NB_ERR_FORMAT, "tensor '%s': %s holds %zu values, its shape needs %lld", tname, field, typed,
                     (long long)numel);
            return NULL;
        }
    }
    int64_t shape[NB_MAX_DIMS];
    for (size_t i = 0; i < tp->n_dims; i++) shape[i] = tp->dims[i];
    nb_tensor *t = nb_tensor_new(ctx, ox_storage(et), (int)tp->n_dims, shape);
    if (!t) {
        free(ext);
        return NULL;
    }
    for (int64_t i = 0; i < numel; i++) {
        if (raw) {
            store_raw(t, et, i, raw + (size_t)i * (size_t)esz);
            continue;
        }
        switch (et) {
        case OX_FLOAT: nb__f(t)[i] = tp->float_data[i]; break;
        case OX_DOUBLE: nb__f(t)[i] = (float)tp->double_data[i]; break;
        case OX_INT64: nb__i(t)[i] = tp->int64_data[i]; break;
        case OX_UINT32: case OX_UINT64: nb__i(t)[i] = (int64_t)tp->uint64_data[i]; break;
        case OX_FLOAT16: nb__f(t)[i] = half_to_float((uint16_t)tp->int32_data[i]); break;
        case OX_BFLOAT16: {
            uint32_t w = (uint32_t)(uint16_t)tp->int32_data[i] << 16;
            float v;
            memcpy(&v, &w, 4);
            nb__f(t)[i] = v;
            break;
        }
        default: nb__i(t)[i] = wrap1(tp->int32_data[i], et); break;
        }
    }
    free(ext);
    *et_out = et;
    return t;
}
