/* test_embed.c - penultimate-layer features: nb_module_head finds the last Linear
 * ("5" of mlp, "12" of cnn), nb_module_features returns exactly what enters it
 * (checked against running the layers before it by hand) and the logits;
 * `nabla embed` writes (N, F) '<f4' and (N) '<i8' .npy files whose headers parse
 * as NumPy's format 1.0 (magic, version, dict with descr/fortran_order/shape,
 * data at a multiple of 64) and whose rows equal the library's features. */
#include "check.h"
#include "cli.h"
#include "core/tensor.h"


typedef struct {
    char descr[16];
    int fortran;
    int ndim;
    long long shape[4];
    long data_offset;
    long file_size;
} npy_header;

/* Parse a .npy file's header as numpy.lib.format does for version 1.0; 0 on success. */
static int read_npy_header(const char *path, npy_header *h, char *dict_out, size_t dn)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    unsigned char pre[10];
    if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6) || pre[6] != 1 || pre[7] != 0) {
        fclose(f);
        return -2;
    }
    int hl = pre[8] | pre[9] << 8;
    char dict[4096];
    if (hl >= (int)sizeof dict || fread(dict, 1, (size_t)hl, f) != (size_t)hl) {
        fclose(f);
        return -3;
    }
    dict[hl] = 0;
    fseek(f, 0, SEEK_END);
    h->file_size = ftell(f);
    fclose(f);
    snprintf(dict_out, dn, "%s", dict);
    h->data_offset = 10 + hl;
    if (dict[hl - 1] != '\n' || h->data_offset % 64) return -4;
    const char *d = strstr(dict, "'descr': '");
    const char *fo = strstr(dict, "'fortran_order': ");
    const char *sh = strstr(dict, "'shape': (");
    if (!d || !fo || !sh || dict[0] != '{') return -5;
    sscanf(d + 10, "%15[^']", h->descr);
    h->fortran = !strncmp(fo + 17, "True", 4);
    h->ndim = 0;
    const char *p = sh + 10;
    while (*p != ')') {
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p) return -6;
        h->shape[h->ndim++] = v;
        p = end;
        if (*p == ',') p++;
        while (*p == ' ') p++;
    }
    return 0;
}

static void library_tests(void)
{
    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.seed = 2, .threads = 1});
    char name[64];
    nb_module *mlp = nb_model_new(ctx, "mlp", NULL);
    nb_module *head = nb_module_head(mlp, name, sizeof name);
    CHECK("mlp's head is its last Linear, '5'", head && !strcmp(name, "5") && head == nb_sequential_child(mlp, 5), "name '%s'",
          name);
    nb_module *cnn = nb_model_new(ctx, "cnn", NULL);
    if (cnn) {
        head = nb_module_head(cnn, name, sizeof name);
        CHECK("cnn's head is '12'", head && !strcmp(name, "12"), "name '%s'", name);
    }
    nb_module *relu = nb_relu_new(ctx);
    CHECK("no Linear: error", !nb_module_head(relu, name, sizeof name) && strstr(nb_last_error(), "no Linear"), "%s",
          nb_last_error());

    nb_module_train(mlp, 0);
    nb_rng r;
    nb_rng_seed(&r, 9);
    float xs[3 * 784];
    for (int i = 0; i < 3 * 784; i++) xs[i] = nb_rng_uniform(&r);
    nb_tensor *x = nb__empty(ctx, NB_F32, 4, (int64_t[]){3, 1, 28, 28});
    memcpy(nb__f(x), xs, sizeof xs);
    nb_tensor *logits = NULL;
    nb_tensor *f = nb_module_features(mlp, x, &logits);
    nb_tensor *h = x;
    for (int i = 0; i < 5; i++) h = nb_module_forward(nb_sequential_child(mlp, i), h);
    nb_tensor *full = nb_module_forward(mlp, x);
    CHECK("mlp features: (3, 256), equal to layers 0-4 run by hand",
          f && nb_tensor_ndim(f) == 2 && nb_tensor_dim(f, 0) == 3 && nb_tensor_dim(f, 1) == 256 &&
              !memcmp(nb_tensor_data(f), nb_tensor_data(h), 3 * 256 * sizeof(float)),
          "%s", f ? "values differ" : nb_last_error());
    CHECK("the logits come out too, equal to forward", logits && !memcmp(nb_tensor_data(logits), nb_tensor_data(full), 30 * sizeof(float)),
          "differ");
    /* the head's vtable is restored: forward after features works and is the same */
    nb_tensor *again = nb_module_forward(mlp, x);
    CHECK("after nb_module_features the model forwards as before", again && !memcmp(nb_tensor_data(again), nb_tensor_data(full), 30 * sizeof(float)) &&
                                                                      !strcmp(nb_module_kind(nb_sequential_child(mlp, 5)), "Linear"),
          "differ");
    if (cnn) {
        nb_module_train(cnn, 0);
        f = nb_module_features(cnn, x, NULL);
        CHECK("cnn features: (3, 128)", f && nb_tensor_dim(f, 0) == 3 && nb_tensor_dim(f, 1) == 128, "%s", nb_last_error());
    }
    nb_module_free(relu);
    nb_module_free(cnn);
    nb_module_free(mlp);
    nb_ctx_free(ctx);
}

int main(void)
{
    library_tests();
    if (access("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz", R_OK) || access(NABLA, X_OK)) {
        printf("SKIP embed CLI checks: Fashion-MNIST or " NABLA " missing\n");
        CHECK_DONE();
    }
    char dir[] = "/tmp/nb_embed_XXXXXX";
    if (!mkdtemp(dir)) return 2;
    char w[300], feats[300], labels[300], dict[4096];
    snprintf(w, sizeof w, "%s/w.safetensors", dir);
    snprintf(feats, sizeof feats, "%s/feats.npy", dir);
    snprintf(labels, sizeof labels, "%s/labels.npy", dir);
    int rc = run(NABLA " train --model mlp --max-steps 30 --threads 1 --quiet --save %s", w);
    CHECK("train weights to embed with", rc == 0, "rc %d: %s", rc, out);
    rc = run(NABLA " embed --model mlp --weights %s --split test --per-class 20 --out %s --threads 1", w, feats);
    CHECK("embed --split test --per-class 20 succeeds and reports (200, 256)", rc == 0 && strstr(out, "shape=(200, 256)"),
          "rc %d: %s", rc, out);
    npy_header h = {0};
    int e = read_npy_header(feats, &h, dict, sizeof dict);
    CHECK("feats.npy header: NumPy 1.0, '<f4', C order, shape (200, 256), data after a 64-byte-aligned header",
          e == 0 && !strcmp(h.descr, "<f4") && !h.fortran && h.ndim == 2 && h.shape[0] == 200 && h.shape[1] == 256 &&
              h.file_size == h.data_offset + 200L * 256 * 4,
          "error %d, dict %s", e, dict);
    npy_header hl = {0};
    e = read_npy_header(labels, &hl, dict, sizeof dict);
    CHECK("labels.npy beside it: '<i8', shape (200,)", e == 0 && !strcmp(hl.descr, "<i8") && hl.ndim == 1 && hl.shape[0] == 200 &&
                                                           strstr(dict, "(200,)") && hl.file_size == hl.data_offset + 200L * 8,
          "error %d, dict %s", e, dict);

    /* row k equals the library's features of that image */
    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.threads = 1});
    nb_dataset *d = nb_subset_new(nb_fashion_mnist_new(NULL, 0), &(nb_subset_opts){.per_class = 20});
    nb_module *m = nb_model_new(ctx, "mlp", NULL);
    int ok = d && m && !nb_load_safetensors(m, w, 1);
    if (ok) {
        nb_module_train(m, 0);
        nb_loader *l = nb_loader_new(ctx, d, &(nb_loader_opts){.batch_size = 200});
        nb_loader_start_epoch(l, 0);
        nb_tensor *x, *y;
        ok = nb_loader_next(l, &x, &y);
        nb_tensor *f = ok ? nb_module_features(m, x, NULL) : NULL;
        FILE *fp = fopen(feats, "rb"), *fl = fopen(labels, "rb");
        static float rows[200 * 256];
        int64_t labs[200];
        ok = f && fp && fl && !fseek(fp, h.data_offset, SEEK_SET) && fread(rows, 4, 200 * 256, fp) == 200 * 256 &&
             !fseek(fl, hl.data_offset, SEEK_SET) && fread(labs, 8, 200, fl) == 200;
        ok = ok && !memcmp(rows, nb_tensor_data(f), sizeof rows) && !memcmp(labs, nb_tensor_data_i64(y), sizeof labs);
        if (fp) fclose(fp);
        if (fl) fclose(fl);
        nb_loader_free(l);
    }
    CHECK("the .npy rows and labels are the library's features and labels of the same images", ok, "%s", nb_last_error());
    nb_module_free(m);
    nb_dataset_free(d);
    nb_ctx_free(ctx);

    rc = run(NABLA " embed --model cnn --weights %s --out %s", w, feats);
    CHECK("mlp weights for --model cnn: status 1 naming the missing head key", rc == 1 && strstr(out, "12.weight"), "rc %d: %s", rc,
          out);
    rc = run(NABLA " embed --model mlp --out x.npy");
    CHECK("no --weights: usage error", rc == 2 && strstr(out, "--weights"), "rc %d: %s", rc, out);
    run("rm -rf %s", dir);
    CHECK_DONE();
}
