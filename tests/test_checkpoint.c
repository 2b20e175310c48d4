/* test_checkpoint.c - exact resume and crash safety of checkpoints.
 *
 * Library: a model with BatchNorm (buffers, num_batches_tracked) and Dropout (the
 * context's counter) trained by SGD (momentum, Nesterov, two groups) or Adam
 * (amsgrad) for K steps straight equals K/2 steps, checkpoint, a fresh process
 * state (new context with another seed, new model, new optimizer), load, K/2 more:
 * every parameter and buffer bit for bit. Leaving out a piece of the state (the
 * optimizer, the dropout counter) breaks the equality, so the test can fail.
 * Bad checkpoints (other model, other optimizer, other groups, plain weights,
 * broken metadata) fail with messages naming the problem and change nothing.
 *
 * CLI (needs Fashion-MNIST): `nabla train` of mlp for 2 epochs straight equals 1
 * epoch + --resume + 1 more epoch, and a run SIGKILLed mid-epoch then resumed; cnn
 * the same over fewer steps. SIGKILL in a loop at random moments during a run that
 * checkpoints every step: after every kill the checkpoint loads (and training
 * resumes from it). One kill on purpose in the middle of a write (the writer
 * stopped while its temporary file exists): the temp file is left behind and the
 * previous checkpoint loads. */
#include "check.h"
#include "cli.h"
#include "core/tensor.h"
#include "core/ctx.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#ifdef __SANITIZE_ADDRESS__
#define SAN 1
#else
#define SAN 0
#endif

/* ------------------------------------------------------------------------ */
/* library                                                                   */
/* ------------------------------------------------------------------------ */

enum { IN = 8, HID = 16, OUT = 3, BATCH = 6 };

static nb_module *small_model(nb_ctx *ctx)
{
    nb_module *layers[] = {nb_linear_new(ctx, IN, HID, NULL), nb_batchnorm1d_new(ctx, HID, NULL), nb_relu_new(ctx),
                           nb_dropout_new(ctx, 0.3f), nb_linear_new(ctx, HID, OUT, NULL)};
    return nb_sequential_new(ctx, layers, 5);
}

typedef enum { OPT_SGD, OPT_ADAM } opt_kind;

/* SGD: group 0 = the first Linear, group 1 = the rest with its own lr. */
static nb_optim *make_opt(nb_module *m, opt_kind k)
{
    int n;
    nb_tensor **p = nb_module_parameters(m, &n);
    nb_tensor *ps[16];
    for (int i = 0; i < n; i++) ps[i] = p[i];
    if (k == OPT_ADAM) return nb_adam_new(ps, n, &(nb_adam_opts){.lr = 0.01, .amsgrad = 1, .weight_decay = 1e-3});
    nb_optim *o = nb_sgd_new(ps, 2, &(nb_sgd_opts){.lr = 0.1, .momentum = 0.9, .nesterov = 1, .weight_decay = 1e-4});
    if (o && nb_optim_add_group(o, &(nb_param_group){.params = ps + 2, .n = n - 2, .lr = 0.03})) {
        nb_optim_free(o);
        return NULL;
    }
    return o;
}

/* Step s's batch depends on s only. */
static void batch_of(int s, float *x, int64_t *y)
{
    nb_rng r;
    nb_rng_seed(&r, 1000 + (uint64_t)s);
    for (int i = 0; i < BATCH * IN; i++) x[i] = nb_rng_normal(&r);
    for (int i = 0; i < BATCH; i++) y[i] = (int64_t)nb_rng_below(&r, OUT);
}

static int train_steps(nb_ctx *ctx, nb_module *m, nb_optim *o, int from, int to)
{
    for (int s = from; s < to; s++) {
        float x[BATCH * IN];
        int64_t y[BATCH];
        batch_of(s, x, y);
        nb_ctx_reset(ctx);
        nb_tensor *tx = nb__empty(ctx, NB_F32, 2, (int64_t[]){BATCH, IN});
        nb_tensor *ty = nb__empty(ctx, NB_I64, 1, (int64_t[]){BATCH});
        if (!tx || !ty) return -1;
        memcpy(nb__f(tx), x, sizeof x);
        memcpy(nb__i(ty), y, sizeof y);
        nb_optim_zero_grad(o);
        nb_tensor *loss = nb_cross_entropy(nb_module_forward(m, tx), ty, NULL);
        if (!loss || nb_backward(loss) || nb_optim_step(o)) return -1;
    }
    return 0;
}

/* Every tensor of the state_dict, concatenated as bytes, into buf; returns bytes. */
static size_t state_bytes(nb_module *m, unsigned char *buf, size_t cap)
{
    int n;
    const nb_named_tensor *s = nb_module_state(m, &n);
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        nb_tensor *t = s[i].tensor;
        size_t b = (size_t)nb_tensor_numel(t) * 4 * (nb_tensor_dtype(t) == NB_I64 ? 2 : 1);
        if (k + b > cap) return 0;
        memcpy(buf + k, nb_tensor_dtype(t) == NB_F32 ? (void *)nb_tensor_data(t) : (void *)nb_tensor_data_i64(t), b);
        k += b;
    }
    return k;
}

typedef enum { RESUME_ALL, RESUME_NO_OPTIM, RESUME_NO_COUNTER } resume_mode;

/* K steps straight into ref; K/2, checkpoint, fresh everything, load, K/2 more into got. */
static int run_pair(opt_kind k, resume_mode mode, int K, unsigned char *ref, unsigned char *got, size_t cap,
                    size_t *nbytes)
{
    nb_ctx *c1 = nb_ctx_new(&(nb_ctx_opts){.seed = 7, .threads = 1});
    nb_module *m1 = small_model(c1);
    nb_optim *o1 = m1 ? make_opt(m1, k) : NULL;
    if (!o1 || train_steps(c1, m1, o1, 0, K)) return -1;
    size_t n1 = state_bytes(m1, ref, cap);
    nb_optim_free(o1);
    nb_module_free(m1);
    nb_ctx_free(c1);

    nb_ctx *c2 = nb_ctx_new(&(nb_ctx_opts){.seed = 7, .threads = 1});
    nb_module *m2 = small_model(c2);
    nb_optim *o2 = m2 ? make_opt(m2, k) : NULL;
    if (!o2 || train_steps(c2, m2, o2, 0, K / 2)) return -1;
    nb_train_position pos = {.epoch = 3, .batch = K / 2, .step = K / 2, .sched_step = 3, .loader_seed = 11};
    const char *meta[] = {"model", "small"};
    if (nb_checkpoint_save(tmp_path("lib.ckpt"), m2, o2, c2, &pos, meta, 1)) return -1;
    nb_optim_free(o2);
    nb_module_free(m2);
    nb_ctx_free(c2);

    /* a fresh start with another seed: only the checkpoint can make it agree */
    nb_ctx *c3 = nb_ctx_new(&(nb_ctx_opts){.seed = 99, .threads = 1});
    nb_module *m3 = small_model(c3);
    nb_optim *o3 = m3 ? make_opt(m3, k) : NULL;
    nb_train_position got_pos;
    if (!o3 || nb_checkpoint_load(tmp_path("lib.ckpt"), m3, mode == RESUME_NO_OPTIM ? NULL : o3, c3, &got_pos))
        return -1;
    if (got_pos.epoch != 3 || got_pos.batch != K / 2 || got_pos.step != K / 2 || got_pos.sched_step != 3 ||
        got_pos.loader_seed != 11)
        return -2;
    if (mode == RESUME_NO_COUNTER) c3->step_counter = 0;
    if (train_steps(c3, m3, o3, K / 2, K)) return -1;
    size_t n3 = state_bytes(m3, got, cap);
    nb_optim_free(o3);
    nb_module_free(m3);
    nb_ctx_free(c3);
    *nbytes = n1;
    return n1 && n1 == n3 ? 0 : -3;
}

static void library_tests(void)
{
    static unsigned char ref[1 << 16], got[1 << 16];
    size_t n = 0;
    const char *names[2] = {"SGD (momentum, nesterov, 2 groups)", "Adam (amsgrad)"};
    for (int k = 0; k < 2; k++) {
        char name[160];
        int rc = run_pair((opt_kind)k, RESUME_ALL, 20, ref, got, sizeof ref, &n);
        snprintf(name, sizeof name, "%s: 20 steps == 10 + checkpoint + load + 10, bit for bit", names[k]);
        CHECK(name, rc == 0 && !memcmp(ref, got, n), "rc %d: %s", rc, nb_last_error());
        rc = run_pair((opt_kind)k, RESUME_NO_OPTIM, 20, ref, got, sizeof ref, &n);
        snprintf(name, sizeof name, "%s: without the optimizer state the weights differ", names[k]);
        CHECK(name, rc == 0 && memcmp(ref, got, n), "rc %d: %s", rc, nb_last_error());
        rc = run_pair((opt_kind)k, RESUME_NO_COUNTER, 20, ref, got, sizeof ref, &n);
        snprintf(name, sizeof name, "%s: without the dropout counter the weights differ", names[k]);
        CHECK(name, rc == 0 && memcmp(ref, got, n), "rc %d: %s", rc, nb_last_error());
    }

    /* what the file holds */
    nb_safetensors *f = nb_safetensors_open(tmp_path("lib.ckpt"));
    CHECK("checkpoint opens as plain safetensors", f != NULL, "%s", nb_last_error());
    if (f) {
        CHECK("holds model.* with buffers, optimizer state and metadata",
              nb_safetensors_find(f, "model.1.running_var") >= 0 && nb_safetensors_find(f, "model.1.num_batches_tracked") >= 0 &&
                  nb_safetensors_find(f, "optim.state.0.exp_avg_sq") >= 0 &&
                  nb_safetensors_find(f, "optim.state.5.max_exp_avg_sq") >= 0 &&
                  nb_safetensors_metadata(f, "nabla.rng") && nb_safetensors_metadata(f, "nabla.dropout_counter") &&
                  !strcmp(nb_safetensors_metadata(f, "model"), "small") &&
                  !strcmp(nb_safetensors_metadata(f, "nabla.group.0.lr"), "0.01"),
              "keys missing");
        nb_safetensors_close(f);
    }

    /* bad checkpoints change nothing and say why */
    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.seed = 1, .threads = 1});
    nb_module *m = small_model(ctx);
    nb_optim *sgd = make_opt(m, OPT_SGD);
    static unsigned char before[1 << 16], after[1 << 16];
    size_t nb = state_bytes(m, before, sizeof before);
    nb_rng rng_before = ctx->rng;

    nb_clear_error();
    nb_status st = nb_checkpoint_load(tmp_path("lib.ckpt"), m, sgd, ctx, NULL);
    const char *msg = nb_last_error();
    CHECK("an Adam checkpoint into SGD: fails naming exp_avg and the groups", st != NB_OK && (strstr(msg, "exp_avg") || strstr(msg, "group")),
          "st %d: %s", st, msg);

    nb_optim *sgd1 = nb_sgd_new(nb_module_parameters(m, &(int){0}), 6, &(nb_sgd_opts){.lr = 0.1, .momentum = 0.9});
    nb_train_position pos = {.epoch = 1};
    CHECK("save with a one-group SGD", nb_checkpoint_save(tmp_path("sgd1.ckpt"), m, sgd1, ctx, &pos, NULL, 0) == NB_OK,
          "%s", nb_last_error());
    st = nb_checkpoint_load(tmp_path("sgd1.ckpt"), m, sgd, ctx, NULL);
    msg = nb_last_error();
    CHECK("one group into two: fails naming both counts", st == NB_ERR_ARG && strstr(msg, "1 parameter group") && strstr(msg, "has 2"),
          "st %d: %s", st, msg);

    nb_ctx *c2 = nb_ctx_new(&(nb_ctx_opts){.threads = 1});
    nb_module *other_layers[] = {nb_linear_new(c2, IN, HID, NULL), nb_relu_new(c2), nb_linear_new(c2, HID, HID, NULL),
                                 nb_relu_new(c2), nb_linear_new(c2, HID, 5, NULL)};
    nb_module *other = nb_sequential_new(c2, other_layers, 5);
    nb_optim *other_opt = nb_sgd_new(nb_module_parameters(other, &(int){0}), 6, &(nb_sgd_opts){.lr = 0.1, .momentum = 0.9});
    CHECK("save another architecture", nb_checkpoint_save(tmp_path("other.ckpt"), other, other_opt, c2, &pos, NULL, 0) == NB_OK,
          "%s", nb_last_error());
    st = nb_checkpoint_load(tmp_path("other.ckpt"), m, sgd1, ctx, NULL);
    msg = nb_last_error();
    CHECK("another architecture: names missing, unexpected and mismatched keys",
          st == NB_ERR_SHAPE && strstr(msg, "missing: model.1.weight") && strstr(msg, "unexpected: model.2.weight") &&
              strstr(msg, "model.4.weight (file F32 [5, 16], here F32 [3, 16])"),
          "st %d: %s", st, msg);

    CHECK("plain weights file", nb_save_safetensors(m, tmp_path("w.safetensors")) == NB_OK, "%s", nb_last_error());
    st = nb_checkpoint_load(tmp_path("w.safetensors"), m, sgd, ctx, NULL);
    msg = nb_last_error();
    CHECK("plain weights: not a checkpoint, says what to use", st == NB_ERR_FORMAT && strstr(msg, "not a nabla checkpoint") && strstr(msg, "--init"),
          "st %d: %s", st, msg);
    st = nb_checkpoint_load(tmp_path("nonexistent.ckpt"), m, sgd, ctx, NULL);
    CHECK("missing file: NB_ERR_IO naming it", st == NB_ERR_IO && strstr(nb_last_error(), "nonexistent.ckpt"), "st %d: %s", st,
          nb_last_error());
    CHECK("nb_last_status: the kind of the last failure", nb_last_status() == NB_ERR_IO, "%d", (int)nb_last_status());
    nb_clear_error();
    CHECK("nb_clear_error: NB_OK", nb_last_status() == NB_OK && !*nb_last_error(), "%d", (int)nb_last_status());

    /* broken metadata: rewrite the one-group checkpoint with a bad value */
    const char *const bad_meta[][2] = {
        {"nabla.rng", "12 34 zz 1"}, {"nabla.rng", "0 0 0 0"}, {"nabla.epoch", "-1"},
        {"nabla.step", "12abc"},     {"nabla.group.0.lr", "nan"}, {"nabla.checkpoint", "2"},
        {"nabla.group.0.base_lr", "0"}, {"nabla.group.0.lr", "-1"},
    };
    nb_safetensors *src = nb_safetensors_open(tmp_path("sgd1.ckpt"));
    int nt = nb_safetensors_count(src);
    nb_named_tensor ts[64];
    for (int i = 0; i < nt && i < 64; i++)
        ts[i] = (nb_named_tensor){.name = nb_safetensors_name(src, i),
                                  .tensor = nb_safetensors_get(src, ctx, nb_safetensors_name(src, i))};
    const char *keys[] = {"nabla.checkpoint", "nabla.epoch", "nabla.batch", "nabla.step", "nabla.sched_step",
                          "nabla.loader_seed", "nabla.rng", "nabla.seed", "nabla.dropout_counter", "nabla.groups",
                          "nabla.group.0.lr", "nabla.group.0.base_lr", "nabla.group.0.momentum"};
    for (size_t b = 0; b < sizeof bad_meta / sizeof bad_meta[0]; b++) {
        const char *meta[26];
        for (int i = 0; i < 13; i++) {
            meta[2 * i] = keys[i];
            meta[2 * i + 1] = strcmp(keys[i], bad_meta[b][0]) ? nb_safetensors_metadata(src, keys[i]) : bad_meta[b][1];
        }
        nb_safetensors_write(tmp_path("badmeta.ckpt"), ts, nt, meta, 13);
        nb_clear_error();
        st = nb_checkpoint_load(tmp_path("badmeta.ckpt"), m, sgd1, ctx, NULL);
        char name[160];
        snprintf(name, sizeof name, "metadata %s = \"%s\": NB_ERR_FORMAT naming the key", bad_meta[b][0], bad_meta[b][1]);
        CHECK(name, st == NB_ERR_FORMAT && strstr(nb_last_error(), b == 5 ? "version" : bad_meta[b][0]), "st %d: %s", st,
              nb_last_error());
    }
    for (int i = 0; i < nt && i < 64; i++) nb_tensor_free(ts[i].tensor);
    nb_safetensors_close(src);

    size_t na = state_bytes(m, after, sizeof after);
    CHECK("failed loads changed neither the weights nor the generator",
          na == nb && !memcmp(before, after, nb) && !memcmp(&rng_before, &ctx->rng, sizeof rng_before), "changed");
    CHECK("reserved metadata keys are refused",
          nb_checkpoint_save(tmp_path("x.ckpt"), m, sgd, ctx, &pos, (const char *[]){"nabla.epoch", "5"}, 1) == NB_ERR_ARG,
          "accepted");

    /* weights only: opt NULL ignores the optimizer entries */
    st = nb_checkpoint_load(tmp_path("sgd1.ckpt"), m, NULL, ctx, &pos);
    CHECK("load with opt NULL restores the weights only", st == NB_OK && pos.epoch == 1, "st %d: %s", st, nb_last_error());

    nb_optim_free(other_opt);
    nb_module_free(other);
    nb_ctx_free(c2);
    nb_optim_free(sgd1);
    nb_optim_free(sgd);
    nb_module_free(m);
    nb_ctx_free(ctx);
}

/* ------------------------------------------------------------------------ */
/* CLI                                                                       */
/* ------------------------------------------------------------------------ */

static int same_file(const char *a, const char *b)
{
    return run("cmp %s %s", a, b) == 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Start `sh -c cmd` in its own process group, output discarded. */
static pid_t spawn(const char *cmd)
{
    fflush(stdout); /* else the child's freopen writes our pending output a second time */
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        freopen("/dev/null", "w", stdout);
        freopen("/dev/null", "w", stderr);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* Temporary files "<ckpt>.tmp.*" left by killed writers: count and remove. */
static int stale_temps(const char *ckpt)
{
    run("ls %s.tmp.* 2>/dev/null | wc -l; rm -f %s.tmp.*", ckpt, ckpt);
    return atoi(out);
}

/* The checkpoint loads into mlp + the CLI's default SGD; its step, or -1. */
static int64_t loads_as_mlp(const char *path)
{
    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.threads = 1});
    nb_module *m = nb_model_new(ctx, "mlp", NULL);
    int n;
    nb_tensor **p = nb_module_parameters(m, &n);
    nb_optim *o = nb_sgd_new(p, n, &(nb_sgd_opts){.lr = 0.05, .momentum = 0.9, .weight_decay = 5e-4});
    nb_train_position pos;
    int64_t step = nb_checkpoint_load(path, m, o, ctx, &pos) == NB_OK ? pos.step : -1;
    nb_optim_free(o);
    nb_module_free(m);
    nb_ctx_free(ctx);
    return step;
}

static void cli_resume(const char *model, const char *budget, const char *half, const char *every)
{
    char cmd[2048], name[256];
    const char *base = NABLA " train --threads 1 --quiet --seed 3";
    const char *ref = tmp_path("ref.st"), *res = tmp_path("res.st"), *ck = tmp_path("run.ckpt");
    remove(ck);
    int rc = run("%s --model %s %s --save %s", base, model, budget, ref);
    snprintf(name, sizeof name, "%s %s straight", model, budget);
    CHECK(name, rc == 0, "rc %d: %s", rc, out);

    /* stop half-way (end of epoch 1 for the epoch budget), then resume */
    rc = run("%s --model %s %s %s --checkpoint %s", base, model, budget, half, ck);
    int rc2 = run("%s --model %s %s --resume %s --save %s", base, model, budget, ck, res);
    snprintf(name, sizeof name, "%s: stop at %s, --resume, finish: bit-identical to the straight run", model, half);
    CHECK(name, rc == 0 && rc2 == 0 && same_file(ref, res), "rc %d/%d: %s", rc, rc2, out);

    /* SIGKILL mid-run, resume from the last checkpoint */
    remove(ck);
    remove(res);
    snprintf(cmd, sizeof cmd, "exec %s --model %s %s --checkpoint %s --checkpoint-every %s", base, model, budget, ck,
             every);
    pid_t pid = spawn(cmd);
    int64_t step = -1;
    for (double t0 = now(); now() - t0 < 120 && step < 0;) {
        usleep(10000);
        struct stat sb;
        if (!stat(ck, &sb)) step = 1;
    }
    /* soon after the first checkpoint, well before the run's end even on a fast
     * machine (a fixed delay let fast CI machines finish the run first) */
    usleep(50000);
    kill(pid, SIGKILL);
    int ws;
    waitpid(pid, &ws, 0);
    stale_temps(ck);
    step = loads_as_mlp(ck);
    rc = run("%s --model %s %s --resume %s --save %s", base, model, budget, ck, res);
    snprintf(name, sizeof name, "%s: SIGKILL mid-run (killed: %d), --resume: bit-identical to the straight run", model,
             WIFSIGNALED(ws));
    CHECK(name, WIFSIGNALED(ws) && rc == 0 && same_file(ref, res), "rc %d, signalled %d: %s", rc, WIFSIGNALED(ws), out);
    if (!strcmp(model, "mlp")) printf("    (killed at checkpoint step %lld)\n", (long long)step);
}

/* Catch a checkpoint write in the act: watch the directory for the writer's temp
 * file "<ckpt>.tmp.<pid>", stop the writer (SIGSTOP) as soon as it appears, and if
 * the temp file is still there while it is stopped, kill it (SIGKILL): that kill
 * lands mid-write by construction. A write that finished before the stop took
 * effect is let go (SIGCONT) and the next one (one per step) is tried. Returns 1
 * when a write was caught; the run is killed in any case. */
static int kill_mid_write(const char *ck, const char *cmd)
{
    int fd = inotify_init1(IN_NONBLOCK);
    if (fd < 0 || inotify_add_watch(fd, tmp_dir, IN_CREATE) < 0) {
        printf("    inotify: %s\n", strerror(errno));
        if (fd >= 0) close(fd);
        return 0;
    }
    pid_t pid = spawn(cmd);
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", ck, (long)pid);
    const char *tmp_name = strrchr(tmp, '/') + 1;
    int caught = 0, tries = 0, exited = 0;
    for (double t0 = now(); !caught && !exited && tries < 100 && now() - t0 < 300;) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, 200) <= 0) {
            exited = waitpid(pid, NULL, WNOHANG) == pid;
            continue;
        }
        char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
        ssize_t n = read(fd, buf, sizeof buf);
        for (ssize_t at = 0; at < n && !caught;) {
            const struct inotify_event *ev = (const struct inotify_event *)(buf + at);
            at += (ssize_t)sizeof *ev + ev->len;
            struct stat sb;
            if (!ev->len || strcmp(ev->name, tmp_name) || stat(ck, &sb)) continue; /* not ours, or no previous */
            int ws;
            kill(pid, SIGSTOP);
            if (waitpid(pid, &ws, WUNTRACED) != pid || !WIFSTOPPED(ws)) {
                exited = 1;
                break;
            }
            caught = !stat(tmp, &sb);
            if (!caught) kill(pid, SIGCONT), tries++;
        }
    }
    if (!exited) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    close(fd);
    if (caught) printf("    caught write %d in the act (the ones before had finished when the stop landed)\n", tries + 1);
    else printf("    no write caught: %d writes finished before the stop%s\n", tries, exited ? ", run ended" : "");
    return caught;
}

/* Kill a run that checkpoints every step at random moments, again and again,
 * resuming each time: every kill leaves a checkpoint that loads. Then kill one
 * in the middle of a write, on purpose: the previous checkpoint still loads. */
static void kill_loop(int rounds)
{
    const char *ck = tmp_path("loop.ckpt");
    remove(ck);
    char cmd[2048];
    nb_rng r;
    nb_rng_seed(&r, (uint64_t)time(NULL));
    int loaded = 0, existed = 0, mid_write = 0, regressed = 0;
    int64_t last = 0, first_step = -1;
    for (int k = 0; k < rounds; k++) {
        struct stat sb;
        int have = !stat(ck, &sb);
        snprintf(cmd, sizeof cmd,
                 "exec " NABLA " train --model mlp --epochs 3 --threads 1 --quiet --checkpoint %s --checkpoint-every 1 %s%s",
                 ck, have ? "--resume " : "", have ? ck : "");
        pid_t pid = spawn(cmd);
        /* random moments: mostly after start-up, when checkpoints are being written */
        double delay = (SAN ? 2.0 : 0.7) + (SAN ? 3.0 : 1.5) * nb_rng_uniform(&r);
        usleep((useconds_t)(delay * 1e6));
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        mid_write += stale_temps(ck) > 0;
        if (stat(ck, &sb)) continue;
        existed++;
        int64_t step = loads_as_mlp(ck);
        if (step >= 0) loaded++;
        else printf("    round %d: %s\n", k, nb_last_error());
        if (step < last) regressed++;
        if (first_step < 0) first_step = step;
        last = step;
    }
    printf("    %d kills: checkpoint present after %d, loaded %d; %d of them hit a write in progress; steps %lld -> %lld\n",
           rounds, existed, loaded, mid_write, (long long)first_step, (long long)last);
    CHECK("SIGKILL at random moments: every checkpoint left behind loads", existed > rounds / 2 && loaded == existed,
          "%d present, %d loaded", existed, loaded);
    CHECK("resumed runs move forward (the step never goes back)", regressed == 0 && last > first_step,
          "%d regressions, %lld -> %lld", regressed, (long long)first_step, (long long)last);

    /* a fresh run (the one above may have reached its end) */
    ck = tmp_path("mid.ckpt");
    snprintf(cmd, sizeof cmd,
             "exec " NABLA " train --model mlp --epochs 1 --threads 1 --quiet --checkpoint %s --checkpoint-every 1", ck);
    int caught = kill_mid_write(ck, cmd);
    int temps = stale_temps(ck);
    int64_t step = loads_as_mlp(ck);
    CHECK("SIGKILL in the middle of a write: its temp file is left and the previous checkpoint loads",
          caught && temps == 1 && step >= 1, "caught %d, temp files %d, step %lld: %s", caught, temps, (long long)step,
          step < 0 ? nb_last_error() : "");
}

int main(void)
{
    if (tmp_dir_init("ckpt")) {
        perror("mkdtemp");
        return 2;
    }
    library_tests();
    if (!have_fashion_mnist()) {
        printf("SKIP checkpoint CLI checks: Fashion-MNIST is not installed\n");
    } else if (access(NABLA, X_OK)) {
        printf("SKIP checkpoint CLI checks: " NABLA " is not built\n");
    } else {
        if (SAN)
            cli_resume("mlp", "--epochs 2 --max-steps 120", "--max-steps 60", "7");
        else
            cli_resume("mlp", "--epochs 2", "--max-steps 469", "50");
        /* cnn through the CLI: each run ends with a cnn evaluation of 10,000 test images,
         * minutes under ASan; the sanitizer build covers BatchNorm and Dropout resume in
         * the library tests above */
        if (SAN) printf("SKIP cnn CLI resume under the sanitizers (slow); the plain build runs it\n");
        else cli_resume("cnn", "--max-steps 40", "--max-steps 20", "3");
        kill_loop(SAN ? 8 : 20);
    }
    tmp_dir_remove();
    CHECK_DONE();
}
