/* test_train_recipe.c - the recipe options of `nabla train` that change what is
 * trained or evaluated without a kernel of their own: --ema (the weights' moving
 * average, torchvision's ExponentialMovingAverage) and --lr-per-step/--warmup-steps (the
 * schedule stepped per optimizer step). build/nabla runs through the shell on short
 * Fashion-MNIST runs of the cnn (BatchNorm: buffers are averaged too). */
#include "check.h"
#include "cli.h"
#include "nabla.h"

/* c == 0.5 a + 0.5 b for every tensor of three weight files (in float32, as --ema 0.5
 * computes it; integer tensors: c == b). The number of tensors compared, or -1 naming
 * the first that differs in why. */
static int check_average(const char *a_path, const char *b_path, const char *c_path, char *why, size_t n_why)
{
    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.threads = 1});
    nb_safetensors *fa = nb_safetensors_open(a_path), *fb = nb_safetensors_open(b_path),
                   *fc = nb_safetensors_open(c_path);
    int n = -1;
    snprintf(why, n_why, "cannot open the weight files");
    if (ctx && fa && fb && fc) {
        n = 0;
        for (int i = 0; i < nb_safetensors_count(fc) && n >= 0; i++) {
            const char *name = nb_safetensors_name(fc, i);
            nb_tensor *ta = nb_safetensors_get(fa, ctx, name), *tb = nb_safetensors_get(fb, ctx, name),
                      *tc = nb_safetensors_get(fc, ctx, name);
            int64_t k = tc ? nb_tensor_numel(tc) : 0;
            int same = ta && tb && tc && nb_tensor_numel(ta) == k && nb_tensor_numel(tb) == k;
            for (int64_t j = 0; same && j < k; j++) {
                if (nb_tensor_dtype(tc) == NB_F32)
                    same = nb_tensor_data(tc)[j] == 0.5f * nb_tensor_data(ta)[j] + 0.5f * nb_tensor_data(tb)[j];
                else same = nb_tensor_data_i64(tc)[j] == nb_tensor_data_i64(tb)[j];
                if (!same) snprintf(why, n_why, "%s[%lld] is not the average", name, (long long)j);
            }
            if (!ta || !tb || !tc) snprintf(why, n_why, "%s missing", name);
            n = same ? n + 1 : -1;
            nb_tensor_free(ta), nb_tensor_free(tb), nb_tensor_free(tc); /* heap tensors */
        }
    }
    nb_safetensors_close(fa);
    nb_safetensors_close(fb);
    nb_safetensors_close(fc);
    nb_ctx_free(ctx);
    return n;
}

/* The value of "key": in the n-th line (0-based) of text that has "step":, or NAN. */
static double step_field(const char *text, int n, const char *key)
{
    const char *s = text;
    for (int i = 0; s && (s = strstr(s, "{\"step\":")); s++, i++)
        if (i == n) {
            const char *v = strstr(s, key), *e = strchr(s, '\n');
            return v && (!e || v < e) ? atof(v + strlen(key)) : NAN;
        }
    return NAN;
}

int main(void)
{
    if (tmp_dir_init("train_recipe")) {
        printf("FAIL mkdtemp\n");
        return 1;
    }
    /* refusals need no data */
    int rc = run(NABLA " train --ema 1");
    CHECK("--ema 1: status 2, names the option", rc == 2 && strstr(out, "--ema"), "rc %d: %s", rc, out);
    rc = run(NABLA " train --ema 0.99 --resume %s", tmp_path("none.safetensors"));
    CHECK("--ema with --resume is refused: checkpoints hold no average", rc == 2 && strstr(out, "--ema") &&
              strstr(out, "--resume"), "rc %d: %s", rc, out);
    rc = run(NABLA " train --warmup-steps 10");
    CHECK("--warmup-steps without --lr-per-step is refused", rc == 2 && strstr(out, "--lr-per-step"), "rc %d: %s", rc,
          out);
    rc = run(NABLA " train --help");
    CHECK("train --help lists --ema, --lr-per-step and --warmup-steps",
          rc == 0 && strstr(out, "--ema DECAY") && strstr(out, "--lr-per-step") && strstr(out, "--warmup-steps N"),
          "rc %d", rc);

    if (!have_fashion_mnist()) {
        printf("SKIP train recipe checks: Fashion-MNIST is not installed\n");
        tmp_dir_remove();
        CHECK_DONE();
    }
    /* --ema 0.5 over 2 steps: the first step's weights and the second's, averaged
     * (parameters and BatchNorm's running statistics; num_batches_tracked copied) */
    const char *cnn = "--model cnn --per-class 50 --threads 2 --quiet";
    char why[256];
    rc = run(NABLA " train %s --max-steps 1 --save %s", cnn, tmp_path("s1.safetensors"));
    rc |= run(NABLA " train %s --max-steps 2 --save %s --log-json %s", cnn, tmp_path("s2.safetensors"),
              tmp_path("s2.jsonl"));
    rc |= run(NABLA " train %s --max-steps 2 --ema 0.5 --save %s --log-json %s", cnn, tmp_path("ema.safetensors"),
              tmp_path("ema.jsonl"));
    int n = rc ? -1 : check_average(tmp_path("s1.safetensors"), tmp_path("s2.safetensors"),
                                    tmp_path("ema.safetensors"), why, sizeof why);
    CHECK("--ema 0.5 saves 0.5 x step 1's weights + 0.5 x step 2's, buffers included", n >= 8, "rc %d, %d tensors: %s",
          rc, n, why);
    char plain[32] = "", live[32] = "";
    const char *s2 = read_text("s2.jsonl"), *t = strstr(s2, "\"test_acc\":");
    if (t) snprintf(plain, sizeof plain, "%.*s", (int)strcspn(t + 11, ",}"), t + 11);
    const char *ema = read_text("ema.jsonl");
    t = strstr(ema, "\"live_test_acc\":");
    if (t) snprintf(live, sizeof live, "%.*s", (int)strcspn(t + 16, ",}"), t + 16);
    CHECK("--ema leaves training alone: the log's live_test_acc is the plain run's test_acc",
          plain[0] && !strcmp(plain, live), "plain '%s', live '%s'", plain, live);
    rc = run(NABLA " eval --model cnn --weights %s", tmp_path("ema.safetensors"));
    t = strstr(ema, "\"test_acc\":");
    char logged[32] = "";
    if (t) snprintf(logged, sizeof logged, "%.4f", atof(t + 11));
    CHECK("the saved average is the model evaluated", rc == 0 && logged[0] && strstr(out, logged), "rc %d, log %s: %s",
          rc, logged, out);

    /* --lr-per-step: 4 steps an epoch (500 images, batch 128), 2 of warm-up from lr/3,
     * then cosine over the remaining 2 steps */
    rc = run(NABLA " train %s --epochs 1 --lr-per-step --warmup-steps 2 --log-json %s --log-every 1", cnn,
             tmp_path("ps.jsonl"));
    const char *ps = read_text("ps.jsonl");
    double want[4] = {0.05 / 3, 0.05 * 2 / 3, 0.05, 0.025}, worst = 0;
    for (int i = 0; i < 4; i++) {
        double lr = step_field(ps, i, "\"lr\":");
        worst = fmax(worst, isnan(lr) ? INFINITY : fabs(lr - want[i]));
    }
    CHECK("--lr-per-step --warmup-steps 2: lr/3, 2lr/3, lr, then cosine to the last step", rc == 0 && worst < 1e-7,
          "rc %d, worst %g: %s", rc, worst, ps);
    rc = run(NABLA " train %s --epochs 2 --lr-per-step --warmup-epochs 1 --log-json %s --log-every 1", cnn,
             tmp_path("pe.jsonl"));
    const char *pe = read_text("pe.jsonl");
    double lr4 = step_field(pe, 4, "\"lr\":"), lr7 = step_field(pe, 7, "\"lr\":");
    CHECK("--lr-per-step --warmup-epochs 1: the warm-up lasts an epoch's steps, cosine over the other 4",
          rc == 0 && fabs(lr4 - 0.05) < 1e-7 && fabs(lr7 - 0.05 * (1 + cos(M_PI * 3 / 4)) / 2) < 1e-7,
          "rc %d, lr %g %g: %s", rc, lr4, lr7, pe);

    tmp_dir_remove();
    CHECK_DONE();
}
