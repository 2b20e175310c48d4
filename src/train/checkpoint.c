/* checkpoint.c - everything a training run needs to continue bit for bit, in
 * one safetensors file:
 *   "model.<state_dict key>"   parameters and buffers (num_batches_tracked as I64)
 *   "optim.state.K.<name>"     nb_optim_state: step, momentum_buffer, exp_avg, ...
 *   __metadata__ (strings):
 *     nabla.checkpoint         format version ("1")
 *     nabla.epoch, nabla.batch, nabla.step, nabla.sched_step, nabla.loader_seed
 *     nabla.rng                the context generator: four xoshiro256** words in hex
 *     nabla.seed               the context seed (dropout masks hash it)
 *     nabla.dropout_counter    ctx->step_counter, bumped by every dropout call
 *     nabla.groups             number of optimizer groups (absent without optimizer)
 *     nabla.group.G.lr / .base_lr / .momentum   "%.17g", so doubles round-trip exactly
 *   plus the caller's own pairs.
 * The file goes through nb_safetensors_write, which writes a temporary file,
 * fsyncs it and renames it over the old one: a kill at any moment leaves either
 * the previous checkpoint or the new one, never a torn file.
 *
 * Loading checks everything before changing anything: names both ways, shapes,
 * dtypes, group count, metadata syntax; then reads every tensor into a staging
 * copy; only then copies into the model, the optimizer and the context. */
#include "core/error.h"
#include "core/tensor.h"
#include "core/ctx.h"

#include <stdarg.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FORMAT_VERSION "1"
#define MAX_GROUPS 4096

/* ------------------------------------------------------------------------ */
/* small string helpers                                                      */
/* ------------------------------------------------------------------------ */

static char *cat2(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    char *s = malloc(na + nb + 1);
    if (s) {
        memcpy(s, a, na);
        memcpy(s + na, b, nb + 1);
    }
    return s;
}

/* A growing list of key/value strings the caller frees with pairs_free. */
typedef struct {
    char **kv;
    int n, cap, oom;
} pairs;

static void pairs_add(pairs *p, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void pairs_add(pairs *p, const char *key, const char *fmt, ...)
{
    if (p->oom) return;
    if (2 * p->n + 2 > p->cap) {
        int cap = p->cap ? 2 * p->cap : 32;
        char **kv = realloc(p->kv, sizeof *kv * (size_t)cap);
        if (!kv) {
            p->oom = 1;
            return;
        }
        p->kv = kv;
        p->cap = cap;
    }
    char val[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(val, sizeof val, fmt, ap);
    va_end(ap);
    char *k = strdup(key), *v = strdup(val);
    if (!k || !v) {
        free(k);
        free(v);
        p->oom = 1;
        return;
    }
    p->kv[2 * p->n] = k;
    p->kv[2 * p->n + 1] = v;
    p->n++;
}

static void pairs_free(pairs *p)
{
    for (int i = 0; i < 2 * p->n; i++) free(p->kv[i]);
    free(p->kv);
}

/* ------------------------------------------------------------------------ */
/* saving                                                                    */
/* ------------------------------------------------------------------------ */

nb_status nb_checkpoint_save(const char *path, nb_module *m, nb_optim *opt, nb_ctx *ctx,
                             const nb_train_position *pos, const char *const *meta, int n_meta)
{
    if (!path || !m || !ctx || !pos || n_meta < 0 || (n_meta && !meta))
        return nb__fail(NB_ERR_ARG, "nb_checkpoint_save: NULL or bad argument");
    for (int i = 0; i < n_meta; i++)
        if (!meta[2 * i] || !meta[2 * i + 1] || !strncmp(meta[2 * i], "nabla.", 6))
            return nb__fail(NB_ERR_ARG, "writing checkpoint %s: metadata key %d is NULL or starts with the reserved "
                            "\"nabla.\"", path, i);
    if (pos->epoch < 0 || pos->batch < 0 || pos->step < 0 || pos->sched_step < 0)
        return nb__fail(NB_ERR_ARG, "writing checkpoint %s: negative position (epoch %d, batch %lld, step %lld)",
                        path, pos->epoch, (long long)pos->batch, (long long)pos->step);
    int nm = 0, no = 0;
    nb_clear_error();
    const nb_named_tensor *ms = nb_module_state(m, &nm);
    if (!ms && *nb_last_error()) return NB_ERR_MEM;
    const nb_named_tensor *os = NULL;
    if (opt && (no = nb_optim_state(opt, &os)) < 0) return NB_ERR_ARG;

    nb_status st = NB_OK;
    nb_named_tensor *all = calloc((size_t)(nm + no + 1), sizeof *all);
    pairs p = {0};
    if (!all) return nb__fail(NB_ERR_MEM, "writing checkpoint %s: out of memory", path);
    for (int i = 0; i < nm + no && !st; i++) {
        const nb_named_tensor *src = i < nm ? &ms[i] : &os[i - nm];
        all[i] = *src;
        if (!(all[i].name = cat2(i < nm ? "model." : "optim.", src->name)))
            st = nb__fail(NB_ERR_MEM, "writing checkpoint %s: out of memory", path);
    }
    if (st) goto done;

    pairs_add(&p, "nabla.checkpoint", FORMAT_VERSION);
    pairs_add(&p, "nabla.epoch", "%d", pos->epoch);
    pairs_add(&p, "nabla.batch", "%" PRId64, pos->batch);
    pairs_add(&p, "nabla.step", "%" PRId64, pos->step);
    pairs_add(&p, "nabla.sched_step", "%" PRId64, pos->sched_step);
    pairs_add(&p, "nabla.loader_seed", "%" PRIu64, pos->loader_seed);
    pairs_add(&p, "nabla.rng", "%016" PRIx64 " %016" PRIx64 " %016" PRIx64 " %016" PRIx64, ctx->rng.s[0],
              ctx->rng.s[1], ctx->rng.s[2], ctx->rng.s[3]);
    pairs_add(&p, "nabla.seed", "%" PRIu64, ctx->seed);
    pairs_add(&p, "nabla.dropout_counter", "%" PRIu64, ctx->step_counter);
    if (opt) {
        int ng = nb_optim_num_groups(opt);
        pairs_add(&p, "nabla.groups", "%d", ng);
        for (int g = 0; g < ng; g++) {
            char key[64];
            snprintf(key, sizeof key, "nabla.group.%d.lr", g);
            pairs_add(&p, key, "%.17g", nb_optim_get_lr(opt, g));
            snprintf(key, sizeof key, "nabla.group.%d.base_lr", g);
            pairs_add(&p, key, "%.17g", nb_optim_get_base_lr(opt, g));
            snprintf(key, sizeof key, "nabla.group.%d.momentum", g);
            pairs_add(&p, key, "%.17g", nb_optim_get_momentum(opt, g));
        }
    }
    for (int i = 0; i < n_meta; i++) pairs_add(&p, meta[2 * i], "%s", meta[2 * i + 1]);
    if (p.oom) {
        st = nb__fail(NB_ERR_MEM, "writing checkpoint %s: out of memory", path);
        goto done;
    }
    st = nb_safetensors_write(path, all, nm + no, (const char *const *)p.kv, p.n);
    if (st) nb__error_prefix("writing checkpoint %s", path);
done:
    for (int i = 0; i < nm + no; i++) free((char *)all[i].name);
    free(all);
    pairs_free(&p);
    return st;
}

/* ------------------------------------------------------------------------ */
/* loading                                                                   */
/* ------------------------------------------------------------------------ */

/* Metadata value of key; an error naming the checkpoint when it has none. */
static nb_status meta_str(nb_safetensors *f, const char *path, const char *key, const char **out)
{
    *out = nb_safetensors_metadata(f, key);
    return *out ? NB_OK : nb__fail(NB_ERR_FORMAT, "checkpoint %s: no \"%s\" in its metadata", path, key);
}

/* Metadata value of key parsed as a signed / unsigned integer or a double. */
static nb_status meta_i64(nb_safetensors *f, const char *path, const char *key, int64_t lo, int64_t hi, int64_t *out)
{
    const char *s;
    nb_status st = meta_str(f, path, key, &s);
    if (st) return st;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return nb__fail(NB_ERR_FORMAT, "checkpoint %s: metadata \"%s\" is \"%.60s\", not an integer in [%lld, %lld]",
                        path, key, s, (long long)lo, (long long)hi);
    *out = v;
    return NB_OK;
}

static nb_status meta_u64(nb_safetensors *f, const char *path, const char *key, uint64_t *out)
{
    const char *s;
    nb_status st = meta_str(f, path, key, &s);
    if (st) return st;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || *s == '-')
        return nb__fail(NB_ERR_FORMAT, "checkpoint %s: metadata \"%s\" is \"%.60s\", not an unsigned integer", path,
                        key, s);
    *out = v;
    return NB_OK;
}

static nb_status meta_double(nb_safetensors *f, const char *path, const char *key, double *out)
{
    const char *s;
    nb_status st = meta_str(f, path, key, &s);
    if (st) return st;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < 0)
        return nb__fail(NB_ERR_FORMAT, "checkpoint %s: metadata \"%s\" is \"%.60s\", not a non-negative number",
                        path, key, s);
    *out = v;
    return NB_OK;
}

static nb_status parse_rng(nb_safetensors *f, const char *path, nb_rng *r)
{
    const char *s;
    nb_status st = meta_str(f, path, "nabla.rng", &s);
    if (st) return st;
    const char *q = s;
    for (int i = 0; i < 4; i++) {
        char *end;
        errno = 0;
        while (*q == ' ') q++;
        if (!((*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'f') || (*q >= 'A' && *q <= 'F'))) break;
        r->s[i] = strtoull(q, &end, 16);
        if (errno || end == q) break;
        q = end;
        if (i == 3) {
            if (*q) break;
            if (!(r->s[0] | r->s[1] | r->s[2] | r->s[3]))
                return nb__fail(NB_ERR_FORMAT, "checkpoint %s: metadata \"nabla.rng\" is all zeros (not a generator state)", path);
            return NB_OK;
        }
    }
    return nb__fail(NB_ERR_FORMAT, "checkpoint %s: metadata \"nabla.rng\" is \"%.100s\", not four hex words", path, s);
}

typedef struct {
    char *s;
    size_t len, cap;
    int count, omitted;
} namelist;

static void nl_add(namelist *l, const char *name)
{
    l->count++;
    size_t n = strlen(name);
    if (l->omitted || l->len + n + 3 > 400) {
        l->omitted++;
        return;
    }
    if (l->len + n + 3 > l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 128;
        while (cap < l->len + n + 3) cap *= 2;
        char *s = realloc(l->s, cap);
        if (!s) {
            l->omitted++;
            return;
        }
        l->s = s;
        l->cap = cap;
    }
    if (l->len) {
        memcpy(l->s + l->len, ", ", 2);
        l->len += 2;
    }
    memcpy(l->s + l->len, name, n + 1);
    l->len += n;
}

static const char *nl_str(namelist *l, char *buf, size_t n)
{
    if (l->omitted) snprintf(buf, n, "%s and %d more", l->s ? l->s : "", l->omitted);
    else snprintf(buf, n, "%s", l->s ? l->s : "");
    return buf;
}

/* A load in progress: what it has read, and what it must undo or free. */
typedef struct {
    nb_safetensors *f;
    const char *path;
    nb_train_position pos;
    nb_rng rng;
    uint64_t seed, counter;
    int ng;          /* optimizer groups */
    double *gv;      /* per group: lr, base_lr, momentum */
    double *old_mom; /* each group's momentum before the load, put back if it fails */
    int mom_touched;
    const nb_named_tensor *ms, *os; /* the module's and the optimizer's state */
    int nm, no, n_all;
    int *where;           /* for each of the n_all tensors, its index in the file */
    nb_tensor **staged;   /* for each, the file's values */
} loading;

/* The format version, the training position and the context's generator. */
static nb_status read_position(loading *L)
{
    nb_safetensors *f = L->f;
    const char *path = L->path;
    const char *ver = nb_safetensors_metadata(f, "nabla.checkpoint");
    if (!ver)
        return nb__fail(NB_ERR_FORMAT, "%s is not a nabla checkpoint (no \"nabla.checkpoint\" metadata); for weights "
                        "alone use nb_load_safetensors / --init", path);
    if (strcmp(ver, FORMAT_VERSION))
        return nb__fail(NB_ERR_FORMAT, "checkpoint %s has format version \"%.20s\"; this nabla reads version %s", path,
                        ver, FORMAT_VERSION);
    nb_status st;
    int64_t v;
    if ((st = meta_i64(f, path, "nabla.epoch", 0, INT32_MAX, &v))) return st;
    L->pos.epoch = (int)v;
    if ((st = meta_i64(f, path, "nabla.batch", 0, INT64_MAX, &L->pos.batch))) return st;
    if ((st = meta_i64(f, path, "nabla.step", 0, INT64_MAX, &L->pos.step))) return st;
    if ((st = meta_i64(f, path, "nabla.sched_step", 0, INT64_MAX, &L->pos.sched_step))) return st;
    if ((st = meta_u64(f, path, "nabla.loader_seed", &L->pos.loader_seed))) return st;
    if ((st = meta_u64(f, path, "nabla.seed", &L->seed))) return st;
    if ((st = meta_u64(f, path, "nabla.dropout_counter", &L->counter))) return st;
    return parse_rng(f, path, &L->rng);
}

/* The optimizer's groups: their count, learning rates and momentum, checked. A
 * group whose momentum was turned on during the run (SGD created with 0) gets its
 * momentum now, so that its buffers exist before the state names are matched;
 * loading_end puts the old values back if anything after fails. */
static nb_status read_groups(loading *L, nb_optim *opt)
{
    nb_safetensors *f = L->f;
    const char *path = L->path;
    if (!nb_safetensors_metadata(f, "nabla.groups"))
        return nb__fail(NB_ERR_ARG, "checkpoint %s holds no optimizer state (it was saved without an optimizer)",
                        path);
    nb_status st;
    int64_t v;
    if ((st = meta_i64(f, path, "nabla.groups", 1, MAX_GROUPS, &v))) return st;
    int ng = L->ng = (int)v;
    if (ng != nb_optim_num_groups(opt))
        return nb__fail(NB_ERR_ARG, "checkpoint %s: the optimizer had %d parameter group%s, this one has %d", path, ng,
                        ng == 1 ? "" : "s", nb_optim_num_groups(opt));
    double *gv = L->gv = malloc(sizeof *gv * 3 * (size_t)ng);
    L->old_mom = malloc(sizeof *L->old_mom * (size_t)ng);
    if (!gv || !L->old_mom) return nb__fail(NB_ERR_MEM, "loading checkpoint %s: out of memory", path);
    static const char *const fields[3] = {"lr", "base_lr", "momentum"};
    for (int g = 0; g < ng; g++)
        for (int k = 0; k < 3; k++) {
            char key[64];
            snprintf(key, sizeof key, "nabla.group.%d.%s", g, fields[k]);
            if ((st = meta_double(f, path, key, &gv[3 * g + k]))) return st;
        }
    /* checked before anything is copied in, so the setters in copy_in cannot fail */
    for (int g = 0; g < ng; g++)
        if (!(gv[3 * g] >= 0) || !isfinite(gv[3 * g]) || !(gv[3 * g + 1] > 0) || !isfinite(gv[3 * g + 1]))
            return nb__fail(NB_ERR_FORMAT,
                            "loading checkpoint %s: nabla.group.%d.lr = %g, nabla.group.%d.base_lr = %g (lr must be "
                            ">= 0 and base_lr > 0)", path, g, gv[3 * g], g, gv[3 * g + 1]);
    for (int g = 0; g < ng; g++) {
        L->old_mom[g] = nb_optim_get_momentum(opt, g);
        if (gv[3 * g + 2] != L->old_mom[g]) {
            L->mom_touched = 1;
            if ((st = nb_optim_set_momentum(opt, g, gv[3 * g + 2]))) {
                nb__error_prefix("loading checkpoint %s", path);
                return st;
            }
        }
    }
    return NB_OK;
}

/* Adds "NAME (file DTYPE SHAPE, here DTYPE SHAPE)" to bad when file tensor k does
 * not have t's shape and kind (float or integer). */
static void check_tensor(nb_safetensors *f, int k, const char *name, const nb_tensor *t, namelist *bad)
{
    int64_t shape[NB_MAX_DIMS];
    int nd = nb_safetensors_shape(f, k, shape);
    const char *dt = nb_safetensors_dtype(f, k);
    int file_float = dt[0] == 'F' || !strcmp(dt, "BF16");
    int same = nd == nb_tensor_ndim(t);
    for (int d = 0; same && d < nd; d++) same = shape[d] == nb_tensor_shape(t)[d];
    if (same && file_float == (nb_tensor_dtype(t) == NB_F32)) return;
    char msg[512], a[160], b[160];
    nb__shape_str(nd, shape, a, sizeof a);
    nb__shape_str(nb_tensor_ndim(t), nb_tensor_shape(t), b, sizeof b);
    snprintf(msg, sizeof msg, "%s (file %s %s, here %s %s)", name, dt, a, nb_tensor_dtype(t) == NB_F32 ? "F32" : "I64",
             b);
    nl_add(bad, msg);
}

/* The error for a checkpoint whose tensors do not fit: what is missing,
 * unexpected and mismatched, each list cut short. */
static nb_status misfit(const char *path, namelist *missing, namelist *unexpected, namelist *bad)
{
    char a[512], b[512], c[512], all[1700] = "";
    size_t k = 0;
    if (missing->count) k += (size_t)snprintf(all + k, sizeof all - k, "missing: %s", nl_str(missing, a, sizeof a));
    if (unexpected->count && k < sizeof all)
        k += (size_t)snprintf(all + k, sizeof all - k, "%sunexpected: %s", k ? "; " : "",
                              nl_str(unexpected, b, sizeof b));
    if (bad->count && k < sizeof all)
        snprintf(all + k, sizeof all - k, "%smismatched: %s", k ? "; " : "", nl_str(bad, c, sizeof c));
    return nb__fail(bad->count ? NB_ERR_SHAPE : NB_ERR_ARG,
                    "checkpoint %s does not fit this model and optimizer (a checkpoint resumes the same model with "
                    "the same optimizer): %s", path, all);
}

/* Each tensor of the module's ("model.NAME") and the optimizer's ("optim.NAME")
 * state found in the file with its shape and kind, and no tensor left over. */
static nb_status match_names(loading *L, nb_module *m, nb_optim *opt)
{
    nb_safetensors *f = L->f;
    nb_clear_error();
    L->ms = nb_module_state(m, &L->nm);
    if (!L->ms && *nb_last_error()) return NB_ERR_MEM;
    if (opt && (L->no = nb_optim_state(opt, &L->os)) < 0) return NB_ERR_ARG;
    L->n_all = L->nm + L->no;
    int nf = nb_safetensors_count(f);
    L->staged = calloc((size_t)L->n_all + 1, sizeof *L->staged);
    L->where = malloc(sizeof *L->where * ((size_t)L->n_all + 1));
    char *used = calloc((size_t)nf + 1, 1);
    namelist missing = {0}, unexpected = {0}, bad = {0};
    nb_status st = NB_OK;
    if (!L->staged || !L->where || !used) st = nb__fail(NB_ERR_MEM, "loading checkpoint %s: out of memory", L->path);
    for (int i = 0; !st && i < L->n_all; i++) {
        const nb_named_tensor *t = i < L->nm ? &L->ms[i] : &L->os[i - L->nm];
        char *full = cat2(i < L->nm ? "model." : "optim.", t->name);
        if (!full) {
            st = nb__fail(NB_ERR_MEM, "loading checkpoint %s: out of memory", L->path);
            break;
        }
        int k = L->where[i] = nb_safetensors_find(f, full);
        if (k < 0) nl_add(&missing, full);
        else {
            used[k] = 1;
            check_tensor(f, k, full, t->tensor, &bad);
        }
        free(full);
    }
    for (int k = 0; !st && k < nf; k++) {
        const char *name = nb_safetensors_name(f, k);
        if (!used[k] && (opt || strncmp(name, "optim.", 6))) nl_add(&unexpected, name);
    }
    if (!st && (missing.count || unexpected.count || bad.count)) st = misfit(L->path, &missing, &unexpected, &bad);
    free(used);
    free(missing.s);
    free(unexpected.s);
    free(bad.s);
    return st;
}

/* Every tensor read from the file before anything is changed. */
static nb_status stage_tensors(loading *L, nb_ctx *ctx)
{
    for (int i = 0; i < L->n_all; i++)
        if (!(L->staged[i] = nb_safetensors_get(L->f, ctx, nb_safetensors_name(L->f, L->where[i])))) return NB_ERR_IO;
    return NB_OK;
}

/* The staged values into the model, the optimizer and the context; cannot fail. */
static void copy_in(loading *L, nb_optim *opt, nb_ctx *ctx, nb_train_position *pos)
{
    for (int i = 0; i < L->n_all; i++) {
        nb_tensor *dst = i < L->nm ? L->ms[i].tensor : L->os[i - L->nm].tensor;
        memcpy(dst->data, L->staged[i]->data, (size_t)dst->numel * (dst->dtype == NB_F32 ? 4 : 8));
        nb__bump_version(dst);
    }
    for (int g = 0; g < L->ng; g++) {
        nb_optim_set_lr(opt, g, L->gv[3 * g]);
        nb_optim_set_base_lr(opt, g, L->gv[3 * g + 1]);
    }
    ctx->rng = L->rng;
    ctx->seed = L->seed;
    ctx->step_counter = L->counter;
    if (pos) *pos = L->pos;
    L->mom_touched = 0;
}

/* Undo a failed load's momentum change; free what the load held. */
static void loading_end(loading *L, nb_optim *opt)
{
    if (L->mom_touched)
        for (int g = 0; g < L->ng; g++) nb_optim_set_momentum(opt, g, L->old_mom[g]);
    if (L->staged)
        for (int i = 0; i < L->n_all; i++) nb_tensor_free(L->staged[i]);
    free(L->staged);
    free(L->where);
    free(L->gv);
    free(L->old_mom);
    nb_safetensors_close(L->f);
}

nb_status nb_checkpoint_load(const char *path, nb_module *m, nb_optim *opt, nb_ctx *ctx, nb_train_position *pos)
{
    if (!path || !m || !ctx) return nb__fail(NB_ERR_ARG, "nb_checkpoint_load: NULL argument");
    loading L = {.path = path, .f = nb_safetensors_open(path)};
    if (!L.f) return nb_last_status() ? nb_last_status() : NB_ERR_FORMAT;
    nb_status st = read_position(&L);       /* 1. metadata */
    if (!st && opt) st = read_groups(&L, opt);
    if (!st) st = match_names(&L, m, opt);  /* 2. names, shapes, dtypes */
    if (!st) st = stage_tensors(&L, ctx);   /* 3. read everything */
    if (!st) copy_in(&L, opt, ctx, pos);    /* 4. then copy in */
    loading_end(&L, opt);
    return st;
}
