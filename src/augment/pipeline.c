/* pipeline.c - Compose: a pipeline of transform classes (transforms.c) read from a
 * SPEC string with the shared parser (src/core/spec.c), applied to tensors or, for
 * the loader's workers, to raw buffers with a private arena. */
#include "augment/augment.h"
#include "core/error.h"
#include "core/arena.h"
#include "core/tensor.h"
#include "core/ctx.h"
#include "core/spec.h"
#include "augment/transform.h"

#include <stdlib.h>
#include <string.h>

struct nb_transform {
    nb__tf_step *steps;
    int n;
};

/* Append to the current message the spec with a caret under column col (none when 0). */
static void add_caret(const char *spec, int col)
{
    if (col < 1 || strchr(spec, '\n') || strlen(spec) > 1000) return;
    char msg[2048];
    snprintf(msg, sizeof msg, "%s", nb_last_error());
    char pad[1024];
    int k = 0;
    while (k < col - 1 && k < (int)sizeof pad - 1) pad[k++] = ' ';
    pad[k] = 0;
    nb__fail(NB_ERR_ARG, "%s\n    %s\n    %s^", msg, spec, pad);
}

static nb_status unknown_name(const nb__spec_item *it)
{
    int n, best = 99;
    const nb__tf_kind *k = nb__tf_kinds(&n), *pick = NULL;
    const char *pick_name = NULL;
    for (int i = 0; i < n; i++) {
        const char *names[3] = {k[i].snake, k[i].name, k[i].alias};
        for (int j = 0; j < 3; j++) {
            if (!names[j]) continue;
            int d = nb_edit_distance(it->name, names[j]);
            if (d < best) {
                best = d;
                pick = &k[i];
                pick_name = names[j];
            }
        }
    }
    int len = (int)strlen(it->name);
    if (pick && best <= (len / 3 > 2 ? len / 3 : 2))
        return nb__fail(NB_ERR_ARG, "unknown transform '%s' at column %d (did you mean %s?)", it->name, it->col, pick_name);
    return nb__fail(NB_ERR_ARG, "unknown transform '%s' at column %d (docs/augmentation.md lists them)", it->name, it->col);
}

nb_transform *nb_transform_parse(const char *spec)
{
    if (!spec) {
        nb__fail(NB_ERR_ARG, "nb_transform_parse: no spec string");
        return NULL;
    }
    nb__spec_item *items;
    int n;
    if (nb__spec_parse(spec, &items, &n)) {
        add_caret(spec, nb__last_error_pos()->col);
        return NULL;
    }
    nb_transform *tf = calloc(1, sizeof *tf);
    nb__tf_step *steps = n ? calloc((size_t)n, sizeof *steps) : NULL;
    nb_status st = NB_OK;
    int col = 0; /* where the spec is at fault */
    if (!tf || (n && !steps)) st = nb__fail(NB_ERR_MEM, "out of memory reading a transform spec");
    for (int i = 0; !st && i < n; i++) {
        const nb__spec_item *it = &items[i];
        const nb__tf_kind *k = nb__tf_find(it->name);
        if (!k) {
            st = unknown_name(it);
            col = it->col;
            break;
        }
        st = nb__spec_check(it, k->keys, k->max_pos);
        if (!st) {
            steps[i].k = k;
            st = k->parse(&steps[i], it);
        }
        col = nb__last_error_pos()->col;
    }
    nb__spec_free(items, n);
    if (st) {
        if (st == NB_ERR_ARG) add_caret(spec, col);
        free(steps);
        free(tf);
        return NULL;
    }
    tf->steps = steps;
    tf->n = n;
    return tf;
}

void nb_transform_free(nb_transform *tf)
{
    if (!tf) return;
    free(tf->steps);
    free(tf);
}

/* Run every step on one image; buffers from a. */
static nb_status run_steps(const nb_transform *tf, const nb__img *in, nb_arena *a, nb_rng *rng, nb__img *out)
{
    nb__img cur = *in;
    for (int i = 0; i < tf->n; i++) {
        nb__img nx;
        nb_status st = tf->steps[i].k->run(&tf->steps[i], a, &cur, &nx, rng);
        if (st) return st;
        cur = nx;
    }
    *out = cur;
    return NB_OK;
}

nb_status nb__transform_run(const nb_transform *tf, const float *in, const int64_t in_chw[3], nb_arena *a,
                            nb_rng *rng, float **out, int64_t out_chw[3])
{
    if (!tf || !in || !a || !rng) return nb__fail(NB_ERR_ARG, "nb__transform_run: missing argument");
    if (in_chw[0] < 1 || in_chw[1] < 1 || in_chw[2] < 1) return nb__fail(NB_ERR_SHAPE, "transform: empty image");
    nb__img src = {(float *)in, 1, in_chw[0], in_chw[1], in_chw[2]}, res;
    nb_status st = run_steps(tf, &src, a, rng, &res);
    if (st) return st;
    *out = res.p;
    out_chw[0] = res.c;
    out_chw[1] = res.h;
    out_chw[2] = res.w;
    return NB_OK;
}

nb_tensor *nb_transform_apply(const nb_transform *tf, nb_tensor *img, nb_rng *rng)
{
    nb__img in;
    if (nb__img_view(img, "transform", &in)) return NULL;
    if (!tf || !rng) {
        nb__fail(NB_ERR_ARG, "nb_transform_apply needs a transform and a random generator");
        return NULL;
    }
    nb_ctx *ctx = img->ctx;
    int64_t per = in.c * in.h * in.w;
    nb_tensor *t = NULL;
    nb__img o = {0};
    for (int64_t b = 0; b < in.n; b++) {
        nb__img one = {in.p + b * per, 1, in.c, in.h, in.w}, res;
        if (run_steps(tf, &one, &ctx->arena, rng, &res)) return NULL;
        if (!t) {
            t = nb__img_tensor(ctx, img, res.c, res.h, res.w, &o);
            if (!t) return NULL;
        } else if (res.c != o.c || res.h != o.h || res.w != o.w) {
            nb__fail(NB_ERR_SHAPE, "transform: image %lld came out (%lld, %lld, %lld) but image 0 (%lld, %lld, %lld); "
                                   "a batch needs one output size",
                     (long long)b, (long long)res.c, (long long)res.h, (long long)res.w, (long long)o.c, (long long)o.h,
                     (long long)o.w);
            return NULL;
        }
        memcpy(o.p + b * res.c * res.h * res.w, res.p, (size_t)(res.c * res.h * res.w) * sizeof(float));
    }
    return t;
}

nb_status nb_transform_out_shape(const nb_transform *tf, const int64_t in_chw[3], int64_t out_chw[3])
{
    if (!tf) return nb__fail(NB_ERR_ARG, "nb_transform_out_shape: no transform");
    int64_t cur[3] = {in_chw[0], in_chw[1], in_chw[2]};
    for (int i = 0; i < tf->n; i++) {
        int64_t nx[3];
        nb_status st = tf->steps[i].k->shape(&tf->steps[i], cur, nx);
        if (st) return st;
        memcpy(cur, nx, sizeof cur);
    }
    memcpy(out_chw, cur, sizeof cur);
    return NB_OK;
}

char *nb_transform_str(const nb_transform *tf, char *buf, size_t n)
{
    if (!buf || !n) return buf;
    buf[0] = 0;
    if (!tf) return buf;
    size_t len = (size_t)snprintf(buf, n, "Compose(");
    for (int i = 0; i < tf->n && len < n; i++) {
        len += (size_t)snprintf(buf + len, n - len, "\n    ");
        if (len >= n) break;
        tf->steps[i].k->str(&tf->steps[i], buf + len, n - len);
        len += strlen(buf + len);
    }
    if (len < n) snprintf(buf + len, n - len, "%s)", tf->n ? "\n" : "");
    return buf;
}
