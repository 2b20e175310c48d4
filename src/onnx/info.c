/* info.c - nb_onnx_print: an imported graph described for a person: the opset, the
 * inputs and outputs with their declared types and shapes, the parameters and
 * buffers with their counts, and every node with its op, inputs and the shapes of
 * its outputs, found by running the graph once on zeros (symbolic dimensions as 1). */
#include "onnx/onnx_internal.h"

#include <string.h>

static void print_info(FILE *f, const ox_info *inf)
{
    fprintf(f, "  %s: %s [", inf->name, ox_type_name(inf->et));
    for (int d = 0; d < inf->ndim; d++) {
        if (inf->shape[d] >= 0) fprintf(f, "%s%lld", d ? ", " : "", (long long)inf->shape[d]);
        else fprintf(f, "%s%s", d ? ", " : "", inf->dim_param[d] ? inf->dim_param[d] : "?");
    }
    fprintf(f, "%s]\n", inf->ndim < 0 ? "?" : "");
}

nb_status nb_onnx_print(nb_module *mod, FILE *f)
{
    if (!nb_onnx_is_model(mod) || !f) return nb__fail(NB_ERR_ARG, "nb_onnx_print: not an ONNX model");
    ox_model *m = mod->impl;
    const Onnx__ModelProto *p = m->proto;
    fprintf(f, "ONNX model: opset %d, IR version %lld, producer %s %s, %d nodes\n", m->opset, (long long)p->ir_version,
            p->producer_name && *p->producer_name ? p->producer_name : "?", p->producer_version ? p->producer_version : "", m->n_nodes);
    fprintf(f, "inputs:\n");
    for (int i = 0; i < m->n_inputs; i++) print_info(f, &m->in_info[i]);
    fprintf(f, "outputs:\n");
    for (int i = 0; i < m->n_outputs; i++) print_info(f, &m->out_info[i]);
    int n;
    const nb_named_tensor *st = nb_module_state(mod, &n);
    int64_t params = 0, buffers = 0;
    for (int i = 0; i < n; i++) {
        if (st[i].is_buffer) buffers += nb_tensor_numel(st[i].tensor);
        else params += nb_tensor_numel(st[i].tensor);
    }
    fprintf(f, "parameters: %lld values in %d tensors; buffers: %lld values\n", (long long)params, n, (long long)buffers);
    /* shapes: one run on zeros */
    nb_tensor *ins[64] = {0};
    int known = m->n_inputs <= 64;
    int grad = nb_set_grad_enabled(m->ctx, 0), training = mod->training;
    mod->training = 0;
    for (int i = 0; i < m->n_inputs && known; i++) {
        const ox_info *inf = &m->in_info[i];
        if (inf->ndim < 0) {
            known = 0;
            break;
        }
        int64_t shape[NB_MAX_DIMS];
        for (int d = 0; d < inf->ndim; d++) shape[d] = inf->shape[d] >= 0 ? inf->shape[d] : 1;
        ins[i] = ox_new(m->ctx, inf->et ? inf->et : OX_FLOAT, inf->ndim, shape);
        if (!ins[i]) known = 0;
        else memset(ins[i]->data, 0, (size_t)ins[i]->numel * (ins[i]->dtype == NB_F32 ? 4 : 8));
    }
    nb_tensor *outs[1];
    int ran = known && m->n_outputs && !nb_onnx_run(mod, ins, m->n_inputs, outs, NULL, 1);
    nb_set_grad_enabled(m->ctx, grad);
    mod->training = training;
    fprintf(f, "nodes%s:\n", ran ? " (output shapes for zero inputs, symbolic dimensions 1)" : "");
    for (int k = 0; k < m->n_nodes; k++) {
        const ox_node *nd = &m->nodes[k];
        fprintf(f, "  %-4d %-20s %-22s (", k, nd->p->op_type, nd->name);
        for (int j = 0; j < nd->n_in; j++) fprintf(f, "%s%s", j ? ", " : "", nd->in[j] >= 0 ? m->vname[nd->in[j]] : "");
        fprintf(f, ") ->");
        for (int j = 0; j < nd->n_out; j++) {
            if (nd->out[j] < 0) continue;
            nb_tensor *t = ran ? m->vals[nd->out[j]].t : NULL;
            fprintf(f, " %s", m->vname[nd->out[j]]);
            if (t) fprintf(f, " %s", nb__tshape(t));
        }
        fprintf(f, "\n");
    }
    if (!ran && known) fprintf(f, "(no shapes: the graph did not run on zeros: %s)\n", nb_last_error());
    nb_ctx_reset(m->ctx);
    return NB_OK;
}
