/* test_cli_config.c - config files, the saved effective config, `nabla predict` and
 * the progress output, as a user meets them: build/nabla (or build-san/nabla) run
 * through the shell on short Fashion-MNIST runs (mlp, a few steps). */
#include "check.h"
#include "cli.h"
#include "nabla.h"

#include <stb/stb_image_write.h>

static int has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *s = text; (s = strstr(s, line)); s++)
        if ((s == text || s[-1] == '\n') && (s[n] == '\n' || !s[n])) return 1;
    return 0;
}

/* Remove the line that starts with prefix from text. */
static void drop_line(char *text, const char *prefix)
{
    char *s = strstr(text, prefix), *e = s ? strchr(s, '\n') : NULL;
    if (e) memmove(s, e + 1, strlen(e + 1) + 1);
}

static const char *const FASHION[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                        "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

/* Test image 0 of Fashion-MNIST as an 8-bit grayscale PNG, its pixels in x (784). */
static int write_test_png(const char *file, float *x)
{
    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.threads = 1});
    nb_dataset *d = nb_fashion_mnist_new(NULL, 0);
    nb_loader *l = d ? nb_loader_new(ctx, d, &(nb_loader_opts){.batch_size = 1}) : NULL;
    nb_tensor *t, *y;
    int ok = 0;
    if (l && nb_loader_next(l, &t, &y)) {
        unsigned char px[784];
        memcpy(x, nb_tensor_data(t), sizeof(float) * 784);
        for (int i = 0; i < 784; i++) px[i] = (unsigned char)lrintf(x[i] * 255.0f);
        ok = stbi_write_png(file, 28, 28, 1, px, 28) != 0;
    }
    nb_loader_free(l);
    nb_dataset_free(d);
    nb_ctx_free(ctx);
    return ok;
}

/* The mlp with weights w on x: softmax probabilities into p (10). */
static int library_probs(const char *w, const float *x, float *p)
{
    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.threads = 1});
    nb_module *m = nb_model_new(ctx, "mlp", &(nb_model_opts){.num_classes = 10, .in_channels = 1});
    int ok = 0;
    if (m && !nb_load_safetensors(m, w, 1)) {
        nb_module_train(m, 0);
        nb_tensor *t = nb_tensor_from(ctx, NB_F32, 4, (int64_t[]){1, 1, 28, 28}, x);
        nb_tensor *z = nb_softmax(nb_module_forward(m, t), 1);
        if (z) memcpy(p, nb_tensor_data(z), sizeof(float) * 10), ok = 1;
        nb_tensor_free(t);
    }
    nb_module_free(m);
    nb_ctx_free(ctx);
    return ok;
}

int main(void)
{
    if (tmp_dir_init("cli_config")) {
        printf("FAIL mkdtemp\n");
        return 1;
    }
    /* errors in a config file need no data */
    write_text(tmp_path("bad.conf"), "# a comment\nlr = 0.05\n\nmomentom = 0.5\n");
    int rc = run(NABLA " train --config %s", tmp_path("bad.conf"));
    CHECK("unknown key: status 2, names the file, the line, the key and a suggestion",
          rc == 2 && strstr(out, "bad.conf:4") && strstr(out, "'momentom'") && strstr(out, "did you mean 'momentum'"),
          "rc %d: %s", rc, out);
    write_text(tmp_path("bad2.conf"), "lr 0.05\n");
    rc = run(NABLA " train --config %s", tmp_path("bad2.conf"));
    CHECK("a line without '=': status 2 with file and line", rc == 2 && strstr(out, "bad2.conf:1"), "rc %d: %s", rc,
          out);
    write_text(tmp_path("bad3.conf"), "nesterov = maybe\n");
    rc = run(NABLA " train --config %s", tmp_path("bad3.conf"));
    CHECK("a flag needs true or false", rc == 2 && strstr(out, "bad3.conf:1") && strstr(out, "true or false"),
          "rc %d: %s", rc, out);
    rc = run(NABLA " eval --config %s", tmp_path("bad.conf"));
    CHECK("eval reads configs too (and rejects train's keys)", rc == 2 && strstr(out, "bad.conf:2") && strstr(out, "'lr'"),
          "rc %d: %s", rc, out);
    rc = run(NABLA " train --config %s/none.conf", tmp_dir);
    CHECK("a missing config file: status 2, names it", rc == 2 && strstr(out, "none.conf"), "rc %d: %s", rc, out);
    rc = run(NABLA " train --help");
    CHECK("train --help lists --config", rc == 0 && strstr(out, "--config FILE"), "rc %d", rc);
    rc = run(NABLA " predict --help");
    CHECK("predict --help lists --weights and --resize", rc == 0 && strstr(out, "--weights") && strstr(out, "--resize"),
          "rc %d", rc);

    if (access("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz", R_OK)) {
        printf("SKIP cli config training checks: Fashion-MNIST is not installed\n");
        run("rm -rf %s", tmp_dir);
        CHECK_DONE();
    }
    const char *common = "--model mlp --max-steps 8 --per-class 50 --threads 2";

    /* a config sets options: every kind, a spec with commas and an inline comment */
    write_text(tmp_path("run.conf"), "# short run\n"
                                     "lr = 0.02          # the learning rate\n"
                                     "lr-schedule = cosine\n"
                                     "augment = random_crop(28, padding=2), hflip\n"
                                     "nesterov = true\n"
                                     "batch-size = 64\n"
                                     "seed = 3\n");
    rc = run(NABLA " train --config %s %s --save %s --log-json %s --log-every 4", tmp_path("run.conf"), common,
             tmp_path("a.safetensors"), tmp_path("a.jsonl"));
    CHECK("training from a config file succeeds", rc == 0 && strstr(out, "test_acc="), "rc %d: %s", rc, out);
    const char *conf = read_text("a.conf");
    CHECK("--save W.safetensors writes W.conf with the file's settings",
          has_line(conf, "lr = 0.02") && has_line(conf, "lr-schedule = cosine") &&
              has_line(conf, "augment = random_crop(28, padding=2), hflip") && has_line(conf, "nesterov = true") &&
              has_line(conf, "batch-size = 64") && has_line(conf, "seed = 3"),
          "%s", conf);
    CHECK("W.conf holds defaults and resolved values too",
          has_line(conf, "momentum = 0.9") && has_line(conf, "weight-decay = 0.0005") && has_line(conf, "epochs = 9") &&
              has_line(conf, "max-steps = 8") && has_line(conf, "quiet = false") && has_line(conf, "init =") &&
              has_line(conf, "workers = 1") && has_line(conf, "label-smoothing = 0.1") &&
              has_line(conf, "warmup-epochs = 0"),
          "%s", conf);
    const char *log = read_text("a.jsonl");
    CHECK("the log shows the config's learning rate", strstr(log, "\"step\":4") && strstr(log, "\"lr\":0.02,"), "%s", log);

    /* flags override the file, before or after --config */
    rc = run(NABLA " train --lr 0.07 --config %s %s --save %s", tmp_path("run.conf"), common,
             tmp_path("b.safetensors"));
    conf = read_text("b.conf");
    CHECK("a flag before --config overrides the file", rc == 0 && has_line(conf, "lr = 0.07") && has_line(conf, "seed = 3"),
          "rc %d: %s", rc, conf);
    rc = run(NABLA " train --config %s --lr=0.07 --batch-size 32 %s --save %s", tmp_path("run.conf"), common,
             tmp_path("c.safetensors"));
    conf = read_text("c.conf");
    CHECK("a flag after --config overrides the file",
          rc == 0 && has_line(conf, "lr = 0.07") && has_line(conf, "batch-size = 32"), "rc %d: %s", rc, conf);

    /* the saved config repeats the run exactly */
    rc = run(NABLA " train --config %s --save %s", tmp_path("a.conf"), tmp_path("r.safetensors"));
    CHECK("training from the saved config succeeds", rc == 0, "rc %d: %s", rc, out);
    rc = run("cmp %s %s", tmp_path("a.safetensors"), tmp_path("r.safetensors"));
    CHECK("the saved config gives bit-identical weights", rc == 0, "%s", out);
    char a_conf[16384];
    snprintf(a_conf, sizeof a_conf, "%s", read_text("a.conf"));
    drop_line(a_conf, "save = ");
    conf = read_text("r.conf");
    drop_line((char *)conf, "save = ");
    CHECK("the repeated run's config is the same but for save", !strcmp(conf, a_conf), "%s\n----\n%s", a_conf, conf);

    /* --checkpoint: the config beside it as well */
    rc = run(NABLA " train %s --quiet --checkpoint %s", common, tmp_path("ck.safetensors"));
    conf = read_text("ck.conf");
    CHECK("--checkpoint C.safetensors writes C.conf", rc == 0 && has_line(conf, "quiet = true"), "rc %d: %s", rc, conf);

    /* --quiet: the result line only; without a terminal: one line per epoch */
    CHECK("--quiet prints only the result", !strncmp(out, "test_acc=", 9) && strchr(out, '\n') == out + strlen(out) - 1,
          "%s", out);
    rc = run(NABLA " train --model mlp --per-class 20 --epochs 3 --batch-size 50 --threads 2");
    int lines = 0;
    for (const char *s = out; (s = strstr(s, "epoch ")); s++) lines++;
    CHECK("not a terminal: one progress line per epoch, no bar",
          rc == 0 && lines == 3 && strstr(out, "epoch 1/3 loss ") && strstr(out, " acc ") && strstr(out, " img/s ") &&
              strstr(out, "epoch 3/3 ") && strstr(out, " test_acc ") && !strchr(out, '\r') && strstr(out, "\ntest_acc="),
          "rc %d, %d lines: %s", rc, lines, out);

    /* the default recipe smooths the labels; --label-smoothing 0 --lr-schedule none is PyTorch's baseline */
    const char *one = "--model mlp --max-steps 1 --per-class 50 --threads 2 --quiet --log-every 1";
    char step1[2][256] = {"", ""};
    for (int i = 0; i < 2; i++) {
        rc = run(NABLA " train %s%s --log-json %s", one, i ? " --label-smoothing 0 --lr-schedule none" : "",
                 tmp_path(i ? "base.jsonl" : "default.jsonl"));
        const char *l = read_text(i ? "base.jsonl" : "default.jsonl");
        snprintf(step1[i], sizeof step1[i], "%.*s", rc == 0 && strstr(l, "\"step\":1,") ? (int)strcspn(l, "\n") : 0, l);
    }
    CHECK("the default's first loss (label smoothing 0.1) differs from --label-smoothing 0's",
          step1[0][0] && step1[1][0] && strcmp(step1[0], step1[1]), "%s\nvs\n%s", step1[0], step1[1]);

    /* predict: a real test image, the weights of the short run */
    float x[784], p[10];
    char png[512];
    snprintf(png, sizeof png, "%s", tmp_path("test0.png"));
    CHECK("write a test image as PNG", write_test_png(png, x), "stbi_write_png");
    rc = run(NABLA " predict --model mlp --weights %s %s", tmp_path("a.safetensors"), png);
    double sum = 0, first = 0, prev = 2;
    int n = 0, sorted = 1, named = 0;
    const char *s = strchr(out, '\n');
    for (; s && s[1] == ' '; s = strchr(s + 1, '\n')) {
        char name[64] = "";
        double v = 0;
        if (sscanf(s + 1, " %lf %63[^\n]", &v, name) != 2) break;
        if (!n) {
            first = v;
            for (int c = 0; c < 10; c++) named |= !strcmp(name, FASHION[c]);
        }
        sorted &= v <= prev;
        prev = v;
        sum += v;
        n++;
    }
    CHECK("predict prints the file and 5 classes, probabilities sorted, sum <= 1, the top one named",
          rc == 0 && !strncmp(out, png, strlen(png)) && n == 5 && sorted && sum <= 1.0005 && sum > 0 && named,
          "rc %d, %d lines, sum %g: %s", rc, n, sum, out);
    int ok = library_probs(tmp_path("a.safetensors"), x, p);
    float best = 0;
    for (int c = 0; c < 10; c++) best = p[c] > best ? p[c] : best;
    CHECK("predict's top probability is the model's on the dataset's own pixels", ok && fabs(first - best) < 6e-5,
          "predict %g, library %g", first, (double)best);

    unsigned char big[20 * 32] = {0};
    stbi_write_png(tmp_path("wide.png"), 32, 20, 1, big, 32);
    rc = run(NABLA " predict --model mlp --weights %s %s", tmp_path("a.safetensors"), tmp_path("wide.png"));
    CHECK("an image of the wrong size: status 1, names the file and both sizes",
          rc == 1 && strstr(out, "wide.png") && strstr(out, "20x32") && strstr(out, "28x28") && strstr(out, "--resize"),
          "rc %d: %s", rc, out);
    rc = run(NABLA " predict --model mlp --weights %s --resize 28x28 %s %s", tmp_path("a.safetensors"), tmp_path("wide.png"), png);
    CHECK("--resize makes it fit; several images", rc == 0 && strstr(out, "wide.png\n") && strstr(out, "test0.png\n"),
          "rc %d: %s", rc, out);
    write_text(tmp_path("p.conf"), "model = mlp\ntop = 3\n");
    rc = run(NABLA " predict --config %s --weights %s %s", tmp_path("p.conf"), tmp_path("a.safetensors"), png);
    int three = 0;
    for (const char *t = out; (t = strstr(t, "\n  ")); t++) three++;
    CHECK("predict takes a config: top = 3 prints 3 classes", rc == 0 && three == 3, "rc %d: %s", rc, out);

    run("rm -rf %s", tmp_dir);
    CHECK_DONE();
}
