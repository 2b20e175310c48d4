/* cmd_train.c - `nabla train`: train a built-in model on Fashion-MNIST (or MNIST);
 * the default is the cnn3 with bench/torch_bench.py's recipe, annealed. */
#include "cli.h"
#include "dist_cli.h"
#include "ema.h"
#include "options.h"
#include "progress.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *SYNOPSIS = "[--model NAME] [--data DIR] [--epochs N] [options]";

typedef struct {
    const char *model, *data, *dataset, *augment, *optimizer, *schedule, *init, *save, *log_json, *checkpoint, *resume;
    const char *classes, *pretrained, *freeze;
    long checkpoint_every, per_class, num_classes;
    double lr_backbone;
    long epochs, batch, seed, threads, max_steps, log_every, step_size, warmup, warmup_steps, workers;
    int nesterov, no_shuffle, quiet, sync_bn, per_step;
    double lr, momentum, weight_decay, clip_norm, clip_value, gamma, dropout, l1, l2, mixup, cutmix, smoothing;
    double ema; /* --ema: the decay of the weights' moving average (0: off) */
} train_args;

/* A float for the JSON log: the shortest of %.6g .. %.9g that reads back as the same
 * float, so runs compare exactly and 0.02f stays "0.02" (not "0.0199999996"). */
static const char *float_str(char *buf, size_t n, float v)
{
    for (int p = 6; p < 9; p++) {
        snprintf(buf, n, "%.*g", p, (double)v);
        if (strtof(buf, NULL) == v) return buf;
    }
    snprintf(buf, n, "%.9g", (double)v);
    return buf;
}

/* Member key of the log line o: the float v as float_str writes it. */
static int float_member(cJSON *o, const char *key, float v)
{
    char buf[32];
    if (!isfinite(v)) return cli_json_number(o, key, "%g", v); /* null */
    return o && cJSON_AddRawToObject(o, key, float_str(buf, sizeof buf, v)) ? 0 : -1;
}

static int make_optimizer(const train_args *a, nb_module *m, nb_optim **out)
{
    int n, nb = 0, nh = 0;
    nb_tensor **params = nb_module_parameters(m, &n);
    nb_tensor **split = NULL, **backbone = NULL;
    if (a->lr_backbone > 0) { /* --lr-backbone: group 0 the head at --lr, group 1 the backbone */
        if (!(split = malloc(sizeof *split * (size_t)(2 * n + 1)))) {
            cli_error("train: out of memory");
            return 1;
        }
        backbone = split + n;
        if (nb_module_split_head(m, backbone, &nb, split, &nh)) {
            free(split);
            cli_error("train: --lr-backbone: %s", nb_last_error());
            return 2;
        }
        params = split;
        n = nh;
    }
    if (!strcmp(a->optimizer, "sgd")) {
        *out = nb_sgd_new(params, n, &(nb_sgd_opts){.lr = (float)a->lr, .momentum = (float)a->momentum,
                                                     .weight_decay = (float)a->weight_decay,
                                                     .nesterov = a->nesterov});
    } else if (!strcmp(a->optimizer, "adam") || !strcmp(a->optimizer, "adamw")) {
        nb_adam_opts o = {.lr = (float)a->lr, .weight_decay = (float)a->weight_decay};
        if (!strcmp(a->optimizer, "adamw") && a->weight_decay == 0) o.weight_decay = -1; /* explicit 0 */
        *out = a->optimizer[4] ? nb_adamw_new(params, n, &o) : nb_adam_new(params, n, &o);
    } else {
        cli_error("train: unknown optimizer '%s' (sgd, adam, adamw)", a->optimizer);
        return 2;
    }
    if (*out && nb && nb_optim_add_group(*out, &(nb_param_group){.params = backbone, .n = nb, .lr = a->lr_backbone})) {
        nb_optim_free(*out);
        *out = NULL;
    }
    free(split);
    if (!*out) {
        cli_error("train: %s", nb_last_error());
        return 1;
    }
    return 0;
}

static int parse_schedule(const train_args *a, nb_sched_opts *s)
{
    *s = (nb_sched_opts){.warmup = (int)a->warmup};
    if (!strcmp(a->schedule, "none")) s->kind = NB_SCHED_NONE;
    else if (!strcmp(a->schedule, "step")) {
        s->kind = NB_SCHED_STEP;
        s->step_size = (int)a->step_size;
        s->gamma = (float)a->gamma;
    } else if (!strcmp(a->schedule, "cosine")) {
        s->kind = NB_SCHED_COSINE;
        s->t_max = (int)(a->epochs - a->warmup > 0 ? a->epochs - a->warmup : 1);
    } else {
        cli_error("train: unknown --lr-schedule '%s' (none, step, cosine)", a->schedule);
        return 2;
    }
    return 0;
}

/* --lr-per-step: the schedule's t counts optimizer steps, so its lengths in epochs
 * become steps (warm-up: --warmup-steps when given); cosine anneals to the last step. */
static void schedule_per_step(const train_args *a, nb_sched_opts *s, int64_t steps_per_epoch)
{
    int64_t total = steps_per_epoch * a->epochs, w = a->warmup_steps ? a->warmup_steps : a->warmup * steps_per_epoch;
    s->warmup = (int)w;
    s->step_size = (int)(a->step_size * steps_per_epoch);
    s->t_max = (int)(total - w > 0 ? total - w : 1);
}

/* The settings a --resume must repeat, stored in the checkpoint's metadata:
 * key (also the option's name without "--"), value. */
enum { N_RESUME_KEYS = 10 };
static void resume_keys(const train_args *a, char num[5][32], const char *kv[2 * N_RESUME_KEYS])
{
    snprintf(num[4], 32, "%.9g", a->lr); /* a resume with another --lr is refused, not silently one of them */
    snprintf(num[0], 32, "%ld", a->batch);
    snprintf(num[1], 32, "%g", a->mixup);
    snprintf(num[2], 32, "%g", a->cutmix);
    snprintf(num[3], 32, "%ld", a->per_class > 0 ? a->per_class : 0);
    const char *v[2 * N_RESUME_KEYS] = {"model", a->model, "optimizer", a->optimizer, "batch-size", num[0],
                                        "augment", a->augment ? a->augment : "", "mixup", num[1], "cutmix", num[2],
                                        "classes", a->classes ? a->classes : "", "per-class", num[3],
                                        "freeze", a->freeze ? a->freeze : "", "lr", num[4]};
    memcpy(kv, v, sizeof v);
}

/* The run's effective options beside a weights or checkpoint file: W.safetensors ->
 * W.conf, which `nabla train --config W.conf` reads back. */
static int save_config(const char *weights, const cli_option *opts)
{
    char path[4200];
    cli_replace_ext(weights, ".conf", path, sizeof path);
    return cli_write_config(path, "train", opts,
                            "nabla train: the effective options of the run that wrote this file's weights; "
                            "`nabla train --config FILE` repeats it");
}

/* --checkpoint: the run's position and the settings a resume must repeat. */
static nb_status save_checkpoint(const train_args *a, nb_module *m, nb_optim *opt, nb_ctx *ctx, int epoch,
                                 int64_t batch, int64_t step, const cli_option *opts)
{
    if (nb_module_check_finite(m)) return NB_ERR_NAN; /* never written over a good checkpoint */
    char num[5][32], ranks[16];
    const char *meta[2 * N_RESUME_KEYS + 2];
    resume_keys(a, num, meta);
    snprintf(ranks, sizeof ranks, "%d", nb_dist_world()); /* informative: a resume may use another number */
    meta[2 * N_RESUME_KEYS] = "ranks";
    meta[2 * N_RESUME_KEYS + 1] = ranks;
    nb_train_position pos = {.epoch = epoch, .batch = batch, .step = step, .sched_step = epoch,
                             .loader_seed = (uint64_t)a->seed};
    nb_status st = nb_checkpoint_save(a->checkpoint, m, opt, ctx, &pos, meta, N_RESUME_KEYS + 1);
    /* its .conf once the checkpoint exists: a failed write leaves no orphan */
    static int conf_written;
    if (!st && !conf_written) {
        if (save_config(a->checkpoint, opts)) return NB_ERR_IO;
        conf_written = 1;
    }
    return st;
}

/* --resume: the checkpoint must come from a run with the same model, optimizer,
 * batch size, augmentation and seed; then model, optimizer and generator continue
 * from it. */
static int resume_checkpoint(const train_args *a, nb_module *m, nb_optim *opt, nb_ctx *ctx, nb_train_position *pos)
{
    nb_safetensors *f = nb_safetensors_open(a->resume);
    if (!f) {
        cli_error("train: --resume: %s", nb_last_error());
        return 1;
    }
    char num[5][32];
    const char *want[2 * N_RESUME_KEYS];
    resume_keys(a, num, want);
    for (int i = 0; i < N_RESUME_KEYS; i++) {
        const char *had = nb_safetensors_metadata(f, want[2 * i]);
        if (had && strcmp(had, want[2 * i + 1])) {
            cli_error("train: --resume %s was written with --%s '%s', not '%s'; resume with the same settings",
                      a->resume, want[2 * i], had, want[2 * i + 1]);
            nb_safetensors_close(f);
            return 2;
        }
    }
    const char *ranks = nb_safetensors_metadata(f, "ranks");
    if (ranks && atoi(ranks) != nb_dist_world() && !a->quiet)
        fprintf(stderr,
                "resume: %s was written by %s ranks and this run has %d: the batch position counts batches of the "
                "new shards and the global batch is now %d x --batch-size (docs/distributed.md)\n",
                a->resume, ranks, nb_dist_world(), nb_dist_world());
    nb_safetensors_close(f);
    if (nb_checkpoint_load(a->resume, m, opt, ctx, pos)) {
        cli_error("train: --resume: %s", nb_last_error());
        return 1;
    }
    if (pos->loader_seed != (uint64_t)a->seed) {
        cli_error("train: --resume %s was written with --seed %llu; resume with the same seed", a->resume,
                  (unsigned long long)pos->loader_seed);
        return 2;
    }
    return 0;
}

/* Each bad value named with its option (and FILE:LINE when a config file gave it). */
static int check_args(const train_args *a)
{
    const struct {
        int bad;
        const char *name;
        const void *dest;
        const char *must;
    } checks[] = {
        {a->epochs < 1, "--epochs", &a->epochs, "positive"},
        {a->batch < 1, "--batch-size", &a->batch, "positive"},
        {!(a->lr > 0), "--lr", &a->lr, "positive"},
        {a->weight_decay < 0, "--weight-decay", &a->weight_decay, "0 or more"},
        {a->momentum < 0, "--momentum", &a->momentum, "0 or more"},
        {a->dropout != -1 && !(a->dropout >= 0 && a->dropout < 1), "--dropout", &a->dropout,
         "in [0, 1) (or -1: the model's own)"},
        {a->clip_norm < 0, "--clip-grad-norm", &a->clip_norm, "0 (off) or more"},
        {a->clip_value < 0, "--clip-grad-value", &a->clip_value, "0 (off) or more"},
        {!(a->smoothing >= 0 && a->smoothing <= 1), "--label-smoothing", &a->smoothing, "in [0, 1]"},
        {a->l1 < 0, "--l1", &a->l1, "0 or more"},
        {a->l2 < 0, "--l2", &a->l2, "0 or more"},
        {a->lr_backbone < 0, "--lr-backbone", &a->lr_backbone, "0 (off) or more"},
        {a->per_class == 0 || a->per_class < -1, "--per-class", &a->per_class, "positive (or -1: every image)"},
        {a->log_every < 0, "--log-every", &a->log_every, "0 or more"},
        {a->max_steps < 0, "--max-steps", &a->max_steps, "0 (no limit) or more"},
        {a->warmup < 0, "--warmup-epochs", &a->warmup, "0 or more"},
        {a->warmup_steps < 0, "--warmup-steps", &a->warmup_steps, "0 or more"},
        {a->checkpoint_every < 0, "--checkpoint-every", &a->checkpoint_every, "0 or more"},
        {a->num_classes < 0, "--num-classes", &a->num_classes, "positive"},
        {!(a->ema >= 0 && a->ema < 1), "--ema", &a->ema, "in [0, 1) (0: off)"},
    };
    for (size_t i = 0; i < sizeof checks / sizeof *checks; i++)
        if (checks[i].bad) {
            cli_error("train: %s%s must be %s", cli_where(checks[i].dest), checks[i].name, checks[i].must);
            return 2;
        }
    if (a->warmup_steps && !a->per_step) {
        cli_error("train: --warmup-steps needs --lr-per-step (the schedule stepped every optimizer step)");
        return 2;
    }
    if (a->ema > 0 && a->resume) {
        cli_error("train: --ema with --resume: checkpoints hold the model's weights, not their moving average, so "
                  "a resumed run could not continue it");
        return 2;
    }
    if (!(a->mixup >= 0) || !(a->cutmix >= 0)) {
        cli_error("train: --mixup and --cutmix take a positive ALPHA");
        return 2;
    }
    return 0;
}

/* What the steps of one run share. Under mpirun this process is rank R of W
 * (docs/distributed.md); only rank 0 prints, logs and writes files. */
typedef struct {
    train_args *a;
    const cli_option *opts; /* for the .conf files beside --save and --checkpoint */
    int R, W;
    int agreed;   /* every rank has this error */
    int building; /* until nb_ddp_new, whose first collective agrees on errors (nb_dist_agree) */
    int logging;  /* --log-json on any rank: evaluation is collective */
    nb_transform *tf; /* --augment, applied to training samples only */
    nb_sched_opts sched;
    nb_ctx *ctx;
    nb_dataset *train, *test, *test_shard;
    nb_module *model;
    nb_ddp *ddp;
    nb_optim *opt;
    cli_ema *ema; /* --ema */
    nb_loader *loader;
    cli_log *log;
    progress bar;
    nb_tensor **params;
    int nparams;
    nb_train_position start; /* where a --resume continues */
    int64_t steps_per_epoch, total_steps, step, images;
    double train_time;
    nb_eval_result ev;
} trainer;

/* What a step returns: 0, FAILED (a library error, its message in nb_last_error()
 * and not printed yet) or the exit status of an error already printed. */
enum { FAILED = -1 };

/* The training and test sets: opened (every rank agrees they are), checked,
 * subset by --classes/--per-class; chw: a transformed sample's shape. */
static int load_data(trainer *t, int64_t chw[3])
{
    train_args *a = t->a;
    if (!(t->train = nb_dataset_open(a->dataset, a->data, 1)) || !(t->test = nb_dataset_open(a->dataset, a->data, 0))) {
        if (t->W == 1) return FAILED;
    }
    if (t->W > 1 && (t->agreed = nb_dist_agree(t->train && t->test ? NB_OK : NB_ERR_IO) != NB_OK)) return FAILED;
    int rc;
    if ((rc = cli_check_classes("train", t->train, t->test))) return rc; /* the same data on every rank */
    t->building = t->W > 1;
    if ((a->classes || a->per_class > 0) && /* --per-class: training images only */
        (!(t->train = cli_subset("train", t->train, a->classes, a->per_class, (uint64_t)a->seed)) ||
         !(t->test = cli_subset("train", t->test, a->classes, 0, 0))))
        return 1;
    nb_dataset_sample_shape(t->train, chw);
    if (t->tf && nb_transform_out_shape(t->tf, chw, chw)) return FAILED;
    return 0;
}

/* The model for samples of shape chw: built, its starting weights loaded
 * (--init, --pretrained), --freeze applied, wrapped for data parallelism. */
static int build_model(trainer *t, const int64_t chw[3])
{
    train_args *a = t->a;
    if (a->num_classes && a->num_classes < nb_dataset_num_classes(t->train)) {
        cli_error("train: --num-classes %ld is fewer than the dataset's %d classes", a->num_classes,
                  nb_dataset_num_classes(t->train));
        return 2;
    }
    nb_model_opts mo = {.num_classes = a->num_classes > 0 ? (int)a->num_classes : nb_dataset_num_classes(t->train),
                        .in_channels = (int)chw[0], .input_size = {(int)chw[1], (int)chw[2]},
                        .dropout = (float)a->dropout, .dropout_set = a->dropout >= 0};
    if (!(t->model = nb_model_new(t->ctx, a->model, &mo))) return FAILED;
    a->num_classes = mo.num_classes; /* the effective value, for the saved config */
    if (a->init && nb_load_safetensors(t->model, a->init, 1)) return FAILED;
    if (a->pretrained) {
        nb_pretrained_report pr;
        if (nb_load_pretrained(t->model, a->pretrained, NULL, &pr)) return FAILED;
        if (!a->quiet)
            fprintf(stderr, "pretrained: %d tensors from %s; new head '%s' (%d tensors)%s\n", pr.loaded, a->pretrained,
                    pr.head, pr.head_skipped, pr.unexpected ? "; some tensors of the file were not used" : "");
    }
    if ((a->init || a->pretrained) && nb_module_check_finite(t->model)) return FAILED; /* a NaN would train silently */
    int n_frozen = 0;
    if (a->freeze && nb_module_freeze(t->model, a->freeze, &n_frozen)) return FAILED;
    if (a->freeze && !a->quiet) fprintf(stderr, "frozen: %d parameter tensors (%s)\n", n_frozen, a->freeze);
    if (!(t->ddp = nb_ddp_new(t->model, &(nb_ddp_opts){.sync_bn = a->sync_bn}))) {
        t->agreed = t->W > 1; /* a failed rank or a model that differs: every rank has the message */
        return FAILED;
    }
    t->building = 0;
    nb_dist_seed_ctx(t->ctx, (uint64_t)a->seed); /* dropout per rank */
    if (!(t->test_shard = t->W > 1 ? nb_dataset_shard(t->test, t->R, t->W) : t->test)) return FAILED;
    return 0;
}

/* Optimizer, loader, --resume, the log file and the progress bar. */
static int prepare_run(trainer *t)
{
    train_args *a = t->a;
    int rc;
    if ((rc = make_optimizer(a, t->model, &t->opt))) return rc;
    t->loader = nb_loader_new(t->ctx, t->train,
                              &(nb_loader_opts){.batch_size = (int)a->batch, .shuffle = !a->no_shuffle,
                                                .seed = (uint64_t)a->seed, .workers = (int)a->workers,
                                                .transform = t->tf, .mixup_alpha = (float)a->mixup,
                                                .cutmix_alpha = (float)a->cutmix, .num_replicas = t->W,
                                                .rank = t->R});
    if (!t->loader) return FAILED;
    if (a->resume && (rc = resume_checkpoint(a, t->model, t->opt, t->ctx, &t->start))) return rc;
    if (a->resume) nb_dist_seed_ctx(t->ctx, (uint64_t)a->seed); /* the checkpoint holds rank 0's dropout key */
    if (a->log_json && !(t->log = cli_log_open(a->log_json, a->resume != NULL))) return 1;
    if (a->ema > 0 && !(t->ema = cli_ema_new(t->model, a->ema))) {
        cli_error("train: --ema: out of memory");
        return 1;
    }
    t->params = nb_module_parameters(t->model, &t->nparams);
    t->steps_per_epoch = nb_loader_num_batches(t->loader);
    if (a->per_step) schedule_per_step(a, &t->sched, t->steps_per_epoch);
    t->total_steps = t->steps_per_epoch * a->epochs;
    if (a->max_steps && a->max_steps < t->total_steps) t->total_steps = a->max_steps;
    progress_init(&t->bar, t->start.step, t->total_steps, t->steps_per_epoch, (int)a->epochs, a->quiet);
    t->step = t->start.step;
    return 0;
}

/* An epoch's running sums (over every rank's batches). */
typedef struct {
    float lr, loss;  /* the epoch's learning rate; the last step's loss */
    float step_lr;   /* the last step's learning rate (--lr-per-step: it changes within the epoch) */
    int64_t batch; /* batches of this epoch trained on */
    double t0, loss_sum;
    int64_t correct, seen;
} epoch_stats;

/* The step's loss and correct predictions over every rank's batch of b samples. */
static void step_stats(const trainer *t, nb_tensor *loss, nb_tensor *z, nb_tensor *y, float *lv, int64_t *b,
                       int64_t *correct)
{
    *lv = nb_tensor_item(loss);
    *b = nb_tensor_numel(y), *correct = nb_count_correct(z, y);
    if (t->W > 1) {
        double r[3] = {(double)*lv * (double)*b, (double)*correct, (double)*b};
        nb_dist_allreduce(r, 3, NB_DIST_SUM);
        *lv = (float)(r[0] / r[2]), *correct = (int64_t)r[1], *b = (int64_t)r[2];
    }
}

/* Every group's lr at schedule step k, each from its own base lr. */
static void set_lr(trainer *t, int k)
{
    for (int g = 0; g < nb_optim_num_groups(t->opt); g++)
        nb_optim_set_lr(t->opt, g, (float)nb_sched_lr(&t->sched, nb_optim_get_base_lr(t->opt, g), k));
}

/* One training step on the batch x, y (soft: the MixUp/CutMix targets, else NULL),
 * as PyTorch writes it: zero_grad, forward, loss, backward, clip, step. Adds the
 * step's loss and accuracy to e. */
static int train_step(trainer *t, int epoch, nb_tensor *x, nb_tensor *y, nb_tensor *soft, epoch_stats *e)
{
    const train_args *a = t->a;
    e->step_lr = e->lr;
    if (a->per_step) {
        set_lr(t, (int)t->step);
        e->step_lr = (float)nb_sched_lr(&t->sched, a->lr, (int)t->step);
    }
    nb_optim_zero_grad(t->opt);
    nb_tensor *z = nb_ddp_forward(t->ddp, x);
    nb_cross_entropy_opts ce = {.label_smoothing = (float)a->smoothing};
    nb_tensor *loss = nb_cross_entropy(z, soft ? soft : y, &ce);
    if (loss && a->l1 > 0) loss = nb_add(loss, nb_l1_penalty(t->params, t->nparams, (float)a->l1));
    if (loss && a->l2 > 0) loss = nb_add(loss, nb_l2_penalty(t->params, t->nparams, (float)a->l2));
    if (!loss) {
        progress_end(&t->bar);
        cli_error("train: step %lld: %s", (long long)t->step + 1, nb_last_error());
        return 1;
    }
    float lv;
    int64_t b, correct;
    step_stats(t, loss, z, y, &lv, &b, &correct);
    if (!isfinite(lv)) {
        progress_end(&t->bar);
        cli_error("train: the loss is %s at step %lld (epoch %d); stopping without saving. "
                  "Try a lower --lr or --clip-grad-norm.",
                  isnan(lv) ? "NaN" : "infinite", (long long)t->step + 1, epoch + 1);
        return 1;
    }
    if (nb_backward(loss)) return FAILED;
    if (a->clip_norm > 0) nb_clip_grad_norm(t->params, t->nparams, (float)a->clip_norm, 2.0f);
    if (a->clip_value > 0) nb_clip_grad_value(t->params, t->nparams, (float)a->clip_value);
    if (nb_optim_step(t->opt)) return FAILED;
    if (t->ema) cli_ema_update(t->ema);
    t->step++;
    e->batch++;
    e->seen += b;
    e->loss_sum += lv * (double)b;
    e->correct += correct;
    e->loss = lv;
    return 0;
}

/* The test result into t->ev: of the model, or with --ema of the moving average (and then,
 * when live is not NULL, the model's own weights' result into live). */
static int evaluate(trainer *t, nb_eval_result *live)
{
    if (!t->ema) return cli_dist_evaluate(t->model, t->ddp, t->test_shard, &t->ev) ? FAILED : 0;
    if (live && cli_dist_evaluate(t->model, t->ddp, t->test_shard, live)) return FAILED;
    cli_ema_swap(t->ema);
    nb_status st = cli_dist_evaluate(t->model, t->ddp, t->test_shard, &t->ev);
    cli_ema_swap(t->ema);
    return st ? FAILED : 0;
}

/* The end of an epoch: checkpoint, evaluation (when logged or last), its line and log entry. */
static int end_epoch(trainer *t, int epoch, const epoch_stats *e)
{
    train_args *a = t->a;
    if (a->checkpoint &&
        (e->batch == t->steps_per_epoch ? save_checkpoint(a, t->model, t->opt, t->ctx, epoch + 1, 0, t->step, t->opts)
                                        : save_checkpoint(a, t->model, t->opt, t->ctx, epoch, e->batch, t->step, t->opts)))
        return FAILED;
    double secs = now_seconds() - e->t0;
    t->train_time += secs;
    t->images += e->seen;
    int evaluated = t->logging || epoch + 1 == a->epochs || t->step >= t->total_steps;
    nb_eval_result live = {0};
    if (evaluated && evaluate(t, t->log ? &live : NULL)) return FAILED;
    double train_loss = e->seen ? e->loss_sum / (double)e->seen : 0;
    double train_acc = e->seen ? (double)e->correct / (double)e->seen : 0;
    progress_epoch(&t->bar, epoch + 1, train_loss, train_acc, evaluated ? t->ev.accuracy : -1,
                   secs > 0 ? (double)e->seen / secs : 0, secs);
    if (t->log) {
        cJSON *o = cJSON_CreateObject();
        if (!cJSON_AddNumberToObject(o, "epoch", epoch + 1) || cli_json_number(o, "train_loss", "%.9g", train_loss) ||
            cli_json_number(o, "train_acc", "%.9g", train_acc) || cli_json_number(o, "test_loss", "%.9g", t->ev.loss) ||
            cli_json_number(o, "test_acc", "%.9g", t->ev.accuracy) || float_member(o, "lr", e->lr) ||
            cli_json_number(o, "images_per_s", "%.1f", secs > 0 ? (double)e->seen / secs : 0) ||
            cli_json_number(o, "seconds", "%.3f", secs) ||
            /* with --ema, test_* are the moving average's; these the model's own weights' */
            (t->ema && (cli_json_number(o, "live_test_loss", "%.9g", live.loss) ||
                        cli_json_number(o, "live_test_acc", "%.9g", live.accuracy))))
            cJSON_Delete(o), o = NULL;
        cli_log_json(t->log, o);
        if (cli_log_write(t->log)) return 1; /* the whole log, atomically */
    }
    return 0;
}

/* One epoch: the learning rates of its schedule, then steps until the loader is
 * done (or --max-steps); a resumed epoch passes over the batches trained on before. */
static int train_epoch(trainer *t, int epoch)
{
    train_args *a = t->a;
    int k = a->per_step ? (int)t->step : epoch; /* the schedule's t; --lr-per-step: the epoch's first step */
    epoch_stats e = {.lr = nb_sched_lr(&t->sched, (float)a->lr, k)};
    set_lr(t, k);
    nb_module_train(t->model, 1);
    nb_loader_start_epoch(t->loader, epoch);
    if (epoch == t->start.epoch)
        for (nb_tensor *x, *y; e.batch < t->start.batch; e.batch++) {
            nb_ctx_reset(t->ctx);
            if (!nb_loader_next(t->loader, &x, &y)) break;
        }
    e.t0 = now_seconds();
    while (t->step < t->total_steps) {
        nb_ctx_reset(t->ctx);
        nb_tensor *x, *y, *soft;
        nb_clear_error();
        if (!nb_loader_next_mixed(t->loader, &x, &y, &soft)) {
            if (nb_last_error()[0]) return FAILED; /* e.g. a corrupt image file */
            break;
        }
        int rc = train_step(t, epoch, x, y, soft, &e);
        if (rc) return rc;
        if (a->checkpoint && a->checkpoint_every && t->step % a->checkpoint_every == 0 &&
            save_checkpoint(a, t->model, t->opt, t->ctx, epoch, e.batch, t->step, t->opts))
            return FAILED;
        double el = now_seconds() - e.t0;
        progress_step(&t->bar, t->step, epoch + 1, e.batch, e.loss_sum / (double)e.seen,
                      (double)e.correct / (double)e.seen, el > 0 ? (double)e.seen / el : 0);
        if (t->log && a->log_every && t->step % a->log_every == 0) {
            cJSON *o = cJSON_CreateObject();
            if (!cJSON_AddNumberToObject(o, "step", (double)t->step) || !cJSON_AddNumberToObject(o, "epoch", epoch + 1) ||
                float_member(o, "loss", e.loss) || float_member(o, "lr", e.step_lr))
                cJSON_Delete(o), o = NULL;
            cli_log_json(t->log, o);
        }
    }
    return end_epoch(t, epoch, &e);
}

/* After the last epoch: the test result (of a resumed finished run too), the log
 * closed, --save written, the result line. */
static int finish_run(trainer *t)
{
    train_args *a = t->a;
    if (!t->ev.count && evaluate(t, NULL)) return FAILED;
    if (t->ema) cli_ema_swap(t->ema); /* --save writes the moving average */
    if (t->log && cli_log_write(t->log)) return 1;
    if (a->save && (nb_module_check_finite(t->model) || nb_save_safetensors(t->model, a->save))) return FAILED;
    if (a->save && save_config(a->save, t->opts)) return 1;
    if (t->R == 0)
        printf("test_acc=%.4f test_loss=%.4f train_seconds=%.1f images_per_s=%.0f\n", t->ev.accuracy, t->ev.loss,
               t->train_time, t->train_time > 0 ? (double)t->images / t->train_time : 0);
    return 0;
}

/* A FAILED step: its message printed; under mpirun the other ranks released. */
static int report_failure(trainer *t)
{
    progress_end(&t->bar);
    if (t->building && !t->agreed) { /* the other ranks are in nb_ddp_new's agreement */
        nb_dist_agree(NB_ERR_ARG);
        t->agreed = 1, t->building = 0;
    }
    if (t->W > 1 && !t->agreed) { /* an error on this rank only: the others would wait for it */
        cli_error("train: rank %d: %s", t->R, nb_last_error());
        nb_dist_abort(1);
    }
    cli_error("train: %s", nb_last_error());
    return 1;
}

static int close_run(trainer *t, int rc)
{
    progress_end(&t->bar);
    if (t->building && rc && !t->agreed) nb_dist_agree(NB_ERR_ARG); /* printed already; release the other ranks */
    if (t->test_shard != t->test) nb_dataset_free(t->test_shard);
    nb_ddp_free(t->ddp);
    if (t->log && rc) cli_log_write(t->log); /* the step lines of a run that stopped */
    cli_log_close(t->log);
    nb_loader_free(t->loader);
    nb_transform_free(t->tf);
    nb_optim_free(t->opt);
    cli_ema_free(t->ema);
    nb_module_free(t->model);
    nb_dataset_free(t->test);
    nb_dataset_free(t->train);
    nb_ctx_free(t->ctx);
    nb_dist_finalize();
    return rc;
}

/* The run of checked arguments: data, model, the epochs, the result. */
static int train_run(train_args *a, const cli_option *opts)
{
    trainer t = {.a = a, .opts = opts};
    if (a->augment && !(t.tf = nb_transform_parse(a->augment))) {
        cli_error("train: --augment: %s", nb_last_error());
        return 2;
    }
    int rc = parse_schedule(a, &t.sched);
    if (!rc && cli_dist_start("train", &a->threads)) rc = 1;
    if (rc) {
        nb_transform_free(t.tf);
        return rc;
    }
    t.R = nb_dist_rank(), t.W = nb_dist_world();
    t.logging = a->log_json != NULL; /* on every rank: evaluation is collective */
    if (t.R > 0) {
        a->quiet = 1;
        a->save = a->checkpoint = a->log_json = NULL;
    }
    t.ctx = nb_ctx_new(&(nb_ctx_opts){.seed = (uint64_t)a->seed, .threads = (int)a->threads});
    int64_t chw[3];
    rc = t.ctx ? load_data(&t, chw) : FAILED;
    if (!rc) rc = build_model(&t, chw);
    if (!rc) rc = prepare_run(&t);
    for (int epoch = t.start.epoch; !rc && epoch < a->epochs && t.step < t.total_steps; epoch++)
        rc = train_epoch(&t, epoch);
    if (!rc) rc = finish_run(&t);
    if (rc == FAILED) rc = report_failure(&t);
    return close_run(&t, rc);
}

/* Mean of the losses over the epoch so far is printed; the step loss checked for NaN. */
int cmd_train(int argc, char **argv)
{
    if (cli_is_text_train(argc, argv)) return cmd_train_text(argc, argv);
    /* NAN: not given (the optimizer's default; options refuse non-finite values); --dropout -1 and
     * --per-class -1: the model's own dropout, every image (as written in a saved config).
     * The default run (issue 14, BENCHMARKS.md "The default recipe"): the cnn3 (the cnn with a
     * third convolution) for 9 epochs, with PyTorch's baseline (SGD lr 0.05, momentum 0.9, weight
     * decay 5e-4, batch 128), a cosine schedule over the epochs and label smoothing 0.1. The
     * baseline itself, the model and recipe bench/torch_bench.py times:
     * --model cnn --epochs 10 --lr-schedule none --label-smoothing 0. */
    train_args a = {.model = "cnn3", .optimizer = "sgd", .schedule = "cosine", .smoothing = 0.1,
                    .epochs = 9, .batch = 128, .lr = NAN, .momentum = 0.9, .weight_decay = NAN, .gamma = 0.1,
                    .dropout = -1, .workers = -1, .per_class = -1};
    const cli_option opts[] = {
        {"--model", OPT_STRING, &a.model, "NAME",
         "built-in model (cnn3 (default), cnn, mlp, lenet5, resnet_small, resnet18, vgg11, ...) or a model file "
         "(name.nbm or a path: layers as PyTorch calls, docs/model-files.md; see models/*.nbm)"},
        {"--data", OPT_STRING, &a.data, "DIR", "dataset directory (default /usr/share/datasets/fashion-mnist)"},
        {"--dataset", OPT_STRING, &a.dataset, "KIND",
         "fashion-mnist, mnist, cifar10 or folder (default: from --data); text: wordnet-glosses or tsv, "
         "and --task lm|mlm (`nabla train --dataset wordnet-glosses --help`)"},
        {"--augment", OPT_STRING, &a.augment, "SPEC",
         "augment training samples, e.g. \"random_crop(28, padding=2), hflip, random_erasing(p=0.5)\""},
        {"--mixup", OPT_FLOAT, &a.mixup, "ALPHA", "MixUp each batch, lambda ~ Beta(ALPHA, ALPHA)"},
        {"--cutmix", OPT_FLOAT, &a.cutmix, "ALPHA", "CutMix each batch (with --mixup: one of the two per batch)"},
        {"--classes", OPT_STRING, &a.classes, "LIST",
         "only these classes, relabelled 0..K-1 in this order (e.g. 5,6,7,8,9 or 5-9)"},
        {"--per-class", OPT_INT, &a.per_class, "N", "only the first N training images of each class (under --seed)"},
        {"--workers", OPT_INT, &a.workers, "N",
         "threads loading batches ahead of the training step (1 with --augment/--mixup/--cutmix, else 0)"},
        {"--epochs", OPT_INT, &a.epochs, "N", "passes over the training set (9)"},
        {"--batch-size", OPT_INT, &a.batch, "B", "mini-batch size (128)"},
        {"--lr", OPT_FLOAT, &a.lr, "X", "learning rate (sgd 0.05, adam/adamw 0.001)"},
        {"--optimizer", OPT_STRING, &a.optimizer, "NAME", "sgd (default), adam or adamw"},
        {"--momentum", OPT_FLOAT, &a.momentum, "M", "SGD momentum (0.9)"},
        {"--nesterov", OPT_FLAG, &a.nesterov, NULL, "Nesterov momentum (SGD)"},
        {"--weight-decay", OPT_FLOAT, &a.weight_decay, "W", "weight decay (sgd 5e-4, adam 0, adamw 1e-2)"},
        {"--label-smoothing", OPT_FLOAT, &a.smoothing, "E",
         "cross-entropy against (1-E)*onehot + E/classes (0.1)"},
        {"--l1", OPT_FLOAT, &a.l1, "L", "add L * sum|w| to the loss (L1 / elastic net)"},
        {"--l2", OPT_FLOAT, &a.l2, "L", "add L * sum w^2 to the loss (L2 / elastic net)"},
        {"--clip-grad-norm", OPT_FLOAT, &a.clip_norm, "C", "clip the total gradient norm to C"},
        {"--clip-grad-value", OPT_FLOAT, &a.clip_value, "V", "clip each gradient element to [-V, V]"},
        {"--lr-schedule", OPT_STRING, &a.schedule, "S", "none, step or cosine (default), per epoch (or --lr-per-step)"},
        {"--step-size", OPT_INT, &a.step_size, "N", "StepLR: epochs between decays (epochs/3)"},
        {"--gamma", OPT_FLOAT, &a.gamma, "G", "StepLR: decay factor (0.1)"},
        {"--warmup-epochs", OPT_INT, &a.warmup, "E", "linear warm-up epochs before the schedule (0)"},
        {"--lr-per-step", OPT_FLAG, &a.per_step, NULL,
         "step the schedule after every optimizer step, not every epoch (lengths in epochs become steps)"},
        {"--warmup-steps", OPT_INT, &a.warmup_steps, "N", "with --lr-per-step: linear warm-up over N steps"},
        {"--dropout", OPT_FLOAT, &a.dropout, "P", "override the model's dropout probability"},
        {"--ema", OPT_FLOAT, &a.ema, "DECAY",
         "evaluate and save a moving average of the weights, avg = DECAY*avg + (1-DECAY)*w after every step "
         "(torchvision's ExponentialMovingAverage; 0: off)"},
        {"--seed", OPT_INT, &a.seed, "S", "seed for init, shuffling and dropout (0)"},
        {"--threads", OPT_INT, &a.threads, "T", "threads (default: all cores)"},
        {"--max-steps", OPT_INT, &a.max_steps, "K", "stop after K optimizer steps"},
        {"--no-shuffle", OPT_FLAG, &a.no_shuffle, NULL, "keep the training set in file order"},
        {"--init", OPT_STRING, &a.init, "FILE", "start from the weights in a safetensors file"},
        {"--pretrained", OPT_STRING, &a.pretrained, "FILE",
         "load a backbone (every tensor but the head's) from a safetensors file; the head is new"},
        {"--num-classes", OPT_INT, &a.num_classes, "K", "outputs of the head (default: the dataset's classes)"},
        {"--freeze", OPT_STRING, &a.freeze, "PREFIXES",
         "freeze parameters by name prefix, e.g. conv1,layer1 or backbone (frozen BatchNorm stays in eval mode)"},
        {"--lr-backbone", OPT_FLOAT, &a.lr_backbone, "X", "learning rate of the backbone (parameter group 1; --lr for the head)"},
        {"--save", OPT_STRING, &a.save, "FILE", "write the trained weights (safetensors, atomic)"},
        {"--checkpoint", OPT_STRING, &a.checkpoint, "FILE",
         "write a checkpoint (weights, optimizer, generator, position) after every epoch and at the end"},
        {"--checkpoint-every", OPT_INT, &a.checkpoint_every, "N", "with --checkpoint: also every N steps"},
        {"--resume", OPT_STRING, &a.resume, "FILE", "continue the run saved in a checkpoint (same options)"},
        {"--log-json", OPT_STRING, &a.log_json, "FILE", "write one JSON object per epoch (and step)"},
        {"--log-every", OPT_INT, &a.log_every, "N", "with --log-json: log the loss every N steps"},
        {"--quiet", OPT_FLAG, &a.quiet, NULL, "print only the final result (no progress bar or epoch lines)"},
        {"--sync-bn", OPT_FLAG, &a.sync_bn, NULL,
         "under mpirun: BatchNorm statistics over every rank's batch (SyncBatchNorm; docs/distributed.md)"},
        {NULL, 0, NULL, NULL, NULL},
    };
    int rc = cli_parse("train", SYNOPSIS, opts, argc, argv, NULL, 0, NULL);
    if (rc) return rc == 1 ? 0 : rc;
    int adam = !strcmp(a.optimizer, "adam") || !strcmp(a.optimizer, "adamw");
    if (isnan(a.lr)) a.lr = adam ? 1e-3 : 0.05;
    if (isnan(a.weight_decay))
        a.weight_decay = !strcmp(a.optimizer, "sgd") ? 5e-4 : !strcmp(a.optimizer, "adamw") ? 1e-2 : 0;
    if ((rc = check_args(&a))) return rc;
    if (a.workers < 0) a.workers = a.augment || a.mixup > 0 || a.cutmix > 0 ? 1 : 0;
    if (a.step_size <= 0) a.step_size = a.epochs > 3 ? a.epochs / 3 : 1;
    return train_run(&a, opts);
}
