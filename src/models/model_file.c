/* model_file.c - model files (.nbm): a text format that reads like the PyTorch
 * module it builds (docs/model-files.md).
 *
 *     input(1, 28, 28)                  # optional, first
 *     conv2d(1, 32, 3, padding=1)       # child "0" of the top-level Sequential
 *     fc: linear(64, 10)                # a named child
 *     layer1: sequential {              # a block; its children are "layer1.0", ...
 *         0: residual(activation=relu) {
 *             ...
 *             downsample: sequential { ... }   # the shortcut of the residual
 *         }
 *     }
 *
 * Each statement is one line: [NAME ':'] LAYER ['{'], or '}' closing a block. The
 * layer is parsed by the spec parser (src/core/spec.c), so a layer reads like its
 * Python call. Layers are built in file order (the weights' draws follow it) as the
 * library's modules, in Sequential and residual containers (src/nn/residual.c), so the
 * state_dict keys are those PyTorch would give the same nn.Sequential. The output
 * shape of every layer is inferred from the input shape while loading, and a
 * layer whose input does not fit fails naming its line, its call and both shapes. */
#include "core/error.h"
#include "core/tensor.h"
#include "core/ctx.h"
#include "core/spec.h"
#include "nn/layers.h"
#include "nn/module.h"
#include "nn/residual.h"
#include "ops/window.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NESTING 64 /* blocks inside blocks: deeper files are refused, not a stack overflow */

/* A shape without the batch dimension. */
typedef struct {
    int n;
    int64_t d[NB_MAX_DIMS];
} shape;

typedef struct {
    nb_ctx *ctx;
    const char *file;  /* name used in messages */
    char **lines;
    int nlines;
    int cur;           /* index of the next line to read */
    int lineno;        /* 1-based number of the line being parsed */
    int located;       /* the current message already names file and line */
    int statements;    /* statements seen so far (input() must be the first) */
    int64_t given[3];  /* the caller's (C, H, W); zeros: not given */
    shape input;       /* the input shape used */
    nb_model_summary *sum;
    int sum_cap;
} mf;

/* ---- messages ---- */

static void shape_str(const shape *s, char *buf, size_t n)
{
    size_t k = 0;
    buf[0] = 0;
    for (int i = 0; i < s->n && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, i ? "x%lld" : "%lld", (long long)s->d[i]);
    if (s->n == 0) snprintf(buf, n, "scalar");
}

/* "file:line:col: message" (col 0: "file:line: message") */
static nb_status fail_at(mf *p, nb_status code, int col, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static nb_status fail_at(mf *p, nb_status code, int col, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    p->located = 1;
    if (col > 0) return nb__fail(code, "%s:%d:%d: %s", p->file, p->lineno, col, msg);
    return nb__fail(code, "%s:%d: %s", p->file, p->lineno, msg);
}

/* A spec reader's error as "file:line:col: ...": its column (of the item text,
 * nb__last_error_pos) moved to the line by off. */
static nb_status spec_error(mf *p, int off)
{
    const nb__error_pos *e = nb__last_error_pos();
    if (e->col) return fail_at(p, NB_ERR_FORMAT, e->col + off, "%s", e->text);
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", nb_last_error());
    return fail_at(p, NB_ERR_FORMAT, 0, "%s", msg);
}

/* Column (1-based, in code points) of byte position q of line s. */
static int col_of(const char *s, const char *q)
{
    int c = 1;
    for (const char *t = s; t < q; t++)
        if (((unsigned char)*t & 0xC0) != 0x80) c++;
    return c;
}

/* ---- one layer: its arguments and shape ---- */

typedef struct {
    mf *p;
    const nb__spec_item *it;
    int off;          /* line column of the item's column 1, minus 1 */
    const char *text; /* the call as written, for messages: "linear(3136, 128)" */
    shape in;         /* the input shape */
    shape flat_from;  /* when the input comes from a flatten: the shape before it (n = 0: not) */
} layer_ctx;

static int item_col(const layer_ctx *L) { return L->it->col + L->off; }

/* "file:line: CALL MESSAGE": a shape that does not fit */
static nb_status shape_fail(layer_ctx *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static nb_status shape_fail(layer_ctx *L, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return fail_at(L->p, NB_ERR_SHAPE, 0, "%s %s", L->text, msg);
}

/* " (input shape 32x7x7)" or " (input shape 1568, flattened from 32x7x7)" */
static const char *in_desc(const layer_ctx *L, char *buf, size_t n)
{
    char a[128], b[128];
    shape_str(&L->in, a, sizeof a);
    if (L->flat_from.n) {
        shape_str(&L->flat_from, b, sizeof b);
        snprintf(buf, n, " (input shape %s, flattened from %s)", a, b);
    } else {
        snprintf(buf, n, " (input shape %s)", a);
    }
    return buf;
}

/* Positional arguments first (at most max_pos), then keywords among keys: the spec
 * parser's check, with the model file's messages. */
static nb_status check_args(layer_ctx *L, const char *const *keys, int max_pos)
{
    const nb__spec_item *it = L->it;
    int i;
    nb__spec_fault f = nb__spec_find_fault(it, keys, &max_pos, &i);
    if (f == NB__SPEC_NO_FAULT) return NB_OK;
    const nb__spec_arg *a = &it->args[i];
    if (f == NB__SPEC_TOO_MANY_POS)
        return fail_at(L->p, NB_ERR_FORMAT, a->key_col + L->off,
                       "%s takes %s%d positional argument%s, got %d", it->name, max_pos ? "at most " : "", max_pos,
                       max_pos == 1 ? "" : "s", it->n_pos);
    if (f == NB__SPEC_GIVEN_TWICE)
        return fail_at(L->p, NB_ERR_FORMAT, a->key_col + L->off, "%s: '%s' given twice (positionally and here)",
                       it->name, a->key);
    char list[512] = "";
    for (int j = 0; keys[j]; j++) {
        strncat(list, j ? ", " : "", sizeof list - strlen(list) - 1);
        strncat(list, keys[j], sizeof list - strlen(list) - 1);
    }
    return fail_at(L->p, NB_ERR_FORMAT, a->key_col + L->off, "unknown keyword argument '%s' for %s (%s%s)", a->key,
                   it->name, keys[0] ? "it takes " : "it takes no arguments", list);
}

static nb_status require(layer_ctx *L, const char *key, int pos)
{
    if (nb__spec_get(L->it, key, pos)) return NB_OK;
    return fail_at(L->p, NB_ERR_FORMAT, item_col(L), "%s needs %s", L->it->name, key);
}

static nb_status get_int(layer_ctx *L, const char *key, int pos, long def, long *out)
{
    return nb__spec_int(L->it, key, pos, def, out) ? spec_error(L->p, L->off) : NB_OK;
}

static nb_status get_num(layer_ctx *L, const char *key, int pos, double def, double *out)
{
    return nb__spec_num(L->it, key, pos, def, out) ? spec_error(L->p, L->off) : NB_OK;
}

static nb_status get_bool(layer_ctx *L, const char *key, int pos, int def, int *out)
{
    return nb__spec_bool(L->it, key, pos, def, out) ? spec_error(L->p, L->off) : NB_OK;
}

/* A positive integer argument (required when def is 0). */
static nb_status get_pos_int(layer_ctx *L, const char *key, int pos, long def, long *out)
{
    if (!def && require(L, key, pos)) return NB_ERR_FORMAT;
    if (get_int(L, key, pos, def, out)) return NB_ERR_FORMAT;
    if (*out < 1) {
        const nb__spec_arg *a = nb__spec_get(L->it, key, pos);
        return fail_at(L->p, NB_ERR_FORMAT, a->col + L->off, "%s: '%s' must be positive, got %ld", L->it->name, key,
                       *out);
    }
    return NB_OK;
}

/* An int or an (h, w) pair of non-negative ints; def when absent. */
static nb_status get_pair(layer_ctx *L, const char *key, int pos, int def, int out[2])
{
    double v[2];
    int n;
    if (nb__spec_tuple(L->it, key, pos, v, 2, &n)) return spec_error(L->p, L->off);
    if (n == 0) v[0] = v[1] = def;
    else if (n == 1) v[1] = v[0];
    for (int i = 0; i < 2; i++)
        if (v[i] != floor(v[i]) || v[i] < 0 || v[i] > 1e6) {
            const nb__spec_arg *a = nb__spec_get(L->it, key, pos);
            return fail_at(L->p, NB_ERR_FORMAT, a->col + L->off,
                           "%s: '%s' needs a non-negative integer or a pair of them", L->it->name, key);
        }
    out[0] = (int)v[0];
    out[1] = (int)v[1];
    return NB_OK;
}

/* momentum: a number, or None (cumulative moving average) */
static nb_status get_momentum(layer_ctx *L, int pos, float *m, int *set, int *cumulative)
{
    const nb__spec_arg *a = nb__spec_get(L->it, "momentum", pos);
    *set = *cumulative = 0;
    *m = 0;
    if (!a) return NB_OK;
    if (a->kind == NB__SPEC_STR && !strcmp(a->str, "None")) {
        *cumulative = 1;
        return NB_OK;
    }
    double v;
    if (get_num(L, "momentum", pos, 0.1, &v)) return NB_ERR_FORMAT;
    *m = (float)v;
    *set = 1;
    return NB_OK;
}

static nb_status need_chw(layer_ctx *L, const char *what)
{
    char d[320];
    if (L->in.n == 3) return NB_OK;
    return shape_fail(L, "expects a (C, H, W) input %s, got %d dims%s", what, L->in.n, in_desc(L, d, sizeof d));
}

/* ---- weight_init=kaiming_normal(mode=fan_out, nonlinearity=relu) ---- */

static nb_status apply_init(layer_ctx *L, nb_module *m)
{
    const nb__spec_arg *a = nb__spec_get(L->it, "weight_init", -1);
    if (!a) return NB_OK;
    nb__spec_item bare = {0};
    const nb__spec_item *it = a->item;
    if (a->kind == NB__SPEC_STR) { /* weight_init=xavier_uniform */
        bare.name = a->str;
        bare.col = a->col;
        it = &bare;
    } else if (a->kind != NB__SPEC_ITEM) {
        return fail_at(L->p, NB_ERR_FORMAT, a->col + L->off, "weight_init needs an initializer such as "
                       "kaiming_normal(mode=fan_out, nonlinearity=relu)");
    }
    layer_ctx I = *L;
    I.it = it;
    static const char *const kaiming[] = {"a", "mode", "nonlinearity", NULL};
    static const char *const xavier[] = {"gain", NULL};
    int is_kaiming = !strcmp(it->name, "kaiming_normal") || !strcmp(it->name, "kaiming_uniform");
    int is_xavier = !strcmp(it->name, "xavier_normal") || !strcmp(it->name, "xavier_uniform") ||
                    !strcmp(it->name, "orthogonal");
    if (!is_kaiming && !is_xavier)
        return fail_at(L->p, NB_ERR_FORMAT, it->col + L->off, "unknown weight_init '%s' (kaiming_normal, "
                       "kaiming_uniform, xavier_normal, xavier_uniform or orthogonal)", it->name);
    if (check_args(&I, is_kaiming ? kaiming : xavier, is_kaiming ? 3 : 1)) return NB_ERR_FORMAT;
    nb_tensor *w = m->own[0].tensor;
    nb_rng *r = &L->p->ctx->rng;
    nb_status st;
    if (is_kaiming) {
        double slope;
        const char *mode, *nl;
        if (get_num(&I, "a", 0, 0, &slope)) return NB_ERR_FORMAT;
        if (nb__spec_str(it, "mode", 1, "fan_in", &mode) || nb__spec_str(it, "nonlinearity", 2, "leaky_relu", &nl))
            return spec_error(L->p, L->off);
        static const char *const nls[] = {"linear", "conv2d", "sigmoid", "tanh", "relu", "leaky_relu", "selu", NULL};
        int k = 0;
        while (nls[k] && strcmp(nls[k], nl)) k++;
        if (!nls[k] || (strcmp(mode, "fan_in") && strcmp(mode, "fan_out")))
            return fail_at(L->p, NB_ERR_FORMAT, it->col + L->off, "%s: mode must be fan_in or fan_out and "
                           "nonlinearity one of linear, conv2d, sigmoid, tanh, relu, leaky_relu, selu", it->name);
        nb_fan_mode fm = strcmp(mode, "fan_out") ? NB_FAN_IN : NB_FAN_OUT;
        st = it->name[8] == 'n' ? nb_init_kaiming_normal(w, slope, fm, (nb_nonlinearity)k, r)
                                : nb_init_kaiming_uniform(w, slope, fm, (nb_nonlinearity)k, r);
    } else {
        double gain;
        if (get_num(&I, "gain", 0, 1.0, &gain)) return NB_ERR_FORMAT;
        st = !strcmp(it->name, "xavier_normal")    ? nb_init_xavier_normal(w, gain, r)
             : !strcmp(it->name, "xavier_uniform") ? nb_init_xavier_uniform(w, gain, r)
                                                   : nb_init_orthogonal(w, gain, r);
    }
    return st ? fail_at(L->p, st, item_col(L), "weight_init: %s", nb_last_error()) : NB_OK;
}

/* ---- the layers: check arguments, infer the output shape, build ---- */

static nb_module *b_conv2d(layer_ctx *L, shape *out)
{
    static const char *const keys[] = {"in_channels", "out_channels", "kernel_size", "stride", "padding",
                                       "dilation", "groups", "bias", "weight_init", NULL};
    long in, oc, groups;
    int k[2], s[2], pad[2] = {0, 0}, dil[2], bias;
    nb_conv2d_opts o = {0};
    char d[320];
    if (check_args(L, keys, 8) || get_pos_int(L, "in_channels", 0, 0, &in) ||
        get_pos_int(L, "out_channels", 1, 0, &oc) || require(L, "kernel_size", 2) ||
        get_pair(L, "kernel_size", 2, 0, k) || get_pair(L, "stride", 3, 1, s) || get_pair(L, "dilation", 5, 1, dil) ||
        get_pos_int(L, "groups", 6, 1, &groups) || get_bool(L, "bias", 7, 1, &bias))
        return NULL;
    const nb__spec_arg *pa = nb__spec_get(L->it, "padding", 4);
    if (pa && pa->kind == NB__SPEC_STR) {
        if (strcmp(pa->str, "same") && strcmp(pa->str, "valid")) {
            fail_at(L->p, NB_ERR_FORMAT, pa->col + L->off, "conv2d: padding must be a number, a pair, 'same' or "
                    "'valid', got '%s'", pa->str);
            return NULL;
        }
        o.padding_mode = strcmp(pa->str, "same") ? NB_PADDING_VALID : NB_PADDING_SAME;
    } else if (get_pair(L, "padding", 4, 0, pad)) {
        return NULL;
    }
    if (k[0] < 1 || k[1] < 1 || s[0] < 1 || s[1] < 1 || dil[0] < 1 || dil[1] < 1) {
        fail_at(L->p, NB_ERR_FORMAT, item_col(L), "conv2d: kernel_size, stride and dilation must be positive");
        return NULL;
    }
    if (need_chw(L, "")) return NULL;
    if (L->in.d[0] != in) {
        shape_fail(L, "expects %ld input channels, got %lld%s", in, (long long)L->in.d[0], in_desc(L, d, sizeof d));
        return NULL;
    }
    *out = L->in;
    out->d[0] = oc;
    for (int i = 0; i < 2; i++) {
        int64_t n = L->in.d[1 + i];
        out->d[1 + i] = o.padding_mode == NB_PADDING_SAME ? n : nb__window_out(n, k[i], s[i], pad[i], pad[i], dil[i], 0);
        if (out->d[1 + i] < 1) {
            shape_fail(L, "gives an empty output: its %dx%d kernel (dilation %d) is larger than the padded input%s",
                       k[0], k[1], dil[i], in_desc(L, d, sizeof d));
            return NULL;
        }
    }
    o.stride[0] = s[0], o.stride[1] = s[1];
    o.padding[0] = pad[0], o.padding[1] = pad[1];
    o.dilation[0] = dil[0], o.dilation[1] = dil[1];
    o.groups = (int)groups;
    o.no_bias = !bias;
    nb_module *m = nb_conv2d_new(L->p->ctx, in, oc, k[0], k[1], &o);
    if (m && apply_init(L, m)) {
        nb_module_free(m);
        return NULL;
    }
    return m;
}

static nb_module *b_linear(layer_ctx *L, shape *out)
{
    static const char *const keys[] = {"in_features", "out_features", "bias", "weight_init", NULL};
    long in, of;
    int bias;
    char d[320];
    if (check_args(L, keys, 3) || get_pos_int(L, "in_features", 0, 0, &in) ||
        get_pos_int(L, "out_features", 1, 0, &of) || get_bool(L, "bias", 2, 1, &bias))
        return NULL;
    int64_t got = L->in.n ? L->in.d[L->in.n - 1] : 0;
    if (L->in.n == 0 || got != in) {
        shape_fail(L, "expects %ld input features, got %lld%s%s", in, (long long)got, in_desc(L, d, sizeof d),
                   L->in.n > 1 ? "; flatten() first?" : "");
        return NULL;
    }
    *out = L->in;
    out->d[out->n - 1] = of;
    nb_module *m = nb_linear_new(L->p->ctx, in, of, &(nb_linear_opts){.no_bias = !bias});
    if (m && apply_init(L, m)) {
        nb_module_free(m);
        return NULL;
    }
    return m;
}

/* The input's channels (dim 0) must be n; ndim in [lo, hi]. */
static nb_status check_channels(layer_ctx *L, const char *what, int64_t n, int lo, int hi)
{
    char d[320];
    if (L->in.n < lo || L->in.n > hi) {
        if (lo == hi) return shape_fail(L, "expects a %d-dim input per sample, got %d dims%s", lo, L->in.n,
                                        in_desc(L, d, sizeof d));
        return shape_fail(L, "expects a %d- to %d-dim input per sample, got %d dims%s", lo, hi, L->in.n,
                          in_desc(L, d, sizeof d));
    }
    if (L->in.d[0] != n)
        return shape_fail(L, "expects %lld %s, got %lld%s", (long long)n, what, (long long)L->in.d[0],
                          in_desc(L, d, sizeof d));
    return NB_OK;
}

static nb_module *batchnorm(layer_ctx *L, shape *out, int two_d)
{
    static const char *const keys[] = {"num_features", "eps", "momentum", "affine", "track_running_stats", NULL};
    long nf;
    double eps;
    int affine, track;
    nb_batchnorm_opts o = {0};
    if (check_args(L, keys, 5) || get_pos_int(L, "num_features", 0, 0, &nf) || get_num(L, "eps", 1, 1e-5, &eps) ||
        get_momentum(L, 2, &o.momentum, &o.momentum_set, &o.cumulative_average) ||
        get_bool(L, "affine", 3, 1, &affine) || get_bool(L, "track_running_stats", 4, 1, &track) ||
        check_channels(L, "features (channels)", nf, two_d ? 3 : 1, two_d ? 3 : 2))
        return NULL;
    *out = L->in;
    o.eps = (float)eps;
    o.no_affine = !affine;
    o.no_running_stats = !track;
    return two_d ? nb_batchnorm2d_new(L->p->ctx, nf, &o) : nb_batchnorm1d_new(L->p->ctx, nf, &o);
}
static nb_module *b_batchnorm1d(layer_ctx *L, shape *out) { return batchnorm(L, out, 0); }
static nb_module *b_batchnorm2d(layer_ctx *L, shape *out) { return batchnorm(L, out, 1); }

static nb_module *instancenorm(layer_ctx *L, shape *out, int two_d)
{
    static const char *const keys[] = {"num_features", "eps", "momentum", "affine", "track_running_stats", NULL};
    long nf;
    double eps;
    int cumulative;
    nb_instancenorm_opts o = {0};
    if (check_args(L, keys, 5) || get_pos_int(L, "num_features", 0, 0, &nf) || get_num(L, "eps", 1, 1e-5, &eps) ||
        get_momentum(L, 2, &o.momentum, &o.momentum_set, &cumulative) || get_bool(L, "affine", 3, 0, &o.affine) ||
        get_bool(L, "track_running_stats", 4, 0, &o.track_running_stats) ||
        check_channels(L, "channels", nf, two_d ? 3 : 2, two_d ? 3 : 2))
        return NULL;
    if (cumulative) {
        fail_at(L->p, NB_ERR_FORMAT, item_col(L), "%s: momentum=None is not supported", L->it->name);
        return NULL;
    }
    *out = L->in;
    o.eps = (float)eps;
    return two_d ? nb_instancenorm2d_new(L->p->ctx, nf, &o) : nb_instancenorm1d_new(L->p->ctx, nf, &o);
}
static nb_module *b_instancenorm1d(layer_ctx *L, shape *out) { return instancenorm(L, out, 0); }
static nb_module *b_instancenorm2d(layer_ctx *L, shape *out) { return instancenorm(L, out, 1); }

static nb_module *b_layernorm(layer_ctx *L, shape *out)
{
    static const char *const keys[] = {"normalized_shape", "eps", "elementwise_affine", NULL};
    double v[NB_MAX_DIMS], eps;
    int n, affine;
    char d[320];
    if (check_args(L, keys, 3) || require(L, "normalized_shape", 0)) return NULL;
    if (nb__spec_tuple(L->it, "normalized_shape", 0, v, NB_MAX_DIMS - 1, &n)) {
        spec_error(L->p, L->off);
        return NULL;
    }
    if (get_num(L, "eps", 1, 1e-5, &eps) || get_bool(L, "elementwise_affine", 2, 1, &affine)) return NULL;
    int64_t ns[NB_MAX_DIMS];
    int fits = n <= L->in.n;
    for (int i = 0; i < n; i++) {
        ns[i] = (int64_t)v[i];
        if (v[i] != floor(v[i]) || v[i] < 1) {
            fail_at(L->p, NB_ERR_FORMAT, item_col(L), "layernorm: normalized_shape needs positive integers");
            return NULL;
        }
        if (fits && L->in.d[L->in.n - n + i] != ns[i]) fits = 0;
    }
    if (!fits) {
        shape s = {.n = n};
        memcpy(s.d, ns, sizeof(int64_t) * (size_t)n);
        char a[128];
        shape_str(&s, a, sizeof a);
        shape_fail(L, "expects the input to end in %s%s", a, in_desc(L, d, sizeof d));
        return NULL;
    }
    *out = L->in;
    return nb_layernorm_new(L->p->ctx, n, ns,
                            &(nb_layernorm_opts){.eps = (float)eps, .no_elementwise_affine = !affine});
}

static nb_module *b_groupnorm(layer_ctx *L, shape *out)
{
    static const char *const keys[] = {"num_groups", "num_channels", "eps", "affine", NULL};
    long g, c;
    double eps;
    int affine;
    if (check_args(L, keys, 4) || get_pos_int(L, "num_groups", 0, 0, &g) || get_pos_int(L, "num_channels", 1, 0, &c) ||
        get_num(L, "eps", 2, 1e-5, &eps) || get_bool(L, "affine", 3, 1, &affine) ||
        check_channels(L, "channels", c, 1, NB_MAX_DIMS - 1))
        return NULL;
    if (c % g) {
        fail_at(L->p, NB_ERR_FORMAT, item_col(L), "groupnorm: num_channels %ld is not divisible by num_groups %ld", c,
                g);
        return NULL;
    }
    *out = L->in;
    return nb_groupnorm_new(L->p->ctx, g, c, &(nb_groupnorm_opts){.eps = (float)eps, .no_affine = !affine});
}

static const char *const no_keys[] = {NULL};

static nb_module *b_relu(layer_ctx *L, shape *out)
{
    *out = L->in;
    return check_args(L, no_keys, 0) ? NULL : nb_relu_new(L->p->ctx);
}
static nb_module *b_sigmoid(layer_ctx *L, shape *out)
{
    *out = L->in;
    return check_args(L, no_keys, 0) ? NULL : nb_sigmoid_new(L->p->ctx);
}
static nb_module *b_tanh(layer_ctx *L, shape *out)
{
    *out = L->in;
    return check_args(L, no_keys, 0) ? NULL : nb_tanh_new(L->p->ctx);
}

static nb_module *b_leaky_relu(layer_ctx *L, shape *out)
{
    static const char *const keys[] = {"negative_slope", NULL};
    double v;
    *out = L->in;
    if (check_args(L, keys, 1) || get_num(L, "negative_slope", 0, 0.01, &v)) return NULL;
    nb_module *m = nb_leaky_relu_new(L->p->ctx, (float)v);
    nb__leaky_relu_set_slope(m, (float)v); /* 0 included */
    return m;
}

static nb_module *b_elu(layer_ctx *L, shape *out)
{
    static const char *const keys[] = {"alpha", NULL};
    double v;
    *out = L->in;
    if (check_args(L, keys, 1) || get_num(L, "alpha", 0, 1.0, &v)) return NULL;
    nb_module *m = nb_elu_new(L->p->ctx, (float)v);
    nb__elu_set_alpha(m, (float)v); /* 0 included */
    return m;
}

static nb_module *b_prelu(layer_ctx *L, shape *out)
{
    static const char *const keys[] = {"num_parameters", "init", NULL};
    long n;
    double init;
    if (check_args(L, keys, 2) || get_pos_int(L, "num_parameters", 0, 1, &n) || get_num(L, "init", 1, 0.25, &init) ||
        (n > 1 && check_channels(L, "channels", n, 1, NB_MAX_DIMS - 1)))
        return NULL;
    *out = L->in;
    nb_module *m = nb_prelu_new(L->p->ctx, n, (float)init);
    if (m && nb_init_constant(m->own[0].tensor, (float)init)) { /* init=0 included */
        nb_module_free(m);
        return NULL;
    }
    return m;
}

static nb_module *softmax(layer_ctx *L, shape *out, int log)
{
    static const char *const keys[] = {"dim", NULL};
    long dim;
    char d[320];
    if (check_args(L, keys, 1) || require(L, "dim", 0) || get_int(L, "dim", 0, 0, &dim)) return NULL;
    int nd = L->in.n + 1; /* with the batch */
    if (dim < -nd || dim >= nd) {
        shape_fail(L, "dim %ld is out of range for a %d-dim batch%s", dim, nd, in_desc(L, d, sizeof d));
        return NULL;
    }
    *out = L->in;
    return log ? nb_log_softmax_new(L->p->ctx, (int)dim) : nb_softmax_new(L->p->ctx, (int)dim);
}
static nb_module *b_softmax(layer_ctx *L, shape *out) { return softmax(L, out, 0); }
static nb_module *b_log_softmax(layer_ctx *L, shape *out) { return softmax(L, out, 1); }

static nb_module *b_dropout(layer_ctx *L, shape *out)
{
    static const char *const keys[] = {"p", NULL};
    double pr;
    *out = L->in;
    if (check_args(L, keys, 1) || get_num(L, "p", 0, 0.5, &pr)) return NULL;
    if (!(pr >= 0 && pr <= 1)) {
        fail_at(L->p, NB_ERR_FORMAT, item_col(L), "dropout: p must be in [0, 1], got %g", pr);
        return NULL;
    }
    return nb_dropout_new(L->p->ctx, (float)pr);
}

static nb_module *b_flatten(layer_ctx *L, shape *out)
{
    static const char *const keys[] = {"start_dim", "end_dim", NULL};
    long sd, ed;
    char d[320];
    if (check_args(L, keys, 2) || get_int(L, "start_dim", 0, 1, &sd) || get_int(L, "end_dim", 1, -1, &ed)) return NULL;
    int nd = L->in.n + 1; /* dims of the batch */
    long s = sd < 0 ? sd + nd : sd, e = ed < 0 ? ed + nd : ed;
    if (s < 0 || s >= nd || e < 0 || e >= nd || s > e) {
        shape_fail(L, "start_dim %ld and end_dim %ld do not fit a %d-dim batch%s", sd, ed, nd, in_desc(L, d, sizeof d));
        return NULL;
    }
    int64_t full[NB_MAX_DIMS] = {1}; /* batch dim first */
    memcpy(full + 1, L->in.d, sizeof(int64_t) * (size_t)L->in.n);
    int64_t r[NB_MAX_DIMS];
    int n = 0;
    for (long i = 0; i < nd; i++) {
        if (i <= s || i > e) r[n++] = full[i];
        else r[n - 1] *= full[i];
    }
    if (s == 0) {
        shape_fail(L, "would flatten the batch dimension (start_dim 0); nabla models keep it%s",
                   in_desc(L, d, sizeof d));
        return NULL;
    }
    out->n = n - 1;
    memcpy(out->d, r + 1, sizeof(int64_t) * (size_t)out->n);
    return nb_flatten_new(L->p->ctx, (int)sd, (int)ed);
}

static nb_module *pool(layer_ctx *L, shape *out, int avg)
{
    static const char *const max_keys[] = {"kernel_size", "stride", "padding", "dilation", "ceil_mode", NULL};
    static const char *const avg_keys[] = {"kernel_size", "stride", "padding", "ceil_mode", "count_include_pad",
                                           "divisor_override", NULL};
    nb_pool2d_opts o = {0};
    int dil[2] = {1, 1}, include_pad = 1;
    long divisor = 0;
    char d[320];
    if (check_args(L, avg ? avg_keys : max_keys, avg ? 6 : 5) || require(L, "kernel_size", 0) ||
        get_pair(L, "kernel_size", 0, 0, o.kernel) || get_pair(L, "stride", 1, 0, o.stride) ||
        get_pair(L, "padding", 2, 0, o.padding) || (!avg && get_pair(L, "dilation", 3, 1, dil)) ||
        get_bool(L, "ceil_mode", avg ? 3 : 4, 0, &o.ceil_mode) ||
        (avg && (get_bool(L, "count_include_pad", 4, 1, &include_pad) ||
                 get_int(L, "divisor_override", 5, 0, &divisor))))
        return NULL;
    const nb__spec_arg *st = nb__spec_get(L->it, "stride", 1);
    if (st && st->kind == NB__SPEC_STR && !strcmp(st->str, "None")) o.stride[0] = o.stride[1] = 0;
    const nb__spec_arg *dv = avg ? nb__spec_get(L->it, "divisor_override", 5) : NULL;
    if (dv && dv->kind == NB__SPEC_NUM && divisor == 0) divisor = -1; /* PyTorch: "divisor must be not zero" */
    if (o.kernel[0] < 1 || o.kernel[1] < 1 || dil[0] < 1 || dil[1] < 1 || divisor < 0 ||
        (st && (o.stride[0] < 1 || o.stride[1] < 1))) {
        fail_at(L->p, NB_ERR_FORMAT, item_col(L), "%s: kernel_size, stride, dilation and divisor_override must be "
                "positive", L->it->name);
        return NULL;
    }
    if (need_chw(L, "")) return NULL;
    o.dilation[0] = dil[0], o.dilation[1] = dil[1];
    o.exclude_pad = !include_pad;
    o.divisor_override = (int)divisor;
    *out = L->in;
    for (int i = 0; i < 2; i++) {
        int s = o.stride[i] ? o.stride[i] : o.kernel[i];
        out->d[1 + i] = nb__window_out(L->in.d[1 + i], o.kernel[i], s, o.padding[i], o.padding[i], dil[i], o.ceil_mode);
        if (out->d[1 + i] < 1) {
            shape_fail(L, "gives an empty output: its %dx%d window is larger than the padded input%s", o.kernel[0],
                       o.kernel[1], in_desc(L, d, sizeof d));
            return NULL;
        }
    }
    return avg ? nb_avgpool2d_new(L->p->ctx, &o) : nb_maxpool2d_new(L->p->ctx, &o);
}
static nb_module *b_maxpool2d(layer_ctx *L, shape *out) { return pool(L, out, 0); }
static nb_module *b_avgpool2d(layer_ctx *L, shape *out) { return pool(L, out, 1); }

static nb_module *b_adaptive_avgpool2d(layer_ctx *L, shape *out)
{
    static const char *const keys[] = {"output_size", NULL};
    int sz[2];
    if (check_args(L, keys, 1) || require(L, "output_size", 0) || get_pair(L, "output_size", 0, 0, sz)) return NULL;
    if (sz[0] < 1 || sz[1] < 1) {
        fail_at(L->p, NB_ERR_FORMAT, item_col(L), "adaptive_avgpool2d: output_size must be positive");
        return NULL;
    }
    if (need_chw(L, "")) return NULL;
    *out = L->in;
    out->d[1] = sz[0], out->d[2] = sz[1];
    return nb_adaptive_avgpool2d_new(L->p->ctx, sz[0], sz[1]);
}

typedef struct {
    const char *name;
    nb_module *(*build)(layer_ctx *L, shape *out);
} layer_def;

static const layer_def layers[] = {
    {"conv2d", b_conv2d},
    {"linear", b_linear},
    {"batchnorm1d", b_batchnorm1d},
    {"batchnorm2d", b_batchnorm2d},
    {"instancenorm1d", b_instancenorm1d},
    {"instancenorm2d", b_instancenorm2d},
    {"layernorm", b_layernorm},
    {"groupnorm", b_groupnorm},
    {"relu", b_relu},
    {"leaky_relu", b_leaky_relu},
    {"prelu", b_prelu},
    {"elu", b_elu},
    {"tanh", b_tanh},
    {"sigmoid", b_sigmoid},
    {"softmax", b_softmax},
    {"log_softmax", b_log_softmax},
    {"dropout", b_dropout},
    {"flatten", b_flatten},
    {"maxpool2d", b_maxpool2d},
    {"avgpool2d", b_avgpool2d},
    {"adaptive_avgpool2d", b_adaptive_avgpool2d},
    {"sequential", NULL},
    {"residual", NULL},
};
#define NLAYERS (int)(sizeof layers / sizeof layers[0])

static nb_status unknown_layer(mf *p, const char *name, int col)
{
    int best = -1, bd = 99;
    for (int i = 0; i < NLAYERS; i++) {
        int dd = nb_edit_distance(name, layers[i].name);
        if (dd < bd) bd = dd, best = i;
    }
    if (best >= 0 && bd <= 3)
        return fail_at(p, NB_ERR_FORMAT, col, "unknown layer '%s' (did you mean %s?)", name, layers[best].name);
    char list[512] = "";
    for (int i = 0; i < NLAYERS; i++) {
        strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
        strncat(list, layers[i].name, sizeof list - strlen(list) - 1);
    }
    return fail_at(p, NB_ERR_FORMAT, col, "unknown layer '%s' (layers: %s)", name, list);
}

/* ---- summary rows ---- */

static void count_values(const nb_module *m, int64_t *params, int64_t *buffers)
{
    for (int i = 0; i < m->n_own; i++) *(m->own[i].is_buffer ? buffers : params) += m->own[i].tensor->numel;
    for (int i = 0; i < m->n_children; i++) count_values(m->children[i], params, buffers);
}

/* Reserve a row (filled when the layer is done); returns its index or -1. */
static int add_row(mf *p, const char *name, int depth)
{
    if (!p->sum) return -1;
    nb_model_summary *s = p->sum;
    if (s->n == p->sum_cap) {
        int nc = p->sum_cap ? p->sum_cap * 2 : 32;
        nb_model_layer *nl = realloc(s->layers, sizeof *nl * (size_t)nc);
        if (!nl) return -2;
        s->layers = nl;
        p->sum_cap = nc;
    }
    nb_model_layer *r = &s->layers[s->n];
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", name);
    r->depth = depth;
    r->line = p->lineno;
    return s->n++;
}

static void fill_row(mf *p, int row, const nb_module *m, const shape *out, int is_block)
{
    if (row < 0) return;
    nb_model_layer *r = &p->sum->layers[row];
    r->kind = nb_module_kind(m);
    r->is_block = is_block;
    r->ndim = out->n;
    memcpy(r->shape, out->d, sizeof(int64_t) * (size_t)out->n);
    count_values(m, &r->params, &r->buffers);
}

/* ---- statements and blocks ---- */

/* The next line with content, comments and trailing blanks removed; NULL at the end. */
static char *next_line(mf *p)
{
    while (p->cur < p->nlines) {
        char *s = p->lines[p->cur++];
        p->lineno = p->cur;
        char quote = 0;
        for (char *q = s; *q; q++) {
            if (quote) {
                if (*q == quote) quote = 0;
            } else if (*q == '\'' || *q == '"') {
                quote = *q;
            } else if (*q == '#') {
                *q = 0;
                break;
            }
        }
        size_t n = strlen(s);
        while (n && isspace((unsigned char)s[n - 1])) s[--n] = 0;
        const char *t = s;
        while (isspace((unsigned char)*t)) t++;
        if (*t) return s;
    }
    return NULL;
}

static int is_ident(char c) { return isalnum((unsigned char)c) || c == '_'; }

/* What a block knows while its statements are read. */
typedef struct {
    const char *prefix; /* the block's state_dict prefix ("" at the top) */
    int depth;
    int is_residual;
    shape in;           /* the block's input */
    shape cur;          /* the main path's output so far */
    shape flat_from;    /* the input of the last layer if it was a flatten (n = 0: it was not) */
    shape shortcut;     /* residual: the shortcut's output */
    const char **names; /* the children's names, an open-addressing hash set (linear time to check) */
    int names_cap, names_n;
} block_state;

static uint32_t name_hash(const char *s)
{
    uint32_t h = 2166136261u;
    while (*s) h = (h ^ (unsigned char)*s++) * 16777619u;
    return h;
}

static int names_has(const block_state *b, const char *name)
{
    if (!b->names_cap) return 0;
    for (uint32_t k = name_hash(name) & (uint32_t)(b->names_cap - 1); b->names[k];
         k = (k + 1) & (uint32_t)(b->names_cap - 1))
        if (!strcmp(b->names[k], name)) return 1;
    return 0;
}

/* Add name (kept by the caller) to b's set; 1 if it was there, -1 out of memory. */
static int names_add(block_state *b, const char *name)
{
    if (2 * (b->names_n + 1) > b->names_cap) {
        int cap = b->names_cap ? 2 * b->names_cap : 64;
        const char **t = calloc((size_t)cap, sizeof *t);
        if (!t) return -1;
        for (int i = 0; i < b->names_cap; i++)
            if (b->names[i]) {
                uint32_t k = name_hash(b->names[i]) & (uint32_t)(cap - 1);
                while (t[k]) k = (k + 1) & (uint32_t)(cap - 1);
                t[k] = b->names[i];
            }
        free(b->names);
        b->names = t, b->names_cap = cap;
    }
    uint32_t k = name_hash(name) & (uint32_t)(b->names_cap - 1);
    for (; b->names[k]; k = (k + 1) & (uint32_t)(b->names_cap - 1))
        if (!strcmp(b->names[k], name)) return 1;
    b->names[k] = name;
    b->names_n++;
    return 0;
}

static nb_status parse_block(mf *p, nb_module *parent, block_state *b, int open_line);

/* input(C, H, W): the input shape, which must agree with the caller's. */
static nb_status parse_input(mf *p, const nb__spec_item *it, int off, block_state *b)
{
    if (b->depth || p->statements > 1 || it->n_args < 1 || it->n_args > 3 || it->n_pos != it->n_args)
        return fail_at(p, NB_ERR_FORMAT, it->col + off,
                       "input(C, H, W) takes 1 to 3 sizes and must be the file's first statement");
    shape s = {.n = it->n_args};
    for (int i = 0; i < it->n_args; i++) {
        const nb__spec_arg *a = &it->args[i];
        if (a->kind != NB__SPEC_NUM || a->num != floor(a->num) || a->num < 1 || a->num > 1e9)
            return fail_at(p, NB_ERR_FORMAT, a->col + off, "input: sizes must be positive integers");
        s.d[i] = (int64_t)a->num;
    }
    const int64_t *g = p->given;
    if (g[0] || g[1] || g[2]) {
        int agree = s.n == 3;
        for (int i = 0; i < 3 && agree; i++) agree = !g[i] || g[i] == s.d[i];
        if (!agree) {
            char a[128], d[128];
            shape_str(&s, a, sizeof a);
            shape_str(&b->cur, d, sizeof d);
            return fail_at(p, NB_ERR_SHAPE, 0, "the model is for input %s but the data is %s", a, d);
        }
    }
    p->input = b->in = b->cur = s;
    return NB_OK;
}

/* residual(activation=relu) or sequential: the container, NULL with a message. */
static nb_module *new_block(mf *p, const nb__spec_item *it, int off)
{
    if (!strcmp(it->name, "sequential")) {
        if (it->n_args) {
            fail_at(p, NB_ERR_FORMAT, it->args[0].key_col + off, "sequential takes no arguments");
            return NULL;
        }
        return nb_sequential_new(p->ctx, NULL, 0);
    }
    static const char *const keys[] = {"activation", NULL};
    static const char *const acts[] = {"none", "relu", "tanh", "sigmoid", NULL};
    layer_ctx L = {.p = p, .it = it, .off = off};
    const char *a = "none";
    if (check_args(&L, keys, 1)) return NULL;
    if (nb__spec_str(it, "activation", 0, "none", &a)) {
        spec_error(p, off);
        return NULL;
    }
    int act = 0;
    while (acts[act] && strcmp(acts[act], a)) act++;
    if (!acts[act]) {
        fail_at(p, NB_ERR_FORMAT, it->col + off, "residual: activation must be none, relu, tanh or sigmoid, got '%s'",
                a);
        return NULL;
    }
    return nb__residual_new(p->ctx, act);
}

/* One statement "[name:] layer [{]" at line s: builds the layer (or the block and
 * its statements) and adds it to parent. */
static nb_status statement(mf *p, char *s, nb_module *parent, block_state *b, const nb__spec_item *it, int off,
                           const char *name, const char *text, int opens)
{
    if (!strcmp(it->name, "input")) {
        if (name[0] || opens) return fail_at(p, NB_ERR_FORMAT, it->col + off, "input(...) takes no name or block");
        return parse_input(p, it, off, b);
    }
    int k = 0;
    while (k < NLAYERS && strcmp(layers[k].name, it->name)) k++;
    if (k == NLAYERS) return unknown_layer(p, it->name, it->col + off);
    int block = !layers[k].build;
    if (block && !opens) return fail_at(p, NB_ERR_FORMAT, col_of(s, s + strlen(s)) , "expected '{' after %s", it->name);
    if (!block && opens)
        return fail_at(p, NB_ERR_FORMAT, col_of(s, s + strlen(s)) - 1, "%s is a layer, not a block: no '{' after it",
                       it->name);
    int name_col = col_of(s, s + strspn(s, " \t"));
    /* the child's name: as written, or its index among the parent's children */
    char child[128];
    if (name[0]) snprintf(child, sizeof child, "%s", name);
    else snprintf(child, sizeof child, "%d", parent->n_children);
    if (names_has(b, child))
        return fail_at(p, NB_ERR_FORMAT, name_col, "a second child named '%s' in this block", child);
    char full[256];
    snprintf(full, sizeof full, "%s%s%s", b->prefix, *b->prefix ? "." : "", child);
    int is_shortcut = b->is_residual && (!strcmp(child, "downsample") || !strcmp(child, "shortcut"));
    if (is_shortcut && nb__residual_has_shortcut(parent))
        return fail_at(p, NB_ERR_FORMAT, name_col, "a residual block has one shortcut (downsample or shortcut)");
    shape in = is_shortcut ? b->in : b->cur, out = in;
    int row = add_row(p, full, b->depth);
    if (row == -2) return nb__fail(NB_ERR_MEM, "out of memory");
    nb_module *m;
    if (block) {
        if (b->depth + 1 > MAX_NESTING)
            return fail_at(p, NB_ERR_FORMAT, it->col + off, "blocks nested more than %d deep", MAX_NESTING);
        if (!(m = new_block(p, it, off))) return NB_ERR_FORMAT;
        block_state inner = {.prefix = full, .depth = b->depth + 1, .is_residual = !strcmp(it->name, "residual"),
                             .in = in, .cur = in};
        nb_status st = parse_block(p, m, &inner, p->lineno);
        free(inner.names);
        if (st) {
            nb_module_free(m);
            return st;
        }
        out = inner.cur;
    } else {
        layer_ctx L = {.p = p, .it = it, .off = off, .text = text, .in = in};
        if (!is_shortcut) L.flat_from = b->flat_from;
        p->located = 0;
        if (!(m = layers[k].build(&L, &out))) { /* out of memory stays NB_ERR_MEM */
            nb_status st = nb_last_status() == NB_ERR_MEM ? NB_ERR_MEM : NB_ERR_FORMAT;
            if (!p->located) fail_at(p, st, item_col(&L), "%s", nb_last_error());
            return st;
        }
    }
    fill_row(p, row, m, &out, block);
    if (b->is_residual ? nb__residual_add(parent, child, m, is_shortcut) : nb__module_add_child(parent, child, m)) {
        nb_module_free(m);
        return NB_ERR_MEM;
    }
    if (names_add(b, parent->child_names[parent->n_children - 1]) < 0) return nb__fail(NB_ERR_MEM, "out of memory");
    if (is_shortcut) {
        b->shortcut = out;
    } else {
        b->flat_from = strcmp(it->name, "flatten") ? (shape){0} : in;
        b->cur = out;
    }
    return NB_OK;
}

/* Split line s into [name ':'] layer ['{'], parse the layer's call, run it. */
static nb_status parse_line(mf *p, char *s, nb_module *parent, block_state *b)
{
    char *t = s + strspn(s, " \t");
    char name[128] = "";
    char *q = t;
    while (is_ident(*q)) q++;
    char *r = q + strspn(q, " \t");
    if (q > t && *r == ':') {
        if ((size_t)(q - t) >= sizeof name) return fail_at(p, NB_ERR_FORMAT, col_of(s, t), "name too long");
        memcpy(name, t, (size_t)(q - t));
        name[q - t] = 0;
        t = r + 1 + strspn(r + 1, " \t");
        if (!*t) return fail_at(p, NB_ERR_FORMAT, col_of(s, t), "expected a layer after '%s:'", name);
    }
    char text[512];
    snprintf(text, sizeof text, "%s", t);
    size_t len = strlen(text);
    int opens = len && text[len - 1] == '{';
    if (opens) {
        text[--len] = 0;
        while (len && isspace((unsigned char)text[len - 1])) text[--len] = 0;
    }
    int off = col_of(s, t) - 1;
    nb__spec_item *items = NULL;
    int n = 0;
    if (nb__spec_parse(text, &items, &n)) {
        /* the spec parser speaks of lists of augmentations; a line holds one layer */
        const nb__error_pos *e = nb__last_error_pos();
        int col = e->col ? e->col + off : 0;
        if (e->kind == NB__SPEC_NO_SEPARATOR || e->kind == NB__SPEC_NO_NAME_AFTER_COMMA)
            return fail_at(p, NB_ERR_FORMAT, col, "expected the end of the line after the layer (one layer per line)");
        if (e->kind == NB__SPEC_UNCLOSED_CALL) /* the line ends inside the call */
            return fail_at(p, NB_ERR_FORMAT, off + (int)strlen(text) + 1,
                           "expected ',' or ')' after argument (the '(' at column %d is never closed)", col);
        if (e->kind == NB__SPEC_NO_NAME) return fail_at(p, NB_ERR_FORMAT, col, "expected a layer name");
        return spec_error(p, off);
    }
    nb_status st;
    if (n != 1) st = fail_at(p, NB_ERR_FORMAT, col_of(s, t), "expected one layer");
    else {
        p->statements++;
        st = statement(p, s, parent, b, &items[0], off, name, text, opens);
    }
    nb__spec_free(items, n);
    return st;
}

/* Statements up to the matching '}' (depth > 0) or the end of the file. */
static nb_status parse_block(mf *p, nb_module *parent, block_state *b, int open_line)
{
    char *s;
    while ((s = next_line(p))) {
        char *t = s + strspn(s, " \t");
        if (*t != '}') {
            nb_status st = parse_line(p, s, parent, b);
            if (st) return st;
            continue;
        }
        if (!b->depth) return fail_at(p, NB_ERR_FORMAT, col_of(s, t), "'}' without a block to close");
        if (t[1 + strspn(t + 1, " \t")])
            return fail_at(p, NB_ERR_FORMAT, col_of(s, t + 1), "expected the end of the line after '}'");
        if (parent->n_children == 0)
            return fail_at(p, NB_ERR_FORMAT, col_of(s, t), "empty block (opened at line %d)", open_line);
        if (b->is_residual) {
            const shape *sc = nb__residual_has_shortcut(parent) ? &b->shortcut : &b->in;
            int same = sc->n == b->cur.n;
            for (int i = 0; i < b->cur.n && same; i++) same = sc->d[i] == b->cur.d[i];
            if (!same) {
                char x[128], y[128];
                shape_str(&b->cur, x, sizeof x);
                shape_str(sc, y, sizeof y);
                p->lineno = open_line;
                return fail_at(p, NB_ERR_SHAPE, 0, "residual block '%s': the main path gives %s but the %s gives %s%s",
                               b->prefix, x, nb__residual_has_shortcut(parent) ? "shortcut" : "identity (its input)", y,
                               nb__residual_has_shortcut(parent) ? "" : "; add a 'downsample: sequential { ... }' shortcut");
            }
        }
        return NB_OK;
    }
    if (b->depth) {
        p->lineno = open_line;
        return fail_at(p, NB_ERR_FORMAT, 0, "block '%s' opened here is never closed with '}'", b->prefix);
    }
    return NB_OK;
}

/* ---- public ---- */

void nb_model_summary_free(nb_model_summary *s)
{
    if (!s) return;
    free(s->layers);
    memset(s, 0, sizeof *s);
}

int nb_model_is_file(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    return n && (strchr(name, '/') || (n > 4 && !strcmp(name + n - 4, ".nbm")));
}

static nb_module *parse_text(nb_ctx *ctx, char *text, const char *file, const nb_model_file_opts *opts)
{
    nb_model_file_opts o = opts ? *opts : (nb_model_file_opts){0};
    mf p = {.ctx = ctx, .file = file, .sum = o.summary};
    if (o.summary) memset(o.summary, 0, sizeof *o.summary);
    if (!ctx) {
        nb__fail(NB_ERR_ARG, "%s: ctx is NULL", file);
        return NULL;
    }
    for (int i = 0; i < 3; i++) {
        if (o.input[i] < 0) {
            nb__fail(NB_ERR_ARG, "%s: the input shape must not be negative", file);
            return NULL;
        }
        p.given[i] = o.input[i];
    }
    if (!strncmp(text, "\xEF\xBB\xBF", 3)) text += 3; /* a UTF-8 byte order mark */
    /* cut into lines */
    int cap = 64;
    p.lines = malloc(sizeof *p.lines * (size_t)cap);
    for (char *s = text; p.lines && s;) {
        if (p.nlines == cap) {
            char **nl = realloc(p.lines, sizeof *nl * (size_t)(cap *= 2));
            if (!nl) {
                free(p.lines);
                p.lines = NULL;
                break;
            }
            p.lines = nl;
        }
        p.lines[p.nlines++] = s;
        s = strchr(s, '\n');
        if (s) *s++ = 0;
    }
    if (!p.lines) {
        nb__fail(NB_ERR_MEM, "out of memory reading %s", file);
        return NULL;
    }
    const int64_t def[3] = {1, 28, 28};
    block_state top = {.prefix = "", .in = {.n = 3}};
    for (int i = 0; i < 3; i++) top.in.d[i] = o.input[i] ? o.input[i] : def[i];
    top.cur = p.input = top.in;
    nb_module *m = nb_sequential_new(ctx, NULL, 0);
    nb_status st = m ? parse_block(&p, m, &top, 0) : NB_ERR_MEM;
    free(top.names);
    if (!st && m->n_children == 0) st = nb__fail(NB_ERR_FORMAT, "%s: no layers", file);
    if (!st && o.num_classes && top.cur.n == 1 && top.cur.d[0] < o.num_classes)
        st = nb__fail(NB_ERR_SHAPE, "%s: the model has %lld outputs but the data has %d classes", file,
                      (long long)top.cur.d[0], o.num_classes);
    free(p.lines);
    if (st) {
        nb_module_free(m);
        nb_model_summary_free(o.summary);
        return NULL;
    }
    if (o.summary) {
        o.summary->input_ndim = p.input.n;
        memcpy(o.summary->input, p.input.d, sizeof p.input.d);
    }
    return m;
}

nb_module *nb_model_file_parse(nb_ctx *ctx, const char *text, const nb_model_file_opts *o)
{
    const char *name = o && o->name ? o->name : "<string>";
    if (!text) {
        nb__fail(NB_ERR_ARG, "%s: text is NULL", name);
        return NULL;
    }
    size_t n = strlen(text) + 1;
    char *copy = malloc(n);
    if (!copy) {
        nb__fail(NB_ERR_MEM, "out of memory");
        return NULL;
    }
    memcpy(copy, text, n);
    nb_module *m = parse_text(ctx, copy, name, o);
    free(copy);
    return m;
}

nb_module *nb_model_file_load(nb_ctx *ctx, const char *path, const nb_model_file_opts *o)
{
    if (!path) {
        nb__fail(NB_ERR_ARG, "nb_model_file_load: path is NULL");
        return NULL;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        nb__fail(NB_ERR_IO, "cannot open model file %s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (len + 1 >= cap) {
            char *nb = cap < ((size_t)1 << 24) ? realloc(buf, cap *= 2) : NULL;
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0) break;
    }
    int err = ferror(f);
    fclose(f);
    if (!buf) {
        nb__fail(NB_ERR_FORMAT, "cannot read model file %s (out of memory or larger than 16 MB)", path);
        return NULL;
    }
    if (err) {
        free(buf);
        nb__fail(NB_ERR_IO, "cannot read model file %s", path);
        return NULL;
    }
    buf[len] = 0;
    if (memchr(buf, 0, len)) {
        free(buf);
        nb__fail(NB_ERR_FORMAT, "%s is not a model file (it holds binary data)", path);
        return NULL;
    }
    nb_model_file_opts oo = o ? *o : (nb_model_file_opts){0};
    nb_module *m = parse_text(ctx, buf, path, &oo);
    free(buf);
    return m;
}
