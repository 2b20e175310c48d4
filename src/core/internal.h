/* internal.h - what the library's files share and users do not see.
 *
 * How an op is written (see src/ops/activation.c for a short example):
 *   1. check the inputs (NULL propagates, shapes give nb__fail(NB_ERR_SHAPE, ...));
 *   2. out = nb__empty(ctx, ...) takes the result from the arena;
 *   3. run the forward kernel;
 *   4. if nb__needs_grad(ctx, inputs...), n = nb__record(out, backward_fn, inputs...)
 *      puts a node on the tape; save what backward needs in n->saved / n->f / n->i.
 * backward_fn(n) reads n->out->grad and adds into nb__grad(n->in[k]) for every input
 * with requires_grad (nb__grad allocates a zeroed gradient on first use).
 */
#ifndef NB_INTERNAL_H
#define NB_INTERNAL_H

#include "nabla.h"

#include <stdarg.h>
#include <stdbool.h>

/* ---- errors ---- */
/* Set the thread's message (printf format) and return code; returns NULL-friendly. */
nb_status nb__fail(nb_status code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Keep an existing message but prefix context: "loading x.safetensors: ..." */
void nb__error_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- arena: bump allocator that is reset once per step ---- */
typedef struct nb_arena_chunk {
    struct nb_arena_chunk *next;
    size_t cap, used;
    unsigned char *mem;
} nb_arena_chunk;

typedef struct {
    nb_arena_chunk *head; /* current chunk (first in the list) */
    size_t total;         /* sum of capacities */
    size_t peak;          /* most bytes used in one step */
    size_t in_use;        /* bytes used in this step */
    size_t mallocs;       /* heap allocations made */
} nb_arena;

void *nb__arena_alloc(nb_arena *a, size_t bytes); /* 64-byte aligned, not zeroed */
void nb__arena_reset(nb_arena *a);
void nb__arena_free(nb_arena *a);

/* ---- tape ---- */
typedef struct nb_node nb_node;
typedef void (*nb_backward_fn)(nb_node *n);

#define NB_NODE_MAX_IN 4
struct nb_node {
    nb_backward_fn backward;
    nb_tensor *out;
    nb_tensor *in[NB_NODE_MAX_IN];
    int n_in;
    void *saved;   /* op-specific arena memory */
    float f[4];    /* op-specific scalars */
    int64_t i[8];  /* op-specific integers */
    const void *p; /* op-specific pointer (options) */
};

struct nb_ctx {
    nb_arena arena;
    nb_node **tape;
    int tape_len, tape_cap;
    int grad_enabled;
    int threads;
    nb_rng rng;
    uint64_t seed;
    uint64_t step_counter; /* bumps at every dropout call etc. for counter-based randomness */
};

struct nb_tensor {
    nb_ctx *ctx;
    nb_dtype dtype;
    int ndim;
    int64_t shape[NB_MAX_DIMS];
    int64_t numel;
    void *data;
    float *grad;
    nb_node *node;          /* the op that made it; NULL for leaves */
    unsigned requires_grad : 1;
    unsigned in_arena : 1;  /* struct and data owned by the arena */
    unsigned owns_data : 1; /* heap tensor that frees data */
    unsigned grad_in_arena : 1;
};

static inline float *nb__f(const nb_tensor *t) { return (float *)t->data; }
static inline int64_t *nb__i(const nb_tensor *t) { return (int64_t *)t->data; }

/* A new arena tensor (data uninitialised); NULL with a message on failure. */
nb_tensor *nb__empty(nb_ctx *ctx, nb_dtype dt, int ndim, const int64_t *shape);
nb_tensor *nb__empty_like(const nb_tensor *t);
nb_tensor *nb__zeros_like(const nb_tensor *t);
/* Arena scratch memory for the current step. */
void *nb__scratch(nb_ctx *ctx, size_t bytes);
/* Does an op on these inputs record a node? (grad mode on and any input requires grad) */
bool nb__needs_grad(nb_ctx *ctx, nb_tensor *a, nb_tensor *b, nb_tensor *c);
/* Append a node that made `out` from the inputs (NULLs skipped); marks out requires_grad. */
nb_node *nb__record(nb_tensor *out, nb_backward_fn fn, nb_tensor *a, nb_tensor *b, nb_tensor *c);
/* The gradient buffer of t, allocated and zeroed on first use. */
float *nb__grad(nb_tensor *t);
/* Whether t wants a gradient from a backward pass. */
static inline bool nb__wants_grad(const nb_tensor *t) { return t && t->requires_grad; }

bool nb__same_shape(const nb_tensor *a, const nb_tensor *b);
void nb__shape_str(int ndim, const int64_t *shape, char *buf, size_t n);
/* Normalise a possibly negative dim; -1 with an error if out of range. */
int nb__dim(const nb_tensor *t, int dim, const char *op);
int64_t nb__numel(int ndim, const int64_t *shape);

/* counter-based random numbers: the same (key, counter) gives the same value on any thread */
static inline uint64_t nb__mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static inline float nb__hash_uniform(uint64_t key, uint64_t counter)
{
    return (float)(nb__mix64(key ^ nb__mix64(counter)) >> 40) * (1.0f / 16777216.0f);
}

/* ---- modules ---- */
typedef struct nb_module_vtable {
    const char *kind;
    nb_tensor *(*forward)(nb_module *m, nb_tensor *x);
    void (*free)(nb_module *m); /* frees kind-specific state (not params) */
    void (*train)(nb_module *m, int training); /* optional: propagate to children */
} nb_module_vtable;

struct nb_module {
    const nb_module_vtable *vt;
    nb_ctx *ctx;
    int training;
    /* own parameters and buffers, with local names ("weight"); children add prefixes */
    nb_named_tensor *own;
    int n_own;
    nb_module **children;
    char **child_names;
    int n_children;
    /* flattened state, rebuilt on demand */
    nb_named_tensor *state;
    char **state_names;
    int n_state;
    nb_tensor **params;
    int n_params;
    int state_dirty;
    float f[4];
    int64_t i[8];
    void *impl;
};

nb_module *nb__module_new(nb_ctx *ctx, const nb_module_vtable *vt);
/* Register a tensor the module owns (frees it) under a local name. */
nb_status nb__module_add(nb_module *m, const char *name, nb_tensor *t, int is_buffer);
nb_status nb__module_add_child(nb_module *m, const char *name, nb_module *child);

/* ---- atomic file writes (src/io/atomic.c) ----
 * Write to "PATH.tmp.<pid>", then fflush + fsync + rename over PATH + fsync the
 * directory; on any failure the temp file is removed and PATH is left as it was. */
typedef struct {
    FILE *fp;
    char *path, *tmp;
    int failed;
} nb_atomic_file;
nb_status nb__atomic_begin(nb_atomic_file *af, const char *path);
/* Append n bytes; after a failure further writes are no-ops and commit fails. */
nb_status nb__atomic_write(nb_atomic_file *af, const void *p, size_t n);
nb_status nb__atomic_commit(nb_atomic_file *af); /* always releases af */
void nb__atomic_abort(nb_atomic_file *af);       /* removes the temp file */

/* ---- datasets (src/data) ----
 * A dataset is a table of samples (C, H, W) floats with an integer label. Each
 * kind (IDX, CIFAR-10, image folders) fills a vtable; src/data/dataset.c
 * dispatches the public nb_dataset_* calls. get must be safe to call from
 * several threads at once for different samples: random transforms draw only
 * from the rng passed in, which is the sample's own stream (nb__sample_rng). */
typedef struct nb_dataset_vtable {
    const char *kind;
    /* Sample i into out (C*H*W floats) and *label; rng may be NULL for kinds that
     * draw no random numbers. */
    nb_status (*get)(nb_dataset *d, int64_t i, float *out, int64_t *label, nb_rng *rng);
    /* Optional fast path for kinds that draw no random numbers: samples idx[0..n)
     * into out (n, C, H, W) and labels (n). */
    nb_status (*get_batch)(nb_dataset *d, const int64_t *idx, int64_t n, float *out, int64_t *labels);
    void (*free)(nb_dataset *d); /* frees impl */
} nb_dataset_vtable;

struct nb_dataset {
    const nb_dataset_vtable *vt;
    int64_t len;
    int64_t chw[3];
    int num_classes;
    const char *const *class_names; /* num_classes names or NULL; static or owned by impl */
    void *impl;
};

/* A dataset with the given vtable and impl (freed with it); NULL on OOM. */
nb_dataset *nb__dataset_new(const nb_dataset_vtable *vt, void *impl);
/* The random stream of sample i under key (the loader's key is a hash of (seed,
 * epoch)): the same on any thread, whichever batch or worker the sample is in. */
void nb__sample_rng(nb_rng *r, uint64_t key, int64_t i);
/* Fill n samples idx[0..n) into caller-given buffers, sample idx[k] with the
 * stream nb__sample_rng(key, idx[k]) (what loader workers call). */
nb_status nb__dataset_get_batch(nb_dataset *d, const int64_t *idx, int64_t n, float *out, int64_t *labels,
                                uint64_t key);

/* ---- normalization (src/norm) ---- */
/* Normalize `groups` contiguous groups of x (numel/groups values each) by their
 * own mean and biased variance; value j of group g is scaled by parameter
 * p = (g % pg)·(L/pin) + j/pin of w and b (NULL: 1, 0). GroupNorm, InstanceNorm
 * (pg = C, pin = spatial) and LayerNorm (pg = pin = 1) use it; no shape checks.
 * mean/var (groups doubles) receive the statistics when not NULL. (groupnorm.c) */
nb_tensor *nb__group_norm_impl(nb_tensor *x, int64_t groups, int64_t pg, int64_t pin, nb_tensor *w, nb_tensor *b,
                               float eps, double *mean, double *var);
/* An eval-mode BatchNorm1d/2d as y = x·scale[c] + shift[c] with scale = γ/√(running_var+eps)
 * and shift = β - running_mean·scale (for folding into a preceding conv); NB_ERR_STATE
 * without running statistics. (batchnorm.c) */
nb_status nb__batchnorm_eval_scale_shift(nb_module *bn, float *scale, float *shift);

/* ---- threads ---- */
void nb__set_threads(int n);

#endif
