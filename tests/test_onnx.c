/* test_onnx.c - the ONNX reader on models built here with protobuf-c: a residual
 * graph run against values computed by hand, gradients through an imported graph
 * against finite differences, and bad input (truncated protobuf, wrong wire type,
 * lengths past the end, raw_data shorter than the shape, 10^9-element shapes, a
 * cycle, a missing input, duplicate names, external data outside the model's
 * folder, unsupported ops and attributes), each a clear message and no crash; the
 * export of nabla's own modules: the text models written and read back against their
 * own outputs (at another length than the one written), a module kind without an ONNX
 * form refused by name. tests/onnx_export.sh checks the exports against onnxruntime. */
#include "check.h"
#include "nabla.h"
#include "nn/module.h"
#include "onnx.pb-c.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* every protobuf-c struct of a test model comes from this pool (nothing to free) */
static _Alignas(16) char pool[1 << 17];
static size_t pool_used;

static void *palloc(size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (pool_used + n > sizeof pool) abort();
    void *p = pool + pool_used;
    pool_used += n;
    memset(p, 0, n);
    return p;
}

static char *pstr(const char *s) { return strcpy(palloc(strlen(s) + 1), s); }

static Onnx__NodeProto *node(const char *op, const char *name, const char *in0, const char *in1, const char *in2, const char *out)
{
    Onnx__NodeProto *n = palloc(sizeof *n);
    onnx__node_proto__init(n);
    n->op_type = pstr(op);
    n->name = pstr(name);
    const char *ins[3] = {in0, in1, in2};
    n->input = palloc(3 * sizeof(char *));
    for (int i = 0; i < 3 && ins[i]; i++) n->input[n->n_input++] = pstr(ins[i]);
    n->output = palloc(sizeof(char *));
    n->output[0] = pstr(out);
    n->n_output = 1;
    return n;
}

static void attr_ints(Onnx__NodeProto *n, const char *name, int count, const int64_t *v)
{
    Onnx__AttributeProto *a = palloc(sizeof *a);
    onnx__attribute_proto__init(a);
    a->name = pstr(name);
    a->has_type = 1;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    a->ints = palloc((size_t)count * 8);
    memcpy(a->ints, v, (size_t)count * 8);
    a->n_ints = (size_t)count;
    Onnx__AttributeProto **all = palloc((n->n_attribute + 1) * sizeof *all);
    if (n->n_attribute) memcpy(all, n->attribute, n->n_attribute * sizeof *all);
    all[n->n_attribute++] = a;
    n->attribute = all;
}

static Onnx__TensorProto *tensor(const char *name, int ndim, const int64_t *dims, const float *data, int64_t n)
{
    Onnx__TensorProto *t = palloc(sizeof *t);
    onnx__tensor_proto__init(t);
    t->name = pstr(name);
    t->has_data_type = 1;
    t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    t->dims = palloc((size_t)(ndim ? ndim : 1) * 8);
    memcpy(t->dims, dims, (size_t)ndim * 8);
    t->n_dims = (size_t)ndim;
    if (data) {
        t->float_data = palloc((size_t)(n ? n : 1) * 4);
        memcpy(t->float_data, data, (size_t)n * 4);
        t->n_float_data = (size_t)n;
    }
    return t;
}

static Onnx__ValueInfoProto *value(const char *name)
{
    Onnx__ValueInfoProto *v = palloc(sizeof *v);
    onnx__value_info_proto__init(v);
    v->name = pstr(name);
    return v;
}

typedef struct {
    Onnx__ModelProto m;
    Onnx__GraphProto g;
    Onnx__OperatorSetIdProto op;
    Onnx__OperatorSetIdProto *ops[1];
} model;

static void model_init(model *md)
{
    pool_used = 0;
    onnx__model_proto__init(&md->m);
    onnx__graph_proto__init(&md->g);
    onnx__operator_set_id_proto__init(&md->op);
    md->op.has_version = 1;
    md->op.version = 13;
    md->op.domain = pstr("");
    md->ops[0] = &md->op;
    md->m.opset_import = md->ops;
    md->m.n_opset_import = 1;
    md->m.has_ir_version = 1;
    md->m.ir_version = 8;
    md->m.graph = &md->g;
    md->g.name = pstr("g");
    md->g.node = palloc(16 * sizeof(void *));
    md->g.input = palloc(8 * sizeof(void *));
    md->g.output = palloc(8 * sizeof(void *));
    md->g.initializer = palloc(8 * sizeof(void *));
}

static unsigned char *pack(model *md, size_t *n)
{
    *n = onnx__model_proto__get_packed_size(&md->m);
    unsigned char *buf = malloc(*n ? *n : 1);
    onnx__model_proto__pack(&md->m, buf);
    return buf;
}

/* load the model's bytes; returns the module (NULL: the message is in nb_last_error) */
static nb_module *load(nb_ctx *ctx, model *md, const char *dir)
{
    size_t n;
    unsigned char *buf = pack(md, &n);
    nb_module *m = nb_onnx_load_buffer(ctx, buf, n, dir, NULL);
    free(buf);
    return m;
}

static void expect_error(nb_ctx *ctx, model *md, const char *dir, const char *name, const char *want)
{
    nb_module *m = load(ctx, md, dir);
    const char *e = nb_last_error();
    CHECK(name, !m && strstr(e, want), "want an error with '%s', got %s: %s", want, m ? "a model" : "an error", e);
    nb_module_free(m);
}

/* y = Relu(Conv(x, W, B)) + x, a residual block; z = Sigmoid(y) a second output */
static void build_residual(model *md)
{
    model_init(md);
    static const float w[2 * 2 * 3 * 3] = {0.1f, -0.2f, 0.3f, 0.0f, 0.5f, -0.1f, 0.2f, 0.2f, -0.3f, /**/ 0.4f, 0.1f, 0.0f, -0.5f,
                                           0.3f, 0.2f, 0.1f, -0.1f, 0.2f, /**/ -0.2f, 0.1f, 0.1f, 0.3f, 0.0f, 0.2f, -0.4f, 0.1f,
                                           0.3f, /**/ 0.2f, 0.2f, -0.1f, 0.1f, 0.4f, 0.0f, 0.3f, -0.2f, 0.1f};
    static const float b[2] = {0.05f, -0.1f};
    md->g.initializer[md->g.n_initializer++] = tensor("conv.weight", 4, (int64_t[]){2, 2, 3, 3}, w, 36);
    md->g.initializer[md->g.n_initializer++] = tensor("conv.bias", 1, (int64_t[]){2}, b, 2);
    Onnx__NodeProto *c = node("Conv", "conv", "x", "conv.weight", "conv.bias", "c");
    attr_ints(c, "pads", 4, (int64_t[]){1, 1, 1, 1});
    md->g.node[md->g.n_node++] = c;
    md->g.node[md->g.n_node++] = node("Relu", "relu", "c", NULL, NULL, "r");
    md->g.node[md->g.n_node++] = node("Add", "add", "r", "x", NULL, "y");
    md->g.node[md->g.n_node++] = node("Sigmoid", "sig", "y", NULL, NULL, "z");
    md->g.input[md->g.n_input++] = value("x");
    md->g.output[md->g.n_output++] = value("y");
    md->g.output[md->g.n_output++] = value("z");
}

static void test_residual(nb_ctx *ctx)
{
    model md;
    build_residual(&md);
    nb_module *m = load(ctx, &md, NULL);
    CHECK("residual graph loads", m != NULL, "%s", nb_last_error());
    if (!m) return;
    CHECK("inputs and outputs", nb_onnx_num_inputs(m) == 1 && nb_onnx_num_outputs(m) == 2 && !strcmp(nb_onnx_output_name(m, 1), "z"),
          "%d inputs, %d outputs", nb_onnx_num_inputs(m), nb_onnx_num_outputs(m));
    int np;
    nb_tensor **params = nb_module_parameters(m, &np);
    int n_state;
    const nb_named_tensor *st = nb_module_state(m, &n_state);
    CHECK("Conv initializers are parameters under their ONNX names",
          np == 2 && n_state == 2 && !strcmp(st[0].name, "conv.weight") && !strcmp(st[1].name, "conv.bias"), "%d params, %d state",
          np, n_state);
    (void)params;
    float xv[2 * 4 * 4];
    for (int i = 0; i < 32; i++) xv[i] = (float)((i * 7) % 11) / 10.0f - 0.5f;
    nb_tensor *x = nb_tensor_from(ctx, NB_F32, 4, (int64_t[]){1, 2, 4, 4}, xv);
    nb_module_train(m, 0);
    nb_tensor *outs[2];
    int types[2];
    nb_status rs = nb_onnx_run(m, &x, 1, outs, types, 2);
    CHECK("residual graph runs", rs == NB_OK, "%s", nb_last_error());
    if (!rs) {
        /* by hand: conv with zero padding 1, bias, relu, + x */
        double worst = 0;
        const float *w = nb_tensor_data(st[0].tensor), *b = nb_tensor_data(st[1].tensor);
        for (int oc = 0; oc < 2; oc++)
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 4; j++) {
                    double acc = b[oc];
                    for (int ic = 0; ic < 2; ic++)
                        for (int ki = 0; ki < 3; ki++)
                            for (int kj = 0; kj < 3; kj++) {
                                int y = i + ki - 1, xx = j + kj - 1;
                                if (y < 0 || y >= 4 || xx < 0 || xx >= 4) continue;
                                acc += (double)w[((oc * 2 + ic) * 3 + ki) * 3 + kj] * xv[(ic * 4 + y) * 4 + xx];
                            }
                    double want = (acc > 0 ? acc : 0) + xv[(oc * 4 + i) * 4 + j];
                    double got = nb_tensor_data(outs[0])[(oc * 4 + i) * 4 + j];
                    double got_z = nb_tensor_data(outs[1])[(oc * 4 + i) * 4 + j];
                    worst = fmax(worst, fabs(got - want));
                    worst = fmax(worst, fabs(got_z - 1 / (1 + exp(-want))));
                }
        CHECK("residual graph equals the hand computation", worst < 1e-5 && types[0] == 1 && types[1] == 1,
              "largest error %g, output types %d %d", worst, types[0], types[1]);
    }
    /* gradient of sum(z) with respect to conv.weight against central differences */
    nb_ctx_reset(ctx);
    nb_module_train(m, 1);
    nb_tensor *z = NULL;
    if (!nb_onnx_run(m, &x, 1, outs, NULL, 2)) z = outs[1];
    nb_tensor *loss = z ? nb_sum(z) : NULL;
    CHECK("backward through the imported graph", loss && nb_backward(loss) == NB_OK, "%s", nb_last_error());
    float *g = nb_tensor_grad(st[0].tensor);
    if (g) {
        double worst = 0;
        float *w = nb_tensor_data(st[0].tensor);
        for (int k = 0; k < 36; k += 5) {
            float keep = w[k];
            double f[2];
            for (int s = 0; s < 2; s++) {
                w[k] = keep + (s ? -1e-3f : 1e-3f);
                nb_ctx_reset(ctx);
                nb_set_grad_enabled(ctx, 0);
                nb_onnx_run(m, &x, 1, outs, NULL, 2);
                f[s] = nb_tensor_item(nb_sum(outs[1]));
                nb_set_grad_enabled(ctx, 1);
            }
            w[k] = keep;
            double fd = (f[0] - f[1]) / 2e-3;
            worst = fmax(worst, fabs(fd - g[k]) / fmax(1.0, fabs(fd)));
        }
        CHECK("Conv weight gradient matches finite differences", worst < 2e-2, "largest relative error %g", worst);
    }
    nb_tensor_free(x);
    nb_module_free(m);
    nb_ctx_reset(ctx);
}

static void test_bad_graphs(nb_ctx *ctx)
{
    model md;

    build_residual(&md);
    md.g.node[0]->op_type = pstr("FooBar");
    expect_error(ctx, &md, NULL, "unsupported op names node, op and opset", "node 'conv' (FooBar, opset 13): op FooBar not supported");

    build_residual(&md);
    attr_ints(md.g.node[1], "bogus", 1, (int64_t[]){1});
    expect_error(ctx, &md, NULL, "unsupported attribute", "node 'relu' (Relu, opset 13): attribute 'bogus' not supported");

    build_residual(&md);
    md.g.node[1]->op_type = pstr("Squeeze");
    attr_ints(md.g.node[1], "axes", 1, (int64_t[]){0});
    expect_error(ctx, &md, NULL, "an attribute that became an input at this opset",
                 "node 'relu' (Squeeze, opset 13): attribute 'axes' not supported: since opset 13 it is input 1");

    build_residual(&md);
    md.g.node[2]->input[1] = pstr("nowhere");
    expect_error(ctx, &md, NULL, "missing input", "input 'nowhere' is missing");

    build_residual(&md);
    md.g.node[1]->input[0] = pstr("y"); /* relu reads add's output, add reads relu's: a cycle */
    expect_error(ctx, &md, NULL, "cycle", "cycle");

    build_residual(&md);
    md.g.node[3]->output[0] = pstr("r");
    expect_error(ctx, &md, NULL, "duplicate output name", "duplicate name 'r'");

    build_residual(&md);
    md.g.initializer[1]->name = pstr("conv.weight");
    expect_error(ctx, &md, NULL, "duplicate initializer", "duplicate name 'conv.weight'");

    build_residual(&md);
    md.g.output[0]->name = pstr("nothing");
    expect_error(ctx, &md, NULL, "graph output nothing computes", "graph output 'nothing' is missing");

    build_residual(&md);
    md.op.version = 99;
    expect_error(ctx, &md, NULL, "unsupported opset", "opset 99 is not supported");

    /* tensors */
    build_residual(&md);
    md.g.initializer[1]->n_float_data = 0;
    md.g.initializer[1]->float_data = NULL;
    md.g.initializer[1]->has_raw_data = 1;
    md.g.initializer[1]->raw_data.len = 4;
    md.g.initializer[1]->raw_data.data = palloc(4);
    expect_error(ctx, &md, NULL, "raw_data shorter than the shape", "raw_data holds 4 bytes, its shape and type (float) need 8");

    build_residual(&md);
    md.g.initializer[1] = tensor("conv.bias", 3, (int64_t[]){1000, 1000, 1000}, NULL, 0);
    expect_error(ctx, &md, NULL, "10^9-element shape without data", "its shape needs 1000000000");

    build_residual(&md);
    md.g.initializer[1] = tensor("conv.bias", 4, (int64_t[]){100000, 100000, 100000, 100000}, NULL, 0);
    expect_error(ctx, &md, NULL, "10^20-element shape", "more than 1073741824 elements");

    /* external data */
    char dir[] = "/tmp/nb_onnx_testXXXXXX";
    if (!mkdtemp(dir)) return;
    char sub[64], outside[64];
    snprintf(sub, sizeof sub, "%s/model", dir);
    snprintf(outside, sizeof outside, "%s/secret.bin", dir);
    mkdir(sub, 0700);
    FILE *f = fopen(outside, "wb");
    float two[2] = {1, 2};
    if (f) {
        fwrite(two, 4, 2, f);
        fclose(f);
    }
    const char *locs[3] = {"../secret.bin", "/etc/passwd", "link.bin"};
    char link[96];
    snprintf(link, sizeof link, "%s/link.bin", sub);
    if (symlink(outside, link)) (void)0;
    const char *want[3] = {"leaves the model's folder", "is absolute", "leaves the model's folder"};
    const char *names[3] = {"external data with ..", "external data at an absolute path", "external data through a symlink out"};
    for (int k = 0; k < 3; k++) {
        build_residual(&md);
        Onnx__TensorProto *t = md.g.initializer[1];
        t->n_float_data = 0;
        t->float_data = NULL;
        t->has_data_location = 1;
        t->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
        Onnx__StringStringEntryProto *e = palloc(sizeof *e);
        onnx__string_string_entry_proto__init(e);
        e->key = pstr("location");
        e->value = pstr(locs[k]);
        t->external_data = palloc(sizeof(void *));
        t->external_data[0] = e;
        t->n_external_data = 1;
        expect_error(ctx, &md, sub, names[k], want[k]);
        if (k == 0) { /* the same data inside the folder loads */
            char inside[96];
            snprintf(inside, sizeof inside, "%s/bias.bin", sub);
            f = fopen(inside, "wb");
            if (f) {
                fwrite(two, 4, 2, f);
                fclose(f);
            }
            e->value = pstr("bias.bin");
            nb_module *m = load(ctx, &md, sub);
            int n;
            const nb_named_tensor *st = m ? nb_module_state(m, &n) : NULL;
            CHECK("external data inside the folder loads", st && nb_tensor_data(st[1].tensor)[1] == 2.0f, "%s", nb_last_error());
            nb_module_free(m);
            remove(inside);
        }
    }
    remove(link);
    remove(outside);
    rmdir(sub);
    rmdir(dir);
}

/* a graph whose values ask for 10^13 elements fails at run time, naming the node */
static void test_huge_values(nb_ctx *ctx)
{
    model md;
    model_init(&md);
    md.g.node[md.g.n_node++] = node("ConstantOfShape", "fill", "s", NULL, NULL, "z");
    md.g.input[md.g.n_input++] = value("s");
    md.g.output[md.g.n_output++] = value("z");
    nb_module *m = load(ctx, &md, NULL);
    CHECK("ConstantOfShape graph loads", m != NULL, "%s", nb_last_error());
    if (!m) return;
    int64_t dims[3] = {100000, 100000, 1000};
    nb_tensor *s = nb_tensor_from(ctx, NB_I64, 1, (int64_t[]){3}, dims), *out;
    nb_status st = nb_onnx_run(m, &s, 1, &out, NULL, 1);
    CHECK("a 10^13-element value is refused, naming the node",
          st != NB_OK && strstr(nb_last_error(), "node 'fill' (ConstantOfShape, opset 13)") && strstr(nb_last_error(), "more than"), "%s",
          nb_last_error());
    nb_tensor_free(s);
    nb_module_free(m);
    nb_ctx_reset(ctx);
}

/* an op given a type its kernel does not read fails, naming the input (found by fuzzing) */
static void test_input_types(nb_ctx *ctx)
{
    model md;
    model_init(&md);
    md.g.node[md.g.n_node++] = node("Not", "not", "x", NULL, NULL, "z");
    md.g.input[md.g.n_input++] = value("x");
    md.g.output[md.g.n_output++] = value("z");
    nb_module *m = load(ctx, &md, NULL);
    nb_tensor *x = nb_tensor_new(ctx, NB_F32, 1, (int64_t[]){6}), *out;
    nb_status st = m ? nb_onnx_run(m, &x, 1, &out, NULL, 1) : NB_ERR_ARG;
    CHECK("Not on floats is refused, naming the input", st != NB_OK && strstr(nb_last_error(), "input 0 ('x') has type float"), "%s",
          nb_last_error());
    nb_tensor_free(x);
    nb_module_free(m);
    nb_ctx_reset(ctx);
}

static void test_bad_bytes(nb_ctx *ctx)
{
    model md;
    build_residual(&md);
    size_t n;
    unsigned char *buf = pack(&md, &n);
    nb_module *m = nb_onnx_load_buffer(ctx, buf, n - 7, NULL, NULL);
    CHECK("truncated protobuf", !m && strstr(nb_last_error(), "truncated or malformed") && strstr(nb_last_error(), "ModelProto.graph"),
          "%s", nb_last_error());
    nb_module_free(m);
    /* field 7 (graph) with wire type 0 (varint) */
    unsigned char wrong[] = {0x08, 0x08, 0x38, 0x01};
    m = nb_onnx_load_buffer(ctx, wrong, sizeof wrong, NULL, NULL);
    CHECK("wrong wire type names the field", !m && strstr(nb_last_error(), "ModelProto.graph") && strstr(nb_last_error(), "wire type"),
          "%s", nb_last_error());
    nb_module_free(m);
    /* graph: length 100 with 2 bytes left */
    unsigned char past[] = {0x08, 0x08, 0x3a, 0x64, 0x0a, 0x00};
    m = nb_onnx_load_buffer(ctx, past, sizeof past, NULL, NULL);
    CHECK("length past the end names the field", !m && strstr(nb_last_error(), "length 100 runs past the end"), "%s", nb_last_error());
    nb_module_free(m);
 /* a field number 0 in a 2-byte key (0x85 0x00: field 0, 32-bit), which protobuf's own parser
     * refuses and protobuf-c let through (the fuzzer's find: its re-export did not load) */
    unsigned char *zero = malloc(n + 6);
    memcpy(zero, buf, n);
    memcpy(zero + n, (unsigned char[]){0x85, 0x00, 1, 2, 3, 4}, 6);
    m = nb_onnx_load_buffer(ctx, zero, n + 6, NULL, NULL);
    CHECK("a field number 0 is refused naming it", !m && strstr(nb_last_error(), "field number 0"), "%s", nb_last_error());
    nb_module_free(m);
    free(zero);
    m = nb_onnx_load_buffer(ctx, "", 0, NULL, NULL);
    CHECK("empty file", !m && strstr(nb_last_error(), "no graph"), "%s", nb_last_error());
    nb_module_free(m);
    m = nb_onnx_load(ctx, "/nonexistent/model.onnx", NULL);
    CHECK("missing file", !m && strstr(nb_last_error(), "/nonexistent/model.onnx"), "%s", nb_last_error());
    nb_module_free(m);
    free(buf);
}

/* tools/goldens/gen_onnx_finetune.py: a small CNN exported by torch.onnx.export, trained
50 SGD steps by PyTorch; nabla trains the same file and must give the same losses */
static void test_finetune(nb_ctx *ctx)
{
    nb_safetensors *f = nb_safetensors_open("tests/goldens/onnx_finetune.safetensors");
    nb_module *m = nb_onnx_load(ctx, "tests/goldens/onnx_finetune.onnx", NULL);
    CHECK("fine-tune fixture loads", f && m, "%s", nb_last_error());
    if (!f || !m) {
        nb_safetensors_close(f);
        nb_module_free(m);
        return;
    }
    nb_tensor *x = nb_safetensors_get(f, ctx, "x"), *y = nb_safetensors_get(f, ctx, "y"), *losses = nb_safetensors_get(f, ctx, "losses");
    int steps = atoi(nb_safetensors_metadata(f, "steps")), B = atoi(nb_safetensors_metadata(f, "batch")),
        batches = atoi(nb_safetensors_metadata(f, "batches"));
    int np;
    nb_tensor **params = nb_module_parameters(m, &np);
    CHECK("the exported Conv and Gemm weights are the parameters", np == 6, "%d parameters", np);
    nb_optim *opt = nb_sgd_new(params, np, &(nb_sgd_opts){.lr = 0.1, .momentum = 0.9});
    nb_module_train(m, 1);
    double worst = 0;
    int bad_step = -1;
    for (int s = 0; s < steps && opt; s++) {
        nb_ctx_reset(ctx);
        nb_optim_zero_grad(opt);
        int k = s % batches;
        nb_tensor *xb = nb_narrow(x, 0, (int64_t)k * B, B), *yb = nb_narrow(y, 0, (int64_t)k * B, B);
        nb_tensor *loss = nb_cross_entropy(nb_module_forward(m, xb), yb, NULL);
        if (!loss || nb_backward(loss) || nb_optim_step(opt)) {
            bad_step = s;
            break;
        }
        double want = nb_tensor_data(losses)[s], err = fabs(nb_tensor_item(loss) - want) / fabs(want);
        worst = fmax(worst, err);
    }
    CHECK("50 SGD steps of an imported model match PyTorch's losses", bad_step < 0 && worst < 1e-4,
          "step %d failed (%s); largest relative loss error %.3g", bad_step, nb_last_error(), worst);
    int n;
    const nb_named_tensor *st = nb_module_state(m, &n);
    double werr = 0;
    for (int i = 0; i < n; i++) {
        char key[128];
        snprintf(key, sizeof key, "final.%s", st[i].name);
        nb_tensor *w = nb_safetensors_get(f, ctx, key);
        if (!w) {
            werr = INFINITY;
            continue;
        }
        for (int64_t j = 0; j < nb_tensor_numel(w); j++)
            werr = fmax(werr, fabs(nb_tensor_data(st[i].tensor)[j] - nb_tensor_data(w)[j]));
        nb_tensor_free(w);
    }
    CHECK("the trained weights, under the ONNX names, match PyTorch's state_dict", werr < 1e-4, "largest error %.3g", werr);
    /* export -> import: the same outputs; with a resized head too */
    char path[] = "/tmp/nb_onnx_saveXXXXXX";
    int fd = mkstemp(path);
    if (fd >= 0) close(fd);
    nb_module_train(m, 0);
    nb_ctx_reset(ctx);
    nb_tensor *xb = nb_narrow(x, 0, 0, B), *y0 = nb_module_forward(m, xb);
    nb_status ss = nb_onnx_save(m, path, NULL);
    nb_module *m2 = ss ? NULL : nb_onnx_load(ctx, path, NULL);
    nb_tensor *y1 = m2 ? nb_module_forward(m2, xb) : NULL;
    double rerr = y0 && y1 ? 0 : INFINITY;
    for (int64_t j = 0; y0 && y1 && j < nb_tensor_numel(y0); j++) rerr = fmax(rerr, fabs(nb_tensor_data(y0)[j] - nb_tensor_data(y1)[j]));
    CHECK("a fine-tuned imported model saved and loaded again gives the same outputs", rerr == 0, "%s; largest difference %g", nb_last_error(), rerr);
    nb_status rs = m2 ? nb_onnx_set_num_classes(m2, 5) : NB_ERR_ARG;
    nb_module *m3 = !rs && !nb_onnx_save(m2, path, NULL) ? nb_onnx_load(ctx, path, NULL) : NULL;
    nb_tensor *y3 = m3 ? nb_module_forward(m3, xb) : NULL;
    CHECK("a resized head is saved", y3 && nb_tensor_dim(y3, 1) == 5 && nb_onnx_num_classes(m3) == 5, "%s", nb_last_error());
    remove(path);
    nb_module_free(m2);
    nb_module_free(m3);
    nb_optim_free(opt);
    nb_tensor_free(x);
    nb_tensor_free(y);
    nb_tensor_free(losses);
    nb_safetensors_close(f);
    nb_module_free(m);
    nb_ctx_reset(ctx);
}

/* largest |a - b| / largest |b| */
static double rel_err(nb_tensor *a, nb_tensor *b)
{
    if (!a || !b || nb_tensor_numel(a) != nb_tensor_numel(b)) return INFINITY;
    double e = 0, s = 0;
    for (int64_t i = 0; i < nb_tensor_numel(a); i++) {
        e = fmax(e, fabs(nb_tensor_data(a)[i] - nb_tensor_data(b)[i]));
        s = fmax(s, fabs(nb_tensor_data(b)[i]));
    }
    return s > 0 ? e / s : e;
}

/* largest |a - b| / largest |b| over n floats */
static double rel_err_f(const float *a, const float *b, int64_t n)
{
    if (!a || !b) return INFINITY;
    double e = 0, s = 0;
    for (int64_t i = 0; i < n; i++) {
        e = fmax(e, fabs(a[i] - b[i]));
        s = fmax(s, fabs(b[i]));
    }
    return s > 0 ? e / s : e;
}

/* ConvTranspose (1-D, 2-D, 3-D) and 3-D Conv, whose backward is a composition of
 * differentiable ops: output and gradients of sum(y * r) against PyTorch's
 * (tools/goldens/gen_onnx_backward.py). */
static void test_backward_goldens(nb_ctx *ctx)
{
    nb_safetensors *f = nb_safetensors_open("tests/goldens/onnx_backward.safetensors");
    CHECK("backward goldens open", f, "%s", nb_last_error());
    if (!f) return;
    static const char *const cases[] = {"convt2d", "convt2d_dil", "convt1d", "conv3d", "convt3d"};
    for (int c = 0; c < 5; c++) {
        char path[256], key[128], name[160];
        snprintf(path, sizeof path, "tests/goldens/onnx_backward_%s.onnx", cases[c]);
        nb_ctx_reset(ctx);
        nb_module *m = nb_onnx_load(ctx, path, NULL);
        snprintf(key, sizeof key, "%s.x", cases[c]);
        nb_tensor *x = nb_safetensors_get(f, ctx, key);
        snprintf(key, sizeof key, "%s.r", cases[c]);
        nb_tensor *r = nb_safetensors_get(f, ctx, key);
        snprintf(key, sizeof key, "%s.y", cases[c]);
        nb_tensor *yw = nb_safetensors_get(f, ctx, key);
        snprintf(key, sizeof key, "%s.grad.x", cases[c]);
        nb_tensor *gx = nb_safetensors_get(f, ctx, key);
        nb_tensor *y = NULL;
        if (m && x && r) {
            nb_module_train(m, 1);
            nb_tensor_set_requires_grad(x, 1);
            y = nb_module_forward(m, x);
            nb_tensor *loss = y ? nb_sum(nb_mul(y, r)) : NULL;
            if (!loss || nb_backward(loss)) y = NULL;
        }
        double ey = y && yw ? rel_err_f(nb_tensor_data(y), nb_tensor_data(yw), nb_tensor_numel(yw)) : INFINITY;
        double ex = y && gx ? rel_err_f(nb_tensor_grad(x), nb_tensor_data(gx), nb_tensor_numel(gx)) : INFINITY;
        double ep = 0;
        int n = 0;
        const nb_named_tensor *st = m ? nb_module_state(m, &n) : NULL;
        for (int i = 0; i < n; i++) {
            snprintf(key, sizeof key, "%s.grad.%s", cases[c], st[i].name);
            nb_tensor *g = nb_safetensors_get(f, ctx, key);
            ep = fmax(ep, g && nb_tensor_grad(st[i].tensor) ? rel_err_f(nb_tensor_grad(st[i].tensor), nb_tensor_data(g), nb_tensor_numel(g))
                                                        : INFINITY);
            nb_tensor_free(g);
        }
        snprintf(name, sizeof name, "%s: output and the gradients of input, weight and bias match PyTorch's", cases[c]);
        CHECK(name, m && n >= 1 && ey < 1e-5 && ex < 1e-5 && ep < 1e-5, "%s; output %.3g, input grad %.3g, parameter grads %.3g",
              nb_last_error(), ey, ex, ep);
        nb_tensor_free(x);
        nb_tensor_free(r);
        nb_tensor_free(yw);
        nb_tensor_free(gx);
        nb_module_free(m);
    }
    nb_safetensors_close(f);
    nb_ctx_reset(ctx);
}

/* RNN, GRU and LSTM: Y, Y_h and the gradients of sum(Y * r) + sum(Y_h * rh) against the
 * ONNX equations in PyTorch (tools/goldens/gen_onnx_rnn_backward.py); the direct loop
 * (no gradient recorded) gives the same outputs. */
static void test_rnn_goldens(nb_ctx *ctx)
{
    nb_safetensors *f = nb_safetensors_open("tests/goldens/onnx_rnn_backward.safetensors");
    CHECK("recurrent goldens open", f, "%s", nb_last_error());
    if (!f) return;
    /* the last three: shorter sequence_lens (both directions) and clip, when training */
    static const char *const cases[] = {"rnn", "gru", "gru_lbr", "lstm", "rnn_lens_clip", "gru_lens_clip", "lstm_lens_clip"};
    for (int c = 0; c < 7; c++) {
        char path[256], key[128], name[200];
        int peep = strstr(cases[c], "lstm") != NULL;
        snprintf(path, sizeof path, "tests/goldens/onnx_rnn_%s.onnx", cases[c]);
        nb_ctx_reset(ctx);
        nb_module *m = nb_onnx_load(ctx, path, NULL);
        nb_tensor *t[5];
        static const char *const keys[5] = {"X", "r", "rh", "Y", "Y_h"};
        for (int k = 0; k < 5; k++) {
            snprintf(key, sizeof key, "%s.%s", cases[c], keys[k]);
            t[k] = nb_safetensors_get(f, ctx, key);
        }
        nb_tensor *outs[2] = {0}, *direct[2] = {0};
        int ok = m && t[0] && t[1] && t[2] && t[3] && t[4];
        if (ok) {
            nb_set_grad_enabled(ctx, 0);
            ok = !nb_onnx_run(m, &t[0], 1, direct, NULL, 2);
            nb_set_grad_enabled(ctx, 1);
            nb_tensor_set_requires_grad(t[0], 1);
            ok = ok && !nb_onnx_run(m, &t[0], 1, outs, NULL, 2);
            nb_tensor *loss = ok ? nb_add(nb_sum(nb_mul(outs[0], t[1])), nb_sum(nb_mul(outs[1], t[2]))) : NULL;
            ok = loss && !nb_backward(loss);
        }
        double ey = ok ? fmax(rel_err(outs[0], t[3]), rel_err(outs[1], t[4])) : INFINITY;
        double ed = ok ? fmax(rel_err(direct[0], t[3]), rel_err(direct[1], t[4])) : INFINITY;
        snprintf(key, sizeof key, "%s.grad.X", cases[c]);
        nb_tensor *gx = nb_safetensors_get(f, ctx, key);
        double eg = ok && gx ? rel_err_f(nb_tensor_grad(t[0]), nb_tensor_data(gx), nb_tensor_numel(gx)) : INFINITY;
        nb_tensor_free(gx);
        int n = 0, found = 0;
        const nb_named_tensor *st = m ? nb_module_state(m, &n) : NULL;
        for (int i = 0; i < n; i++) {
            snprintf(key, sizeof key, "%s.grad.%s", cases[c], st[i].name);
            nb_tensor *g = nb_safetensors_get(f, ctx, key);
            nb_clear_error();
            if (!g) continue; /* initial_h: a buffer */
            found++;
            eg = fmax(eg, ok && nb_tensor_grad(st[i].tensor) ? rel_err_f(nb_tensor_grad(st[i].tensor), nb_tensor_data(g), nb_tensor_numel(g)) : INFINITY);
            nb_tensor_free(g);
        }
        snprintf(name, sizeof name, "%s: Y, Y_h and the gradients of X, W, R, B%s match the ONNX equations in PyTorch", cases[c],
                 peep ? ", P" : "");
        CHECK(name, ok && found == (peep ? 4 : 3) && ey < 1e-5 && ed < 1e-5 && eg < 1e-5,
              "%s; outputs %.3g (direct loop %.3g), gradients %.3g, %d parameters", nb_last_error(), ey, ed, eg, found);
        for (int k = 0; k < 5; k++) nb_tensor_free(t[k]);
        nb_module_free(m);
    }
    nb_safetensors_close(f);
    nb_ctx_reset(ctx);
}

static nb_tensor *mystery_fwd(nb_module *m, nb_tensor *x) { return x; }
static const nb_module_vtable mystery_vt = {.kind = "Mystery", .forward = mystery_fwd};

static void test_export(nb_ctx *ctx)
{
    char path[] = "/tmp/nb_onnx_exportXXXXXX";
    int fd = mkstemp(path);
    if (fd >= 0) close(fd);
    static const char *const archs[] = {"BertModel", "BertForSequenceClassification", "GPT2Model", "GPT2LMHeadModel",
                                        "BertForMaskedLM"};
    for (int a = 0; a < 5; a++)
        for (int opset = 13; opset <= 17; opset += 4) {
            nb_text_config c = {.arch = (nb_text_arch)a, .vocab_size = 40, .hidden_size = 16, .num_layers = 2,
                                .num_heads = 2, .intermediate_size = 24, .max_positions = 12, .type_vocab_size = 2,
                                .pad_token_id = a == 2 || a == 3 ? -1 : 0, .num_labels = 3, .layer_norm_eps = 1e-5f,
                                .activation = a == 2 || a == 3 ? NB_GELU_TANH : NB_GELU_ERF, .initializer_range = 0.5f};
            nb_ctx_reset(ctx);
            nb_module *m = nb_text_model_new(ctx, &c);
            nb_status st = m ? nb_onnx_save(m, path, &(nb_onnx_save_opts){.opset = opset, .input_ids = 1}) : NB_ERR_ARG;
            nb_module *g = st ? NULL : nb_onnx_load(ctx, path, NULL);
            nb_tensor *ids = nb_tensor_new(ctx, NB_I64, 2, (int64_t[]){2, 5});
            for (int i = 0; ids && i < 10; i++) nb_tensor_data_i64(ids)[i] = (i * 7 + 3) % 40;
            nb_tensor *want = NULL, *got = NULL;
            if (g) {
                nb_module_train(m, 0);
                nb_set_grad_enabled(ctx, 0);
                want = nb_module_forward(m, ids);
                got = nb_module_forward(g, ids);
                nb_set_grad_enabled(ctx, 1);
            }
            char name[160];
            snprintf(name, sizeof name, "%s at opset %d: exported, read back, run at another length", archs[a], opset);
            double err = rel_err(got, want);
            CHECK(name, g && got && want && err < 1e-5, "%s; largest error %.3g", nb_last_error(), err);
            /* the imported file written again at the other opset (17 -> 13 decomposes
             * LayerNormalization) with the batch fixed to 2: read back, the same outputs, and
             * a batch of 3 refused */
            char path2[] = "/tmp/nb_onnx_convXXXXXX";
            int fd2 = mkstemp(path2);
            if (fd2 >= 0) close(fd2);
            nb_onnx_save_opts co = {.opset = opset == 17 ? 13 : 17, .set_batch = 1, .batch = 2};
            nb_module *g2 = g && !nb_onnx_save(g, path2, &co) ? nb_onnx_load(ctx, path2, NULL) : NULL;
            nb_tensor *got2 = NULL, *ids3 = nb_tensor_new(ctx, NB_I64, 2, (int64_t[]){3, 5});
            for (int i = 0; ids3 && i < 15; i++) nb_tensor_data_i64(ids3)[i] = i % 40;
            int refused = 0;
            if (g2) {
                nb_set_grad_enabled(ctx, 0);
                got2 = nb_module_forward(g2, ids);
                refused = nb_module_forward(g2, ids3) == NULL && strstr(nb_last_error(), "must have shape [2, sequence]") != NULL;
                nb_set_grad_enabled(ctx, 1);
            }
            double err2 = rel_err(got2, want);
            snprintf(name, sizeof name, "%s at opset %d, imported, written at opset %d with batch 2: the same outputs, batch 3 refused",
                     archs[a], opset, co.opset);
            CHECK(name, g2 && got2 && err2 < 1e-5 && refused, "%s; largest error %.3g", nb_last_error(), err2);
            remove(path2);
            nb_tensor_free(ids3);
            nb_module_free(g2);
            nb_tensor_free(ids);
            nb_module_free(g);
            nb_module_free(m);
        }
    { /* an exported cnn read back: its Conv + BatchNormalization + Relu run fused in eval
       * mode without a gradient, one by one with one; the same outputs */
        nb_ctx_reset(ctx);
        nb_module *cnn = nb_model_new(ctx, "cnn", NULL);
        int n;
        const nb_named_tensor *st = cnn ? nb_module_state(cnn, &n) : NULL;
        for (int i = 0; st && i < n; i++) /* non-trivial statistics and affine parameters */
            if (nb_tensor_dtype(st[i].tensor) == NB_F32 && nb_tensor_ndim(st[i].tensor) == 1)
                for (int64_t j = 0; j < nb_tensor_numel(st[i].tensor); j++)
                    nb_tensor_data(st[i].tensor)[j] = 0.5f + (float)((j * 7 + i) % 11) / 10.0f;
        nb_module *g = cnn && !nb_onnx_save(cnn, path, NULL) ? nb_onnx_load(ctx, path, NULL) : NULL;
        nb_tensor *x = nb_tensor_new(ctx, NB_F32, 4, (int64_t[]){2, 1, 28, 28}), *y0 = NULL, *y1 = NULL, *y2 = NULL;
        for (int64_t i = 0; x && i < 2 * 28 * 28; i++) nb_tensor_data(x)[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
        if (g && x) {
            nb_module_train(g, 0);
            nb_module_train(cnn, 0);
            nb_set_grad_enabled(ctx, 0);
            y0 = nb_module_forward(g, x);
            y2 = nb_module_forward(cnn, x);
            nb_set_grad_enabled(ctx, 1);
            nb_tensor_set_requires_grad(x, 1);
            y1 = nb_module_forward(g, x);
        }
        double e1 = rel_err(y0, y1), e2 = rel_err(y0, y2);
        CHECK("Conv + BatchNormalization + Relu of an imported graph fused in inference: the unfused outputs, nabla's own",
              y0 && y1 && y2 && e1 < 1e-5 && e2 < 1e-5, "%s; fused vs unfused %.3g, vs the module %.3g", nb_last_error(), e1, e2);
        nb_tensor_free(x);
        nb_module_free(g);
        nb_module_free(cnn);
        nb_ctx_reset(ctx);
    }
    nb_module *kids[2] = {nb_relu_new(ctx), nb__module_new(ctx, &mystery_vt)};
    nb_module *seq = nb_sequential_new(ctx, kids, 2);
    nb_status st = seq ? nb_onnx_save(seq, path, NULL) : NB_OK;
    CHECK("a module kind without an ONNX form is refused, named", st == NB_ERR_ARG && strstr(nb_last_error(), "module '1' (Mystery)"),
          "status %d: %s", (int)st, nb_last_error());
    nb_module_free(seq);
    seq = nb_sequential_new(ctx, NULL, 0);
    nb_module *g = seq && !nb_onnx_save(seq, path, NULL) ? nb_onnx_load(ctx, path, NULL) : NULL;
    CHECK("an empty Sequential is exported as an Identity", g && nb_onnx_num_nodes(g) == 1, "%s", nb_last_error());
    nb_module_free(g);
    CHECK("opset 12 is not written", seq && nb_onnx_save(seq, path, &(nb_onnx_save_opts){.opset = 12}) == NB_ERR_ARG &&
          strstr(nb_last_error(), "13 to 17"), "%s", nb_last_error());
    nb_module_free(seq);
    remove(path);
    nb_ctx_reset(ctx);
}

int main(void)
{
    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.seed = 1, .threads = 1});
    test_residual(ctx);
    test_bad_graphs(ctx);
    test_bad_bytes(ctx);
    test_huge_values(ctx);
    test_input_types(ctx);
    test_finetune(ctx);
    test_export(ctx);
    test_backward_goldens(ctx);
    test_rnn_goldens(ctx);
    nb_ctx_free(ctx);
    CHECK_DONE();
}
