/* test_zoo.c - the model zoo against torchvision 0.14 without downloads.
 *
 * Parameter and state_dict entry counts equal torchvision's (resnet18 11,689,512 /
 * 122, vgg16 138,357,544 / 32, ...); names follow torchvision (layer2.0.downsample.0
 * .weight, features.28.weight, classifier.6.bias).
 *
 * Interop (tests/goldens/zoo_interop.safetensors, tools/goldens/gen_zoo.py): this
 * program, run as `NB_ZOO_WRITE=DIR build/tests/test_zoo`, writes deterministic
 * random weights for resnet18 and vgg11_bn (seeded init plus random BatchNorm
 * statistics) to DIR; the generator loads them with load_state_dict(strict=True)
 * into torchvision's own models and records their eval-mode logits for fixed
 * inputs. Here the same weights are regenerated from the seed and the logits must
 * match within 1e-4 relative. The generator also commits the safetensors header
 * that tools/pth2safetensors.py writes for torchvision's resnet18 state_dict (122
 * keys in torchvision's order, its dtypes: I64 num_batches_tracked of shape []);
 * the test completes that header with the data of the regenerated weights and
 * loads the file strictly. resnet18's training step (fused stem, gradients written over
 * each other) gives its children's parameter gradients bit for bit, with less arena. */
#include "check.h"
#include "core/ctx.h"
#include "core/tensor.h"
#include "nn/module.h"

#include <unistd.h>

#define GOLDEN "tests/goldens/zoo_interop.safetensors"
#define SEED 20240601

#ifdef __SANITIZE_ADDRESS__
#define SAN 1
#else
#define SAN 0
#endif

/* The zoo model `name` with deterministic random weights: the seeded init, then
 * every BatchNorm's weight U(0.5, 1.5), bias N(0, 0.2²), running_mean N(0, 0.2²),
 * running_var U(0.5, 2) and num_batches_tracked 7, drawn in state_dict order. */
static nb_module *seeded_model(nb_ctx *ctx, const char *name, int num_classes)
{
    nb_rng_seed(nb_ctx_rng(ctx), SEED);
    nb_module *m = nb_model_new(ctx, name, &(nb_model_opts){.num_classes = num_classes, .in_channels = 3});
    if (!m) return NULL;
    nb_rng r;
    nb_rng_seed(&r, SEED + 1);
    int n;
    const nb_named_tensor *s = nb_module_state(m, &n);
    for (int i = 0; i < n; i++) {
        const char *dot = strrchr(s[i].name, '.');
        const char *leaf = dot ? dot + 1 : s[i].name;
        nb_tensor *t = s[i].tensor;
        int is_bn = 0; /* a BatchNorm's tensors: the module owning this name has running_var */
        char prefix[512];
        snprintf(prefix, sizeof prefix, "%.*s.running_var", (int)(dot ? dot - s[i].name : 0), s[i].name);
        for (int j = 0; j < n && !is_bn; j++) is_bn = !strcmp(s[j].name, prefix);
        if (!is_bn) continue;
        if (!strcmp(leaf, "num_batches_tracked")) {
            nb_tensor_data_i64(t)[0] = 7;
            continue;
        }
        float *v = nb_tensor_data(t);
        for (int64_t k = 0; k < nb_tensor_numel(t); k++) {
            if (!strcmp(leaf, "weight")) v[k] = 0.5f + nb_rng_uniform(&r);
            else if (!strcmp(leaf, "running_var")) v[k] = 0.5f + 1.5f * nb_rng_uniform(&r);
            else v[k] = 0.2f * nb_rng_normal(&r);
        }
    }
    return m;
}

static int write_mode(const char *dir)
{
    const char *names[2] = {"resnet18", "vgg11_bn"};
    for (int k = 0; k < 2; k++) {
        nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.threads = 1});
        nb_module *m = seeded_model(ctx, names[k], 1000);
        char path[1024];
        snprintf(path, sizeof path, "%s/%s.safetensors", dir, names[k]);
        if (!m || nb_save_safetensors(m, path)) {
            fprintf(stderr, "test_zoo: %s\n", nb_last_error());
            return 1;
        }
        printf("wrote %s\n", path);
        nb_module_free(m);
        nb_ctx_free(ctx);
    }
    return 0;
}

/* Largest |a - b| / max|b| over the logits. */
static double rel_err(const float *a, const float *b, int64_t n)
{
    double mx = 0, d = 0;
    for (int64_t i = 0; i < n; i++) {
        if (fabs(b[i]) > mx) mx = fabs(b[i]);
        if (fabs((double)a[i] - b[i]) > d || a[i] != a[i]) d = a[i] != a[i] ? INFINITY : fabs((double)a[i] - b[i]);
    }
    return d / (mx > 0 ? mx : 1);
}

static void counts(void)
{
    struct {
        const char *name;
        int classes, in;
        int64_t params;
        int entries;
        int slow;
    } want[] = {
        {"resnet18", 1000, 3, 11689512, 122, 0},  {"resnet34", 1000, 3, 21797672, 218, 0},
        {"vgg11", 1000, 3, 132863336, 22, 1},     {"vgg11_bn", 1000, 3, 132868840, 62, 1},
        {"vgg16", 1000, 3, 138357544, 32, 0},     {"vgg16_bn", 1000, 3, 138365992, 97, 1},
        {"resnet_small", 10, 1, 174970, 92, 0},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        if (SAN && want[i].slow) continue; /* 5 s each to initialise 130M values; the plain build checks them */
        nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.threads = 1});
        nb_module *m = nb_model_new(ctx, want[i].name, &(nb_model_opts){.num_classes = want[i].classes, .in_channels = want[i].in});
        int n = 0;
        if (m) nb_module_state(m, &n);
        char name[160];
        snprintf(name, sizeof name, "%s: %lld parameters and %d state_dict entries%s", want[i].name,
                 (long long)want[i].params, want[i].entries,
                 strcmp(want[i].name, "resnet_small") ? ", as torchvision" : " (nabla's CIFAR-style ResNet-14)");
        CHECK(name, m && nb_module_num_params(m) == want[i].params && n == want[i].entries, "%lld params, %d entries: %s",
              m ? (long long)nb_module_num_params(m) : -1LL, n, m ? "" : nb_last_error());
        if (m && !strcmp(want[i].name, "vgg16")) {
            const nb_named_tensor *s = nb_module_state(m, &n);
            static const int convs[13] = {0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28};
            int ok = n == 32;
            for (int k = 0; k < 13 && ok; k++) {
                char key[64];
                snprintf(key, sizeof key, "features.%d.weight", convs[k]);
                ok = !strcmp(s[2 * k].name, key);
            }
            ok = ok && !strcmp(s[26].name, "classifier.0.weight") && !strcmp(s[28].name, "classifier.3.weight") &&
                 !strcmp(s[31].name, "classifier.6.bias") && nb_tensor_dim(s[26].tensor, 1) == 25088;
            CHECK("vgg16 keys: features.0,2,5,...,28 and classifier.0,3,6 (25088 inputs)", ok, "names differ");
        }
        nb_module_free(m);
        nb_ctx_free(ctx);
    }
}

/* The torchvision-written header completed with m's data in the header's order. */
static int torchvision_file(nb_module *m, const char *header, const char *path)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    uint64_t hl = strlen(header);
    unsigned char len[8];
    for (int i = 0; i < 8; i++) len[i] = (unsigned char)(hl >> (8 * i));
    fwrite(len, 1, 8, f);
    fwrite(header, 1, hl, f);
    int n;
    const nb_named_tensor *s = nb_module_state(m, &n);
    /* entries appear in the header in data order: find each "name":{ and its offsets */
    int written = 0;
    for (uint64_t off = 0;;) {
        int found = 0;
        for (int i = 0; i < n; i++) {
            char pat[600];
            snprintf(pat, sizeof pat, "\"%s\":{", s[i].name);
            const char *e = strstr(header, pat);
            if (!e) continue;
            const char *o = strstr(e, "\"data_offsets\":[");
            unsigned long long b = 0, end = 0;
            if (!o || sscanf(o + 16, "%llu,%llu", &b, &end) != 2 || b != off) continue;
            size_t bytes = (size_t)nb_tensor_numel(s[i].tensor) * (nb_tensor_dtype(s[i].tensor) == NB_I64 ? 8 : 4);
            if (bytes != end - b) {
                fclose(f);
                return -2;
            }
            fwrite(s[i].tensor->data, 1, bytes, f);
            off = end;
            found = 1;
            written++;
            break;
        }
        if (!found) break;
    }
    fclose(f);
    return written;
}

static void interop(void)
{
    nb_safetensors *g = nb_safetensors_open(GOLDEN);
    CHECK("zoo goldens open", g != NULL, "%s", nb_last_error());
    if (!g) return;
    const char *names[2] = {"resnet18", "vgg11_bn"};
    for (int k = 0; k < 2; k++) {
        nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.threads = 2});
        nb_module *m = seeded_model(ctx, names[k], 1000);
        char key[64], name[200];
        snprintf(key, sizeof key, "%s.input", names[k]);
        nb_tensor *x = nb_safetensors_get(g, ctx, key);
        snprintf(key, sizeof key, "%s.logits", names[k]);
        nb_tensor *want = nb_safetensors_get(g, ctx, key);
        if (!m || !x || !want) {
            CHECK("interop inputs", 0, "%s", nb_last_error());
            return;
        }
        nb_module_train(m, 0);
        nb_set_grad_enabled(ctx, 0);
        nb_tensor *y = nb_module_forward(m, x);
        double err = y && nb_tensor_numel(y) == nb_tensor_numel(want) ? rel_err(nb_tensor_data(y), nb_tensor_data(want), nb_tensor_numel(want))
                                                                       : INFINITY;
        snprintf(name, sizeof name, "%s: eval logits equal torchvision's with the same weights (max |diff| / max |logit| %.2g <= 1e-4)",
                 names[k], err);
        CHECK(name, err <= 1e-4, "%s", y ? "too far" : nb_last_error());

        if (k == 0) {
            const char *header = nb_safetensors_metadata(g, "resnet18.torchvision_header");
            char path[] = "/tmp/nb_zoo_tv_XXXXXX";
            int fd = mkstemp(path);
            if (fd >= 0) close(fd);
            int w = header ? torchvision_file(m, header, path) : -3;
            nb_ctx *c2 = nb_ctx_new(&(nb_ctx_opts){.seed = 5, .threads = 2});
            nb_module *fresh = nb_model_new(c2, "resnet18", &(nb_model_opts){.num_classes = 1000, .in_channels = 3});
            nb_clear_error();
            nb_status st = nb_load_safetensors(fresh, path, 1);
            CHECK("a torchvision-written resnet18 state_dict (122 keys, its order and dtypes) loads strictly", w == 122 && st == NB_OK,
                  "%d entries written, status %d: %s", w, st, nb_last_error());
            nb_module_train(fresh, 0);
            nb_set_grad_enabled(c2, 0);
            nb_tensor *x2 = nb_safetensors_get(g, c2, "resnet18.input");
            nb_tensor *y2 = nb_module_forward(fresh, x2);
            CHECK("... and gives torchvision's logits", y2 && rel_err(nb_tensor_data(y2), nb_tensor_data(want), nb_tensor_numel(want)) <= 1e-4,
                  "%s", nb_last_error());
            nb_safetensors *tv = nb_safetensors_open(path);
            int i = tv ? nb_safetensors_find(tv, "layer1.0.bn1.num_batches_tracked") : -1;
            int64_t shape[NB_MAX_DIMS];
            CHECK("torchvision's num_batches_tracked is I64 of shape []",
                  i >= 0 && !strcmp(nb_safetensors_dtype(tv, i), "I64") && nb_safetensors_shape(tv, i, shape) == 0, "index %d", i);
            nb_safetensors_close(tv);
            nb_tensor_free(x2);
            nb_module_free(fresh);

            /* resnet18 weights into resnet34 and vgg11: strict loading names what differs */
            nb_module *r34 = nb_model_new(c2, "resnet34", &(nb_model_opts){.num_classes = 1000, .in_channels = 3});
            nb_clear_error();
            st = nb_load_safetensors(r34, path, 1);
            CHECK("resnet18 file into resnet34 (strict): names the missing keys", st != NB_OK && strstr(nb_last_error(), "missing keys") &&
                                                                                      strstr(nb_last_error(), "layer1.2.conv1.weight"),
                  "%s", nb_last_error());
            nb_module_free(r34);
            nb_module *r18_10 = nb_model_new(c2, "resnet18", &(nb_model_opts){.num_classes = 10, .in_channels = 3});
            st = nb_load_safetensors(r18_10, path, 0);
            CHECK("resnet18 file into a 10-class resnet18: the shape mismatch names fc.weight and both shapes",
                  st == NB_ERR_SHAPE && strstr(nb_last_error(), "fc.weight") && strstr(nb_last_error(), "[1000, 512]") &&
                      strstr(nb_last_error(), "[10, 512]"),
                  "%s", nb_last_error());
            nb_module_free(r18_10);
            nb_ctx_free(c2);
            remove(path);
        }
        nb_tensor_free(x);
        nb_tensor_free(want);
        nb_module_free(m);
        nb_ctx_free(ctx);
    }
    nb_safetensors_close(g);
}

static void options_and_training(void)
{
    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.seed = 1, .threads = 2});
    nb_module *m = nb_model_new(ctx, "resnet18", &(nb_model_opts){.num_classes = 7, .in_channels = 1});
    int n;
    const nb_named_tensor *s = m ? nb_module_state(m, &n) : NULL;
    CHECK("resnet18(in_channels=1, num_classes=7): conv1 [64, 1, 7, 7], fc [7, 512]",
          s && nb_tensor_dim(s[0].tensor, 1) == 1 && !strcmp(s[n - 2].name, "fc.weight") && nb_tensor_dim(s[n - 2].tensor, 0) == 7,
          "%s", nb_last_error());
    char head[64];
    CHECK("resnet18's head is fc", m && nb_module_head(m, head, sizeof head) && !strcmp(head, "fc"), "head %s", head);
    nb_module_free(m);

    /* resnet_small trains: loss falls over a few steps on a fixed batch */
    m = nb_model_new(ctx, "resnet_small", NULL);
    CHECK("resnet_small head is fc", m && nb_module_head(m, head, sizeof head) && !strcmp(head, "fc"), "%s", nb_last_error());
    int np;
    nb_tensor **p = nb_module_parameters(m, &np);
    nb_optim *o = nb_sgd_new(p, np, &(nb_sgd_opts){.lr = 0.05, .momentum = 0.9});
    nb_rng r;
    nb_rng_seed(&r, 3);
    float xs[8 * 784];
    int64_t ys[8];
    for (int i = 0; i < 8 * 784; i++) xs[i] = nb_rng_uniform(&r);
    for (int i = 0; i < 8; i++) ys[i] = i % 10;
    float first = 0, last = 0;
    for (int step = 0; step < 15; step++) {
        nb_ctx_reset(ctx);
        nb_tensor *x = nb__empty(ctx, NB_F32, 4, (int64_t[]){8, 1, 28, 28});
        nb_tensor *y = nb__empty(ctx, NB_I64, 1, (int64_t[]){8});
        memcpy(nb__f(x), xs, sizeof xs);
        memcpy(nb__i(y), ys, sizeof ys);
        nb_optim_zero_grad(o);
        nb_tensor *z = nb_module_forward(m, x);
        nb_tensor *loss = nb_cross_entropy(z, y, NULL);
        if (!loss || nb_backward(loss) || nb_optim_step(o)) break;
        if (step == 0) first = nb_tensor_item(loss);
        last = nb_tensor_item(loss);
        if (step == 0) {
            nb_tensor *f = nb_module_features(m, x, NULL);
            CHECK("resnet_small: logits (8, 10), features (8, 64)",
                  nb_tensor_dim(z, 0) == 8 && nb_tensor_dim(z, 1) == 10 && f && nb_tensor_dim(f, 1) == 64, "%s", nb_last_error());
        }
    }
    CHECK("resnet_small: 15 SGD steps on one batch lower the loss below a third", last < first / 3 && last > 0,
          "first %g last %g: %s", first, last, nb_last_error());
    nb_optim_free(o);
    nb_module_free(m);
    nb_ctx_free(ctx);
}

/* resnet18 in training: its forward (the stem's BatchNorm + ReLU fused, its output holding
 * its own gradient once the maxpool has run, BatchNorm's backward writing over its output's
 * gradient) against its children run one by one (BatchNorm, then ReLU): every parameter's
 * gradient bit for bit, and the arena the backward adds is smaller by two gradient blocks
 * of the stem's output size. */
static size_t step_grads(nb_ctx *ctx, nb_module *m, nb_tensor *x, nb_tensor *dy, int by_children, float **out, int np,
                         nb_tensor **p)
{
    nb_ctx_reset(ctx);
    for (int i = 0; i < np; i++) nb_tensor_zero_grad(p[i]);
    nb_tensor *h = x;
    if (!by_children) {
        h = nb_module_forward(m, x);
    } else {
        for (int i = 0; i < m->n_children && h; i++) {
            if (!strcmp(m->child_names[i], "fc")) h = nb_flatten(h, 1, -1);
            h = nb_module_forward(m->children[i], h);
        }
    }
    nb_tensor *loss = nb_sum(nb_mul(h, dy));
    size_t before = ctx->arena.in_use;
    if (!loss || nb_backward(loss)) return 0;
    size_t grew = ctx->arena.in_use - before;
    for (int i = 0; i < np; i++) {
        out[i] = malloc((size_t)nb_tensor_numel(p[i]) * sizeof(float));
        memcpy(out[i], nb_tensor_grad(p[i]), (size_t)nb_tensor_numel(p[i]) * sizeof(float));
    }
    return grew;
}

static void resnet_training_memory(void)
{
    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.seed = 5, .threads = 2});
    nb_module *m = nb_model_new(ctx, "resnet18", &(nb_model_opts){.num_classes = 10, .in_channels = 3});
    if (!m) {
        CHECK("resnet18 for the training-memory test", 0, "%s", nb_last_error());
        return;
    }
    nb_module_train(m, 1);
    int np;
    nb_tensor **p = nb_module_parameters(m, &np);
    nb_rng r;
    nb_rng_seed(&r, 9);
    enum { B = 4 };
    nb_tensor *x = nb_tensor_new(ctx, NB_F32, 4, (int64_t[]){B, 3, 32, 32}), *dy = nb_tensor_new(ctx, NB_F32, 2, (int64_t[]){B, 10});
    for (int64_t i = 0; i < nb_tensor_numel(x); i++) nb_tensor_data(x)[i] = nb_rng_uniform(&r);
    for (int64_t i = 0; i < nb_tensor_numel(dy); i++) nb_tensor_data(dy)[i] = nb_rng_uniform(&r) - 0.5f;
    float **g[2] = {calloc((size_t)np, sizeof(float *)), calloc((size_t)np, sizeof(float *))};
    size_t grew[2];
    for (int k = 0; k < 2; k++) grew[k] = step_grads(ctx, m, x, dy, k, g[k], np, p);
    int same = grew[0] && grew[1];
    for (int i = 0; same && i < np; i++)
        same = !memcmp(g[0][i], g[1][i], (size_t)nb_tensor_numel(p[i]) * sizeof(float));
    CHECK("resnet18 training: the fused forward's parameter gradients equal its children's, bit for bit", same, "%s",
          nb_last_error());
    size_t stem = (size_t)B * 64 * 16 * 16 * sizeof(float); /* relu(bn1(conv1(x))): (B, 64, 16, 16) */
    /* child by child, the ReLU's input and output each take a gradient block of the stem's
     * size; fused, the ReLU has no tensor and the stem's output holds its own gradient */
    CHECK("resnet18 training: the stem's output holds its own gradient (two blocks less than child by child)",
          grew[0] + 2 * stem <= grew[1], "backward took %zu bytes fused, %zu child by child, stem output %zu", grew[0], grew[1],
          stem);
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < np; i++) free(g[k][i]);
        free(g[k]);
    }
    nb_tensor_free(x);
    nb_tensor_free(dy);
    nb_module_free(m);
    nb_ctx_free(ctx);
}

int main(void)
{
    const char *dir = getenv("NB_ZOO_WRITE");
    if (dir) return write_mode(dir);
    counts();
    interop();
    options_and_training();
    resnet_training_memory();
    CHECK_DONE();
}
