/* ops_math.c - ONNX elementwise arithmetic, comparisons, logic, pointwise
 * functions, Where, Clip and the reductions.
 *
 * Float tensors use nabla's differentiable ops where they exist (nb_add, nb_mul,
 * nb_exp, ...); the other pointwise functions and the reductions carry their own
 * backward here. Integer and bool values run through one broadcasting loop in
 * int64 and are wrapped to their type afterwards (ox_wrap). Broadcasting follows
 * numpy (shapes align on the right). */
#include "onnx/onnx_internal.h"
#include "ops/broadcast.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- binary ---- */

typedef enum {
    B_ADD, B_SUB, B_MUL, B_DIV, B_POW, B_MAX, B_MIN, B_MOD, B_FMOD, B_AND, B_OR, B_XOR, B_EQ, B_LT, B_GT, B_LE, B_GE,
    B_SHL, B_SHR
} bin_kind;

static int is_cmp(bin_kind k) { return k >= B_AND && k <= B_GE; }

static double fbin(bin_kind k, double a, double b)
{
    switch (k) {
    case B_ADD: return a + b;
    case B_SUB: return a - b;
    case B_MUL: return a * b;
    case B_DIV: return a / b;
    case B_POW: return pow(a, b);
    case B_MAX: return a != a || b != b ? NAN : a > b ? a : b;
    case B_MIN: return a != a || b != b ? NAN : a < b ? a : b;
    case B_MOD: { double r = fmod(a, b); return r != 0 && ((r < 0) != (b < 0)) ? r + b : r; }
    case B_FMOD: return fmod(a, b);
    case B_AND: return (a != 0) && (b != 0);
    case B_OR: return (a != 0) || (b != 0);
    case B_XOR: return (a != 0) != (b != 0);
    case B_EQ: return a == b;
    case B_LT: return a < b;
    case B_GT: return a > b;
    case B_LE: return a <= b;
    case B_GE: return a >= b;
    default: return 0;
    }
}

static int64_t ibin(bin_kind k, int64_t a, int64_t b, int et)
{
    switch (k) {
    case B_ADD: return (int64_t)((uint64_t)a + (uint64_t)b);
    case B_SUB: return (int64_t)((uint64_t)a - (uint64_t)b);
    case B_MUL: return (int64_t)((uint64_t)a * (uint64_t)b);
    case B_DIV: return b == 0 ? 0 : (a == INT64_MIN && b == -1) ? a : a / b;
    case B_POW: { int64_t r = 1; for (int64_t i = 0; i < b && i < 64; i++) r = (int64_t)((uint64_t)r * (uint64_t)a); return r; }
    case B_MAX: return a > b ? a : b;
    case B_MIN: return a < b ? a : b;
    case B_MOD: { if (!b) return 0; int64_t r = a % b; return r != 0 && ((r < 0) != (b < 0)) ? r + b : r; }
    case B_FMOD: return b ? a % b : 0;
    case B_SHL: return b >= 64 || b < 0 ? 0 : (int64_t)((uint64_t)a << b);
    case B_SHR: {
        if (b >= 64 || b < 0) return 0;
        uint64_t mask = et == OX_UINT8 ? 0xff : et == OX_UINT16 ? 0xffff : et == OX_UINT32 ? 0xffffffffu : ~0ull;
        return (int64_t)(((uint64_t)a & mask) >> b);
    }
    default: return (int64_t)fbin(k, (double)a, (double)b);
    }
}

static nb_status binary_generic(ox_model *m, const ox_node *n, ox_val a, ox_val b, bin_kind k, ox_val *out)
{
    nb_bcast bc;
    if (nb__bcast_init(&bc, a.t, b.t, n->p->op_type)) return NB_ERR_SHAPE;
    int fl = ox_is_float(a.et) || ox_is_float(b.et);
    int et = is_cmp(k) ? OX_BOOL : a.et;
    if (k == B_POW) et = a.et;
    nb_tensor *o = ox_new(m->ctx, et, bc.ndim, bc.shape);
    if (!o) return NB_ERR_MEM;
    if (o->dtype == NB_F32) {
        float *d = nb__f(o);
        NB_BCAST_FOR(&bc, d[i] = (float)fbin(k, ox_get_f(a.t, ia), ox_get_f(b.t, ib)));
    } else if (fl) {
        int64_t *d = nb__i(o);
        NB_BCAST_FOR(&bc, {
            double v = fbin(k, ox_get_f(a.t, ia), ox_get_f(b.t, ib));
            d[i] = ox_f2i(v);
        });
    } else {
        int64_t *d = nb__i(o);
        const int64_t *x = nb__i(a.t), *y = nb__i(b.t);
        NB_BCAST_FOR(&bc, d[i] = ibin(k, x[ia], y[ib], a.et));
    }
    ox_wrap(o, et);
    *out = (ox_val){o, et};
    return NB_OK;
}

/* Before opset 7, broadcast=1 lined B's dims up with A's from `axis` (default: the
 * last ones); B reshaped with 1s around them broadcasts the numpy way. */
static nb_status legacy_broadcast(ox_model *m, const ox_node *n, ox_val a, ox_val *b)
{
    if (m->opset >= 7 || !ox_attr_i(n, "broadcast", 0)) return NB_OK;
    int na = a.t->ndim, nb = b->t->ndim;
    int64_t axis = ox_attr_i(n, "axis", na - nb);
    if (axis < 0) axis += na;
    if (axis < 0 || axis + nb > na) return ox_fail(m, n, NB_ERR_SHAPE, "B %s does not fit A %s from axis %lld", nb__tshape(b->t), nb__tshape(a.t), (long long)axis);
    int64_t shape[NB_MAX_DIMS];
    for (int d = 0; d < na; d++) shape[d] = d >= axis && d < axis + nb ? b->t->shape[d - axis] : 1;
    if (b->t->dtype == NB_F32) b->t = nb_reshape(b->t, na, shape);
    else {
        nb_tensor *v = nb__scratch(m->ctx, sizeof *v);
        if (!v) return NB_ERR_MEM;
        *v = *b->t;
        v->ndim = na;
        memcpy(v->shape, shape, sizeof shape);
        v->in_arena = 1;
        v->owns_data = 0;
        v->node = NULL;
        v->grad = NULL;
        b->t = v;
    }
    return b->t ? NB_OK : NB_ERR_MEM;
}

static nb_status binary(ox_model *m, const ox_node *n, ox_val a, ox_val b, bin_kind k, ox_val *out)
{
    if (!a.t || !b.t) return ox_fail(m, n, NB_ERR_ARG, "an input is missing");
    nb_status lst = legacy_broadcast(m, n, a, &b);
    if (lst) return lst;
    if (a.t->dtype == NB_F32 && b.t->dtype == NB_F32) {
        nb_tensor *r = NULL;
        switch (k) {
        case B_ADD: r = nb_add(a.t, b.t); break;
        case B_SUB: r = nb_sub(a.t, b.t); break;
        case B_MUL: r = nb_mul(a.t, b.t); break;
        case B_DIV: r = nb_div(a.t, b.t); break;
        case B_POW:
            if (b.t->numel == 1 && b.t->ndim <= a.t->ndim) {
                float p = nb__f(b.t)[0];
                r = p == 2 ? nb_square(a.t) : p == 1 ? a.t : p == 0.5f ? nb_sqrt(a.t) : nb_pow_scalar(a.t, p);
                if (r && r == a.t) r = nb_mul_scalar(a.t, 1);
            }
            break;
        default: break;
        }
        if (r) {
            *out = (ox_val){r, a.et};
            return NB_OK;
        }
        if (k <= B_DIV) return NB_ERR_SHAPE;
    }
    return binary_generic(m, n, a, b, k, out);
}

#define BIN(name, kind) \
    OX_OP(name) { return binary(m, n, in[0], in[1], kind, out); }
BIN(add, B_ADD)
BIN(sub, B_SUB)
BIN(mul, B_MUL)
BIN(pow, B_POW)
BIN(and, B_AND)
BIN(or, B_OR)
BIN(xor, B_XOR)
BIN(equal, B_EQ)
BIN(less, B_LT)
BIN(greater, B_GT)
BIN(less_equal, B_LE)
BIN(greater_equal, B_GE)

OX_OP(div)
{
    if (in[0].t->dtype == NB_I64 && in[1].t->dtype == NB_I64) {
        nb_bcast bc;
        if (nb__bcast_init(&bc, in[1].t, in[1].t, "Div")) return NB_ERR_SHAPE;
        for (int64_t i = 0; i < in[1].t->numel; i++)
            if (!nb__i(in[1].t)[i]) return ox_fail(m, n, NB_ERR_ARG, "integer division by zero");
    }
    return binary(m, n, in[0], in[1], B_DIV, out);
}

OX_OP(mod)
{
    int fm = (int)ox_attr_i(n, "fmod", 0);
    return binary_generic(m, n, in[0], in[1], fm ? B_FMOD : B_MOD, out);
}

OX_OP(bitshift)
{
    char buf[16];
    const char *dir = ox_attr_s(n, "direction", "", buf, sizeof buf);
    return binary_generic(m, n, in[0], in[1], !strcmp(dir, "LEFT") ? B_SHL : B_SHR, out);
}

/* Max, Min, Sum, Mean: variadic with broadcasting */
static nb_status variadic(ox_model *m, const ox_node *n, ox_val *in, bin_kind k, int mean, ox_val *out)
{
    ox_val acc = in[0];
    nb_status st;
    for (int i = 0; i < n->n_in; i++)
        if (!in[i].t) return ox_fail(m, n, NB_ERR_ARG, "input %d has no value", i);
    for (int i = 1; i < n->n_in; i++) {
        if (in[i].t->dtype == NB_F32 && acc.t->dtype == NB_F32 && (k == B_MAX || k == B_MIN))
            st = binary_generic(m, n, acc, in[i], k, &acc);
        else st = binary(m, n, acc, in[i], k, &acc);
        if (st) return st;
    }
    if (mean) {
        acc.t = nb_mul_scalar(acc.t, 1.0f / (float)n->n_in);
        if (!acc.t) return NB_ERR_MEM;
    }
    *out = acc;
    return NB_OK;
}

OX_OP(max) { return variadic(m, n, in, B_MAX, 0, out); }
OX_OP(min) { return variadic(m, n, in, B_MIN, 0, out); }
OX_OP(sum) { return variadic(m, n, in, B_ADD, 0, out); }
OX_OP(mean) { return variadic(m, n, in, B_ADD, 1, out); }

/* ---- pointwise functions with their own derivative ---- */

typedef float (*pw_fn)(float x, float a, float b);
typedef float (*pw_d)(float x, float y, float a, float b);

typedef struct {
    pw_fn f;
    pw_d d; /* NULL: no gradient (piecewise constant) */
} pw_def;

typedef struct {
    const pw_def *def;
    float a, b; /* the function's two attributes (alpha, beta, ...) */
} pw_saved;

static void pw_backward(nb_node *nd)
{
    const pw_saved *st = nd->saved;
    const float *x = nb__f(nd->in[0]), *y = nb__f(nd->out), *g = nd->out->grad;
    float *gx = nd->in[0]->grad;
    for (int64_t i = 0; i < nd->out->numel; i++) gx[i] += g[i] * st->def->d(x[i], y[i], st->a, st->b);
}

static nb_tensor *pointwise(nb_tensor *x, const pw_def *def, float a, float b)
{
    if (!x) return NULL;
    nb_tensor *o = nb__empty_like(x);
    if (!o) return NULL;
    const float *s = nb__f(x);
    float *d = nb__f(o);
    for (int64_t i = 0; i < x->numel; i++) d[i] = def->f(s[i], a, b);
    if (def->d && nb__needs_grad(x->ctx, x, NULL, NULL)) {
        nb_node *nd = nb__record(o, pw_backward, x, NULL, NULL);
        pw_saved *st = nd ? nb__node_save(nd, sizeof *st) : NULL;
        if (!st) return NULL;
        *st = (pw_saved){def, a, b};
    }
    return o;
}

static float f_floor(float x, float a, float b) { (void)a, (void)b; return floorf(x); }
static float f_ceil(float x, float a, float b) { (void)a, (void)b; return ceilf(x); }
static float f_round(float x, float a, float b) { (void)a, (void)b; return nearbyintf(x); }
static float f_sign(float x, float a, float b) { (void)a, (void)b; return x > 0 ? 1.0f : x < 0 ? -1.0f : x; }
static float f_recip(float x, float a, float b) { (void)a, (void)b; return 1.0f / x; }
static float d_recip(float x, float y, float a, float b) { (void)x, (void)a, (void)b; return -y * y; }
static float f_sin(float x, float a, float b) { (void)a, (void)b; return sinf(x); }
static float d_sin(float x, float y, float a, float b) { (void)y, (void)a, (void)b; return cosf(x); }
static float f_cos(float x, float a, float b) { (void)a, (void)b; return cosf(x); }
static float d_cos(float x, float y, float a, float b) { (void)y, (void)a, (void)b; return -sinf(x); }
static float f_tan(float x, float a, float b) { (void)a, (void)b; return tanf(x); }
static float d_tan(float x, float y, float a, float b) { (void)x, (void)a, (void)b; return 1 + y * y; }
static float f_asin(float x, float a, float b) { (void)a, (void)b; return asinf(x); }
static float f_acos(float x, float a, float b) { (void)a, (void)b; return acosf(x); }
static float f_atan(float x, float a, float b) { (void)a, (void)b; return atanf(x); }
static float f_sinh(float x, float a, float b) { (void)a, (void)b; return sinhf(x); }
static float f_cosh(float x, float a, float b) { (void)a, (void)b; return coshf(x); }
static float f_asinh(float x, float a, float b) { (void)a, (void)b; return asinhf(x); }
static float f_acosh(float x, float a, float b) { (void)a, (void)b; return acoshf(x); }
static float f_atanh(float x, float a, float b) { (void)a, (void)b; return atanhf(x); }
static float f_erf(float x, float a, float b) { (void)a, (void)b; return erff(x); }
static float d_erf(float x, float y, float a, float b) { (void)y, (void)a, (void)b; return 1.1283791670955126f * expf(-x * x); }
static float f_softplus(float x, float a, float b) { (void)a, (void)b; return x > 20 ? x : log1pf(expf(x)); }
static float d_softplus(float x, float y, float a, float b) { (void)y, (void)a, (void)b; return 1.0f / (1.0f + expf(-x)); }
static float f_softsign(float x, float a, float b) { (void)a, (void)b; return x / (1 + fabsf(x)); }
static float d_softsign(float x, float y, float a, float b) { (void)y, (void)a, (void)b; return 1 / ((1 + fabsf(x)) * (1 + fabsf(x))); }
/* Selu: gamma·(x > 0 ? x : alpha·(eˣ - 1)); a = alpha, b = gamma */
static float f_selu(float x, float a, float b) { return x > 0 ? b * x : b * a * expm1f(x); }
static float d_selu(float x, float y, float a, float b) { (void)y; return x > 0 ? b : b * a * expf(x); }
/* HardSigmoid: max(0, min(1, alpha·x + beta)) */
static float f_hsig(float x, float a, float b) { float v = a * x + b; return v < 0 ? 0 : v > 1 ? 1 : v; }
static float d_hsig(float x, float y, float a, float b) { (void)x, (void)b; return y > 0 && y < 1 ? a : 0; }
static float f_hswish(float x, float a, float b) { (void)a, (void)b; float v = x / 6 + 0.5f; v = v < 0 ? 0 : v > 1 ? 1 : v; return x * v; }
static float d_hswish(float x, float y, float a, float b) { (void)y, (void)a, (void)b; return x < -3 ? 0 : x > 3 ? 1 : x / 3 + 0.5f; }
static float f_celu(float x, float a, float b) { (void)b; return (x > 0 ? x : 0) + fminf(0, a * expm1f(x / a)); }
static float d_celu(float x, float y, float a, float b) { (void)y, (void)b; return x > 0 ? 1 : expf(x / a); }
static float f_thrrelu(float x, float a, float b) { (void)b; return x > a ? x : 0; }
static float d_thrrelu(float x, float y, float a, float b) { (void)y, (void)b; return x > a ? 1 : 0; }
static float f_shrink(float x, float a, float b) { return x < -a ? x + b : x > a ? x - b : 0; }
static float d_shrink(float x, float y, float a, float b) { (void)y, (void)b; return x < -a || x > a ? 1 : 0; }
/* Clip: a = min, b = max */
static float f_clip(float x, float a, float b) { return x != x ? x : x < a ? a : x > b ? b : x; }
static float d_clip(float x, float y, float a, float b) { (void)y; return x >= a && x <= b ? 1 : 0; }

#define PW(name, fn, dfn)                                                             \
    static const pw_def def_##name = {fn, dfn};                                       \
    OX_OP(name)                                                                       \
    {                                                                                 \
        (void)m, (void)n;                                                             \
        out[0] = (ox_val){pointwise(in[0].t, &def_##name, 0, 0), in[0].et};           \
        return out[0].t ? NB_OK : NB_ERR_MEM;                                         \
    }
PW(floor, f_floor, NULL)
PW(ceil, f_ceil, NULL)
PW(round, f_round, NULL)
PW(reciprocal, f_recip, d_recip)
PW(sin, f_sin, d_sin)
PW(cos, f_cos, d_cos)
PW(tan, f_tan, d_tan)
PW(asin, f_asin, NULL)
PW(acos, f_acos, NULL)
PW(atan, f_atan, NULL)
PW(sinh, f_sinh, NULL)
PW(cosh, f_cosh, NULL)
PW(asinh, f_asinh, NULL)
PW(acosh, f_acosh, NULL)
PW(atanh, f_atanh, NULL)
PW(erf, f_erf, d_erf)
PW(softplus, f_softplus, d_softplus)
PW(softsign, f_softsign, d_softsign)
PW(hardswish, f_hswish, d_hswish)

static const pw_def def_selu = {f_selu, d_selu}, def_hsig = {f_hsig, d_hsig}, def_celu = {f_celu, d_celu},
                    def_thr = {f_thrrelu, d_thrrelu}, def_shrink = {f_shrink, d_shrink}, def_clip = {f_clip, d_clip},
                    def_sign = {f_sign, NULL};

OX_OP(selu)
{
    (void)m;
    out[0] = (ox_val){pointwise(in[0].t, &def_selu, ox_attr_f(n, "alpha", 1.67326319217681884765625f),
                                ox_attr_f(n, "gamma", 1.05070102214813232421875f)), in[0].et};
    return out[0].t ? NB_OK : NB_ERR_MEM;
}

OX_OP(hard_sigmoid)
{
    (void)m;
    out[0] = (ox_val){pointwise(in[0].t, &def_hsig, ox_attr_f(n, "alpha", 0.2f), ox_attr_f(n, "beta", 0.5f)), in[0].et};
    return out[0].t ? NB_OK : NB_ERR_MEM;
}

OX_OP(celu)
{
    (void)m;
    out[0] = (ox_val){pointwise(in[0].t, &def_celu, ox_attr_f(n, "alpha", 1.0f), 0), in[0].et};
    return out[0].t ? NB_OK : NB_ERR_MEM;
}

OX_OP(thresholded_relu)
{
    (void)m;
    out[0] = (ox_val){pointwise(in[0].t, &def_thr, ox_attr_f(n, "alpha", 1.0f), 0), in[0].et};
    return out[0].t ? NB_OK : NB_ERR_MEM;
}

OX_OP(shrink)
{
    float l = ox_attr_f(n, "lambd", 0.5f), b = ox_attr_f(n, "bias", 0);
    if (in[0].t->dtype == NB_F32) {
        out[0] = (ox_val){pointwise(in[0].t, &def_shrink, l, b), in[0].et};
        return out[0].t ? NB_OK : NB_ERR_MEM;
    }
    nb_tensor *o = ox_new(m->ctx, in[0].et, in[0].t->ndim, in[0].t->shape);
    if (!o) return NB_ERR_MEM;
    for (int64_t i = 0; i < o->numel; i++) nb__i(o)[i] = (int64_t)f_shrink((float)nb__i(in[0].t)[i], l, b);
    ox_wrap(o, in[0].et);
    out[0] = (ox_val){o, in[0].et};
    return NB_OK;
}

/* unary ops that also take integers */
typedef enum { U_NEG, U_ABS, U_SIGN, U_NOT } un_kind;

static nb_status unary_int(ox_model *m, ox_val a, un_kind k, ox_val *out)
{
    nb_tensor *o = ox_new(m->ctx, a.et, a.t->ndim, a.t->shape);
    if (!o) return NB_ERR_MEM;
    const int64_t *s = nb__i(a.t);
    int64_t *d = nb__i(o);
    for (int64_t i = 0; i < o->numel; i++)
        d[i] = k == U_NEG ? -s[i] : k == U_ABS ? (s[i] < 0 ? -s[i] : s[i]) : k == U_SIGN ? (s[i] > 0) - (s[i] < 0) : !s[i];
    ox_wrap(o, a.et);
    *out = (ox_val){o, a.et};
    return NB_OK;
}

OX_OP(neg)
{
    (void)n;
    if (in[0].t->dtype == NB_I64) return unary_int(m, in[0], U_NEG, out);
    out[0] = (ox_val){nb_neg(in[0].t), in[0].et};
    return out[0].t ? NB_OK : NB_ERR_MEM;
}

OX_OP(abs)
{
    (void)n;
    if (in[0].t->dtype == NB_I64) return unary_int(m, in[0], U_ABS, out);
    out[0] = (ox_val){nb_abs(in[0].t), in[0].et};
    return out[0].t ? NB_OK : NB_ERR_MEM;
}

OX_OP(sign)
{
    (void)n;
    if (in[0].t->dtype == NB_I64) return unary_int(m, in[0], U_SIGN, out);
    out[0] = (ox_val){pointwise(in[0].t, &def_sign, 0, 0), in[0].et};
    return out[0].t ? NB_OK : NB_ERR_MEM;
}

OX_OP(not)
{
    (void)n;
    return unary_int(m, in[0], U_NOT, out);
}

#define UNF(name, fn)                                                   \
    OX_OP(name)                                                         \
    {                                                                   \
        (void)m, (void)n;                                               \
        out[0] = (ox_val){fn(ox_as_float(in[0])), in[0].et};            \
        return out[0].t ? NB_OK : NB_ERR_MEM;                           \
    }
UNF(exp, nb_exp)
UNF(log, nb_log)
UNF(sqrt, nb_sqrt)
UNF(sigmoid, nb_sigmoid)
UNF(tanh, nb_tanh)
UNF(relu, nb_relu)

OX_OP(isnan)
{
    (void)n;
    nb_tensor *o = nb__empty(m->ctx, NB_I64, in[0].t->ndim, in[0].t->shape);
    if (!o) return NB_ERR_MEM;
    for (int64_t i = 0; i < o->numel; i++) nb__i(o)[i] = isnan(nb__f(in[0].t)[i]);
    out[0] = (ox_val){o, OX_BOOL};
    return NB_OK;
}

OX_OP(isinf)
{
    int pos = (int)ox_attr_i(n, "detect_positive", 1), neg = (int)ox_attr_i(n, "detect_negative", 1);
    nb_tensor *o = nb__empty(m->ctx, NB_I64, in[0].t->ndim, in[0].t->shape);
    if (!o) return NB_ERR_MEM;
    for (int64_t i = 0; i < o->numel; i++) {
        float v = nb__f(in[0].t)[i];
        nb__i(o)[i] = isinf(v) && ((v > 0 && pos) || (v < 0 && neg));
    }
    out[0] = (ox_val){o, OX_BOOL};
    return NB_OK;
}

nb_tensor *ox_clip_f(nb_tensor *x, float lo, float hi) { return pointwise(x, &def_clip, lo, hi); }

OX_OP(clip)
{
    nb_tensor *x = in[0].t;
    double lo = -INFINITY, hi = INFINITY;
    if (m->opset < 11) {
        lo = ox_attr_f(n, "min", -INFINITY);
        hi = ox_attr_f(n, "max", INFINITY);
    } else {
        if (n->n_in > 1 && in[1].t) lo = ox_get_f(in[1].t, 0);
        if (n->n_in > 2 && in[2].t) hi = ox_get_f(in[2].t, 0);
    }
    if (x->dtype == NB_F32) {
        out[0] = (ox_val){pointwise(x, &def_clip, (float)lo, (float)hi), in[0].et};
        return out[0].t ? NB_OK : NB_ERR_MEM;
    }
    nb_tensor *o = ox_new(m->ctx, in[0].et, x->ndim, x->shape);
    if (!o) return NB_ERR_MEM;
    int64_t l = n->n_in > 1 && in[1].t ? ox_get_i(in[1].t, 0) : INT64_MIN, h = n->n_in > 2 && in[2].t ? ox_get_i(in[2].t, 0) : INT64_MAX;
    for (int64_t i = 0; i < o->numel; i++) {
        int64_t v = nb__i(x)[i];
        nb__i(o)[i] = v < l ? l : v > h ? h : v;
    }
    out[0] = (ox_val){o, in[0].et};
    return NB_OK;
}

/* Where(cond, x, y): each broadcast to the output shape, then a select whose
 * backward routes the gradient to x where cond holds and to y elsewhere. */
static void where_backward(nb_node *nd)
{
    const int64_t *c = nd->saved;
    const float *g = nd->out->grad;
    nb_tensor *x = nd->in[0], *y = nd->n_in > 1 ? nd->in[1] : NULL;
    for (int64_t i = 0; i < nd->out->numel; i++) {
        if (c[i] && x->requires_grad) x->grad[i] += g[i];
        if (!c[i] && y && y->requires_grad) y->grad[i] += g[i];
    }
}

OX_OP(where)
{
    nb_tensor *c = in[0].t, *x = in[1].t, *y = in[2].t;
    int nd = 0;
    int64_t shape[NB_MAX_DIMS];
    nb_tensor *ts[3] = {c, x, y};
    for (int k = 0; k < 3; k++) nd = ts[k]->ndim > nd ? ts[k]->ndim : nd;
    for (int d = 0; d < nd; d++) {
        shape[d] = 1;
        for (int k = 0; k < 3; k++) {
            int sd = d - (nd - ts[k]->ndim);
            int64_t v = sd < 0 ? 1 : ts[k]->shape[sd];
            if (v != 1 && shape[d] != 1 && v != shape[d])
                return ox_fail(m, n, NB_ERR_SHAPE, "shapes %s, %s and %s do not broadcast", nb__tshape(c), nb__tshape(x), nb__tshape(y));
            if (v != 1) shape[d] = v;
        }
    }
    nb_tensor *ce = ox_expand(c, nd, shape), *xe = ox_expand(x, nd, shape), *ye = ox_expand(y, nd, shape);
    if (!ce || !xe || !ye) return NB_ERR_MEM;
    nb_tensor *o = ox_new(m->ctx, in[1].et, nd, shape);
    if (!o) return NB_ERR_MEM;
    const int64_t *cv = nb__i(ce);
    int64_t N = o->numel;
    if (o->dtype == NB_F32) {
        for (int64_t i = 0; i < N; i++) nb__f(o)[i] = cv[i] ? nb__f(xe)[i] : nb__f(ye)[i];
        if (nb__needs_grad(m->ctx, xe, ye, NULL)) {
            nb_node *r = nb__record(o, where_backward, xe, NULL, NULL);
            if (!r) return NB_ERR_MEM;
            r->in[1] = ye;
            r->n_in = 2;
            r->saved = (void *)cv;
        }
    } else
        for (int64_t i = 0; i < N; i++) nb__i(o)[i] = cv[i] ? nb__i(xe)[i] : nb__i(ye)[i];
    out[0] = (ox_val){o, in[1].et};
    return NB_OK;
}

/* ---- reductions ---- */

typedef enum { R_SUM, R_MEAN, R_MAX, R_MIN, R_PROD, R_L1, R_L2, R_LOGSUM, R_LOGSUMEXP, R_SUMSQ } red_kind;

typedef struct {
    red_kind kind;
    const int64_t *map; /* input element -> output element */
    float cnt;          /* elements per output (ReduceMean) */
} red_saved;

static void red_backward(nb_node *nd)
{
    const red_saved *st = nd->saved;
    red_kind k = st->kind;
    const int64_t *map = st->map;
    const float *x = nb__f(nd->in[0]), *y = nb__f(nd->out), *g = nd->out->grad;
    float *gx = nd->in[0]->grad;
    float cnt = st->cnt;
    for (int64_t i = 0; i < nd->in[0]->numel; i++) {
        int64_t o = map[i];
        float gi = g[o], yo = y[o], xi = x[i], d;
        switch (k) {
        case R_SUM: d = 1; break;
        case R_MEAN: d = 1 / cnt; break;
        case R_MAX: case R_MIN: d = xi == yo ? 1 : 0; break;
        case R_PROD: d = xi != 0 ? yo / xi : 0; break;
        case R_L1: d = xi > 0 ? 1.0f : xi < 0 ? -1.0f : 0.0f; break;
        case R_L2: d = yo > 0 ? xi / yo : 0; break;
        case R_LOGSUM: d = expf(-yo); break;
        case R_LOGSUMEXP: d = expf(xi - yo); break;
        default: d = 2 * xi; break;
        }
        gx[i] += gi * d;
    }
}

static nb_status reduce(ox_model *m, const ox_node *n, ox_val *in, red_kind k, ox_val *out)
{
    nb_tensor *x = in[0].t;
    int nd = x->ndim;
    int64_t axes[NB_MAX_DIMS * 2];
    int na = -1;
    int keep = (int)ox_attr_i(n, "keepdims", 1), noop = (int)ox_attr_i(n, "noop_with_empty_axes", 0);
    int axes_input = (k == R_SUM && m->opset >= 13) || m->opset >= 18;
    nb_status st;
    if (axes_input && n->n_in > 1 && in[1].t) {
        if ((st = ox_ints_of(m, n, in[1], axes, NB_MAX_DIMS * 2, &na, "axes"))) return st;
    } else if (!axes_input) {
        const int64_t *a = ox_attr_ints(n, "axes", &na);
        if (na > NB_MAX_DIMS * 2) return ox_fail(m, n, NB_ERR_ARG, "too many axes");
        if (na > 0) memcpy(axes, a, (size_t)na * 8);
    }
    int red[NB_MAX_DIMS] = {0};
    if (na <= 0) {
        if (noop && axes_input) {
            out[0] = in[0];
            return NB_OK;
        }
        for (int d = 0; d < nd; d++) red[d] = 1;
    }
    for (int i = 0; i < na; i++) {
        int64_t a = axes[i];
        if (a < -nd || a >= nd) return ox_fail(m, n, NB_ERR_SHAPE, "axis %lld out of range for %s", (long long)a, nb__tshape(x));
        red[a < 0 ? a + nd : a] = 1;
    }
    int64_t oshape[NB_MAX_DIMS], kshape[NB_MAX_DIMS], ostr[NB_MAX_DIMS], coef[NB_MAX_DIMS];
    int ond = 0;
    for (int d = 0; d < nd; d++) {
        kshape[d] = red[d] ? 1 : x->shape[d];
        if (!red[d] || keep) oshape[ond++] = kshape[d];
    }
    int64_t s = 1;
    for (int d = nd - 1; d >= 0; d--) {
        ostr[d] = s;
        s *= kshape[d];
    }
    for (int d = 0; d < nd; d++) coef[d] = red[d] ? 0 : ostr[d];
    int64_t on = s, cnt = on ? x->numel / on : 0;
    int fl = x->dtype == NB_F32;
    nb_tensor *o = ox_new(m->ctx, in[0].et, ond, oshape);
    int64_t *map = nb__scratch(m->ctx, (size_t)(x->numel + 1) * 8);
    double *acc = nb__scratch(m->ctx, (size_t)(on + 1) * 8);
    if (!o || !map || !acc) return NB_ERR_MEM;
    /* input -> output index */
    {
        int64_t idx[NB_MAX_DIMS] = {0};
        for (int64_t i = 0; i < x->numel; i++) {
            int64_t off = 0;
            for (int d = 0; d < nd; d++) off += idx[d] * coef[d];
            map[i] = off;
            for (int d = nd - 1; d >= 0; d--) {
                if (++idx[d] < x->shape[d]) break;
                idx[d] = 0;
            }
        }
    }
    double mx_init = k == R_MAX ? -INFINITY : INFINITY;
    for (int64_t j = 0; j < on; j++) acc[j] = k == R_PROD ? 1 : (k == R_MAX || k == R_MIN) ? mx_init : 0;
    if ((k == R_MAX || k == R_MIN) && !fl)
        for (int64_t j = 0; j < on; j++) acc[j] = k == R_MAX ? -9.3e18 : 9.3e18;
    /* log-sum-exp: shift by the maximum */
    double *mx = NULL;
    if (k == R_LOGSUMEXP) {
        mx = nb__scratch(m->ctx, (size_t)(on + 1) * 8);
        if (!mx) return NB_ERR_MEM;
        for (int64_t j = 0; j < on; j++) mx[j] = -INFINITY;
        for (int64_t i = 0; i < x->numel; i++) {
            double v = ox_get_f(x, i);
            if (v > mx[map[i]]) mx[map[i]] = v;
        }
        for (int64_t j = 0; j < on; j++)
            if (!isfinite(mx[j])) mx[j] = 0;
    }
    int64_t *iacc = NULL;
    if (!fl && (k == R_SUM || k == R_PROD || k == R_MAX || k == R_MIN || k == R_SUMSQ || k == R_L1)) {
        iacc = nb__scratch(m->ctx, (size_t)(on + 1) * 8);
        if (!iacc) return NB_ERR_MEM;
        for (int64_t j = 0; j < on; j++) iacc[j] = k == R_PROD ? 1 : k == R_MAX ? INT64_MIN : k == R_MIN ? INT64_MAX : 0;
        for (int64_t i = 0; i < x->numel; i++) {
            int64_t v = nb__i(x)[i], *a = &iacc[map[i]];
            switch (k) {
            case R_SUM: *a += v; break;
            case R_PROD: *a *= v; break;
            case R_MAX: if (v > *a) *a = v; break;
            case R_MIN: if (v < *a) *a = v; break;
            case R_SUMSQ: *a += v * v; break;
            default: *a += v < 0 ? -v : v; break;
            }
        }
        for (int64_t j = 0; j < on; j++) nb__i(o)[j] = iacc[j];
        ox_wrap(o, in[0].et);
        out[0] = (ox_val){o, in[0].et};
        return NB_OK;
    }
    for (int64_t i = 0; i < x->numel; i++) {
        double v = ox_get_f(x, i), *a = &acc[map[i]];
        switch (k) {
        case R_SUM: case R_MEAN: case R_LOGSUM: *a += v; break;
        case R_MAX: if (v > *a || v != v) *a = v; break;
        case R_MIN: if (v < *a || v != v) *a = v; break;
        case R_PROD: *a *= v; break;
        case R_L1: *a += fabs(v); break;
        case R_L2: case R_SUMSQ: *a += v * v; break;
        case R_LOGSUMEXP: *a += exp(v - mx[map[i]]); break;
        }
    }
    for (int64_t j = 0; j < on; j++) {
        double v = acc[j];
        switch (k) {
        case R_MEAN: v = cnt ? v / (double)cnt : NAN; break;
        case R_L2: v = sqrt(v); break;
        case R_LOGSUM: v = log(v); break;
        case R_LOGSUMEXP: v = log(v) + mx[j]; break;
        default: break;
        }
        if (fl) nb__f(o)[j] = (float)v;
        else nb__i(o)[j] = ox_f2i(v);
    }
    if (fl && nb__needs_grad(m->ctx, x, NULL, NULL)) {
        nb_node *r = nb__record(o, red_backward, x, NULL, NULL);
        red_saved *rs = r ? nb__node_save(r, sizeof *rs) : NULL;
        if (!rs) return NB_ERR_MEM;
        *rs = (red_saved){k, map, (float)cnt};
    }
    ox_wrap(o, in[0].et);
    out[0] = (ox_val){o, in[0].et};
    return NB_OK;
}

OX_OP(reduce_sum) { return reduce(m, n, in, R_SUM, out); }
OX_OP(reduce_mean) { return reduce(m, n, in, R_MEAN, out); }
OX_OP(reduce_max) { return reduce(m, n, in, R_MAX, out); }
OX_OP(reduce_min) { return reduce(m, n, in, R_MIN, out); }
OX_OP(reduce_prod) { return reduce(m, n, in, R_PROD, out); }
OX_OP(reduce_l1) { return reduce(m, n, in, R_L1, out); }
OX_OP(reduce_l2) { return reduce(m, n, in, R_L2, out); }
OX_OP(reduce_log_sum) { return reduce(m, n, in, R_LOGSUM, out); }
OX_OP(reduce_log_sum_exp) { return reduce(m, n, in, R_LOGSUMEXP, out); }
OX_OP(reduce_sum_square) { return reduce(m, n, in, R_SUMSQ, out); }

OX_OP(argmax)
{
    nb_tensor *x = in[0].t;
    int is_max = !strcmp(n->p->op_type, "ArgMax");
    int64_t a = ox_attr_i(n, "axis", 0);
    int keep = (int)ox_attr_i(n, "keepdims", 1), last = (int)ox_attr_i(n, "select_last_index", 0);
    if (a < -x->ndim || a >= x->ndim) return ox_fail(m, n, NB_ERR_SHAPE, "axis %lld out of range", (long long)a);
    int axis = (int)(a < 0 ? a + x->ndim : a);
    int64_t outer = 1, inner = 1, L = x->shape[axis], shape[NB_MAX_DIMS];
    int ond = 0;
    for (int d = 0; d < x->ndim; d++) {
        if (d < axis) outer *= x->shape[d];
        if (d > axis) inner *= x->shape[d];
        if (d != axis) shape[ond++] = x->shape[d];
        else if (keep) shape[ond++] = 1;
    }
    nb_tensor *o = nb__empty(m->ctx, NB_I64, ond, shape);
    if (!o) return NB_ERR_MEM;
    for (int64_t p = 0; p < outer; p++)
        for (int64_t q = 0; q < inner; q++) {
            int64_t best = 0;
            double bv = ox_get_f(x, p * L * inner + q);
            for (int64_t j = 1; j < L; j++) {
                double v = ox_get_f(x, (p * L + j) * inner + q);
                if (is_max ? (v > bv || (last && v == bv)) : (v < bv || (last && v == bv))) {
                    bv = v;
                    best = j;
                }
            }
            nb__i(o)[p * inner + q] = best;
        }
    out[0] = (ox_val){o, OX_INT64};
    return NB_OK;
}

OX_OP(cumsum)
{
    nb_tensor *x = in[0].t;
    int64_t a = ox_get_i(in[1].t, 0);
    int excl = (int)ox_attr_i(n, "exclusive", 0), rev = (int)ox_attr_i(n, "reverse", 0);
    if (a < -x->ndim || a >= x->ndim) return ox_fail(m, n, NB_ERR_SHAPE, "axis %lld out of range", (long long)a);
    int axis = (int)(a < 0 ? a + x->ndim : a);
    int64_t outer = 1, inner = 1, L = x->shape[axis];
    for (int d = 0; d < axis; d++) outer *= x->shape[d];
    for (int d = axis + 1; d < x->ndim; d++) inner *= x->shape[d];
    nb_tensor *o = ox_new(m->ctx, in[0].et, x->ndim, x->shape);
    if (!o) return NB_ERR_MEM;
    for (int64_t p = 0; p < outer; p++)
        for (int64_t q = 0; q < inner; q++) {
            double acc = 0;
            for (int64_t jj = 0; jj < L; jj++) {
                int64_t j = rev ? L - 1 - jj : jj, idx = (p * L + j) * inner + q;
                double v = ox_get_f(x, idx);
                if (excl) {
                    if (o->dtype == NB_F32) nb__f(o)[idx] = (float)acc;
                    else nb__i(o)[idx] = ox_f2i(acc);
                    acc += v;
                } else {
                    acc += v;
                    if (o->dtype == NB_F32) nb__f(o)[idx] = (float)acc;
                    else nb__i(o)[idx] = ox_f2i(acc);
                }
            }
        }
    out[0] = (ox_val){o, in[0].et};
    return NB_OK;
}
