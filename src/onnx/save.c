/* save.c - nb_onnx_save: an imported model written back as ONNX with its current
 * weights (after fine-tuning, a resized head included): the graph as it was read, every
 * initializer re-encoded from the module's tensors as raw little-endian data (floating
 * initializers as float32, external data brought inline), value_info dropped (shapes
 * may have changed), the first output's last dimension set to the head's width.
 * Written atomically. nabla's own modules are written by export.c. */
#include "onnx/onnx_internal.h"
#include "onnx/convert.h"

#include <stdlib.h>
#include <string.h>

static int raw_size(int et)
{
    switch (et) {
    case OX_INT64: case OX_UINT64: return 8;
    case OX_INT32: case OX_UINT32: return 4;
    case OX_INT16: case OX_UINT16: return 2;
    default: return 1; /* int8, uint8, bool */
    }
}

static nb_status save_imported(nb_module *mod, const char *path, const nb_onnx_save_opts *o)
{
    ox_model *m = mod->impl;
    ox_conv cv;
    nb_status cst = nb__onnx_convert(m, o ? o : &(nb_onnx_save_opts){0}, &cv);
    if (cst) return cst;
    Onnx__GraphProto *g = m->proto->graph;
    size_t ni = g->n_initializer;
    Onnx__TensorProto **saved = g->initializer, **tmp = calloc(ni + cv.n_inits + 1, sizeof *tmp);
    Onnx__TensorProto *copies = calloc(ni + 1, sizeof *copies);
    unsigned char **bufs = calloc(ni + 1, sizeof *bufs);
    int64_t **dims = calloc(ni + 1, sizeof *dims);
    nb_status st = NB_OK;
    if (!tmp || !copies || !bufs || !dims) {
        st = nb__fail(NB_ERR_MEM, "out of memory saving %s", path);
        goto done;
    }
    for (size_t i = 0; i < ni; i++) {
        const Onnx__TensorProto *tp = saved[i];
        nb_tensor *t = NULL;
        int et = 0;
        for (int id = 0; id < m->n_values && !t; id++)
            if (m->init[id].t && m->vname[id] == tp->name) t = m->init[id].t, et = m->init[id].et;
        tmp[i] = &copies[i];
        copies[i] = *tp;
        if (!t) continue; /* not used by the graph: kept as read */
        int esz = t->dtype == NB_F32 ? 4 : raw_size(et);
        bufs[i] = malloc((size_t)t->numel * (size_t)esz + 1);
        dims[i] = malloc(sizeof(int64_t) * (size_t)(t->ndim + 1));
        if (!bufs[i] || !dims[i]) {
            st = nb__fail(NB_ERR_MEM, "out of memory saving %s", path);
            goto done;
        }
        for (int64_t k = 0; k < t->numel; k++) {
            uint64_t u;
            if (t->dtype == NB_F32) {
                uint32_t w;
                memcpy(&w, &nb__f(t)[k], 4);
                u = w;
            } else u = (uint64_t)nb__i(t)[k];
            for (int b = 0; b < esz; b++) bufs[i][(size_t)k * (size_t)esz + (size_t)b] = (unsigned char)(u >> (8 * b));
        }
        memcpy(dims[i], t->shape, sizeof(int64_t) * (size_t)t->ndim);
        copies[i].dims = dims[i];
        copies[i].n_dims = (size_t)t->ndim;
        copies[i].has_data_type = 1;
        copies[i].data_type = t->dtype == NB_F32 ? OX_FLOAT : et;
        copies[i].has_raw_data = 1;
        copies[i].raw_data.len = (size_t)t->numel * (size_t)esz;
        copies[i].raw_data.data = bufs[i];
        copies[i].n_float_data = copies[i].n_int32_data = copies[i].n_int64_data = copies[i].n_double_data = copies[i].n_uint64_data = 0;
        copies[i].n_external_data = 0;
        copies[i].has_data_location = 0;
    }
    /* the first output's width follows a resized head */
    Onnx__TensorShapeProto__Dimension *dim = NULL;
    int64_t old_dim = 0;
    if (g->n_output && g->output[0]->type && g->output[0]->type->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE &&
        g->output[0]->type->tensor_type && g->output[0]->type->tensor_type->shape && g->output[0]->type->tensor_type->shape->n_dim) {
        Onnx__TensorShapeProto *sh = g->output[0]->type->tensor_type->shape;
        Onnx__TensorShapeProto__Dimension *d = sh->dim[sh->n_dim - 1];
        int64_t k = nb_onnx_num_classes(mod);
        if (k && d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE && d->dim_value != k) {
            dim = d;
            old_dim = d->dim_value;
            d->dim_value = k;
        }
    }
    size_t n_vi = g->n_value_info;
    for (size_t i = 0; i < cv.n_inits; i++) tmp[ni + i] = cv.inits[i];
    g->initializer = tmp;
    g->n_initializer = ni + cv.n_inits;
    g->n_value_info = 0;
    /* a converted graph: its nodes, inputs, outputs and opset */
    Onnx__NodeProto **nodes = g->node;
    Onnx__ValueInfoProto **ins = g->input, **outs = g->output;
    size_t n_nodes = g->n_node;
    int64_t ir = m->proto->ir_version;
    Onnx__OperatorSetIdProto *os = NULL;
    int64_t os_version = 0;
    for (size_t i = 0; cv.active && i < m->proto->n_opset_import; i++)
        if (!m->proto->opset_import[i]->domain || !*m->proto->opset_import[i]->domain) os = m->proto->opset_import[i];
    if (cv.active && cv.to != cv.from) {
        g->node = cv.nodes;
        g->n_node = cv.n_nodes;
        if (os) os_version = os->version, os->version = cv.to;
        m->proto->ir_version = cv.to >= 14 ? 8 : 7; /* the IR version of the ONNX release that brought the opset */
    }
    if (cv.inputs) g->input = cv.inputs;
    if (cv.outputs) g->output = cv.outputs;
    size_t len = onnx__model_proto__get_packed_size(m->proto);
    unsigned char *out = malloc(len ? len : 1);
    if (out) onnx__model_proto__pack(m->proto, out);
    g->node = nodes;
    g->n_node = n_nodes;
    g->input = ins;
    g->output = outs;
    m->proto->ir_version = ir;
    if (os && os_version) os->version = os_version;
    g->initializer = saved;
    g->n_initializer = ni;
    g->n_value_info = n_vi;
    if (dim) dim->dim_value = old_dim;
    if (!out) st = nb__fail(NB_ERR_MEM, "out of memory saving %s", path);
    else st = nb_write_file_atomic(path, out, len);
    free(out);
done:
    for (size_t i = 0; bufs && dims && i < ni; i++) {
        free(bufs[i]);
        free(dims[i]);
    }
    free(bufs);
    free(dims);
    free(copies);
    free(tmp);
    nb__onnx_conv_free(&cv);
    return st;
}

nb_status nb_onnx_save(nb_module *mod, const char *path, const nb_onnx_save_opts *o)
{
    if (!mod || !path) return nb__fail(NB_ERR_ARG, "nb_onnx_save: NULL argument");
    return nb_onnx_is_model(mod) ? save_imported(mod, path, o) : nb__onnx_export(mod, path, o);
}
