/* test_plot.c - the confusion matrix of the library (nb_count_confusion on known logits,
 * nb_evaluate_confusion agreeing with nb_evaluate), and the CLI's figures as a user makes
 * them: a short `nabla train --log-json`, then `nabla plot` and `nabla eval --confusion`
 * write PNGs that decode (stb_image) to the size reported and are not blank; the text
 * matrix sums to the test images and its diagonal gives the accuracy; missing, empty
 * and malformed logs and unwritable outputs fail with a message naming the file. */
#include "check.h"
#include "cli.h"
#include "nabla.h"

#include <stb/stb_image.h>

/* Decode a PNG; width and height, and the number of distinct colours (up to 1000). */
static int png_info(const char *path, int *w, int *h, int *colors)
{
    int c;
    unsigned char *px = stbi_load(path, w, h, &c, 3);
    if (!px) return 0;
    static unsigned seen[1000];
    int n = 0;
    for (long i = 0; i < (long)*w * *h && n < 1000; i++) {
        unsigned v = (unsigned)px[3 * i] << 16 | (unsigned)px[3 * i + 1] << 8 | px[3 * i + 2];
        int k = 0;
        while (k < n && seen[k] != v) k++;
        if (k == n) seen[n++] = v;
    }
    *colors = n;
    stbi_image_free(px);
    return 1;
}

/* "wrote FILE (WxH)" in out: W and H. */
static int reported_size(int *w, int *h)
{
    const char *s = strstr(out, "wrote ");
    s = s ? strchr(s, '(') : NULL;
    return s && sscanf(s, "(%dx%d)", w, h) == 2;
}

static void library_checks(void)
{
    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.threads = 1});
    /* 5 samples, 3 classes: argmaxes 0, 2, 1, 1, 2 (the first of a tie); labels 0, 2, 2, 1, 7 */
    const float z[15] = {3, 1, 0, 0, 1, 5, 0, 4, 4, -1, 2, 0, 0, 0, 9};
    const int64_t y[5] = {0, 2, 2, 1, 7};
    nb_tensor *logits = nb_tensor_from(ctx, NB_F32, 2, (int64_t[]){5, 3}, z);
    nb_tensor *labels = nb_tensor_from(ctx, NB_I64, 1, (int64_t[]){5}, y);
    int64_t m[9] = {0};
    nb_count_confusion(logits, labels, 3, m);
    const int64_t want[9] = {1, 0, 0, 0, 1, 0, 0, 1, 1};
    CHECK("nb_count_confusion: counts[true][pred], ties to the first, labels outside skipped",
          !memcmp(m, want, sizeof m), "%lld %lld %lld / %lld %lld %lld / %lld %lld %lld", (long long)m[0],
          (long long)m[1], (long long)m[2], (long long)m[3], (long long)m[4], (long long)m[5], (long long)m[6],
          (long long)m[7], (long long)m[8]);
    nb_count_confusion(logits, labels, 3, m);
    CHECK("nb_count_confusion adds", m[0] == 2 && m[8] == 2, "%lld %lld", (long long)m[0], (long long)m[8]);
    nb_tensor_free(logits);
    nb_tensor_free(labels);

    nb_dataset *d = nb_fashion_mnist_new(NULL, 0);
    if (!d) {
        printf("SKIP nb_evaluate_confusion: %s\n", nb_last_error());
        nb_ctx_free(ctx);
        return;
    }
    d = nb_subset_new(d, &(nb_subset_opts){.per_class = 30});
    nb_module *net = nb_model_new(ctx, "mlp", &(nb_model_opts){.num_classes = 10, .in_channels = 1});
    nb_eval_result a = {0}, b = {0};
    nb_dataset *digits = nb_dataset_open("mnist", "/usr/share/datasets/fashion-mnist", 0);
    CHECK("--dataset mnist names the classes 0..9", digits && !strcmp(nb_dataset_class_name(digits, 0), "0") &&
                                                         !strcmp(nb_dataset_class_name(digits, 9), "9"),
          "%s", digits ? nb_dataset_class_name(digits, 0) : nb_last_error());
    nb_dataset_free(digits);
    int64_t counts[100];
    int ok = d && net && !nb_evaluate(net, d, 64, &a) && !nb_evaluate_confusion(net, d, 64, &b, counts);
    int64_t total = 0, diag = 0;
    for (int t = 0; t < 10 && ok; t++)
        for (int p = 0; p < 10; p++) total += counts[t * 10 + p], diag += t == p ? counts[t * 10 + p] : 0;
    CHECK("nb_evaluate_confusion: same result as nb_evaluate, counts sum to the samples, diagonal = correct",
          ok && a.accuracy == b.accuracy && a.loss == b.loss && total == 300 && diag == (int64_t)(b.accuracy * 300 + 0.5),
          "%s acc %g %g total %lld diag %lld", ok ? "" : nb_last_error(), a.accuracy, b.accuracy, (long long)total,
          (long long)diag);
    nb_module_free(net);
    nb_dataset_free(d);
    nb_ctx_free(ctx);
}

/* Sum of the counts of a text matrix in out (after its header line "true\pred ..."),
 * k classes whose row names are names[]; the diagonal in *diag. -1 if unreadable. */
static long long text_matrix_sum(int k, const char *const *names, long long *diag)
{
    const char *s = strstr(out, "true\\pred");
    long long sum = 0;
    *diag = 0;
    if (!s) return -1;
    s = strchr(s, '\n');
    for (int t = 0; t < k; t++) {
        if (!s) return -1;
        s++;
        if (strncmp(s, names[t], strlen(names[t]))) return -1;
        char *p = (char *)s + strlen(names[t]);
        for (int c = 0; c < k; c++) {
            char *end;
            long long v = strtoll(p, &end, 10);
            if (end == p) return -1;
            sum += v;
            if (c == t) *diag += v;
            p = end;
        }
        s = strchr(p, '\n');
    }
    return sum;
}

int main(void)
{
    library_checks();
    if (tmp_dir_init("plot")) {
        CHECK("temporary directory", 0, "mkdtemp failed");
        CHECK_DONE();
    }
    int w, h, colors, rc;

    rc = run(NABLA " plot --help");
    CHECK("plot --help lists --out", rc == 0 && strstr(out, "--out"), "rc %d: %s", rc, out);
    rc = run(NABLA " --help");
    CHECK("nabla --help lists plot", rc == 0 && strstr(out, "plot"), "rc %d", rc);
    rc = run(NABLA " plot --out %s", tmp_path("x.png"));
    CHECK("plot without a log: status 2", rc == 2 && strstr(out, "log"), "rc %d: %s", rc, out);
    rc = run(NABLA " plot %s --out %s", tmp_path("missing.jsonl"), tmp_path("x.png"));
    CHECK("missing log: status 1 naming the file", rc == 1 && strstr(out, "missing.jsonl") && strstr(out, "No such file"),
          "rc %d: %s", rc, out);
    write_text(tmp_path("empty.jsonl"), "\n  \n");
    rc = run(NABLA " plot %s --out %s", tmp_path("empty.jsonl"), tmp_path("x.png"));
    CHECK("empty log: status 1 naming the file", rc == 1 && strstr(out, "empty.jsonl is empty"), "rc %d: %s", rc, out);
    write_text(tmp_path("bad.jsonl"), "{\"epoch\":1,\"train_loss\":0.5}\n{\"epoch\":2,\"train_loss\" 0.4}\n");
    rc = run(NABLA " plot %s --out %s", tmp_path("bad.jsonl"), tmp_path("x.png"));
    CHECK("malformed line: status 1 naming the file and line", rc == 1 && strstr(out, "bad.jsonl:2:") &&
                                                                   strstr(out, "expected ':'"),
          "rc %d: %s", rc, out);
    write_text(tmp_path("trunc.jsonl"), "{\"epoch\":1,\"train_loss\":0.5\n");
    rc = run(NABLA " plot %s --out %s", tmp_path("trunc.jsonl"), tmp_path("x.png"));
    CHECK("truncated line: status 1 naming line 1", rc == 1 && strstr(out, "trunc.jsonl:1:"), "rc %d: %s", rc, out);
    write_text(tmp_path("other.jsonl"), "{\"a\":1}\n[1,2]\n");
    rc = run(NABLA " plot %s --out %s", tmp_path("other.jsonl"), tmp_path("x.png"));
    CHECK("JSON that is not a training log: status 1", rc == 1 && strstr(out, "other.jsonl"), "rc %d: %s", rc, out);
    /* missing fields and a single epoch still draw */
    write_text(tmp_path("partial.jsonl"),
               "{\"epoch\":1,\"train_loss\":0.9,\"note\":\"x\",\"extra\":[1,{\"b\":null}]}\n");
    rc = run(NABLA " plot %s --out %s --width 640 --height 320", tmp_path("partial.jsonl"), tmp_path("partial.png"));
    CHECK("one epoch, no accuracy or test fields: drawn at --width x --height",
          rc == 0 && png_info(tmp_path("partial.png"), &w, &h, &colors) && w == 640 && h == 320 && colors > 8,
          "rc %d %dx%d colors %d: %s", rc, w, h, colors, out);
    /* printf's words for non-finite losses (nan, -nan, inf) are read, not refused; inside strings they stay text */
    write_text(tmp_path("nonfinite.jsonl"),
               "{\"step\":1,\"epoch\":1,\"loss\":nan,\"lr\":0.1}\n{\"step\":2,\"epoch\":1,\"loss\":-inf,\"lr\":0.1}\n"
               "{\"epoch\":1,\"train_loss\":inf,\"note\":\"nan \\\" inf\"}\n{\"epoch\":2,\"train_loss\":-nan}\n");
    rc = run(NABLA " plot %s --out %s", tmp_path("nonfinite.jsonl"), tmp_path("nonfinite.png"));
    CHECK("nan and inf losses in a log: drawn", rc == 0 && png_info(tmp_path("nonfinite.png"), &w, &h, &colors), "rc %d: %s",
          rc, out);
    rc = run(NABLA " plot %s --out /nonexistent/dir/curves.png", tmp_path("partial.jsonl"));
    CHECK("unwritable output: status 1 naming it", rc == 1 && strstr(out, "cannot write /nonexistent/dir/curves.png"),
          "rc %d: %s", rc, out);

    if (!have_fashion_mnist()) {
        printf("SKIP train/plot/eval checks: Fashion-MNIST is not installed\n");
        CHECK_DONE();
    }
    rc = run(NABLA " train --model mlp --epochs 2 --per-class 50 --log-every 2 --threads 1 --quiet "
                   "--log-json %s --save %s",
             tmp_path("run.jsonl"), tmp_path("w.safetensors"));
    CHECK("a short training writes the log", rc == 0, "rc %d: %s", rc, out);
    rc = run(NABLA " plot %s --out %s", tmp_path("run.jsonl"), tmp_path("curves.png"));
    int rw = 0, rh = 0;
    CHECK("plot writes the curves and reports 1200x500", rc == 0 && reported_size(&rw, &rh) && rw == 1200 && rh == 500,
          "rc %d: %s", rc, out);
    w = h = colors = 0;
    CHECK("the curves PNG decodes to 1200x500 and is not blank",
          png_info(tmp_path("curves.png"), &w, &h, &colors) && w == 1200 && h == 500 && colors > 20,
          "%dx%d, %d colours (%s)", w, h, colors, stbi_failure_reason() ? stbi_failure_reason() : "");
    rc = run(NABLA " train --model mlp --epochs 2 --per-class 50 --optimizer adam --threads 1 --quiet --log-json %s",
             tmp_path("adam.jsonl"));
    rc = rc ? rc
            : run(NABLA " plot %s %s --out %s", tmp_path("run.jsonl"), tmp_path("adam.jsonl"), tmp_path("both.png"));
    CHECK("two logs overlaid, legend by file name", rc == 0 && png_info(tmp_path("both.png"), &w, &h, &colors) &&
                                                        colors > 20,
          "rc %d: %s", rc, out);

    /* eval --confusion: text */
    rc = run(NABLA " eval --model mlp --weights %s --threads 1 --confusion -", tmp_path("w.safetensors"));
    static const char *const fashion[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                            "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
    long long diag, sum = text_matrix_sum(10, fashion, &diag);
    double acc = -1;
    const char *a = strstr(out, "test_acc=");
    if (a) acc = atof(a + 9);
    CHECK("eval --confusion -: the counts sum to the 10,000 test images, the diagonal is the accuracy",
          rc == 0 && sum == 10000 && fabs((double)diag / 10000 - acc) < 1e-4, "rc %d sum %lld diag %lld acc %g: %s", rc,
          sum, diag, acc, out);
    rc = run(NABLA " eval --model mlp --weights %s --threads 1 --per-class 20 --confusion -", tmp_path("w.safetensors"));
    sum = text_matrix_sum(10, fashion, &diag);
    CHECK("eval --per-class 20 --confusion -: 200 images", rc == 0 && sum == 200, "rc %d sum %lld: %s", rc, sum, out);

    /* eval --confusion: PNG */
    rc = run(NABLA " eval --model mlp --weights %s --threads 1 --confusion %s", tmp_path("w.safetensors"),
             tmp_path("confusion.png"));
    rw = rh = 0;
    CHECK("eval --confusion FILE.png reports its size", rc == 0 && reported_size(&rw, &rh) && rw > 400 && rh > 400,
          "rc %d: %s", rc, out);
    w = h = colors = 0;
    CHECK("the confusion PNG decodes to that size and is not blank",
          png_info(tmp_path("confusion.png"), &w, &h, &colors) && w == rw && h == rh && colors > 20,
          "%dx%d (reported %dx%d), %d colours", w, h, rw, rh, colors);
    rc = run(NABLA " eval --model mlp --weights %s --threads 1 --confusion /nonexistent/dir/c.png", tmp_path("w.safetensors"));
    CHECK("eval --confusion to an unwritable path: status 1 naming it",
          rc == 1 && strstr(out, "cannot write /nonexistent/dir/c.png"), "rc %d: %s", rc, out);

    /* a subset: its class names, a 3x3 matrix */
    rc = run(NABLA " train --model mlp --epochs 1 --classes 5,7,9 --per-class 30 --threads 1 --quiet --save %s",
             tmp_path("w3.safetensors"));
    rc = rc ? rc
            : run(NABLA " eval --model mlp --weights %s --classes 5,7,9 --threads 1 --confusion -", tmp_path("w3.safetensors"));
    static const char *const shoes[3] = {"Sandal", "Sneaker", "Ankle boot"};
    sum = text_matrix_sum(3, shoes, &diag);
    CHECK("eval --classes 5,7,9 --confusion -: 3x3 with the kept names, 3,000 images", rc == 0 && sum == 3000,
          "rc %d sum %lld: %s", rc, sum, out);
    rc = run(NABLA " eval --model mlp --weights %s --classes 5,7,9 --threads 1 --confusion %s", tmp_path("w3.safetensors"),
             tmp_path("confusion3.png"));
    CHECK("a 3-class confusion PNG", rc == 0 && png_info(tmp_path("confusion3.png"), &w, &h, &colors) && colors > 20,
          "rc %d: %s", rc, out);

    run("rm -rf %s", tmp_dir);
    CHECK_DONE();
}
