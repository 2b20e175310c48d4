/* convert.c - an imported graph rewritten for nb_onnx_save: another opset (read at 7 to
 * 17, written at 13 to 17), another batch dimension (symbolic or fixed) and another
 * input shape.
 *
 * Opsets: every node whose form differs between its opset and the target is replaced
 * by nodes of the target's form, the rest are kept as read:
 *   - attributes that became inputs (opset 13: Split's split, Squeeze/Unsqueeze's and
 *     ReduceSum's axes; 11: Clip's min/max and Pad's pads/value; 10: Slice's starts/
 *     ends/axes and TopK's k) become int64/float initializers;
 *   - Softmax, LogSoftmax and Hardmax below 13 (the input flattened to 2-D at axis)
 *     keep axis when it is the last one and otherwise become Flatten, the op on axis 1
 *     and a Reshape back to the input's shape;
 *   - Upsample (7-9) and Resize-10 become Resize with an empty roi, "asymmetric"
 *     coordinates and "floor" nearest rounding (their semantics); Scatter becomes
 *     ScatterElements;
 *   - Dropout (eval mode) becomes Identity when its mask is not used, and a
 *     BatchNormalization keeps its one output (its training outputs must be unused);
 *   - going down: LayerNormalization (17) is decomposed the way torch.onnx.export
 *     writes it below 17 (ReduceMean, Sub, Mul, ReduceMean, Add eps, Sqrt, Div, Mul,
 *     Add; its Mean output is the first ReduceMean, InvStdDev a Reciprocal), HardSwish (14) becomes x * HardSigmoid(x, 1/6, 1/2), Shape's start/end (15)
 *     a Slice after it; attributes with their default value that the lower opset does
 *     not know are dropped (Reshape's allowzero, BatchNormalization's training_mode,
 *     the RNNs' layout, ScatterElements' reduction, RoiAlign's coordinate mode);
 *   - anything else a target opset cannot express (an op it does not have: Trilu,
 *     CastLike, GridSample, the windows, DFT, STFT; a non-default attribute it does not
 *     know) fails naming the node, its op and the two opsets.
 * Shapes: the graph inputs' batch dimension (dim 0) becomes "batch" (or the input's
 * own symbolic name) or a number, and the first input's other dims the given shape;
 * the outputs' shapes are found by running the graph on zeros at two batch sizes (a
 * dimension that follows the batch is the batch); value_info is dropped by the caller.
 */
#include "onnx/onnx_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/convert.h"

/* ---- allocation: everything the conversion makes is freed together ---- */

static void *cv_alloc(ox_conv *c, size_t size)
{
    if (c->n_mem == c->cap_mem) {
        size_t cap = c->cap_mem ? 2 * c->cap_mem : 64;
        void **p = realloc(c->mem, cap * sizeof *p);
        if (!p) return NULL;
        c->mem = p;
        c->cap_mem = cap;
    }
    void *p = calloc(1, size ? size : 1);
    if (p) c->mem[c->n_mem++] = p;
    return p;
}

static char *cv_strdup(ox_conv *c, const char *s)
{
    char *p = cv_alloc(c, strlen(s) + 1);
    if (p) strcpy(p, s);
    return p;
}

void nb__onnx_conv_free(ox_conv *c)
{
    for (size_t i = 0; i < c->n_mem; i++) free(c->mem[i]);
    free(c->mem);
    memset(c, 0, sizeof *c);
}

static int push(ox_conv *c, void ***arr, size_t *n, size_t *cap, void *item)
{
    if (!item) return -1;
    if (*n == *cap) {
        size_t nc = *cap ? 2 * *cap : 64;
        void **p = cv_alloc(c, nc * sizeof *p);
        if (!p) return -1;
        if (*n) memcpy(p, *arr, *n * sizeof *p);
        *arr = p;
        *cap = nc;
    }
    (*arr)[(*n)++] = item;
    return 0;
}

static int emit(ox_conv *c, Onnx__NodeProto *n) { return push(c, (void ***)&c->nodes, &c->n_nodes, &c->cap_nodes, n); }

/* a value name no other value has: "<base>_<tag>", then "<base>_<tag>_1", ... */
static char *fresh_name(ox_conv *c, const char *base, const char *tag)
{
    char buf[512];
    for (int k = 0;; k++) {
        if (k) snprintf(buf, sizeof buf, "%.400s_%s_%d", base, tag, k);
        else snprintf(buf, sizeof buf, "%.400s_%s", base, tag);
        int taken = 0;
        for (int i = 0; i < c->m->n_values && !taken; i++) taken = !strcmp(c->m->vname[i], buf);
        for (size_t i = 0; i < c->n_names && !taken; i++) taken = !strcmp(c->names[i], buf);
        if (!taken) break;
    }
    char *s = cv_strdup(c, buf);
    return push(c, (void ***)&c->names, &c->n_names, &c->cap_names, s) ? NULL : s;
}

/* ---- attributes ---- */

static const Onnx__AttributeProto *get_attr(const Onnx__NodeProto *p, const char *name)
{
    for (size_t i = 0; i < p->n_attribute; i++)
        if (p->attribute[i]->name && !strcmp(p->attribute[i]->name, name)) return p->attribute[i];
    return NULL;
}

static int64_t attr_i(const Onnx__NodeProto *p, const char *name, int64_t def)
{
    const Onnx__AttributeProto *a = get_attr(p, name);
    return a ? a->i : def;
}

static const char *attr_s(const Onnx__NodeProto *p, const char *name, const char *def, char *buf, size_t len)
{
    const Onnx__AttributeProto *a = get_attr(p, name);
    if (!a) return def;
    size_t n = a->s.len < len - 1 ? a->s.len : len - 1;
    if (n) memcpy(buf, a->s.data, n);
    buf[n] = 0;
    return buf;
}

static Onnx__AttributeProto *new_attr(ox_conv *c, const char *name, Onnx__AttributeProto__AttributeType type)
{
    Onnx__AttributeProto *a = cv_alloc(c, sizeof *a);
    if (!a) return NULL;
    onnx__attribute_proto__init(a);
    a->name = cv_strdup(c, name);
    a->has_type = 1;
    a->type = type;
    return a->name ? a : NULL;
}

static Onnx__AttributeProto *attr_int(ox_conv *c, const char *name, int64_t v)
{
    Onnx__AttributeProto *a = new_attr(c, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    if (a) a->has_i = 1, a->i = v;
    return a;
}

static Onnx__AttributeProto *attr_float(ox_conv *c, const char *name, float v)
{
    Onnx__AttributeProto *a = new_attr(c, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    if (a) a->has_f = 1, a->f = v;
    return a;
}

static Onnx__AttributeProto *attr_str(ox_conv *c, const char *name, const char *v)
{
    Onnx__AttributeProto *a = new_attr(c, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
    char *s = cv_strdup(c, v);
    if (!a || !s) return NULL;
    a->has_s = 1;
    a->s.data = (uint8_t *)s;
    a->s.len = strlen(v);
    return a;
}

static Onnx__AttributeProto *attr_ints(ox_conv *c, const char *name, const int64_t *v, size_t n)
{
    Onnx__AttributeProto *a = new_attr(c, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    int64_t *d = cv_alloc(c, (n + 1) * sizeof *d);
    if (!a || !d) return NULL;
    if (n) memcpy(d, v, n * sizeof *d);
    a->n_ints = n;
    a->ints = d;
    return a;
}

/* ---- nodes ---- */

/* a copy of p whose input, output and attribute lists can change */
static Onnx__NodeProto *copy_node(ox_conv *c, const Onnx__NodeProto *p)
{
    Onnx__NodeProto *n = cv_alloc(c, sizeof *n);
    char **in = cv_alloc(c, (p->n_input + 8) * sizeof *in), **out = cv_alloc(c, (p->n_output + 1) * sizeof *out);
    Onnx__AttributeProto **at = cv_alloc(c, (p->n_attribute + 8) * sizeof *at);
    if (!n || !in || !out || !at) return NULL;
    *n = *p;
    if (p->n_input) memcpy(in, p->input, p->n_input * sizeof *in); /* (NULL lists when empty) */
    if (p->n_output) memcpy(out, p->output, p->n_output * sizeof *out);
    if (p->n_attribute) memcpy(at, p->attribute, p->n_attribute * sizeof *at);
    n->input = in;
    n->output = out;
    n->attribute = at;
    return n;
}

static void drop_attr(Onnx__NodeProto *n, const char *name)
{
    size_t k = 0;
    for (size_t i = 0; i < n->n_attribute; i++)
        if (!n->attribute[i]->name || strcmp(n->attribute[i]->name, name)) n->attribute[k++] = n->attribute[i];
    n->n_attribute = k;
}

static int add_attr(Onnx__NodeProto *n, Onnx__AttributeProto *a)
{
    if (!a) return -1;
    drop_attr(n, a->name);
    n->attribute[n->n_attribute++] = a; /* copy_node left room for 8 */
    return 0;
}

/* input k set to name ("" for absent), the inputs before it filled with "" */
static void set_input(Onnx__NodeProto *n, size_t k, char *name)
{
    while (n->n_input < k) n->input[n->n_input++] = "";
    if (n->n_input == k) n->n_input++;
    n->input[k] = name;
}

static Onnx__NodeProto *new_node(ox_conv *c, const char *op, const Onnx__NodeProto *from, const char *tag, int n_in,
                                 char **ins, char *out)
{
    Onnx__NodeProto *n = cv_alloc(c, sizeof *n);
    char **in = cv_alloc(c, (size_t)(n_in + 1) * sizeof *in), **o = cv_alloc(c, sizeof *o);
    Onnx__AttributeProto **at = cv_alloc(c, 8 * sizeof *at);
    if (!n || !in || !o || !at) return NULL;
    onnx__node_proto__init(n);
    n->op_type = cv_strdup(c, op);
    char buf[512];
    snprintf(buf, sizeof buf, "%.400s_%s", from->name && *from->name ? from->name : from->output[0], tag);
    n->name = cv_strdup(c, buf);
    if (n_in) memcpy(in, ins, (size_t)n_in * sizeof *in);
    n->n_input = (size_t)n_in;
    n->input = in;
    o[0] = out;
    n->n_output = 1;
    n->output = o;
    n->attribute = at;
    return n->op_type && n->name ? n : NULL;
}

/* a node op(ins) emitted with a fresh output name, returned */
static char *emit_op(ox_conv *c, const char *op, const Onnx__NodeProto *from, const char *tag, int n_in, char **ins,
                     Onnx__AttributeProto *a1, Onnx__AttributeProto *a2)
{
    char *out = fresh_name(c, from->output[0], tag);
    Onnx__NodeProto *n = out ? new_node(c, op, from, tag, n_in, ins, out) : NULL;
    if (!n) return NULL;
    if (a1) n->attribute[n->n_attribute++] = a1;
    if (a2) n->attribute[n->n_attribute++] = a2;
    return emit(c, n) ? NULL : out;
}

/* ---- initializers ---- */

static char *add_init(ox_conv *c, const char *base, const char *tag, int type, const void *data, size_t esz, size_t count,
                      int scalar)
{
    char *name = fresh_name(c, base, tag);
    Onnx__TensorProto *t = cv_alloc(c, sizeof *t);
    int64_t *dims = cv_alloc(c, sizeof *dims);
    uint8_t *raw = cv_alloc(c, esz * count + 1);
    if (!name || !t || !dims || !raw) return NULL;
    onnx__tensor_proto__init(t);
    t->name = name;
    t->has_data_type = 1;
    t->data_type = type;
    dims[0] = (int64_t)count;
    t->dims = dims;
    t->n_dims = scalar ? 0 : 1;
    if (count) memcpy(raw, data, esz * count); /* little-endian machines (as the rest of the reader) */
    t->has_raw_data = 1;
    t->raw_data.data = raw;
    t->raw_data.len = esz * count;
    return push(c, (void ***)&c->inits, &c->n_inits, &c->cap_inits, t) ? NULL : name;
}

static char *init_ints(ox_conv *c, const Onnx__NodeProto *p, const char *tag, const int64_t *v, size_t n)
{
    return add_init(c, p->output[0], tag, OX_INT64, v, 8, n, 0);
}

static char *init_float(ox_conv *c, const Onnx__NodeProto *p, const char *tag, float v)
{
    return add_init(c, p->output[0], tag, OX_FLOAT, &v, 4, 1, 1);
}

/* ---- conversion of one node ---- */
/* opset 6 also had the binary ops' broadcast/axis attributes (B lined up at A's axis:
 * an Unsqueeze adds B's trailing 1s), PRelu's channel-wise 1-D slope and is_test. */

static nb_status refuse(ox_conv *c, const Onnx__NodeProto *p, const char *what)
{
    return nb__fail(NB_ERR_ARG, "nb_onnx_save: node '%s' (%s, opset %d): %s at opset %d", p->name && *p->name ? p->name : p->output[0],
                    p->op_type, c->from, what, c->to);
}

static int used(ox_conv *c, const char *name)
{
    if (!name || !*name) return 0;
    const Onnx__GraphProto *g = c->m->proto->graph;
    for (size_t i = 0; i < g->n_node; i++)
        for (size_t j = 0; j < g->node[i]->n_input; j++)
            if (!strcmp(g->node[i]->input[j], name)) return 1;
    for (size_t i = 0; i < g->n_output; i++)
        if (!strcmp(g->output[i]->name, name)) return 1;
    return 0;
}

/* the rank of a value from the run on zeros, -1 unknown */
static int rank_of(ox_conv *c, const char *name)
{
    if (!c->rank) return -1;
    for (int i = 0; i < c->m->n_values; i++)
        if (!strcmp(c->m->vname[i], name)) return c->rank[i];
    return -1;
}

/* the element type of a value from the run on zeros, 0 unknown */
static int et_of(ox_conv *c, const char *name)
{
    for (int i = 0; c->et && i < c->m->n_values; i++)
        if (!strcmp(c->m->vname[i], name)) return c->et[i];
    return 0;
}

/* an ints attribute moved to input k (when present) */
static nb_status attr_to_input(ox_conv *c, const Onnx__NodeProto *p, Onnx__NodeProto *n, const char *attr, size_t k)
{
    const Onnx__AttributeProto *a = get_attr(p, attr);
    drop_attr(n, attr);
    if (!a) return NB_OK;
    char *name = init_ints(c, p, attr, a->ints, a->n_ints);
    if (!name) return nb__fail(NB_ERR_MEM, "nb_onnx_save: out of memory converting the graph");
    set_input(n, k, name);
    return NB_OK;
}

/* a float attribute moved to input k as a scalar (when present): Clip's min and max,
 * Dropout's ratio */
static nb_status float_attr_to_input(ox_conv *c, const Onnx__NodeProto *p, Onnx__NodeProto *n, const char *attr, size_t k)
{
    const Onnx__AttributeProto *a = get_attr(p, attr);
    drop_attr(n, attr);
    if (!a) return NB_OK;
    char *name = init_float(c, p, attr, a->f);
    if (!name) return nb__fail(NB_ERR_MEM, "nb_onnx_save: out of memory converting the graph");
    set_input(n, k, name);
    return NB_OK;
}

#define TRY(x)                                                                                                                             \
    do {                                                                                                                                   \
        if (!(x)) return nb__fail(NB_ERR_MEM, "nb_onnx_save: out of memory converting the graph");                                       \
    } while (0)

static nb_status softmax_up(ox_conv *c, const Onnx__NodeProto *p, Onnx__NodeProto *n)
{
    int64_t axis = attr_i(p, "axis", 1);
    int r = rank_of(c, p->input[0]);
    if (r > 0 && axis < 0) axis += r;
    if (axis == -1 || (r > 0 && axis == r - 1)) { /* the 2-D view is the op on the last axis */
        TRY(!add_attr(n, attr_int(c, "axis", -1)));
        return emit(c, n) ? NB_ERR_MEM : NB_OK;
    }
    char *x = p->input[0], *shape, *flat, *y;
    TRY(shape = emit_op(c, "Shape", p, "shape", 1, &x, NULL, NULL));
    TRY(flat = emit_op(c, "Flatten", p, "flatten", 1, &x, attr_int(c, "axis", axis), NULL));
    n->input[0] = flat;
    TRY(y = fresh_name(c, p->output[0], "2d"));
    n->output[0] = y;
    TRY(!add_attr(n, attr_int(c, "axis", 1)));
    TRY(!emit(c, n));
    Onnx__NodeProto *rs;
    TRY(rs = new_node(c, "Reshape", p, "reshape", 2, (char *[]){y, shape}, p->output[0]));
    return emit(c, rs) ? NB_ERR_MEM : NB_OK;
}

static nb_status layernorm_down(ox_conv *c, const Onnx__NodeProto *p)
{
    int want_mean = p->n_output > 1 && used(c, p->output[1]), want_inv = p->n_output > 2 && used(c, p->output[2]);
    int64_t axis = attr_i(p, "axis", -1);
    if (axis >= 0) {
        int r = rank_of(c, p->input[0]);
        if (r < 0) return refuse(c, p, "a non-negative axis with an input of unknown rank cannot be written");
        axis -= r;
    }
    int64_t axes[NB_MAX_DIMS];
    size_t na = 0;
    for (int64_t a = axis; a < 0 && na < NB_MAX_DIMS; a++) axes[na++] = a;
    const Onnx__AttributeProto *ea = get_attr(p, "epsilon");
    float eps = ea ? ea->f : 1e-5f;
    char *x = p->input[0], *mean, *d, *sq, *var, *e, *ve, *sd, *nrm, *y;
    TRY(mean = emit_op(c, "ReduceMean", p, "mean", 1, &x, attr_ints(c, "axes", axes, na), attr_int(c, "keepdims", 1)));
    if (want_mean) { /* the Mean output: the last node's output renamed */
        c->nodes[c->n_nodes - 1]->output[0] = p->output[1];
        mean = p->output[1];
    }
    TRY(d = emit_op(c, "Sub", p, "centered", 2, (char *[]){x, mean}, NULL, NULL));
    TRY(sq = emit_op(c, "Mul", p, "squared", 2, (char *[]){d, d}, NULL, NULL));
    TRY(var = emit_op(c, "ReduceMean", p, "var", 1, &sq, attr_ints(c, "axes", axes, na), attr_int(c, "keepdims", 1)));
    TRY(e = init_float(c, p, "epsilon", eps));
    TRY(ve = emit_op(c, "Add", p, "var_eps", 2, (char *[]){var, e}, NULL, NULL));
    TRY(sd = emit_op(c, "Sqrt", p, "std", 1, &ve, NULL, NULL));
    TRY(nrm = emit_op(c, "Div", p, "normalized", 2, (char *[]){d, sd}, NULL, NULL));
    if (want_inv) {
        Onnx__NodeProto *r;
        TRY(r = new_node(c, "Reciprocal", p, "inv_std", 1, &sd, p->output[2]));
        TRY(!emit(c, r));
    }
    int bias = p->n_input > 2 && *p->input[2];
    Onnx__NodeProto *mul, *add;
    TRY(y = bias ? fresh_name(c, p->output[0], "scaled") : p->output[0]);
    TRY(mul = new_node(c, "Mul", p, "scale", 2, (char *[]){nrm, p->input[1]}, y));
    TRY(!emit(c, mul));
    if (!bias) return NB_OK;
    TRY(add = new_node(c, "Add", p, "bias", 2, (char *[]){y, p->input[2]}, p->output[0]));
    return emit(c, add) ? NB_ERR_MEM : NB_OK;
}

/* an attribute the target opset does not have: dropped when it holds its default */
static nb_status drop_default_i(ox_conv *c, const Onnx__NodeProto *p, Onnx__NodeProto *n, const char *attr, int64_t def)
{
    if (attr_i(p, attr, def) != def) {
        char msg[96];
        snprintf(msg, sizeof msg, "attribute %s=%lld cannot be written", attr, (long long)attr_i(p, attr, def));
        return refuse(c, p, msg);
    }
    drop_attr(n, attr);
    return NB_OK;
}

static nb_status convert_node(ox_conv *c, const Onnx__NodeProto *p)
{
    const char *op = p->op_type;
    int F = c->from, T = c->to;
    nb_status st = NB_OK;
    Onnx__NodeProto *n = copy_node(c, p);
    TRY(n);
    char buf[64];
#define IS(s) (!strcmp(op, s))
    /* ops the target opset does not have */
    static const struct {
        const char *op;
        int since;
    } late[] = {{"Trilu", 14}, {"CastLike", 15}, {"GridSample", 16}, {"BlackmanWindow", 17}, {"HannWindow", 17},
                {"HammingWindow", 17}, {"DFT", 17}, {"STFT", 17}, {"MelWeightMatrix", 17}};
    for (size_t i = 0; i < sizeof late / sizeof *late; i++)
        if (IS(late[i].op) && T < late[i].since) return refuse(c, p, "the op does not exist");
    if (T < 14 && c->et && p->n_input && (IS("Add") || IS("Sub") || IS("Mul") || IS("Div") || IS("Relu"))) {
        /* opset 14 brought the 8- and 16-bit integers to these (and Relu's integers) */
        int et = et_of(c, p->input[0]);
        if (et == OX_UINT8 || et == OX_INT8 || et == OX_UINT16 || et == OX_INT16 || (IS("Relu") && et && !ox_is_float(et))) {
            char msg[96];
            snprintf(msg, sizeof msg, "type %s cannot be written", ox_type_name(et));
            return refuse(c, p, msg);
        }
    }
    if (F < 7 && get_attr(p, "broadcast")) { /* opset 6's broadcast=1 and axis: B's dims from axis of A */
        drop_attr(n, "broadcast");
        drop_attr(n, "axis");
        const Onnx__AttributeProto *ax = get_attr(p, "axis");
        if (ax && attr_i(p, "broadcast", 0) && p->n_input > 1 && !IS("Gemm")) {
            int ra = rank_of(c, p->input[0]), rb = rank_of(c, p->input[1]);
            int64_t axis = ax->i < 0 && ra > 0 ? ax->i + ra : ax->i;
            if (ra < 0 || rb < 0) return refuse(c, p, "broadcast with an axis on inputs of unknown rank cannot be written");
            int64_t k = ra - axis - rb, axes[NB_MAX_DIMS];
            if (k < 0 || k > NB_MAX_DIMS) return refuse(c, p, "broadcast axis out of range");
            if (k > 0) { /* trailing 1s make numpy broadcasting line B up at axis */
                for (int64_t j = 0; j < k; j++) axes[j] = rb + j;
                char *an, *u, *b = p->input[1];
                TRY(an = init_ints(c, p, "axes", axes, (size_t)k));
                TRY(u = emit_op(c, "Unsqueeze", p, "unsqueeze", 2, (char *[]){b, an}, NULL, NULL));
                n->input[1] = u;
            }
        }
    }
    if (F < 7 && (IS("Dropout") || IS("BatchNormalization"))) drop_attr(n, "is_test");
    if (F < 7 && IS("PRelu")) { /* PRelu-6: a 1-D slope runs along the channels (axis 1) */
        int rx = rank_of(c, p->input[0]), rs = rank_of(c, p->input[1]);
        if (rx < 0 || rs < 0) return refuse(c, p, "a slope on inputs of unknown rank cannot be written");
        if (rs == 1 && rx > 2) {
            int64_t axes[NB_MAX_DIMS];
            for (int j = 0; j < rx - 2; j++) axes[j] = 1 + j;
            char *an, *u, *b = p->input[1];
            TRY(an = init_ints(c, p, "axes", axes, (size_t)(rx - 2)));
            TRY(u = emit_op(c, "Unsqueeze", p, "unsqueeze", 2, (char *[]){b, an}, NULL, NULL));
            n->input[1] = u;
        }
    }
    if (F < 13 && T >= 13) {
        if (IS("Split")) st = attr_to_input(c, p, n, "split", 1);
        else if (IS("Squeeze") || IS("Unsqueeze") || IS("ReduceSum")) st = attr_to_input(c, p, n, "axes", 1);
        else if (IS("Softmax") || IS("LogSoftmax") || IS("Hardmax")) return softmax_up(c, p, n);
        if (st) return st;
    }
    if (F < 11 && IS("Clip") &&
        ((st = float_attr_to_input(c, p, n, "min", 1)) || (st = float_attr_to_input(c, p, n, "max", 2))))
        return st;
    if (F < 11 && IS("Pad")) {
        const Onnx__AttributeProto *pa = get_attr(p, F < 2 ? "paddings" : "pads"), *va = get_attr(p, "value");
        if (!pa) return refuse(c, p, "pads are missing");
        char *pn, *vn = NULL;
        TRY(pn = init_ints(c, p, "pads", pa->ints, pa->n_ints));
        if (va && va->f != 0) TRY(vn = init_float(c, p, "value", va->f));
        drop_attr(n, "pads");
        drop_attr(n, "paddings");
        drop_attr(n, "value");
        set_input(n, 1, pn);
        if (vn) set_input(n, 2, vn);
    }
    if (F < 10 && IS("Slice")) {
        if ((st = attr_to_input(c, p, n, "starts", 1)) || (st = attr_to_input(c, p, n, "ends", 2)) ||
            (st = attr_to_input(c, p, n, "axes", 3)))
            return st;
    }
    if (F < 10 && IS("TopK")) {
        int64_t k = attr_i(p, "k", 0);
        char *kn;
        TRY(kn = init_ints(c, p, "k", &k, 1));
        drop_attr(n, "k");
        set_input(n, 1, kn);
    }
    if (IS("Upsample") || (IS("Resize") && F < 11)) {
        char *scales = p->n_input > 1 ? p->input[1] : "";
        if (IS("Upsample") && F < 9) {
            const Onnx__AttributeProto *sa = get_attr(p, "scales");
            if (!sa) return refuse(c, p, "scales are missing");
            TRY(scales = add_init(c, p->output[0], "scales", OX_FLOAT, sa->floats, 4, sa->n_floats, 0));
        }
        n->op_type = "Resize";
        drop_attr(n, "scales");
        n->n_input = 1;
        set_input(n, 2, scales);
        TRY(!add_attr(n, attr_str(c, "coordinate_transformation_mode", "asymmetric")));
        const char *mode = attr_s(p, "mode", "nearest", buf, sizeof buf);
        if (!strcmp(mode, "nearest")) TRY(!add_attr(n, attr_str(c, "nearest_mode", "floor")));
        else if (!strcmp(mode, "bilinear") || !strcmp(mode, "trilinear")) TRY(!add_attr(n, attr_str(c, "mode", "linear")));
    }
    if (IS("Scatter")) n->op_type = "ScatterElements";
    if (IS("Dropout")) {
        if (p->n_output < 2 || !used(c, p->output[1])) {
            n->op_type = "Identity";
            n->n_input = 1;
            n->n_output = 1;
            n->n_attribute = 0;
        } else if (F < 12) {
            drop_attr(n, "is_test");
            if ((st = float_attr_to_input(c, p, n, "ratio", 1))) return st;
        }
    }
    if (IS("BatchNormalization")) {
        for (size_t k = 1; k < p->n_output; k++)
            if (used(c, p->output[k])) return refuse(c, p, "the training outputs (running and saved statistics) cannot be written");
        n->n_output = 1;
        drop_attr(n, "spatial"); /* 1: the reader refuses 0 */
        drop_attr(n, "is_test");
        drop_attr(n, "consumed_inputs");
        if (T < 14 && (st = drop_default_i(c, p, n, "training_mode", 0))) return st;
    }
    if (T < 14 && IS("Reshape") && (st = drop_default_i(c, p, n, "allowzero", 0))) return st;
    if (T < 14 && (IS("RNN") || IS("GRU") || IS("LSTM")) && (st = drop_default_i(c, p, n, "layout", 0))) return st;
    if (T < 16 && (IS("ScatterElements") || IS("ScatterND"))) {
        if (strcmp(attr_s(p, "reduction", "none", buf, sizeof buf), "none")) return refuse(c, p, "a reduction other than 'none' cannot be written");
        drop_attr(n, "reduction");
    }
    if (IS("RoiAlign")) {
        const char *ct = attr_s(p, "coordinate_transformation_mode", F < 16 ? "output_half_pixel" : "half_pixel", buf, sizeof buf);
        if (T >= 16) TRY(!add_attr(n, attr_str(c, "coordinate_transformation_mode", ct)));
        else if (strcmp(ct, "output_half_pixel")) return refuse(c, p, "coordinate_transformation_mode 'half_pixel' cannot be written");
        else drop_attr(n, "coordinate_transformation_mode");
    }
    if (T < 17 && IS("LayerNormalization")) return layernorm_down(c, p);
    if (T < 14 && IS("HardSwish")) {
        char *x = p->input[0], *hs;
        TRY(hs = emit_op(c, "HardSigmoid", p, "hardsigmoid", 1, &x, attr_float(c, "alpha", 1.0f / 6), attr_float(c, "beta", 0.5f)));
        Onnx__NodeProto *mul;
        TRY(mul = new_node(c, "Mul", p, "mul", 2, (char *[]){x, hs}, p->output[0]));
        return emit(c, mul) ? NB_ERR_MEM : NB_OK;
    }
    if (T < 15 && IS("Shape") && (get_attr(p, "start") || get_attr(p, "end"))) {
        int64_t s = attr_i(p, "start", 0), e = attr_i(p, "end", INT64_MAX), zero = 0;
        drop_attr(n, "start");
        drop_attr(n, "end");
        char *full, *sn, *en, *an;
        TRY(full = fresh_name(c, p->output[0], "full"));
        n->output[0] = full;
        TRY(!emit(c, n));
        TRY((sn = init_ints(c, p, "start", &s, 1)) && (en = init_ints(c, p, "end", &e, 1)) && (an = init_ints(c, p, "axes", &zero, 1)));
        Onnx__NodeProto *sl;
        TRY(sl = new_node(c, "Slice", p, "slice", 4, (char *[]){full, sn, en, an}, p->output[0]));
        return emit(c, sl) ? NB_ERR_MEM : NB_OK;
    }
#undef IS
    return emit(c, n) ? NB_ERR_MEM : NB_OK;
}

/* ---- shapes ---- */

static Onnx__TensorShapeProto__Dimension *dim_value(ox_conv *c, int64_t v)
{
    Onnx__TensorShapeProto__Dimension *d = cv_alloc(c, sizeof *d);
    if (!d) return NULL;
    onnx__tensor_shape_proto__dimension__init(d);
    d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
    d->dim_value = v;
    return d;
}

static Onnx__TensorShapeProto__Dimension *dim_param(ox_conv *c, const char *name)
{
    Onnx__TensorShapeProto__Dimension *d = cv_alloc(c, sizeof *d);
    if (!d) return NULL;
    onnx__tensor_shape_proto__dimension__init(d);
    d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
    d->dim_param = cv_strdup(c, name);
    return d->dim_param ? d : NULL;
}

/* a copy of vi with a new tensor shape of ndim dims (filled by the caller) */
static Onnx__ValueInfoProto *reshaped(ox_conv *c, const Onnx__ValueInfoProto *vi, int ndim, Onnx__TensorShapeProto__Dimension ***dims)
{
    Onnx__ValueInfoProto *v = cv_alloc(c, sizeof *v);
    Onnx__TypeProto *t = cv_alloc(c, sizeof *t);
    Onnx__TypeProto__Tensor *tt = cv_alloc(c, sizeof *tt);
    Onnx__TensorShapeProto *sh = cv_alloc(c, sizeof *sh);
    Onnx__TensorShapeProto__Dimension **d = cv_alloc(c, (size_t)(ndim + 1) * sizeof *d);
    if (!v || !t || !tt || !sh || !d) return NULL;
    *v = *vi;
    *t = *vi->type;
    *tt = *vi->type->tensor_type;
    onnx__tensor_shape_proto__init(sh);
    sh->n_dim = (size_t)ndim;
    sh->dim = d;
    tt->shape = sh;
    t->tensor_type = tt;
    v->type = t;
    *dims = d;
    return v;
}

static int is_tensor_vi(const Onnx__ValueInfoProto *vi)
{
    return vi->type && vi->type->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE && vi->type->tensor_type;
}

static nb_status run_filled(ox_conv *c, const nb_onnx_save_opts *o, int64_t b, int64_t (*oshape)[NB_MAX_DIMS + 1], int *rank, int *et,
                            int one);

/* One run on zeros (then, if that fails, on ones: an integer division by an input), the
 * inputs' batch dims b (when set_batch) and the first input's other dims from o->input;
 * shapes[i] of each graph output, rank[] and et[] of every value. */
static nb_status run_zeros(ox_conv *c, const nb_onnx_save_opts *o, int64_t b, int64_t (*oshape)[NB_MAX_DIMS + 1], int *rank, int *et)
{
    nb_status st = run_filled(c, o, b, oshape, rank, et, 0);
    if (st) {
        char why[400];
        snprintf(why, sizeof why, "%s", nb_last_error());
        if (!run_filled(c, o, b, oshape, rank, et, 1)) return NB_OK;
        nb__fail(st, "%s", why);
    }
    return st;
}

static nb_status run_filled(ox_conv *c, const nb_onnx_save_opts *o, int64_t b, int64_t (*oshape)[NB_MAX_DIMS + 1], int *rank, int *et,
                            int one)
{
    ox_model *m = c->m;
    if (m->n_inputs > 64 || m->n_outputs > 64) return nb__fail(NB_ERR_ARG, "nb_onnx_save: more than 64 inputs or outputs");
    nb_tensor *ins[64] = {0}, *outs[64] = {0};
    for (int i = 0; i < m->n_inputs; i++) {
        const ox_info *inf = &m->in_info[i];
        if (inf->ndim < 0) return nb__fail(NB_ERR_ARG, "nb_onnx_save: input '%s' has no declared shape", inf->name);
        int64_t shape[NB_MAX_DIMS];
        for (int d = 0; d < inf->ndim; d++) shape[d] = inf->shape[d] >= 0 ? inf->shape[d] : 1;
        if (o->set_batch && inf->ndim > 0) shape[0] = b;
        if (i == 0 && o->input_ndim > 0)
            for (int d = 0; d < o->input_ndim; d++) shape[1 + d] = o->input[d];
        ins[i] = ox_new(m->ctx, inf->et ? inf->et : OX_FLOAT, inf->ndim, shape);
        if (!ins[i]) return nb__fail(NB_ERR_MEM, "nb_onnx_save: out of memory running the graph on zeros");
        memset(ins[i]->data, 0, (size_t)ins[i]->numel * (ins[i]->dtype == NB_F32 ? 4 : 8));
        for (int64_t k = 0; one && k < ins[i]->numel; k++) {
            if (ins[i]->dtype == NB_F32) ((float *)ins[i]->data)[k] = 1.0f;
            else ((int64_t *)ins[i]->data)[k] = 1;
        }
    }
    /* the declared shapes give way to the new ones for this run */
    ox_info *saved = malloc((size_t)(m->n_inputs + 1) * sizeof *saved);
    if (!saved) return nb__fail(NB_ERR_MEM, "nb_onnx_save: out of memory");
    if (m->n_inputs) memcpy(saved, m->in_info, (size_t)m->n_inputs * sizeof *saved);
    for (int i = 0; i < m->n_inputs; i++) {
        if (o->set_batch && m->in_info[i].ndim > 0) m->in_info[i].shape[0] = -1;
        for (int d = 0; i == 0 && d < o->input_ndim && d + 1 < m->in_info[i].ndim; d++) m->in_info[i].shape[1 + d] = -1;
    }
    int grad = nb_set_grad_enabled(m->ctx, 0), training = m->mod->training;
    m->mod->training = 0;
    nb_status st = nb_onnx_run(m->mod, ins, m->n_inputs, outs, NULL, m->n_outputs);
    nb_set_grad_enabled(m->ctx, grad);
    m->mod->training = training;
    if (m->n_inputs) memcpy(m->in_info, saved, (size_t)m->n_inputs * sizeof *saved);
    free(saved);
    if (st) {
        char why[400];
        snprintf(why, sizeof why, "%s", nb_last_error());
        return nb__fail(st, "nb_onnx_save: the graph does not run at the new shape: %s", why);
    }
    for (int i = 0; i < m->n_outputs; i++) {
        oshape[i][0] = outs[i] ? outs[i]->ndim : -1;
        for (int d = 0; outs[i] && d < outs[i]->ndim; d++) oshape[i][1 + d] = outs[i]->shape[d];
    }
    for (int i = 0; rank && i < m->n_values; i++) rank[i] = m->vals[i].t ? m->vals[i].t->ndim : -1;
    for (int i = 0; et && i < m->n_values; i++) et[i] = m->vals[i].t ? m->vals[i].et : 0;
    return NB_OK;
}

static nb_status rewrite_io(ox_conv *c, const nb_onnx_save_opts *o, int64_t (*s1)[NB_MAX_DIMS + 1], int64_t (*s2)[NB_MAX_DIMS + 1])
{
    ox_model *m = c->m;
    const Onnx__GraphProto *g = m->proto->graph;
    const char *bname = "batch";
    if (m->n_inputs && m->in_info[0].ndim > 0 && m->in_info[0].shape[0] < 0 && m->in_info[0].dim_param[0]) bname = m->in_info[0].dim_param[0];
    c->inputs = cv_alloc(c, (g->n_input + 1) * sizeof *c->inputs);
    c->outputs = cv_alloc(c, (g->n_output + 1) * sizeof *c->outputs);
    if (!c->inputs || !c->outputs) return NB_ERR_MEM;
    for (size_t i = 0; i < g->n_input; i++) {
        const Onnx__ValueInfoProto *vi = g->input[i];
        c->inputs[i] = (Onnx__ValueInfoProto *)vi;
        int k = -1;
        for (int j = 0; j < m->n_inputs && k < 0; j++)
            if (!strcmp(m->in_info[j].name, vi->name)) k = j;
        if (k < 0 || !is_tensor_vi(vi) || m->in_info[k].ndim < 1) continue;
        const ox_info *inf = &m->in_info[k];
        if (k == 0 && o->input_ndim > 0 && o->input_ndim != inf->ndim - 1)
            return nb__fail(NB_ERR_ARG, "nb_onnx_save: input '%s' has %d dims after the batch, the new shape %d", inf->name, inf->ndim - 1,
                            o->input_ndim);
        Onnx__TensorShapeProto__Dimension **d;
        const Onnx__TensorShapeProto *old = vi->type->tensor_type->shape;
        Onnx__ValueInfoProto *nv = reshaped(c, vi, inf->ndim, &d);
        if (!nv) return NB_ERR_MEM;
        for (int j = 0; j < inf->ndim; j++) {
            if (j == 0 && o->set_batch) d[j] = o->batch > 0 ? dim_value(c, o->batch) : dim_param(c, bname);
            else if (j > 0 && k == 0 && o->input_ndim > 0) d[j] = dim_value(c, o->input[j - 1]);
            else d[j] = old->dim[j];
            if (!d[j]) return NB_ERR_MEM;
        }
        c->inputs[i] = nv;
    }
    for (size_t i = 0; i < g->n_output; i++) {
        const Onnx__ValueInfoProto *vi = g->output[i];
        c->outputs[i] = (Onnx__ValueInfoProto *)vi;
        int k = -1;
        for (int j = 0; j < m->n_outputs && k < 0; j++)
            if (!strcmp(m->out_info[j].name, vi->name)) k = j;
        if (k < 0 || !is_tensor_vi(vi) || !vi->type->tensor_type->shape || s1[k][0] < 0) continue;
        const ox_info *inf = &m->out_info[k];
        int nd = (int)s1[k][0];
        Onnx__TensorShapeProto__Dimension **d;
        Onnx__ValueInfoProto *nv = reshaped(c, vi, nd, &d);
        if (!nv) return NB_ERR_MEM;
        for (int j = 0; j < nd; j++) {
            int batchlike = o->set_batch && s2[k][0] == nd && s2[k][1 + j] != s1[k][1 + j];
            int sym = inf->ndim == nd && inf->shape[j] < 0 && inf->dim_param[j];
            if (batchlike) d[j] = o->batch > 0 ? dim_value(c, s1[k][1 + j]) : dim_param(c, bname);
            else if (sym && !(o->set_batch && inf->dim_param[j] && !strcmp(inf->dim_param[j], bname))) d[j] = dim_param(c, inf->dim_param[j]);
            else d[j] = dim_value(c, s1[k][1 + j]);
            if (!d[j]) return NB_ERR_MEM;
        }
        c->outputs[i] = nv;
    }
    return NB_OK;
}

nb_status nb__onnx_convert(ox_model *m, const nb_onnx_save_opts *o, ox_conv *c)
{
    memset(c, 0, sizeof *c);
    c->m = m;
    c->from = m->opset;
    c->to = o->opset ? o->opset : m->opset;
    if (c->to != m->opset && (c->to < 13 || c->to > 17))
        return nb__fail(NB_ERR_ARG, "nb_onnx_save: opset %d is not supported for export (13 to 17)", c->to);
    if (m->opset < 6 && c->to != m->opset)
        return nb__fail(NB_ERR_ARG, "nb_onnx_save: the model is opset %d; converting from below opset 6 is not supported", m->opset);
    if (o->batch < 0) return nb__fail(NB_ERR_ARG, "nb_onnx_save: batch %lld must not be negative", (long long)o->batch);
    int shapes = o->set_batch || o->input_ndim > 0;
    c->active = shapes || c->to != c->from;
    if (!c->active) return NB_OK;
    nb_status st = NB_OK;
    int64_t(*s1)[NB_MAX_DIMS + 1] = calloc((size_t)m->n_outputs + 1, sizeof *s1), (*s2)[NB_MAX_DIMS + 1] = calloc((size_t)m->n_outputs + 1, sizeof *s2);
    int *rank = calloc((size_t)m->n_values + 1, sizeof *rank), *et = calloc((size_t)m->n_values + 1, sizeof *et);
    if (!s1 || !s2 || !rank || !et) {
        st = nb__fail(NB_ERR_MEM, "nb_onnx_save: out of memory");
        goto done;
    }
    int64_t b1 = o->batch > 0 ? o->batch : 1;
    if (m->n_inputs && m->n_outputs) {
        if ((st = run_zeros(c, o, b1, s1, rank, et))) {
            if (shapes) goto done;
            st = NB_OK; /* ranks and types unknown: the conversion does without them */
            free(rank);
            free(et);
            rank = et = NULL;
        }
        c->rank = rank;
        c->et = et;
        if (shapes && o->set_batch && (st = run_zeros(c, o, b1 + 1, s2, NULL, NULL))) goto done;
    }
    if (c->to != c->from) {
        const Onnx__GraphProto *g = m->proto->graph;
        for (size_t i = 0; i < g->n_node && !st; i++) st = convert_node(c, g->node[i]);
        if (st) goto done;
    }
    if (shapes && (st = rewrite_io(c, o, s1, s2))) {
        if (st == NB_ERR_MEM) nb__fail(st, "nb_onnx_save: out of memory");
        goto done;
    }
done:
    c->rank = NULL;
    c->et = NULL;
    free(rank);
    free(et);
    free(s1);
    free(s2);
    if (st) nb__onnx_conv_free(c);
    return st;
}
