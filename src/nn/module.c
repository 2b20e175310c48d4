/* module.c - the module tree: own parameters/buffers, named children, and the
 * flattened state_dict ("1.weight", "layer1.0.bn1.running_mean") built from it. */
#include "core/error.h"
#include "core/tensor.h"
#include "nn/module.h"
#include "nn/onnx_export.h"

#include <stdlib.h>
#include <string.h>

nb_module *nb__module_new(nb_ctx *ctx, const nb_module_vtable *vt)
{
    if (!ctx) {
        nb__fail(NB_ERR_ARG, "%s: ctx is NULL", vt->kind);
        return NULL;
    }
    nb_module *m = calloc(1, sizeof *m);
    if (!m) {
        nb__fail(NB_ERR_MEM, "out of memory creating %s", vt->kind);
        return NULL;
    }
    m->vt = vt;
    m->ctx = ctx;
    m->training = 1;
    m->state_dirty = 1;
    return m;
}

nb_module *nb__module_new_with(nb_ctx *ctx, const nb_module_vtable *vt, size_t bytes)
{
    nb_module *m = nb__module_new(ctx, vt);
    if (m && !(m->impl = calloc(1, bytes))) {
        nb__fail(NB_ERR_MEM, "out of memory creating %s", vt->kind);
        free(m);
        return NULL;
    }
    return m;
}

static char *dupstr(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

nb_status nb__module_add(nb_module *m, const char *name, nb_tensor *t, int is_buffer)
{
    if (!t) return NB_ERR_MEM;
    nb_named_tensor *own = realloc(m->own, (size_t)(m->n_own + 1) * sizeof *own);
    char *nm = dupstr(name);
    if (!own || !nm) {
        free(nm);
        if (own) m->own = own;
        nb_tensor_free(t);
        return nb__fail(NB_ERR_MEM, "out of memory");
    }
    m->own = own;
    own[m->n_own++] = (nb_named_tensor){.name = nm, .tensor = t, .is_buffer = is_buffer};
    if (!is_buffer) nb_tensor_set_requires_grad(t, 1);
    m->state_dirty = 1;
    return NB_OK;
}

nb_status nb__module_add_child(nb_module *m, const char *name, nb_module *child)
{
    if (!child) return NB_ERR_ARG;
    /* the arrays grow to the next power of two (the capacity is implied by the count):
     * a model file of 200,000 layers is not 200,000 reallocations */
    int n = m->n_children;
    size_t cap = n == 0 ? 1 : (n & (n - 1)) == 0 ? 2 * (size_t)n : 0; /* 0: there is room */
    nb_module **c = cap ? realloc(m->children, cap * sizeof *c) : m->children;
    if (c) m->children = c;
    char **cn = cap ? realloc(m->child_names, cap * sizeof *cn) : m->child_names;
    if (cn) m->child_names = cn;
    char *nm = dupstr(name);
    if (!c || !cn || !nm) {
        free(nm);
        return nb__fail(NB_ERR_MEM, "out of memory");
    }
    m->children[m->n_children] = child;
    m->child_names[m->n_children++] = nm;
    child->training = m->training;
    m->state_dirty = 1;
    return NB_OK;
}

static void clear_state(nb_module *m)
{
    for (int i = 0; i < m->n_state; i++) free(m->state_names[i]);
    free(m->state_names);
    free(m->state);
    free(m->params);
    m->state_names = NULL;
    m->state = NULL;
    m->params = NULL;
    m->n_state = m->n_params = 0;
}

static nb_status collect(nb_module *m, const char *prefix, nb_module *root)
{
    for (int i = 0; i < m->n_own; i++) {
        size_t len = strlen(prefix) + strlen(m->own[i].name) + 1;
        char *nm = malloc(len);
        nb_named_tensor *s = realloc(root->state, (size_t)(root->n_state + 1) * sizeof *s);
        if (s) root->state = s;
        char **sn = realloc(root->state_names, (size_t)(root->n_state + 1) * sizeof *sn);
        if (sn) root->state_names = sn;
        if (!nm || !s || !sn) {
            free(nm);
            return nb__fail(NB_ERR_MEM, "out of memory");
        }
        snprintf(nm, len, "%s%s", prefix, m->own[i].name);
        root->state_names[root->n_state] = nm;
        root->state[root->n_state] = m->own[i];
        root->state[root->n_state].name = nm;
        root->n_state++;
    }
    for (int i = 0; i < m->n_children; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s%s.", prefix, m->child_names[i]);
        nb_status st = collect(m->children[i], p, root);
        if (st) return st;
    }
    return NB_OK;
}

/* Same tensors, names and trainable set as the arrays saved in `old`? */
static int same_state(const nb_module *m, const nb_module *old)
{
    if (m->n_state != old->n_state || m->n_params != old->n_params) return 0;
    for (int i = 0; i < m->n_state; i++)
        if (m->state[i].tensor != old->state[i].tensor || m->state[i].is_buffer != old->state[i].is_buffer ||
            strcmp(m->state[i].name, old->state[i].name))
            return 0;
    for (int i = 0; i < m->n_params; i++)
        if (m->params[i] != old->params[i]) return 0;
    return 1;
}

/* Rebuild the state and parameter arrays; when nothing changed the previous arrays
 * are kept, so pointers handed out earlier stay valid. */
static nb_status refresh(nb_module *m)
{
    if (!m->state_dirty) return NB_OK;
    nb_module old = *m;
    m->state_names = NULL;
    m->state = NULL;
    m->params = NULL;
    m->n_state = m->n_params = 0;
    nb_status st = collect(m, "", m);
    if (!st) {
        m->params = malloc((size_t)(m->n_state ? m->n_state : 1) * sizeof *m->params);
        if (!m->params) st = nb__fail(NB_ERR_MEM, "out of memory");
    }
    if (!st)
        for (int i = 0; i < m->n_state; i++)
            if (!m->state[i].is_buffer && m->state[i].tensor->requires_grad) m->params[m->n_params++] = m->state[i].tensor;
    if (!st && old.state && same_state(m, &old)) { /* keep the old arrays */
        clear_state(m);
        m->state_names = old.state_names;
        m->state = old.state;
        m->params = old.params;
        m->n_state = old.n_state;
        m->n_params = old.n_params;
    } else {
        clear_state(&old);
        if (st) clear_state(m);
    }
    if (st) return st;
    m->state_dirty = 0;
    return NB_OK;
}

/* A child's structure changed: every ancestor must rebuild. Ancestors are not
 * linked, so modules rebuild whenever asked after any add (the arrays are kept
 * when nothing changed). */
const nb_named_tensor *nb_module_state(nb_module *m, int *count)
{
    m->state_dirty = 1;
    if (refresh(m)) {
        *count = 0;
        return NULL;
    }
    *count = m->n_state;
    return m->state;
}

nb_tensor **nb_module_parameters(nb_module *m, int *count)
{
    m->state_dirty = 1;
    if (refresh(m)) {
        *count = 0;
        return NULL;
    }
    *count = m->n_params;
    return m->params;
}

int64_t nb_module_num_params(nb_module *m)
{
    int n;
    const nb_named_tensor *s = nb_module_state(m, &n);
    int64_t total = 0;
    for (int i = 0; i < n; i++)
        if (!s[i].is_buffer) total += s[i].tensor->numel;
    return total;
}

void nb_module_zero_grad(nb_module *m)
{
    for (int i = 0; i < m->n_own; i++) nb_tensor_zero_grad(m->own[i].tensor);
    for (int i = 0; i < m->n_children; i++) nb_module_zero_grad(m->children[i]);
}

nb_tensor *nb_module_forward(nb_module *m, nb_tensor *x)
{
    if (!m) {
        nb__fail(NB_ERR_ARG, "forward: module is NULL");
        return NULL;
    }
    if (!x) return NULL;
    if (m->capture && !*m->capture) *m->capture = x; /* the first call: a module shared twice is captured once */
    return m->vt->forward(m, x);
}

void nb_module_train(nb_module *m, int training)
{
    if (!m) return;
    m->training = training != 0 && !m->keep_eval;
    if (m->vt->train) m->vt->train(m, m->training);
    for (int i = 0; i < m->n_children; i++) nb_module_train(m->children[i], training);
}

int nb_module_is_training(const nb_module *m) { return m->training; }
const char *nb_module_kind(const nb_module *m) { return m->vt->kind; }

void nb_module_free(nb_module *m)
{
    if (!m) return;
    for (int i = 0; i < m->n_children; i++) {
        nb_module_free(m->children[i]);
        free(m->child_names[i]);
    }
    free(m->children);
    free(m->child_names);
    for (int i = 0; i < m->n_own; i++) {
        nb_tensor_free(m->own[i].tensor);
        free((char *)m->own[i].name);
    }
    free(m->own);
    clear_state(m);
    if (m->vt->free) m->vt->free(m);
    free(m->impl);
    free(m);
}

/* ---- Sequential ---- */

nb_tensor *nb__module_fuse(nb_module *const *mods, int n, nb_tensor *x, int training, int *used)
{
    *used = 0;
    if (n < 1 || !mods[0]->vt->fuse) return NULL;
    return mods[0]->vt->fuse(mods, n, x, training, used);
}

/* Each child runs alone unless its fuse hook takes it and some of the next ones as one
 * op (Conv2d + BatchNorm2d + ReLU in eval mode, BatchNorm + ReLU, AdaptiveAvgPool2d +
 * Flatten + Linear: src/nn/conv_modules.c, src/nn/batchnorm.c, src/nn/adaptive_pool.c). */
static const nb_module_vtable seq_vt;
static nb_tensor *seq_forward(nb_module *m, nb_tensor *x) { return nb__sequential_forward_from(m, 0, x); }

nb_tensor *nb__sequential_forward_from(nb_module *m, int start, nb_tensor *x)
{
    if (!m || m->vt != &seq_vt) {
        nb__fail(NB_ERR_ARG, "nb__sequential_forward_from: not a Sequential");
        return NULL;
    }
    for (int i = start; i < m->n_children && x;) {
        int used = 0;
        nb_tensor *y = nb__module_fuse(m->children + i, m->n_children - i, x, m->training, &used);
        if (used > 0) {
            x = y;
            i += used;
            continue;
        }
        x = nb_module_forward(m->children[i], x);
        i++;
    }
    return x;
}

/* ONNX: the children in order (fusion is the runtime's business) */
static int seq_ox(nb_module *m, nb__ox *e, int x) { return nb__ox_children(e, m, x); }

static const nb_module_vtable seq_vt = {.kind = "Sequential", .forward = seq_forward, .to_onnx = seq_ox};

nb_module *nb_sequential_new(nb_ctx *ctx, nb_module **children, int n)
{
    for (int i = 0; i < n; i++)
        if (!children[i]) { /* a child failed to build: free the rest, keep its message */
            for (int j = 0; j < n; j++) nb_module_free(children[j]);
            return NULL;
        }
    nb_module *m = nb__module_new(ctx, &seq_vt);
    if (!m) {
        for (int j = 0; j < n; j++) nb_module_free(children[j]);
        return NULL;
    }
    for (int i = 0; i < n; i++)
        if (nb_sequential_append(m, children[i])) {
            for (int j = i + 1; j < n; j++) nb_module_free(children[j]);
            nb_module_free(m);
            return NULL;
        }
    return m;
}

nb_status nb_sequential_append(nb_module *seq, nb_module *child)
{
    if (!seq || seq->vt != &seq_vt) return nb__fail(NB_ERR_ARG, "nb_sequential_append: not a Sequential");
    char name[32];
    snprintf(name, sizeof name, "%d", seq->n_children);
    nb_status st = nb__module_add_child(seq, name, child);
    if (st) nb_module_free(child);
    return st;
}

nb_module *nb_sequential_child(nb_module *seq, int i)
{
    return seq && i >= 0 && i < seq->n_children ? seq->children[i] : NULL;
}

int nb_sequential_len(const nb_module *seq) { return seq ? seq->n_children : 0; }
