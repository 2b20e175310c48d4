/* init.c - torch.nn.init: gains, fans, uniform / normal / constant, Xavier, Kaiming.
 * (orthogonal_ is in orthogonal.c.) Bounds and standard deviations are computed in
 * double from the same formulas as torch/nn/init.py; every random draw comes from
 * the nb_rng passed in (or the tensor's context generator when it is NULL), one
 * draw per element in row-major order. */
#include "core/error.h"
#include "core/tensor.h"
#include "core/ctx.h"

#include <math.h>

/* calculate_gain in double (what the Kaiming bounds use) */
static double gain_of(nb_nonlinearity nl, double slope)
{
    switch (nl) {
    case NB_GAIN_TANH: return 5.0 / 3;
    case NB_GAIN_RELU: return sqrt(2.0);
    case NB_GAIN_LEAKY_RELU: return sqrt(2.0 / (1 + slope * slope));
    case NB_GAIN_SELU: return 3.0 / 4;
    default: return 1; /* linear, conv, sigmoid */
    }
}

double nb_calculate_gain(nb_nonlinearity nl, double param) { return gain_of(nl, param); }

nb_status nb_init_fans(const nb_tensor *t, int64_t *fan_in, int64_t *fan_out)
{
    if (!t) return nb__fail(NB_ERR_ARG, "init: the tensor is NULL");
    if (t->ndim < 2)
        return nb__fail(NB_ERR_SHAPE, "Fan in and fan out can not be computed for tensor with fewer than 2 "
                        "dimensions (got %d)", t->ndim);
    int64_t rf = 1;
    for (int i = 2; i < t->ndim; i++) rf *= t->shape[i];
    if (fan_in) *fan_in = t->shape[1] * rf;
    if (fan_out) *fan_out = t->shape[0] * rf;
    return NB_OK;
}

static nb_status check_f32(const nb_tensor *t, const char *what)
{
    if (!t) return nb__fail(NB_ERR_ARG, "%s: the tensor is NULL", what);
    if (t->dtype != NB_F32) return nb__fail(NB_ERR_ARG, "%s: needs an F32 tensor", what);
    return NB_OK;
}

static nb_rng *rng_for(nb_tensor *t, nb_rng *r) { return r ? r : &t->ctx->rng; }

/* t ← a + (b-a)·u, u uniform in [0, 1) */
static void fill_uniform(nb_tensor *t, double a, double b, nb_rng *r)
{
    float *d = nb__f(t);
    nb__bump_version(t);
    float lo = (float)a, width = (float)(b - a);
    for (int64_t i = 0; i < t->numel; i++) d[i] = lo + width * nb_rng_uniform(r);
}

static void fill_normal(nb_tensor *t, double mean, double std, nb_rng *r)
{
    float *d = nb__f(t);
    nb__bump_version(t);
    float m = (float)mean, s = (float)std;
    for (int64_t i = 0; i < t->numel; i++) d[i] = m + s * nb_rng_normal(r);
}

nb_status nb_init_uniform(nb_tensor *t, float a, float b, nb_rng *r)
{
    nb_status st = check_f32(t, "init uniform");
    if (st) return st;
    if (!isfinite(a) || !isfinite(b) || a > b)
        return nb__fail(NB_ERR_ARG, "init uniform: needs finite a <= b (got a=%g b=%g)", a, b);
    fill_uniform(t, a, b, rng_for(t, r));
    return NB_OK;
}

nb_status nb_init_normal(nb_tensor *t, float mean, float std, nb_rng *r)
{
    nb_status st = check_f32(t, "init normal");
    if (st) return st;
    if (!isfinite(mean) || !(std >= 0) || !isfinite(std))
        return nb__fail(NB_ERR_ARG, "init normal: needs a finite mean and std >= 0 (got mean=%g std=%g)", mean, std);
    fill_normal(t, mean, std, rng_for(t, r));
    return NB_OK;
}

nb_status nb_init_constant(nb_tensor *t, float v)
{
    nb_status st = check_f32(t, "init constant");
    if (st) return st;
    float *d = nb__f(t);
    nb__bump_version(t);
    for (int64_t i = 0; i < t->numel; i++) d[i] = v;
    return NB_OK;
}

nb_status nb_init_zeros(nb_tensor *t) { return nb_init_constant(t, 0.0f); }
nb_status nb_init_ones(nb_tensor *t) { return nb_init_constant(t, 1.0f); }

/* The fans of an F32 tensor with at least 2 dims; *empty when it has no elements. */
static nb_status fans_of(const nb_tensor *t, const char *what, int64_t *fi, int64_t *fo, int *empty)
{
    nb_status st = check_f32(t, what);
    if (st) return st;
    st = nb_init_fans(t, fi, fo);
    if (st) {
        nb__error_prefix("%s", what);
        return st;
    }
    *empty = t->numel == 0;
    return NB_OK;
}

static nb_status bad_gain(const char *what, double gain)
{
    return nb__fail(NB_ERR_ARG, "%s: gain must be finite (got %g)", what, gain);
}

nb_status nb_init_xavier_uniform(nb_tensor *t, double gain, nb_rng *r)
{
    int64_t fi, fo;
    int empty;
    nb_status st = fans_of(t, "xavier_uniform", &fi, &fo, &empty);
    if (st || empty) return st;
    if (!isfinite(gain)) return bad_gain("xavier_uniform", gain);
    double std = gain * sqrt(2.0 / (double)(fi + fo));
    double a = sqrt(3.0) * std;
    fill_uniform(t, -a, a, rng_for(t, r));
    return NB_OK;
}

nb_status nb_init_xavier_normal(nb_tensor *t, double gain, nb_rng *r)
{
    int64_t fi, fo;
    int empty;
    nb_status st = fans_of(t, "xavier_normal", &fi, &fo, &empty);
    if (st || empty) return st;
    if (!isfinite(gain)) return bad_gain("xavier_normal", gain);
    fill_normal(t, 0.0, gain * sqrt(2.0 / (double)(fi + fo)), rng_for(t, r));
    return NB_OK;
}

/* std = gain / √fan, gain = calculate_gain(nl, a) */
static nb_status kaiming_std(const nb_tensor *t, const char *what, double a, nb_fan_mode mode, nb_nonlinearity nl,
                             double *std, int *empty)
{
    int64_t fi, fo;
    nb_status st = fans_of(t, what, &fi, &fo, empty);
    if (st || *empty) return st;
    if (mode != NB_FAN_IN && mode != NB_FAN_OUT)
        return nb__fail(NB_ERR_ARG, "%s: mode %d is neither NB_FAN_IN nor NB_FAN_OUT", what, (int)mode);
    if ((unsigned)nl > NB_GAIN_SELU) return nb__fail(NB_ERR_ARG, "%s: unsupported nonlinearity %d", what, (int)nl);
    if (!isfinite(a)) return nb__fail(NB_ERR_ARG, "%s: negative slope a must be finite (got %g)", what, a);
    int64_t fan = mode == NB_FAN_OUT ? fo : fi;
    *std = gain_of(nl, a) / sqrt((double)fan);
    return NB_OK;
}

nb_status nb_init_kaiming_uniform(nb_tensor *t, double a, nb_fan_mode mode, nb_nonlinearity nl, nb_rng *r)
{
    double std;
    int empty;
    nb_status st = kaiming_std(t, "kaiming_uniform", a, mode, nl, &std, &empty);
    if (st || empty) return st;
    double bound = sqrt(3.0) * std;
    fill_uniform(t, -bound, bound, rng_for(t, r));
    return NB_OK;
}

nb_status nb_init_kaiming_normal(nb_tensor *t, double a, nb_fan_mode mode, nb_nonlinearity nl, nb_rng *r)
{
    double std;
    int empty;
    nb_status st = kaiming_std(t, "kaiming_normal", a, mode, nl, &std, &empty);
    if (st || empty) return st;
    fill_normal(t, 0.0, std, rng_for(t, r));
    return NB_OK;
}
