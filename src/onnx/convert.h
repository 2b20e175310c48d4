/* convert.h - an imported graph rewritten for another opset, batch or input shape
 * (convert.c), for save.c. */
#ifndef NB_ONNX_CONVERT_H
#define NB_ONNX_CONVERT_H

#include "onnx/onnx_internal.h"

typedef struct {
    ox_model *m;
    int from, to; /* opsets */
    int active;   /* 0: nothing to change, write the graph as read */
    const int *rank, *et; /* per value, from a run on zeros (NULL: unknown) */
    /* the graph to write: nodes, extra initializers, inputs and outputs (when shapes change) */
    Onnx__NodeProto **nodes;
    size_t n_nodes, cap_nodes;
    Onnx__TensorProto **inits;
    size_t n_inits, cap_inits;
    Onnx__ValueInfoProto **inputs, **outputs; /* NULL: as read */
    /* new value names, and everything allocated (freed by nb__onnx_conv_free) */
    char **names;
    size_t n_names, cap_names;
    void **mem;
    size_t n_mem, cap_mem;
} ox_conv;

/* Fill c for o (opset 0: the model's; set_batch, batch, input_ndim, input). NB_OK with
 * c->active 0 when the graph is written as read. Runs the graph on zeros (its values
 * stay in the context's arena until the next nb_ctx_reset). */
nb_status nb__onnx_convert(ox_model *m, const nb_onnx_save_opts *o, ox_conv *c);
void nb__onnx_conv_free(ox_conv *c);

#endif
