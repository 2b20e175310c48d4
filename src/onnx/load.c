/* load.c - nb_onnx_load: an ONNX model file (protobuf, parsed by protobuf-c from the
 * code protoc-c generates out of Debian's onnx.proto at build time) as an nb_module
 * that runs its graph.
 *
 * Everything is checked at load: the opset, every node's op type, input/output
 * counts and attribute names against the op table (ops.c), the op's own checks,
 * duplicate value names, inputs that nothing produces, cycles, and every
 * initializer's data against its shape. Nodes are sorted topologically (Kahn), so a
 * run is one pass over them; values live in the context's arena. Float
 * initializers feeding Conv/ConvTranspose/Gemm/MatMul/PRelu and the scale and bias
 * of the norms (and an Add of a MatMul's output) become trainable parameters under
 * their ONNX names; the other float initializers, BatchNormalization's running
 * mean and variance among them, are buffers. */
#include "onnx/onnx_internal.h"

#include <stdarg.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define OX_MIN_OPSET 1
#define OX_MAX_OPSET 17
#define OX_MAX_FILE ((size_t)1 << 32)

nb_status ox_fail(const ox_model *m, const ox_node *n, nb_status code, const char *fmt, ...)
{
    char msg[3000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!n) return nb__fail(code, "%s", msg);
    return nb__fail_at(code, 0, OX_FAULT_NODE, "node '%s' (%s, opset %d): %s", n->name, n->p->op_type, m->opset, msg);
}

/* ---- attributes ---- */

const Onnx__AttributeProto *ox_attr(const ox_node *n, const char *name)
{
    for (size_t i = 0; i < n->p->n_attribute; i++)
        if (n->p->attribute[i]->name && !strcmp(n->p->attribute[i]->name, name)) return n->p->attribute[i];
    return NULL;
}

int64_t ox_attr_i(const ox_node *n, const char *name, int64_t def)
{
    const Onnx__AttributeProto *a = ox_attr(n, name);
    return a ? a->i : def;
}

float ox_attr_f(const ox_node *n, const char *name, float def)
{
    const Onnx__AttributeProto *a = ox_attr(n, name);
    return a ? a->f : def;
}

const char *ox_attr_s(const ox_node *n, const char *name, const char *def, char *buf, size_t len)
{
    const Onnx__AttributeProto *a = ox_attr(n, name);
    if (!a) return def;
    size_t k = a->s.len < len - 1 ? a->s.len : len - 1;
    if (k) memcpy(buf, a->s.data, k);
    buf[k] = 0;
    return buf;
}

const int64_t *ox_attr_ints(const ox_node *n, const char *name, int *count)
{
    const Onnx__AttributeProto *a = ox_attr(n, name);
    *count = a ? (int)a->n_ints : -1;
    return a ? a->ints : NULL;
}

const float *ox_attr_floats(const ox_node *n, const char *name, int *count)
{
    const Onnx__AttributeProto *a = ox_attr(n, name);
    *count = a ? (int)a->n_floats : -1;
    return a ? a->floats : NULL;
}

/* ---- value names: an open-addressing table from name to id ---- */

typedef struct {
    const char **keys;
    int *ids;
    size_t cap;
} name_map;

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static int map_get(const name_map *mp, const char *k)
{
    for (size_t i = hash_str(k) & (mp->cap - 1);; i = (i + 1) & (mp->cap - 1)) {
        if (!mp->keys[i]) return -1;
        if (!strcmp(mp->keys[i], k)) return mp->ids[i];
    }
}

static void map_put(name_map *mp, const char *k, int id)
{
    size_t i = hash_str(k) & (mp->cap - 1);
    while (mp->keys[i]) i = (i + 1) & (mp->cap - 1);
    mp->keys[i] = k;
    mp->ids[i] = id;
}

/* ---- the module ---- */

static void ox_free_model(ox_model *m)
{
    if (!m) return;
    for (int i = 0; i < m->n_values; i++) {
        /* float initializers belong to the module (freed with it); the others here */
        if (m->init && m->init[i].t && !(m->mod_owned && m->mod_owned[i])) nb_tensor_free(m->init[i].t);
    }
    for (int i = 0; i < m->n_nodes; i++) {
        free(m->nodes[i].in);
        free(m->nodes[i].out);
    }
    for (int k = 0; k < 2; k++) {
        ox_info *inf = k ? m->out_info : m->in_info;
        int cnt = k ? m->n_outputs : m->n_inputs;
        for (int i = 0; inf && i < cnt; i++) free(inf[i].name);
        free(inf);
    }
    free(m->nodes);
    free(m->vname);
    free(m->init);
    free(m->mod_owned);
    free(m->vals);
    free(m->use_count);
    free(m->inputs);
    free(m->outputs);
    free(m->dir);
    if (m->proto) onnx__model_proto__free_unpacked(m->proto, NULL);
    free(m);
}

static void mod_free(nb_module *mod)
{
    ox_free_model(mod->impl); /* the struct too: nb_module_free's free(NULL) is then a no-op */
    mod->impl = NULL;
}

/* Ops whose kernels read one storage only: per input position 'f' (floating types,
 * F32 storage) or 'i' (integer and bool types, I64 storage), 'a' any; the last letter
 * repeats. A model that gives such an op another type fails with a message (ONNX's
 * type constraints forbid it; a fuzzer finds it). The other ops take either. */
static const struct {
    const char *op, *types;
} input_types[] = {
    {"Not", "i"}, {"Where", "ia"}, {"IsNaN", "f"}, {"IsInf", "f"}, {"Floor", "f"}, {"Ceil", "f"}, {"Round", "f"},
    {"Reciprocal", "f"}, {"Sin", "f"}, {"Cos", "f"}, {"Tan", "f"}, {"Asin", "f"}, {"Acos", "f"}, {"Atan", "f"},
    {"Sinh", "f"}, {"Cosh", "f"}, {"Asinh", "f"}, {"Acosh", "f"}, {"Atanh", "f"}, {"Erf", "f"}, {"Softplus", "f"},
    {"Softsign", "f"}, {"HardSwish", "f"}, {"Selu", "f"}, {"HardSigmoid", "f"}, {"Celu", "f"}, {"ThresholdedRelu", "f"},
    {"LeakyRelu", "f"}, {"Elu", "f"}, {"PRelu", "f"}, {"Softmax", "f"}, {"LogSoftmax", "f"}, {"Hardmax", "f"},
    {"Conv", "f"}, {"ConvTranspose", "f"}, {"GlobalAveragePool", "f"}, {"BatchNormalization", "f"},
    {"InstanceNormalization", "f"}, {"LayerNormalization", "f"}, {"Dropout", "fa"}, {"LRN", "f"},
    {"MeanVarianceNormalization", "f"}, {"Det", "f"}, {"DynamicQuantizeLinear", "f"}, {"Mean", "f"},
};

static nb_status check_input_types(ox_model *m, const ox_node *n, const ox_val *in)
{
    for (size_t k = 0; k < sizeof input_types / sizeof input_types[0]; k++) {
        if (strcmp(input_types[k].op, n->p->op_type)) continue;
        const char *t = input_types[k].types;
        size_t tl = strlen(t);
        for (int j = 0; j < n->n_in; j++) {
            char want = t[(size_t)j < tl ? (size_t)j : tl - 1];
            if (!in[j].t || want == 'a') continue;
            if ((want == 'f') != (in[j].t->dtype == NB_F32))
                return ox_fail(m, n, NB_ERR_ARG, "input %d ('%s') has type %s; nabla's %s takes %s there", j, m->vname[n->in[j]],
                               ox_type_name(in[j].et), n->p->op_type, want == 'f' ? "floating-point types" : "integer or bool types");
        }
        break;
    }
    return NB_OK;
}

static int is_graph_output(const ox_model *m, int id)
{
    for (int i = 0; i < m->n_outputs; i++)
        if (m->outputs[i] == id) return 1;
    return 0;
}

/* Node k's output read only by node j's first input, and not a graph output. */
static int feeds_only(const ox_model *m, int k, int j, const char *op)
{
    const ox_node *a = &m->nodes[k], *b = j < m->n_nodes ? &m->nodes[j] : NULL;
    if (!b || strcmp(b->p->op_type, op) || b->n_in < 1 || a->n_out < 1) return 0;
    int id = a->out[0];
    return id >= 0 && b->in[0] == id && m->use_count[id] == 1 && !is_graph_output(m, id);
}

/* Inference: a Conv followed by its BatchNormalization (and Relu) runs as one
 * convolution with an epilogue, as nabla's own Conv2d + BatchNorm2d + ReLU do, and so
 * does a residual block's end, Conv, BatchNormalization, Add of a value computed
 * before (and Relu); *used nodes are done (0: run node k alone). */
static nb_status try_fuse(ox_model *m, int k, const ox_val *in, int *used)
{
    *used = 0;
    const ox_node *n = &m->nodes[k];
    if (m->training || strcmp(n->p->op_type, "Conv") || n->n_out < 1 || n->out[0] < 0) return NB_OK;
    const ox_node *bn = feeds_only(m, k, k + 1, "BatchNormalization") ? &m->nodes[k + 1] : NULL;
    ox_val bnin[5];
    if (bn) {
        for (int j = 1; j < bn->n_out; j++)
            if (bn->out[j] >= 0) return NB_OK;
        for (int j = 0; j < 5; j++) bnin[j] = j < bn->n_in && bn->in[j] >= 0 ? m->vals[bn->in[j]] : (ox_val){NULL, 0};
    }
    int at = k + (bn != NULL); /* the last node taken so far */
    int relu = feeds_only(m, at, at + 1, "Relu"), add = 0;
    const nb_tensor *res = NULL;
    if (!relu && at + 1 < m->n_nodes && !strcmp(m->nodes[at + 1].p->op_type, "Add") && m->nodes[at + 1].n_in == 2) {
        /* the Add takes the Conv's (BatchNormalization's) output, read by it alone, and a
         * value that is already there (nodes before the Conv computed it) */
        const ox_node *a = &m->nodes[at + 1];
        int id = m->nodes[at].out[0], other = a->in[0] == id ? a->in[1] : a->in[1] == id ? a->in[0] : -1;
        if (id >= 0 && other >= 0 && other != id && m->use_count[id] == 1 && !is_graph_output(m, id) && m->vals[other].t &&
            m->vals[other].et == OX_FLOAT && m->vals[other].t->dtype == NB_F32) {
            res = m->vals[other].t;
            add = 1;
            relu = feeds_only(m, at + 1, at + 2, "Relu");
        }
    }
    if (!bn && !add && !relu) return NB_OK;
    ox_val out;
    int r = ox_conv_bn_fused(m, n, in, bn, bnin, relu, res, &out);
    if (r < 0) return ox_fail(m, n, NB_ERR_MEM, "fused with the nodes that follow: %s", nb_last_error());
    if (r == 0) return NB_OK;
    const ox_node *last = &m->nodes[at + add + relu];
    m->vals[last->out[0]] = out;
    *used = 1 + (bn != NULL) + add + relu;
    return NB_OK;
}

/* Run the graph on inputs[0..n_in); outputs receive the graph outputs (arena tensors). */
static nb_status ox_execute(ox_model *m, nb_tensor *const *inputs, int n_in)
{
    if (n_in != m->n_inputs)
        return nb__fail(NB_ERR_ARG, "the ONNX graph has %d inputs, %d given", m->n_inputs, n_in);
    memcpy(m->vals, m->init, (size_t)m->n_values * sizeof *m->vals);
    for (int i = 0; i < n_in; i++) {
        const ox_info *inf = &m->in_info[i];
        nb_tensor *x = inputs[i];
        if (!x) { /* an optional input left out: nodes that need it fail below */
            m->vals[m->inputs[i]] = (ox_val){NULL, inf->et};
            continue;
        }
        int et = inf->et ? inf->et : x->dtype == NB_F32 ? OX_FLOAT : OX_INT64;
        if (ox_storage(et) != x->dtype) {
            /* convert what the caller gave to the declared type */
            x = ox_cast(x, x->dtype == NB_F32 ? OX_FLOAT : OX_INT64, et);
            if (!x) return NB_ERR_MEM;
        }
        if (inf->ndim >= 0) {
            int bad = x->ndim != inf->ndim;
            for (int d = 0; !bad && d < inf->ndim; d++) bad = inf->shape[d] >= 0 && inf->shape[d] != x->shape[d];
            if (bad) {
                char want[160];
                int k = snprintf(want, sizeof want, "[");
                for (int d = 0; d < inf->ndim && k < 140; d++) {
                    if (inf->shape[d] >= 0) k += snprintf(want + k, sizeof want - (size_t)k, "%s%lld", d ? ", " : "", (long long)inf->shape[d]);
                    else k += snprintf(want + k, sizeof want - (size_t)k, "%s%s", d ? ", " : "", inf->dim_param[d] ? inf->dim_param[d] : "?");
                }
                snprintf(want + k, sizeof want - (size_t)k, "]");
                return nb__fail(NB_ERR_SHAPE, "graph input '%s' must have shape %s, got %s", inf->name, want, nb__tshape(x));
            }
        }
        m->vals[m->inputs[i]] = (ox_val){x, et};
    }
    ox_val in[64], out[16];
    for (int k = 0; k < m->n_nodes; k++) {
        const ox_node *n = &m->nodes[k];
        for (int j = 0; j < n->n_in; j++) {
            in[j] = n->in[j] >= 0 ? m->vals[n->in[j]] : (ox_val){NULL, 0};
            if (!in[j].t && j < n->op->min_in)
                return ox_fail(m, n, NB_ERR_ARG, "required input %d ('%s') has no value (a graph input left out?)", j, m->vname[n->in[j]]);
        }
        for (int j = n->n_in; j < 16; j++) in[j] = (ox_val){NULL, 0}; /* optional inputs past the last given read as absent */
        for (int j = 0; j < n->n_out; j++) out[j] = (ox_val){NULL, 0};
        nb_clear_error();
        nb_status st = check_input_types(m, n, in);
        int fused = 0;
        if (!st) st = try_fuse(m, k, in, &fused);
        if (!st && fused) {
            k += fused - 1;
            continue;
        }
        if (!st) st = n->op->run(m, n, in, out);
        /* every value is stored as its type says (F32 for floating types, I64 for the
         * others): ops that compute in float for an integer type are cast back */
        for (int j = 0; !st && j < n->n_out; j++)
            if (out[j].t && out[j].et && out[j].t->dtype != ox_storage(out[j].et) &&
                !(out[j].t = ox_cast(out[j].t, out[j].t->dtype == NB_F32 ? OX_FLOAT : OX_INT64, out[j].et)))
                st = NB_ERR_MEM;
        if (!st)
            for (int j = 0; j < n->n_out; j++)
                if (n->out[j] >= 0 && !out[j].t) {
                    st = ox_fail(m, n, NB_ERR_ARG, "output %d ('%s') is not computed by nabla", j, m->vname[n->out[j]]);
                    break;
                }
        if (st) {
            if (nb__last_error_pos()->kind != OX_FAULT_NODE) /* not named by ox_fail yet */
                nb__error_prefix("node '%s' (%s, opset %d)", n->name, n->p->op_type, m->opset);
            return st ? st : NB_ERR_ARG;
        }
        for (int j = 0; j < n->n_out; j++)
            if (n->out[j] >= 0) m->vals[n->out[j]] = out[j];
    }
    return NB_OK;
}

static nb_tensor *mod_forward(nb_module *mod, nb_tensor *x)
{
    ox_model *m = mod->impl;
    m->training = mod->training;
    if (ox_execute(m, &x, 1)) return NULL;
    return m->vals[m->outputs[0]].t;
}

static const nb_module_vtable onnx_vt = {.kind = "OnnxModel", .forward = mod_forward, .free = mod_free,
                                         .head = nb__onnx_head, .features = nb__onnx_features};

static ox_model *model_of(const nb_module *mod)
{
    return mod && mod->vt == &onnx_vt ? mod->impl : NULL;
}

/* ---- building the graph ---- */

static nb_status read_info(ox_info *inf, const Onnx__ValueInfoProto *v, const char *what)
{
    inf->name = strdup(v->name ? v->name : "");
    inf->ndim = -1;
    const Onnx__TypeProto *tp = v->type;
    if (tp && tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE && tp->value_case != ONNX__TYPE_PROTO__VALUE__NOT_SET) {
        static const char *kinds[] = {"", "a tensor", "", "", "a sequence", "a map", "", "", "a sparse tensor", "an optional"};
        int vc = (int)tp->value_case;
        return nb__fail(NB_ERR_FORMAT, "%s '%s' is %s: not supported (only tensors)", what, inf->name,
                        vc >= 0 && vc < 10 && *kinds[vc] ? kinds[vc] : "not a tensor");
    }
    if (!tp || !tp->tensor_type) return NB_OK;
    const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
    if (tt->has_elem_type) inf->et = tt->elem_type;
    if (!tt->shape || tt->shape->n_dim > NB_MAX_DIMS) return NB_OK;
    inf->ndim = (int)tt->shape->n_dim;
    for (int d = 0; d < inf->ndim; d++) {
        const Onnx__TensorShapeProto__Dimension *dm = tt->shape->dim[d];
        inf->shape[d] = dm->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE ? dm->dim_value : -1;
        inf->dim_param[d] = dm->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM ? dm->dim_param : NULL;
    }
    if (inf->et == OX_STRING || inf->et == OX_COMPLEX64 || inf->et == OX_COMPLEX128)
        return nb__fail(NB_ERR_FORMAT, "%s '%s' has type %s: not supported", what, inf->name, ox_type_name(inf->et));
    return NB_OK;
}

/* Which role an initializer plays: 0 none (integer or unused), 1 parameter, 2 buffer. */
static int param_role(const ox_node *n, int slot, const ox_model *m)
{
    const char *t = n->p->op_type;
    if (!strcmp(t, "Conv") || !strcmp(t, "ConvTranspose") || !strcmp(t, "Gemm") || !strcmp(t, "MatMul") ||
        !strcmp(t, "PRelu"))
        return 1;
    if (!strcmp(t, "BatchNormalization")) return slot <= 2 ? 1 : 2;
    if (!strcmp(t, "RNN") || !strcmp(t, "GRU") || !strcmp(t, "LSTM")) /* W, R, B and LSTM's peepholes P */
        return slot == 1 || slot == 2 || slot == 3 || slot == 7 ? 1 : 2;
    if (!strcmp(t, "LayerNormalization") || !strcmp(t, "InstanceNormalization")) return slot >= 1 ? 1 : 2;
    if (!strcmp(t, "Add") && n->n_in == 2) { /* the bias of a Linear exported as MatMul + Add */
        int other = n->in[1 - slot];
        for (int k = 0; other >= 0 && k < m->n_nodes; k++)
            for (int j = 0; j < m->nodes[k].n_out; j++)
                if (m->nodes[k].out[j] == other && !strcmp(m->nodes[k].p->op_type, "MatMul")) return 1;
    }
    return 2;
}

static int attr_listed(const char *list, const char *name)
{
    size_t len = strlen(name);
    for (const char *p = list; p && *p;) {
        const char *q = strchr(p, ',');
        size_t l = q ? (size_t)(q - p) : strlen(p);
        if (l == len && !strncmp(p, name, len)) return 1;
        p += l + (q ? 1 : 0);
    }
    return 0;
}

/* attributes that became inputs: before `since` the attribute, from it input `slot` */
static const struct {
    const char *op, *attr;
    int since, slot;
} moved[] = {
    {"Reshape", "shape", 5, 1},  {"Slice", "starts", 10, 1}, {"Slice", "ends", 10, 2},   {"Slice", "axes", 10, 3},
    {"TopK", "k", 10, 1},        {"Pad", "pads", 11, 1},     {"Pad", "value", 11, 2},    {"Clip", "min", 11, 1},
    {"Clip", "max", 11, 2},      {"Dropout", "ratio", 12, 1}, {"Squeeze", "axes", 13, 1}, {"Unsqueeze", "axes", 13, 1},
    {"ReduceSum", "axes", 13, 1}, {"Split", "split", 13, 1}, {"Upsample", "scales", 9, 1},
};

static nb_status check_moved(ox_model *m, ox_node *n)
{
    for (size_t i = 0; i < sizeof moved / sizeof moved[0]; i++) {
        if (strcmp(moved[i].op, n->p->op_type)) continue;
        if (m->opset >= moved[i].since && ox_attr(n, moved[i].attr))
            return ox_fail(m, n, NB_ERR_FORMAT, "attribute '%s' not supported: since opset %d it is input %d", moved[i].attr, moved[i].since,
                           moved[i].slot);
        if (m->opset < moved[i].since && n->n_in > moved[i].slot && n->in[moved[i].slot] >= 0 && strcmp(n->p->op_type, "Split"))
            return ox_fail(m, n, NB_ERR_FORMAT, "input %d ('%s') not supported before opset %d: it is the attribute '%s'", moved[i].slot,
                           moved[i].attr, moved[i].since, moved[i].attr);
    }
    return NB_OK;
}

static nb_status check_node(ox_model *m, ox_node *n)
{
    const Onnx__NodeProto *p = n->p;
    if (p->domain && *p->domain && strcmp(p->domain, "ai.onnx"))
        return ox_fail(m, n, NB_ERR_FORMAT, "domain '%s' is not supported (only the default ONNX domain)", p->domain);
    n->op = ox_find_op(p->op_type);
    if (!n->op) return ox_fail(m, n, NB_ERR_FORMAT, "op %s not supported", p->op_type);
    if (n->n_in < n->op->min_in || n->n_in > n->op->max_in)
        return ox_fail(m, n, NB_ERR_FORMAT, "has %d inputs; nabla's %s takes %d to %d", n->n_in, p->op_type, n->op->min_in,
                       n->op->max_in);
    if (n->n_out < n->op->min_out || n->n_out > n->op->max_out)
        return ox_fail(m, n, NB_ERR_FORMAT, "has %d outputs; nabla's %s gives %d to %d", n->n_out, p->op_type,
                       n->op->min_out, n->op->max_out);
    int variadic = n->op->max_in >= 64; /* Concat, Sum, Max, ...: every input is required */
    for (int j = 0; j < (variadic ? n->n_in : n->op->min_in); j++)
        if (n->in[j] < 0) return ox_fail(m, n, NB_ERR_FORMAT, "required input %d is empty", j);
    for (size_t i = 0; i < p->n_attribute; i++) {
        const Onnx__AttributeProto *a = p->attribute[i];
        if (!a->name) return ox_fail(m, n, NB_ERR_FORMAT, "an attribute has no name");
        if (!attr_listed(n->op->attrs, a->name))
            return ox_fail(m, n, NB_ERR_FORMAT, "attribute '%s' not supported", a->name);
        if (a->ref_attr_name && *a->ref_attr_name)
            return ox_fail(m, n, NB_ERR_FORMAT, "attribute '%s' refers to a function attribute", a->name);
    }
    nb_status st = check_moved(m, n);
    if (st) return st;
    return n->op->check ? n->op->check(m, n) : NB_OK;
}

/* ---- building the executable graph from the proto, step by step ---- */

typedef struct {
    ox_model *m;
    const Onnx__GraphProto *g;
    name_map mp;   /* value name -> id */
    int *producer; /* value id -> index in the file of the node computing it, -1 for inputs and initializers */
    ox_node *raw;  /* the nodes in file order (they own their in/out arrays until sorted into m->nodes) */
    int *order;    /* the topological order: indices into raw */
    int *indeg;    /* per raw node, how many of its inputs other nodes compute */
} graph_build;

static nb_status alloc_tables(graph_build *B, size_t nv)
{
    ox_model *m = B->m;
    size_t nn = B->g->n_node;
    B->mp.cap = 16;
    while (B->mp.cap < 2 * nv + 2) B->mp.cap *= 2;
    B->mp.keys = calloc(B->mp.cap, sizeof *B->mp.keys);
    B->mp.ids = calloc(B->mp.cap, sizeof *B->mp.ids);
    m->vname = calloc(nv + 1, sizeof *m->vname);
    m->init = calloc(nv + 1, sizeof *m->init);
    m->mod_owned = calloc(nv + 1, 1);
    m->vals = calloc(nv + 1, sizeof *m->vals);
    m->use_count = calloc(nv + 1, sizeof *m->use_count);
    B->producer = malloc((nv + 1) * sizeof *B->producer);
    m->nodes = calloc(nn + 1, sizeof *m->nodes);
    B->raw = calloc(nn + 1, sizeof *B->raw);
    B->order = malloc((nn + 1) * sizeof *B->order);
    B->indeg = calloc(nn + 1, sizeof *B->indeg);
    if (!B->mp.keys || !B->mp.ids || !m->vname || !m->init || !m->mod_owned || !m->vals || !m->use_count ||
        !B->producer || !m->nodes || !B->raw || !B->order || !B->indeg)
        return nb__fail(NB_ERR_MEM, "out of memory loading the graph");
    return NB_OK;
}

/* Initializers first: a graph input of the same name (old IR versions list them) takes its value. */
static nb_status add_initializers(graph_build *B)
{
    ox_model *m = B->m;
    for (size_t i = 0; i < B->g->n_initializer; i++) {
        const Onnx__TensorProto *tp = B->g->initializer[i];
        if (!tp->name || !*tp->name) return nb__fail(NB_ERR_FORMAT, "initializer %zu has no name", i);
        if (map_get(&B->mp, tp->name) >= 0) return nb__fail(NB_ERR_FORMAT, "duplicate name '%s': two initializers", tp->name);
        int id = m->n_values++;
        m->vname[id] = tp->name;
        B->producer[id] = -1;
        map_put(&B->mp, tp->name, id);
        int et = 0;
        nb_tensor *t = ox_tensor_decode(m->ctx, tp, m->dir, &et);
        if (!t) {
            nb__error_prefix("initializer '%s'", tp->name);
            return NB_ERR_FORMAT;
        }
        m->init[id] = (ox_val){t, et};
    }
    return NB_OK;
}

static nb_status add_inputs(graph_build *B)
{
    ox_model *m = B->m;
    const Onnx__GraphProto *g = B->g;
    m->inputs = malloc((g->n_input + 1) * sizeof *m->inputs);
    m->in_info = calloc(g->n_input + 1, sizeof *m->in_info);
    if (!m->inputs || !m->in_info) return nb__fail(NB_ERR_MEM, "out of memory");
    for (size_t i = 0; i < g->n_input; i++) {
        const char *nm = g->input[i]->name;
        if (!nm || !*nm) return nb__fail(NB_ERR_FORMAT, "graph input %zu has no name", i);
        int id = map_get(&B->mp, nm);
        if (id >= 0 && m->init[id].t) continue; /* an initializer listed as input */
        if (id >= 0) return nb__fail(NB_ERR_FORMAT, "duplicate name '%s': two graph inputs", nm);
        id = m->n_values++;
        m->vname[id] = (char *)nm;
        B->producer[id] = -1;
        map_put(&B->mp, nm, id);
        nb_status st = read_info(&m->in_info[m->n_inputs], g->input[i], "graph input");
        m->inputs[m->n_inputs++] = id;
        if (st) return st;
    }
    return NB_OK;
}

/* Every node's outputs become values (raw[k], in file order). */
static nb_status add_node_outputs(graph_build *B)
{
    ox_model *m = B->m;
    m->n_nodes = 0;
    for (size_t k = 0; k < B->g->n_node; k++) {
        const Onnx__NodeProto *p = B->g->node[k];
        ox_node *n = &B->raw[k];
        n->p = p;
        n->name = p->name && *p->name ? p->name : NULL;
        if (!p->op_type) return nb__fail(NB_ERR_FORMAT, "node %zu has no op_type", k);
        if (p->n_input > 64 || p->n_output > 16)
            return nb__fail(NB_ERR_FORMAT, "node %zu (%s) has %zu inputs and %zu outputs; at most 64 and 16 are supported",
                            k, p->op_type, p->n_input, p->n_output);
        n->n_in = (int)p->n_input;
        n->n_out = (int)p->n_output;
        n->in = malloc((size_t)(n->n_in + 1) * sizeof *n->in);
        n->out = malloc((size_t)(n->n_out + 1) * sizeof *n->out);
        if (!n->in || !n->out) return nb__fail(NB_ERR_MEM, "out of memory");
        for (int j = 0; j < n->n_out; j++) {
            const char *nm = p->output[j];
            if (!nm || !*nm) {
                n->out[j] = -1;
                continue;
            }
            int id = map_get(&B->mp, nm);
            if (id >= 0)
                return nb__fail(NB_ERR_FORMAT, "duplicate name '%s': output %d of node %zu ('%s', %s) is already %s", nm, j,
                                k, p->name ? p->name : "", p->op_type,
                                B->producer[id] >= 0 ? "another node's output"
                                : m->init[id].t      ? "an initializer"
                                                     : "a graph input");
            id = m->n_values++;
            m->vname[id] = (char *)nm;
            B->producer[id] = (int)k;
            map_put(&B->mp, nm, id);
            n->out[j] = id;
        }
    }
    return NB_OK;
}

/* Every node's inputs are values already named; counts uses and in-degrees. */
static nb_status link_node_inputs(graph_build *B)
{
    ox_model *m = B->m;
    for (size_t k = 0; k < B->g->n_node; k++) {
        ox_node *n = &B->raw[k];
        const Onnx__NodeProto *p = n->p;
        for (int j = 0; j < n->n_in; j++) {
            const char *nm = p->input[j];
            if (!nm || !*nm) {
                n->in[j] = -1;
                continue;
            }
            int id = map_get(&B->mp, nm);
            if (id < 0) {
                nb_status st = nb__fail(NB_ERR_FORMAT, "node %s%s%s (%s): input '%s' is missing: no graph input, initializer or node output has that name",
                              p->name && *p->name ? "'" : "#", p->name && *p->name ? p->name : "", p->name && *p->name ? "'" : "",
                              p->op_type, nm);
                if (!(p->name && *p->name)) st = nb__fail(NB_ERR_FORMAT, "node #%zu (%s): input '%s' is missing: no graph input, initializer or node output has that name", k, p->op_type, nm);
                return st;
            }
            n->in[j] = id;
            m->use_count[id]++;
            if (B->producer[id] >= 0) B->indeg[k]++;
        }
    }
    return NB_OK;
}

/* Kahn's algorithm over a consumer list (value -> the nodes reading it); nodes that
 * become ready together keep their file order. Fills m->nodes; a cycle fails naming a
 * node on it. */
static nb_status sort_nodes(graph_build *B)
{
    ox_model *m = B->m;
    size_t nn = B->g->n_node;
    const ox_node *raw = B->raw;
    int *first = calloc((size_t)m->n_values + 2, sizeof *first), *cons = NULL, *fill = NULL;
    size_t n_edges = 0;
    for (size_t k = 0; k < nn; k++) n_edges += (size_t)raw[k].n_in;
    cons = malloc((n_edges + 1) * sizeof *cons);
    fill = calloc((size_t)m->n_values + 1, sizeof *fill);
    if (!first || !cons || !fill) {
        free(first);
        free(cons);
        free(fill);
        return nb__fail(NB_ERR_MEM, "out of memory sorting the graph");
    }
    for (size_t k = 0; k < nn; k++)
        for (int q = 0; q < raw[k].n_in; q++)
            if (raw[k].in[q] >= 0) first[raw[k].in[q] + 1]++;
    for (int id = 0; id < m->n_values; id++) first[id + 1] += first[id];
    for (size_t k = 0; k < nn; k++)
        for (int q = 0; q < raw[k].n_in; q++)
            if (raw[k].in[q] >= 0) cons[first[raw[k].in[q]] + fill[raw[k].in[q]]++] = (int)k;
    free(fill);
    int head = 0, tail = 0;
    for (size_t k = 0; k < nn; k++)
        if (!B->indeg[k]) B->order[tail++] = (int)k;
    while (head < tail) {
        const ox_node *n = &raw[B->order[head++]];
        for (int j2 = 0; j2 < n->n_out; j2++) {
            int id = n->out[j2];
            if (id < 0) continue;
            for (int e = first[id]; e < first[id + 1]; e++)
                if (--B->indeg[cons[e]] == 0) B->order[tail++] = cons[e];
        }
    }
    free(first);
    free(cons);
    if (tail < (int)nn) {
        for (size_t k = 0; k < nn; k++)
            if (B->indeg[k]) {
                const Onnx__NodeProto *p = raw[k].p;
                if (p->name && *p->name)
                    return nb__fail(NB_ERR_FORMAT, "the graph has a cycle: node '%s' (%s) depends on its own output", p->name, p->op_type);
                return nb__fail(NB_ERR_FORMAT, "the graph has a cycle: node #%zu (%s) depends on its own output", k, p->op_type);
            }
        return NB_ERR_FORMAT;
    }
    for (int i2 = 0; i2 < tail; i2++) m->nodes[i2] = raw[B->order[i2]];
    m->n_nodes = tail;
    return NB_OK;
}

/* Anonymous nodes are named by their index in the file ("#3"); then each node's checks. */
static nb_status name_and_check_nodes(graph_build *B)
{
    ox_model *m = B->m;
    for (int i = 0; i < m->n_nodes; i++)
        if (!m->nodes[i].name) {
            snprintf(m->nodes[i].namebuf, sizeof m->nodes[i].namebuf, "#%d", B->order[i]);
            m->nodes[i].name = m->nodes[i].namebuf;
        }
    nb_status st = NB_OK;
    for (int i = 0; i < m->n_nodes && !st; i++) st = check_node(m, &m->nodes[i]);
    return st;
}

static nb_status add_outputs(graph_build *B)
{
    ox_model *m = B->m;
    const Onnx__GraphProto *g = B->g;
    m->outputs = malloc((g->n_output + 1) * sizeof *m->outputs);
    m->out_info = calloc(g->n_output + 1, sizeof *m->out_info);
    if (!m->outputs || !m->out_info) return nb__fail(NB_ERR_MEM, "out of memory");
    if (!g->n_output) return nb__fail(NB_ERR_FORMAT, "the graph has no outputs");
    for (size_t i = 0; i < g->n_output; i++) {
        const char *nm = g->output[i]->name;
        int id = nm ? map_get(&B->mp, nm) : -1;
        nb_status st = read_info(&m->out_info[m->n_outputs], g->output[i], "graph output");
        if (st) {
            m->n_outputs++;
            return st;
        }
        if (id < 0) {
            m->n_outputs++;
            return nb__fail(NB_ERR_FORMAT, "graph output '%s' is missing: no node computes it", nm ? nm : "");
        }
        m->outputs[m->n_outputs++] = id;
    }
    return NB_OK;
}

/* Float initializers become the module's parameters (weights a node trains) or buffers,
 * under their ONNX names. */
static nb_status add_parameters(graph_build *B, nb_module *mod)
{
    ox_model *m = B->m;
    char *role = calloc((size_t)m->n_values + 1, 1);
    if (!role) return nb__fail(NB_ERR_MEM, "out of memory");
    for (int k = 0; k < m->n_nodes; k++)
        for (int j = 0; j < m->nodes[k].n_in; j++) {
            int id = m->nodes[k].in[j];
            /* through Identity nodes (torch.onnx.export shares folded biases that way) and
             * Transpose (nabla's export multiplies by a Linear's weight transposed) */
            for (int hops = 0; id >= 0 && !m->init[id].t && B->producer[id] >= 0 && hops < 16; hops++) {
                const ox_node *pr = &B->raw[B->producer[id]];
                int through = !strcmp(pr->p->op_type, "Identity") || !strcmp(pr->p->op_type, "Transpose");
                id = through && pr->n_in == 1 ? pr->in[0] : -1;
            }
            if (id < 0 || !m->init[id].t || m->init[id].t->dtype != NB_F32) continue;
            int r = param_role(&m->nodes[k], j, m);
            if (r == 1 || !role[id]) role[id] = (char)r;
        }
    nb_status st = NB_OK;
    for (int id = 0; id < m->n_values && !st; id++) {
        if (!m->init[id].t || m->init[id].t->dtype != NB_F32 || B->producer[id] >= 0) continue; /* Constants are added by their check */
        nb_tensor *t = m->init[id].t;
        st = nb__module_add(mod, m->vname[id], t, role[id] != 1);
        if (st) m->init[id].t = NULL; /* nb__module_add freed it */
        else m->mod_owned[id] = 1;
    }
    free(role);
    return st;
}

static nb_status build(ox_model *m, const Onnx__GraphProto *g, nb_module *mod)
{
    if (!g) return nb__fail(NB_ERR_FORMAT, "the model has no graph");
    size_t nv = g->n_input + g->n_initializer;
    for (size_t i = 0; i < g->n_node; i++) nv += g->node[i]->n_output;
    if (nv > (1u << 26)) return nb__fail(NB_ERR_FORMAT, "the graph has too many values (%zu)", nv);
    graph_build B = {.m = m, .g = g};
    nb_status st = alloc_tables(&B, nv);
    if (!st) st = add_initializers(&B);
    if (!st) st = add_inputs(&B);
    if (!st) st = add_node_outputs(&B);
    if (!st) st = link_node_inputs(&B);
    if (!st) st = sort_nodes(&B);
    if (!st) st = name_and_check_nodes(&B);
    if (!st) st = add_outputs(&B);
    if (!st) st = add_parameters(&B, mod);
    if (st && !m->n_nodes && B.raw) /* raw nodes own the arrays */
        for (size_t k = 0; k < g->n_node; k++) {
            free(B.raw[k].in);
            free(B.raw[k].out);
        }
    free(B.mp.keys);
    free(B.mp.ids);
    free(B.producer);
    free(B.raw);
    free(B.order);
    free(B.indeg);
    return st;
}

static nb_module *load_proto(nb_ctx *ctx, Onnx__ModelProto *mp, const char *dir)
{
    ox_model *m = calloc(1, sizeof *m);
    nb_module *mod = m ? nb__module_new(ctx, &onnx_vt) : NULL;
    if (!mod) {
        free(m);
        onnx__model_proto__free_unpacked(mp, NULL);
        if (!m) nb__fail(NB_ERR_MEM, "out of memory");
        return NULL;
    }
    m->proto = mp;
    m->ctx = ctx;
    m->mod = mod;
    mod->impl = m;
    m->dir = dir ? strdup(dir) : NULL;
    m->opset = -1;
    for (size_t i = 0; i < mp->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = mp->opset_import[i];
        if (!o->domain || !*o->domain || !strcmp(o->domain, "ai.onnx")) m->opset = o->has_version ? (int)o->version : 1;
    }
    if (m->opset < 0) m->opset = mp->n_opset_import ? -1 : 1; /* IR 1-2 models without opset_import: opset 1 */
    nb_status st = NB_OK;
    if (m->opset < 0)
        st = nb__fail(NB_ERR_FORMAT, "opset domain '%s' not supported (the model imports no version of the default ONNX opset)",
                      mp->opset_import[0]->domain ? mp->opset_import[0]->domain : "");
    else if (m->opset < OX_MIN_OPSET || m->opset > OX_MAX_OPSET)
        st = nb__fail(NB_ERR_FORMAT, "opset %d is not supported (nabla reads opsets %d to %d)", m->opset, OX_MIN_OPSET,
                      OX_MAX_OPSET);
    if (!st) st = build(m, mp->graph, mod);
    if (st) {
        nb_module_free(mod);
        return NULL;
    }
    return mod;
}

nb_module *nb_onnx_load_buffer(nb_ctx *ctx, const void *data, size_t n, const char *dir, const nb_onnx_opts *o)
{
    (void)o;
    if (!ctx || (!data && n)) {
        nb__fail(NB_ERR_ARG, "nb_onnx_load_buffer: NULL argument");
        return NULL;
    }
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, n, data);
    if (!mp) {
        nb__fail(NB_ERR_FORMAT, "not an ONNX model: the protobuf is truncated or malformed (%s)", nb__onnx_wire_check(data, n));
        return NULL;
    }
    const char *bad = nb__onnx_wire_error(data, n); /* what protobuf-c let through */
    if (bad) {
        onnx__model_proto__free_unpacked(mp, NULL);
        nb__fail(NB_ERR_FORMAT, "not an ONNX model: the protobuf is malformed (%s)", bad);
        return NULL;
    }
    return load_proto(ctx, mp, dir);
}

nb_module *nb_onnx_load(nb_ctx *ctx, const char *path, const nb_onnx_opts *o)
{
    if (!ctx || !path) {
        nb__fail(NB_ERR_ARG, "nb_onnx_load: NULL argument");
        return NULL;
    }
    FILE *f = fopen(path, "rb");
    struct stat stt;
    if (!f || fstat(fileno(f), &stt)) {
        nb__fail(NB_ERR_IO, "cannot open %s: %s", path, strerror(errno));
        if (f) fclose(f);
        return NULL;
    }
    if ((uint64_t)stt.st_size > OX_MAX_FILE) {
        fclose(f);
        nb__fail(NB_ERR_FORMAT, "%s: %lld bytes; protobuf files are limited to 4 GiB (use external data)", path,
                 (long long)stt.st_size);
        return NULL;
    }
    size_t n = (size_t)stt.st_size;
    unsigned char *buf = malloc(n ? n : 1);
    if (!buf || fread(buf, 1, n, f) != n) {
        nb__fail(buf ? NB_ERR_IO : NB_ERR_MEM, "%s: cannot read the file", path);
        free(buf);
        fclose(f);
        return NULL;
    }
    fclose(f);
    char *dir = strdup(path);
    if (!dir) {
        free(buf);
        nb__fail(NB_ERR_MEM, "out of memory");
        return NULL;
    }
    char *slash = strrchr(dir, '/');
    if (slash) *(slash == dir ? slash + 1 : slash) = 0;
    else strcpy(dir, ".");
    nb_module *m = nb_onnx_load_buffer(ctx, buf, n, dir, o);
    free(buf);
    free(dir);
    if (!m) nb__error_prefix("%s", path);
    return m;
}

/* ---- queries and runs ---- */

int nb_onnx_is_model(const nb_module *m) { return model_of(m) != NULL; }
int nb_onnx_num_inputs(const nb_module *m) { return model_of(m) ? model_of(m)->n_inputs : 0; }
int nb_onnx_num_outputs(const nb_module *m) { return model_of(m) ? model_of(m)->n_outputs : 0; }

const char *nb_onnx_input_name(const nb_module *m, int i)
{
    ox_model *x = model_of(m);
    return x && i >= 0 && i < x->n_inputs ? x->in_info[i].name : NULL;
}

const char *nb_onnx_output_name(const nb_module *m, int i)
{
    ox_model *x = model_of(m);
    return x && i >= 0 && i < x->n_outputs ? x->out_info[i].name : NULL;
}

int nb_onnx_input_type(const nb_module *m, int i)
{
    ox_model *x = model_of(m);
    return x && i >= 0 && i < x->n_inputs ? x->in_info[i].et : 0;
}

int nb_onnx_input_shape(const nb_module *m, int i, int64_t *shape)
{
    ox_model *x = model_of(m);
    if (!x || i < 0 || i >= x->n_inputs) return -1;
    const ox_info *inf = &x->in_info[i];
    for (int d = 0; d < inf->ndim; d++) shape[d] = inf->shape[d];
    return inf->ndim;
}

int nb_onnx_opset(const nb_module *m) { return model_of(m) ? model_of(m)->opset : 0; }
int nb_onnx_num_nodes(const nb_module *m) { return model_of(m) ? model_of(m)->n_nodes : 0; }

const char *nb_onnx_node(const nb_module *m, int i, const char **op_type)
{
    ox_model *x = model_of(m);
    if (!x || i < 0 || i >= x->n_nodes) return NULL;
    if (op_type) *op_type = x->nodes[i].p->op_type;
    return x->nodes[i].name;
}

nb_status nb_onnx_run(nb_module *mod, nb_tensor *const *inputs, int n_in, nb_tensor **outputs, int *out_types,
                      int n_out)
{
    ox_model *m = model_of(mod);
    if (!m) return nb__fail(NB_ERR_ARG, "nb_onnx_run: not an ONNX model");
    if (n_out > m->n_outputs)
        return nb__fail(NB_ERR_ARG, "nb_onnx_run: %d outputs asked, the graph has %d", n_out, m->n_outputs);
    m->training = mod->training;
    nb_status st = ox_execute(m, inputs, n_in);
    if (st) return st;
    for (int i = 0; i < n_out; i++) {
        ox_val v = m->vals[m->outputs[i]];
        if (!v.t) return nb__fail(NB_ERR_ARG, "graph output '%s' was not computed", m->out_info[i].name);
        outputs[i] = v.t;
        if (out_types) out_types[i] = v.et;
    }
    return NB_OK;
}
