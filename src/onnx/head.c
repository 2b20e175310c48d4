/* head.c - the classifier head of an imported graph, for transfer learning: its last
 * Gemm or MatMul whose weight is a parameter. nb_module_head names it (the weight's
 * name without ".weight": "fc" for torchvision's exports, so "fc.weight" and
 * "fc.bias" are the head), nb_module_features returns its input, and
 * nb_onnx_set_num_classes gives it another output width with fresh weights drawn as
 * PyTorch's Linear draws them, U(±1/√in). */
#include "onnx/onnx_internal.h"

#include <math.h>
#include <string.h>

/* the head node's index (last in run order), or -1 */
static int head_node(const ox_model *m)
{
    for (int k = m->n_nodes - 1; k >= 0; k--) {
        const ox_node *n = &m->nodes[k];
        const char *t = n->p->op_type;
        if ((strcmp(t, "Gemm") && strcmp(t, "MatMul")) || n->n_in < 2 || n->in[1] < 0) continue;
        ox_val w = m->init[n->in[1]];
        if (w.t && w.t->dtype == NB_F32 && w.t->ndim == 2 && m->mod_owned[n->in[1]]) return k;
    }
    return -1;
}

nb_status nb__onnx_head(nb_module *mod, char *name, size_t len)
{
    ox_model *m = mod->impl;
    int k = head_node(m);
    if (k < 0) {
        return nb__fail(NB_ERR_ARG, "the ONNX graph has no Gemm or MatMul with a weight initializer (no classifier head)");
    }
    const char *w = m->vname[m->nodes[k].in[1]];
    size_t l = strlen(w);
    if (l > 7 && !strcmp(w + l - 7, ".weight")) l -= 7;
    if (name && len) snprintf(name, len, "%.*s", (int)l, w);
    return 0;
}

nb_tensor *nb__onnx_features(nb_module *mod, nb_tensor *x, nb_tensor **logits)
{
    ox_model *m = mod->impl;
    int k = head_node(m);
    if (k < 0) {
        nb__fail(NB_ERR_ARG, "the ONNX graph has no Gemm or MatMul with a weight initializer (no classifier head)");
        return NULL;
    }
    nb_tensor *y = nb_module_forward(mod, x);
    if (!y) return NULL;
    if (logits) *logits = y;
    nb_tensor *f = m->vals[m->nodes[k].in[0]].t;
    if (f && f->ndim != 2 && f->ndim >= 1) f = nb_reshape(f, 2, (int64_t[]){-1, f->shape[f->ndim - 1]});
    return f;
}

/* replace the module's tensor for value id by t (freeing the old one) */
static void replace(ox_model *m, int id, nb_tensor *t)
{
    nb_module *mod = m->mod;
    for (int i = 0; i < mod->n_own; i++)
        if (mod->own[i].tensor == m->init[id].t) {
            nb_tensor_free(mod->own[i].tensor);
            mod->own[i].tensor = t;
            nb_tensor_set_requires_grad(t, !mod->own[i].is_buffer);
        }
    m->init[id].t = t;
    mod->state_dirty = 1;
}

int64_t nb_onnx_num_classes(nb_module *mod)
{
    ox_model *m = nb_onnx_is_model(mod) ? mod->impl : NULL;
    int k = m ? head_node(m) : -1;
    if (k < 0) return 0;
    const ox_node *n = &m->nodes[k];
    nb_tensor *w = m->init[n->in[1]].t;
    int tb = !strcmp(n->p->op_type, "Gemm") && ox_attr_i(n, "transB", 0);
    return tb ? w->shape[0] : w->shape[1];
}

int nb_onnx_head_out_axis(nb_module *mod)
{
    ox_model *m = nb_onnx_is_model(mod) ? mod->impl : NULL;
    int k = m ? head_node(m) : -1;
    if (k < 0) return -1;
    const ox_node *n = &m->nodes[k];
    return !strcmp(n->p->op_type, "Gemm") && ox_attr_i(n, "transB", 0) ? 0 : 1;
}

nb_status nb_onnx_set_num_classes(nb_module *mod, int64_t classes)
{
    if (!nb_onnx_is_model(mod) || classes <= 0) return nb__fail(NB_ERR_ARG, "nb_onnx_set_num_classes: not an ONNX model or %lld classes", (long long)classes);
    ox_model *m = mod->impl;
    int k = head_node(m);
    if (k < 0) return nb__fail(NB_ERR_ARG, "the ONNX graph has no Gemm or MatMul with a weight initializer (no classifier head)");
    const ox_node *n = &m->nodes[k];
    int wid = n->in[1];
    nb_tensor *w = m->init[wid].t;
    int tb = !strcmp(n->p->op_type, "Gemm") && ox_attr_i(n, "transB", 0);
    int64_t in = tb ? w->shape[1] : w->shape[0], out = tb ? w->shape[0] : w->shape[1];
    if (classes == out) return NB_OK;
    /* the bias: Gemm's C, or an Add of the MatMul's output and an initializer */
    int bid = -1;
    if (!strcmp(n->p->op_type, "Gemm") && n->n_in > 2 && n->in[2] >= 0 && m->mod_owned[n->in[2]]) bid = n->in[2];
    else
        for (int q = k + 1; q < m->n_nodes && bid < 0; q++) {
            const ox_node *a = &m->nodes[q];
            if (strcmp(a->p->op_type, "Add") || a->n_in != 2) continue;
            for (int s = 0; s < 2; s++)
                if (a->in[s] == n->out[0] && a->in[1 - s] >= 0 && m->mod_owned[a->in[1 - s]]) bid = a->in[1 - s];
        }
    if (bid >= 0 && m->init[bid].t->numel != out)
        return nb__fail(NB_ERR_SHAPE, "the head's bias '%s' is %s for %lld outputs", m->vname[bid], nb__tshape(m->init[bid].t), (long long)out);
    int64_t ws[2] = {tb ? classes : in, tb ? in : classes};
    nb_tensor *nw = nb_tensor_new(m->ctx, NB_F32, 2, ws), *nbias = bid >= 0 ? nb_tensor_new(m->ctx, NB_F32, 1, &classes) : NULL;
    if (!nw || (bid >= 0 && !nbias)) {
        nb_tensor_free(nw);
        nb_tensor_free(nbias);
        return NB_ERR_MEM;
    }
    double bound = 1.0 / sqrt((double)in);
    nb_init_uniform(nw, (float)-bound, (float)bound, NULL);
    if (nbias) nb_init_uniform(nbias, (float)-bound, (float)bound, NULL);
    replace(m, wid, nw);
    if (nbias) replace(m, bid, nbias);
    return NB_OK;
}
