/* test_model_file.c - model files (.nbm): models/cnn.nbm, lenet5.nbm and
 * resnet_small.nbm build the built-in models exactly (state_dict keys, shapes,
 * bit-identical initial weights and training losses under the same seed); the
 * parser's messages for bad files (file:line:col, the layer and both shapes),
 * from the library and from the CLI; `nabla info` on model and safetensors files. */
#include "check.h"
#include "cli.h"
#include "nabla.h"

#include <glob.h>


/* Under the sanitizers the CLI comparison runs lenet5 (cnn evaluations take minutes there). */
#ifdef __SANITIZE_ADDRESS__
#define CLI_MODEL "lenet5"
#else
#define CLI_MODEL "cnn"
#endif

/* Same keys, kinds (parameter/buffer), shapes and bytes. */
static int same_state(nb_module *a, nb_module *b, char *why, size_t n)
{
    int na, nb;
    const nb_named_tensor *sa = nb_module_state(a, &na), *sb = nb_module_state(b, &nb);
    if (na != nb) return snprintf(why, n, "%d vs %d tensors", na, nb), 0;
    for (int i = 0; i < na; i++) {
        nb_tensor *x = sa[i].tensor, *y = sb[i].tensor;
        if (strcmp(sa[i].name, sb[i].name) || sa[i].is_buffer != sb[i].is_buffer)
            return snprintf(why, n, "entry %d: %s vs %s", i, sa[i].name, sb[i].name), 0;
        int same = nb_tensor_ndim(x) == nb_tensor_ndim(y) && nb_tensor_dtype(x) == nb_tensor_dtype(y);
        for (int d = 0; same && d < nb_tensor_ndim(x); d++) same = nb_tensor_dim(x, d) == nb_tensor_dim(y, d);
        if (!same) return snprintf(why, n, "%s: shapes differ", sa[i].name), 0;
        size_t bytes = (size_t)nb_tensor_numel(x) * (nb_tensor_dtype(x) == NB_F32 ? 4 : 8);
        const void *dx = nb_tensor_dtype(x) == NB_F32 ? (void *)nb_tensor_data(x) : (void *)nb_tensor_data_i64(x);
        const void *dy = nb_tensor_dtype(y) == NB_F32 ? (void *)nb_tensor_data(y) : (void *)nb_tensor_data_i64(y);
        if (memcmp(dx, dy, bytes))
            return snprintf(why, n, "%s: values differ", sa[i].name), 0;
    }
    return 1;
}

/* Train m for `steps` SGD steps on a fixed random batch; losses into loss[]. */
static int train_steps(nb_ctx *ctx, nb_module *m, int steps, float *loss)
{
    int n;
    nb_tensor **params = nb_module_parameters(m, &n);
    nb_optim *opt = nb_sgd_new(params, n, &(nb_sgd_opts){.lr = 0.05f, .momentum = 0.9f});
    nb_rng r;
    nb_rng_seed(&r, 123);
    nb_tensor *x = nb_tensor_new(ctx, NB_F32, 4, (int64_t[]){8, 1, 28, 28});
    nb_tensor *y = nb_tensor_new(ctx, NB_I64, 1, (int64_t[]){8});
    if (!opt || !x || !y) return 0;
    float *xd = nb_tensor_data(x);
    for (int i = 0; i < 8 * 28 * 28; i++) xd[i] = nb_rng_uniform(&r);
    int64_t *yd = nb_tensor_data_i64(y);
    for (int i = 0; i < 8; i++) yd[i] = i % 10;
    nb_module_train(m, 1);
    int ok = 1;
    for (int s = 0; s < steps && ok; s++) {
        nb_ctx_reset(ctx);
        nb_optim_zero_grad(opt);
        nb_tensor *l = nb_cross_entropy(nb_module_forward(m, x), y, NULL);
        ok = l && !nb_backward(l) && !nb_optim_step(opt);
        if (ok) loss[s] = nb_tensor_item(l);
    }
    nb_optim_free(opt);
    nb_tensor_free(x);
    nb_tensor_free(y);
    return ok;
}

static void check_equivalent(const char *builtin, const char *path, int steps)
{
    char name[256], why[512] = "";
    nb_ctx *c1 = nb_ctx_new(&(nb_ctx_opts){.seed = 7, .threads = 2});
    nb_ctx *c2 = nb_ctx_new(&(nb_ctx_opts){.seed = 7, .threads = 2});
    nb_module *a = nb_model_new(c1, builtin, NULL);
    nb_module *b = nb_model_file_load(c2, path, NULL);
    snprintf(name, sizeof name, "%s builds", path);
    CHECK(name, a && b, "%s", nb_last_error());
    if (!a || !b) goto done;
    snprintf(name, sizeof name, "%s: same state_dict keys, shapes and initial weights as built-in %s", path, builtin);
    CHECK(name, same_state(a, b, why, sizeof why), "%s", why);
    snprintf(name, sizeof name, "%s: parameter count of built-in %s", path, builtin);
    CHECK(name, nb_module_num_params(a) == nb_module_num_params(b), "%lld vs %lld",
          (long long)nb_module_num_params(a), (long long)nb_module_num_params(b));
    float la[8] = {0}, lb[8] = {0};
    int ok = train_steps(c1, a, steps, la) && train_steps(c2, b, steps, lb);
    snprintf(name, sizeof name, "%s: %d training steps give bit-identical losses and weights", path, steps);
    CHECK(name, ok && !memcmp(la, lb, sizeof la) && same_state(a, b, why, sizeof why), "%s; losses %g %g / %g %g",
          ok ? why : nb_last_error(), la[0], la[steps - 1], lb[0], lb[steps - 1]);
done:
    nb_module_free(a);
    nb_module_free(b);
    nb_ctx_free(c1);
    nb_ctx_free(c2);
}

/* Parse text; expect NULL and a message containing each of the NULL-terminated parts. */
static void check_bad(const char *what, const char *text, const char *const *parts)
{
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_clear_error();
    nb_module *m = nb_model_file_parse(ctx, text, &(nb_model_file_opts){.name = "x.nbm"});
    int ok = m == NULL;
    for (int i = 0; ok && parts[i]; i++) ok = strstr(nb_last_error(), parts[i]) != NULL;
    CHECK(what, ok, "got %s: '%s'", m ? "a model" : "NULL", nb_last_error());
    nb_module_free(m);
    nb_ctx_free(ctx);
}

#define BAD(what, text, ...) check_bad(what, text, (const char *const[]){__VA_ARGS__, NULL})

static void check_parser(void)
{
    nb_ctx *ctx = nb_ctx_new(NULL);
    const char *text = "# a comment\n"
                       "input(1, 28, 28)\n"
                       "\n"
                       "features: sequential {\n"
                       "    conv2d(1, 8, 3, padding=1)   # features.0\n"
                       "    groupnorm(2, 8)\n"
                       "    leaky_relu(negative_slope=0.1)\n"
                       "    avgpool2d(2)\n"
                       "    r: residual(activation=relu) {\n"
                       "        conv2d(8, 8, 3, padding='same')\n"
                       "        prelu(8)\n"
                       "    }\n"
                       "}\n"
                       "flatten()\n"
                       "layernorm(1568)\n"
                       "linear(1568, 10, bias=False, weight_init=xavier_uniform)\n";
    nb_model_summary sum;
    nb_module *m = nb_model_file_parse(ctx, text, &(nb_model_file_opts){.summary = &sum});
    CHECK("named blocks, residual, norms and comments parse", m != NULL, "%s", nb_last_error());
    if (m) {
        int n;
        const nb_named_tensor *st = nb_module_state(m, &n);
        const char *want[] = {"features.0.weight", "features.0.bias", "features.1.weight", "features.1.bias",
                              "features.r.0.weight", "features.r.0.bias", "features.r.1.weight", "2.weight",
                              "2.bias", "3.weight"};
        int ok = n == 10;
        for (int i = 0; ok && i < n; i++) ok = !strcmp(st[i].name, want[i]);
        CHECK("state_dict keys follow the file's structure", ok, "%d keys, first %s", n, n ? st[0].name : "");
        CHECK("summary: one row per layer and block, shapes inferred",
              sum.n == 11 && !strcmp(sum.layers[5].name, "features.r") && sum.layers[5].is_block &&
                  sum.layers[5].ndim == 3 && sum.layers[5].shape[0] == 8 && sum.layers[5].shape[1] == 14 &&
                  sum.layers[10].ndim == 1 && sum.layers[10].shape[0] == 10 && sum.layers[10].params == 15680,
              "%d rows", sum.n);
        nb_tensor *x = nb_tensor_new(ctx, NB_F32, 4, (int64_t[]){2, 1, 28, 28});
        nb_init_uniform(x, 0, 1, NULL);
        nb_tensor *y = nb_module_forward(m, x);
        CHECK("forward gives the inferred shape", y && nb_tensor_ndim(y) == 2 && nb_tensor_dim(y, 1) == 10, "%s",
              nb_last_error());
        nb_tensor_free(x);
        nb_model_summary_free(&sum);
        nb_module_free(m);
    }
    m = nb_model_file_parse(ctx, "input(1, 28, 28)\nflatten()\nlinear(784, 10)\n",
                            &(nb_model_file_opts){.input = {3, 32, 32}});
    CHECK("input() disagreeing with the data is an error", !m && strstr(nb_last_error(), "1x28x28") &&
                                                               strstr(nb_last_error(), "3x32x32"),
          "%s", nb_last_error());
    nb_module_free(m);
    m = nb_model_file_parse(ctx, "flatten()\nlinear(3072, 10)\n", &(nb_model_file_opts){.input = {3, 32, 32}});
    CHECK("the caller's input shape is used without input()", m != NULL, "%s", nb_last_error());
    nb_module_free(m);
    nb_ctx_free(ctx);

    BAD("typo in a layer name: file:line:col and a suggestion", "input(1, 28, 28)\nconv2(1, 32, 3)\n",
        "x.nbm:2:1:", "unknown layer 'conv2'", "did you mean conv2d?");
    BAD("missing ')': file:line:col and what was expected", "conv2d(1, 32, 3, padding=1\n", "x.nbm:1:27:",
        "expected ',' or ')'");
    BAD("unknown keyword argument: names it and its column", "relu()\n  conv2d(1, 32, 3, pad=1)\n", "x.nbm:2:20:",
        "unknown keyword argument 'pad' for conv2d");
    BAD("a linear whose input does not fit names the layer and both shapes",
        "conv2d(1, 32, 3, padding=1)\nmaxpool2d(2)\nmaxpool2d(2)\nflatten()\nlinear(3136, 128)\n", "x.nbm:5:",
        "linear(3136, 128)", "3136", "1568", "32x7x7");
    BAD("a conv with the wrong channels names the layer and both shapes", "conv2d(3, 8, 3)\n", "x.nbm:1:",
        "conv2d(3, 8, 3)", "expects 3 input channels, got 1", "1x28x28");
    BAD("a residual whose paths differ", "residual {\n conv2d(1, 4, 3, padding=1)\n}\n", "x.nbm:1:",
        "main path gives 4x28x28", "1x28x28");
    BAD("an unclosed block", "a: sequential {\n relu()\n", "x.nbm:1:", "never closed");
    BAD("a stray '}'", "relu()\n}\n", "x.nbm:2:1:", "'}'");
    BAD("two layers on a line", "relu() relu()\n", "x.nbm:1:8:", "end of the line");
    BAD("a duplicate name", "a: relu()\na: tanh()\n", "x.nbm:2:1:", "'a'");
    BAD("a missing argument", "conv2d(1, 8)\n", "x.nbm:1:1:", "kernel_size");
    BAD("a wrong argument type", "dropout(p=high)\n", "x.nbm:1:", "dropout", "'p'");
    BAD("an empty file", "# nothing\n\n", "no layers");
    BAD("an empty output", "conv2d(1, 4, 29)\n", "x.nbm:1:", "empty output");
}

int main(void)
{
    /* every models/NAME.nbm whose NAME is a built-in (src/models/) builds that model exactly */
    glob_t g;
    int n_nbm = 0;
    if (glob("models/*.nbm", 0, NULL, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; i++) {
            char base[64];
            const char *s = strrchr(g.gl_pathv[i], '/') + 1;
            snprintf(base, sizeof base, "%.*s", (int)(strlen(s) - 4), s);
            for (const char *const *nm = nb_model_names(); *nm; nm++)
                if (!strcmp(*nm, base)) {
                    check_equivalent(base, g.gl_pathv[i], strstr(base, "resnet") ? 2 : 3);
                    n_nbm++;
                }
        }
        globfree(&g);
    }
    CHECK("models/*.nbm: cnn, lenet5 and resnet_small among the files checked against the built-ins", n_nbm >= 3,
          "%d checked", n_nbm);
    check_parser();

    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_module *rs = nb_model_new(ctx, "resnet_small", NULL);
    long long builtin_params = rs ? (long long)nb_module_num_params(rs) : -1;
    nb_module_free(rs);
    nb_ctx_free(ctx);

    int rc = run(NABLA " info models/resnet_small.nbm");
    char want[64];
    snprintf(want, sizeof want, "Total params: %lld,%03lld\n", builtin_params / 1000, builtin_params % 1000);
    CHECK("nabla info model.nbm: the table and the built-in's parameter count",
          rc == 0 && strstr(out, want) && strstr(out, "layer2.0.downsample.0") && strstr(out, "64x7x7"), "rc %d, want %s: %s",
          rc, want, out);
    rc = run(NABLA " info models/nosuch.nbm");
    CHECK("nabla info of a missing file: status 1 and a message", rc == 1 && strstr(out, "nosuch.nbm"), "rc %d: %s",
          rc, out);

    char dir[] = "/tmp/nb_model_file_XXXXXX";
    CHECK("temp dir", mkdtemp(dir) != NULL, "mkdtemp");
    char path[512];
    snprintf(path, sizeof path, "%s/bad.nbm", dir);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs("input(1, 28, 28)\nconv2d(1, 32, 3, padding=1)\nbatchnorm2d(32)\nrelu()\nflatten()\nlinear(3136, 10)\n", f);
        fclose(f);
    }
    rc = run(NABLA " info %s", path);
    CHECK("CLI: a shape error exits 1 naming line, layer and shapes",
          rc == 1 && strstr(out, "bad.nbm:6:") && strstr(out, "linear(3136, 10)") && strstr(out, "25088"), "rc %d: %s",
          rc, out);
    if (!have_fashion_mnist()) {
        printf("SKIP model file training runs: Fashion-MNIST is not installed\n");
        CHECK_DONE();
    }
    rc = run(NABLA " train --model %s --max-steps 1 --quiet", path);
    CHECK("CLI: train with a bad model file exits 1 with the message", rc == 1 && strstr(out, "bad.nbm:6:"),
          "rc %d: %s", rc, out);

    /* cnn through the CLI: the file and the built-in give the same losses */
    char logs[2][4096];
    const char *models[2] = {"models/" CLI_MODEL ".nbm", CLI_MODEL};
    for (int i = 0; i < 2; i++) {
        rc = run(NABLA " train --model %s --max-steps 5 --epochs 1 --per-class 20 --batch-size 32 --threads 2 "
                       "--quiet --seed 3 --log-json %s/log%d.jsonl --log-every 1",
                 models[i], dir, i);
        CHECK(i ? "CLI: train --model " CLI_MODEL : "CLI: train --model models/" CLI_MODEL ".nbm", rc == 0, "rc %d: %s",
              rc, out);
        run("grep '\"step\"' %s/log%d.jsonl", dir, i);
        size_t n = strlen(out) < sizeof logs[i] - 1 ? strlen(out) : sizeof logs[i] - 1;
        memcpy(logs[i], out, n);
        logs[i][n] = 0;
    }
    CHECK("CLI: models/" CLI_MODEL ".nbm and " CLI_MODEL " log the same 5 step losses",
          strstr(logs[0], "\"step\":5") && !strcmp(logs[0], logs[1]), "%s\nvs\n%s", logs[0], logs[1]);

    /* resnet_small: info of the model file and of the weights it saves agree */
    rc = run(NABLA " train --model models/resnet_small.nbm --classes 0 --per-class 10 --max-steps 1 --epochs 1 "
                   "--batch-size 16 --threads 2 --quiet --save %s/r.safetensors",
             dir);
    CHECK("CLI: train --model models/resnet_small.nbm --save", rc == 0, "rc %d: %s", rc, out);
    rc = run(NABLA " info %s/r.safetensors", dir);
    CHECK("nabla info x.safetensors: the same parameter count (buffers listed apart)",
          rc == 0 && strstr(out, want) && strstr(out, "layer1.0.bn1.running_mean") && strstr(out, "(buffer)"),
          "rc %d, want %s: %s", rc, want, out);
    rc = run("head -c 3000 %s/r.safetensors > %s/t.safetensors && " NABLA " info %s/t.safetensors", dir, dir, dir);
    CHECK("nabla info of a truncated safetensors: status 1 and a message", rc == 1 && strstr(out, "t.safetensors"),
          "rc %d: %s", rc, out);
    run("rm -rf %s", dir);
    CHECK_DONE();
}
