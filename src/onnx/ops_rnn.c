/* ops_rnn.c - ONNX's recurrent ops RNN, GRU and LSTM, one direction or both, with
 * sequence_lens, initial states, LSTM peepholes, clip and the batch-first layout: a
 * direct loop for inference, nabla's ops (so with backward) when a gradient is
 * recorded (rnn_diff, with sequence_lens and clip too). Gate orders as ONNX: GRU (z, r, h), LSTM (i, o, f, c).
 * Layout: X (seq, batch, input) (layout 1: (batch, seq, input)); W (dirs, G·H, input),
 * R (dirs, G·H, H), B (dirs, 2·G·H); Y (seq, dirs, batch, H) (layout 1: (batch, seq,
 * dirs, H)); Y_h, Y_c (dirs, batch, H) (layout 1: (batch, dirs, H)). */
#include "onnx/onnx_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef enum { A_SIGMOID, A_TANH, A_RELU } act;

static double apply(act a, double x)
{
    switch (a) {
    case A_SIGMOID: return 1 / (1 + exp(-x));
    case A_TANH: return tanh(x);
    default: return x > 0 ? x : 0;
    }
}

static int act_of(const char *s, act *a)
{
    if (!strcmp(s, "Sigmoid")) *a = A_SIGMOID;
    else if (!strcmp(s, "Tanh")) *a = A_TANH;
    else if (!strcmp(s, "Relu")) *a = A_RELU;
    else return -1;
    return 0;
}

/* the activations attribute: fns per direction (RNN 1, GRU 2, LSTM 3) */
static nb_status get_acts(ox_model *m, const ox_node *n, int per_dir, int dirs, act *out)
{
    const Onnx__AttributeProto *a = ox_attr(n, "activations");
    static const act defs[3] = {A_SIGMOID, A_TANH, A_TANH};
    for (int d = 0; d < dirs; d++)
        for (int k = 0; k < per_dir; k++) out[d * per_dir + k] = per_dir == 1 ? A_TANH : defs[k];
    if (!a) return NB_OK;
    if ((int)a->n_strings != per_dir * dirs && (int)a->n_strings != per_dir)
        return ox_fail(m, n, NB_ERR_FORMAT, "activations has %zu names, %d expected", a->n_strings, per_dir * dirs);
    for (size_t i = 0; i < (size_t)per_dir * dirs; i++) {
        const ProtobufCBinaryData *s = &a->strings[i % a->n_strings];
        char buf[32];
        size_t l = s->len < 31 ? s->len : 31;
        memcpy(buf, s->data, l);
        buf[l] = 0;
        if (act_of(buf, &out[i])) return ox_fail(m, n, NB_ERR_FORMAT, "activation '%s' not supported (Sigmoid, Tanh, Relu)", buf);
    }
    return NB_OK;
}

static nb_tensor *apply_t(act a, nb_tensor *x)
{
    return a == A_SIGMOID ? nb_sigmoid(x) : a == A_TANH ? nb_tanh(x) : nb_relu(x);
}

/* row d of a (dirs, ...) tensor as (rows, cols) */
static nb_tensor *dir_part(nb_tensor *t, int d, int64_t rows, int64_t cols)
{
    return t ? nb_reshape(nb_narrow(t, 0, d, 1), cols ? 2 : 1, (int64_t[]){rows, cols}) : NULL;
}

/* a constant (Nb, H) mask: 1 for the batch entries whose length is > step */
static nb_tensor *step_mask(nb_ctx *ctx, const nb_tensor *lens, int64_t step, int64_t Nb, int64_t H)
{
    nb_tensor *k = nb__empty(ctx, NB_F32, 2, (int64_t[]){Nb, H});
    if (!k) return NULL;
    for (int64_t b = 0; b < Nb; b++)
        for (int64_t j = 0; j < H; j++) nb__f(k)[b * H + j] = ox_get_i(lens, b) > step ? 1.0f : 0.0f;
    return k;
}

/* x clipped to [-clip, clip] when clip > 0 */
static nb_tensor *clipped(nb_tensor *x, float clip) { return clip > 0 && x ? ox_clip_f(x, -clip, clip) : x; }

/* The recurrence from differentiable ops (nb_linear, the activations, nb_mul, nb_add,
 * narrow and concat), used when a gradient is recorded, so an imported model with RNN,
 * GRU or LSTM layers can be trained: per direction and step, the gates of the whole
 * batch are x_t·Wᵀ + Wb + h·Rᵀ + Rb, as the direct loop computes them one by one; clip
 * clamps the pre-activations as there (ONNX's Clip, whose gradient is 0 outside).
 * sequence_lens: a batch entry past its length keeps its state and outputs zeros (a
 * constant 0/1 mask per step); the reverse direction of an entry starts at its last
 * step: its sequence is read reversed within its length (an index map), run forward,
 * and its outputs mapped back. Y, Y_h, Y_c in layout 0, transposed for layout 1. */
static nb_status rnn_diff(ox_model *m, const ox_node *n, int kind, int dirs, const act *acts, int layout, int lbr, float clip,
                          nb_tensor *X, nb_tensor *W, nb_tensor *R, nb_tensor *B, nb_tensor *lens, nb_tensor *h0, nb_tensor *c0,
                          nb_tensor *P, int64_t S, int64_t Nb, int64_t H, ox_val *out)
{
    int G = kind == 0 ? 1 : kind == 1 ? 3 : 4, per = kind + 1;
    int64_t I = X->shape[2];
    nb_tensor **ys = nb__scratch(m->ctx, sizeof(nb_tensor *) * (size_t)(S * dirs + 1));
    nb_tensor **ystep = nb__scratch(m->ctx, sizeof(nb_tensor *) * (size_t)(S + 1));
    nb_tensor *hs[2] = {0}, *cs[2] = {0};
    if (!ys || !ystep) return NB_ERR_MEM;
    if (layout && !(X = ox_transpose(X, (int64_t[]){1, 0, 2}))) return NB_ERR_MEM; /* (S, Nb, I) from here */
    for (int d = 0; d < dirs; d++) {
        char buf[32];
        int rev = !strcmp(ox_attr_s(n, "direction", "forward", buf, sizeof buf), "reverse") || d == 1;
        nb_tensor *w = dir_part(W, d, G * H, I), *r = dir_part(R, d, G * H, H);
        nb_tensor *wb = B ? dir_part(nb_reshape(B, 2, (int64_t[]){dirs, 2 * G * H}), d, 2 * G * H, 0) : NULL;
        nb_tensor *rb = wb ? nb_narrow(wb, 0, G * H, G * H) : NULL;
        wb = wb ? nb_narrow(wb, 0, 0, G * H) : NULL;
        nb_tensor *p = P ? dir_part(nb_reshape(P, 2, (int64_t[]){dirs, 3 * H}), d, 3 * H, 0) : NULL;
        const act *A = acts + d * per;
        int64_t hs3[3] = {layout ? Nb : dirs, layout ? dirs : Nb, H}; /* initial states as the layout says */
        nb_tensor *h = h0 ? nb_reshape(nb_narrow(nb_reshape(h0, 3, hs3), layout ? 1 : 0, d, 1), 2, (int64_t[]){Nb, H}) : NULL;
        nb_tensor *c = c0 ? nb_reshape(nb_narrow(nb_reshape(c0, 3, hs3), layout ? 1 : 0, d, 1), 2, (int64_t[]){Nb, H}) : NULL;
        if (!h || (kind == 2 && !c)) {
            nb_tensor *z = nb__empty(m->ctx, NB_F32, 2, (int64_t[]){Nb, H});
            if (!z) return NB_ERR_MEM;
            memset(z->data, 0, sizeof(float) * (size_t)z->numel);
            if (!h) h = z;
            if (kind == 2 && !c) c = z;
        }
        /* the reverse direction with lengths: each entry's sequence reversed within its length */
        nb_tensor *Xd = X;
        int64_t *rmap = NULL;
        if (rev && lens) {
            int64_t *xm = nb__scratch(m->ctx, (size_t)(S * Nb * I + 1) * 8);
            rmap = nb__scratch(m->ctx, (size_t)(S * Nb * H + 1) * 8);
            if (!xm || !rmap) return NB_ERR_MEM;
            for (int64_t st = 0; st < S; st++)
                for (int64_t b = 0; b < Nb; b++) {
                    int64_t L = ox_get_i(lens, b), t = L - 1 - st;
                    for (int64_t i = 0; i < I; i++) xm[(st * Nb + b) * I + i] = st < L ? (t * Nb + b) * I + i : -1;
                    for (int64_t j = 0; j < H; j++) /* Y[t] of the entry = its output at step L-1-t */
                        rmap[(st * Nb + b) * H + j] = st < L ? ((L - 1 - st) * Nb + b) * H + j : -1;
                }
            if (!(Xd = ox_gather_map(X, 3, X->shape, xm, 0.0f))) return NB_ERR_MEM;
        }
        /* GRU's h gate keeps its recurrent part apart */
        nb_tensor *rzr = kind == 1 ? nb_narrow(r, 0, 0, 2 * H) : r, *rh = kind == 1 ? nb_narrow(r, 0, 2 * H, H) : NULL;
        nb_tensor *rbzr = kind == 1 && rb ? nb_narrow(rb, 0, 0, 2 * H) : rb, *rbh = kind == 1 && rb ? nb_narrow(rb, 0, 2 * H, H) : NULL;
        for (int64_t step = 0; step < S && h; step++) {
            int64_t t = rev && !lens ? S - 1 - step : step; /* with lengths the reversal is in Xd */
            nb_tensor *xt = nb_reshape(nb_narrow(Xd, 0, t, 1), 2, (int64_t[]){Nb, I});
            nb_tensor *gx = nb_linear(xt, w, wb), *gh = nb_linear(h, rzr, rbzr);
            nb_tensor *hn, *cn = c;
            if (kind == 0) hn = apply_t(A[0], clipped(nb_add(gx, gh), clip));
            else if (kind == 1) {
                nb_tensor *zr = clipped(nb_add(nb_narrow(gx, 1, 0, 2 * H), gh), clip);
                nb_tensor *z = apply_t(A[0], nb_narrow(zr, 1, 0, H)), *rr = apply_t(A[0], nb_narrow(zr, 1, H, H));
                nb_tensor *rec = lbr ? nb_mul(rr, nb_linear(h, rh, rbh)) : nb_linear(nb_mul(rr, h), rh, rbh);
                nb_tensor *hh = apply_t(A[1], clipped(nb_add(nb_narrow(gx, 1, 2 * H, H), rec), clip));
                hn = nb_add(hh, nb_mul(z, nb_sub(h, hh))); /* (1 - z)·hh + z·h */
            } else {
                nb_tensor *g = nb_add(gx, gh);
                nb_tensor *ig = nb_narrow(g, 1, 0, H), *og = nb_narrow(g, 1, H, H), *fg = nb_narrow(g, 1, 2 * H, H);
                nb_tensor *cg = apply_t(A[1], clipped(nb_narrow(g, 1, 3 * H, H), clip));
                if (p) {
                    ig = nb_add(ig, nb_mul(nb_narrow(p, 0, 0, H), c));
                    fg = nb_add(fg, nb_mul(nb_narrow(p, 0, 2 * H, H), c));
                }
                cn = nb_add(nb_mul(apply_t(A[0], clipped(fg, clip)), c), nb_mul(apply_t(A[0], clipped(ig, clip)), cg));
                if (p) og = nb_add(og, nb_mul(nb_narrow(p, 0, H, H), cn));
                hn = nb_mul(apply_t(A[0], clipped(og, clip)), apply_t(A[2], cn));
            }
            nb_tensor *y = hn;
            if (lens) { /* entries past their length keep their state and output zeros */
                nb_tensor *k = step_mask(m->ctx, lens, step, Nb, H);
                if (!k) return NB_ERR_MEM;
                y = nb_mul(k, hn);
                hn = nb_add(h, nb_mul(k, nb_sub(hn, h)));
                if (kind == 2) cn = nb_add(c, nb_mul(k, nb_sub(cn, c)));
            }
            h = hn;
            c = cn;
            if (rmap) ystep[step] = y ? nb_reshape(y, 3, (int64_t[]){1, Nb, H}) : NULL;
            else ys[t * dirs + d] = y ? nb_reshape(y, 4, (int64_t[]){1, 1, Nb, H}) : NULL;
            if (!y) h = NULL;
        }
        if (!h) return nb_last_status() ? nb_last_status() : NB_ERR_MEM;
        if (rmap) { /* back to time order */
            nb_tensor *yr = ox_concat(ystep, (int)S, 0);
            nb_tensor *yt = yr ? ox_gather_map(yr, 3, yr->shape, rmap, 0.0f) : NULL;
            if (!yt) return nb_last_status() ? nb_last_status() : NB_ERR_MEM;
            for (int64_t t = 0; t < S; t++)
                if (!(ys[t * dirs + d] = nb_reshape(nb_narrow(yt, 0, t, 1), 4, (int64_t[]){1, 1, Nb, H}))) return NB_ERR_MEM;
        }
        hs[d] = nb_reshape(h, 3, (int64_t[]){1, Nb, H});
        cs[d] = c ? nb_reshape(c, 3, (int64_t[]){1, Nb, H}) : NULL;
    }
    /* Y (S, dirs, Nb, H): the directions of each step, then the steps */
    nb_tensor **row = nb__scratch(m->ctx, sizeof(nb_tensor *) * (size_t)(S + 1));
    if (!row) return NB_ERR_MEM;
    for (int64_t t = 0; t < S; t++) row[t] = dirs == 1 ? ys[t] : ox_concat(ys + t * dirs, dirs, 1);
    nb_tensor *Y = ox_concat(row, (int)S, 0), *Yh = dirs == 1 ? hs[0] : ox_concat(hs, 2, 0);
    nb_tensor *Yc = kind == 2 ? (dirs == 1 ? cs[0] : ox_concat(cs, 2, 0)) : NULL;
    if (layout) {
        Y = Y ? ox_transpose(Y, (int64_t[]){2, 0, 1, 3}) : NULL;
        Yh = Yh ? ox_transpose(Yh, (int64_t[]){1, 0, 2}) : NULL;
        Yc = Yc ? ox_transpose(Yc, (int64_t[]){1, 0, 2}) : NULL;
    }
    if (!Y || !Yh || (kind == 2 && !Yc)) return nb_last_status() ? nb_last_status() : NB_ERR_MEM;
    out[0] = (ox_val){Y, OX_FLOAT};
    if (n->n_out > 1) out[1] = (ox_val){Yh, OX_FLOAT};
    if (n->n_out > 2) out[2] = (ox_val){Yc, OX_FLOAT};
    return NB_OK;
}

OX_CHECK(rnn)
{
    act tmp[6];
    int per = !strcmp(n->p->op_type, "RNN") ? 1 : !strcmp(n->p->op_type, "GRU") ? 2 : 3;
    if (ox_attr(n, "activation_alpha") || ox_attr(n, "activation_beta"))
        return ox_fail(m, n, NB_ERR_FORMAT, "attributes activation_alpha/beta not supported");
    if (ox_attr_i(n, "input_forget", 0)) return ox_fail(m, n, NB_ERR_FORMAT, "input_forget=1 not supported");
    char buf[32];
    const char *dir = ox_attr_s(n, "direction", "forward", buf, sizeof buf);
    if (strcmp(dir, "forward") && strcmp(dir, "reverse") && strcmp(dir, "bidirectional"))
        return ox_fail(m, n, NB_ERR_FORMAT, "direction '%s' not supported", dir);
    return get_acts(m, n, per, !strcmp(dir, "bidirectional") ? 2 : 1, tmp);
}

OX_OP(rnn)
{
    const char *op = n->p->op_type;
    int kind = !strcmp(op, "RNN") ? 0 : !strcmp(op, "GRU") ? 1 : 2, G = kind == 0 ? 1 : kind == 1 ? 3 : 4, per = kind + 1;
    nb_tensor *X = ox_as_float(in[0]), *W = ox_as_float(in[1]), *R = ox_as_float(in[2]);
    nb_tensor *B = n->n_in > 3 ? ox_as_float(in[3]) : NULL, *lens = n->n_in > 4 ? in[4].t : NULL;
    nb_tensor *h0 = n->n_in > 5 ? ox_as_float(in[5]) : NULL, *c0 = kind == 2 && n->n_in > 6 ? ox_as_float(in[6]) : NULL;
    nb_tensor *P = kind == 2 && n->n_in > 7 ? ox_as_float(in[7]) : NULL;
    char buf[32];
    const char *dir = ox_attr_s(n, "direction", "forward", buf, sizeof buf);
    int dirs = !strcmp(dir, "bidirectional") ? 2 : 1, layout = (int)ox_attr_i(n, "layout", 0), lbr = (int)ox_attr_i(n, "linear_before_reset", 0);
    float clip = ox_attr_f(n, "clip", 0);
    act acts[6];
    nb_status st = get_acts(m, n, per, dirs, acts);
    if (st) return st;
    if (X->ndim != 3 || W->ndim != 3 || R->ndim != 3) return ox_fail(m, n, NB_ERR_SHAPE, "X, W, R must be 3-D");
    int64_t S = X->shape[layout ? 1 : 0], Nb = X->shape[layout ? 0 : 1], I = X->shape[2];
    int64_t H = ox_attr_i(n, "hidden_size", R->shape[2]);
    if (H <= 0 || H > (1 << 24)) return ox_fail(m, n, NB_ERR_ARG, "hidden_size %lld", (long long)H);
    if (W->shape[0] != dirs || W->shape[1] != G * H || W->shape[2] != I || R->shape[0] != dirs || R->shape[1] != G * H || R->shape[2] != H)
        return ox_fail(m, n, NB_ERR_SHAPE, "W %s, R %s do not fit X %s, hidden %lld, %d directions", nb__tshape(W), nb__tshape(R), nb__tshape(X),
                       (long long)H, dirs);
    if (B && B->numel != dirs * 2 * G * H) return ox_fail(m, n, NB_ERR_SHAPE, "B %s", nb__tshape(B));
    if (h0 && h0->numel != dirs * Nb * H) return ox_fail(m, n, NB_ERR_SHAPE, "initial_h %s", nb__tshape(h0));
    if (c0 && c0->numel != dirs * Nb * H) return ox_fail(m, n, NB_ERR_SHAPE, "initial_c %s", nb__tshape(c0));
    if (P && P->numel != dirs * 3 * H) return ox_fail(m, n, NB_ERR_SHAPE, "P %s", nb__tshape(P));
    if (lens && lens->numel != Nb) return ox_fail(m, n, NB_ERR_SHAPE, "sequence_lens %s", nb__tshape(lens));
    if (nb__needs_grad(m->ctx, X, W, R) || nb__needs_grad(m->ctx, B, h0, c0) || nb__needs_grad(m->ctx, P, NULL, NULL)) {
        int full = 1;
        for (int64_t b = 0; lens && b < Nb; b++) {
            int64_t L = ox_get_i(lens, b);
            if (L < 0 || L > S) return ox_fail(m, n, NB_ERR_ARG, "sequence length %lld for %lld steps", (long long)L, (long long)S);
            full &= L == S;
        }
        return rnn_diff(m, n, kind, dirs, acts, layout, lbr, clip, X, W, R, B, full ? NULL : lens, h0, c0, P, S, Nb, H, out);
    }
    int64_t ys[4] = {S, dirs, Nb, H}, hs[3] = {dirs, Nb, H};
    if (layout) {
        ys[0] = Nb, ys[1] = S, ys[2] = dirs;
        hs[0] = Nb, hs[1] = dirs;
    }
    nb_tensor *Y = nb__empty(m->ctx, NB_F32, 4, ys), *Yh = nb__empty(m->ctx, NB_F32, 3, hs), *Yc = nb__empty(m->ctx, NB_F32, 3, hs);
    double *h = nb__scratch(m->ctx, (size_t)(Nb * H + 1) * 8), *c = nb__scratch(m->ctx, (size_t)(Nb * H + 1) * 8);
    double *g = nb__scratch(m->ctx, (size_t)(G * H + 1) * 8), *hn = nb__scratch(m->ctx, (size_t)(H + 1) * 8);
    if (!Y || !Yh || !Yc || !h || !c || !g || !hn) return NB_ERR_MEM;
    memset(Y->data, 0, (size_t)Y->numel * 4);
    const float *x = nb__f(X);
#define XAT(t, b, i) x[layout ? ((b) * S + (t)) * I + (i) : ((t) * Nb + (b)) * I + (i)]
#define YAT(t, d, b, j) nb__f(Y)[layout ? (((b) * S + (t)) * dirs + (d)) * H + (j) : (((t) * dirs + (d)) * Nb + (b)) * H + (j)]
#define HAT(T, d, b, j) nb__f(T)[layout ? ((b) * dirs + (d)) * H + (j) : ((d) * Nb + (b)) * H + (j)]
    for (int d = 0; d < dirs; d++) {
        int rev = !strcmp(dir, "reverse") || d == 1;
        const float *w = nb__f(W) + d * G * H * I, *r = nb__f(R) + d * G * H * H;
        const float *wb = B ? nb__f(B) + d * 2 * G * H : NULL, *rb = wb ? wb + G * H : NULL, *p = P ? nb__f(P) + d * 3 * H : NULL;
        const act *A = acts + d * per;
        for (int64_t b = 0; b < Nb; b++)
            for (int64_t j = 0; j < H; j++) {
                h[b * H + j] = h0 ? HAT(h0, d, b, j) : 0;
                c[b * H + j] = c0 ? HAT(c0, d, b, j) : 0;
            }
        for (int64_t b = 0; b < Nb; b++) {
            int64_t L = lens ? ox_get_i(lens, b) : S;
            if (L < 0 || L > S) return ox_fail(m, n, NB_ERR_ARG, "sequence length %lld for %lld steps", (long long)L, (long long)S);
            for (int64_t step = 0; step < L; step++) {
                int64_t t = rev ? L - 1 - step : step;
                double *hb = h + b * H, *cb = c + b * H;
                for (int64_t q = 0; q < G * H; q++) { /* x·Wᵀ + biases; h·Rᵀ except GRU's h gate */
                    double acc = wb ? (double)wb[q] : 0;
                    for (int64_t i = 0; i < I; i++) acc += (double)XAT(t, b, i) * w[q * I + i];
                    int gru_h = kind == 1 && q >= 2 * H;
                    if (!gru_h) {
                        acc += rb ? rb[q] : 0;
                        for (int64_t k = 0; k < H; k++) acc += hb[k] * r[q * H + k];
                    }
                    g[q] = acc;
                }
                for (int64_t j = 0; j < H; j++) {
                    double v;
                    if (kind == 0) {
                        double a = g[j];
                        if (clip > 0) a = a < -clip ? -clip : a > clip ? clip : a;
                        v = apply(A[0], a);
                        hn[j] = v;
                    } else if (kind == 1) { /* z and r now, h after every r is known */
                        double z = g[j], rr = g[H + j];
                        if (clip > 0) z = fmin(fmax(z, -clip), clip), rr = fmin(fmax(rr, -clip), clip);
                        g[j] = apply(A[0], z);
                        g[H + j] = apply(A[0], rr);
                    } else {
                        double ig = g[j], og = g[H + j], fg = g[2 * H + j], cg = g[3 * H + j];
                        if (p) ig += p[j] * cb[j], fg += p[2 * H + j] * cb[j];
                        if (clip > 0) ig = fmin(fmax(ig, -clip), clip), fg = fmin(fmax(fg, -clip), clip), cg = fmin(fmax(cg, -clip), clip);
                        ig = apply(A[0], ig);
                        fg = apply(A[0], fg);
                        cg = apply(A[1], cg);
                        double cn = fg * cb[j] + ig * cg;
                        if (p) og += p[H + j] * cn;
                        if (clip > 0) og = fmin(fmax(og, -clip), clip);
                        og = apply(A[0], og);
                        hn[j] = og * apply(A[2], cn);
                        g[3 * H + j] = cn; /* new cell state */
                    }
                }
                if (kind == 1) {
                    for (int64_t j = 0; j < H; j++) {
                        double hh = g[2 * H + j], rec = rb ? rb[2 * H + j] : 0;
                        if (lbr) { /* r ⊙ (h·Rhᵀ + Rbh) */
                            for (int64_t k = 0; k < H; k++) rec += hb[k] * r[(2 * H + j) * H + k];
                            hh += g[H + j] * rec;
                        } else { /* (r ⊙ h)·Rhᵀ + Rbh */
                            for (int64_t k = 0; k < H; k++) rec += g[H + k] * hb[k] * r[(2 * H + j) * H + k];
                            hh += rec;
                        }
                        if (clip > 0) hh = fmin(fmax(hh, -clip), clip);
                        hh = apply(A[1], hh);
                        hn[j] = (1 - g[j]) * hh + g[j] * hb[j];
                    }
                }
                if (kind == 2)
                    for (int64_t j = 0; j < H; j++) cb[j] = g[3 * H + j];
                for (int64_t j = 0; j < H; j++) {
                    hb[j] = hn[j];
                    YAT(t, d, b, j) = (float)hn[j];
                }
            }
        }
        for (int64_t b = 0; b < Nb; b++)
            for (int64_t j = 0; j < H; j++) {
                HAT(Yh, d, b, j) = (float)h[b * H + j];
                HAT(Yc, d, b, j) = (float)c[b * H + j];
            }
    }
#undef XAT
#undef YAT
#undef HAT
    out[0] = (ox_val){Y, OX_FLOAT};
    if (n->n_out > 1) out[1] = (ox_val){Yh, OX_FLOAT};
    if (n->n_out > 2) out[2] = (ox_val){Yc, OX_FLOAT};
    return NB_OK;
}
