/* ops_nn.c - ONNX's neural-network ops: Conv, ConvTranspose, MaxPool, AveragePool,
 * the global pools, BatchNormalization, InstanceNormalization, LayerNormalization,
 * Gemm, MatMul, the activations with parameters, Softmax/LogSoftmax/Hardmax and
 * Dropout.
 *
 * 2-D (and 1-D, as height 1) convolutions are nb_conv2d, with asymmetric padding
 * done by a differentiable pad first; the norms are nb_batch_norm, nb_instance_norm
 * and nb_layer_norm; Gemm and MatMul are nb_linear / nb_matmul over views, so all
 * of these get nabla's backward. 3-D convolutions and ConvTranspose run a direct
 * loop when no gradient is recorded, else a differentiable form (conv3d_diff,
 * conv_transpose_diff, conv_transpose3d_diff: 3-D Conv, 1-D, 2-D and 3-D ConvTranspose). Pooling is N-D: max pooling is an index map (its gradient
 * goes to the maximum), average pooling carries its own backward.
 * Layout: x (N, C, D1, ..., Dk), weights (M, C/group, K1, ..., Kk). */
#include "onnx/onnx_internal.h"
#include "ops/window.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SP 6 /* at most 6 spatial dims */

typedef struct {
    int k; /* spatial dims */
    int64_t in[SP], kernel[SP], stride[SP], dil[SP], pb[SP], pe[SP], out[SP];
} geom;

/* kernel, strides, dilations, pads (or auto_pad) of a Conv/pool node for input x */
static nb_status get_geom(ox_model *m, const ox_node *n, const nb_tensor *x, const int64_t *kernel_from_w, int ceil_mode,
                          geom *g)
{
    int k = x->ndim - 2;
    if (k < 1 || k > SP) return ox_fail(m, n, NB_ERR_SHAPE, "needs an input (N, C, ...) with 1 to %d spatial dims, got %s", SP, nb__tshape(x));
    g->k = k;
    int c;
    const int64_t *ks = ox_attr_ints(n, "kernel_shape", &c);
    if (c >= 0 && c != k) return ox_fail(m, n, NB_ERR_SHAPE, "kernel_shape has %d values for input %s", c, nb__tshape(x));
    if (c < 0 && !kernel_from_w) return ox_fail(m, n, NB_ERR_ARG, "kernel_shape is missing");
    const int64_t *st = ox_attr_ints(n, "strides", &c);
    if (c >= 0 && c != k) return ox_fail(m, n, NB_ERR_SHAPE, "strides has %d values for input %s", c, nb__tshape(x));
    int cd;
    const int64_t *dl = ox_attr_ints(n, "dilations", &cd);
    if (cd >= 0 && cd != k) return ox_fail(m, n, NB_ERR_SHAPE, "dilations has %d values for input %s", cd, nb__tshape(x));
    int cp;
    const int64_t *pd = ox_attr_ints(n, "pads", &cp);
    if (cp >= 0 && cp != 2 * k) return ox_fail(m, n, NB_ERR_SHAPE, "pads has %d values for input %s", cp, nb__tshape(x));
    char buf[32];
    const char *ap = ox_attr_s(n, "auto_pad", "NOTSET", buf, sizeof buf);
    for (int i = 0; i < k; i++) {
        g->in[i] = x->shape[2 + i];
        g->kernel[i] = ks ? ks[i] : kernel_from_w[i];
        g->stride[i] = st ? st[i] : 1;
        g->dil[i] = dl ? dl[i] : 1;
        g->pb[i] = pd ? pd[i] : 0;
        g->pe[i] = pd ? pd[i + k] : 0;
        if (g->kernel[i] <= 0 || g->stride[i] <= 0 || g->dil[i] <= 0 || g->pb[i] < 0 || g->pe[i] < 0)
            return ox_fail(m, n, NB_ERR_ARG, "kernel, strides and dilations must be positive and pads not negative");
        if (g->kernel[i] > (1 << 24) || g->stride[i] > (1 << 24) || g->dil[i] > (1 << 16) || g->pb[i] > (1 << 16) || g->pe[i] > (1 << 16))
            return ox_fail(m, n, NB_ERR_ARG, "kernel %lld, stride %lld, dilation %lld or pads %lld/%lld out of range", (long long)g->kernel[i],
                           (long long)g->stride[i], (long long)g->dil[i], (long long)g->pb[i], (long long)g->pe[i]);
        int64_t ek = (g->kernel[i] - 1) * g->dil[i] + 1;
        if (!strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER")) {
            int64_t o = (g->in[i] + g->stride[i] - 1) / g->stride[i];
            int64_t tot = (o - 1) * g->stride[i] + ek - g->in[i];
            if (tot < 0) tot = 0;
            g->pb[i] = !strcmp(ap, "SAME_UPPER") ? tot / 2 : tot - tot / 2;
            g->pe[i] = tot - g->pb[i];
        } else if (!strcmp(ap, "VALID")) g->pb[i] = g->pe[i] = 0;
        int64_t span = g->in[i] + g->pb[i] + g->pe[i] - ek;
        if (span < 0)
            return ox_fail(m, n, NB_ERR_SHAPE, "the kernel (%lld, dilated %lld) is larger than the padded input %s", (long long)g->kernel[i],
                           (long long)ek, nb__tshape(x));
        g->out[i] = nb__window_out(g->in[i], g->kernel[i], g->stride[i], g->pb[i], g->pe[i], g->dil[i], ceil_mode);
    }
    return NB_OK;
}

OX_CHECK(autopad)
{
    char buf[32];
    const char *ap = ox_attr_s(n, "auto_pad", "NOTSET", buf, sizeof buf);
    if (strcmp(ap, "NOTSET") && strcmp(ap, "SAME_UPPER") && strcmp(ap, "SAME_LOWER") && strcmp(ap, "VALID"))
        return ox_fail(m, n, NB_ERR_FORMAT, "auto_pad '%s' not supported", ap);
    return NB_OK;
}

/* ---- convolution ---- */

/* direct N-D convolution, forward only. x (N, C, *in), w (M, C/G, *kernel) */
static nb_tensor *conv_direct(nb_tensor *x, nb_tensor *w, nb_tensor *b, const geom *g, int64_t G)
{
    int64_t N = x->shape[0], C = x->shape[1], M = w->shape[0], Cg = C / G, Mg = M / G;
    int64_t shape[NB_MAX_DIMS] = {N, M};
    int64_t osz = 1, isz = 1, ksz = 1;
    for (int i = 0; i < g->k; i++) {
        shape[2 + i] = g->out[i];
        osz *= g->out[i];
        isz *= g->in[i];
        ksz *= g->kernel[i];
    }
    nb_tensor *o = nb__empty(x->ctx, NB_F32, 2 + g->k, shape);
    if (!o) return NULL;
    const float *X = nb__f(x), *W = nb__f(w);
    float *Y = nb__f(o);
    for (int64_t nn = 0; nn < N; nn++)
        for (int64_t mm = 0; mm < M; mm++) {
            int64_t gi = mm / Mg;
            for (int64_t op = 0; op < osz; op++) {
                int64_t oi[SP], r = op;
                for (int i = g->k - 1; i >= 0; i--) {
                    oi[i] = r % g->out[i];
                    r /= g->out[i];
                }
                double acc = b ? nb__f(b)[mm] : 0;
                for (int64_t kp = 0; kp < ksz; kp++) {
                    int64_t ki[SP], rr = kp, ip = 0, ok = 1;
                    for (int i = g->k - 1; i >= 0; i--) {
                        ki[i] = rr % g->kernel[i];
                        rr /= g->kernel[i];
                    }
                    for (int i = 0; i < g->k && ok; i++) {
                        int64_t p = oi[i] * g->stride[i] - g->pb[i] + ki[i] * g->dil[i];
                        if (p < 0 || p >= g->in[i]) ok = 0;
                        ip = ip * g->in[i] + p;
                    }
                    if (!ok) continue;
                    for (int64_t c = 0; c < Cg; c++)
                        acc += (double)X[((nn * C) + gi * Cg + c) * isz + ip] * W[(mm * Cg + c) * ksz + kp];
                }
                Y[(nn * M + mm) * osz + op] = (float)acc;
            }
        }
    return o;
}

/* ---- differentiable forms of the direct loops (used when a gradient is recorded) ----
 * Built from ops that have nabla's backward (index maps, pads, nb_conv2d, reshapes), so
 * an imported model with these layers can be trained; the direct loops stay the
 * inference path. */

/* An arena array of n int64s for ox_gather_map. */
static int64_t *new_map(nb_ctx *ctx, int64_t n)
{
    nb_tensor *t = nb__empty(ctx, NB_I64, 1, &n);
    return t ? nb__i(t) : NULL;
}

/* 3-D convolution as a 2-D one over (N·OD) images whose channels are (C, KD):
 * X'[n, od, c·KD + kd, h, w] = x[n, c, od·sd + kd·dd - pbd, h, w] (0 outside), then
 * nb_conv2d with the weight viewed as (M, C/G·KD, KH, KW) (groups stay contiguous
 * blocks of channels), then (N, OD, M, OH, OW) -> (N, M, OD, OH, OW). */
static nb_tensor *conv3d_diff(nb_tensor *x, nb_tensor *w, nb_tensor *b, const geom *g, int64_t G)
{
    nb_ctx *ctx = x->ctx;
    int64_t N = x->shape[0], C = x->shape[1], D = g->in[0], H = g->in[1], W = g->in[2];
    int64_t KD = g->kernel[0], OD = g->out[0], M = w->shape[0];
    int64_t xs[4] = {N * OD, C * KD, H, W};
    if (ox_too_big(4, xs)) return NULL;
    int64_t n4 = N * OD * C * KD * H * W, *map = new_map(ctx, n4);
    if (!map) return NULL;
    for (int64_t i = 0; i < n4; i++) {
        int64_t r = i, ww = r % W;
        r /= W;
        int64_t hh = r % H;
        r /= H;
        int64_t ck = r % (C * KD);
        r /= C * KD;
        int64_t od = r % OD, nn = r / OD, c = ck / KD, kd = ck % KD;
        int64_t dd = od * g->stride[0] + kd * g->dil[0] - g->pb[0];
        map[i] = dd < 0 || dd >= D ? -1 : (((nn * C + c) * D + dd) * H + hh) * W + ww;
    }
    nb_tensor *xk = ox_gather_map(x, 4, xs, map, 0.0f);
    nb_tensor *wk = nb_reshape(w, 4, (int64_t[]){M, w->shape[1] * KD, g->kernel[1], g->kernel[2]});
    nb_conv2d_opts o = {.groups = (int)G};
    for (int i = 0; i < 2; i++) {
        o.stride[i] = (int)g->stride[1 + i];
        o.dilation[i] = (int)g->dil[1 + i];
    }
    if (g->pb[1] == g->pe[1] && g->pb[2] == g->pe[2]) {
        o.padding[0] = (int)g->pb[1];
        o.padding[1] = (int)g->pb[2];
    } else if (xk) {
        int64_t pads[8] = {0, 0, g->pb[1], g->pb[2], 0, 0, g->pe[1], g->pe[2]};
        xk = ox_pad(xk, pads, 0, 0);
    }
    nb_tensor *y = xk && wk ? nb_conv2d(xk, wk, b, &o) : NULL;
    if (!y) return NULL;
    y = nb_reshape(y, 5, (int64_t[]){N, OD, M, y->shape[2], y->shape[3]});
    return y ? ox_transpose(y, (int64_t[]){0, 2, 1, 3, 4}) : NULL;
}

/* 2-D transposed convolution (1-D as height 1) as the convolution it is the gradient of:
 * the input spread out by the strides (zeros between), padded by d·(k-1) - pads (the end
 * also by output_padding; negative values crop), convolved at stride 1 with the kernel
 * flipped and its in/out channels swapped per group: W'[g·Mg + m, c] = flip(W[g·Cg + c, m]). */
static nb_tensor *conv_transpose_diff(nb_tensor *x, nb_tensor *w, nb_tensor *b, int64_t G, const int64_t *s,
                                      const int64_t *d, const int64_t *pb, const int64_t *pe, const int64_t *outp)
{
    nb_ctx *ctx = x->ctx;
    int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    int64_t Cg = C / G, Mg = w->shape[1], M = Mg * G, KH = w->shape[2], KW = w->shape[3];
    int64_t DH = (H - 1) * s[0] + 1, DW = (W - 1) * s[1] + 1;
    int64_t padded[4] = {N, C, DH + 2 * d[0] * KH + outp[0], DW + 2 * d[1] * KW + outp[1]};
    if (ox_too_big(4, padded)) return NULL;
    int64_t nx = N * C * DH * DW, nw = M * Cg * KH * KW, *xm = new_map(ctx, nx), *wm = xm ? new_map(ctx, nw) : NULL;
    if (!wm) return NULL;
    for (int64_t i = 0; i < nx; i++) {
        int64_t c = i % DW, r = i / DW, rr = r % DH, nc = r / DH;
        xm[i] = rr % s[0] || c % s[1] ? -1 : (nc * H + rr / s[0]) * W + c / s[1];
    }
    for (int64_t i = 0; i < nw; i++) {
        int64_t j = i % KW, r = i / KW, ii = r % KH;
        r /= KH;
        int64_t c = r % Cg, mo = r / Cg, gi = mo / Mg, m = mo % Mg;
        wm[i] = (((gi * Cg + c) * Mg + m) * KH + (KH - 1 - ii)) * KW + (KW - 1 - j);
    }
    nb_tensor *xd = ox_gather_map(x, 4, (int64_t[]){N, C, DH, DW}, xm, 0.0f);
    nb_tensor *wf = ox_gather_map(w, 4, (int64_t[]){M, Cg, KH, KW}, wm, 0.0f);
    int64_t pads[8] = {0, 0, d[0] * (KH - 1) - pb[0], d[1] * (KW - 1) - pb[1],
                       0, 0, d[0] * (KH - 1) - pe[0] + outp[0], d[1] * (KW - 1) - pe[1] + outp[1]};
    nb_tensor *xp = xd ? ox_pad(xd, pads, 0, 0) : NULL;
    nb_conv2d_opts o = {.groups = (int)G, .dilation = {(int)d[0], (int)d[1]}};
    return xp && wf ? nb_conv2d(xp, wf, b, &o) : NULL;
}

/* 3-D transposed convolution the same way: x spread out by the strides, padded by
 * d·(k-1) - pads (+ output_padding at the end), then conv3d_diff at stride 1 with the
 * flipped, channel-swapped kernel. */
static nb_tensor *conv_transpose3d_diff(nb_tensor *x, nb_tensor *w, nb_tensor *b, int64_t G, const int64_t *s,
                                        const int64_t *d, const int64_t *pb, const int64_t *pe, const int64_t *outp)
{
    nb_ctx *ctx = x->ctx;
    int64_t N = x->shape[0], C = x->shape[1], in[3], K[3], DS[3];
    for (int i = 0; i < 3; i++) {
        in[i] = x->shape[2 + i];
        K[i] = w->shape[2 + i];
        DS[i] = (in[i] - 1) * s[i] + 1;
    }
    int64_t Cg = C / G, Mg = w->shape[1], M = Mg * G;
    int64_t spread[5] = {N, C, DS[0], DS[1], DS[2]}, padded[5] = {N, C, 0, 0, 0};
    for (int i = 0; i < 3; i++) padded[2 + i] = DS[i] + 2 * d[i] * K[i] + outp[i];
    if (ox_too_big(5, padded)) return NULL;
    int64_t nx = N * C * DS[0] * DS[1] * DS[2], nw = M * Cg * K[0] * K[1] * K[2];
    int64_t *xm = new_map(ctx, nx), *wm = xm ? new_map(ctx, nw) : NULL;
    if (!wm) return NULL;
    for (int64_t i = 0; i < nx; i++) {
        int64_t r = i, c2 = r % DS[2];
        r /= DS[2];
        int64_t c1 = r % DS[1];
        r /= DS[1];
        int64_t c0 = r % DS[0], nc = r / DS[0];
        xm[i] = c0 % s[0] || c1 % s[1] || c2 % s[2] ? -1 : ((nc * in[0] + c0 / s[0]) * in[1] + c1 / s[1]) * in[2] + c2 / s[2];
    }
    for (int64_t i = 0; i < nw; i++) { /* W'[g·Mg + m, c, u, v, t] = W[g·Cg + c, m, K-1-u, ...] */
        int64_t r = i, t = r % K[2];
        r /= K[2];
        int64_t v = r % K[1];
        r /= K[1];
        int64_t u = r % K[0];
        r /= K[0];
        int64_t c = r % Cg, mo = r / Cg, gi = mo / Mg, mm = mo % Mg;
        wm[i] = ((((gi * Cg + c) * Mg + mm) * K[0] + (K[0] - 1 - u)) * K[1] + (K[1] - 1 - v)) * K[2] + (K[2] - 1 - t);
    }
    nb_tensor *xd = ox_gather_map(x, 5, spread, xm, 0.0f);
    nb_tensor *wf = ox_gather_map(w, 5, (int64_t[]){M, Cg, K[0], K[1], K[2]}, wm, 0.0f);
    int64_t pads[10] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    for (int i = 0; i < 3; i++) {
        pads[2 + i] = d[i] * (K[i] - 1) - pb[i];
        pads[7 + i] = d[i] * (K[i] - 1) - pe[i] + outp[i];
    }
    nb_tensor *xp = xd ? ox_pad(xd, pads, 0, 0) : NULL;
    if (!xp || !wf) return NULL;
    geom g = {.k = 3};
    for (int i = 0; i < 3; i++) {
        g.in[i] = xp->shape[2 + i];
        g.kernel[i] = K[i];
        g.stride[i] = 1;
        g.dil[i] = d[i];
        g.pb[i] = g.pe[i] = 0;
        g.out[i] = g.in[i] - d[i] * (K[i] - 1);
        if (g.out[i] <= 0) return NULL;
    }
    return conv3d_diff(xp, wf, b, &g, G);
}

OX_OP(conv)
{
    nb_tensor *x = in[0].t, *w = in[1].t, *b = n->n_in > 2 ? in[2].t : NULL;
    if (x->dtype != NB_F32 || w->dtype != NB_F32) return ox_fail(m, n, NB_ERR_ARG, "needs float inputs");
    if (w->ndim != x->ndim) return ox_fail(m, n, NB_ERR_SHAPE, "weight %s does not fit input %s", nb__tshape(w), nb__tshape(x));
    geom g;
    nb_status st = get_geom(m, n, x, w->shape + 2, 0, &g);
    if (st) return st;
    int64_t G = ox_attr_i(n, "group", 1);
    if (G <= 0 || x->shape[1] % G || w->shape[0] % G || x->shape[1] / G != w->shape[1])
        return ox_fail(m, n, NB_ERR_SHAPE, "input %s, weight %s and group %lld do not fit", nb__tshape(x), nb__tshape(w), (long long)G);
    for (int i = 0; i < g.k; i++)
        if (g.kernel[i] != w->shape[2 + i]) return ox_fail(m, n, NB_ERR_SHAPE, "kernel_shape does not match weight %s", nb__tshape(w));
    if (b && (b->ndim != 1 || b->shape[0] != w->shape[0])) return ox_fail(m, n, NB_ERR_SHAPE, "bias %s for %lld channels", nb__tshape(b), (long long)w->shape[0]);
    if (g.k == 3 && nb__needs_grad(m->ctx, x, w, b)) {
        out[0] = (ox_val){conv3d_diff(x, w, b, &g, G), in[0].et};
        return out[0].t ? NB_OK : NB_ERR_MEM;
    }
    if (g.k > 2) {
        out[0] = (ox_val){conv_direct(x, w, b, &g, G), in[0].et};
        return out[0].t ? NB_OK : NB_ERR_MEM;
    }
    nb_tensor *x2 = x, *w2 = w;
    int64_t pb[2], pe[2], stride[2], dil[2];
    if (g.k == 1) { /* as 2-D with height 1 */
        int64_t xs[4] = {x->shape[0], x->shape[1], 1, x->shape[2]}, ws[4] = {w->shape[0], w->shape[1], 1, w->shape[2]};
        x2 = nb_reshape(x, 4, xs);
        w2 = nb_reshape(w, 4, ws);
        pb[0] = pe[0] = 0, stride[0] = dil[0] = 1;
        pb[1] = g.pb[0], pe[1] = g.pe[0], stride[1] = g.stride[0], dil[1] = g.dil[0];
    } else
        for (int i = 0; i < 2; i++) pb[i] = g.pb[i], pe[i] = g.pe[i], stride[i] = g.stride[i], dil[i] = g.dil[i];
    nb_conv2d_opts o = {.groups = (int)G};
    for (int i = 0; i < 2; i++) {
        o.stride[i] = (int)stride[i];
        o.dilation[i] = (int)dil[i];
    }
    if (pb[0] == pe[0] && pb[1] == pe[1]) {
        o.padding[0] = (int)pb[0];
        o.padding[1] = (int)pb[1];
    } else {
        int64_t pads[8] = {0, 0, pb[0], pb[1], 0, 0, pe[0], pe[1]};
        x2 = ox_pad(x2, pads, 0, 0);
    }
    nb_tensor *y = nb_conv2d(x2, w2, b, &o);
    if (y && g.k == 1) {
        int64_t ys[3] = {y->shape[0], y->shape[1], y->shape[3]};
        y = nb_reshape(y, 3, ys);
    }
    out[0] = (ox_val){y, in[0].et};
    return y ? NB_OK : NB_ERR_SHAPE;
}

OX_OP(conv_transpose)
{
    nb_tensor *x = in[0].t, *w = in[1].t, *b = n->n_in > 2 ? in[2].t : NULL;
    int k = x->ndim - 2;
    if (k < 1 || k > SP || w->ndim != x->ndim) return ox_fail(m, n, NB_ERR_SHAPE, "input %s and weight %s do not fit", nb__tshape(x), nb__tshape(w));
    int64_t G = ox_attr_i(n, "group", 1);
    int64_t N = x->shape[0], C = x->shape[1];
    if (G <= 0 || C % G || w->shape[0] != C) return ox_fail(m, n, NB_ERR_SHAPE, "input %s, weight %s and group %lld do not fit", nb__tshape(x), nb__tshape(w), (long long)G);
    int64_t Mg = w->shape[1], M = Mg * G, Cg = C / G;
    int c;
    const int64_t *ks = ox_attr_ints(n, "kernel_shape", &c), *st = NULL, *dl = NULL, *pd = NULL, *op = NULL, *os = NULL;
    int cs, cd, cp, co, cos;
    st = ox_attr_ints(n, "strides", &cs);
    dl = ox_attr_ints(n, "dilations", &cd);
    pd = ox_attr_ints(n, "pads", &cp);
    op = ox_attr_ints(n, "output_padding", &co);
    os = ox_attr_ints(n, "output_shape", &cos);
    if ((c >= 0 && c != k) || (cs >= 0 && cs != k) || (cd >= 0 && cd != k) || (cp >= 0 && cp != 2 * k) || (co >= 0 && co != k) ||
        (cos >= 0 && cos != k && cos != k + 2))
        return ox_fail(m, n, NB_ERR_SHAPE, "an attribute's length does not fit the %d spatial dims", k);
    char buf[32];
    const char *ap = ox_attr_s(n, "auto_pad", "NOTSET", buf, sizeof buf);
    int64_t in_[SP], ker[SP], s[SP], d[SP], pb[SP], pe[SP], outp[SP], o[SP], isz = 1, osz = 1, ksz = 1;
    for (int i = 0; i < k; i++) {
        in_[i] = x->shape[2 + i];
        ker[i] = ks ? ks[i] : w->shape[2 + i];
        s[i] = st ? st[i] : 1;
        d[i] = dl ? dl[i] : 1;
        outp[i] = op ? op[i] : 0;
        pb[i] = pd ? pd[i] : 0;
        pe[i] = pd ? pd[i + k] : 0;
        if (ker[i] != w->shape[2 + i] || s[i] <= 0 || d[i] <= 0 || s[i] > (1 << 16) || d[i] > (1 << 16) || outp[i] < 0 || outp[i] > (1 << 16) ||
            pb[i] < 0 || pe[i] < 0 || pb[i] > (1 << 16) || pe[i] > (1 << 16) || in_[i] > (1 << 24) || ker[i] > (1 << 16))
            return ox_fail(m, n, NB_ERR_ARG, "kernel, strides, dilations, pads or output_padding out of range");
        int64_t full = s[i] * (in_[i] - 1) + outp[i] + (ker[i] - 1) * d[i] + 1;
        if (os || !strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER")) {
            int64_t want = os ? os[cos == k ? i : i + 2] : in_[i] * s[i];
            if (want < 0 || want > (1 << 24)) return ox_fail(m, n, NB_ERR_ARG, "output_shape %lld out of range", (long long)want);
            int64_t tot = full - want; /* negative: the output grows past the last input's reach */
            int64_t half = tot >= 0 ? tot / 2 : -((-tot + 1) / 2); /* floor, as ONNX's Python reference */
            if (!strcmp(ap, "SAME_UPPER")) {
                pb[i] = half;
                pe[i] = tot - half;
            } else {
                pb[i] = tot - half;
                pe[i] = half;
            }
        }
        o[i] = full - pb[i] - pe[i];
        if (o[i] <= 0) return ox_fail(m, n, NB_ERR_SHAPE, "output size %lld", (long long)o[i]);
        isz *= in_[i];
        osz *= o[i];
        ksz *= ker[i];
    }
    int64_t shape[NB_MAX_DIMS] = {N, M};
    for (int i = 0; i < k; i++) shape[2 + i] = o[i];
    if (k <= 3 && nb__needs_grad(m->ctx, x, w, b)) { /* the differentiable form; 1-D as height 1 */
        nb_tensor *y;
        if (k == 3) y = conv_transpose3d_diff(x, w, b, G, s, d, pb, pe, outp);
        else if (k == 1) {
            int64_t s2[2] = {1, s[0]}, d2[2] = {1, d[0]}, pb2[2] = {0, pb[0]}, pe2[2] = {0, pe[0]}, op2[2] = {0, outp[0]};
            y = conv_transpose_diff(nb_reshape(x, 4, (int64_t[]){N, C, 1, in_[0]}),
                                    nb_reshape(w, 4, (int64_t[]){C, Mg, 1, ker[0]}), b, G, s2, d2, pb2, pe2, op2);
            y = y ? nb_reshape(y, 3, shape) : NULL;
        } else
            y = conv_transpose_diff(x, w, b, G, s, d, pb, pe, outp);
        if (y && (y->ndim != 2 + k || y->shape[2 + k - 1] != o[k - 1]))
            return ox_fail(m, n, NB_ERR_SHAPE, "internal: transposed convolution gave %s", nb__tshape(y));
        out[0] = (ox_val){y, in[0].et};
        return y ? NB_OK : NB_ERR_MEM;
    }
    nb_tensor *y = nb__empty(m->ctx, NB_F32, 2 + k, shape);
    if (!y) return NB_ERR_MEM;
    float *Y = nb__f(y);
    const float *X = nb__f(x), *W = nb__f(w);
    for (int64_t nn = 0; nn < N; nn++)
        for (int64_t mm = 0; mm < M; mm++)
            for (int64_t p = 0; p < osz; p++) Y[(nn * M + mm) * osz + p] = b ? nb__f(b)[mm] : 0;
    for (int64_t nn = 0; nn < N; nn++)
        for (int64_t cc = 0; cc < C; cc++) {
            int64_t gi = cc / Cg;
            for (int64_t ip = 0; ip < isz; ip++) {
                int64_t ii[SP], r = ip;
                for (int i = k - 1; i >= 0; i--) {
                    ii[i] = r % in_[i];
                    r /= in_[i];
                }
                float xv = X[(nn * C + cc) * isz + ip];
                for (int64_t kp = 0; kp < ksz; kp++) {
                    int64_t ki[SP], rr = kp, opos = 0, ok = 1;
                    for (int i = k - 1; i >= 0; i--) {
                        ki[i] = rr % ker[i];
                        rr /= ker[i];
                    }
                    for (int i = 0; i < k && ok; i++) {
                        int64_t q = ii[i] * s[i] + ki[i] * d[i] - pb[i];
                        if (q < 0 || q >= o[i]) ok = 0;
                        opos = opos * o[i] + q;
                    }
                    if (!ok) continue;
                    for (int64_t mo = 0; mo < Mg; mo++)
                        Y[(nn * M + gi * Mg + mo) * osz + opos] += xv * W[(cc * Mg + mo) * ksz + kp];
                }
            }
        }
    out[0] = (ox_val){y, in[0].et};
    return NB_OK;
}

/* ---- pooling ---- */

/* Visit the window of output position op: fn(input flat offset within the (n,c) plane) for
 * positions inside the input; *inpad receives the count of positions inside the padded input. */
static int64_t window(const geom *g, int64_t op, int64_t *offs, int64_t *inpad)
{
    int64_t oi[SP], r = op, ksz = 1, cnt = 0, padcnt = 0;
    for (int i = g->k - 1; i >= 0; i--) {
        oi[i] = r % g->out[i];
        r /= g->out[i];
    }
    for (int i = 0; i < g->k; i++) ksz *= g->kernel[i];
    for (int64_t kp = 0; kp < ksz; kp++) {
        int64_t rr = kp, ip = 0, ok = 1, okpad = 1, ki[SP];
        for (int i = g->k - 1; i >= 0; i--) {
            ki[i] = rr % g->kernel[i];
            rr /= g->kernel[i];
        }
        for (int i = 0; i < g->k; i++) {
            int64_t p = oi[i] * g->stride[i] - g->pb[i] + ki[i] * g->dil[i];
            if (p < 0 || p >= g->in[i]) ok = 0;
            if (p < -g->pb[i] || p >= g->in[i] + g->pe[i]) okpad = 0;
            ip = ip * g->in[i] + p;
        }
        if (okpad) padcnt++;
        if (ok) offs[cnt++] = ip;
    }
    *inpad = padcnt;
    return cnt;
}

static int64_t geom_size(const geom *g, int which)
{
    int64_t s = 1;
    for (int i = 0; i < g->k; i++) s *= which == 0 ? g->in[i] : which == 1 ? g->out[i] : g->kernel[i];
    return s;
}

typedef struct {
    const geom *g;
    int include;    /* count_include_pad */
    int64_t planes; /* N * C */
} avgpool_saved;

static void avgpool_backward(nb_node *nd)
{
    const avgpool_saved *st = nd->saved;
    const geom *g = st->g;
    int include = st->include;
    int64_t planes = st->planes, isz = geom_size(g, 0), osz = geom_size(g, 1);
    int64_t *offs = malloc((size_t)geom_size(g, 2) * sizeof *offs);
    if (!offs) return;
    const float *gy = nd->out->grad;
    float *gx = nd->in[0]->grad;
    for (int64_t op = 0; op < osz; op++) {
        int64_t pad, cnt = window(g, op, offs, &pad);
        int64_t div = include ? pad : cnt;
        if (!div) continue;
        for (int64_t pl = 0; pl < planes; pl++)
            for (int64_t j = 0; j < cnt; j++) gx[pl * isz + offs[j]] += gy[pl * osz + op] / (float)div;
    }
    free(offs);
}

static nb_status pool(ox_model *m, const ox_node *n, ox_val *in, ox_val *out, int is_max, int global)
{
    nb_tensor *x = ox_as_float(in[0]);
    if (!x) return NB_ERR_MEM;
    geom *g = nb__scratch(m->ctx, sizeof *g);
    if (!g) return NB_ERR_MEM;
    nb_status st;
    if (global) {
        int k = x->ndim - 2;
        if (k < 1 || k > SP) return ox_fail(m, n, NB_ERR_SHAPE, "needs (N, C, ...), got %s", nb__tshape(x));
        g->k = k;
        for (int i = 0; i < k; i++) {
            g->in[i] = g->kernel[i] = x->shape[2 + i];
            g->stride[i] = g->dil[i] = g->out[i] = 1;
            g->pb[i] = g->pe[i] = 0;
        }
    } else if ((st = get_geom(m, n, x, NULL, (int)ox_attr_i(n, "ceil_mode", 0), g)))
        return st;
    int64_t planes = x->shape[0] * x->shape[1], isz = geom_size(g, 0), osz = geom_size(g, 1);
    int64_t shape[NB_MAX_DIMS] = {x->shape[0], x->shape[1]};
    for (int i = 0; i < g->k; i++) shape[2 + i] = g->out[i];
    int64_t *offs = nb__scratch(m->ctx, (size_t)geom_size(g, 2) * sizeof *offs);
    if (!offs) return NB_ERR_MEM;
    if (is_max && !global && g->k == 2 && in[0].t->dtype == NB_F32 && (n->n_out < 2 || n->out[1] < 0) && !ox_attr_i(n, "ceil_mode", 0) &&
        g->pb[0] == g->pe[0] && g->pb[1] == g->pe[1] && 2 * g->pb[0] <= g->kernel[0] && 2 * g->pb[1] <= g->kernel[1] &&
        g->kernel[0] < (1 << 16) && g->kernel[1] < (1 << 16) && g->stride[0] < (1 << 16) && g->stride[1] < (1 << 16)) {
        /* the common 2-D case: nabla's max pooling kernel (same first-maximum and NaN rules) */
        nb_pool2d_opts po = {.kernel = {(int)g->kernel[0], (int)g->kernel[1]}, .stride = {(int)g->stride[0], (int)g->stride[1]},
                             .padding = {(int)g->pb[0], (int)g->pb[1]}, .dilation = {(int)g->dil[0], (int)g->dil[1]}};
        nb_tensor *y = nb_max_pool2d(x, &po);
        if (!y) return ox_fail(m, n, NB_ERR_SHAPE, "%s", nb_last_error());
        out[0] = (ox_val){y, in[0].et};
        return NB_OK;
    }
    if (is_max) {
        int64_t *map = nb__scratch(m->ctx, (size_t)(planes * osz + 1) * 8);
        if (!map) return NB_ERR_MEM;
        const float *X = nb__f(x);
        for (int64_t op = 0; op < osz; op++) {
            int64_t pad, cnt = window(g, op, offs, &pad);
            for (int64_t pl = 0; pl < planes; pl++) {
                int64_t best = -1;
                float bv = -INFINITY;
                for (int64_t j = 0; j < cnt; j++) {
                    float v = X[pl * isz + offs[j]];
                    if (best < 0 || v > bv || v != v) {
                        bv = v;
                        best = pl * isz + offs[j];
                        if (v != v) break;
                    }
                }
                map[pl * osz + op] = best;
            }
        }
        nb_tensor *y = ox_gather_map(x, 2 + g->k, shape, map, -INFINITY);
        if (!y) return NB_ERR_MEM;
        if (in[0].t->dtype != NB_F32) y = ox_cast(y, OX_FLOAT, in[0].et);
        out[0] = (ox_val){y, in[0].et};
        if (n->n_out > 1 && n->out[1] >= 0) {
            nb_tensor *ind = nb__empty(m->ctx, NB_I64, 2 + g->k, shape);
            if (!ind) return NB_ERR_MEM;
            int col = (int)ox_attr_i(n, "storage_order", 0); /* 1: the spatial index column-major */
            for (int64_t i = 0; i < ind->numel; i++) {
                int64_t v = map[i];
                if (col && v >= 0) {
                    int64_t pl = v / isz, r = v % isz, c[SP], cm = 0, step = 1;
                    for (int d = g->k - 1; d >= 0; d--) {
                        c[d] = r % g->in[d];
                        r /= g->in[d];
                    }
                    for (int d = 0; d < g->k; d++) {
                        cm += c[d] * step;
                        step *= g->in[d];
                    }
                    v = pl * isz + cm;
                }
                nb__i(ind)[i] = v;
            }
            out[1] = (ox_val){ind, OX_INT64};
        }
        return y ? NB_OK : NB_ERR_MEM;
    }
    int include = (int)ox_attr_i(n, "count_include_pad", 0);
    nb_tensor *y = nb__empty(m->ctx, NB_F32, 2 + g->k, shape);
    if (!y) return NB_ERR_MEM;
    const float *X = nb__f(x);
    float *Y = nb__f(y);
    for (int64_t op = 0; op < osz; op++) {
        int64_t pad, cnt = window(g, op, offs, &pad);
        int64_t div = include ? pad : cnt;
        for (int64_t pl = 0; pl < planes; pl++) {
            double acc = 0;
            for (int64_t j = 0; j < cnt; j++) acc += X[pl * isz + offs[j]];
            Y[pl * osz + op] = div ? (float)(acc / (double)div) : NAN;
        }
    }
    if (nb__needs_grad(m->ctx, x, NULL, NULL)) {
        nb_node *nd = nb__record(y, avgpool_backward, x, NULL, NULL);
        avgpool_saved *as = nd ? nb__node_save(nd, sizeof *as) : NULL;
        if (!as) return NB_ERR_MEM;
        *as = (avgpool_saved){g, include, planes};
    }
    out[0] = (ox_val){y, in[0].et};
    return NB_OK;
}

OX_OP(max_pool) { return pool(m, n, in, out, 1, 0); }
OX_OP(average_pool) { return pool(m, n, in, out, 0, 0); }
OX_OP(global_max_pool) { return pool(m, n, in, out, 1, 1); }

OX_OP(global_average_pool)
{
    nb_tensor *x = in[0].t;
    if (x->ndim < 3) return ox_fail(m, n, NB_ERR_SHAPE, "needs (N, C, ...), got %s", nb__tshape(x));
    int64_t s3[3] = {x->shape[0], x->shape[1], x->numel / (x->shape[0] * x->shape[1] != 0 ? x->shape[0] * x->shape[1] : 1)};
    nb_tensor *y = nb_mean_dim(nb_reshape(x, 3, s3), 2, 0);
    int64_t shape[NB_MAX_DIMS] = {x->shape[0], x->shape[1]};
    for (int d = 2; d < x->ndim; d++) shape[d] = 1;
    out[0] = (ox_val){y ? nb_reshape(y, x->ndim, shape) : NULL, in[0].et};
    return out[0].t ? NB_OK : NB_ERR_MEM;
}

/* ---- normalization ---- */

OX_CHECK(batchnorm)
{
    if (m->opset < 9 && ox_attr(n, "spatial") && ox_attr_i(n, "spatial", 1) == 0)
        return ox_fail(m, n, NB_ERR_FORMAT, "spatial=0 not supported");
    return NB_OK;
}

OX_OP(batch_norm)
{
    nb_tensor *x = in[0].t, *sc = in[1].t, *bi = in[2].t, *mean = in[3].t, *var = in[4].t;
    float eps = ox_attr_f(n, "epsilon", 1e-5f), mom = ox_attr_f(n, "momentum", 0.9f);
    int graph_training = m->opset >= 14 ? (int)ox_attr_i(n, "training_mode", 0) : (m->opset < 7 ? !ox_attr_i(n, "is_test", 0) && n->n_out > 1 : n->n_out > 1);
    if (x->ndim < 2) return ox_fail(m, n, NB_ERR_SHAPE, "needs (N, C, ...), got %s", nb__tshape(x));
    int64_t C = x->shape[1];
    nb_tensor *ps[4] = {sc, bi, mean, var};
    for (int i = 0; i < 4; i++)
        if (ps[i]->numel != C) return ox_fail(m, n, NB_ERR_SHAPE, "input %d is %s for %lld channels", i + 1, nb__tshape(ps[i]), (long long)C);
    int64_t c1 = C;
    nb_tensor *scv = nb_reshape(sc, 1, &c1), *biv = nb_reshape(bi, 1, &c1);
    if (!graph_training) {
        /* the module in training mode: PyTorch's batch statistics and running-buffer update */
        nb_tensor *y = nb_batch_norm(x, mean, var, scv, biv, m->training, 1.0f - mom, eps);
        out[0] = (ox_val){y, in[0].et};
        return y ? NB_OK : NB_ERR_SHAPE;
    }
    nb_tensor *y = nb_batch_norm(x, NULL, NULL, scv, biv, 1, 0.1f, eps);
    if (!y) return NB_ERR_SHAPE;
    out[0] = (ox_val){y, in[0].et};
    /* ONNX's running statistics: input·momentum + batch·(1 - momentum), population variance */
    int64_t inner = 1;
    for (int d = 2; d < x->ndim; d++) inner *= x->shape[d];
    int64_t cnt = x->shape[0] * inner;
    for (int k = 1; k < n->n_out && k < 3; k++) {
        if (n->out[k] < 0) continue;
        nb_tensor *o = nb__empty(m->ctx, NB_F32, 1, &c1);
        if (!o) return NB_ERR_MEM;
        for (int64_t c = 0; c < C; c++) {
            double s = 0, s2 = 0;
            for (int64_t b = 0; b < x->shape[0]; b++)
                for (int64_t j = 0; j < inner; j++) {
                    double v = nb__f(x)[(b * C + c) * inner + j];
                    s += v;
                    s2 += v * v;
                }
            double mu = cnt ? s / (double)cnt : 0, va = cnt ? s2 / (double)cnt - mu * mu : 0;
            double cur = k == 1 ? mu : va;
            nb__f(o)[c] = (float)(nb__f(k == 1 ? mean : var)[c] * mom + cur * (1 - mom));
        }
        out[k] = (ox_val){o, OX_FLOAT};
    }
    return NB_OK;
}

OX_OP(instance_norm)
{
    nb_tensor *x = in[0].t;
    float eps = ox_attr_f(n, "epsilon", 1e-5f);
    int64_t C = x->ndim >= 2 ? x->shape[1] : 0;
    if (in[1].t->numel != C || in[2].t->numel != C) return ox_fail(m, n, NB_ERR_SHAPE, "scale/B do not fit %s", nb__tshape(x));
    nb_tensor *y = nb_instance_norm(x, NULL, NULL, nb_reshape(in[1].t, 1, &C), nb_reshape(in[2].t, 1, &C), 1, 0.1f, eps);
    out[0] = (ox_val){y, in[0].et};
    return y ? NB_OK : NB_ERR_SHAPE;
}

OX_OP(layer_norm)
{
    nb_tensor *x = in[0].t, *sc = in[1].t, *bi = n->n_in > 2 ? in[2].t : NULL;
    int64_t a = ox_attr_i(n, "axis", -1);
    float eps = ox_attr_f(n, "epsilon", 1e-5f);
    if (a < -x->ndim || a >= x->ndim) return ox_fail(m, n, NB_ERR_SHAPE, "axis %lld out of range for %s", (long long)a, nb__tshape(x));
    int axis = (int)(a < 0 ? a + x->ndim : a), nd = x->ndim - axis;
    int64_t ns[NB_MAX_DIMS], outer = 1, inner = 1;
    for (int d = 0; d < x->ndim; d++) {
        if (d < axis) outer *= x->shape[d];
        else {
            ns[d - axis] = x->shape[d];
            inner *= x->shape[d];
        }
    }
    nb_tensor *y;
    if (sc->numel == inner && (!bi || bi->numel == inner)) {
        y = nb_layer_norm(x, nd, ns, nb_reshape(sc, nd, ns), bi ? nb_reshape(bi, nd, ns) : NULL, eps);
    } else { /* scale/B that broadcast */
        y = nb_layer_norm(x, nd, ns, NULL, NULL, eps);
        y = nb_mul(y, sc);
        if (bi) y = nb_add(y, bi);
    }
    if (!y) return NB_ERR_SHAPE;
    out[0] = (ox_val){y, in[0].et};
    if (n->n_out > 1) {
        int64_t shape[NB_MAX_DIMS];
        for (int d = 0; d < x->ndim; d++) shape[d] = d < axis ? x->shape[d] : 1;
        nb_tensor *mu = nb__empty(m->ctx, NB_F32, x->ndim, shape), *isd = nb__empty(m->ctx, NB_F32, x->ndim, shape);
        if (!mu || !isd) return NB_ERR_MEM;
        for (int64_t o = 0; o < outer; o++) {
            double s = 0, s2 = 0;
            for (int64_t j = 0; j < inner; j++) s += nb__f(x)[o * inner + j];
            double mean = inner ? s / (double)inner : 0;
            for (int64_t j = 0; j < inner; j++) {
                double dv = nb__f(x)[o * inner + j] - mean;
                s2 += dv * dv;
            }
            nb__f(mu)[o] = (float)mean;
            nb__f(isd)[o] = (float)(1.0 / sqrt(s2 / (double)(inner ? inner : 1) + eps));
        }
        out[1] = (ox_val){mu, OX_FLOAT};
        if (n->n_out > 2) out[2] = (ox_val){isd, OX_FLOAT};
    }
    return NB_OK;
}

/* ---- Gemm, MatMul ---- */

OX_OP(gemm)
{
    nb_tensor *a = ox_as_float(in[0]), *b = ox_as_float(in[1]), *c = n->n_in > 2 ? ox_as_float(in[2]) : NULL;
    float alpha = ox_attr_f(n, "alpha", 1), beta = ox_attr_f(n, "beta", 1);
    int ta = (int)ox_attr_i(n, "transA", 0), tb = (int)ox_attr_i(n, "transB", 0);
    if (!a || !b) return NB_ERR_MEM;
    if (a->ndim != 2 || b->ndim != 2) {
        if (a->ndim > 2 && !ta) { /* opset < 9 Gemm coerced its input to 2-D */
            int64_t s2[2] = {a->shape[0], a->numel / (a->shape[0] ? a->shape[0] : 1)};
            a = nb_reshape(a, 2, s2);
        } else return ox_fail(m, n, NB_ERR_SHAPE, "needs 2-D A and B, got %s and %s", nb__tshape(a), nb__tshape(b));
    }
    nb_tensor *y;
    if (ta) a = nb_transpose(a, 0, 1);
    if (tb) y = nb_linear(a, b, NULL);
    else y = nb_matmul(a, b);
    if (!y) return NB_ERR_SHAPE;
    if (alpha != 1) y = nb_mul_scalar(y, alpha);
    if (c && c->numel) {
        if (beta != 1) c = nb_mul_scalar(c, beta);
        if (beta != 0) y = nb_add(y, c);
    }
    out[0] = (ox_val){y, in[0].et};
    return y ? NB_OK : NB_ERR_SHAPE;
}

OX_OP(matmul)
{
    nb_tensor *a = ox_as_float(in[0]), *b = ox_as_float(in[1]);
    if (!a || !b) return NB_ERR_MEM;
    if (!a->ndim || !b->ndim) return ox_fail(m, n, NB_ERR_SHAPE, "scalars cannot be multiplied as matrices");
    int a1 = a->ndim == 1, b1 = b->ndim == 1;
    if (a1) {
        int64_t s[2] = {1, a->shape[0]};
        a = nb_reshape(a, 2, s);
    }
    if (b1) {
        int64_t s[2] = {b->shape[0], 1};
        b = nb_reshape(b, 2, s);
    }
    if (!a || !b) return NB_ERR_MEM;
    int64_t M = a->shape[a->ndim - 2], K = a->shape[a->ndim - 1], K2 = b->shape[b->ndim - 2], N = b->shape[b->ndim - 1];
    if (K != K2) return ox_fail(m, n, NB_ERR_SHAPE, "shapes %s and %s do not multiply", nb__tshape(in[0].t), nb__tshape(in[1].t));
    /* batch dims broadcast */
    int na = a->ndim - 2, nbd = b->ndim - 2, nbt = na > nbd ? na : nbd;
    int64_t batch[NB_MAX_DIMS], B = 1;
    for (int i = 0; i < nbt; i++) {
        int64_t da = i < nbt - na ? 1 : a->shape[i - (nbt - na)], db = i < nbt - nbd ? 1 : b->shape[i - (nbt - nbd)];
        if (da != db && da != 1 && db != 1) return ox_fail(m, n, NB_ERR_SHAPE, "batch dims of %s and %s do not broadcast", nb__tshape(a), nb__tshape(b));
        batch[i] = da == 1 ? db : da;
        B *= batch[i];
    }
    nb_tensor *y;
    if (nbd == 0) { /* (..., M, K) x (K, N): one product */
        int64_t s2[2] = {a->numel / (K ? K : 1), K};
        y = nb_matmul(nb_reshape(a, 2, s2), b);
    } else {
        int64_t sa[NB_MAX_DIMS], sb[NB_MAX_DIMS];
        memcpy(sa, batch, sizeof(int64_t) * (size_t)nbt);
        memcpy(sb, batch, sizeof(int64_t) * (size_t)nbt);
        sa[nbt] = M, sa[nbt + 1] = K, sb[nbt] = K, sb[nbt + 1] = N;
        nb_tensor *ae = nb_tensor_numel(a) == B * M * K && a->ndim == nbt + 2 ? a : ox_expand(a, nbt + 2, sa);
        nb_tensor *be = nb_tensor_numel(b) == B * K * N && b->ndim == nbt + 2 ? b : ox_expand(b, nbt + 2, sb);
        int64_t a3[3] = {B, M, K}, b3[3] = {B, K, N};
        y = nb_matmul(nb_reshape(ae, 3, a3), nb_reshape(be, 3, b3));
    }
    if (!y) return NB_ERR_SHAPE;
    int64_t shape[NB_MAX_DIMS];
    int nd = 0;
    for (int i = 0; i < nbt; i++) shape[nd++] = batch[i];
    if (!a1) shape[nd++] = M;
    if (!b1) shape[nd++] = N;
    out[0] = (ox_val){nb_reshape(y, nd, shape), in[0].et};
    return out[0].t ? NB_OK : NB_ERR_SHAPE;
}

/* ---- activations with parameters ---- */

OX_OP(leaky_relu)
{
    (void)m;
    out[0] = (ox_val){nb_leaky_relu(in[0].t, ox_attr_f(n, "alpha", 0.01f)), in[0].et};
    return out[0].t ? NB_OK : NB_ERR_MEM;
}

OX_OP(elu)
{
    (void)m;
    out[0] = (ox_val){nb_elu(in[0].t, ox_attr_f(n, "alpha", 1.0f)), in[0].et};
    return out[0].t ? NB_OK : NB_ERR_MEM;
}

OX_OP(prelu)
{
    nb_tensor *x = in[0].t, *s = in[1].t;
    (void)n;
    /* one slope per channel: (C, 1, ..., 1) or (1, C, 1, ...) as numpy broadcasts them, or
     * before opset 7 any C slopes (PRelu-6 was per channel) */
    int per_channel = 0;
    if (x->ndim >= 2 && s->numel == x->shape[1]) {
        if (m->opset < 7) per_channel = 1;
        else if (s->ndim == x->ndim - 1 && s->shape[0] == x->shape[1]) per_channel = 1;
        else if (s->ndim == x->ndim && s->shape[0] == 1 && s->shape[1] == x->shape[1]) per_channel = 1;
        if (s->ndim == 1 && x->ndim == 2) per_channel = 1;
    }
    nb_tensor *y;
    if (s->numel == 1 || per_channel) {
        int64_t c = s->numel;
        y = nb_prelu(x, nb_reshape(s, 1, &c));
    } else
        y = nb_add(nb_relu(x), nb_mul(s, nb_neg(nb_relu(nb_neg(x)))));
    out[0] = (ox_val){y, in[0].et};
    return y ? NB_OK : NB_ERR_SHAPE;
}

/* Softmax, LogSoftmax, Hardmax: before opset 13 over the input coerced to 2-D at axis */
static nb_status softmax_like(ox_model *m, const ox_node *n, ox_val *in, ox_val *out, int kind)
{
    nb_tensor *x = in[0].t;
    int64_t a = ox_attr_i(n, "axis", m->opset < 13 ? 1 : -1);
    if (a < -x->ndim || a >= x->ndim) {
        if (!(x->ndim == 0 && (a == 0 || a == -1))) return ox_fail(m, n, NB_ERR_SHAPE, "axis %lld out of range for %s", (long long)a, nb__tshape(x));
    }
    int axis = (int)(a < 0 ? a + x->ndim : a);
    nb_tensor *v = x;
    int dim = axis;
    if (x->ndim == 0) { /* a scalar: one element along a dim of its own */
        int64_t one = 1;
        v = nb_reshape(x, 1, &one);
        dim = 0;
    } else if (m->opset < 13) {
        int64_t s2[2] = {1, 1};
        for (int d = 0; d < x->ndim; d++) s2[d < axis ? 0 : 1] *= x->shape[d];
        v = nb_reshape(x, 2, s2);
        dim = 1;
    }
    nb_tensor *y;
    if (kind == 2) {
        y = nb__empty_like(v);
        if (!y) return NB_ERR_MEM;
        int64_t outer = 1, inner = 1, L = v->shape[dim];
        for (int d = 0; d < dim; d++) outer *= v->shape[d];
        for (int d = dim + 1; d < v->ndim; d++) inner *= v->shape[d];
        for (int64_t p = 0; p < outer; p++)
            for (int64_t q = 0; q < inner; q++) {
                int64_t best = 0;
                for (int64_t j = 0; j < L; j++) {
                    if (nb__f(v)[(p * L + j) * inner + q] > nb__f(v)[(p * L + best) * inner + q]) best = j;
                }
                for (int64_t j = 0; j < L; j++) nb__f(y)[(p * L + j) * inner + q] = j == best ? 1.0f : 0.0f;
            }
    } else
        y = kind ? nb_log_softmax(v, dim) : nb_softmax(v, dim);
    if (y && (m->opset < 13 || x->ndim == 0)) y = nb_reshape(y, x->ndim, x->shape);
    out[0] = (ox_val){y, in[0].et};
    return y ? NB_OK : NB_ERR_SHAPE;
}

OX_OP(softmax) { return softmax_like(m, n, in, out, 0); }
OX_OP(log_softmax) { return softmax_like(m, n, in, out, 1); }
OX_OP(hardmax) { return softmax_like(m, n, in, out, 2); }

OX_OP(dropout)
{
    nb_tensor *x = in[0].t;
    float ratio = m->opset < 12 ? ox_attr_f(n, "ratio", 0.5f) : (n->n_in > 1 && in[1].t ? (float)ox_get_f(in[1].t, 0) : 0.5f);
    int training = m->training;
    if (m->opset >= 12 && n->n_in > 2 && in[2].t) training = ox_get_i(in[2].t, 0) != 0;
    if (m->opset < 7 && ox_attr_i(n, "is_test", 0)) training = 0;
    nb_tensor *y = training && ratio > 0 ? nb_dropout(x, ratio, 1) : x;
    if (!y) return NB_ERR_MEM;
    out[0] = (ox_val){y, in[0].et};
    if (n->n_out > 1 && n->out[1] >= 0) {
        nb_tensor *mask = nb__empty(m->ctx, NB_I64, x->ndim, x->shape);
        if (!mask) return NB_ERR_MEM;
        for (int64_t i = 0; i < x->numel; i++) nb__i(mask)[i] = y == x ? 1 : nb__f(y)[i] != 0;
        out[1] = (ox_val){mask, OX_BOOL};
    }
    return NB_OK;
}

/* LRN over channels: y = x / (bias + alpha/size · Σ x²)^beta */
OX_OP(lrn)
{
    nb_tensor *x = in[0].t;
    float alpha = ox_attr_f(n, "alpha", 1e-4f), beta = ox_attr_f(n, "beta", 0.75f), bias = ox_attr_f(n, "bias", 1.0f);
    int64_t size = ox_attr_i(n, "size", 0);
    if (x->ndim < 2 || size <= 0) return ox_fail(m, n, NB_ERR_ARG, "needs (N, C, ...) and a positive size");
    int64_t N = x->shape[0], C = x->shape[1], inner = x->numel / (N * C != 0 ? N * C : 1);
    nb_tensor *y = nb__empty_like(x);
    if (!y) return NB_ERR_MEM;
    for (int64_t b = 0; b < N; b++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t j = 0; j < inner; j++) {
                double s = 0;
                int64_t lo = c - (size - 1) / 2, hi = c + size / 2 + (size % 2 ? 0 : 0);
                hi = c + (size - 1) - (size - 1) / 2;
                for (int64_t q = lo < 0 ? 0 : lo; q <= hi && q < C; q++) {
                    double v = nb__f(x)[(b * C + q) * inner + j];
                    s += v * v;
                }
                nb__f(y)[(b * C + c) * inner + j] = (float)(nb__f(x)[(b * C + c) * inner + j] / pow(bias + alpha / (double)size * s, beta));
            }
    out[0] = (ox_val){y, in[0].et};
    return NB_OK;
}

/* ---- inference fusion (the executor's, load.c) ---- */

int ox_conv_bn_fused(ox_model *m, const ox_node *conv, const ox_val *in, const ox_node *bn, const ox_val *bnin, int relu,
                     const nb_tensor *res, ox_val *out)
{
    nb_tensor *x = in[0].t, *w = in[1].t, *b = conv->n_in > 2 ? in[2].t : NULL;
    if (m->training || !x || !w || x->dtype != NB_F32 || w->dtype != NB_F32 || x->ndim != 4 || w->ndim != 4 ||
        (b && (b->dtype != NB_F32 || b->numel != w->shape[0])) || nb__needs_grad(m->ctx, x, w, b))
        return 0;
    int graph_training = !bn ? 0 : m->opset >= 14 ? (int)ox_attr_i(bn, "training_mode", 0) : bn->n_out > 1;
    int64_t M = w->shape[0], G = ox_attr_i(conv, "group", 1);
    for (int i = 1; bn && i < 5; i++)
        if (!bnin[i].t || bnin[i].t->dtype != NB_F32 || bnin[i].t->numel != M) return 0;
    if (graph_training || G <= 0 || x->shape[1] % G || x->shape[1] / G != w->shape[1] || M % G) return 0;
    geom g;
    if (get_geom(m, conv, x, w->shape + 2, 0, &g)) {
        nb_clear_error();
        return 0; /* the Conv alone reports it */
    }
    if (g.pb[0] != g.pe[0] || g.pb[1] != g.pe[1] || g.kernel[0] != w->shape[2] || g.kernel[1] != w->shape[3]) return 0;
    if (res && (res->dtype != NB_F32 || res->ndim != 4 || res->shape[0] != x->shape[0] || res->shape[1] != M || res->shape[2] != g.out[0] ||
                res->shape[3] != g.out[1]))
        return 0; /* a broadcasting Add runs on its own */
    nb_conv2d_opts o = {.groups = (int)G};
    for (int i = 0; i < 2; i++) {
        o.stride[i] = (int)g.stride[i];
        o.dilation[i] = (int)g.dil[i];
        o.padding[i] = (int)g.pb[i];
    }
    if (!bn) { /* Conv (+ Add) (+ Relu): the bias alone */
        nb_tensor *y = nb__conv2d_ep_res(x, w, b, &o, NULL, NULL, relu, res);
        if (!y) return -1;
        out[0] = (ox_val){y, in[0].et};
        return 1;
    }
    float eps = ox_attr_f(bn, "epsilon", 1e-5f);
    float *scale = nb__scratch(m->ctx, sizeof(float) * (size_t)M), *shift = nb__scratch(m->ctx, sizeof(float) * (size_t)M);
    if (!scale || !shift) return -1;
    const float *sc = nb__f(bnin[1].t), *bi = nb__f(bnin[2].t), *mu = nb__f(bnin[3].t), *var = nb__f(bnin[4].t);
    for (int64_t c = 0; c < M; c++) { /* as nb__batchnorm_eval_scale_shift */
        float r = (float)(1.0 / sqrt((double)var[c] + (double)eps));
        scale[c] = sc[c] * r;
        shift[c] = bi[c] - mu[c] * scale[c];
    }
    nb_tensor *y = nb__conv2d_ep_res(x, w, b, &o, scale, shift, relu, res);
    if (!y) return -1;
    out[0] = (ox_val){y, in[0].et};
    return 1;
}
