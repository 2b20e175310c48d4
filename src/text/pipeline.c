/* pipeline.c - the augmenter handle, Sequential and Sometimes and the public
 * nb_text_augment* calls (the spec names, the factory of every augmenter, are
 * text/registry.c).
 *
 * A batch of texts runs augmenter by augmenter over all texts (so back-translation
 * makes one Apertium call for the lot), yet text i draws only from its own stream,
 * seeded by the i-th draw of the caller's generator: a batch gives exactly what the
 * same texts one by one would. */
#include "text/text.h"
#include "text/words.h"
#include "core/error.h"

#include <stdlib.h>
#include <string.h>

nb_text_aug *nb__text_aug_new(const nb__text_vt *vt, void *impl)
{
    nb_text_aug *a = calloc(1, sizeof *a);
    if (!a) {
        nb__fail(NB_ERR_MEM, "out of memory");
        return NULL;
    }
    a->vt = vt;
    a->impl = impl;
    a->pool = NB__ARENA_SMALL;
    return a;
}

int *nb__text_idx(nb_text_aug *a, int n)
{
    if (n > a->idx_cap) {
        int nc = n > 2 * a->idx_cap ? n : 2 * a->idx_cap;
        int *ni = realloc(a->idx, sizeof *ni * (size_t)nc);
        if (!ni) return NULL;
        a->idx = ni;
        a->idx_cap = nc;
    }
    return a->idx;
}

nb_status nb__text_load(nb_text_aug *a, const char *line)
{
    nb__arena_reset(&a->pool);
    return nb__tokenize(line, strlen(line), &a->toks);
}

nb_status nb__text_emit(const nb__toks *tk, char **line)
{
    char *s = nb__toks_join(tk);
    if (!s) return NB_ERR_MEM;
    free(*line);
    *line = s;
    return NB_OK;
}

void nb_text_aug_free(nb_text_aug *a)
{
    if (!a) return;
    if (a->vt && a->vt->free) a->vt->free(a);
    nb__toks_free(&a->toks);
    nb__toks_free(&a->out);
    nb__arena_free(&a->pool);
    free(a->idx);
    free(a);
}

/* ---- Sequential and Sometimes ---- */

typedef struct {
    nb_text_aug **flow;
    int n;
    double p;   /* Sometimes: probability of each child */
    char **sub; /* scratch for the chosen lines */
    nb_rng *subr;
    int64_t sub_cap;
} pipe_impl;

static nb_status seq_run(nb_text_aug *a, char **lines, int64_t n, nb_rng *rngs)
{
    pipe_impl *p = a->impl;
    for (int k = 0; k < p->n; k++) {
        nb_status st = p->flow[k]->vt->run(p->flow[k], lines, n, rngs);
        if (st) return st;
    }
    return NB_OK;
}

static nb_status some_run(nb_text_aug *a, char **lines, int64_t n, nb_rng *rngs)
{
    pipe_impl *p = a->impl;
    if (n > p->sub_cap) {
        char **ns = realloc(p->sub, sizeof *ns * (size_t)n);
        if (ns) p->sub = ns;
        nb_rng *nr = realloc(p->subr, sizeof *nr * (size_t)n);
        if (nr) p->subr = nr;
        if (!ns || !nr) return nb__fail(NB_ERR_MEM, "out of memory");
        p->sub_cap = n;
    }
    int64_t *pos = (int64_t *)nb__arena_alloc(&a->pool, sizeof(int64_t) * (size_t)(n ? n : 1));
    if (!pos) return nb__fail(NB_ERR_MEM, "out of memory");
    for (int k = 0; k < p->n; k++) {
        int64_t m = 0;
        for (int64_t i = 0; i < n; i++)
            if ((double)nb_rng_uniform(&rngs[i]) < p->p) {
                pos[m] = i;
                p->sub[m] = lines[i];
                p->subr[m++] = rngs[i];
            }
        if (!m) continue;
        nb_status st = p->flow[k]->vt->run(p->flow[k], p->sub, m, p->subr);
        for (int64_t j = 0; j < m; j++) {
            lines[pos[j]] = p->sub[j];
            rngs[pos[j]] = p->subr[j];
        }
        if (st) return st;
    }
    nb__arena_reset(&a->pool);
    return NB_OK;
}

static void pipe_free(nb_text_aug *a)
{
    pipe_impl *p = a->impl;
    if (!p) return;
    for (int k = 0; k < p->n; k++) nb_text_aug_free(p->flow[k]);
    free(p->flow);
    free(p->sub);
    free(p->subr);
    free(p);
}

static const nb__text_vt vt_seq = {"sequential", seq_run, pipe_free};
static const nb__text_vt vt_some = {"sometimes", some_run, pipe_free};

static nb_text_aug *pipe_new(const nb__text_vt *vt, nb_text_aug **flow, int n, double prob)
{
    if (n < 0 || (n > 0 && !flow)) {
        nb__fail(NB_ERR_ARG, "%s: %d augmenters given without a list", vt->name, n);
        return NULL;
    }
    int bad = -1;
    for (int i = 0; i < n; i++)
        if (!flow[i] && bad < 0) bad = i;
    pipe_impl *p = calloc(1, sizeof *p);
    if (p && n > 0) p->flow = calloc((size_t)n, sizeof *p->flow);
    if (!p || (n > 0 && !p->flow) || bad >= 0) {
        for (int i = 0; i < n; i++) nb_text_aug_free(flow[i]);
        if (p) free(p->flow);
        free(p);
        if (bad >= 0) nb__fail(NB_ERR_ARG, "%s: augmenter %d is NULL", vt->name, bad);
        else nb__fail(NB_ERR_MEM, "out of memory");
        return NULL;
    }
    for (int i = 0; i < n; i++) p->flow[i] = flow[i];
    p->n = n;
    p->p = prob;
    nb_text_aug *a = nb__text_aug_new(vt, p);
    if (!a) pipe_free(&(nb_text_aug){.impl = p});
    return a;
}

nb_text_aug *nb_text_sequential_new(nb_text_aug **flow, int n) { return pipe_new(&vt_seq, flow, n, 1.0); }

nb_text_aug *nb_text_sometimes_new(nb_text_aug **flow, int n, float aug_p)
{
    if (!(aug_p <= 1.0f)) {
        for (int i = 0; i < n && flow; i++) nb_text_aug_free(flow[i]);
        nb__fail(NB_ERR_ARG, "sometimes: aug_p must be in [0, 1], got %g", (double)aug_p);
        return NULL;
    }
    return pipe_new(&vt_some, flow, n, aug_p == 0 ? 0.8 : aug_p < 0 ? 0.0 : nb__opt_p(aug_p));
}

int64_t nb_text_aug_calls(const nb_text_aug *a)
{
    if (!a) return 0;
    int64_t c = a->calls;
    if (a->vt == &vt_seq || a->vt == &vt_some) {
        const pipe_impl *p = a->impl;
        for (int k = 0; k < p->n; k++) c += nb_text_aug_calls(p->flow[k]);
    }
    return c;
}

/* ---- augmenting ---- */

nb_status nb_text_augment_batch(nb_text_aug *a, const char *const *texts, int64_t n, nb_rng *r, char **out)
{
    if (out)
        for (int64_t i = 0; i < n; i++) out[i] = NULL;
    if (!a || !r || n < 0 || (n > 0 && (!texts || !out)))
        return nb__fail(NB_ERR_ARG, "nb_text_augment_batch: NULL augmenter, generator or array");
    for (int64_t i = 0; i < n; i++) {
        if (!texts[i]) return nb__fail(NB_ERR_ARG, "text %lld is NULL", (long long)i);
        int64_t bad = nb_utf8_check(texts[i], strlen(texts[i]));
        if (bad >= 0)
            return nb__fail(NB_ERR_ARG, "text %lld: invalid UTF-8 at byte %lld", (long long)i, (long long)bad + 1);
    }
    if (n == 0) return NB_OK;
    nb_rng *rngs = malloc(sizeof *rngs * (size_t)n);
    if (!rngs) return nb__fail(NB_ERR_MEM, "out of memory");
    nb_status st = NB_OK;
    for (int64_t i = 0; i < n; i++) {
        nb_rng_seed(&rngs[i], nb_rng_u64(r));
        if (!(out[i] = strdup(texts[i]))) st = nb__fail(NB_ERR_MEM, "out of memory");
    }
    if (!st) st = a->vt->run(a, out, n, rngs);
    free(rngs);
    if (st) {
        for (int64_t i = 0; i < n; i++) {
            free(out[i]);
            out[i] = NULL;
        }
    }
    return st;
}

char *nb_text_augment(nb_text_aug *a, const char *text, nb_rng *r)
{
    if (!a || !text || !r) {
        nb__fail(NB_ERR_ARG, "nb_text_augment: NULL augmenter, text or generator");
        return NULL;
    }
    int64_t bad = nb_utf8_check(text, strlen(text));
    if (bad >= 0) {
        nb__fail(NB_ERR_ARG, "invalid UTF-8 at byte %lld", (long long)bad + 1);
        return NULL;
    }
    char *out = NULL;
    const char *one[1] = {text};
    if (nb_text_augment_batch(a, one, 1, r, &out)) return NULL;
    return out;
}
