/* safetensors.c - read and write safetensors files (the weights format of
 * PyTorch users): u64 little-endian header length N, N bytes of JSON, then the
 * data buffer. Every rule of the format is checked when a file is opened, so a
 * file that opens can be read without further surprises:
 *   - at least 8 bytes; N <= 100 MB and within the file;
 *   - the header is strict JSON (read with cJSON): an object whose members are tensors
 *     {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]} and an
 *     optional "__metadata__" object of strings;
 *   - known dtype, at most NB_MAX_DIMS non-negative dimensions, no duplicate
 *     names, end >= begin, end - begin == numel * dtype size, and the ranges
 *     tile the data buffer exactly (no overlap, no hole, nothing left over).
 * Reading converts floats (F64, F32, F16, BF16) to F32 and integers (I64, I32,
 * I16, I8, U64, U32, U16, U8, BOOL) to I64. Writing stores F32 and I64. */
#include "core/error.h"
#include "core/tensor.h"
#include "core/atomic.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define ST_MAX_HEADER (100ull * 1000 * 1000) /* 100 MB, as the reference implementation */
#define ST_MAX_VALUES (1 << 22)               /* JSON values in a header (cJSON's tree: ~300 MB) */

/* ------------------------------------------------------------------------ */
/* dtypes                                                                    */
/* ------------------------------------------------------------------------ */

typedef enum { K_FLOAT, K_INT } st_kind;
typedef enum { D_F64, D_F32, D_F16, D_BF16, D_I64, D_I32, D_I16, D_I8, D_U64, D_U32, D_U16, D_U8, D_BOOL } st_dt;

static const struct {
    const char *name;
    int size;
    st_kind kind;
} DT[] = {
    [D_F64] = {"F64", 8, K_FLOAT},  [D_F32] = {"F32", 4, K_FLOAT}, [D_F16] = {"F16", 2, K_FLOAT},
    [D_BF16] = {"BF16", 2, K_FLOAT}, [D_I64] = {"I64", 8, K_INT},  [D_I32] = {"I32", 4, K_INT},
    [D_I16] = {"I16", 2, K_INT},    [D_I8] = {"I8", 1, K_INT},    [D_U64] = {"U64", 8, K_INT},
    [D_U32] = {"U32", 4, K_INT},    [D_U16] = {"U16", 2, K_INT},  [D_U8] = {"U8", 1, K_INT},
    [D_BOOL] = {"BOOL", 1, K_INT},
};
#define N_DT ((int)(sizeof DT / sizeof DT[0]))

static int dt_lookup(const char *s)
{
    for (int i = 0; i < N_DT; i++)
        if (!strcmp(DT[i].name, s)) return i;
    return -1;
}

/* little-endian loads that do not depend on the host's byte order */
static inline uint16_t ld16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t ld32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t ld64(const unsigned char *p) { return ld32(p) | (uint64_t)ld32(p + 4) << 32; }
static inline void st32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8), p[2] = (unsigned char)(v >> 16),
    p[3] = (unsigned char)(v >> 24);
}
static inline void st64(unsigned char *p, uint64_t v) { st32(p, (uint32_t)v), st32(p + 4, (uint32_t)(v >> 32)); }

static inline float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* IEEE half to float, exact for every value (subnormals, inf, nan included). */
static float half_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    if (exp == 0x1f) return bits_f32(sign | 0x7f800000u | man << 13);
    if (exp) return bits_f32(sign | (exp + 112) << 23 | man << 13);
    if (!man) return bits_f32(sign);
    /* subnormal: man * 2^-24 */
    float v = (float)man * (1.0f / 16777216.0f);
    return sign ? -v : v;
}

/* Convert count elements of dtype dt at src (little-endian) to F32 or I64 at dst.
 * Returns the index of a U64 value that does not fit in I64, or -1. */
static int64_t convert(st_dt dt, const unsigned char *src, size_t count, void *dst)
{
    float *f = dst;
    int64_t *q = dst;
    for (size_t i = 0; i < count; i++) {
        const unsigned char *p = src + i * (size_t)DT[dt].size;
        switch (dt) {
        case D_F64: {
            uint64_t u = ld64(p);
            double d;
            memcpy(&d, &u, 8);
            f[i] = (float)d;
            break;
        }
        case D_F32: f[i] = bits_f32(ld32(p)); break;
        case D_F16: f[i] = half_to_f32(ld16(p)); break;
        case D_BF16: f[i] = bits_f32((uint32_t)ld16(p) << 16); break;
        case D_I64: q[i] = (int64_t)ld64(p); break;
        case D_I32: q[i] = (int32_t)ld32(p); break;
        case D_I16: q[i] = (int16_t)ld16(p); break;
        case D_I8: q[i] = (int8_t)p[0]; break;
        case D_U64: {
            uint64_t u = ld64(p);
            if (u > (uint64_t)INT64_MAX) return (int64_t)i;
            q[i] = (int64_t)u;
            break;
        }
        case D_U32: q[i] = ld32(p); break;
        case D_U16: q[i] = ld16(p); break;
        case D_U8: q[i] = p[0]; break;
        case D_BOOL: q[i] = p[0] != 0; break;
        }
    }
    return -1;
}

/* ------------------------------------------------------------------------ */
/* the open file                                                             */
/* ------------------------------------------------------------------------ */

typedef struct {
    char *name;
    st_dt dt;
    int ndim;
    int64_t shape[NB_MAX_DIMS];
    uint64_t begin, end;
} st_entry;

struct nb_safetensors {
    char *path;
    FILE *fp;
    uint64_t data_start, data_len;
    st_entry *e;
    int n, cap;
    int *sorted; /* entry indices sorted by name, for nb_safetensors_find */
    char **meta; /* key, value, key, value ... */
    int n_meta, cap_meta;
};

/* ------------------------------------------------------------------------ */
/* the header: cJSON builds the tree, after a lexical pass that refuses what */
/* strict JSON forbids and cJSON would let through                           */
/* ------------------------------------------------------------------------ */

/* Report a syntax error with the byte offset in the header. */
static int jerr(const char *path, const char *s, size_t n, size_t pos, const char *what)
{
    char near[24];
    size_t k = 0;
    for (size_t i = pos; i < n && k < 16; i++) near[k++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    near[k] = 0;
    nb__fail(NB_ERR_FORMAT, "%s: invalid JSON in the safetensors header at byte %zu: %s%s%s%s", path, pos, what,
             k ? " (near \"" : " (at the end of the header)", near, k ? "\")" : "");
    return -1;
}

/* Offset of the first byte that is not well-formed UTF-8 (RFC 3629: no
 * overlong forms, no surrogates, nothing above U+10FFFF), or -1. */
static long long bad_utf8(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t len;
        unsigned lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            len = 2;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            if (c == 0xe0) lo = 0xa0;
            if (c == 0xed) hi = 0x9f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            if (c == 0xf0) lo = 0x90;
            if (c == 0xf4) hi = 0x8f;
        } else {
            return (long long)i;
        }
        if (n - i < len || s[i + 1] < lo || s[i + 1] > hi) return (long long)i;
        for (size_t k = 2; k < len; k++)
            if ((s[i + k] & 0xc0) != 0x80) return (long long)i;
        i += len;
    }
    return -1;
}

/* Report a rule of the format that the (valid) JSON breaks. */
static int jrule(const char *path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int jrule(const char *path, const char *fmt, ...)
{
    char msg[800];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    nb__fail(NB_ERR_FORMAT, "%s: %s", path, msg);
    return -1;
}

static int hex4(const char *s, size_t n, size_t at, uint32_t *out)
{
    if (n < at + 4) return -1;
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[at + i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        v = v << 4 | (uint32_t)d;
    }
    *out = v;
    return 0;
}

static int is_digit(const char *s, size_t n, size_t p) { return p < n && s[p] >= '0' && s[p] <= '9'; }

/* A string token at s[*i] (the opening quote): control characters, unknown escapes,
 * unpaired surrogates and \u0000 are refused (names are C strings). */
static int lex_string(const char *path, const char *s, size_t n, size_t *i)
{
    size_t p = *i + 1;
    for (;;) {
        if (p >= n) return jerr(path, s, n, *i, "unterminated string");
        unsigned char d = (unsigned char)s[p];
        if (d == '"') break;
        if (d < 0x20) return jerr(path, s, n, p, "control character inside a string");
        if (d != '\\') {
            p++;
            continue;
        }
        if (p + 1 >= n) return jerr(path, s, n, *i, "unterminated string");
        char e = s[p + 1];
        if (e && strchr("\"\\/bfnrt", e)) {
            p += 2;
            continue;
        }
        if (e != 'u') return jerr(path, s, n, p, "unknown escape in a string");
        uint32_t cp, lo;
        if (hex4(s, n, p + 2, &cp)) return jerr(path, s, n, p, "bad or truncated \\u escape");
        if (cp == 0) return jerr(path, s, n, p, "\\u0000 inside a string is not supported");
        if (cp >= 0xdc00 && cp < 0xe000) return jerr(path, s, n, p, "unpaired surrogate in a \\u escape");
        p += 6;
        if (cp >= 0xd800 && cp < 0xdc00) {
            if (p + 1 >= n || s[p] != '\\' || s[p + 1] != 'u' || hex4(s, n, p + 2, &lo) || lo < 0xdc00 || lo >= 0xe000)
                return jerr(path, s, n, p - 6, "unpaired surrogate in a \\u escape");
            p += 6;
        }
    }
    *i = p + 1;
    return 0;
}

/* A number token at s[*i]: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static int lex_number(const char *path, const char *s, size_t n, size_t *i)
{
    size_t p = *i;
    if (s[p] == '-') p++;
    if (!is_digit(s, n, p)) return jerr(path, s, n, p, "expected a value");
    if (s[p] == '0' && is_digit(s, n, p + 1)) return jerr(path, s, n, p, "number with a leading zero");
    while (is_digit(s, n, p)) p++;
    if (p < n && s[p] == '.') {
        if (!is_digit(s, n, ++p)) return jerr(path, s, n, p, "bad number");
        while (is_digit(s, n, p)) p++;
    }
    if (p < n && (s[p] == 'e' || s[p] == 'E')) {
        p++;
        if (p < n && (s[p] == '+' || s[p] == '-')) p++;
        if (!is_digit(s, n, p)) return jerr(path, s, n, p, "bad number");
        while (is_digit(s, n, p)) p++;
    }
    *i = p;
    return 0;
}

/* What strict JSON (RFC 8259) forbids and cJSON accepts: control characters and
 * unpaired surrogates in strings, leading zeros and incomplete numbers, control
 * characters between tokens; also more values than ST_MAX_VALUES (cJSON's tree
 * takes about 70 bytes a value). The structure is cJSON's to check. */
static int lex_check(const char *path, const char *s, size_t n)
{
    size_t values = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        int rc = 0;
        if (c == '"') {
            rc = lex_string(path, s, n, &i), values++;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            rc = lex_number(path, s, n, &i), values++;
        } else if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
            return jerr(path, s, n, i, "control character outside a string");
        } else {
            values += c == '{' || c == '[' || c == 't' || c == 'f' || c == 'n';
            i++;
        }
        if (rc) return rc;
    }
    if (values > ST_MAX_VALUES)
        return jrule(path, "the header holds more than %d JSON values", ST_MAX_VALUES);
    return 0;
}

/* What is wrong at byte pos, where cJSON stopped. */
static int describe_syntax(const char *path, const char *s, size_t n, size_t pos)
{
    size_t rest = pos;
    while (rest < n && strchr(" \t\r\n,:[{", s[rest])) rest++;
    if (rest >= n) return jerr(path, s, n, n, "the header ends inside an object or array");
    size_t q = pos;
    while (q > 0 && strchr(" \t\r\n", s[q - 1])) q--;
    if (q >= 2 && s[q - 1] == '"') { /* after a string: a member name wants ':' */
        size_t open = q - 2;
        while (open > 0 && !(s[open] == '"' && s[open - 1] != '\\')) open--;
        size_t b = open;
        while (b > 0 && strchr(" \t\r\n", s[b - 1])) b--;
        if (b > 0 && (s[b - 1] == '{' || s[b - 1] == ',')) return jerr(path, s, n, pos, "expected ':' after a member name");
    }
    return jerr(path, s, n, pos, "unexpected character");
}

static int add_meta(nb_safetensors *f, char *key, char *val)
{
    if (f->n_meta + 2 > f->cap_meta) {
        int cap = f->cap_meta ? 2 * f->cap_meta : 16;
        char **m = realloc(f->meta, (size_t)cap * sizeof *m);
        if (!m) return -1;
        f->meta = m, f->cap_meta = cap;
    }
    f->meta[f->n_meta++] = key;
    f->meta[f->n_meta++] = val;
    return 0;
}

static int read_metadata(const cJSON *o, nb_safetensors *f)
{
    if (!cJSON_IsObject(o)) return jrule(f->path, "\"__metadata__\" must be an object of strings");
    for (const cJSON *m = o->child; m; m = m->next) {
        if (!cJSON_IsString(m)) return jrule(f->path, "__metadata__ value of '%.200s' must be a string", m->string);
        char *key = strdup(m->string), *val = strdup(m->valuestring);
        if (!key || !val || add_meta(f, key, val)) {
            free(key), free(val);
            return jrule(f->path, "out of memory reading the header");
        }
    }
    return 0;
}

/* [u, u, ...] into v (at most max values); *count gets how many. Integers above 2^53
 * (which a double, cJSON's number, cannot hold exactly) are too large. */
static int read_uints(const char *path, const cJSON *a, uint64_t *v, int max, int *count, const char *what,
                      const char *name)
{
    char label[300];
    snprintf(label, sizeof label, "%s of tensor '%.200s'", what, name);
    *count = 0;
    for (const cJSON *x = a->child; x; x = x->next) {
        if (!cJSON_IsNumber(x)) return jrule(path, "%s must hold non-negative integers", label);
        double d = x->valuedouble;
        if (d < 0) return jrule(path, "%s must be a non-negative integer, not a negative number", label);
        if (d != floor(d)) return jrule(path, "%s must be an integer, not a fraction or exponent", label);
        if (d > 9007199254740992.0) return jrule(path, "%s is too large", label);
        if (*count >= max) {
            if (max == 2) return jrule(path, "%s must have exactly 2 values [begin, end]", label);
            return jrule(path, "tensor '%.200s' has more than %d dimensions; nabla supports at most %d", name, max, max);
        }
        v[(*count)++] = (uint64_t)d;
    }
    return 0;
}

/* {"dtype": .., "shape": [..], "data_offsets": [b, e]} for tensor `name`. */
static int read_member(const char *path, const cJSON *o, st_entry *e, const char *name)
{
    int have_dt = 0, have_shape = 0, have_off = 0;
    if (!cJSON_IsObject(o)) return jrule(path, "entry '%.200s' must be an object with dtype, shape and data_offsets", name);
    for (const cJSON *m = o->child; m; m = m->next) {
        if (!strcmp(m->string, "dtype")) {
            if (have_dt++) return jrule(path, "tensor '%.200s' has \"dtype\" twice", name);
            if (!cJSON_IsString(m)) return jrule(path, "dtype of tensor '%.200s' must be a string", name);
            int d = dt_lookup(m->valuestring);
            if (d < 0)
                return jrule(path, "tensor '%.200s' has unknown or unsupported dtype \"%.40s\" (nabla reads "
                                   "F64, F32, F16, BF16, I64, I32, I16, I8, U64, U32, U16, U8, BOOL)",
                             name, m->valuestring);
            e->dt = (st_dt)d;
        } else if (!strcmp(m->string, "shape")) {
            uint64_t v[NB_MAX_DIMS];
            int nd;
            if (have_shape++) return jrule(path, "tensor '%.200s' has \"shape\" twice", name);
            if (!cJSON_IsArray(m)) return jrule(path, "shape of tensor '%.200s' must be an array", name);
            if (read_uints(path, m, v, NB_MAX_DIMS, &nd, "shape", name)) return -1;
            e->ndim = nd;
            for (int i = 0; i < nd; i++) e->shape[i] = (int64_t)v[i];
        } else if (!strcmp(m->string, "data_offsets")) {
            uint64_t v[2];
            int nv;
            if (have_off++) return jrule(path, "tensor '%.200s' has \"data_offsets\" twice", name);
            if (!cJSON_IsArray(m)) return jrule(path, "data_offsets of tensor '%.200s' must be an array [begin, end]", name);
            if (read_uints(path, m, v, 2, &nv, "data_offsets", name)) return -1;
            if (nv != 2) return jrule(path, "data_offsets of tensor '%.200s' must have exactly 2 values [begin, end]", name);
            e->begin = v[0], e->end = v[1];
        } /* members the format does not define are ignored */
    }
    if (!have_dt) return jrule(path, "tensor '%.200s' has no \"dtype\"", name);
    if (!have_shape) return jrule(path, "tensor '%.200s' has no \"shape\"", name);
    if (!have_off) return jrule(path, "tensor '%.200s' has no \"data_offsets\"", name);
    return 0;
}

/* The members of the header object: tensors in file order, and __metadata__. */
static int read_members(const cJSON *root, nb_safetensors *f)
{
    int seen_meta = 0;
    for (const cJSON *m = root->child; m; m = m->next) {
        if (!strcmp(m->string, "__metadata__")) {
            if (seen_meta++) return jrule(f->path, "duplicate \"__metadata__\"");
            if (read_metadata(m, f)) return -1;
            continue;
        }
        if (f->n == f->cap) {
            int cap = f->cap ? 2 * f->cap : 64;
            st_entry *ne = realloc(f->e, (size_t)cap * sizeof *ne);
            if (!ne) return jrule(f->path, "out of memory reading the header");
            f->e = ne, f->cap = cap;
        }
        st_entry *e = &f->e[f->n];
        memset(e, 0, sizeof *e);
        if (read_member(f->path, m, e, m->string)) return -1;
        if (!(e->name = strdup(m->string))) return jrule(f->path, "out of memory reading the header");
        f->n++;
    }
    return 0;
}

/* The header s[0..n) (valid UTF-8) into f's entries and metadata. */
static int parse_header(const char *s, size_t n, nb_safetensors *f)
{
    if (lex_check(f->path, s, n)) return -1;
    const char *end = NULL;
    cJSON *root = n ? cJSON_ParseWithLengthOpts(s, n, &end, 0) : NULL;
    if (!root) return describe_syntax(f->path, s, n, end && end >= s ? (size_t)(end - s) : n);
    size_t pos = (size_t)(end - s);
    while (pos < n && strchr(" \t\r\n", s[pos])) pos++;
    int rc;
    if (!cJSON_IsObject(root)) rc = jerr(f->path, s, n, 0, "the header must be a JSON object");
    else if (pos < n) rc = jerr(f->path, s, n, pos, "unexpected data after the header object");
    else rc = read_members(root, f);
    cJSON_Delete(root);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* checks of the parsed header                                               */
/* ------------------------------------------------------------------------ */

/* qsort has no user pointer: the comparators read the file being checked here */
static _Thread_local const nb_safetensors *g_sort_f;

static int cmp_name(const void *a, const void *b)
{
    const nb_safetensors *f = g_sort_f;
    return strcmp(f->e[*(const int *)a].name, f->e[*(const int *)b].name);
}

static int cmp_offset(const void *a, const void *b)
{
    const st_entry *x = &g_sort_f->e[*(const int *)a], *y = &g_sort_f->e[*(const int *)b];
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Duplicate __metadata__ keys, found by sorting (a hostile header may hold millions). */
static nb_status check_meta(const nb_safetensors *f)
{
    int n = f->n_meta / 2;
    if (n < 2) return NB_OK;
    char **keys = malloc((size_t)n * sizeof *keys);
    if (!keys) return nb__fail(NB_ERR_MEM, "%s: out of memory", f->path);
    for (int i = 0; i < n; i++) keys[i] = f->meta[2 * i];
    qsort(keys, (size_t)n, sizeof *keys, cmp_str);
    nb_status st = NB_OK;
    for (int i = 1; i < n && !st; i++)
        if (!strcmp(keys[i], keys[i - 1]))
            st = nb__fail(NB_ERR_FORMAT, "%s: duplicate __metadata__ key '%.200s'", f->path, keys[i]);
    free(keys);
    return st;
}

static nb_status check_entries(nb_safetensors *f)
{
    if (check_meta(f)) return NB_ERR_FORMAT;
    const char *path = f->path;
    for (int i = 0; i < f->n; i++) {
        st_entry *e = &f->e[i];
        if (e->end < e->begin)
            return nb__fail(NB_ERR_FORMAT, "%s: tensor '%.200s' has data_offsets [%llu, %llu] with end before begin",
                            path, e->name, (unsigned long long)e->begin, (unsigned long long)e->end);
        if (e->end > f->data_len)
            return nb__fail(NB_ERR_FORMAT,
                            "%s: tensor '%.200s' has data_offsets [%llu, %llu] beyond the data buffer of %llu bytes "
                            "(file truncated?)",
                            path, e->name, (unsigned long long)e->begin, (unsigned long long)e->end,
                            (unsigned long long)f->data_len);
        uint64_t numel = 1;
        int overflow = 0;
        for (int d = 0; d < e->ndim; d++) {
            uint64_t s = (uint64_t)e->shape[d];
            if (s && numel > UINT64_MAX / s) overflow = 1;
            numel *= s;
        }
        if (!overflow && numel > UINT64_MAX / (uint64_t)DT[e->dt].size) overflow = 1;
        char shp[200];
        nb__shape_str(e->ndim, e->shape, shp, sizeof shp);
        if (overflow || numel * (uint64_t)DT[e->dt].size != e->end - e->begin)
            return nb__fail(NB_ERR_FORMAT,
                            "%s: tensor '%.200s' (%s %s) needs %s%llu bytes but its data_offsets [%llu, %llu] hold "
                            "%llu bytes",
                            path, e->name, DT[e->dt].name, shp, overflow ? "more than " : "",
                            overflow ? (unsigned long long)UINT64_MAX : (unsigned long long)(numel * (uint64_t)DT[e->dt].size),
                            (unsigned long long)e->begin, (unsigned long long)e->end,
                            (unsigned long long)(e->end - e->begin));
        if (numel > (uint64_t)INT64_MAX / 8)
            return nb__fail(NB_ERR_FORMAT, "%s: tensor '%.200s' is too large", path, e->name);
    }
    int *idx = malloc((size_t)(f->n ? f->n : 1) * sizeof *idx);
    if (!idx) return nb__fail(NB_ERR_MEM, "%s: out of memory", path);
    for (int i = 0; i < f->n; i++) idx[i] = i;
    g_sort_f = f;
    qsort(idx, (size_t)f->n, sizeof *idx, cmp_offset);
    uint64_t at = 0;
    for (int k = 0; k < f->n; k++) {
        const st_entry *e = &f->e[idx[k]];
        if (e->begin < at) {
            const st_entry *p = &f->e[idx[k - 1]];
            nb_status st = nb__fail(NB_ERR_FORMAT,
                                    "%s: tensors '%.200s' [%llu, %llu] and '%.200s' [%llu, %llu] overlap in the data "
                                    "buffer",
                                    path, p->name, (unsigned long long)p->begin, (unsigned long long)p->end, e->name,
                                    (unsigned long long)e->begin, (unsigned long long)e->end);
            free(idx);
            return st;
        }
        if (e->begin > at) {
            nb_status st = nb__fail(NB_ERR_FORMAT,
                                    "%s: hole in the data buffer: bytes [%llu, %llu) belong to no tensor (next is "
                                    "'%.200s' at data_offsets [%llu, %llu])",
                                    path, (unsigned long long)at, (unsigned long long)e->begin, e->name,
                                    (unsigned long long)e->begin, (unsigned long long)e->end);
            free(idx);
            return st;
        }
        at = e->end;
    }
    if (at != f->data_len) {
        free(idx);
        return nb__fail(NB_ERR_FORMAT,
                        "%s: hole in the data buffer: its last %llu bytes [%llu, %llu) belong to no tensor", path,
                        (unsigned long long)(f->data_len - at), (unsigned long long)at,
                        (unsigned long long)f->data_len);
    }
    qsort(idx, (size_t)f->n, sizeof *idx, cmp_name);
    for (int k = 1; k < f->n; k++)
        if (!strcmp(f->e[idx[k]].name, f->e[idx[k - 1]].name)) {
            nb_status st = nb__fail(NB_ERR_FORMAT, "%s: duplicate tensor name '%.200s'", path, f->e[idx[k]].name);
            free(idx);
            return st;
        }
    f->sorted = idx;
    return NB_OK;
}

/* ------------------------------------------------------------------------ */
/* public reading API                                                        */
/* ------------------------------------------------------------------------ */

void nb_safetensors_close(nb_safetensors *f)
{
    if (!f) return;
    if (f->fp) fclose(f->fp);
    for (int i = 0; i < f->n; i++) free(f->e[i].name);
    for (int i = 0; i < f->n_meta; i++) free(f->meta[i]);
    free(f->e);
    free(f->meta);
    free(f->sorted);
    free(f->path);
    free(f);
}

/* nb_safetensors_open that also says which kind of failure happened. */
static nb_safetensors *st_open(const char *path, nb_status *code)
{
    *code = NB_ERR_FORMAT;
    if (!path) {
        *code = nb__fail(NB_ERR_ARG, "nb_safetensors_open: path is NULL");
        return NULL;
    }
    nb_safetensors *f = calloc(1, sizeof *f);
    char *hdr = NULL;
    if (!f || !(f->path = strdup(path))) {
        *code = nb__fail(NB_ERR_MEM, "out of memory opening %s", path);
        goto fail;
    }
    f->fp = fopen(path, "rb");
    if (!f->fp) {
        *code = nb__fail(NB_ERR_IO, "cannot open %s: %s", path, strerror(errno));
        goto fail;
    }
    struct stat sb;
    if (fstat(fileno(f->fp), &sb)) {
        *code = nb__fail(NB_ERR_IO, "cannot read %s: %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(sb.st_mode)) {
        *code = nb__fail(NB_ERR_IO, "cannot read %s: not a regular file", path);
        goto fail;
    }
    uint64_t size = (uint64_t)sb.st_size;
    if (size < 8) {
        nb__fail(NB_ERR_FORMAT,
                 "%s: not a safetensors file: it is %llu bytes, shorter than the 8-byte header length (truncated?)",
                 path, (unsigned long long)size);
        goto fail;
    }
    unsigned char lenb[8];
    if (fread(lenb, 1, 8, f->fp) != 8) {
        *code = nb__fail(NB_ERR_IO, "cannot read %s: %s", path, ferror(f->fp) ? strerror(errno) : "unexpected end of file");
        goto fail;
    }
    uint64_t hlen = ld64(lenb);
    if (hlen > ST_MAX_HEADER) {
        nb__fail(NB_ERR_FORMAT,
                 "%s: not a valid safetensors file: header length %llu is larger than the 100 MB limit", path,
                 (unsigned long long)hlen);
        goto fail;
    }
    if (hlen > size - 8) {
        nb__fail(NB_ERR_FORMAT,
                 "%s: header length %llu runs past the end of the file (%llu bytes after the length; truncated?)",
                 path, (unsigned long long)hlen, (unsigned long long)(size - 8));
        goto fail;
    }
    if (!(hdr = malloc(hlen ? hlen : 1))) {
        *code = nb__fail(NB_ERR_MEM, "%s: out of memory for a %llu-byte header", path, (unsigned long long)hlen);
        goto fail;
    }
    if (fread(hdr, 1, hlen, f->fp) != hlen) {
        *code = nb__fail(NB_ERR_IO, "cannot read the header of %s: %s", path,
                 ferror(f->fp) ? strerror(errno) : "unexpected end of file");
        goto fail;
    }
    f->data_start = 8 + hlen;
    f->data_len = size - 8 - hlen;
    long long bad = bad_utf8((const unsigned char *)hdr, hlen);
    if (bad >= 0) {
        nb__fail(NB_ERR_FORMAT, "%s: invalid JSON in the safetensors header at byte %lld: not valid UTF-8", path, bad);
        goto fail;
    }
    if (parse_header(hdr, hlen, f)) goto fail;
    nb_status st = check_entries(f);
    if (st) {
        *code = st;
        goto fail;
    }
    free(hdr);
    return f;
fail:
    free(hdr);
    nb_safetensors_close(f);
    return NULL;
}

nb_safetensors *nb_safetensors_open(const char *path)
{
    nb_status code;
    return st_open(path, &code);
}

int nb_safetensors_count(const nb_safetensors *f) { return f ? f->n : 0; }

const char *nb_safetensors_name(const nb_safetensors *f, int i)
{
    return f && i >= 0 && i < f->n ? f->e[i].name : NULL;
}

int nb_safetensors_find(const nb_safetensors *f, const char *name)
{
    if (!f || !name) return -1;
    int lo = 0, hi = f->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(f->e[f->sorted[mid]].name, name);
        if (!c) return f->sorted[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

const char *nb_safetensors_dtype(const nb_safetensors *f, int i)
{
    return f && i >= 0 && i < f->n ? DT[f->e[i].dt].name : NULL;
}

int nb_safetensors_shape(const nb_safetensors *f, int i, int64_t shape[NB_MAX_DIMS])
{
    if (!f || i < 0 || i >= f->n) return -1;
    for (int d = 0; d < f->e[i].ndim; d++) shape[d] = f->e[i].shape[d];
    return f->e[i].ndim;
}

const char *nb_safetensors_metadata(const nb_safetensors *f, const char *key)
{
    if (!f || !key) return NULL;
    for (int i = 0; i < f->n_meta; i += 2)
        if (!strcmp(f->meta[i], key)) return f->meta[i + 1];
    return NULL;
}

/* Read entry i into dst (numel F32 or I64 values). */
static nb_status read_entry(nb_safetensors *f, int i, void *dst)
{
    const st_entry *e = &f->e[i];
    size_t esz = (size_t)DT[e->dt].size;
    uint64_t count = (e->end - e->begin) / esz;
    if (!count) return NB_OK;
    if (fseeko(f->fp, (off_t)(f->data_start + e->begin), SEEK_SET))
        return nb__fail(NB_ERR_IO, "cannot read tensor '%.200s' of %s: %s", e->name, f->path, strerror(errno));
    enum { CHUNK = 1 << 20 };
    unsigned char *buf = malloc(CHUNK);
    if (!buf) return nb__fail(NB_ERR_MEM, "out of memory reading %s", f->path);
    size_t per = CHUNK / esz, outsz = DT[e->dt].kind == K_FLOAT ? 4 : 8;
    for (uint64_t done = 0; done < count;) {
        size_t k = count - done < per ? (size_t)(count - done) : per;
        if (fread(buf, esz, k, f->fp) != k) {
            int err = ferror(f->fp);
            free(buf);
            return nb__fail(NB_ERR_IO, "cannot read tensor '%.200s' of %s: %s", e->name, f->path,
                            err ? strerror(errno) : "the file is shorter than when it was opened");
        }
        int64_t bad = convert(e->dt, buf, k, (char *)dst + done * outsz);
        if (bad >= 0) {
            free(buf);
            return nb__fail(NB_ERR_FORMAT, "%s: U64 tensor '%.200s' has value at index %llu beyond the I64 range",
                            f->path, e->name, (unsigned long long)(done + (uint64_t)bad));
        }
        done += k;
    }
    free(buf);
    return NB_OK;
}

nb_tensor *nb_safetensors_get(nb_safetensors *f, nb_ctx *ctx, const char *name)
{
    if (!f || !ctx || !name) {
        nb__fail(NB_ERR_ARG, "nb_safetensors_get: NULL argument");
        return NULL;
    }
    int i = nb_safetensors_find(f, name);
    if (i < 0) {
        nb__fail(NB_ERR_ARG, "%s has no tensor named '%.200s'", f->path, name);
        return NULL;
    }
    const st_entry *e = &f->e[i];
    nb_tensor *t = nb_tensor_new(ctx, DT[e->dt].kind == K_FLOAT ? NB_F32 : NB_I64, e->ndim, e->shape);
    if (!t) {
        nb__error_prefix("%s: tensor '%.200s'", f->path, name);
        return NULL;
    }
    if (read_entry(f, i, t->data)) {
        nb_tensor_free(t);
        return NULL;
    }
    return t;
}

/* ------------------------------------------------------------------------ */
/* writing                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct {
    char *s;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->s = p, b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

/* The header of ts and meta as JSON (cJSON), padded with spaces to a multiple of 8
 * bytes as the reference writer does; NULL when out of memory. */
static char *header_json(const nb_named_tensor *ts, int n, const char *const *meta, int n_meta, size_t *len)
{
    cJSON *root = cJSON_CreateObject(), *m = NULL;
    int ok = root != NULL;
    if (ok && n_meta) {
        ok = (m = cJSON_AddObjectToObject(root, "__metadata__")) != NULL;
        for (int i = 0; ok && i < n_meta; i++) ok = cJSON_AddStringToObject(m, meta[2 * i], meta[2 * i + 1]) != NULL;
    }
    uint64_t off = 0;
    for (int i = 0; ok && i < n; i++) {
        const nb_tensor *t = ts[i].tensor;
        uint64_t bytes = (uint64_t)t->numel * (t->dtype == NB_I64 ? 8 : 4);
        cJSON *e = cJSON_AddObjectToObject(root, ts[i].name), *shape, *offs;
        ok = e && cJSON_AddStringToObject(e, "dtype", t->dtype == NB_F32 ? "F32" : "I64") &&
             (shape = cJSON_AddArrayToObject(e, "shape")) != NULL;
        for (int d = 0; ok && d < t->ndim; d++) ok = cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->shape[d]));
        ok = ok && (offs = cJSON_AddArrayToObject(e, "data_offsets")) != NULL &&
             cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off)) &&
             cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)(off + bytes)));
        off += bytes;
    }
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!text) return NULL;
    size_t l = strlen(text), padded = (l + 7) / 8 * 8;
    char *out = realloc(text, padded + 1);
    if (!out) {
        free(text);
        return NULL;
    }
    memset(out + l, ' ', padded - l);
    out[padded] = 0;
    *len = padded;
    return out;
}

/* Tensor data as little-endian bytes. */
static nb_status write_tensor(nb_atomic_file *af, const nb_tensor *t)
{
    const int little = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;
    size_t bytes = (size_t)t->numel * (t->dtype == NB_I64 ? 8 : 4);
    if (little) return nb__atomic_write(af, t->data, bytes);
    unsigned char buf[1 << 14];
    const unsigned char *src = t->data;
    size_t esz = t->dtype == NB_I64 ? 8 : 4;
    for (size_t off = 0; off < bytes;) {
        size_t k = bytes - off < sizeof buf ? bytes - off : sizeof buf;
        for (size_t i = 0; i < k; i += esz) {
            if (esz == 8) {
                uint64_t v;
                memcpy(&v, src + off + i, 8);
                st64(buf + i, v);
            } else {
                uint32_t v;
                memcpy(&v, src + off + i, 4);
                st32(buf + i, v);
            }
        }
        if (nb__atomic_write(af, buf, k)) return NB_ERR_IO;
        off += k;
    }
    return NB_OK;
}

nb_status nb_safetensors_write(const char *path, const nb_named_tensor *ts, int n, const char *const *meta,
                               int n_meta)
{
    if (!path || n < 0 || (n && !ts) || n_meta < 0 || (n_meta && !meta))
        return nb__fail(NB_ERR_ARG, "nb_safetensors_write: bad arguments");
    for (int i = 0; i < n; i++) {
        if (!ts[i].name || !ts[i].tensor)
            return nb__fail(NB_ERR_ARG, "writing %s: entry %d has no name or no tensor", path, i);
        if (!strcmp(ts[i].name, "__metadata__"))
            return nb__fail(NB_ERR_ARG, "writing %s: \"__metadata__\" cannot be a tensor name", path);
        if (ts[i].tensor->dtype != NB_F32 && ts[i].tensor->dtype != NB_I64)
            return nb__fail(NB_ERR_ARG, "writing %s: tensor '%.200s' has an unsupported dtype", path, ts[i].name);
        for (int k = 0; k < i; k++)
            if (!strcmp(ts[k].name, ts[i].name))
                return nb__fail(NB_ERR_ARG, "writing %s: duplicate tensor name '%.200s'", path, ts[i].name);
    }
    for (int i = 0; i < n_meta; i++) {
        if (!meta[2 * i] || !meta[2 * i + 1])
            return nb__fail(NB_ERR_ARG, "writing %s: metadata pair %d has a NULL key or value", path, i);
        for (int k = 0; k < i; k++)
            if (!strcmp(meta[2 * k], meta[2 * i]))
                return nb__fail(NB_ERR_ARG, "writing %s: duplicate metadata key '%.200s'", path, meta[2 * i]);
    }

    size_t hlen = 0;
    char *h = header_json(ts, n, meta, n_meta, &hlen);
    if (!h) return nb__fail(NB_ERR_MEM, "writing %s: out of memory", path);

    nb_atomic_file af;
    if (nb__atomic_begin(&af, path)) {
        free(h);
        return NB_ERR_IO;
    }
    unsigned char lenb[8];
    st64(lenb, hlen);
    nb__atomic_write(&af, lenb, 8);
    nb__atomic_write(&af, h, hlen);
    free(h);
    for (int i = 0; i < n && !af.failed; i++) write_tensor(&af, ts[i].tensor);
    return nb__atomic_commit(&af);
}

/* ------------------------------------------------------------------------ */
/* modules: state_dict in and out                                            */
/* ------------------------------------------------------------------------ */

nb_status nb_save_safetensors(nb_module *m, const char *path)
{
    if (!m || !path) return nb__fail(NB_ERR_ARG, "nb_save_safetensors: NULL argument");
    int n;
    nb_clear_error();
    const nb_named_tensor *s = nb_module_state(m, &n);
    if (!s && n == 0 && *nb_last_error()) return NB_ERR_MEM;
    /* "format": "pt" is what safetensors.torch writes; readers such as transformers look for it */
    static const char *const meta[] = {"format", "pt"};
    return nb_safetensors_write(path, s, n, meta, 1);
}

/* Append "name" to a list message, keeping the whole list under `limit` bytes
 * and counting what did not fit. */
static void list_add(sbuf *b, const char *name, size_t limit, int *omitted)
{
    if (*omitted || b->len + strlen(name) + 2 > limit) {
        (*omitted)++;
        return;
    }
    if (b->len) sb_str(b, ", ");
    sb_str(b, name);
}

static void list_end(sbuf *b, int omitted)
{
    if (omitted) {
        char more[48];
        snprintf(more, sizeof more, " and %d more", omitted);
        sb_str(b, more);
    }
}

nb_status nb_load_safetensors(nb_module *m, const char *path, int strict)
{
    if (!m || !path) return nb__fail(NB_ERR_ARG, "nb_load_safetensors: NULL argument");
    nb_status st;
    nb_safetensors *f = st_open(path, &st);
    if (!f) return st;
    int n;
    nb_clear_error();
    const nb_named_tensor *s = nb_module_state(m, &n);
    if (!s && n == 0 && *nb_last_error()) {
        nb_safetensors_close(f);
        return NB_ERR_MEM;
    }
    int *match = malloc((size_t)(n ? n : 1) * sizeof *match);
    char *used = calloc((size_t)(f->n ? f->n : 1), 1);
    void **staged = calloc((size_t)(n ? n : 1), sizeof *staged);
    sbuf missing = {0}, unexpected = {0}, bad = {0};
    int n_missing = 0, n_unexpected = 0, n_bad = 0, om_missing = 0, om_unexpected = 0, om_bad = 0;
    st = NB_OK;
    if (!match || !used || !staged) {
        st = nb__fail(NB_ERR_MEM, "loading %s: out of memory", path);
        goto done;
    }
    /* 1. names, shapes and dtypes, before anything is read */
    for (int i = 0; i < n; i++) {
        const nb_tensor *t = s[i].tensor;
        int k = match[i] = nb_safetensors_find(f, s[i].name);
        if (k < 0) {
            n_missing++;
            list_add(&missing, s[i].name, 400, &om_missing);
            continue;
        }
        used[k] = 1;
        const st_entry *e = &f->e[k];
        int same = e->ndim == t->ndim;
        for (int d = 0; same && d < t->ndim; d++) same = e->shape[d] == t->shape[d];
        char msg[600];
        if (!same) {
            char fs[160], ms[160];
            nb__shape_str(e->ndim, e->shape, fs, sizeof fs);
            nb__shape_str(t->ndim, t->shape, ms, sizeof ms);
            snprintf(msg, sizeof msg, "%s: the file has %s, the module has %s", s[i].name, fs, ms);
        } else if (t->dtype == NB_I64 && DT[e->dt].kind == K_FLOAT) {
            snprintf(msg, sizeof msg, "%s: the file has floating-point %s, the module has an integer tensor",
                     s[i].name, DT[e->dt].name);
        } else {
            continue;
        }
        if (!same) st = NB_ERR_SHAPE;
        n_bad++;
        if (bad.len) sb_str(&bad, "; ");
        if (bad.len + strlen(msg) > 700)
            om_bad++;
        else
            sb_str(&bad, msg);
    }
    for (int k = 0; k < f->n; k++)
        if (!used[k]) {
            n_unexpected++;
            list_add(&unexpected, f->e[k].name, 400, &om_unexpected);
        }
    if (n_bad) {
        list_end(&bad, om_bad);
        if (!st) st = NB_ERR_ARG;
        nb__fail(st, "loading %s: %s for %d tensor%s: %s", path, st == NB_ERR_SHAPE ? "shape mismatch" : "dtype mismatch",
                 n_bad, n_bad > 1 ? "s" : "", bad.s);
        goto done;
    }
    if (strict && (n_missing || n_unexpected)) {
        list_end(&missing, om_missing);
        list_end(&unexpected, om_unexpected);
        st = nb__fail(NB_ERR_ARG, "loading %s (strict): %s%s%s%s%s", path, n_missing ? "missing keys: " : "",
                      n_missing ? missing.s : "", n_missing && n_unexpected ? "; " : "",
                      n_unexpected ? "unexpected keys: " : "", n_unexpected ? unexpected.s : "");
        goto done;
    }
    /* 2. read every matched tensor, so a read error leaves the module unchanged */
    for (int i = 0; i < n && !st; i++) {
        if (match[i] < 0) continue;
        const st_entry *e = &f->e[match[i]];
        size_t outsz = DT[e->dt].kind == K_FLOAT ? 4 : 8;
        staged[i] = malloc(s[i].tensor->numel ? (size_t)s[i].tensor->numel * outsz : 1);
        if (!staged[i])
            st = nb__fail(NB_ERR_MEM, "loading %s: out of memory for '%.200s'", path, s[i].name);
        else
            st = read_entry(f, match[i], staged[i]);
    }
    if (st) goto done;
    /* 3. copy in */
    for (int i = 0; i < n; i++) {
        if (match[i] < 0) continue;
        nb_tensor *t = s[i].tensor;
        int from_float = DT[f->e[match[i]].dt].kind == K_FLOAT;
        if (t->dtype == NB_F32 && !from_float) {
            const int64_t *q = staged[i];
            for (int64_t k = 0; k < t->numel; k++) nb__f(t)[k] = (float)q[k];
        } else {
            memcpy(t->data, staged[i], (size_t)t->numel * (t->dtype == NB_F32 ? 4 : 8));
        }
        nb__bump_version(t);
    }
done:
    if (staged)
        for (int i = 0; i < n; i++) free(staged[i]);
    free(staged);
    free(match);
    free(used);
    free(missing.s);
    free(unexpected.s);
    free(bad.s);
    nb_safetensors_close(f);
    return st;
}
