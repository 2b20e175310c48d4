/* transforms.c - the transform classes of a pipeline (torchvision.transforms and
 * imgaug names): how each reads its SPEC arguments, its output shape, its random
 * wrapper (draw the parameters from the rng, then call the deterministic kernel of
 * geometry.c, color.c, noise.c or erase.c), and its repr.
 *
 * Parameters and defaults are torchvision 0.14's; docs/augmentation.md lists them.
 * Draws: "p" tests are nb_rng_uniform < p (torchvision: a uniform [0, 1) draw below p), integers nb_rng_below,
 * ranges a + (b - a)·nb_rng_uniform. */
#include "augment/augment.h"
#include "core/error.h"
#include "core/arena.h"
#include "core/spec.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>

/* ---- reading arguments ---- */

static int is_none(const nb__spec_arg *a)
{
    return a && a->kind == NB__SPEC_STR && (!strcmp(a->str, "None") || !strcmp(a->str, "none"));
}

/* The argument, or NULL when absent or None. */
static const nb__spec_arg *get(const nb__spec_item *it, const char *key, int pos)
{
    const nb__spec_arg *a = nb__spec_get(it, key, pos);
    return is_none(a) ? NULL : a;
}

/* "<name>: '<key>' <message> at column C" */
static nb_status bad(const nb__spec_item *it, const char *key, int pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static nb_status bad(const nb__spec_item *it, const char *key, int pos, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const nb__spec_arg *a = nb__spec_get(it, key, pos);
    return nb__fail_at(NB_ERR_ARG, a ? a->col : it->col, 0, "%s: '%s' %s", it->name, key, msg);
}

static nb_status required(const nb__spec_item *it, const char *key, int pos)
{
    if (get(it, key, pos)) return NB_OK;
    return nb__fail_at(NB_ERR_ARG, it->col, 0, "%s needs '%s'", it->name, key);
}

static nb_status num(const nb__spec_item *it, const char *key, int pos, double def, double *out)
{
    if (!get(it, key, pos)) {
        *out = def;
        return NB_OK;
    }
    nb_status st = nb__spec_num(it, key, pos, def, out);
    if (!st && !isfinite(*out)) return bad(it, key, pos, "must be finite");
    return st;
}

static nb_status boolean(const nb__spec_item *it, const char *key, int pos, int def, int *out)
{
    if (!get(it, key, pos)) {
        *out = def;
        return NB_OK;
    }
    return nb__spec_bool(it, key, pos, def, out);
}

/* A number or tuple of 1..max numbers; *n = 0 when absent or None. */
static nb_status tuple(const nb__spec_item *it, const char *key, int pos, double *out, int max, int *n)
{
    if (!get(it, key, pos)) {
        *n = 0;
        return NB_OK;
    }
    nb_status st = nb__spec_tuple(it, key, pos, out, max, n);
    for (int k = 0; !st && k < *n; k++)
        if (!isfinite(out[k])) st = bad(it, key, pos, "must be finite");
    return st;
}

static nb_status probability(const nb__spec_item *it, const char *key, int pos, double def, float *out)
{
    double v;
    nb_status st = num(it, key, pos, def, &v);
    if (!st && !(v >= 0 && v <= 1)) st = bad(it, key, pos, "must be a probability in [0, 1], got %g", v);
    *out = (float)v;
    return st;
}

static int integral(double v) { return v == floor(v) && fabs(v) < 1e9; }

/* size: an int s (s, s) or a tuple (h, w) / (s,); positive integers */
static nb_status size_arg(const nb__spec_item *it, const char *key, int pos, int64_t size[2], int *n_given)
{
    double v[2];
    int n;
    nb_status st = tuple(it, key, pos, v, 2, &n);
    if (st) return st;
    for (int k = 0; k < n; k++)
        if (!integral(v[k]) || v[k] < 1 || v[k] > (1 << 20))
            return bad(it, key, pos, "needs positive integers, got %g", v[k]);
    if (n) {
        size[0] = (int64_t)v[0];
        size[1] = (int64_t)v[n - 1];
    }
    if (n_given) *n_given = n;
    return NB_OK;
}

/* padding: p (all sides), (left/right, top/bottom) or (left, top, right, bottom) */
static nb_status padding_arg(const nb__spec_item *it, const char *key, int pos, int64_t pad[4], int *has)
{
    double v[4];
    int n;
    nb_status st = tuple(it, key, pos, v, 4, &n);
    if (st) return st;
    *has = n > 0;
    if (n == 3) return bad(it, key, pos, "needs 1, 2 or 4 numbers, got 3");
    for (int k = 0; k < n; k++)
        if (!integral(v[k]) || v[k] < 0 || v[k] > (1 << 20))
            return bad(it, key, pos, "needs integers >= 0, got %g", v[k]);
    if (n == 1) pad[0] = pad[1] = pad[2] = pad[3] = (int64_t)v[0];
    if (n == 2) {
        pad[0] = pad[2] = (int64_t)v[0];
        pad[1] = pad[3] = (int64_t)v[1];
    }
    if (n == 4)
        for (int k = 0; k < 4; k++) pad[k] = (int64_t)v[k];
    return NB_OK;
}

static nb_status pad_mode_arg(const nb__spec_item *it, const char *key, int pos, nb_pad_mode *m)
{
    static const char *names[] = {"constant", "edge", "reflect", "symmetric"};
    const char *s;
    *m = NB_PAD_CONSTANT;
    if (!get(it, key, pos)) return NB_OK;
    nb_status st = nb__spec_str(it, key, pos, "constant", &s);
    if (st) return st;
    for (int k = 0; k < 4; k++)
        if (!strcmp(s, names[k])) {
            *m = (nb_pad_mode)k;
            return NB_OK;
        }
    return bad(it, key, pos, "must be constant, edge, reflect or symmetric, got '%s'", s);
}

static nb_status interp_arg(const nb__spec_item *it, const char *key, int pos, nb_interp def, nb_interp *m)
{
    const char *s;
    *m = def;
    if (!get(it, key, pos)) return NB_OK;
    nb_status st = nb__spec_str(it, key, pos, "", &s);
    if (st) return st;
    const char *dot = strrchr(s, '.'); /* InterpolationMode.BILINEAR */
    if (dot) s = dot + 1;
    if (!strcasecmp(s, "nearest")) *m = NB_INTERP_NEAREST;
    else if (!strcasecmp(s, "bilinear")) *m = NB_INTERP_BILINEAR;
    else return bad(it, key, pos, "must be nearest or bilinear (the others are not supported), got '%s'", s);
    return NB_OK;
}

static nb_status fill_arg(const nb__spec_item *it, const char *key, int pos, float *fill)
{
    double v;
    nb_status st = num(it, key, pos, 0.0, &v);
    *fill = (float)v;
    return st;
}

/* A (min, max) range: a number v gives (center - v, center + v) (v >= 0, the low end
 * clipped at 0 if clip0), a pair must lie within [lo, hi] in order. *has = 0 when
 * absent or when the range is exactly (center, center) (torchvision turns it off). */
static nb_status range_arg(const nb__spec_item *it, const char *key, int pos, double center, double lo, double hi,
                           int clip0, float out[2], int *has)
{
    double v[2];
    int n;
    nb_status st = tuple(it, key, pos, v, 2, &n);
    *has = 0;
    if (st || !n) return st;
    if (n == 1 && nb__spec_get(it, key, pos)->kind == NB__SPEC_NUM) {
        if (v[0] < 0) return bad(it, key, pos, "must be >= 0 when a single number, got %g", v[0]);
        v[1] = center + v[0];
        v[0] = center - v[0];
        if (clip0 && v[0] < 0) v[0] = 0;
        if (v[0] < lo || v[1] > hi) return bad(it, key, pos, "must be in [%g, %g]", lo, hi);
    } else {
        if (n != 2) return bad(it, key, pos, "needs a number or a pair (min, max)");
        if (!(lo <= v[0] && v[0] <= v[1] && v[1] <= hi))
            return bad(it, key, pos, "needs min <= max within [%g, %g], got (%g, %g)", lo, hi, v[0], v[1]);
    }
    out[0] = (float)v[0];
    out[1] = (float)v[1];
    *has = !(v[0] == center && v[1] == center);
    return NB_OK;
}

/* A pair (min, max) with min <= max (a warning in torchvision; an error here). */
static nb_status pair_arg(const nb__spec_item *it, const char *key, int pos, double d0, double d1, float out[2])
{
    double v[2];
    int n;
    nb_status st = tuple(it, key, pos, v, 2, &n);
    if (st) return st;
    if (!n) {
        v[0] = d0;
        v[1] = d1;
    } else if (n != 2 || v[0] > v[1]) {
        return bad(it, key, pos, "needs a pair (min, max) with min <= max");
    }
    out[0] = (float)v[0];
    out[1] = (float)v[1];
    return NB_OK;
}

/* ---- repr ---- */

typedef struct {
    char *buf;
    size_t n, len;
} sbuf;

static void put(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(sbuf *b, const char *fmt, ...)
{
    if (b->len >= b->n) return;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(b->buf + b->len, b->n - b->len, fmt, ap);
    va_end(ap);
    if (w > 0) b->len += (size_t)w;
    if (b->len >= b->n) b->len = b->n;
}

static const char *interp_name(nb_interp m) { return m == NB_INTERP_NEAREST ? "nearest" : "bilinear"; }
static const char *pad_name(nb_pad_mode m)
{
    static const char *n[] = {"constant", "edge", "reflect", "symmetric"};
    return n[m];
}
static const char *tf(int v) { return v ? "True" : "False"; }

/* ---- shapes ---- */

static nb_status same_shape(const nb__tf_step *s, const int64_t in[3], int64_t out[3])
{
    memcpy(out, in, 3 * sizeof(int64_t));
    return NB_OK;
}

static nb_status color_shape(const nb__tf_step *s, const int64_t in[3], int64_t out[3])
{
    if (in[0] != 1 && in[0] != 3)
        return nb__fail(NB_ERR_SHAPE, "%s needs images with 1 or 3 channels, got %lld", s->k->snake, (long long)in[0]);
    memcpy(out, in, 3 * sizeof(int64_t));
    return NB_OK;
}

/* ---- allocation helpers ---- */

static nb_status alloc_like(nb_arena *a, const nb__img *in, int64_t c, int64_t h, int64_t w, nb__img *out)
{
    *out = nb__img_alloc(a, 1, c, h, w);
    return out->p ? NB_OK : NB_ERR_MEM;
}

/* ====================================================================== */
/* ToTensor: the datasets already give ToTensor's output, so it passes images on */

static nb_status totensor_parse(nb__tf_step *s, const nb__spec_item *it) { return NB_OK; }
static nb_status identity_run(const nb__tf_step *s, nb_arena *a, const nb__img *in, nb__img *out, nb_rng *r)
{
    *out = *in;
    return NB_OK;
}
static void totensor_str(const nb__tf_step *s, char *buf, size_t n) { snprintf(buf, n, "ToTensor()"); }

/* ====================================================================== */
/* RandomHorizontalFlip(p=0.5), RandomVerticalFlip(p=0.5) */

static nb_status flip_parse(nb__tf_step *s, const nb__spec_item *it) { return probability(it, "p", 0, 0.5, &s->p); }
static nb_status flip_run(const nb__tf_step *s, nb_arena *a, const nb__img *in, nb__img *out, nb_rng *r)
{
    if (!(nb_rng_uniform(r) < s->p)) return identity_run(s, a, in, out, r);
    nb_status st = alloc_like(a, in, in->c, in->h, in->w, out);
    if (st) return st;
    if (!strcmp(s->k->name, "RandomHorizontalFlip")) nb__k_hflip(in, out);
    else nb__k_vflip(in, out);
    return NB_OK;
}
static void flip_str(const nb__tf_step *s, char *buf, size_t n) { snprintf(buf, n, "%s(p=%g)", s->k->name, (double)s->p); }

/* ====================================================================== */
/* RandomCrop(size, padding=None, pad_if_needed=False, fill=0, padding_mode=constant) */

static nb_status rcrop_parse(nb__tf_step *s, const nb__spec_item *it)
{
    nb_status st = required(it, "size", 0);
    if (!st) st = size_arg(it, "size", 0, s->size, NULL);
    if (!st) st = padding_arg(it, "padding", 1, s->pad, &s->has_pad);
    if (!st) st = boolean(it, "pad_if_needed", 2, 0, &s->pad_if_needed);
    if (!st) st = fill_arg(it, "fill", 3, &s->fill);
    if (!st) st = pad_mode_arg(it, "padding_mode", 4, &s->pad_mode);
    return st;
}

/* The padding RandomCrop applies to an (h, w) image: its own, then pad_if_needed's
 * F.pad([tw - w, 0]) and F.pad([0, th - h]), which pad both sides. */
static void rcrop_padding(const nb__tf_step *s, int64_t h, int64_t w, int64_t pad[4])
{
    for (int k = 0; k < 4; k++) pad[k] = s->has_pad ? s->pad[k] : 0;
    int64_t ph = h + pad[1] + pad[3], pw = w + pad[0] + pad[2];
    if (s->pad_if_needed && pw < s->size[1]) {
        pad[0] += s->size[1] - pw;
        pad[2] += s->size[1] - pw;
    }
    if (s->pad_if_needed && ph < s->size[0]) {
        pad[1] += s->size[0] - ph;
        pad[3] += s->size[0] - ph;
    }
}

static nb_status rcrop_check(const nb__tf_step *s, int64_t h, int64_t w, int64_t pad[4])
{
    rcrop_padding(s, h, w, pad);
    /* pad_if_needed pads in two steps; each must be valid for its mode on the image it pads */
    int64_t first[4] = {s->has_pad ? s->pad[0] : 0, s->has_pad ? s->pad[1] : 0, s->has_pad ? s->pad[2] : 0,
                        s->has_pad ? s->pad[3] : 0};
    nb_status st = nb__pad_check(h, w, first, s->pad_mode);
    int64_t h1 = h + first[1] + first[3], w1 = w + first[0] + first[2];
    int64_t xw[4] = {pad[0] - first[0], 0, pad[2] - first[2], 0}, xh[4] = {0, pad[1] - first[1], 0, pad[3] - first[3]};
    if (!st) st = nb__pad_check(h1, w1, xw, s->pad_mode);
    if (!st) st = nb__pad_check(h1, w1 + xw[0] + xw[2], xh, s->pad_mode);
    if (st) {
        nb__error_prefix("random_crop");
        return st;
    }
    int64_t ph = h + pad[1] + pad[3], pw = w + pad[0] + pad[2];
    if (s->size[0] > ph || s->size[1] > pw)
        return nb__fail(NB_ERR_SHAPE, "random_crop: the crop %lldx%lld is larger than the %s image %lldx%lld (use "
                                      "padding or pad_if_needed=true)",
                        (long long)s->size[0], (long long)s->size[1], s->has_pad ? "padded" : "", (long long)ph,
                        (long long)pw);
    return NB_OK;
}

static nb_status rcrop_shape(const nb__tf_step *s, const int64_t in[3], int64_t out[3])
{
    int64_t pad[4];
    nb_status st = rcrop_check(s, in[1], in[2], pad);
    out[0] = in[0];
    out[1] = s->size[0];
    out[2] = s->size[1];
    return st;
}

/* Padding in the three steps torchvision takes gives the same pixels as one pad by
 * the sum for constant and edge; reflect/symmetric reflect the already padded image,
 * so they are applied step by step. */
static nb_status pad_steps(const nb__tf_step *s, nb_arena *a, const nb__img *in, const int64_t pad[4], nb__img *out)
{
    int64_t first[4] = {s->has_pad ? s->pad[0] : 0, s->has_pad ? s->pad[1] : 0, s->has_pad ? s->pad[2] : 0,
                        s->has_pad ? s->pad[3] : 0};
    int64_t steps[3][4] = {{first[0], first[1], first[2], first[3]},
                           {pad[0] - first[0], 0, pad[2] - first[2], 0},
                           {0, pad[1] - first[1], 0, pad[3] - first[3]}};
    if (s->pad_mode == NB_PAD_CONSTANT || s->pad_mode == NB_PAD_EDGE) {
        memcpy(steps[0], pad, sizeof steps[0]);
        memset(steps[1], 0, sizeof steps[1]);
        memset(steps[2], 0, sizeof steps[2]);
    }
    nb__img cur = *in;
    for (int k = 0; k < 3; k++) {
        if (!steps[k][0] && !steps[k][1] && !steps[k][2] && !steps[k][3]) continue;
        nb__img nx;
        nb_status st = alloc_like(a, &cur, cur.c, cur.h + steps[k][1] + steps[k][3], cur.w + steps[k][0] + steps[k][2], &nx);
        if (st) return st;
        nb__k_pad(&cur, &nx, steps[k][0], steps[k][1], s->pad_mode, s->fill);
        cur = nx;
    }
    *out = cur;
    return NB_OK;
}

static nb_status rcrop_run(const nb__tf_step *s, nb_arena *a, const nb__img *in, nb__img *out, nb_rng *r)
{
    int64_t pad[4], top, left;
    nb__img padded;
    nb_status st = rcrop_check(s, in->h, in->w, pad);
    if (!st) st = pad_steps(s, a, in, pad, &padded);
    if (!st) st = nb_random_crop_params(padded.h, padded.w, s->size[0], s->size[1], r, &top, &left);
    if (st) return st;
    if (top == 0 && left == 0 && padded.h == s->size[0] && padded.w == s->size[1]) {
        *out = padded;
        return NB_OK;
    }
    st = alloc_like(a, in, in->c, s->size[0], s->size[1], out);
    if (!st) nb__k_crop(&padded, out, top, left, 0.0f);
    return st;
}

static void rcrop_str(const nb__tf_step *s, char *buf, size_t n)
{
    sbuf b = {buf, n, 0};
    put(&b, "RandomCrop(size=(%lld, %lld)", (long long)s->size[0], (long long)s->size[1]);
    if (s->has_pad)
        put(&b, ", padding=(%lld, %lld, %lld, %lld)", (long long)s->pad[0], (long long)s->pad[1], (long long)s->pad[2],
            (long long)s->pad[3]);
    else
        put(&b, ", padding=None");
    put(&b, ", pad_if_needed=%s, fill=%g, padding_mode=%s)", tf(s->pad_if_needed), (double)s->fill, pad_name(s->pad_mode));
}

/* ====================================================================== */
/* CenterCrop(size) */

static nb_status ccrop_parse(nb__tf_step *s, const nb__spec_item *it)
{
    nb_status st = required(it, "size", 0);
    return st ? st : size_arg(it, "size", 0, s->size, NULL);
}
static nb_status ccrop_shape(const nb__tf_step *s, const int64_t in[3], int64_t out[3])
{
    out[0] = in[0];
    out[1] = s->size[0];
    out[2] = s->size[1];
    return NB_OK;
}
static nb_status ccrop_run(const nb__tf_step *s, nb_arena *a, const nb__img *in, nb__img *out, nb_rng *r)
{
    if (in->h == s->size[0] && in->w == s->size[1]) return identity_run(s, a, in, out, r);
    int64_t top, left;
    nb__center_crop_origin(in->h, in->w, s->size[0], s->size[1], &top, &left);
    nb_status st = alloc_like(a, in, in->c, s->size[0], s->size[1], out);
    if (!st) nb__k_crop(in, out, top, left, 0.0f);
    return st;
}
static void ccrop_str(const nb__tf_step *s, char *buf, size_t n)
{
    snprintf(buf, n, "CenterCrop(size=(%lld, %lld))", (long long)s->size[0], (long long)s->size[1]);
}

/* ====================================================================== */
/* Pad(padding, fill=0, padding_mode=constant) */

static nb_status pad_parse(nb__tf_step *s, const nb__spec_item *it)
{
    nb_status st = required(it, "padding", 0);
    if (!st) st = padding_arg(it, "padding", 0, s->pad, &s->has_pad);
    if (!st) st = fill_arg(it, "fill", 1, &s->fill);
    if (!st) st = pad_mode_arg(it, "padding_mode", 2, &s->pad_mode);
    return st;
}
static nb_status pad_shape(const nb__tf_step *s, const int64_t in[3], int64_t out[3])
{
    nb_status st = nb__pad_check(in[1], in[2], s->pad, s->pad_mode);
    out[0] = in[0];
    out[1] = in[1] + s->pad[1] + s->pad[3];
    out[2] = in[2] + s->pad[0] + s->pad[2];
    return st;
}
static nb_status pad_run(const nb__tf_step *s, nb_arena *a, const nb__img *in, nb__img *out, nb_rng *r)
{
    nb_status st = nb__pad_check(in->h, in->w, s->pad, s->pad_mode);
    if (!st) st = alloc_like(a, in, in->c, in->h + s->pad[1] + s->pad[3], in->w + s->pad[0] + s->pad[2], out);
    if (!st) nb__k_pad(in, out, s->pad[0], s->pad[1], s->pad_mode, s->fill);
    return st;
}
static void pad_str(const nb__tf_step *s, char *buf, size_t n)
{
    snprintf(buf, n, "Pad(padding=(%lld, %lld, %lld, %lld), fill=%g, padding_mode=%s)", (long long)s->pad[0],
             (long long)s->pad[1], (long long)s->pad[2], (long long)s->pad[3], (double)s->fill, pad_name(s->pad_mode));
}

/* ====================================================================== */
/* Resize(size, interpolation=bilinear, max_size=None, antialias=None -> False) */

static nb_status resize_parse(nb__tf_step *s, const nb__spec_item *it)
{
    int n = 0;
    double ms;
    nb_status st = required(it, "size", 0);
    if (!st) st = size_arg(it, "size", 0, s->size, &n);
    if (!st && n == 1) s->size[1] = 0; /* one number: the smaller edge */
    if (!st) st = interp_arg(it, "interpolation", 1, NB_INTERP_BILINEAR, &s->interp);
    if (!st) st = num(it, "max_size", 2, 0, &ms);
    if (!st && get(it, "max_size", 2)) {
        if (n != 1) return bad(it, "max_size", 2, "is only allowed when size is one number");
        if (!integral(ms) || ms <= (double)s->size[0])
            return bad(it, "max_size", 2, "must be an integer larger than size (%lld)", (long long)s->size[0]);
        s->max_size = (int64_t)ms;
    }
    if (!st) st = boolean(it, "antialias", 3, 0, &s->antialias);
    if (!st && s->antialias && s->interp != NB_INTERP_BILINEAR)
        st = bad(it, "antialias", 3, "is supported for bilinear interpolation only");
    return st;
}
static nb_status resize_shape(const nb__tf_step *s, const int64_t in[3], int64_t out[3])
{
    out[0] = in[0];
    if (s->size[1]) {
        out[1] = s->size[0];
        out[2] = s->size[1];
        return NB_OK;
    }
    return nb__resize_short_size(in[1], in[2], s->size[0], s->max_size, &out[1], &out[2]);
}
static nb_status resize_run(const nb__tf_step *s, nb_arena *a, const nb__img *in, nb__img *out, nb_rng *r)
{
    int64_t shp[3], inshape[3] = {in->c, in->h, in->w};
    nb_status st = resize_shape(s, inshape, shp);
    if (st) return st;
    if (shp[1] == in->h && shp[2] == in->w) return identity_run(s, a, in, out, r);
    st = alloc_like(a, in, in->c, shp[1], shp[2], out);
    if (!st) st = nb__resized_crop(a, in, 0, 0, in->h, in->w, out, s->interp, s->antialias);
    return st;
}
static void resize_str(const nb__tf_step *s, char *buf, size_t n)
{
    sbuf b = {buf, n, 0};
    if (s->size[1]) put(&b, "Resize(size=(%lld, %lld)", (long long)s->size[0], (long long)s->size[1]);
    else put(&b, "Resize(size=%lld", (long long)s->size[0]);
    put(&b, ", interpolation=%s, max_size=", interp_name(s->interp));
    if (s->max_size) put(&b, "%lld", (long long)s->max_size);
    else put(&b, "None");
    put(&b, ", antialias=%s)", tf(s->antialias));
}

/* ====================================================================== */
/* RandomResizedCrop(size, scale=(0.08, 1.0), ratio=(3/4, 4/3), interpolation=bilinear, antialias) */

static nb_status rrc_parse(nb__tf_step *s, const nb__spec_item *it)
{
    nb_status st = required(it, "size", 0);
    if (!st) st = size_arg(it, "size", 0, s->size, NULL);
    if (!st) st = pair_arg(it, "scale", 1, 0.08, 1.0, s->scale);
    if (!st && !(s->scale[0] > 0)) st = bad(it, "scale", 1, "must be positive");
    if (!st) st = pair_arg(it, "ratio", 2, 3.0 / 4.0, 4.0 / 3.0, s->ratio);
    if (!st && !(s->ratio[0] > 0)) st = bad(it, "ratio", 2, "must be positive");
    if (!st) st = interp_arg(it, "interpolation", 3, NB_INTERP_BILINEAR, &s->interp);
    if (!st) st = boolean(it, "antialias", 4, 0, &s->antialias);
    if (!st && s->antialias && s->interp != NB_INTERP_BILINEAR)
        st = bad(it, "antialias", 4, "is supported for bilinear interpolation only");
    return st;
}
static nb_status rrc_run(const nb__tf_step *s, nb_arena *a, const nb__img *in, nb__img *out, nb_rng *r)
{
    int64_t box[4];
    nb_random_resized_crop_params(in->h, in->w, s->scale, s->ratio, r, box);
    nb_status st = alloc_like(a, in, in->c, s->size[0], s->size[1], out);
    if (!st) st = nb__resized_crop(a, in, box[0], box[1], box[2], box[3], out, s->interp, s->antialias);
    return st;
}
static void rrc_str(const nb__tf_step *s, char *buf, size_t n)
{
    snprintf(buf, n, "RandomResizedCrop(size=(%lld, %lld), scale=(%g, %g), ratio=(%g, %g), interpolation=%s, antialias=%s)",
             (long long)s->size[0], (long long)s->size[1], (double)s->scale[0], (double)s->scale[1],
             (double)s->ratio[0], (double)s->ratio[1], interp_name(s->interp), tf(s->antialias));
}

/* ====================================================================== */
/* RandomRotation(degrees, interpolation=nearest, expand=False, center=None, fill=0) */

/* degrees: d >= 0 gives (-d, d), or a pair (min, max) */
static nb_status degrees_arg(const nb__spec_item *it, const char *key, int pos, float out[2])
{
    double v[2];
    int n;
    nb_status st = tuple(it, key, pos, v, 2, &n);
    if (st) return st;
    if (n == 1) {
        if (v[0] < 0) return bad(it, key, pos, "must be >= 0 when a single number, got %g", v[0]);
        v[1] = v[0];
        v[0] = -v[0];
    } else if (n == 2 && v[0] > v[1]) {
        return bad(it, key, pos, "needs min <= max");
    }
    out[0] = (float)v[0];
    out[1] = (float)v[1];
    return NB_OK;
}

static nb_status center_arg(const nb__spec_item *it, const char *key, int pos, float c[2], int *has)
{
    double v[2];
    int n;
    nb_status st = tuple(it, key, pos, v, 2, &n);
    if (st) return st;
    if (n && n != 2) return bad(it, key, pos, "needs a pair (x, y)");
    *has = n == 2;
    if (n == 2) {
        c[0] = (float)v[0];
        c[1] = (float)v[1];
    }
    return NB_OK;
}

static nb_status rot_parse(nb__tf_step *s, const nb__spec_item *it)
{
    nb_status st = required(it, "degrees", 0);
    if (!st) st = degrees_arg(it, "degrees", 0, s->degrees);
    if (!st) st = interp_arg(it, "interpolation", 1, NB_INTERP_NEAREST, &s->interp);
    if (!st) st = boolean(it, "expand", 2, 0, &s->expand);
    if (!st) st = center_arg(it, "center", 3, s->center, &s->has_center);
    if (!st) st = fill_arg(it, "fill", 4, &s->fill);
    return st;
}
static nb_warp_opts warp_opts(const nb__tf_step *s)
{
    nb_warp_opts o = {s->interp, s->fill, s->expand, s->has_center, {s->center[0], s->center[1]}};
    return o;
}
static nb_status rot_shape(const nb__tf_step *s, const int64_t in[3], int64_t out[3])
{
    memcpy(out, in, 3 * sizeof(int64_t));
    if (s->expand && s->degrees[0] != s->degrees[1])
        return nb__fail(NB_ERR_ARG, "random_rotation with expand=True gives images whose size depends on the angle; "
                                    "follow it with a resize or center_crop to a fixed size");
    if (s->expand) {
        double m[6];
        nb_warp_opts o = warp_opts(s);
        nb__rotate_matrix(in[1], in[2], s->degrees[0], &o, m);
        nb__rotate_expand_size(in[1], in[2], m, &out[1], &out[2]);
    }
    return NB_OK;
}
static nb_status rot_run(const nb__tf_step *s, nb_arena *a, const nb__img *in, nb__img *out, nb_rng *r)
{
    float angle = s->degrees[0] + (s->degrees[1] - s->degrees[0]) * nb_rng_uniform(r);
    nb_warp_opts o = warp_opts(s);
    double m[6];
    nb__rotate_matrix(in->h, in->w, angle, &o, m);
    int64_t oh = in->h, ow = in->w;
    if (s->expand) nb__rotate_expand_size(in->h, in->w, m, &oh, &ow);
    nb_status st = alloc_like(a, in, in->c, oh, ow, out);
    if (!st) nb__k_warp(in, out, m, s->interp, s->fill);
    return st;
}
static void rot_str(const nb__tf_step *s, char *buf, size_t n)
{
    sbuf b = {buf, n, 0};
    put(&b, "RandomRotation(degrees=[%g, %g], interpolation=%s, expand=%s", (double)s->degrees[0],
        (double)s->degrees[1], interp_name(s->interp), tf(s->expand));
    if (s->has_center) put(&b, ", center=[%g, %g]", (double)s->center[0], (double)s->center[1]);
    put(&b, ", fill=%g)", (double)s->fill);
}

/* ====================================================================== */
/* RandomAffine(degrees, translate=None, scale=None, shear=None, interpolation=nearest, fill=0, center=None) */

static nb_status affine_parse(nb__tf_step *s, const nb__spec_item *it)
{
    double v[4];
    int n;
    nb_status st = required(it, "degrees", 0);
    if (!st) st = degrees_arg(it, "degrees", 0, s->degrees);
    if (!st) st = tuple(it, "translate", 1, v, 2, &n);
    if (!st && n) {
        if (n != 2) return bad(it, "translate", 1, "needs a pair (a, b) of fractions");
        for (int k = 0; k < 2; k++)
            if (!(v[k] >= 0 && v[k] <= 1)) return bad(it, "translate", 1, "values must be between 0 and 1");
        s->translate[0] = (float)v[0];
        s->translate[1] = (float)v[1];
        s->has_translate = 1;
    }
    if (!st) st = tuple(it, "scale", 2, v, 2, &n);
    if (!st && n) {
        if (n != 2 || !(v[0] > 0 && v[1] > 0) || v[0] > v[1])
            return bad(it, "scale", 2, "needs a pair (min, max) of positive numbers");
        s->scale[0] = (float)v[0];
        s->scale[1] = (float)v[1];
        s->has_scale = 1;
    }
    if (!st) st = tuple(it, "shear", 3, v, 4, &n);
    if (!st && n) {
        const nb__spec_arg *a = nb__spec_get(it, "shear", 3);
        if (n == 1 && a->kind == NB__SPEC_NUM) {
            if (v[0] < 0) return bad(it, "shear", 3, "must be >= 0 when a single number");
            v[1] = v[0];
            v[0] = -v[0];
            n = 2;
        }
        if (n != 2 && n != 4) return bad(it, "shear", 3, "needs a number, a pair or 4 numbers");
        if (n == 2) v[2] = v[3] = 0;
        if (v[0] > v[1] || v[2] > v[3]) return bad(it, "shear", 3, "needs ranges (min, max) with min <= max");
        for (int k = 0; k < 4; k++) s->shear[k] = (float)v[k];
        s->has_shear = 1;
    }
    if (!st) st = interp_arg(it, "interpolation", 4, NB_INTERP_NEAREST, &s->interp);
    if (!st) st = fill_arg(it, "fill", 5, &s->fill);
    if (!st) st = center_arg(it, "center", 6, s->center, &s->has_center);
    return st;
}
static nb_status affine_run(const nb__tf_step *s, nb_arena *a, const nb__img *in, nb__img *out, nb_rng *r)
{
    float p[6];
    nb_random_affine_params(s->degrees, s->has_translate ? s->translate : NULL, s->has_scale ? s->scale : NULL,
                            s->has_shear ? s->shear : NULL, in->h, in->w, r, p);
    nb_warp_opts o = warp_opts(s);
    double m[6];
    nb__affine_matrix(in->h, in->w, p[0], p[1], p[2], p[3], p[4], p[5], &o, m);
    nb_status st = alloc_like(a, in, in->c, in->h, in->w, out);
    if (!st) nb__k_warp(in, out, m, s->interp, s->fill);
    return st;
}
static void affine_str(const nb__tf_step *s, char *buf, size_t n)
{
    sbuf b = {buf, n, 0};
    put(&b, "RandomAffine(degrees=[%g, %g]", (double)s->degrees[0], (double)s->degrees[1]);
    if (s->has_translate) put(&b, ", translate=(%g, %g)", (double)s->translate[0], (double)s->translate[1]);
    if (s->has_scale) put(&b, ", scale=(%g, %g)", (double)s->scale[0], (double)s->scale[1]);
    if (s->has_shear)
        put(&b, ", shear=[%g, %g, %g, %g]", (double)s->shear[0], (double)s->shear[1], (double)s->shear[2],
            (double)s->shear[3]);
    if (s->interp != NB_INTERP_NEAREST) put(&b, ", interpolation=%s", interp_name(s->interp));
    if (s->fill != 0) put(&b, ", fill=%g", (double)s->fill);
    if (s->has_center) put(&b, ", center=[%g, %g]", (double)s->center[0], (double)s->center[1]);
    put(&b, ")");
}

/* ====================================================================== */
/* ColorJitter(brightness=0, contrast=0, saturation=0, hue=0) */

static nb_status jitter_parse(nb__tf_step *s, const nb__spec_item *it)
{
    static const char *keys[4] = {"brightness", "contrast", "saturation", "hue"};
    nb_status st = NB_OK;
    for (int k = 0; k < 3 && !st; k++) st = range_arg(it, keys[k], k, 1.0, 0.0, INFINITY, 1, s->jitter[k], &s->has_jitter[k]);
    if (!st) st = range_arg(it, "hue", 3, 0.0, -0.5, 0.5, 0, s->jitter[3], &s->has_jitter[3]);
    return st;
}
static nb_status jitter_run(const nb__tf_step *s, nb_arena *a, const nb__img *in, nb__img *out, nb_rng *r)
{
    int order[4];
    float f[4];
    nb_color_jitter_params(s->has_jitter[0] ? s->jitter[0] : NULL, s->has_jitter[1] ? s->jitter[1] : NULL,
                           s->has_jitter[2] ? s->jitter[2] : NULL, s->has_jitter[3] ? s->jitter[3] : NULL, r, order, f);
    nb__img cur = *in, buf[2];
    int nbuf = 0;
    for (int k = 0; k < 4; k++) {
        int j = order[k];
        if (!s->has_jitter[j]) continue;
        nb__img *dst = &buf[nbuf % 2];
        if (nbuf < 2) {
            nb_status st = alloc_like(a, in, in->c, in->h, in->w, dst);
            if (st) return st;
        }
        nbuf++;
        nb_status st = j == 0 ? nb__k_brightness(&cur, dst, f[0])
                     : j == 1 ? nb__k_contrast(&cur, dst, f[1])
                     : j == 2 ? nb__k_saturation(&cur, dst, f[2])
                              : nb__k_hue(&cur, dst, f[3]);
        if (st) return st;
        cur = *dst;
    }
    *out = cur;
    return NB_OK;
}
static void jitter_str(const nb__tf_step *s, char *buf, size_t n)
{
    static const char *keys[4] = {"brightness", "contrast", "saturation", "hue"};
    sbuf b = {buf, n, 0};
    put(&b, "ColorJitter(");
    for (int k = 0; k < 4; k++) {
        if (s->has_jitter[k]) put(&b, "%s%s=(%g, %g)", k ? ", " : "", keys[k], (double)s->jitter[k][0], (double)s->jitter[k][1]);
        else put(&b, "%s%s=None", k ? ", " : "", keys[k]);
    }
    put(&b, ")");
}

/* ====================================================================== */
/* Grayscale(num_output_channels=1), RandomGrayscale(p=0.1) */

static nb_status gray_parse(nb__tf_step *s, const nb__spec_item *it)
{
    double v;
    nb_status st = num(it, "num_output_channels", 0, 1, &v);
    if (!st && v != 1 && v != 3) st = bad(it, "num_output_channels", 0, "must be 1 or 3, got %g", v);
    s->n_out = st ? 1 : (int)v; /* (int) of an out-of-range double is undefined */
    return st;
}
static nb_status gray_shape(const nb__tf_step *s, const int64_t in[3], int64_t out[3])
{
    nb_status st = color_shape(s, in, out);
    out[0] = s->n_out;
    return st;
}
static nb_status gray_run(const nb__tf_step *s, nb_arena *a, const nb__img *in, nb__img *out, nb_rng *r)
{
    nb_status st = alloc_like(a, in, s->n_out, in->h, in->w, out);
    return st ? st : nb__k_grayscale(in, out);
}
static void gray_str(const nb__tf_step *s, char *buf, size_t n) { snprintf(buf, n, "Grayscale(num_output_channels=%d)", s->n_out); }

static nb_status rgray_parse(nb__tf_step *s, const nb__spec_item *it) { return probability(it, "p", 0, 0.1, &s->p); }
static nb_status rgray_run(const nb__tf_step *s, nb_arena *a, const nb__img *in, nb__img *out, nb_rng *r)
{
    if (!(nb_rng_uniform(r) < s->p)) return identity_run(s, a, in, out, r);
    nb_status st = alloc_like(a, in, in->c, in->h, in->w, out);
    return st ? st : nb__k_grayscale(in, out);
}
static void rgray_str(const nb__tf_step *s, char *buf, size_t n) { snprintf(buf, n, "RandomGrayscale(p=%g)", (double)s->p); }

/* ====================================================================== */
/* Normalize(mean, std, inplace=False) */

static nb_status norm_parse(nb__tf_step *s, const nb__spec_item *it)
{
    double m[NB_TF_MAXC], d[NB_TF_MAXC];
    int nm, nd, inplace;
    nb_status st = required(it, "mean", 0);
    if (!st) st = required(it, "std", 1);
    if (!st) st = tuple(it, "mean", 0, m, NB_TF_MAXC, &nm);
    if (!st) st = tuple(it, "std", 1, d, NB_TF_MAXC, &nd);
    if (!st) st = boolean(it, "inplace", 2, 0, &inplace);
    if (st) return st;
    if (nm != nd) return bad(it, "std", 1, "needs as many values as mean (%d), got %d", nm, nd);
    for (int k = 0; k < nd; k++)
        if (d[k] == 0) return bad(it, "std", 1, "must not be zero");
    for (int k = 0; k < nm; k++) {
        s->mean[k] = (float)m[k];
        s->std[k] = (float)d[k];
    }
    s->n_norm = nm;
    return NB_OK;
}
static nb_status norm_shape(const nb__tf_step *s, const int64_t in[3], int64_t out[3])
{
    if (s->n_norm != 1 && s->n_norm != in[0])
        return nb__fail(NB_ERR_SHAPE, "normalize has %d mean/std values for images with %lld channels", s->n_norm,
                        (long long)in[0]);
    return same_shape(s, in, out);
}
static nb_status norm_run(const nb__tf_step *s, nb_arena *a, const nb__img *in, nb__img *out, nb_rng *r)
{
    nb_status st = alloc_like(a, in, in->c, in->h, in->w, out);
    return st ? st : nb__k_normalize(in, out, s->mean, s->std, s->n_norm);
}
static void norm_str(const nb__tf_step *s, char *buf, size_t n)
{
    sbuf b = {buf, n, 0};
    put(&b, "Normalize(mean=[");
    for (int k = 0; k < s->n_norm; k++) put(&b, "%s%g", k ? ", " : "", (double)s->mean[k]);
    put(&b, "], std=[");
    for (int k = 0; k < s->n_norm; k++) put(&b, "%s%g", k ? ", " : "", (double)s->std[k]);
    put(&b, "])");
}

/* ====================================================================== */
/* GaussianNoise(mean=0.0, sigma=0.1, clip=True) (torchvision v2) */

static nb_status gnoise_parse(nb__tf_step *s, const nb__spec_item *it)
{
    double m = 0, sg = 0; /* read on the error path too */
    nb_status st = num(it, "mean", 0, 0.0, &m);
    if (!st) st = num(it, "sigma", 1, 0.1, &sg);
    if (!st && !(sg >= 0)) st = bad(it, "sigma", 1, "must be >= 0");
    if (!st) st = boolean(it, "clip", 2, 1, &s->clip);
    s->noise_mean = (float)m;
    s->sigma = (float)sg;
    return st;
}
static nb_status gnoise_run(const nb__tf_step *s, nb_arena *a, const nb__img *in, nb__img *out, nb_rng *r)
{
    nb_status st = alloc_like(a, in, in->c, in->h, in->w, out);
    if (!st) nb__k_gaussian_noise(in, out, s->noise_mean, s->sigma, s->clip, r);
    return st;
}
static void gnoise_str(const nb__tf_step *s, char *buf, size_t n)
{
    snprintf(buf, n, "GaussianNoise(mean=%g, sigma=%g, clip=%s)", (double)s->noise_mean, (double)s->sigma, tf(s->clip));
}

/* ====================================================================== */
/* imgaug AdditiveGaussianNoise(loc=0, scale=(0, 15/255), per_channel=False),
 * SaltAndPepper(p=(0, 0.03), per_channel=False): a number is fixed, a pair is
 * drawn uniformly per image. Values are in units of the [0, 1] range. */

static nb_status per_image_range(const nb__spec_item *it, const char *key, int pos, double d0, double d1, double hi,
                                 float out[2])
{
    double v[2];
    int n;
    nb_status st = tuple(it, key, pos, v, 2, &n);
    if (st) return st;
    if (!n) {
        v[0] = d0;
        v[1] = d1;
    } else if (n == 1) {
        v[1] = v[0];
    }
    if (!(0 <= v[0] && v[0] <= v[1] && v[1] <= hi))
        return bad(it, key, pos, "needs a number or a pair (min, max) within [0, %g]", hi);
    out[0] = (float)v[0];
    out[1] = (float)v[1];
    return NB_OK;
}

static nb_status agn_parse(nb__tf_step *s, const nb__spec_item *it)
{
    double loc;
    nb_status st = num(it, "loc", 0, 0.0, &loc);
    if (!st) st = per_image_range(it, "scale", 1, 0.0, 15.0 / 255.0, INFINITY, s->range);
    if (!st) st = boolean(it, "per_channel", 2, 0, &s->per_channel);
    s->noise_mean = (float)loc;
    return st;
}
static nb_status agn_run(const nb__tf_step *s, nb_arena *a, const nb__img *in, nb__img *out, nb_rng *r)
{
    float scale = s->range[0] + (s->range[1] - s->range[0]) * nb_rng_uniform(r);
    nb_status st = alloc_like(a, in, in->c, in->h, in->w, out);
    if (!st) nb__k_additive_gaussian_noise(in, out, s->noise_mean, scale, s->per_channel, r);
    return st;
}
static void agn_str(const nb__tf_step *s, char *buf, size_t n)
{
    snprintf(buf, n, "AdditiveGaussianNoise(loc=%g, scale=(%g, %g), per_channel=%s)", (double)s->noise_mean,
             (double)s->range[0], (double)s->range[1], tf(s->per_channel));
}

static nb_status snp_parse(nb__tf_step *s, const nb__spec_item *it)
{
    nb_status st = per_image_range(it, "p", 0, 0.0, 0.03, 1.0, s->range);
    if (!st) st = boolean(it, "per_channel", 1, 0, &s->per_channel);
    return st;
}
static nb_status snp_run(const nb__tf_step *s, nb_arena *a, const nb__img *in, nb__img *out, nb_rng *r)
{
    float p = s->range[0] + (s->range[1] - s->range[0]) * nb_rng_uniform(r);
    nb_status st = alloc_like(a, in, in->c, in->h, in->w, out);
    if (!st) nb__k_salt_and_pepper(in, out, p, s->per_channel, r);
    return st;
}
static void snp_str(const nb__tf_step *s, char *buf, size_t n)
{
    snprintf(buf, n, "SaltAndPepper(p=(%g, %g), per_channel=%s)", (double)s->range[0], (double)s->range[1],
             tf(s->per_channel));
}

/* ====================================================================== */
/* RandomErasing(p=0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0, inplace=False) */

/* value: a number, a tuple (one per channel) or 'random' */
static nb_status value_arg(const nb__spec_item *it, const char *key, int pos, nb__tf_step *s)
{
    const nb__spec_arg *a = get(it, key, pos);
    s->n_value = 1;
    s->value[0] = 0;
    if (!a) return NB_OK;
    if (a->kind == NB__SPEC_STR) {
        if (!strcmp(a->str, "random")) {
            s->value_random = 1;
            return NB_OK;
        }
        return bad(it, key, pos, "must be a number, a tuple or random, got '%s'", a->str);
    }
    double v[NB_TF_MAXC];
    nb_status st = tuple(it, key, pos, v, NB_TF_MAXC, &s->n_value);
    for (int k = 0; k < s->n_value; k++) s->value[k] = (float)v[k];
    return st;
}

static nb_status erasing_parse(nb__tf_step *s, const nb__spec_item *it)
{
    int inplace;
    nb_status st = probability(it, "p", 0, 0.5, &s->p);
    if (!st) st = pair_arg(it, "scale", 1, 0.02, 0.33, s->scale);
    if (!st && !(s->scale[0] >= 0 && s->scale[1] <= 1)) st = bad(it, "scale", 1, "must be between 0 and 1");
    if (!st) st = pair_arg(it, "ratio", 2, 0.3, 3.3, s->ratio);
    if (!st && !(s->ratio[0] > 0)) st = bad(it, "ratio", 2, "must be positive");
    if (!st) st = value_arg(it, "value", 3, s);
    if (!st) st = boolean(it, "inplace", 4, 0, &inplace);
    return st;
}
static nb_status erasing_shape(const nb__tf_step *s, const int64_t in[3], int64_t out[3])
{
    if (!s->value_random && s->n_value != 1 && s->n_value != in[0])
        return nb__fail(NB_ERR_SHAPE, "random_erasing: value has %d numbers for images with %lld channels (give 1 or %lld)",
                        s->n_value, (long long)in[0], (long long)in[0]);
    return same_shape(s, in, out);
}
static nb_status erasing_run(const nb__tf_step *s, nb_arena *a, const nb__img *in, nb__img *out, nb_rng *r)
{
    int64_t shp[3] = {in->c, in->h, in->w}, o3[3], box[4];
    nb_status st = erasing_shape(s, shp, o3);
    if (st) return st;
    if (!(nb_rng_uniform(r) < s->p) || !nb_random_erasing_params(in->h, in->w, s->scale, s->ratio, r, box))
        return identity_run(s, a, in, out, r);
    const float *v = s->value;
    int64_t nv = s->n_value;
    if (s->value_random) { /* torch.empty([c, h, w]).normal_() */
        nv = in->c * box[2] * box[3];
        float *patch = nb__arena_alloc(a, (size_t)(nv ? nv : 1) * sizeof(float));
        if (!patch) return NB_ERR_MEM;
        for (int64_t k = 0; k < nv; k++) patch[k] = nb_rng_normal(r);
        v = patch;
    }
    st = alloc_like(a, in, in->c, in->h, in->w, out);
    return st ? st : nb__k_erase(in, out, box[0], box[1], box[2], box[3], v, nv);
}
static void erasing_str(const nb__tf_step *s, char *buf, size_t n)
{
    sbuf b = {buf, n, 0};
    put(&b, "RandomErasing(p=%g, scale=(%g, %g), ratio=(%g, %g), value=", (double)s->p, (double)s->scale[0],
        (double)s->scale[1], (double)s->ratio[0], (double)s->ratio[1]);
    if (s->value_random) put(&b, "random");
    else if (s->n_value == 1) put(&b, "%g", (double)s->value[0]);
    else
        for (int k = 0; k < s->n_value; k++) put(&b, "%s%g%s", k ? ", " : "(", (double)s->value[k], k == s->n_value - 1 ? ")" : "");
    put(&b, ", inplace=False)");
}

/* ====================================================================== */
/* Cutout(length, n_holes=1, value=0): n_holes squares, centres uniform over the pixels */

static nb_status cutout_parse(nb__tf_step *s, const nb__spec_item *it)
{
    double len = 0, holes = 0, v = 0; /* read on the error path too */
    nb_status st = required(it, "length", 0);
    if (!st) st = num(it, "length", 0, 0, &len);
    if (!st && (!integral(len) || len < 0)) st = bad(it, "length", 0, "must be an integer >= 0");
    if (!st) st = num(it, "n_holes", 1, 1, &holes);
    if (!st && (!integral(holes) || holes < 0 || holes > 1000)) st = bad(it, "n_holes", 1, "must be an integer in [0, 1000]");
    if (!st) st = num(it, "value", 2, 0, &v);
    s->length = st ? 0 : (int64_t)len; /* (int64_t) of an out-of-range double is undefined */
    s->n_holes = st ? 0 : (int64_t)holes;
    s->value[0] = (float)v;
    return st;
}
static nb_status cutout_run(const nb__tf_step *s, nb_arena *a, const nb__img *in, nb__img *out, nb_rng *r)
{
    nb_status st = alloc_like(a, in, in->c, in->h, in->w, out);
    if (st) return st;
    nb__img cur = *in;
    for (int64_t k = 0; k < s->n_holes; k++) {
        int64_t cy = (int64_t)nb_rng_below(r, (uint64_t)in->h), cx = (int64_t)nb_rng_below(r, (uint64_t)in->w);
        nb__k_cutout(&cur, out, cy, cx, s->length, s->value[0]);
        cur = *out;
    }
    if (s->n_holes == 0) *out = *in;
    return NB_OK;
}
static void cutout_str(const nb__tf_step *s, char *buf, size_t n)
{
    snprintf(buf, n, "Cutout(length=%lld, n_holes=%lld, value=%g)", (long long)s->length, (long long)s->n_holes,
             (double)s->value[0]);
}

/* ====================================================================== */
/* the table */

#define KEYS(...) ((const char *const[]){__VA_ARGS__, NULL})
static const nb__tf_kind kinds[] = {
    {"ToTensor", "to_tensor", NULL, (const char *const[]){NULL}, 0, totensor_parse, same_shape, identity_run, totensor_str},
    {"RandomHorizontalFlip", "random_horizontal_flip", "hflip", KEYS("p"), 1, flip_parse, same_shape, flip_run, flip_str},
    {"RandomVerticalFlip", "random_vertical_flip", "vflip", KEYS("p"), 1, flip_parse, same_shape, flip_run, flip_str},
    {"RandomCrop", "random_crop", NULL, KEYS("size", "padding", "pad_if_needed", "fill", "padding_mode"), 5,
     rcrop_parse, rcrop_shape, rcrop_run, rcrop_str},
    {"CenterCrop", "center_crop", NULL, KEYS("size"), 1, ccrop_parse, ccrop_shape, ccrop_run, ccrop_str},
    {"Pad", "pad", NULL, KEYS("padding", "fill", "padding_mode"), 3, pad_parse, pad_shape, pad_run, pad_str},
    {"Resize", "resize", NULL, KEYS("size", "interpolation", "max_size", "antialias"), 4, resize_parse, resize_shape,
     resize_run, resize_str},
    {"RandomResizedCrop", "random_resized_crop", NULL, KEYS("size", "scale", "ratio", "interpolation", "antialias"), 5,
     rrc_parse, ccrop_shape, rrc_run, rrc_str},
    {"RandomRotation", "random_rotation", NULL, KEYS("degrees", "interpolation", "expand", "center", "fill"), 5,
     rot_parse, rot_shape, rot_run, rot_str},
    {"RandomAffine", "random_affine", NULL,
     KEYS("degrees", "translate", "scale", "shear", "interpolation", "fill", "center"), 7, affine_parse, same_shape,
     affine_run, affine_str},
    {"ColorJitter", "color_jitter", NULL, KEYS("brightness", "contrast", "saturation", "hue"), 4, jitter_parse,
     color_shape, jitter_run, jitter_str},
    {"Grayscale", "grayscale", NULL, KEYS("num_output_channels"), 1, gray_parse, gray_shape, gray_run, gray_str},
    {"RandomGrayscale", "random_grayscale", NULL, KEYS("p"), 1, rgray_parse, color_shape, rgray_run, rgray_str},
    {"Normalize", "normalize", NULL, KEYS("mean", "std", "inplace"), 3, norm_parse, norm_shape, norm_run, norm_str},
    {"GaussianNoise", "gaussian_noise", NULL, KEYS("mean", "sigma", "clip"), 3, gnoise_parse, same_shape, gnoise_run,
     gnoise_str},
    {"AdditiveGaussianNoise", "additive_gaussian_noise", NULL, KEYS("loc", "scale", "per_channel"), 3, agn_parse,
     same_shape, agn_run, agn_str},
    {"SaltAndPepper", "salt_and_pepper", NULL, KEYS("p", "per_channel"), 2, snp_parse, same_shape, snp_run, snp_str},
    {"RandomErasing", "random_erasing", NULL, KEYS("p", "scale", "ratio", "value", "inplace"), 5, erasing_parse,
     erasing_shape, erasing_run, erasing_str},
    {"Cutout", "cutout", NULL, KEYS("length", "n_holes", "value"), 3, cutout_parse, same_shape, cutout_run, cutout_str},
};
#define NKINDS (int)(sizeof kinds / sizeof kinds[0])

const nb__tf_kind *nb__tf_find(const char *name)
{
    for (int k = 0; k < NKINDS; k++)
        if (!strcmp(name, kinds[k].name) || !strcmp(name, kinds[k].snake) || (kinds[k].alias && !strcmp(name, kinds[k].alias)))
            return &kinds[k];
    return NULL;
}

const nb__tf_kind *nb__tf_kinds(int *n)
{
    *n = NKINDS;
    return kinds;
}
