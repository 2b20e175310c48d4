/* optim.c - the optimizer object shared by SGD, Adam and AdamW: parameters in
 * groups with their own lr / weight decay / momentum, per-parameter state tensors
 * allocated when a parameter is added (nb_optim_step allocates nothing), option
 * checks with torch's rules, zero_grad, learning rates and the named state view
 * for checkpoints. */
#include "optim/optim.h"
#include "core/error.h"
#include "core/tensor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *kind_name(const nb_optim *o)
{
    return o->kind == NB_OPT_SGD ? "SGD" : o->kind == NB_OPT_ADAM ? "Adam" : "AdamW";
}

/* A new F32 state tensor shaped like p (or [] when scalar), zeroed. */
static nb_tensor *state_tensor(nb_tensor *p, int scalar)
{
    return nb_tensor_new(p->ctx, NB_F32, scalar ? 0 : p->ndim, p->shape);
}

/* Allocate SGD's momentum buffer of parameter state s if it has none. */
static nb_status add_momentum_buffer(nb__param_state *s)
{
    if (s->buf1) return NB_OK;
    s->buf1 = state_tensor(s->p, 0);
    return s->buf1 ? NB_OK : NB_ERR_MEM;
}

static nb_status add_params(nb_optim *o, nb_tensor **params, int n, int group)
{
    if (n < 0 || (n > 0 && !params))
        return nb__fail(NB_ERR_ARG, "%s: bad parameter list (n=%d, params %s)", kind_name(o), n,
                        params ? "given" : "NULL");
    for (int i = 0; i < n; i++) {
        nb_tensor *p = params[i];
        if (!p) return nb__fail(NB_ERR_ARG, "%s: parameter %d of group %d is NULL", kind_name(o), i, group);
        if (p->dtype != NB_F32)
            return nb__fail(NB_ERR_ARG, "%s: parameter %d of group %d is not F32", kind_name(o), i, group);
        if (p->in_arena || !p->ctx)
            return nb__fail(NB_ERR_ARG, "%s: parameter %d of group %d is an op result (arena tensor), not a "
                            "parameter", kind_name(o), i, group);
        for (int j = 0; j < i; j++)
            if (params[j] == p)
                return nb__fail(NB_ERR_ARG, "%s: parameter %d of group %d is given twice (also as %d)",
                                kind_name(o), i, group, j);
        for (int k = 0; k < o->n; k++)
            if (o->ps[k].p == p)
                return nb__fail(NB_ERR_ARG, "%s: some parameters appear in more than one parameter group "
                                "(parameter %d of group %d is already in group %d)",
                                kind_name(o), i, group, o->ps[k].group);
    }
    if (o->n + n > o->cap) {
        int cap = o->cap ? o->cap : 8;
        while (cap < o->n + n) cap *= 2;
        nb__param_state *ps = realloc(o->ps, sizeof *ps * (size_t)cap);
        if (!ps) return nb__fail(NB_ERR_MEM, "out of memory for the %s state", kind_name(o));
        o->ps = ps;
        o->cap = cap;
    }
    const nb__group *g = &o->groups[group];
    for (int i = 0; i < n; i++) {
        nb__param_state *s = &o->ps[o->n];
        memset(s, 0, sizeof *s);
        s->p = params[i];
        s->group = group;
        o->n++; /* counted now, so nb_optim_free releases whatever was allocated */
        int ok = (s->step = state_tensor(s->p, 1)) != NULL;
        if (o->kind == NB_OPT_SGD) {
            if (ok && g->momentum != 0) ok = add_momentum_buffer(s) == NB_OK;
        } else {
            ok = ok && (s->buf1 = state_tensor(s->p, 0)) && (s->buf2 = state_tensor(s->p, 0));
            if (ok && o->adam.amsgrad) ok = (s->buf3 = state_tensor(s->p, 0)) != NULL;
        }
        if (!ok) return nb__fail(NB_ERR_MEM, "out of memory for the %s state", kind_name(o));
    }
    o->named_stale = 1;
    return NB_OK;
}

static nb_status push_group(nb_optim *o, double lr, double wd, double momentum)
{
    nb__group *g = realloc(o->groups, sizeof *g * (size_t)(o->n_groups + 1));
    if (!g) return nb__fail(NB_ERR_MEM, "out of memory for the %s parameter groups", kind_name(o));
    o->groups = g;
    g[o->n_groups++] = (nb__group){.lr = lr, .base_lr = lr, .weight_decay = wd, .momentum = momentum};
    return NB_OK;
}

static nb_optim *optim_new(nb__optim_kind kind, nb_tensor **params, int n, double lr, double wd,
                           double momentum, const nb_sgd_opts *sgd, const nb_adam_opts *adam)
{
    nb_optim *o = calloc(1, sizeof *o);
    if (!o) {
        nb__fail(NB_ERR_MEM, "out of memory creating the optimizer");
        return NULL;
    }
    o->kind = kind;
    if (sgd) o->sgd = *sgd;
    if (adam) o->adam = *adam;
    if (push_group(o, lr, wd, momentum) || add_params(o, params, n, 0)) {
        nb_optim_free(o);
        return NULL;
    }
    return o;
}

nb_optim *nb_sgd_new(nb_tensor **params, int n, const nb_sgd_opts *opts)
{
    nb_sgd_opts s = opts ? *opts : (nb_sgd_opts){0};
    if (!(s.lr > 0) || !isfinite(s.lr)) {
        nb__fail(NB_ERR_ARG, "SGD: lr is required and must be positive (got %g)", s.lr);
        return NULL;
    }
    if (!(s.momentum >= 0) || !(s.dampening >= 0) || !(s.weight_decay >= 0)) {
        nb__fail(NB_ERR_ARG, "SGD: momentum, dampening and weight_decay must be >= 0 (got momentum=%g "
                 "dampening=%g weight_decay=%g)", s.momentum, s.dampening, s.weight_decay);
        return NULL;
    }
    if (s.nesterov && (s.momentum <= 0 || s.dampening != 0)) {
        nb__fail(NB_ERR_ARG, "SGD: Nesterov momentum requires a momentum and zero dampening (got momentum=%g "
                 "dampening=%g)", s.momentum, s.dampening);
        return NULL;
    }
    return optim_new(NB_OPT_SGD, params, n, s.lr, s.weight_decay, s.momentum, &s, NULL);
}

static nb_optim *adam_new(nb__optim_kind kind, nb_tensor **params, int n, const nb_adam_opts *opts)
{
    const char *name = kind == NB_OPT_ADAMW ? "AdamW" : "Adam";
    nb_adam_opts a = opts ? *opts : (nb_adam_opts){0};
    if (a.lr == 0) a.lr = 1e-3;
    if (!a.betas_set) {
        if (a.beta1 == 0) a.beta1 = 0.9;
        if (a.beta2 == 0) a.beta2 = 0.999;
    }
    if (a.eps == 0) a.eps = 1e-8;
    if (kind == NB_OPT_ADAMW) a.weight_decay = a.weight_decay == 0 ? 1e-2 : a.weight_decay < 0 ? 0 : a.weight_decay;
    if (!(a.lr > 0) || !isfinite(a.lr)) {
        nb__fail(NB_ERR_ARG, "%s: invalid learning rate: %g", name, a.lr);
        return NULL;
    }
    if (!(a.eps >= 0)) {
        nb__fail(NB_ERR_ARG, "%s: invalid epsilon value: %g", name, a.eps);
        return NULL;
    }
    if (!(a.beta1 >= 0 && a.beta1 < 1) || !(a.beta2 >= 0 && a.beta2 < 1)) {
        nb__fail(NB_ERR_ARG, "%s: invalid betas (%g, %g): each must be in [0, 1)", name, a.beta1, a.beta2);
        return NULL;
    }
    if (!(a.weight_decay >= 0)) {
        nb__fail(NB_ERR_ARG, "%s: invalid weight_decay value: %g", name, a.weight_decay);
        return NULL;
    }
    return optim_new(kind, params, n, a.lr, a.weight_decay, a.beta1, NULL, &a);
}

nb_optim *nb_adam_new(nb_tensor **params, int n, const nb_adam_opts *o) { return adam_new(NB_OPT_ADAM, params, n, o); }
nb_optim *nb_adamw_new(nb_tensor **params, int n, const nb_adam_opts *o) { return adam_new(NB_OPT_ADAMW, params, n, o); }

nb_status nb_optim_add_group(nb_optim *o, const nb_param_group *g)
{
    if (!o || !g) return nb__fail(NB_ERR_ARG, "nb_optim_add_group: NULL %s", o ? "group" : "optimizer");
    double lr = g->lr > 0 ? g->lr : o->groups[0].base_lr;
    double wd = g->weight_decay_set ? g->weight_decay : o->groups[0].weight_decay;
    if (g->lr < 0 || !isfinite(g->lr) || !(wd >= 0))
        return nb__fail(NB_ERR_ARG, "%s: group %d: invalid lr %g or weight_decay %g", kind_name(o), o->n_groups,
                        g->lr, wd);
    /* torch: a new group takes the optimizer's defaults for what it does not set */
    double momentum = o->kind == NB_OPT_SGD ? o->sgd.momentum : o->adam.beta1;
    nb_status st = push_group(o, lr, wd, momentum);
    if (st) return st;
    int before = o->n;
    st = add_params(o, g->params, g->n, o->n_groups - 1);
    if (st) { /* leave the optimizer as it was */
        nb_status code = st;
        for (int k = before; k < o->n; k++) {
            nb_tensor_free(o->ps[k].step);
            nb_tensor_free(o->ps[k].buf1);
            nb_tensor_free(o->ps[k].buf2);
            nb_tensor_free(o->ps[k].buf3);
        }
        o->n = before;
        o->n_groups--;
        return code;
    }
    return NB_OK;
}

nb_status nb_optim_step(nb_optim *o)
{
    if (!o) return nb__fail(NB_ERR_ARG, "nb_optim_step: NULL optimizer");
    if (o->kind == NB_OPT_SGD) nb__sgd_step(o);
    else nb__adam_step(o);
    for (int k = 0; k < o->n; k++) /* the steps update every parameter that has a gradient */
        if (o->ps[k].p->grad) nb__bump_version(o->ps[k].p);
    return NB_OK;
}

void nb_optim_zero_grad(nb_optim *o)
{
    if (!o) return;
    for (int i = 0; i < o->n; i++) nb_tensor_zero_grad(o->ps[i].p);
}

static void free_names(nb_optim *o)
{
    for (int i = 0; i < o->n_named; i++) free(o->names[i]);
    free(o->names);
    free(o->named);
    o->names = NULL;
    o->named = NULL;
    o->n_named = 0;
}

void nb_optim_free(nb_optim *o)
{
    if (!o) return;
    for (int i = 0; i < o->n; i++) {
        nb_tensor_free(o->ps[i].step);
        nb_tensor_free(o->ps[i].buf1);
        nb_tensor_free(o->ps[i].buf2);
        nb_tensor_free(o->ps[i].buf3);
    }
    free_names(o);
    free(o->ps);
    free(o->groups);
    free(o);
}

int nb_optim_num_groups(const nb_optim *o) { return o ? o->n_groups : 0; }

static int good_group(const nb_optim *o, int g) { return o && g >= 0 && g < o->n_groups; }

double nb_optim_get_lr(const nb_optim *o, int g) { return good_group(o, g) ? o->groups[g].lr : NAN; }
double nb_optim_get_base_lr(const nb_optim *o, int g) { return good_group(o, g) ? o->groups[g].base_lr : NAN; }
double nb_optim_get_momentum(const nb_optim *o, int g) { return good_group(o, g) ? o->groups[g].momentum : NAN; }

nb_status nb_optim_set_lr(nb_optim *o, int g, double lr)
{
    if (!o || g < -1 || g >= o->n_groups)
        return nb__fail(NB_ERR_ARG, "nb_optim_set_lr: no group %d (the optimizer has %d)", g, o ? o->n_groups : 0);
    if (!(lr >= 0) || !isfinite(lr)) return nb__fail(NB_ERR_ARG, "nb_optim_set_lr: invalid learning rate %g", lr);
    for (int k = 0; k < o->n_groups; k++)
        if (g < 0 || k == g) o->groups[k].lr = lr;
    return NB_OK;
}

nb_status nb_optim_set_base_lr(nb_optim *o, int g, double lr)
{
    if (!o || g < -1 || g >= o->n_groups)
        return nb__fail(NB_ERR_ARG, "nb_optim_set_base_lr: no group %d (the optimizer has %d)", g,
                        o ? o->n_groups : 0);
    if (!(lr > 0) || !isfinite(lr)) return nb__fail(NB_ERR_ARG, "nb_optim_set_base_lr: invalid learning rate %g", lr);
    for (int k = 0; k < o->n_groups; k++)
        if (g < 0 || k == g) o->groups[k].base_lr = lr;
    return NB_OK;
}

nb_status nb_optim_set_momentum(nb_optim *o, int g, double m)
{
    if (!o || g < -1 || g >= o->n_groups)
        return nb__fail(NB_ERR_ARG, "nb_optim_set_momentum: no group %d (the optimizer has %d)", g,
                        o ? o->n_groups : 0);
    if (o->kind == NB_OPT_SGD ? !(m >= 0) || !isfinite(m) : !(m >= 0 && m < 1))
        return nb__fail(NB_ERR_ARG, "nb_optim_set_momentum: invalid %s %g for %s",
                        o->kind == NB_OPT_SGD ? "momentum" : "beta1", m, kind_name(o));
    if (o->kind == NB_OPT_SGD && m != 0)
        for (int k = 0; k < o->n; k++)
            if ((g < 0 || o->ps[k].group == g) && !o->ps[k].buf1) {
                if (add_momentum_buffer(&o->ps[k]))
                    return nb__fail(NB_ERR_MEM, "out of memory for SGD momentum buffers");
                o->named_stale = 1;
            }
    for (int k = 0; k < o->n_groups; k++)
        if (g < 0 || k == g) o->groups[k].momentum = m;
    return NB_OK;
}

int nb_optim_state(nb_optim *o, const nb_named_tensor **out)
{
    if (!o) {
        nb__fail(NB_ERR_ARG, "nb_optim_state: NULL optimizer");
        return -1;
    }
    if (o->named_stale || !o->named) {
        free_names(o);
        int cap = 4 * o->n + 1;
        o->named = calloc((size_t)cap, sizeof *o->named);
        o->names = calloc((size_t)cap, sizeof *o->names);
        if (!o->named || !o->names) goto oom;
        static const char *const sgd_names[] = {"momentum_buffer", NULL, NULL};
        static const char *const adam_names[] = {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
        const char *const *bn = o->kind == NB_OPT_SGD ? sgd_names : adam_names;
        for (int k = 0; k < o->n; k++) {
            nb__param_state *s = &o->ps[k];
            nb_tensor *ts[4] = {s->step, s->buf1, s->buf2, s->buf3};
            for (int j = 0; j < 4; j++) {
                if (!ts[j]) continue;
                char buf[64];
                snprintf(buf, sizeof buf, "state.%d.%s", k, j == 0 ? "step" : bn[j - 1]);
                char *name = strdup(buf);
                if (!name) goto oom;
                o->names[o->n_named] = name;
                o->named[o->n_named++] = (nb_named_tensor){.name = name, .tensor = ts[j], .is_buffer = 1};
            }
        }
        o->named_stale = 0;
    }
    if (out) *out = o->named;
    return o->n_named;
oom:
    free_names(o);
    nb__fail(NB_ERR_MEM, "out of memory listing the optimizer state");
    return -1;
}
