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
/* t's shape as "[2, 3]" in one of 4 rotating thread-local buffers: for error
 * messages, formatted only when one is written. */
const char *nb__tshape(const nb_tensor *t);
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
    int keep_eval; /* frozen (nb_module_freeze): stays in eval mode whatever nb_module_train says */
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

/* A residual block (resnet.c): out = act(body(x) + shortcut(x)). Children added
 * with nb__module_add_child run in order as the body, except child m->i[0] (set it
 * to the shortcut's index; -1, the default, is the identity). torchvision's
 * BasicBlock is one with activation NB__RES_RELU. */
enum { NB__RES_NONE = 0, NB__RES_RELU, NB__RES_TANH, NB__RES_SIGMOID };
nb_module *nb__residual_new(nb_ctx *ctx, int activation);

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
    /* Optional, for kinds whose samples may differ in size (image folders): sample i
     * at its own size, *out in arena a with its shape in chw. The loader uses it when
     * it has a transform, which must bring every sample to one shape (a resize). */
    nb_status (*get_sized)(nb_dataset *d, int64_t i, nb_arena *a, float **out, int64_t chw[3], int64_t *label,
                           nb_rng *rng);
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
/* Decode an image file held in buf[0..n) (PNG, JPEG, BMP, binary PGM/PPM) to HWC bytes
 * *px (malloc'ed) of *c channels (want_c: 0 the file's, else converted); path names
 * it in messages (src/data/image_decode.c). */
nb_status nb__image_decode(const char *path, const unsigned char *buf, size_t n, int want_c, unsigned char **px,
                           int *w, int *h, int *c);
nb_status nb__dataset_get_batch(nb_dataset *d, const int64_t *idx, int64_t n, float *out, int64_t *labels,
                                uint64_t key);

/* ---- BatchNorm followed by ReLU (src/norm/batchnorm.c) ----
 * relu(bn(x)) as one op: the module's forward (running statistics included) with the
 * ReLU applied in place and folded into its backward, so the normalized values get no
 * tensor and no gradient of their own. Sequential uses it for BatchNorm + ReLU. */
nb_tensor *nb__batchnorm_relu_forward(nb_module *bn, nb_tensor *x);
int nb__is_batchnorm(const nb_module *m);

/* ---- image transforms (src/augment) ----
 * Run pipeline tf on one image (c, h, w) at `in`, drawing from rng and taking every
 * buffer from arena a (the caller resets it; `in` is not written); *out points into
 * a (or is `in` when no transform changed the image), with shape out_chw. Safe on
 * several threads with separate arenas and rngs. */
nb_status nb__transform_run(const nb_transform *tf, const float *in, const int64_t in_chw[3], nb_arena *a,
                            nb_rng *rng, float **out, int64_t out_chw[3]);

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

/* ---- augmentation spec strings (src/core/spec.c) ----
 * Text and image augmentation share one syntax (`--aug` / `--augment`):
 *     "random_crop(28, padding=2), hflip, random_erasing(p=0.5, scale=(0.02, 0.33))"
 * A spec is a comma-separated list of items; an item is a name with an optional
 * argument list, positional arguments first, then key=value. A value is a number,
 * a string (a bare word such as spa, eng-spa or True, or quoted '...' / "..."), a
 * tuple of numbers "(0.02, 0.33)" (or "[...]"), or a nested item
 * "sometimes(synonym(p=0.3), p=0.5)". Columns are 1-based code-point positions in
 * the string, so a caller can say "--augment: unknown parameter 'pad' at column 17".
 * The parser knows no names: callers validate items with nb__spec_check and read
 * values with nb__spec_num / _int / _bool / _str / _tuple, whose messages carry the
 * item name and column (the caller adds its "--augment: " prefix). */
typedef enum { NB__SPEC_NUM, NB__SPEC_STR, NB__SPEC_TUPLE, NB__SPEC_ITEM } nb__spec_kind;
typedef struct nb__spec_item nb__spec_item;
typedef struct {
    const char *key;     /* NULL for a positional argument */
    int key_col;         /* column of the key, or of the value when positional */
    nb__spec_kind kind;
    int col;             /* column of the value */
    double num;          /* NUM */
    const char *str;     /* STR: the string; NUM: the number as written */
    double *tuple;       /* TUPLE: n_tuple numbers */
    int n_tuple;
    nb__spec_item *item; /* ITEM: one nested item */
} nb__spec_arg;
struct nb__spec_item {
    const char *name;
    int col;             /* column of the name */
    nb__spec_arg *args;  /* positional arguments first */
    int n_args, n_pos;
};
/* Parse s into a new array of *n items (a blank string gives 0 items and *items
 * NULL). Syntax errors, duplicate keywords and positional-after-keyword give
 * NB_ERR_ARG with "... at column C". Free with nb__spec_free. */
nb_status nb__spec_parse(const char *s, nb__spec_item **items, int *n);
void nb__spec_free(nb__spec_item *items, int n);
/* Check an item's arguments against its parameter names (NULL-terminated); the
 * first max_pos of them may also be given positionally, in order. Fails naming
 * the first unknown keyword ("unknown parameter 'pad' for random_crop at column
 * 17"), a surplus positional argument, or a parameter given twice. */
nb_status nb__spec_check(const nb__spec_item *it, const char *const *keys, int max_pos);
/* The argument given as keyword `key` or as positional number pos (-1: keyword
 * only); NULL when absent. */
const nb__spec_arg *nb__spec_get(const nb__spec_item *it, const char *key, int pos);
/* Typed reads; the default when absent, NB_ERR_ARG naming item, key and column
 * when the value has the wrong type. _int wants an integral number, _bool
 * True/False/true/false/1/0, _tuple 1..max numbers (a single number is a
 * 1-tuple; *n receives the count). */
nb_status nb__spec_num(const nb__spec_item *it, const char *key, int pos, double def, double *out);
nb_status nb__spec_int(const nb__spec_item *it, const char *key, int pos, long def, long *out);
nb_status nb__spec_bool(const nb__spec_item *it, const char *key, int pos, int def, int *out);
nb_status nb__spec_str(const nb__spec_item *it, const char *key, int pos, const char *def, const char **out);
nb_status nb__spec_tuple(const nb__spec_item *it, const char *key, int pos, double *out, int max, int *n);

/* ---- gemm (src/kernels/gemm.c) ----
 * Row-major C (M,N) = alpha·op(A)·op(B) + beta·C with cblas_sgemm(CblasRowMajor, ...)'s
 * semantics: op(A) (M,K) is A[m*lda+k] (transA = 0) or A[k*lda+m]; op(B) (K,N) is
 * B[k*ldb+n] (transB = 0) or B[n*ldb+k]; beta = 0 does not read C. AVX-512 kernels when
 * the CPU has them (any OPENBLAS_CORETYPE), else cblas_sgemm; the context's threads; no
 * allocation after a thread's first call; results identical for any thread count. */
void nb__sgemm(int transA, int transB, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
               const float *B, int64_t ldb, float beta, float *C, int64_t ldc);

/* ---- threads ---- */
void nb__set_threads(int n);
/* The number of threads parallel loops use (the context's setting). */
int nb__max_threads(void);

/* Elements below which a loop stays on one thread (a fork costs more). */
#define NB_PAR_MIN 32768
/* NB_FOR(work, i, n, body): for i in [0, n) run body, split statically over the
 * threads when `work` is above NB_PAR_MIN and more than one thread is set. The
 * plain loop otherwise is deliberate: libgomp allocates a new team for every
 * parallel region that runs with one thread, and a training step must not allocate. */
#define NB_FOR(work, i, n, ...)                                                              \
    do {                                                                                     \
        int64_t nb_n_ = (n);                                                                 \
        if ((work) > NB_PAR_MIN && nb__max_threads() > 1) {                                  \
            _Pragma("omp parallel for schedule(static)") for (int64_t i = 0; i < nb_n_; i++) \
            {                                                                                \
                __VA_ARGS__;                                                                 \
            }                                                                                \
        } else {                                                                             \
            for (int64_t i = 0; i < nb_n_; i++) {                                            \
                __VA_ARGS__;                                                                 \
            }                                                                                \
        }                                                                                    \
    } while (0)

#endif
