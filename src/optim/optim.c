/* optim.c - the optimizer object: parameters in groups, state buffers allocated
 * up front (nb_optim_step allocates nothing), zero_grad, learning rates. */
#include "optim.h"

#include <stdlib.h>
#include <string.h>

static nb_status add_params(nb_optim *o, nb_tensor **params, int n, int group)
{
    for (int i = 0; i < n; i++)
        if (!params[i] || params[i]->dtype != NB_F32)
            return nb__fail(NB_ERR_ARG, "optimizer: parameter %d is NULL or not F32", i);
    nb__param_state *ps = realloc(o->ps, sizeof *ps * (size_t)(o->n + n));
    if (!ps && o->n + n) return nb__fail(NB_ERR_MEM, "out of memory creating the optimizer");
    o->ps = ps;
    int nbuf = o->kind == NB_OPT_SGD ? 1 : (o->adam.amsgrad ? 3 : 2);
    for (int i = 0; i < n; i++) {
        nb__param_state *s = &o->ps[o->n + i];
        memset(s, 0, sizeof *s);
        s->p = params[i];
        s->group = group;
        size_t bytes = sizeof(float) * (size_t)(params[i]->numel ? params[i]->numel : 1);
        float **bufs[3] = {&s->buf1, &s->buf2, &s->buf3};
        for (int b = 0; b < nbuf; b++) {
            if (o->kind == NB_OPT_SGD && o->sgd.momentum == 0) break;
            *bufs[b] = calloc(1, bytes);
            if (!*bufs[b]) {
                o->n += i + 1;
                return nb__fail(NB_ERR_MEM, "out of memory for optimizer state");
            }
        }
    }
    o->n += n;
    return NB_OK;
}

static nb_status add_group(nb_optim *o, float lr, float wd)
{
    nb__group *g = realloc(o->groups, sizeof *g * (size_t)(o->n_groups + 1));
    if (!g) return nb__fail(NB_ERR_MEM, "out of memory");
    o->groups = g;
    g[o->n_groups++] = (nb__group){.lr = lr, .base_lr = lr, .weight_decay = wd};
    return NB_OK;
}

nb_optim *nb__optim_new(nb__optim_kind kind, nb_tensor **params, int n, float lr, float wd)
{
    if (n < 0 || (n && !params)) {
        nb__fail(NB_ERR_ARG, "optimizer: bad parameter list");
        return NULL;
    }
    nb_optim *o = calloc(1, sizeof *o);
    if (!o) {
        nb__fail(NB_ERR_MEM, "out of memory creating the optimizer");
        return NULL;
    }
    o->kind = kind;
    return o;
}

/* finish construction once kind-specific options are in place */
static nb_optim *finish(nb_optim *o, nb_tensor **params, int n, float lr, float wd)
{
    if (add_group(o, lr, wd) || add_params(o, params, n, 0)) {
        nb_optim_free(o);
        return NULL;
    }
    return o;
}

nb_optim *nb_sgd_new(nb_tensor **params, int n, const nb_sgd_opts *opts)
{
    nb_sgd_opts s = opts ? *opts : (nb_sgd_opts){0};
    if (!(s.lr > 0) || s.momentum < 0 || s.weight_decay < 0 || s.dampening < 0) {
        nb__fail(NB_ERR_ARG, "SGD: lr must be positive and momentum, dampening, weight_decay non-negative "
                             "(lr=%g momentum=%g dampening=%g weight_decay=%g)", s.lr, s.momentum, s.dampening, s.weight_decay);
        return NULL;
    }
    if (s.nesterov && (s.momentum <= 0 || s.dampening != 0)) {
        nb__fail(NB_ERR_ARG, "SGD: Nesterov momentum requires a momentum and zero dampening");
        return NULL;
    }
    nb_optim *o = nb__optim_new(NB_OPT_SGD, params, n, s.lr, s.weight_decay);
    if (!o) return NULL;
    o->sgd = s;
    return finish(o, params, n, s.lr, s.weight_decay);
}

static nb_optim *adam_new(nb__optim_kind kind, nb_tensor **params, int n, const nb_adam_opts *opts)
{
    nb_adam_opts a = opts ? *opts : (nb_adam_opts){0};
    if (a.lr == 0) a.lr = 1e-3f;
    if (a.beta1 == 0) a.beta1 = 0.9f;
    if (a.beta2 == 0) a.beta2 = 0.999f;
    if (a.eps == 0) a.eps = 1e-8f;
    if (kind == NB_OPT_ADAMW) a.weight_decay = a.weight_decay == 0 ? 1e-2f : a.weight_decay < 0 ? 0 : a.weight_decay;
    if (!(a.lr > 0) || a.beta1 < 0 || a.beta1 >= 1 || a.beta2 < 0 || a.beta2 >= 1 || a.eps < 0 || a.weight_decay < 0) {
        nb__fail(NB_ERR_ARG, "%s: invalid options (lr=%g betas=(%g, %g) eps=%g weight_decay=%g)",
                 kind == NB_OPT_ADAMW ? "AdamW" : "Adam", a.lr, a.beta1, a.beta2, a.eps, a.weight_decay);
        return NULL;
    }
    nb_optim *o = nb__optim_new(kind, params, n, a.lr, a.weight_decay);
    if (!o) return NULL;
    o->adam = a;
    return finish(o, params, n, a.lr, a.weight_decay);
}

nb_optim *nb_adam_new(nb_tensor **params, int n, const nb_adam_opts *o) { return adam_new(NB_OPT_ADAM, params, n, o); }
nb_optim *nb_adamw_new(nb_tensor **params, int n, const nb_adam_opts *o) { return adam_new(NB_OPT_ADAMW, params, n, o); }

nb_status nb_optim_add_group(nb_optim *o, const nb_param_group *g)
{
    if (!o || !g) return nb__fail(NB_ERR_ARG, "nb_optim_add_group: NULL argument");
    float lr = g->lr >= 0 ? g->lr : o->groups[0].base_lr;
    float wd = g->weight_decay >= 0 ? g->weight_decay : o->groups[0].weight_decay;
    if (add_group(o, lr, wd)) return NB_ERR_MEM;
    return add_params(o, g->params, g->n, o->n_groups - 1);
}

nb_status nb_optim_step(nb_optim *o)
{
    if (!o) return nb__fail(NB_ERR_ARG, "nb_optim_step: NULL optimizer");
    if (o->kind == NB_OPT_SGD) nb__sgd_step(o);
    else nb__adam_step(o);
    return NB_OK;
}

void nb_optim_zero_grad(nb_optim *o)
{
    if (!o) return;
    for (int i = 0; i < o->n; i++) nb_tensor_zero_grad(o->ps[i].p);
}

void nb_optim_free(nb_optim *o)
{
    if (!o) return;
    for (int i = 0; i < o->n; i++) {
        free(o->ps[i].buf1);
        free(o->ps[i].buf2);
        free(o->ps[i].buf3);
    }
    free(o->ps);
    free(o->groups);
    free(o);
}

float nb_optim_get_lr(const nb_optim *o, int g) { return o && g >= 0 && g < o->n_groups ? o->groups[g].lr : 0; }

void nb_optim_set_lr(nb_optim *o, int g, float lr)
{
    if (o && g >= 0 && g < o->n_groups) o->groups[g].lr = lr;
}

int nb_optim_num_groups(const nb_optim *o) { return o ? o->n_groups : 0; }
