/* export.c - nb_onnx_save for nabla's own modules (built-in models, model files, the
 * text models): the module tree, in eval mode, written as an ONNX graph.
 *
 * The writer implements the interface of nn/onnx_export.h: each module's to_onnx hook
 * adds its nodes (Conv, Gemm, BatchNormalization, ...) on the value of its input, and a
 * container hands its children to nb__ox_child, which keeps the module path for the
 * node names ("/layer1/layer1.0/conv1/Conv", outputs "<node>_output_0", as
 * torch.onnx.export names them). Parameters and buffers become initializers under their
 * state_dict names (a tensor used twice, such as GPT-2's tied embeddings, is written
 * once). The model runs once on a zero sample input while it is written, so each value
 * carries its tensor and the hooks know every shape; the batch dimension (and a text
 * model's sequence length) is symbolic unless fixed. Nothing runs in training mode, no
 * gradient is recorded; the modules' modes are restored afterwards. */
#include "onnx/onnx_internal.h"
#include "nn/onnx_export.h"

#include <stdlib.h>
#include <string.h>

#define EXPORT_MIN_OPSET 13
#define EXPORT_MAX_OPSET 17

typedef struct {
    char *name;
    nb_tensor *rt; /* in the sample run; NULL when the hook gave none */
    int is_init;   /* an initializer or the graph input, not a node's output */
} xval;

typedef struct {
    nb__ox base; /* first: the hooks see this */
    nb_module *root;
    const nb_named_tensor *state;
    int n_state;
    int *state_val; /* value of each state entry written so far, or -1 */
    xval *vals;
    int n_vals, cap_vals;
    Onnx__NodeProto **nodes;
    int n_nodes, cap_nodes;
    Onnx__TensorProto **inits;
    int n_inits, cap_inits;
    void **blocks; /* every allocation of the graph, freed at the end */
    size_t n_blocks, cap_blocks;
    int n_const;
    char scope[4096]; /* "/layer1/layer1.0/conv1" */
    char path[2048];  /* "layer1.0.conv1" */
} writer;

/* ---- memory: everything the protobuf structs point to is one list of blocks ---- */

static int grow(void **p, int *cap, int n, size_t elem)
{
    if (n < *cap) return 0;
    int c = *cap ? *cap * 2 : 64;
    void *q = realloc(*p, (size_t)c * elem);
    if (!q) return -1;
    *p = q;
    *cap = c;
    return 0;
}

static void *wmem(writer *w, size_t n)
{
    if (w->n_blocks == w->cap_blocks) {
        size_t c = w->cap_blocks ? w->cap_blocks * 2 : 256;
        void **q = realloc(w->blocks, c * sizeof *q);
        if (!q) return NULL;
        w->blocks = q;
        w->cap_blocks = c;
    }
    void *p = calloc(1, n ? n : 1);
    if (p) w->blocks[w->n_blocks++] = p;
    return p;
}

static char *wstr(writer *w, const char *s)
{
    size_t n = strlen(s);
    char *p = wmem(w, n + 1);
    if (p) memcpy(p, s, n + 1);
    return p;
}

static int oom(void)
{
    nb__fail(NB_ERR_MEM, "nb_onnx_save: out of memory");
    return -1;
}

static int add_value(writer *w, const char *name, nb_tensor *rt, int is_init)
{
    if (grow((void **)&w->vals, &w->cap_vals, w->n_vals, sizeof *w->vals)) return oom();
    char *n = wstr(w, name);
    if (!n) return oom();
    w->vals[w->n_vals] = (xval){n, rt, is_init};
    return w->n_vals++;
}

/* ---- initializers ---- */

/* t's data as a TensorProto named name: float32 or int64, raw little-endian bytes. */
static Onnx__TensorProto *tensor_proto(writer *w, const char *name, const nb_tensor *t)
{
    Onnx__TensorProto *tp = wmem(w, sizeof *tp);
    if (!tp) return NULL;
    onnx__tensor_proto__init(tp);
    int f32 = t->dtype == NB_F32;
    size_t esz = f32 ? 4 : 8, n = (size_t)t->numel;
    tp->name = wstr(w, name);
    tp->n_dims = (size_t)t->ndim;
    tp->dims = wmem(w, sizeof(int64_t) * (size_t)(t->ndim + 1));
    unsigned char *raw = wmem(w, n * esz);
    if (!tp->name || !tp->dims || !raw) return NULL;
    memcpy(tp->dims, t->shape, sizeof(int64_t) * (size_t)t->ndim);
    tp->has_data_type = 1;
    tp->data_type = f32 ? OX_FLOAT : OX_INT64;
    for (size_t k = 0; k < n; k++) {
        uint64_t u;
        if (f32) {
            uint32_t v;
            memcpy(&v, &nb__f(t)[k], 4);
            u = v;
        } else u = (uint64_t)nb__i(t)[k];
        for (size_t b = 0; b < esz; b++) raw[k * esz + b] = (unsigned char)(u >> (8 * b));
    }
    tp->has_raw_data = 1;
    tp->raw_data.len = n * esz;
    tp->raw_data.data = raw;
    return tp;
}

static int add_init(writer *w, const char *name, nb_tensor *t)
{
    if (t->dtype != NB_F32 && t->dtype != NB_I64) {
        nb__fail(NB_ERR_ARG, "nb_onnx_save: tensor '%s' has a type ONNX export does not write", name);
        return -1;
    }
    Onnx__TensorProto *tp = tensor_proto(w, name, t);
    if (!tp || grow((void **)&w->inits, &w->cap_inits, w->n_inits, sizeof *w->inits)) return oom();
    w->inits[w->n_inits++] = tp;
    return add_value(w, name, t, 1);
}

static int w_param(nb__ox *e, nb_tensor *t)
{
    writer *w = (writer *)e;
    for (int i = 0; t && i < w->n_state; i++)
        if (w->state[i].tensor == t) {
            if (w->state_val[i] < 0) w->state_val[i] = add_init(w, w->state[i].name, t);
            return w->state_val[i];
        }
    nb__fail(NB_ERR_ARG, "nb_onnx_save: module '%s' uses a tensor that is not one of the model's parameters or buffers",
             w->path[0] ? w->path : "(the model)");
    return -1;
}

static int w_constant(nb__ox *e, nb_tensor *t)
{
    writer *w = (writer *)e;
    if (!t) return -1;
    char name[64];
    snprintf(name, sizeof name, "onnx::Constant_%d", w->n_const++);
    return add_init(w, name, t);
}

static nb_tensor *w_rt(nb__ox *e, int v)
{
    writer *w = (writer *)e;
    return v >= 0 && v < w->n_vals ? w->vals[v].rt : NULL;
}

/* ---- nodes ---- */

static int name_taken(const writer *w, const char *name)
{
    for (int i = 0; i < w->n_nodes; i++)
        if (!strcmp(w->nodes[i]->name, name)) return 1;
    return 0;
}

static Onnx__AttributeProto *attr_proto(writer *w, const nb__ox_attr *a)
{
    Onnx__AttributeProto *p = wmem(w, sizeof *p);
    if (!p) return NULL;
    onnx__attribute_proto__init(p);
    if (!(p->name = wstr(w, a->name))) return NULL;
    p->has_type = 1;
    switch (a->kind) {
    case NB__OXA_INT:
        p->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
        p->has_i = 1;
        p->i = a->i;
        break;
    case NB__OXA_FLOAT:
        p->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
        p->has_f = 1;
        p->f = a->f;
        break;
    case NB__OXA_INTS:
        p->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
        p->n_ints = (size_t)a->n;
        if (!(p->ints = wmem(w, sizeof(int64_t) * (size_t)(a->n + 1)))) return NULL;
        memcpy(p->ints, a->ints, sizeof(int64_t) * (size_t)a->n);
        break;
    default:
        p->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING;
        p->has_s = 1;
        p->s.len = strlen(a->s);
        if (!(p->s.data = (uint8_t *)wstr(w, a->s))) return NULL;
    }
    return p;
}

static int w_node(nb__ox *e, const char *op, const int *in, int n_in, const nb__ox_attr *at, int n_at, nb_tensor *rt)
{
    writer *w = (writer *)e;
    for (int i = 0; i < n_in; i++)
        if (in[i] < 0 || in[i] >= w->n_vals) {
            if (in[i] >= w->n_vals) nb__fail(NB_ERR_ARG, "nb_onnx_save: %s node of module '%s' reads an unknown value", op, w->path);
            return -1;
        }
    char name[sizeof w->scope + 64];
    snprintf(name, sizeof name, "%s/%s", w->scope, op);
    size_t base = strlen(name);
    for (int k = 1; name_taken(w, name); k++) snprintf(name + base, sizeof name - base, "_%d", k);
    Onnx__NodeProto *p = wmem(w, sizeof *p);
    if (!p) return oom();
    onnx__node_proto__init(p);
    char out[sizeof name + 16];
    snprintf(out, sizeof out, "%s_output_0", name);
    p->name = wstr(w, name);
    p->op_type = wstr(w, op);
    p->n_input = (size_t)n_in;
    p->input = wmem(w, sizeof(char *) * (size_t)(n_in + 1));
    p->n_output = 1;
    p->output = wmem(w, sizeof(char *));
    p->n_attribute = (size_t)n_at;
    p->attribute = wmem(w, sizeof(Onnx__AttributeProto *) * (size_t)(n_at + 1));
    if (!p->name || !p->op_type || !p->input || !p->output || !p->attribute) return oom();
    for (int i = 0; i < n_in; i++) p->input[i] = w->vals[in[i]].name;
    for (int i = 0; i < n_at; i++)
        if (!(p->attribute[i] = attr_proto(w, &at[i]))) return oom();
    int v = add_value(w, out, rt, 0);
    if (v < 0) return -1;
    p->output[0] = w->vals[v].name;
    if (grow((void **)&w->nodes, &w->cap_nodes, w->n_nodes, sizeof *w->nodes)) return oom();
    w->nodes[w->n_nodes++] = p;
    return v;
}

static int is_number(const char *s)
{
    if (!*s) return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return 0;
    return 1;
}

/* Scope components as torch.onnx.export writes them: a named child by its name, an
 * element of a Sequential or ModuleList by its dotted path ("/layer1/layer1.0/conv1").
 * name may be a dotted path below the current module ("attention.self.query"). */
static int w_child(nb__ox *e, nb_module *c, const char *name, int x)
{
    writer *w = (writer *)e;
    size_t ls = strlen(w->scope), lp = strlen(w->path);
    for (const char *s = name; s && *s;) { /* a dotted name is a path of children */
        char part[256];
        size_t k = strcspn(s, ".");
        snprintf(part, sizeof part, "%.*s", (int)k, s);
        size_t p = strlen(w->path), q = strlen(w->scope);
        snprintf(w->path + p, sizeof w->path - p, "%s%s", p ? "." : "", part);
        snprintf(w->scope + q, sizeof w->scope - q, "/%s", is_number(part) ? w->path : part);
        s += k + (s[k] == '.');
    }
    int y = -1;
    if (!c) nb__fail(NB_ERR_ARG, "nb_onnx_save: module '%s' is missing", w->path);
    else if (!c->vt->to_onnx)
        nb__fail(NB_ERR_ARG, "nb_onnx_save: %s%s%s (%s) has no ONNX form; modules of kind %s cannot be exported",
                 w->path[0] ? "module '" : "the model", w->path, w->path[0] ? "'" : "", c->vt->kind, c->vt->kind);
    else if (x >= 0 && !w->vals[x].rt)
        nb__fail(NB_ERR_STATE, "nb_onnx_save: module '%s' (%s) got an input without its sample value", w->path, c->vt->kind);
    else if (x >= 0) {
        y = c->vt->to_onnx(c, e, x);
        if (y >= 0 && !w->vals[y].rt)
            y = -1, nb__fail(NB_ERR_STATE, "nb_onnx_save: module '%s' (%s) gave no sample value", w->path, c->vt->kind);
    }
    w->scope[ls] = 0;
    w->path[lp] = 0;
    return y;
}

static const nb__ox_vt writer_vt = {w_node, w_child, w_param, w_constant, w_rt};

/* ---- the graph's inputs and outputs ---- */

static Onnx__ValueInfoProto *value_info(writer *w, const char *name, int et, int ndim, const int64_t *shape,
                                        const char *const *params)
{
    Onnx__ValueInfoProto *vi = wmem(w, sizeof *vi);
    Onnx__TypeProto *tp = wmem(w, sizeof *tp);
    Onnx__TypeProto__Tensor *tt = wmem(w, sizeof *tt);
    Onnx__TensorShapeProto *sh = wmem(w, sizeof *sh);
    Onnx__TensorShapeProto__Dimension **dims = wmem(w, sizeof *dims * (size_t)(ndim + 1));
    if (!vi || !tp || !tt || !sh || !dims) return NULL;
    onnx__value_info_proto__init(vi);
    onnx__type_proto__init(tp);
    onnx__type_proto__tensor__init(tt);
    onnx__tensor_shape_proto__init(sh);
    for (int d = 0; d < ndim; d++) {
        if (!(dims[d] = wmem(w, sizeof **dims))) return NULL;
        onnx__tensor_shape_proto__dimension__init(dims[d]);
        if (params[d]) {
            dims[d]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            if (!(dims[d]->dim_param = wstr(w, params[d]))) return NULL;
        } else {
            dims[d]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            dims[d]->dim_value = shape[d];
        }
    }
    sh->n_dim = (size_t)ndim;
    sh->dim = dims;
    tt->has_elem_type = 1;
    tt->elem_type = et;
    tt->shape = sh;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    vi->type = tp;
    vi->name = wstr(w, name);
    return vi->name ? vi : NULL;
}

/* The output value renamed to name everywhere (an Identity first when it is the input
 * or an initializer, which a graph output cannot be). */
static int name_output(writer *w, int y, const char *name)
{
    if (w->vals[y].is_init) y = nb__ox_node1(&w->base, "Identity", y, w->vals[y].rt);
    if (y < 0) return -1;
    char *old = w->vals[y].name, *nn = wstr(w, name);
    if (!nn) return oom();
    for (int i = 0; i < w->n_nodes; i++) {
        for (size_t k = 0; k < w->nodes[i]->n_input; k++)
            if (w->nodes[i]->input[k] == old) w->nodes[i]->input[k] = nn;
        if (w->nodes[i]->output[0] == old) w->nodes[i]->output[0] = nn;
    }
    w->vals[y].name = nn;
    return y;
}

/* ---- modes: eval for the export, then as they were ---- */

static int count_modules(const nb_module *m)
{
    int n = 1;
    for (int i = 0; i < m->n_children; i++) n += count_modules(m->children[i]);
    return n;
}

static void save_modes(const nb_module *m, int *modes, int *k)
{
    modes[(*k)++] = m->training;
    for (int i = 0; i < m->n_children; i++) save_modes(m->children[i], modes, k);
}

static void restore_modes(nb_module *m, const int *modes, int *k)
{
    m->training = modes[(*k)++];
    if (m->vt->train) m->vt->train(m, m->training);
    for (int i = 0; i < m->n_children; i++) restore_modes(m->children[i], modes, k);
}

/* ---- the model ---- */

static nb_status build_and_write(writer *w, const char *path, const nb_onnx_save_opts *o, int opset)
{
    nb_ctx *ctx = w->base.ctx;
    int ids = o->input_ids;
    int64_t B = o->batch > 0 ? o->batch : 1, shape[NB_MAX_DIMS + 1];
    int ndim;
    const char *params[NB_MAX_DIMS + 1] = {0};
    if (ids) {
        if (o->length < 0) return nb__fail(NB_ERR_ARG, "nb_onnx_save: length %lld must not be negative", (long long)o->length);
        ndim = 2;
        shape[0] = B;
        shape[1] = o->length > 0 ? o->length : 7; /* sample length of a symbolic sequence */
        if (!o->length) params[1] = "sequence";
    } else {
        int nd = o->input_ndim ? o->input_ndim : 3;
        if (nd < 1 || nd >= NB_MAX_DIMS) return nb__fail(NB_ERR_ARG, "nb_onnx_save: input_ndim %d must be 1 to %d", nd, NB_MAX_DIMS - 1);
        ndim = nd + 1;
        shape[0] = B;
        for (int d = 0; d < nd; d++) {
            shape[d + 1] = o->input_ndim ? o->input[d] : (d ? 28 : 1);
            if (shape[d + 1] < 1)
                return nb__fail(NB_ERR_ARG, "nb_onnx_save: input dimension %d is %lld; every size must be positive", d,
                                (long long)shape[d + 1]);
        }
    }
    if (o->batch < 0) return nb__fail(NB_ERR_ARG, "nb_onnx_save: batch %lld must not be negative", (long long)o->batch);
    if (!o->batch) params[0] = "batch";
    nb_tensor *x = nb__empty(ctx, ids ? NB_I64 : NB_F32, ndim, shape);
    if (!x) return nb_last_status() ? nb_last_status() : NB_ERR_MEM;
    memset(x->data, 0, (size_t)x->numel * (ids ? 8 : 4));
    int xin = add_value(w, ids ? "input_ids" : "input", x, 1);
    if (xin < 0) return nb_last_status();
    int min = -1; /* attention_mask: ones in the sample run */
    if (ids && o->attention_mask) {
        nb_tensor *mk = nb__empty(ctx, NB_I64, 2, shape);
        if (!mk) return nb_last_status() ? nb_last_status() : NB_ERR_MEM;
        for (int64_t i = 0; i < mk->numel; i++) ((int64_t *)mk->data)[i] = 1;
        if ((min = add_value(w, "attention_mask", mk, 1)) < 0) return nb_last_status();
        w->base.attention_mask = min;
    }
    int y = w_child(&w->base, w->root, NULL, xin);
    if (y < 0) return nb_last_status() ? nb_last_status() : NB_ERR_ARG;
    if ((y = name_output(w, y, "output")) < 0) return nb_last_status();
    const nb_tensor *yt = w->vals[y].rt;
    if (yt->dtype != NB_F32 && yt->dtype != NB_I64)
        return nb__fail(NB_ERR_ARG, "nb_onnx_save: the model's output has a type ONNX export does not write");
    /* the output's dims: the batch (dim 0) and a text model's sequence (dim 1) as the input's */
    const char *oparams[NB_MAX_DIMS] = {0};
    if (yt->ndim > 0 && params[0] && yt->shape[0] == shape[0]) oparams[0] = params[0];
    if (ids && yt->ndim > 1 && params[1] && yt->shape[1] == shape[1] && yt->ndim == 3) oparams[1] = params[1];

    Onnx__ValueInfoProto *vin = value_info(w, w->vals[xin].name, ids ? OX_INT64 : OX_FLOAT, ndim, shape, params);
    Onnx__ValueInfoProto *vout =
        value_info(w, "output", yt->dtype == NB_F32 ? OX_FLOAT : OX_INT64, yt->ndim, yt->shape, oparams);
    Onnx__GraphProto *g = wmem(w, sizeof *g);
    Onnx__ModelProto *mp = wmem(w, sizeof *mp);
    Onnx__OperatorSetIdProto *os = wmem(w, sizeof *os);
    Onnx__OperatorSetIdProto **osl = wmem(w, sizeof *osl);
    Onnx__ValueInfoProto **ins = wmem(w, 2 * sizeof *ins), **outs = wmem(w, sizeof *outs);
    Onnx__ValueInfoProto *vmask = min >= 0 ? value_info(w, "attention_mask", OX_INT64, ndim, shape, params) : NULL;
    if (!vin || !vout || !g || !mp || !os || !osl || !ins || !outs || (min >= 0 && !vmask)) return oom(), NB_ERR_MEM;
    ins[1] = vmask;
    onnx__graph_proto__init(g);
    onnx__model_proto__init(mp);
    onnx__operator_set_id_proto__init(os);
    ins[0] = vin;
    outs[0] = vout;
    g->name = wstr(w, w->root->vt->kind);
    g->n_node = (size_t)w->n_nodes;
    g->node = w->nodes;
    g->n_initializer = (size_t)w->n_inits;
    g->initializer = w->inits;
    g->n_input = min >= 0 ? 2 : 1;
    g->input = ins;
    g->n_output = 1;
    g->output = outs;
    os->domain = wstr(w, "");
    os->has_version = 1;
    os->version = opset;
    osl[0] = os;
    mp->has_ir_version = 1;
    mp->ir_version = opset >= 14 ? 8 : 7; /* the IR version of the ONNX release that brought the opset */
    mp->n_opset_import = 1;
    mp->opset_import = osl;
    mp->producer_name = wstr(w, "nabla");
    mp->producer_version = wstr(w, NB_VERSION);
    mp->graph = g;
    if (!g->name || !os->domain || !mp->producer_name || !mp->producer_version) return oom(), NB_ERR_MEM;
    size_t len = onnx__model_proto__get_packed_size(mp);
    unsigned char *out = malloc(len ? len : 1);
    if (!out) return oom(), NB_ERR_MEM;
    onnx__model_proto__pack(mp, out);
    nb_status st = nb_write_file_atomic(path, out, len);
    free(out);
    return st;
}

nb_status nb__onnx_export(nb_module *m, const char *path, const nb_onnx_save_opts *opts)
{
    nb_onnx_save_opts o = opts ? *opts : (nb_onnx_save_opts){0};
    int opset = o.opset ? o.opset : EXPORT_MAX_OPSET;
    if (opset < EXPORT_MIN_OPSET || opset > EXPORT_MAX_OPSET)
        return nb__fail(NB_ERR_ARG, "nb_onnx_save: opset %d is not supported for export (%d to %d)", opset,
                        EXPORT_MIN_OPSET, EXPORT_MAX_OPSET);
    writer w = {.base = {.vt = &writer_vt, .opset = opset, .ctx = m->ctx, .attention_mask = -1, .attn_bias = -1},
                .root = m};
    w.state = nb_module_state(m, &w.n_state);
    int nm = count_modules(m), k = 0;
    int *modes = malloc(sizeof(int) * (size_t)nm);
    w.state_val = malloc(sizeof(int) * (size_t)(w.n_state + 1));
    if (!modes || !w.state_val || (w.n_state && !w.state)) {
        free(modes);
        free(w.state_val);
        return w.n_state && !w.state ? nb_last_status() : (oom(), NB_ERR_MEM);
    }
    for (int i = 0; i < w.n_state; i++) w.state_val[i] = -1;
    save_modes(m, modes, &k);
    nb_module_train(m, 0);
    int grad = nb_set_grad_enabled(m->ctx, 0);
    nb_status st = build_and_write(&w, path, &o, opset);
    nb_set_grad_enabled(m->ctx, grad);
    k = 0;
    restore_modes(m, modes, &k);
    for (size_t i = 0; i < w.n_blocks; i++) free(w.blocks[i]);
    free(w.blocks);
    free(w.vals);
    free(w.nodes);
    free(w.inits);
    free(w.state_val);
    free(modes);
    return st;
}
