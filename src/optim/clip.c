/* clip.c - torch.nn.utils.clip_grad_norm_ and clip_grad_value_ (PyTorch 1.13).
 * clip_grad_norm_: per-parameter norms (float32 tensors in torch; here accumulated in
 * double and rounded to float), total = the same norm of those, then in float32
 * coef = (1/(total + 1e-6))·max_norm (torch's `max_norm / t` is t.reciprocal() *
 * max_norm), clamped to 1, and every gradient multiplied by it. */
#include "core/error.h"
#include "core/tensor.h"
#include "core/threads.h"

#include <math.h>

/* |g|^p summed (p finite) or max |g| (p infinite), over n floats, in double */
static double grad_norm(const float *g, int64_t n, double p)
{
    double acc = 0;
    if (isinf(p)) {
        for (int64_t i = 0; i < n; i++) {
            double a = fabs((double)g[i]);
            if (a > acc || a != a) acc = a;
        }
        return acc;
    }
    if (p == 2)
        for (int64_t i = 0; i < n; i++) acc += (double)g[i] * g[i];
    else if (p == 1)
        for (int64_t i = 0; i < n; i++) acc += fabs((double)g[i]);
    else
        for (int64_t i = 0; i < n; i++) acc += pow(fabs((double)g[i]), p);
    return p == 2 ? sqrt(acc) : p == 1 ? acc : pow(acc, 1.0 / p);
}

static nb_status check_list(nb_tensor **params, int n, const char *fn)
{
    if (n < 0 || (n > 0 && !params)) return nb__fail(NB_ERR_ARG, "%s: bad parameter list (n=%d)", fn, n);
    for (int k = 0; k < n; k++)
        if (params[k] && params[k]->grad && params[k]->dtype != NB_F32)
            return nb__fail(NB_ERR_ARG, "%s: parameter %d is not F32", fn, k);
    return NB_OK;
}

/* One gradient and the clip's value (the norm's coefficient, or the bound), as the
 * chunks (nb__parallel_if) read them. */
typedef struct {
    float *g;
    float v;
} clip_job;

static void scale_chunk(void *ctx, int64_t b, int64_t e, int slot)
{
    const clip_job *job = ctx;
    float *g = job->g, v = job->v;
    for (int64_t i = b; i < e; i++) g[i] *= v;
}

/* torch.clamp keeps NaN */
static void clamp_chunk(void *ctx, int64_t b, int64_t e, int slot)
{
    const clip_job *job = ctx;
    float *g = job->g, v = job->v;
    for (int64_t i = b; i < e; i++) g[i] = g[i] < -v ? -v : g[i] > v ? v : g[i];
}

/* fn over the gradient of every parameter that has one. */
static void each_grad(nb_tensor **params, int n, nb__chunk_fn fn, float v)
{
    for (int k = 0; k < n; k++) {
        nb_tensor *t = params[k];
        if (t && t->grad) nb__parallel_if(t->numel, t->numel, nb__chunk_for(t->numel), fn, &(clip_job){t->grad, v});
    }
}

float nb_clip_grad_norm(nb_tensor **params, int n, float max_norm, float norm_type)
{
    if (check_list(params, n, "clip_grad_norm")) return NAN;
    if (!(norm_type > 0)) {
        nb__fail(NB_ERR_ARG, "clip_grad_norm: norm_type must be positive or INFINITY (got %g)", norm_type);
        return NAN;
    }
    if (isnan(max_norm)) {
        nb__fail(NB_ERR_ARG, "clip_grad_norm: max_norm is NaN");
        return NAN;
    }
    double p = norm_type, total = 0;
    int any = 0;
    for (int k = 0; k < n; k++) {
        nb_tensor *t = params[k];
        if (!t || !t->grad) continue;
        any = 1;
        double part = (float)grad_norm(t->grad, t->numel, p); /* torch.norm(g) is a float32 tensor */
        if (isinf(p)) {
            if (part > total || part != part) total = part;
        } else {
            total += p == 2 ? part * part : p == 1 ? part : pow(part, p);
        }
    }
    if (!any) return 0.0f;
    float tn = (float)(isinf(p) ? total : p == 2 ? sqrt(total) : p == 1 ? total : pow(total, 1.0 / p));
    float coef = (1.0f / (tn + 1e-6f)) * max_norm;
    if (!(coef < 1.0f) && !isnan(coef)) return tn; /* clamped to 1: the gradients stay as they are */
    each_grad(params, n, scale_chunk, coef);
    return tn;
}

nb_status nb_clip_grad_value(nb_tensor **params, int n, float v)
{
    nb_status st = check_list(params, n, "clip_grad_value");
    if (st) return st;
    if (!(v >= 0)) return nb__fail(NB_ERR_ARG, "clip_grad_value: clip_value must be >= 0 (got %g)", v);
    each_grad(params, n, clamp_chunk, v);
    return NB_OK;
}
