/* elementwise.c - arithmetic with broadcasting, unary math and the pointwise activations
 * (sigmoid, tanh, relu, leaky_relu, elu), forward and backward.
 * Layout: every tensor contiguous row-major; broadcasting as in NumPy/PyTorch. */
#include "ops/broadcast.h"
#include "core/error.h"
#include "core/tensor.h"
#include "core/tape.h"
#include "core/threads.h"

#include <math.h>
#include <string.h>

nb_status nb__bcast_init(nb_bcast *bc, const nb_tensor *a, const nb_tensor *b, const char *op)
{
    int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    bc->ndim = nd;
    int64_t stra = 1, strb = 1;
    for (int d = nd - 1; d >= 0; d--) {
        int da = d - (nd - a->ndim), db = d - (nd - b->ndim);
        int64_t na = da >= 0 ? a->shape[da] : 1, nbb = db >= 0 ? b->shape[db] : 1;
        if (na != nbb && na != 1 && nbb != 1) {
            char sa[128], sb[128];
            nb__shape_str(a->ndim, a->shape, sa, sizeof sa);
            nb__shape_str(b->ndim, b->shape, sb, sizeof sb);
            return nb__fail(NB_ERR_SHAPE, "%s: shapes %s and %s do not broadcast (dimension %d: %lld vs %lld)",
                            op, sa, sb, d, (long long)na, (long long)nbb);
        }
        bc->shape[d] = na > nbb ? na : nbb;
        if (na == 0 || nbb == 0) bc->shape[d] = 0;
        bc->sa[d] = na == 1 ? 0 : stra;
        bc->sb[d] = nbb == 1 ? 0 : strb;
        stra *= na;
        strb *= nbb;
    }
    return NB_OK;
}

typedef enum { BIN_ADD, BIN_SUB, BIN_MUL, BIN_DIV } bin_kind;
static const char *bin_names[] = {"add", "sub", "mul", "div"};

/* the unary kinds (their math is below, after the binary ops) */
typedef enum {
    UN_ADDS, UN_MULS, UN_NEG, UN_EXP, UN_LOG, UN_SQRT, UN_SQUARE, UN_ABS, UN_POW,
    UN_SIGMOID, UN_TANH, UN_RELU, UN_LEAKY, UN_ELU /* activations; s: leaky's slope, elu's alpha */
} un_kind;

/* One elementwise call, as its chunks (nb__parallel_if) read it (all arrays of one length). */
typedef struct {
    const float *x, *x2; /* the operands (x2: binary) */
    const float *y, *g;  /* unary backward: the output and its gradient */
    float *out;          /* the result, or the gradient to accumulate */
    bin_kind bk;
    un_kind uk;
    float s;             /* the unary kind's scalar */
} ew_job;

static inline float bin_apply(bin_kind k, float x, float y)
{
    switch (k) {
    case BIN_ADD: return x + y;
    case BIN_SUB: return x - y;
    case BIN_MUL: return x *y;
    default: return x / y;
    }
}

/* What bin_backward needs. */
typedef struct {
    bin_kind k;
} bin_saved;

static void bin_backward(nb_node *n)
{
    const bin_saved *st = n->saved;
    bin_kind k = st->k;
    nb_tensor *a = n->in[0], *b = n->in[1], *out = n->out;
    const float *g = out->grad, *xa = nb__f(a), *xb = nb__f(b);
    float *ga = a->requires_grad ? a->grad : NULL, *gb = b->requires_grad ? b->grad : NULL;
    nb_bcast bc;
    nb__bcast_init(&bc, a, b, "");
    NB_BCAST_FOR(&bc, {
        float gi = g[i];
        switch (k) {
        case BIN_ADD:
            if (ga) ga[ia] += gi;
            if (gb) gb[ib] += gi;
            break;
        case BIN_SUB:
            if (ga) ga[ia] += gi;
            if (gb) gb[ib] -= gi;
            break;
        case BIN_MUL:
            if (ga) ga[ia] += gi * xb[ib];
            if (gb) gb[ib] += gi * xa[ia];
            break;
        case BIN_DIV:
            if (ga) ga[ia] += gi / xb[ib];
            if (gb) gb[ib] -= gi * xa[ia] / (xb[ib] * xb[ib]);
            break;
        }
    });
}

static void binary_chunk(void *ctx, int64_t b, int64_t e, int slot)
{
    const ew_job *job = ctx;
    float *y = job->out;
    const float *xa = job->x, *xb = job->x2;
    switch (job->bk) { /* one loop per kind, so that each vectorises */
    case BIN_ADD:
        for (int64_t i = b; i < e; i++) y[i] = xa[i] + xb[i];
        break;
    case BIN_SUB:
        for (int64_t i = b; i < e; i++) y[i] = xa[i] - xb[i];
        break;
    case BIN_MUL:
        for (int64_t i = b; i < e; i++) y[i] = xa[i] * xb[i];
        break;
    default:
        for (int64_t i = b; i < e; i++) y[i] = bin_apply(job->bk, xa[i], xb[i]);
    }
}

static nb_tensor *binary(nb_tensor *a, nb_tensor *b, bin_kind k)
{
    if (!a || !b) return NULL;
    if (a->dtype != NB_F32 || b->dtype != NB_F32) {
        nb__fail(NB_ERR_ARG, "%s: needs F32 tensors", bin_names[k]);
        return NULL;
    }
    nb_bcast bc;
    if (nb__bcast_init(&bc, a, b, bin_names[k])) return NULL;
    nb_tensor *out = nb__empty(a->ctx, NB_F32, bc.ndim, bc.shape);
    if (!out) return NULL;
    float *y = nb__f(out);
    const float *xa = nb__f(a), *xb = nb__f(b);
    if (nb__same_shape(a, b)) {
        int64_t n = out->numel;
        nb__parallel_if(n, n, nb__chunk_for(n), binary_chunk, &(ew_job){.x = xa, .x2 = xb, .out = y, .bk = k});
    } else if (b->numel == 1) {
        float s = xb[0];
        for (int64_t i = 0; i < out->numel; i++) y[i] = bin_apply(k, xa[i], s);
    } else {
        NB_BCAST_FOR(&bc, y[i] = bin_apply(k, xa[ia], xb[ib]));
    }
    if (nb__needs_grad(a->ctx, a, b, NULL)) {
        bin_saved *st = nb__record_with(out, bin_backward, a, b, NULL, sizeof *st);
        if (!st) return NULL;
        st->k = k;
    }
    return out;
}

nb_tensor *nb_add(nb_tensor *a, nb_tensor *b) { return binary(a, b, BIN_ADD); }
nb_tensor *nb_sub(nb_tensor *a, nb_tensor *b) { return binary(a, b, BIN_SUB); }
nb_tensor *nb_mul(nb_tensor *a, nb_tensor *b) { return binary(a, b, BIN_MUL); }
nb_tensor *nb_div(nb_tensor *a, nb_tensor *b) { return binary(a, b, BIN_DIV); }

/* ---- unary math: y = f(x; s), backward from x, y and s ---- */

static inline float un_apply(un_kind k, float x, float s)
{
    switch (k) {
    case UN_ADDS: return x + s;
    case UN_MULS: return x *s;
    case UN_NEG: return -x;
    case UN_EXP: return expf(x);
    case UN_LOG: return logf(x);
    case UN_SQRT: return sqrtf(x);
    case UN_SQUARE: return x *x;
    case UN_ABS: return fabsf(x);
    case UN_SIGMOID: return 1.0f / (1.0f + expf(-x));
    case UN_TANH: return tanhf(x);
    case UN_RELU: return x <= 0 ? 0.0f : x; /* NaN stays NaN, as PyTorch */
    case UN_LEAKY: return x > 0 ? x : x * s;
    case UN_ELU: return x > 0 ? x : s * expm1f(x);
    default: return powf(x, s);
    }
}

/* d y / d x given x, y and the scalar */
static inline float un_deriv(un_kind k, float x, float y, float s)
{
    switch (k) {
    case UN_ADDS: return 1.0f;
    case UN_MULS: return s;
    case UN_NEG: return -1.0f;
    case UN_EXP: return y;
    case UN_LOG: return 1.0f / x;
    case UN_SQRT: return 0.5f / y;
    case UN_SQUARE: return 2.0f *x;
    case UN_ABS: return (float)((x > 0) - (x < 0));
    case UN_SIGMOID: return y * (1.0f - y);
    case UN_TANH: return 1.0f - y * y;
    case UN_RELU: return x > 0 ? 1.0f : 0.0f;
    case UN_LEAKY: return x > 0 ? 1.0f : s;
    case UN_ELU: return x > 0 ? 1.0f : y + s; /* α·eˣ = y + α */
    default: return s == 0 ? 0.0f : s * powf(x, s - 1.0f);
    }
}

/* What un_backward needs. */
typedef struct {
    un_kind k;
    float s; /* the scalar operand */
} un_saved;

/* ga[i] += x[i] <= 0 ? 0 : g[i] for i in [lo, hi) (PyTorch's threshold_backward); no branch,
 * compiled per ISA, so it vectorises */
NB_CLONES static void relu_bwd(const float *restrict x, const float *restrict g, float *restrict ga, int64_t lo,
                               int64_t hi)
{
    for (int64_t i = lo; i < hi; i++) {
        float gi = g[i];
        ga[i] += x[i] <= 0 ? 0.0f : gi;
    }
}

static void un_backward_chunk(void *ctx, int64_t b, int64_t e, int slot)
{
    const ew_job *job = ctx;
    const float *x = job->x, *g = job->g;
    float *ga = job->out, s = job->s;
    if (job->uk == UN_RELU) {
        relu_bwd(x, g, ga, b, e);
        return;
    }
    if (job->uk == UN_LEAKY) {
        for (int64_t i = b; i < e; i++) ga[i] += g[i] * (x[i] > 0 ? 1.0f : s);
        return;
    }
    for (int64_t i = b; i < e; i++) ga[i] += g[i] * un_deriv(job->uk, x[i], job->y[i], s);
}

static void un_backward(nb_node *n)
{
    const un_saved *st = n->saved;
    un_kind k = st->k;
    float s = st->s;
    nb_tensor *a = n->in[0];
    const float *x = nb__f(a), *y = nb__f(n->out), *g = n->out->grad;
    float *ga = a->grad;
    int64_t N = a->numel;
    nb__parallel_if(N, N, nb__chunk_for(N), un_backward_chunk,
                    &(ew_job){.x = x, .y = y, .g = g, .out = ga, .uk = k, .s = s});
}

static void unary_chunk(void *ctx, int64_t b, int64_t e, int slot)
{
    const ew_job *job = ctx;
    const float *x = job->x;
    float *y = job->out, s = job->s;
    un_kind k = job->uk;
    /* one loop per cheap kind, so un_apply folds to one expression and the loop vectorises */
    switch (k) {
#define UN_LOOP(K)                                                 \
    case K:                                                        \
        for (int64_t i = b; i < e; i++) y[i] = un_apply(K, x[i], s);   \
        return;
        UN_LOOP(UN_RELU)
        UN_LOOP(UN_LEAKY)
        UN_LOOP(UN_ADDS)
        UN_LOOP(UN_MULS)
        UN_LOOP(UN_NEG)
        UN_LOOP(UN_SQUARE)
        UN_LOOP(UN_ABS)
#undef UN_LOOP
    default:
        for (int64_t i = b; i < e; i++) y[i] = un_apply(k, x[i], s);
    }
}

static nb_tensor *unary(nb_tensor *a, un_kind k, float s)
{
    if (!a) return NULL;
    if (a->dtype != NB_F32) {
        nb__fail(NB_ERR_ARG, "elementwise op needs an F32 tensor");
        return NULL;
    }
    nb_tensor *out = nb__empty_like(a);
    if (!out) return NULL;
    const float *x = nb__f(a);
    float *y = nb__f(out);
    int64_t N = a->numel;
    nb__parallel_if(N, N, nb__chunk_for(N), unary_chunk, &(ew_job){.x = x, .out = y, .uk = k, .s = s});
    if (nb__needs_grad(a->ctx, a, NULL, NULL)) {
        un_saved *st = nb__record_with(out, un_backward, a, NULL, NULL, sizeof *st);
        if (!st) return NULL;
        st->k = k;
        st->s = s;
    }
    return out;
}

nb_tensor *nb_add_scalar(nb_tensor *a, float s) { return unary(a, UN_ADDS, s); }
nb_tensor *nb_mul_scalar(nb_tensor *a, float s) { return unary(a, UN_MULS, s); }
nb_tensor *nb_neg(nb_tensor *a) { return unary(a, UN_NEG, 0); }
nb_tensor *nb_exp(nb_tensor *a) { return unary(a, UN_EXP, 0); }
nb_tensor *nb_log(nb_tensor *a) { return unary(a, UN_LOG, 0); }
nb_tensor *nb_sqrt(nb_tensor *a) { return unary(a, UN_SQRT, 0); }
nb_tensor *nb_square(nb_tensor *a) { return unary(a, UN_SQUARE, 0); }
nb_tensor *nb_abs(nb_tensor *a) { return unary(a, UN_ABS, 0); }
nb_tensor *nb_pow_scalar(nb_tensor *a, float p) { return unary(a, UN_POW, p); }
nb_tensor *nb_sigmoid(nb_tensor *x) { return unary(x, UN_SIGMOID, 0); }
nb_tensor *nb_tanh(nb_tensor *x) { return unary(x, UN_TANH, 0); }
nb_tensor *nb_relu(nb_tensor *x) { return unary(x, UN_RELU, 0); }
nb_tensor *nb_leaky_relu(nb_tensor *x, float slope) { return unary(x, UN_LEAKY, slope); }
nb_tensor *nb_elu(nb_tensor *x, float alpha) { return unary(x, UN_ELU, alpha); }
