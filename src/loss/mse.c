/* mse.c - MSELoss and the textbook sum of squared errors, one fused op each.
 * Layout: input and target contiguous, the same shape (no broadcasting: a
 * shape mismatch is an error, where PyTorch only warns and broadcasts).
 *   MSELoss:  l_i = (x_i - t_i)^2; mean divides Σ l_i by numel.
 *   SSE:      E = 1/2 Σ (x_i - t_i)^2 = 0.5 × MSELoss(reduction=sum).
 * Backward: dx_i = 2c (x_i - t_i) · g_i · scale, dt_i = -dx_i (c = 1 or 1/2). */
#include "loss/loss.h"
#include "core/tensor.h"
#include "core/tape.h"

/* What mse_backward needs. */
typedef struct {
    nb_reduction r;
    float scale; /* mean: 1/N, else 1 */
    float c; /* the loss is c·(x-t)^2 */
} mse_saved;

static void mse_backward(nb_node *n)
{
    const mse_saved *st = n->saved;
    nb_tensor *x = n->in[0], *t = n->in[1];
    nb_reduction r = st->r;
    float scale = st->scale, two_c = 2.0f * st->c;
    const float *xv = nb__f(x), *tv = nb__f(t);
    float *gx = x->requires_grad ? x->grad : NULL, *gt = t->requires_grad ? t->grad : NULL;
    for (int64_t i = 0; i < x->numel; i++) {
        float d = two_c * (xv[i] - tv[i]) * nb__loss_gscale(n, r, i, scale);
        if (gx) gx[i] += d;
        if (gt) gt[i] -= d;
    }
}

/* c·(x-t)^2 reduced by r; name for messages. */
static nb_tensor *squared_error(nb_tensor *x, nb_tensor *t, nb_reduction r, float c, const char *name)
{
    if (!x || !t) return NULL;
    if (nb__loss_check_reduction(r, name) || nb__loss_check_f32(x, name, "input") ||
        nb__loss_check_f32(t, name, "target") || nb__loss_check_same(x, t, name))
        return NULL;
    nb_tensor *out = nb__loss_out(x->ctx, r, x->ndim, x->shape);
    if (!out) return NULL;
    const float *xv = nb__f(x), *tv = nb__f(t);
    int64_t N = x->numel;
    if (r == NB_NONE) {
        float *y = nb__f(out);
        for (int64_t i = 0; i < N; i++) {
            float d = xv[i] - tv[i];
            y[i] = c * d *d;
        }
    } else {
        double s = 0;
        for (int64_t i = 0; i < N; i++) {
            double d = (double)xv[i] - (double)tv[i];
            s += d *d;
        }
        nb__loss_store(out, r, c * s, (double)N);
    }
    if (nb__needs_grad(x->ctx, x, t, NULL)) {
        mse_saved *st = nb__record_with(out, mse_backward, x, t, NULL, sizeof *st);
        if (!st) return NULL;
        st->r = r;
        st->scale = r == NB_MEAN ? (N ? 1.0f / (float)N : NAN) : 1.0f;
        st->c = c;
    }
    return out;
}

nb_tensor *nb_mse_loss(nb_tensor *input, nb_tensor *target, nb_reduction r)
{
    return squared_error(input, target, r, 1.0f, "MSELoss");
}

nb_tensor *nb_sse_loss(nb_tensor *input, nb_tensor *target)
{
    return squared_error(input, target, NB_SUM, 0.5f, "SSE loss");
}
