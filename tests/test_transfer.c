/* test_transfer.c - transfer learning: a pretrained backbone loads into a model
 * with a new head (and only the backbone: the head keeps its fresh weights), a file
 * for another architecture fails naming keys and changes nothing; freezing by
 * prefix or "backbone" turns requires_grad off, keeps frozen BatchNorm in eval mode
 * through nb_module_train (running statistics untouched by training forwards) and
 * leaves frozen weights unchanged by optimizer steps; per-group learning rates
 * scale the update of each group; `nabla train --pretrained --freeze backbone`
 * leaves every backbone tensor of the file bit for bit in the fine-tuned weights,
 * and --lr-backbone trains the backbone. */
#include "check.h"
#include "cli.h"
#include "core/tensor.h"


#ifdef __SANITIZE_ADDRESS__
#define SAN 1
#else
#define SAN 0
#endif

static nb_tensor *state(nb_module *m, const char *name)
{
    int n;
    const nb_named_tensor *s = nb_module_state(m, &n);
    for (int i = 0; i < n; i++)
        if (!strcmp(s[i].name, name)) return s[i].tensor;
    return NULL;
}

static int same(nb_tensor *a, nb_tensor *b)
{
    return a && b && nb_tensor_numel(a) == nb_tensor_numel(b) &&
           !memcmp(a->data, b->data, (size_t)nb_tensor_numel(a) * (nb_tensor_dtype(a) == NB_F32 ? 4 : 8));
}

static nb_tensor *batch(nb_ctx *ctx, int n, int64_t classes, nb_tensor **y)
{
    nb_rng r;
    nb_rng_seed(&r, 77);
    nb_tensor *x = nb__empty(ctx, NB_F32, 4, (int64_t[]){n, 1, 28, 28});
    *y = nb__empty(ctx, NB_I64, 1, (int64_t[]){n});
    for (int64_t i = 0; i < nb_tensor_numel(x); i++) nb__f(x)[i] = nb_rng_uniform(&r);
    for (int i = 0; i < n; i++) nb__i(*y)[i] = i % classes;
    return x;
}

static void library_tests(void)
{
    nb_ctx *ca = nb_ctx_new(&(nb_ctx_opts){.seed = 1, .threads = 1});
    nb_module *a = nb_model_new(ca, "cnn", NULL);
    /* make the pretrained BatchNorm statistics non-trivial */
    nb_tensor *y;
    nb_tensor *x = batch(ca, 16, 10, &y);
    nb_module_forward(a, x);
    CHECK("save a pretrained cnn", nb_save_safetensors(a, tmp_path("pre.safetensors")) == NB_OK, "%s", nb_last_error());

    nb_ctx *cb = nb_ctx_new(&(nb_ctx_opts){.seed = 2, .threads = 1});
    nb_module *b = nb_model_new(cb, "cnn", &(nb_model_opts){.num_classes = 5});
    nb_tensor *head_before = nb_tensor_from(cb, NB_F32, 2, (int64_t[]){5, 128}, nb_tensor_data(state(b, "12.weight")));
    nb_pretrained_report rep;
    nb_status st = nb_load_pretrained(b, tmp_path("pre.safetensors"), NULL, &rep);
    CHECK("pretrained cnn (10 classes) into a 5-class cnn: 16 backbone tensors loaded, head '12' (2) kept new",
          st == NB_OK && rep.loaded == 16 && rep.head_skipped == 2 && rep.unexpected == 0 && !strcmp(rep.head, "12"),
          "st %d loaded %d head %d unexpected %d '%s': %s", st, rep.loaded, rep.head_skipped, rep.unexpected, rep.head,
          nb_last_error());
    const char *bb[] = {"0.weight", "1.running_mean", "1.running_var", "1.num_batches_tracked", "5.bias", "9.weight"};
    int ok = 1;
    for (int i = 0; i < 6; i++) ok &= same(state(a, bb[i]), state(b, bb[i]));
    CHECK("backbone tensors (weights and BatchNorm buffers) equal the pretrained ones", ok, "differ");
    CHECK("the head keeps its fresh weights", same(head_before, state(b, "12.weight")), "head changed");
    nb_tensor_free(head_before);

    nb_ctx *cm = nb_ctx_new(&(nb_ctx_opts){.threads = 1});
    nb_module *mlp = nb_model_new(cm, "mlp", NULL);
    CHECK("save an mlp", nb_save_safetensors(mlp, tmp_path("mlp.safetensors")) == NB_OK, "%s", nb_last_error());
    nb_tensor *w0 = nb_tensor_from(cb, NB_F32, 4, (int64_t[]){32, 1, 3, 3}, nb_tensor_data(state(b, "0.weight")));
    nb_clear_error();
    st = nb_load_pretrained(b, tmp_path("mlp.safetensors"), NULL, &rep);
    const char *msg = nb_last_error();
    CHECK("an mlp file into a cnn: fails naming missing and mismatched keys",
          st != NB_OK && strstr(msg, "another architecture") && strstr(msg, "missing 0.weight") &&
              strstr(msg, "mismatched 1.weight (file F32 [512, 784], model [32])"),
          "st %d: %s", st, msg);
    CHECK("... and the model is unchanged", same(w0, state(b, "0.weight")), "changed");
    nb_tensor_free(w0);
    st = nb_load_pretrained(b, tmp_path("none.safetensors"), NULL, &rep);
    CHECK("a missing file: NB_ERR_IO", st == NB_ERR_IO && strstr(nb_last_error(), "none.safetensors"), "st %d: %s", st,
          nb_last_error());

    /* freezing */
    int nf = -1, np;
    st = nb_module_freeze(b, "backbone", &nf);
    nb_tensor **p = nb_module_parameters(b, &np);
    CHECK("freeze backbone: 10 parameter tensors frozen, the head's 2 remain trainable",
          st == NB_OK && nf == 10 && np == 2 && p[0] == state(b, "12.weight"), "st %d nf %d np %d", st, nf, np);
    nb_module_train(b, 1);
    nb_module *bn1 = nb_sequential_child(b, 1);
    nb_tensor *rm = nb_tensor_from(cb, NB_F32, 1, (int64_t[]){32}, nb_tensor_data(state(b, "1.running_mean")));
    int64_t nbt = nb_tensor_data_i64(state(b, "1.num_batches_tracked"))[0];
    nb_tensor *w9 = nb_tensor_from(cb, NB_F32, 2, (int64_t[]){128, 3136}, nb_tensor_data(state(b, "9.weight")));
    nb_tensor *w12 = nb_tensor_from(cb, NB_F32, 2, (int64_t[]){5, 128}, nb_tensor_data(state(b, "12.weight")));
    p = nb_module_parameters(b, &np); /* the array of before went stale with nb_module_state */
    nb_optim *o = nb_sgd_new(p, np, &(nb_sgd_opts){.lr = 0.1, .momentum = 0.9});
    for (int step = 0; step < 3; step++) {
        nb_ctx_reset(cb);
        x = batch(cb, 8, 5, &y);
        nb_optim_zero_grad(o);
        nb_tensor *loss = nb_cross_entropy(nb_module_forward(b, x), y, NULL);
        if (!loss || nb_backward(loss) || nb_optim_step(o)) break;
    }
    CHECK("frozen BatchNorm stays in eval mode through nb_module_train(m, 1)",
          !nb_module_is_training(bn1) && nb_module_is_training(b) && nb_module_is_training(nb_sequential_child(b, 12)),
          "bn training %d", nb_module_is_training(bn1));
    CHECK("... its running statistics and counter are untouched by training steps",
          same(rm, state(b, "1.running_mean")) && nb_tensor_data_i64(state(b, "1.num_batches_tracked"))[0] == nbt, "changed");
    CHECK("3 SGD steps: frozen weights unchanged, the head trained", same(w9, state(b, "9.weight")) && !same(w12, state(b, "12.weight")),
          "frozen %d head changed %d", same(w9, state(b, "9.weight")), !same(w12, state(b, "12.weight")));
    nb_tensor_free(rm), nb_tensor_free(w9), nb_tensor_free(w12);
    nb_optim_free(o);

    /* freezing by prefixes; BatchNorm 5 is not frozen, so it trains */
    nb_module *c = nb_model_new(cb, "cnn", NULL);
    st = nb_module_freeze(c, "0, 1", &nf);
    nb_module_parameters(c, &np);
    nb_module_train(c, 1);
    CHECK("freeze \"0, 1\": 4 of 12 tensors frozen, BatchNorm 1 in eval, BatchNorm 5 training",
          st == NB_OK && nf == 4 && np == 8 && !nb_module_is_training(nb_sequential_child(c, 1)) &&
              nb_module_is_training(nb_sequential_child(c, 5)),
          "st %d nf %d np %d", st, nf, np);
    st = nb_module_freeze(c, "0,layer9", &nf);
    CHECK("a prefix that matches nothing: error naming it", st == NB_ERR_ARG && strstr(nb_last_error(), "'layer9'"), "%s",
          nb_last_error());
    CHECK("prefixes match whole components ('1' is not '12')", nb_module_freeze(c, "1", &nf) == NB_OK && nf == 0, "nf %d", nf);
    nb_module_free(c);

    /* per-group learning rates: SGD without momentum moves each group by lr * grad */
    nb_module *d = nb_model_new(cb, "cnn", &(nb_model_opts){.num_classes = 5});
    nb_module_parameters(d, &np);
    nb_tensor *bbp[16], *hp[16];
    int nbb, nh;
    CHECK("split head: 10 backbone and 2 head tensors", nb_module_split_head(d, bbp, &nbb, hp, &nh) == 0 && nbb == 10 && nh == 2,
          "%d %d", nbb, nh);
    nb_optim *g = nb_sgd_new(hp, nh, &(nb_sgd_opts){.lr = 0.1});
    nb_optim_add_group(g, &(nb_param_group){.params = bbp, .n = nbb, .lr = 0.01});
    nb_ctx_reset(cb);
    x = batch(cb, 8, 5, &y);
    nb_tensor *hw = nb_tensor_from(cb, NB_F32, 2, (int64_t[]){5, 128}, nb_tensor_data(hp[0]));
    nb_tensor *bw = nb_tensor_from(cb, NB_F32, 4, (int64_t[]){32, 1, 3, 3}, nb_tensor_data(bbp[0]));
    nb_optim_zero_grad(g);
    nb_backward(nb_cross_entropy(nb_module_forward(d, x), y, NULL));
    nb_optim_step(g);
    double eh = 0, eb = 0;
    for (int64_t i = 0; i < nb_tensor_numel(hw); i++) {
        double want = nb_tensor_data(hw)[i] - 0.1f * nb_tensor_grad(hp[0])[i];
        eh = fmax(eh, fabs(want - nb_tensor_data(hp[0])[i]));
    }
    for (int64_t i = 0; i < nb_tensor_numel(bw); i++) {
        double want = nb_tensor_data(bw)[i] - 0.01f * nb_tensor_grad(bbp[0])[i];
        eb = fmax(eb, fabs(want - nb_tensor_data(bbp[0])[i]));
    }
    /* float32 updates of weights up to 1/3 round within an ulp (3e-8) of the double
     * reference; a wrong group lr would be off by about 0.09·|g|, far above 1e-7 */
    CHECK("group lrs: head moved by 0.1*grad, backbone by 0.01*grad", eh < 1e-7 && eb < 1e-7 && nb_optim_get_lr(g, 1) == 0.01,
          "err %g %g", eh, eb);
    nb_tensor_free(hw), nb_tensor_free(bw);
    nb_optim_free(g);
    nb_module_free(d);

    nb_module_free(mlp);
    nb_ctx_free(cm);
    nb_module_free(b);
    nb_module_free(a);
    nb_ctx_free(cb);
    nb_ctx_free(ca);
}

/* model: cnn, or mlp under the sanitizers, where every cnn run's evaluation of the
 * test images takes minutes (BatchNorm's eval mode is checked in the library tests). */
static void cli_tests(const char *model)
{
    int cnn = !strcmp(model, "cnn");
    const char *head = cnn ? "12." : "5.";
    int rc = run(NABLA " train --model %s --classes 0-4 --max-steps 20 --threads 1 --quiet --save %s", model,
                 tmp_path("pre_cli.safetensors"));
    CHECK("pretrain on classes 0-4 (20 steps)", rc == 0, "rc %d: %s", rc, out);
    rc = run(NABLA " train --model %s --classes 5-9 --per-class 20 --epochs 2 --threads 1 --pretrained %s --freeze backbone "
                   "--save %s",
             model, tmp_path("pre_cli.safetensors"), tmp_path("frozen.safetensors"));
    CHECK("fine-tune on classes 5-9 with --pretrained --freeze backbone: reports the load and the frozen tensors",
          rc == 0 && strstr(out, cnn ? "pretrained: 16 tensors" : "pretrained: 4 tensors") &&
              strstr(out, cnn ? "frozen: 10 parameter tensors" : "frozen: 4 parameter tensors"),
          "rc %d: %s", rc, out);
    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.threads = 1});
    nb_safetensors *pre = nb_safetensors_open(tmp_path("pre_cli.safetensors")),
                   *ft = nb_safetensors_open(tmp_path("frozen.safetensors"));
    int ok = pre && ft, all_same = 1, head_new = 0;
    for (int i = 0; ok && i < nb_safetensors_count(pre); i++) {
        const char *name = nb_safetensors_name(pre, i);
        nb_tensor *a = nb_safetensors_get(pre, ctx, name), *b = nb_safetensors_get(ft, ctx, name);
        if (!strncmp(name, head, strlen(head))) head_new |= b && nb_tensor_dim(b, 0) == 5;
        else all_same &= same(a, b);
        nb_tensor_free(a), nb_tensor_free(b);
    }
    CHECK("every backbone tensor (BatchNorm statistics included for cnn) is bit for bit the pretrained one; the head has 5 outputs",
          ok && all_same && head_new, "ok %d same %d head %d", ok, all_same, head_new);
    nb_safetensors_close(ft);
    rc = run(NABLA " train --model %s --classes 5-9 --per-class 20 --epochs 1 --threads 1 --quiet --pretrained %s "
                   "--lr-backbone 0.01 --save %s",
             model, tmp_path("pre_cli.safetensors"), tmp_path("unfrozen.safetensors"));
    ft = nb_safetensors_open(tmp_path("unfrozen.safetensors"));
    const char *first = cnn ? "0.weight" : "1.weight";
    nb_tensor *a = pre ? nb_safetensors_get(pre, ctx, first) : NULL, *b = ft ? nb_safetensors_get(ft, ctx, first) : NULL;
    CHECK("--lr-backbone: the backbone trains too", rc == 0 && a && b && !same(a, b), "rc %d: %s", rc, out);
    nb_tensor_free(a), nb_tensor_free(b);
    nb_safetensors_close(ft);
    nb_safetensors_close(pre);
    nb_ctx_free(ctx);
    rc = run(NABLA " train --model resnet_small --pretrained %s --max-steps 1 --quiet", tmp_path("pre_cli.safetensors"));
    CHECK("cnn/mlp weights as --pretrained for resnet_small: status 1, another architecture, names keys",
          rc == 1 && strstr(out, "another architecture") && strstr(out, "conv1.weight"), "rc %d: %s", rc, out);
    rc = run(NABLA " train --model mlp --num-classes 3 --max-steps 1 --quiet");
    CHECK("--num-classes below the dataset's classes: usage error", rc == 2 && strstr(out, "--num-classes 3"), "rc %d: %s", rc, out);
}

int main(void)
{
    if (tmp_dir_init("transfer")) return 2;
    library_tests();
    if (!have_fashion_mnist() || access(NABLA, X_OK))
        printf("SKIP transfer CLI checks: Fashion-MNIST or " NABLA " missing\n");
    else
        cli_tests(SAN ? "mlp" : "cnn");
    if (tmp_dir_remove()) return 2;
    CHECK_DONE();
}
