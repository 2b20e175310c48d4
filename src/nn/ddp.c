/* ddp.c - DistributedDataParallel (PyTorch 1.13's torch.nn.parallel.DDP with the
 * default all-reduce hook) on nabla's tape.
 *
 * At construction: every rank's parameters and buffers must have rank 0's shapes
 * (else an error naming the first tensor that differs), and rank 0's values are
 * broadcast. The parameters that require grad are put in buckets in reverse order
 * (the order their gradients become final in a backward pass): the first bucket
 * closes once it holds first_bucket_mb, the others bucket_cap_mb, the parameter
 * that crosses the limit included (compute_bucket_assignment_by_size).
 *
 * During nb_backward (the context's backward hook): before the walk, each
 * parameter's first use on the tape is found (its gradient is final once the walk
 * has passed that node) and each bucket's readiness is the earliest of its
 * parameters'. After each tape node, the next buckets in order whose parameters are
 * all final are started: their gradients copied into the bucket's flat buffer,
 * divided by the world size (DDP divides before the sum), and MPI_Iallreduce
 * started; buckets start in bucket order on every rank, so the ranks issue their
 * collectives in the same order. Between nodes MPI_Test lets the transfers
 * progress. After the walk nb_backward waits for every bucket and copies the
 * averages back into the gradients. A backward whose tape uses none of the
 * parameters does not communicate. A parameter that requires grad but is not used in
 * a step contributes a zero gradient (allocated when it had none).
 *
 * Buffers: in training mode nb_ddp_forward broadcasts rank 0's buffers (all of
 * them, packed into one message) before the forward, as DDP's broadcast_buffers. */
#include "core/tape.h"
#include "dist/dist.h"
#include "nn/module.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    nb_tensor *t;
    int idx;
} ptr_idx;

struct nb_ddp {
    nb_module *m;
    nb_ctx *ctx;
    nb_ddp_opts o;
    int world;
    nb_tensor **params; /* requires grad, module order */
    int np;
    ptr_idx *sorted;    /* params sorted by address, for the tape scan */
    int *ready_at;      /* per parameter: the tape node after which its gradient is final */
    int *order;         /* parameter indices in reverse order; bucket b is order[b_start[b]..b_start[b+1]) */
    int nbk;            /* buckets */
    int *b_start;
    int *b_ready;       /* per bucket: the earliest ready_at of its parameters */
    int64_t *b_numel;
    float **b_buf;
    nb__dist_req **reqs;
    int active;         /* this backward uses the parameters */
    int launched;       /* buckets started in this backward */
    nb_status err;
    /* buffers (broadcast_buffers) */
    nb_tensor **bufs;
    int nbufs;
    unsigned char *pack;
    size_t pack_bytes;
};

static size_t tensor_bytes(const nb_tensor *t) { return (size_t)t->numel * (t->dtype == NB_I64 ? 8 : 4); }

static int cmp_ptr(const void *a, const void *b)
{
    const ptr_idx *x = a, *y = b;
    return x->t < y->t ? -1 : x->t > y->t;
}

static int find_param(const nb_ddp *d, const nb_tensor *t)
{
    int lo = 0, hi = d->np - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (d->sorted[mid].t == t) return d->sorted[mid].idx;
        if (d->sorted[mid].t < t) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

/* ---- construction: same shapes everywhere, then rank 0's values ---- */

enum { SIG = 2 + NB_MAX_DIMS }; /* dtype, ndim, shape */

static void signature(const nb_tensor *t, int64_t *s)
{
    memset(s, 0, SIG * sizeof *s);
    s[0] = t->dtype;
    s[1] = t->ndim;
    for (int k = 0; k < t->ndim; k++) s[2 + k] = t->shape[k];
}

static void sig_str(const int64_t *s, char *buf, size_t n)
{
    nb__shape_str((int)s[1], s + 2, buf, n);
    if (s[0] == NB_I64 && strlen(buf) + 5 < n) strcat(buf, " I64");
}

static nb_status check_and_broadcast(nb_module *m, int world)
{
    int n;
    const nb_named_tensor *st = nb_module_state(m, &n);
    double cnt[2] = {n, -n};
    nb_dist_allreduce(cnt, 2, NB_DIST_MIN);
    if ((int)cnt[0] != n || (int)-cnt[1] != n) {
        return nb_dist_agree(nb__fail(NB_ERR_SHAPE,
                                      "DistributedDataParallel: the model has %d parameters and buffers on this "
                                      "rank, but between %d and %d across the ranks; every rank must build the "
                                      "same model",
                                      n, (int)cnt[0], (int)-cnt[1]));
    }
    int64_t *sig = malloc(sizeof *sig * SIG * (size_t)(n ? n : 1));
    if (!sig) return nb_dist_agree(nb__fail(NB_ERR_MEM, "out of memory checking the model across ranks"));
    if (nb_dist_rank() == 0)
        for (int i = 0; i < n; i++) signature(st[i].tensor, sig + (size_t)i * SIG);
    nb_dist_broadcast(sig, sizeof *sig * SIG * (size_t)n, 0);
    int first = n;
    int64_t mine[SIG];
    for (int i = 0; i < n && first == n; i++) {
        signature(st[i].tensor, mine);
        if (memcmp(mine, sig + (size_t)i * SIG, sizeof mine)) first = i;
    }
    /* the first differing tensor over all ranks, and the lowest rank where it differs */
    double key[1] = {(double)first * world + nb_dist_rank()};
    nb_dist_allreduce(key, 1, NB_DIST_MIN);
    int bad_i = (int)(key[0] / world), bad_r = (int)key[0] % world;
    nb_status rc = NB_OK;
    if (bad_i < n) {
        int64_t theirs[SIG];
        if (nb_dist_rank() == bad_r) signature(st[bad_i].tensor, theirs);
        nb_dist_broadcast(theirs, sizeof theirs, bad_r);
        char a[160], b[160];
        sig_str(theirs, a, sizeof a);
        sig_str(sig + (size_t)bad_i * SIG, b, sizeof b);
        rc = nb__fail(NB_ERR_SHAPE,
                      "DistributedDataParallel: %s '%s' has shape %s on rank %d but %s on rank 0; every rank must "
                      "build the same model",
                      st[bad_i].is_buffer ? "buffer" : "parameter", st[bad_i].name, a, bad_r, b);
    }
    free(sig);
    if (rc) return rc;
    for (int i = 0; i < n; i++) {
        nb_dist_broadcast(st[i].tensor->data, tensor_bytes(st[i].tensor), 0);
        nb__bump_version(st[i].tensor);
    }
    return NB_OK;
}

/* ---- buckets ---- */

static nb_status build_buckets(nb_ddp *d)
{
    size_t first = (size_t)((d->o.first_bucket_mb > 0 ? d->o.first_bucket_mb : 1.0f) * 1048576.0f);
    size_t cap = (size_t)((d->o.bucket_cap_mb > 0 ? d->o.bucket_cap_mb : 25.0f) * 1048576.0f);
    int np = d->np;
    d->order = malloc(sizeof *d->order * (size_t)(np + 1));
    d->b_start = malloc(sizeof *d->b_start * (size_t)(np + 2));
    d->sorted = malloc(sizeof *d->sorted * (size_t)(np + 1));
    d->ready_at = malloc(sizeof *d->ready_at * (size_t)(np + 1));
    if (!d->order || !d->b_start || !d->sorted || !d->ready_at) return nb__fail(NB_ERR_MEM, "out of memory for DDP");
    for (int i = 0; i < np; i++) {
        d->order[i] = np - 1 - i;
        d->sorted[i] = (ptr_idx){d->params[i], i};
    }
    qsort(d->sorted, (size_t)np, sizeof *d->sorted, cmp_ptr);
    size_t fill = 0;
    d->nbk = 0;
    for (int k = 0; k < np; k++) {
        if (fill == 0) d->b_start[d->nbk++] = k;
        fill += (size_t)d->params[d->order[k]]->numel * sizeof(float);
        if (fill >= (d->nbk == 1 ? first : cap)) fill = 0;
    }
    d->b_start[d->nbk] = np;
    int nb = d->nbk ? d->nbk : 1;
    d->b_ready = calloc((size_t)nb, sizeof *d->b_ready);
    d->b_numel = calloc((size_t)nb, sizeof *d->b_numel);
    d->b_buf = calloc((size_t)nb, sizeof *d->b_buf);
    d->reqs = calloc((size_t)nb, sizeof *d->reqs);
    if (!d->b_ready || !d->b_numel || !d->b_buf || !d->reqs) return nb__fail(NB_ERR_MEM, "out of memory for DDP");
    for (int b = 0; b < d->nbk; b++) {
        for (int k = d->b_start[b]; k < d->b_start[b + 1]; k++) d->b_numel[b] += d->params[d->order[k]]->numel;
        if (!(d->b_buf[b] = malloc((size_t)(d->b_numel[b] ? d->b_numel[b] : 1) * sizeof(float))) ||
            !(d->reqs[b] = nb__dist_req_new()))
            return nb__fail(NB_ERR_MEM, "out of memory for DDP's bucket of %lld values", (long long)d->b_numel[b]);
    }
    return NB_OK;
}

static nb_status launch(nb_ddp *d, int b)
{
    float *buf = d->b_buf[b], w = (float)d->world;
    for (int k = d->b_start[b]; k < d->b_start[b + 1]; k++) {
        nb_tensor *p = d->params[d->order[k]];
        const float *g = nb__grad(p);
        if (!g) return NB_ERR_MEM;
        for (int64_t i = 0; i < p->numel; i++) buf[i] = g[i] / w;
        buf += p->numel;
    }
    return nb__dist_iallreduce_f32(d->b_buf[b], d->b_numel[b], d->reqs[b]);
}

static void unpack(nb_ddp *d, int b)
{
    const float *buf = d->b_buf[b];
    for (int k = d->b_start[b]; k < d->b_start[b + 1]; k++) {
        nb_tensor *p = d->params[d->order[k]];
        memcpy(p->grad, buf, (size_t)p->numel * sizeof(float));
        buf += p->numel;
    }
}

/* Start the buckets, in order, whose parameters are final once tape node `node` ran. */
static nb_status launch_ready(nb_ddp *d, int node)
{
    while (d->launched < d->nbk && d->b_ready[d->launched] >= node) {
        nb_status st = launch(d, d->launched);
        if (st) return st;
        d->launched++;
    }
    nb__dist_progress(d->reqs, d->launched);
    return NB_OK;
}

static nb_status hook(nb_ctx *ctx, int node, void *user)
{
    nb_ddp *d = user;
    if (node == -1) { /* the walk is over: every gradient is final */
        if (!d->active) return NB_OK;
        d->active = 0;
        nb_status st = launch_ready(d, -1);
        nb__dist_wait_all(d->reqs, d->launched);
        if (st) return st;
        for (int b = 0; b < d->nbk; b++) unpack(d, b);
        return NB_OK;
    }
    if (node == ctx->tape_len) { /* before the walk: plan */
        int T = ctx->tape_len;
        d->active = 0;
        d->launched = 0;
        for (int i = 0; i < d->np; i++) d->ready_at[i] = T; /* unused: final at once */
        for (int k = 0; k < T; k++) {
            nb_node *n = ctx->tape[k];
            for (int j = 0; j < n->n_in; j++) {
                nb_tensor *t = n->in[j];
                if (!t || t->node || !t->requires_grad) continue;
                int idx = find_param(d, t);
                if (idx >= 0 && d->ready_at[idx] == T) {
                    d->ready_at[idx] = k;
                    d->active = 1;
                }
            }
        }
        if (!d->active) return NB_OK;
        for (int b = 0; b < d->nbk; b++) {
            int r = T;
            for (int k = d->b_start[b]; k < d->b_start[b + 1]; k++)
                if (d->ready_at[d->order[k]] < r) r = d->ready_at[d->order[k]];
            d->b_ready[b] = r;
        }
    }
    if (!d->active) return NB_OK;
    return launch_ready(d, node);
}

void nb_ddp_free(nb_ddp *d)
{
    if (!d) return;
    if (d->ctx && d->ctx->backward_hook == hook && d->ctx->backward_hook_user == d) {
        d->ctx->backward_hook = NULL;
        d->ctx->backward_hook_user = NULL;
        d->ctx->sync_bn = 0;
    }
    if (d->b_buf)
        for (int b = 0; b < d->nbk; b++) free(d->b_buf[b]);
    if (d->reqs)
        for (int b = 0; b < d->nbk; b++) free(d->reqs[b]);
    free(d->b_buf);
    free(d->reqs);
    free(d->b_numel);
    free(d->b_ready);
    free(d->b_start);
    free(d->order);
    free(d->sorted);
    free(d->ready_at);
    free(d->params);
    free(d->bufs);
    free(d->pack);
    free(d);
}

nb_ddp *nb_ddp_new(nb_module *m, const nb_ddp_opts *o)
{
    if (!m) {
        nb__fail(NB_ERR_ARG, "nb_ddp_new: the module is NULL");
        return NULL;
    }
    nb_ddp_opts opts = o ? *o : (nb_ddp_opts){0};
    if (opts.bucket_cap_mb < 0 || opts.first_bucket_mb < 0) {
        nb__fail(NB_ERR_ARG, "nb_ddp_new: bucket sizes %g and %g MB must not be negative", (double)opts.bucket_cap_mb,
                 (double)opts.first_bucket_mb);
        return NULL;
    }
    if (m->ctx->backward_hook) {
        nb__fail(NB_ERR_STATE, "nb_ddp_new: the module's context already has a DistributedDataParallel");
        return NULL;
    }
    nb_ddp *d = calloc(1, sizeof *d);
    if (!d) {
        nb__fail(NB_ERR_MEM, "out of memory for DDP");
        return NULL;
    }
    d->m = m;
    d->ctx = m->ctx;
    d->o = opts;
    d->world = nb_dist_world();
    if (d->world == 1) return d; /* one process: nothing to synchronise */
    /* a rank that failed while building its model calls nb_dist_agree(error) instead */
    if (nb_dist_agree(NB_OK) || check_and_broadcast(m, d->world)) goto fail;
    int np, ns;
    nb_tensor **p = nb_module_parameters(m, &np);
    const nb_named_tensor *st = nb_module_state(m, &ns);
    d->np = np;
    if (!(d->params = malloc(sizeof *d->params * (size_t)(np + 1))) ||
        !(d->bufs = malloc(sizeof *d->bufs * (size_t)(ns + 1)))) {
        nb__fail(NB_ERR_MEM, "out of memory for DDP");
        goto fail;
    }
    memcpy(d->params, p, sizeof *p * (size_t)np);
    for (int i = 0; i < ns; i++)
        if (st[i].is_buffer) {
            d->bufs[d->nbufs++] = st[i].tensor;
            d->pack_bytes += tensor_bytes(st[i].tensor);
        }
    if (d->pack_bytes && !(d->pack = malloc(d->pack_bytes))) {
        nb__fail(NB_ERR_MEM, "out of memory for DDP");
        goto fail;
    }
    if (build_buckets(d)) goto fail;
    d->ctx->backward_hook = hook;
    d->ctx->backward_hook_user = d;
    d->ctx->sync_bn = opts.sync_bn != 0;
    return d;
fail:
    nb_ddp_free(d);
    return NULL;
}

int nb_ddp_num_buckets(const nb_ddp *d) { return d ? d->nbk : 0; }

nb_status nb_ddp_broadcast_buffers(nb_ddp *d)
{
    if (!d) return nb__fail(NB_ERR_ARG, "nb_ddp_broadcast_buffers: NULL DDP");
    if (d->world > 1 && d->pack_bytes) {
        unsigned char *p = d->pack;
        if (nb_dist_rank() == 0)
            for (int i = 0; i < d->nbufs; i++) {
                memcpy(p, d->bufs[i]->data, tensor_bytes(d->bufs[i]));
                p += tensor_bytes(d->bufs[i]);
            }
        nb_dist_broadcast(d->pack, d->pack_bytes, 0);
        p = d->pack;
        for (int i = 0; i < d->nbufs; i++) {
            memcpy(d->bufs[i]->data, p, tensor_bytes(d->bufs[i]));
            nb__bump_version(d->bufs[i]);
            p += tensor_bytes(d->bufs[i]);
        }
    }
    return NB_OK;
}

nb_tensor *nb_ddp_forward(nb_ddp *d, nb_tensor *x)
{
    if (!d) {
        nb__fail(NB_ERR_ARG, "nb_ddp_forward: NULL DDP");
        return NULL;
    }
    if (d->m->training && !d->o.no_broadcast_buffers && nb_ddp_broadcast_buffers(d)) return NULL;
    return nb_module_forward(d->m, x);
}
