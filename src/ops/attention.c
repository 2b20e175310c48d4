/* attention.c - the scaled dot-product attention core, fused: scores, masks,
 * softmax, dropout and the weighted sum in one op, threaded over (batch, head).
 *
 * For each batch b and head h, query row i and key row j:
 *   s_ij = (q_i · k_j) / (√D · n)                    (HF divides, as here; n = score_div or 1)
 *   causal: s_ij = finfo(float32).min for j > i + (Tk - Tq)   (bottom-right, as HF GPT-2)
 *   padding: s_ij += (1 - m_bj) · finfo(float32).min          (HF's extended attention mask)
 *   P_i = softmax_j(s_i) in float32, max-subtracted
 *   dropout: P'_ij = P_ij · keep_ij / (1 - p), keep from a counter-based hash of
 *            (context seed, call number, ((b·H + h)·Tq + i)·Tk + j): thread-independent
 *   o_i = Σ_j P'_ij v_j
 * Causally masked entries are skipped: their probability is exactly 0 in float32
 * (e^(min - max) underflows), except in a row whose visible keys are all padding
 * (a padded query under left padding): HF's scores are then min + min = -inf for
 * padded keys and min for the causally masked others, and the row spreads over
 * those, which the kernel reproduces.
 *
 * Layouts: one kernel over strided views. q and the output share strides, k and v
 * share strides; element (b, h, t, d) is at b·sb + h·sh + t·st + d.
 *   nb_scaled_dot_product_attention: (B, H, T, D)          sb = H·T·D, sh = T·D, st = D
 *   nb_multihead_attention:          (B, T, H·D) (merged)  sb = T·H·D, st = H·D, sh = D
 * so splitting and merging heads costs no copy.
 *
 * Backward, with G = ∂L/∂o:
 *   dv_j += Σ_i P'_ij G_i;  dP'_ij = G_i · v_j;  dP_ij = dP'_ij · keep_ij/(1-p)
 *   ds_ij = P_ij (dP_ij - Σ_j' P_ij' dP_ij');  dq_i += Σ_j ds_ij k_j / (√D·n);  dk_j += Σ_i ds_ij q_i / (√D·n)
 * Saved: P (B, H, Tq, Tk) and the additive mask (B, Tk). */
#include "core/error.h"
#include "core/tensor.h"
#include "core/tape.h"
#include "core/ctx.h"
#include "core/random.h"
#include "core/threads.h"
#include "kernels/gemm.h"
#include "kernels/vmath.h"

#include <float.h>
#include <math.h>
#include <string.h>

typedef struct {
    int64_t B, H, Tq, Tk, D;
    int64_t qb, qt, qh; /* strides of q, the output and their gradients */
    int64_t kb, kt, kh; /* strides of k and v */
    float sqrt_d;
    int causal;
    const float *madd;  /* (B, Tk) additive mask or NULL */
    float p, drop_scale;
    uint64_t key;
    float *P;           /* (B, H, Tq, Tk) softmax probabilities (before dropout) */
} att_desc;

/* Last visible key + 1 for query row i. */
static inline int64_t att_jend(const att_desc *a, int64_t i)
{
    if (!a->causal) return a->Tk;
    int64_t e = i + (a->Tk - a->Tq) + 1;
    return e < 0 ? 0 : e > a->Tk ? a->Tk : e;
}

static inline int att_keep(const att_desc *a, int64_t bh, int64_t i, int64_t j)
{
    return nb__hash_uniform(a->key, (uint64_t)((bh * a->Tq + i) * a->Tk + j)) >= a->p;
}

/* pd = P' (B·H = bh's Tq×Tk block): P·keep/(1-p), the keep bits from the hash (vectorised
 * on AVX-512; integer arithmetic, the same bits on every ISA) */
NB_CLONES static void att_dropout(const att_desc *a, int64_t bh, const float *Pb, float *pd)
{
    for (int64_t i = 0; i < a->Tq; i++)
        for (int64_t j = 0; j < a->Tk; j++)
            pd[i * a->Tk + j] = att_keep(a, bh, i, j) ? Pb[i * a->Tk + j] * a->drop_scale : 0.0f;
}

/* One (b, h): P rows and o. q, k, v, o point at element (b, h, 0, 0); pd is Tq·Tk
 * floats of scratch for the dropped-out probabilities (used when dropout is on). */
static void att_forward_bh(const att_desc *a, int64_t b, int64_t h, const float *q, const float *k, const float *v,
                           float *o, float *pd)
{
    const int64_t D = a->D, Tq = a->Tq, Tk = a->Tk, bh = b * a->H + h;
    const float *madd = a->madd ? a->madd + b * Tk : NULL;
    float *Pb = a->P + bh * Tq * Tk;
    nb__sgemm(0, 1, Tq, Tk, D, 1.0f, q, a->qt, k, a->kt, 0.0f, Pb, Tk); /* q·kᵀ */
    for (int64_t i = 0; i < Tq; i++) {
        float *P = Pb + i * Tk;
        int64_t je = att_jend(a, i);
        for (int64_t j = 0; j < je; j++) P[j] = P[j] / a->sqrt_d;
        if (madd)
            for (int64_t j = 0; j < je; j++) P[j] = P[j] + madd[j];
        float mx = nb__vmax(P, je);
        if (a->causal && madd && je < Tk && !(mx > -FLT_MAX)) {
            /* every visible key is padding: HF's scores are then -FLT_MAX for the causally
             * masked keys too (-inf where also padded), so the row spreads over those */
            for (int64_t j = je; j < Tk; j++) P[j] = -FLT_MAX + madd[j];
            je = Tk;
            for (int64_t j = 0; j < je; j++) mx = fmaxf(mx, P[j]);
        }
        float sum = nb__vexp_sum(P, mx, P, je);
        float inv = 1.0f / sum;
        for (int64_t j = 0; j < je; j++) P[j] *= inv;
        for (int64_t j = je; j < Tk; j++) P[j] = 0;
    }
    const float *PV = Pb;
    if (a->p > 0) {
        att_dropout(a, bh, Pb, pd);
        PV = pd;
    }
    nb__sgemm(0, 0, Tq, D, Tk, 1.0f, PV, Tk, v, a->kt, 0.0f, o, a->qt); /* P'·v */
}

/* One (b, h) of the backward; gradient pointers (may be NULL) at element (b, h, 0, 0);
 * dP and pd Tq·Tk floats of scratch each. */
static void att_backward_bh(const att_desc *a, int64_t b, int64_t h, const float *q, const float *k, const float *v,
                            const float *g, float *dq, float *dk, float *dv, float *dP, float *pd)
{
    const int64_t D = a->D, Tq = a->Tq, Tk = a->Tk, bh = b * a->H + h;
    const float *Pb = a->P + bh * Tq * Tk, *PV = Pb;
    if (a->p > 0) {
        att_dropout(a, bh, Pb, pd);
        PV = pd;
    }
    if (dv) nb__sgemm(1, 0, Tk, D, Tq, 1.0f, PV, Tk, g, a->qt, 1.0f, dv, a->kt); /* dv += P'ᵀ·G */
    if (!dq && !dk) return;
    nb__sgemm(0, 1, Tq, Tk, D, 1.0f, g, a->qt, v, a->kt, 0.0f, dP, Tk); /* dP' = G·vᵀ */
    for (int64_t i = 0; i < Tq; i++) {
        const float *P = Pb + i * Tk;
        float *row = dP + i * Tk;
        int64_t je = att_jend(a, i), jc = je;
        if (a->causal && a->madd) /* a row spread past the causal limit (see the forward)? */
            for (int64_t j = je; j < Tk; j++)
                if (P[j] != 0) {
                    je = Tk;
                    break;
                }
        float rs = 0;
        const float *kept = a->p > 0 ? pd + i * Tk : NULL; /* P'_ij, nonzero where kept (and P_ij != 0) */
        for (int64_t j = 0; j < je; j++) {
            float keep = kept ? (kept[j] != 0 ? a->drop_scale : 0.0f) : 1.0f;
            row[j] = P[j] == 0 ? 0.0f : row[j] * keep;
            rs += P[j] * row[j];
        }
        /* keys past the causal limit had constant scores (HF's torch.where): no gradient to q, k */
        for (int64_t j = 0; j < jc; j++) row[j] = P[j] * (row[j] - rs) / a->sqrt_d;
        for (int64_t j = jc; j < Tk; j++) row[j] = 0;
    }
    if (dq) nb__sgemm(0, 0, Tq, D, Tk, 1.0f, dP, Tk, k, a->kt, 1.0f, dq, a->qt); /* dq += dS·k */
    if (dk) nb__sgemm(1, 0, Tk, D, Tq, 1.0f, dP, Tk, q, a->qt, 1.0f, dk, a->kt); /* dk += dSᵀ·q */
}

/* One call, as its chunks (nb__parallel_if) read it: q, k, v, out, g and the
 * gradients laid out as a describes; P's and pd's (B·H, Tq, Tk) planes per (b, h). */
typedef struct {
    const att_desc *a;
    const float *q, *k, *v;
    float *out;                /* forward */
    const float *g;            /* backward: the output's gradient */
    float *dq, *dk, *dv;       /* backward: accumulate; each may be NULL */
    float *dP;                 /* backward: scratch */
    float *pd;                 /* the dropped-out probabilities, or NULL */
} att_job;

/* Heads [b, e) (index b·H + h) of att_backward. */
static void att_backward_chunk(void *ctx, int64_t b, int64_t e, int slot)
{
    const att_job *job = ctx;
    const att_desc *a = job->a;
    int64_t TT = a->Tq * a->Tk;
    for (int64_t bh = b; bh < e; bh++) {
        int64_t n = bh / a->H, h = bh % a->H;
        int64_t oq = n * a->qb + h * a->qh, ok = n * a->kb + h * a->kh;
        att_backward_bh(a, n, h, job->q + oq, job->k + ok, job->v + ok, job->g + oq, job->dq ? job->dq + oq : NULL,
                        job->dk ? job->dk + ok : NULL, job->dv ? job->dv + ok : NULL, job->dP + bh * TT,
                        job->pd ? job->pd + bh * TT : NULL);
    }
}

static void att_backward(nb_node *n)
{
    const att_desc *a = n->saved;
    nb_tensor *tq = n->in[0], *tk = n->in[1], *tv = n->in[2];
    const float *q = nb__f(tq), *k = nb__f(tk), *v = nb__f(tv), *g = n->out->grad;
    float *dq = tq->requires_grad ? tq->grad : NULL, *dk = tk->requires_grad ? tk->grad : NULL,
          *dv = tv->requires_grad ? tv->grad : NULL;
    int64_t BH = a->B * a->H, TT = a->Tq * a->Tk;
    float *dP = nb__scratch(n->out->ctx, sizeof(float) * (size_t)(BH * TT + 1));
    float *pd = a->p > 0 ? nb__scratch(n->out->ctx, sizeof(float) * (size_t)(BH * TT + 1)) : NULL;
    if (!dP || (a->p > 0 && !pd)) return;
    nb__parallel_if(BH * TT * a->D * 4, BH, nb__chunk_for(BH), att_backward_chunk,
                    &(att_job){.a = a, .q = q, .k = k, .v = v, .g = g, .dq = dq, .dk = dk, .dv = dv, .dP = dP, .pd = pd});
}

/* Heads [b, e) (index b·H + h) of the forward. */
static void attention_chunk(void *ctx, int64_t b, int64_t e, int slot)
{
    const att_job *job = ctx;
    const att_desc *a = job->a;
    for (int64_t bh = b; bh < e; bh++) {
        int64_t n = bh / a->H, h = bh % a->H;
        int64_t oq = n * a->qb + h * a->qh, ok = n * a->kb + h * a->kh;
        att_forward_bh(a, n, h, job->q + oq, job->k + ok, job->v + ok, job->out + oq,
                       job->pd ? job->pd + bh * a->Tq * a->Tk : NULL);
    }
}

/* merged: q (B, Tq, H·D), k, v (B, Tk, H·D) with `heads` heads; else (B, H, T, D). */
static nb_tensor *attention(nb_tensor *q, nb_tensor *k, nb_tensor *v, int64_t heads, int merged,
                            const nb_attention_opts *o, const char *op)
{
    if (!q || !k || !v) return NULL;
    nb_attention_opts opt = o ? *o : (nb_attention_opts){0};
    int nd = merged ? 3 : 4;
    if (q->dtype != NB_F32 || k->dtype != NB_F32 || v->dtype != NB_F32 || q->ndim != nd || k->ndim != nd ||
        v->ndim != nd) {
        nb__fail(NB_ERR_SHAPE, "%s: q, k, v must be F32 %s, got q %s, k %s, v %s", op,
                 merged ? "(B, T, heads·D)" : "(B, heads, T, D)", nb__tshape(q), nb__tshape(k), nb__tshape(v));
        return NULL;
    }
    att_desc a = {0};
    a.B = q->shape[0];
    if (merged) {
        if (heads <= 0 || q->shape[2] % heads) {
            nb__fail(NB_ERR_SHAPE, "%s: the embedding size %lld of q %s does not divide into %lld heads", op,
                     (long long)q->shape[2], nb__tshape(q), (long long)heads);
            return NULL;
        }
        a.H = heads;
        a.Tq = q->shape[1];
        a.Tk = k->shape[1];
        a.D = q->shape[2] / heads;
    } else {
        a.H = q->shape[1];
        a.Tq = q->shape[2];
        a.Tk = k->shape[2];
        a.D = q->shape[3];
    }
    if (!nb__same_shape(k, v) || k->shape[0] != a.B || q->shape[nd - 1] != k->shape[nd - 1] ||
        (!merged && k->shape[1] != a.H)) {
        nb__fail(NB_ERR_SHAPE, "%s: q %s, k %s and v %s do not fit (k and v alike; same batch, heads and size)", op,
                 nb__tshape(q), nb__tshape(k), nb__tshape(v));
        return NULL;
    }
    if (!(opt.dropout_p >= 0 && opt.dropout_p <= 1)) {
        nb__fail(NB_ERR_ARG, "%s: dropout_p must be in [0, 1], got %g", op, (double)opt.dropout_p);
        return NULL;
    }
    if (merged) {
        a.qb = a.Tq * a.H * a.D, a.qt = a.H * a.D, a.qh = a.D;
        a.kb = a.Tk * a.H * a.D, a.kt = a.H * a.D, a.kh = a.D;
    } else {
        a.qb = a.H * a.Tq * a.D, a.qh = a.Tq * a.D, a.qt = a.D;
        a.kb = a.H * a.Tk * a.D, a.kh = a.Tk * a.D, a.kt = a.D;
    }
    a.sqrt_d = sqrtf((float)a.D) * (opt.score_div > 0 ? opt.score_div : 1.0f); /* the scores' divisor */
    a.causal = opt.is_causal != 0;
    nb_ctx *ctx = q->ctx;
    if (opt.attn_mask) {
        nb_tensor *m = opt.attn_mask;
        int ok = m->numel == a.B * a.Tk && m->ndim >= 1 && m->shape[0] == a.B && m->shape[m->ndim - 1] == a.Tk;
        if (!ok) {
            nb__fail(NB_ERR_SHAPE, "%s: attn_mask %s must be (batch, key length) = (%lld, %lld)", op, nb__tshape(m),
                     (long long)a.B, (long long)a.Tk);
            return NULL;
        }
        float *madd = nb__scratch(ctx, sizeof(float) * (size_t)(a.B * a.Tk));
        if (!madd) return NULL;
        for (int64_t i = 0; i < a.B * a.Tk; i++) {
            float mv = m->dtype == NB_I64 ? (float)nb__i(m)[i] : nb__f(m)[i];
            madd[i] = (1.0f - mv) * -FLT_MAX;
        }
        a.madd = madd;
    }
    if (opt.training && opt.dropout_p > 0) {
        a.p = opt.dropout_p;
        a.drop_scale = a.p < 1 ? 1.0f / (1.0f - a.p) : 0.0f;
        a.key = nb__mix64(ctx->seed * 0x9e3779b97f4a7c15ULL + ++ctx->step_counter);
    }
    int64_t oshape[4];
    memcpy(oshape, q->shape, sizeof(int64_t) * (size_t)nd);
    nb_tensor *out = nb__empty(ctx, NB_F32, nd, oshape);
    a.P = nb__scratch(ctx, sizeof(float) * (size_t)(a.B * a.H * a.Tq * a.Tk + 1));
    att_desc *saved = nb__scratch(ctx, sizeof *saved);
    float *pd = a.p > 0 ? nb__scratch(ctx, sizeof(float) * (size_t)(a.B * a.H * a.Tq * a.Tk + 1)) : NULL;
    if (!out || !a.P || !saved || (a.p > 0 && !pd)) return NULL;
    *saved = a;
    const float *qp = nb__f(q), *kp = nb__f(k), *vp = nb__f(v);
    float *op_ = nb__f(out);
    int64_t BH = a.B * a.H;
    nb__parallel_if(BH * a.Tq * a.Tk * a.D * 2, BH, nb__chunk_for(BH), attention_chunk,
                    &(att_job){.a = saved, .q = qp, .k = kp, .v = vp, .out = op_, .pd = pd});
    if (nb__needs_grad(ctx, q, k, v)) {
        nb_node *n = nb__record(out, att_backward, q, k, v);
        if (!n) return NULL;
        n->saved = saved;
    }
    return out;
}

nb_tensor *nb_scaled_dot_product_attention(nb_tensor *q, nb_tensor *k, nb_tensor *v, const nb_attention_opts *o)
{
    return attention(q, k, v, 0, 0, o, "scaled_dot_product_attention");
}

nb_tensor *nb_multihead_attention(nb_tensor *q, nb_tensor *k, nb_tensor *v, int64_t heads, const nb_attention_opts *o)
{
    return attention(q, k, v, heads, 1, o, "multihead_attention");
}
