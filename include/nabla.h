/* nabla.h - deep learning in C with PyTorch semantics.
 *
 * The one public header. Every name starts with nb_. Handles are opaque; every
 * _new has a _free. Options are structs whose zero value means PyTorch's default,
 * so `&(nb_sgd_opts){.lr = 0.05f, .momentum = 0.9f}` reads like the Python call.
 *
 * Errors: functions that can fail return NULL or a negative nb_status and set a
 * message for the calling thread, read with nb_last_error(). Ops given a NULL
 * input return NULL and keep the first message, so a whole forward pass can be
 * checked once at the end. The library never exits or aborts.
 *
 * Memory: tensors made by ops (activations, losses) live in their context's
 * arena until the next nb_ctx_reset(); tensors made with nb_tensor_new* and
 * module parameters live until freed. A training step is
 *     nb_ctx_reset(ctx); y = forward(x); loss = ...; nb_backward(loss); nb_optim_step(opt);
 * and after the first step it makes no heap allocation.
 */
#ifndef NABLA_H
#define NABLA_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NB_VERSION "0.1.0"
#define NB_MAX_DIMS 8

/* ------------------------------------------------------------------------ */
/* Status and errors                                                         */
/* ------------------------------------------------------------------------ */

typedef enum {
    NB_OK = 0,
    NB_ERR_ARG = -1,    /* a bad argument or option value */
    NB_ERR_SHAPE = -2,  /* shapes that do not fit */
    NB_ERR_IO = -3,     /* a file that cannot be opened, read or written */
    NB_ERR_FORMAT = -4, /* a file whose content is malformed */
    NB_ERR_MEM = -5,    /* out of memory */
    NB_ERR_STATE = -6,  /* a call in the wrong order (e.g. backward twice) */
    NB_ERR_NAN = -7     /* a non-finite loss */
} nb_status;

/* The message of the last failure on this thread ("" if none). */
const char *nb_last_error(void);
/* The status of the last failure on this thread (NB_OK if none): what kind of failure
 * nb_last_error() describes, for callers of functions that return NULL. */
nb_status nb_last_status(void);
/* Forget the last message (and status). */
void nb_clear_error(void);
/* Levenshtein distance of a and b in bytes (insertions, deletions, substitutions), or 99
 * when either is 64 bytes or longer: what every "did you mean" suggestion uses. */
int nb_edit_distance(const char *a, const char *b);

/* ------------------------------------------------------------------------ */
/* Context: arena, tape, random generator, threads                           */
/* ------------------------------------------------------------------------ */

typedef struct nb_ctx nb_ctx;

typedef struct {
    uint64_t seed; /* 0 means seed 0 (a run is reproducible by default) */
    int threads;   /* > 0: sets the process's thread count (nb_set_threads); 0 leaves it */
    size_t max_tensor_bytes; /* > 0: a tensor (a parameter, an activation, a gradient) larger
                              * than this fails with NB_ERR_MEM instead of being allocated:
                              * a budget for untrusted model files. 0: no limit */
} nb_ctx_opts;

nb_ctx *nb_ctx_new(const nb_ctx_opts *opts); /* opts may be NULL */
void nb_ctx_free(nb_ctx *ctx);
/* Release every tensor made by ops since the last reset; keeps the memory. */
void nb_ctx_reset(nb_ctx *ctx);
/* Gradient recording on (1, default) or off (0, like torch.no_grad()). Returns the old value. */
int nb_set_grad_enabled(nb_ctx *ctx, int enabled);
/* Threads: one count for the whole process, shared by every context and op; by default
 * the NB_THREADS environment variable, else every online core. Parallel ops hand out work
 * in chunks to a pool of that many threads (the caller included) as each comes free, and
 * never wait for a thread that has not claimed a chunk, so one the system deschedules
 * holds up at most the chunk it has started. Small work stays on the calling thread, and
 * so does all work under about 1 ms while other processes hold cores, and each job under
 * 0.2 ms that has measured faster there (the pool tries both ways now and then); a pool
 * thread that finds itself on the caller's CPU moves to another (NB_POOL_ADAPT=0 turns
 * all three off). NB_POOL=omp
 * runs the same chunks on an OpenMP team instead of nabla's own pool (NB_POOL=own, the
 * default); NB_SPIN_US (default 50) is how long an idle pool thread spins before it
 * sleeps. Results do not depend on the count or the pool. Set the count between ops, not
 * while another thread runs one. */
void nb_set_threads(int n); /* n <= 0: back to the default */
int nb_threads(void);
int nb_ctx_threads(const nb_ctx *ctx); /* nb_threads(): the count is the process's */
/* The instruction set nabla's kernels run: "avx512", "avx2" or "generic" (the CPU's best, or
 * the NB_ISA environment variable); NULL, with the error set, if NB_ISA is unknown or not
 * supported by this CPU (nb_ctx_new then fails too). */
const char *nb_isa(void);
/* Bytes the arena holds (for tests that check memory stays flat). */
size_t nb_ctx_arena_bytes(const nb_ctx *ctx);
/* Number of heap allocations the arena has made since nb_ctx_new. */
size_t nb_ctx_arena_mallocs(const nb_ctx *ctx);

/* ------------------------------------------------------------------------ */
/* Random numbers: a seeded generator, never the C library's global one    */
/* ------------------------------------------------------------------------ */

typedef struct {
    uint64_t s[4];
} nb_rng; /* xoshiro256** state; copyable, so checkpoints can store it */

void nb_rng_seed(nb_rng *r, uint64_t seed);
uint64_t nb_rng_u64(nb_rng *r);
float nb_rng_uniform(nb_rng *r);           /* [0, 1) */
float nb_rng_normal(nb_rng *r);            /* N(0, 1) */
uint64_t nb_rng_below(nb_rng *r, uint64_t n); /* uniform in [0, n), unbiased */
nb_rng *nb_ctx_rng(nb_ctx *ctx);           /* the context's generator */

/* ------------------------------------------------------------------------ */
/* Tensors                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct nb_tensor nb_tensor;

typedef enum { NB_F32 = 0, NB_I64 = 1 } nb_dtype;

/* A heap tensor of zeros (freed with nb_tensor_free). */
nb_tensor *nb_tensor_new(nb_ctx *ctx, nb_dtype dtype, int ndim, const int64_t *shape);
/* A heap tensor holding a copy of data (numel elements of the dtype). */
nb_tensor *nb_tensor_from(nb_ctx *ctx, nb_dtype dtype, int ndim, const int64_t *shape,
                          const void *data);
void nb_tensor_free(nb_tensor *t); /* no-op for arena tensors and NULL */

int nb_tensor_ndim(const nb_tensor *t);
int64_t nb_tensor_dim(const nb_tensor *t, int i); /* negative i counts from the end */
const int64_t *nb_tensor_shape(const nb_tensor *t);
int64_t nb_tensor_numel(const nb_tensor *t);
nb_dtype nb_tensor_dtype(const nb_tensor *t);
float *nb_tensor_data(nb_tensor *t);        /* NULL unless F32 */
int64_t *nb_tensor_data_i64(nb_tensor *t);  /* NULL unless I64 */
float *nb_tensor_grad(nb_tensor *t);        /* NULL until a backward reaches it */
nb_ctx *nb_tensor_ctx(const nb_tensor *t);
float nb_tensor_item(const nb_tensor *t);   /* the value of a one-element tensor */
/* "[128, 10]" into buf; returns buf. */
char *nb_shape_str(const nb_tensor *t, char *buf, size_t n);

void nb_tensor_set_requires_grad(nb_tensor *t, int on);
int nb_tensor_requires_grad(const nb_tensor *t);
void nb_tensor_zero_grad(nb_tensor *t);
/* Copy n F32 values in or out; NB_ERR_ARG if n differs from numel. */
nb_status nb_tensor_copy_in(nb_tensor *t, const float *src, int64_t n);
/* PyTorch's t._version: how many times t's data has been written through the library
 * since t was made (optimizer steps, nb_init_*, nb_tensor_copy_in, loading weights or
 * a checkpoint, DDP's broadcast); a view (nb_reshape, nb_flatten, nb_detach) shares the
 * count of the tensor it views. nb_tensor_data and nb_tensor_data_i64 count as a write
 * each time they are called, since the caller may store through the pointer. Values
 * derived from a weight and kept between calls (the VGG classifier's fc1 folded with
 * its adaptive pooling, docs/internals.md) are recomputed when its version changed: a
 * store through a pointer obtained BEFORE the last forward must be followed by
 * nb_tensor_bump_version (or a new nb_tensor_data call), as PyTorch needs for writes
 * through data_ptr(). */
uint64_t nb_tensor_version(const nb_tensor *t);
void nb_tensor_bump_version(nb_tensor *t);

/* ------------------------------------------------------------------------ */
/* Autograd                                                                  */
/* ------------------------------------------------------------------------ */

/* Backpropagate from a one-element tensor: gradients accumulate into every leaf
 * that requires grad. The graph is consumed (like retain_graph=False). Gradients
 * of intermediate (non-leaf) tensors are not kept: nb_tensor_grad gives NULL for
 * them afterwards, as PyTorch's .grad does. */
nb_status nb_backward(nb_tensor *loss);

/* ------------------------------------------------------------------------ */
/* Ops. Each records itself for backward when an input requires grad.        */
/* Results live in the context arena.                                         */
/* ------------------------------------------------------------------------ */

/* shape and views */
nb_tensor *nb_reshape(nb_tensor *x, int ndim, const int64_t *shape); /* one -1 allowed */
nb_tensor *nb_flatten(nb_tensor *x, int start_dim, int end_dim);     /* torch.flatten */
nb_tensor *nb_transpose(nb_tensor *x, int dim0, int dim1);           /* a contiguous copy */
nb_tensor *nb_narrow(nb_tensor *x, int dim, int64_t start, int64_t length);
nb_tensor *nb_detach(nb_tensor *x); /* shares data, no grad */

/* elementwise with broadcasting (numpy/PyTorch rules) */
nb_tensor *nb_add(nb_tensor *a, nb_tensor *b);
nb_tensor *nb_sub(nb_tensor *a, nb_tensor *b);
nb_tensor *nb_mul(nb_tensor *a, nb_tensor *b);
nb_tensor *nb_div(nb_tensor *a, nb_tensor *b);
nb_tensor *nb_add_scalar(nb_tensor *a, float s);
nb_tensor *nb_mul_scalar(nb_tensor *a, float s);
nb_tensor *nb_neg(nb_tensor *a);
nb_tensor *nb_exp(nb_tensor *a);
nb_tensor *nb_log(nb_tensor *a);
nb_tensor *nb_sqrt(nb_tensor *a);
nb_tensor *nb_square(nb_tensor *a);
nb_tensor *nb_abs(nb_tensor *a); /* gradient sign(x), sign(0) = 0 */
nb_tensor *nb_pow_scalar(nb_tensor *a, float p);

/* reductions */
nb_tensor *nb_sum(nb_tensor *x);                          /* all elements -> [] */
nb_tensor *nb_mean(nb_tensor *x);                         /* all elements -> [] */
nb_tensor *nb_sum_dim(nb_tensor *x, int dim, int keepdim);
nb_tensor *nb_mean_dim(nb_tensor *x, int dim, int keepdim);

/* linear algebra */
nb_tensor *nb_matmul(nb_tensor *a, nb_tensor *b); /* (M,K)x(K,N); batched (B,M,K)x(B,K,N) */
/* y = x·Wᵀ + b, x (..., in), w (out, in), b (out) or NULL */
nb_tensor *nb_linear(nb_tensor *x, nb_tensor *w, nb_tensor *b);

/* activations */
nb_tensor *nb_sigmoid(nb_tensor *x);
nb_tensor *nb_tanh(nb_tensor *x);
nb_tensor *nb_relu(nb_tensor *x);
nb_tensor *nb_leaky_relu(nb_tensor *x, float negative_slope); /* PyTorch default 0.01 */
nb_tensor *nb_elu(nb_tensor *x, float alpha);                 /* PyTorch default 1.0 */
/* weight has 1 or C = x.shape[1] elements (one slope per channel, dim 1) */
nb_tensor *nb_prelu(nb_tensor *x, nb_tensor *weight);
nb_tensor *nb_softmax(nb_tensor *x, int dim);
nb_tensor *nb_log_softmax(nb_tensor *x, int dim);
/* Inverted dropout: scale 1/(1-p) when training, identity otherwise. */
nb_tensor *nb_dropout(nb_tensor *x, float p, int training);

/* ------------------------------------------------------------------------ */
/* Losses (reduction: mean is the default)                                   */
/* ------------------------------------------------------------------------ */

typedef enum { NB_MEAN = 0, NB_SUM = 1, NB_NONE = 2 } nb_reduction;

/* MSELoss: mean((x-t)^2) by default. */
nb_tensor *nb_mse_loss(nb_tensor *input, nb_tensor *target, nb_reduction r);
/* The textbook sum of squared errors E = 1/2 Σ(x-t)² (0.5 × MSELoss(reduction=sum)). */
nb_tensor *nb_sse_loss(nb_tensor *input, nb_tensor *target);

typedef struct {
    nb_tensor *weight;     /* (C) class weights or NULL */
    int64_t ignore_index;  /* index targets equal to it are skipped; 0 here means -100 */
    int has_ignore_index;  /* set to 1 to use ignore_index = 0 literally */
    float label_smoothing; /* ε in [0, 1] */
    nb_reduction reduction;
} nb_cross_entropy_opts;

/* CrossEntropyLoss. input: logits (N, C) or (N, C, d1, ...). target: I64 class
 * indices (N) / (N, d1, ...), or F32 probabilities shaped like input. */
nb_tensor *nb_cross_entropy(nb_tensor *input, nb_tensor *target, const nb_cross_entropy_opts *o);

typedef struct {
    nb_tensor *weight;     /* broadcast to input, or NULL */
    nb_tensor *pos_weight; /* (C), broadcast over the last dim; with_logits only */
    nb_reduction reduction;
} nb_bce_opts;

/* BCELoss: input probabilities; each log clamped at -100. */
nb_tensor *nb_bce(nb_tensor *input, nb_tensor *target, const nb_bce_opts *o);
/* BCEWithLogitsLoss in the stable log-sum-exp form. */
nb_tensor *nb_bce_with_logits(nb_tensor *input, nb_tensor *target, const nb_bce_opts *o);

/* Penalties a user adds to the loss: L1 λ1·Σ|θ|, L2 λ2·Σθ² (weight_decay λ equals
 * an L2 term of λ/2), elastic net λ1·Σ|θ| + λ2·Σθ². */
nb_tensor *nb_l1_penalty(nb_tensor **params, int n, float lambda1);
nb_tensor *nb_l2_penalty(nb_tensor **params, int n, float lambda2);
nb_tensor *nb_elastic_net_penalty(nb_tensor **params, int n, float lambda1, float lambda2);

/* ------------------------------------------------------------------------ */
/* Initialization (torch.nn.init)                                            */
/* ------------------------------------------------------------------------ */

/* Every nb_init_* fills an F32 tensor in place and returns NB_OK, or a negative
 * status with a message (NULL or non-F32 tensor, fewer than 2 dims where fans are
 * needed, a bad range). Random draws come from r, or from the tensor's context
 * generator when r is NULL. A tensor with no elements is left as it is (NB_OK).
 * Gains, slopes, bounds and standard deviations are doubles as in torch.nn.init
 * (Python floats): pass sqrt(5.0), not sqrtf(5), to get torch's bound exactly. */

typedef enum {
    NB_GAIN_LINEAR = 0, NB_GAIN_CONV, NB_GAIN_SIGMOID, NB_GAIN_TANH,
    NB_GAIN_RELU, NB_GAIN_LEAKY_RELU, NB_GAIN_SELU
} nb_nonlinearity;
typedef enum { NB_FAN_IN = 0, NB_FAN_OUT = 1 } nb_fan_mode;

/* calculate_gain: linear, conv (any conv/conv_transpose), sigmoid 1; tanh 5/3;
 * relu √2; leaky_relu √(2/(1+slope²)); selu 3/4. param is the leaky_relu negative
 * slope, used as given: 0 gives √2 (what kaiming_*(a=0) uses), and PyTorch's
 * calculate_gain('leaky_relu') with param=None is param = NB_GAIN_DEFAULT_SLOPE
 * (0.01). param is ignored for the other nonlinearities. */
#define NB_GAIN_DEFAULT_SLOPE 0.01
double nb_calculate_gain(nb_nonlinearity nl, double param);
/* fan_in = shape[1]·receptive field, fan_out = shape[0]·receptive field, where the
 * receptive field is the product of shape[2:]; NB_ERR_SHAPE for fewer than 2 dims. */
nb_status nb_init_fans(const nb_tensor *t, int64_t *fan_in, int64_t *fan_out);
/* U(a, b), a <= b */
nb_status nb_init_uniform(nb_tensor *t, float a, float b, nb_rng *r);
/* N(mean, std²), std >= 0 */
nb_status nb_init_normal(nb_tensor *t, float mean, float std, nb_rng *r);
nb_status nb_init_constant(nb_tensor *t, float v);
nb_status nb_init_zeros(nb_tensor *t);
nb_status nb_init_ones(nb_tensor *t);
/* U(±gain·√(6/(fan_in+fan_out))) */
nb_status nb_init_xavier_uniform(nb_tensor *t, double gain, nb_rng *r);
/* N(0, std²), std = gain·√(2/(fan_in+fan_out)) */
nb_status nb_init_xavier_normal(nb_tensor *t, double gain, nb_rng *r);
/* kaiming_uniform_(a, mode, nonlinearity): U(±√3·gain/√fan), gain =
 * nb_calculate_gain(nl, a), fan by mode. PyTorch's defaults are a = 0, NB_FAN_IN,
 * NB_GAIN_LEAKY_RELU (gain √2); Linear/Conv weights use a = √5 (bound 1/√fan_in). */
nb_status nb_init_kaiming_uniform(nb_tensor *t, double a, nb_fan_mode mode, nb_nonlinearity nl,
                                  nb_rng *r);
/* kaiming_normal_: N(0, std²), std = gain/√fan */
nb_status nb_init_kaiming_normal(nb_tensor *t, double a, nb_fan_mode mode, nb_nonlinearity nl,
                                 nb_rng *r);
/* orthogonal_(gain): the tensor viewed as (rows = shape[0], cols = the rest) is
 * filled from A ~ N(0,1) (rows, cols), drawn row by row; A is transposed when
 * rows < cols; Q of the QR decomposition of A (Householder, in double) with each
 * column multiplied by sign(R[j][j]), transposed back, times gain. So the rows
 * (wide) or columns (tall) are orthonormal·gain. Needs at least 2 dims. */
nb_status nb_init_orthogonal(nb_tensor *t, double gain, nb_rng *r);

/* ------------------------------------------------------------------------ */
/* Modules                                                                    */
/* ------------------------------------------------------------------------ */

typedef struct nb_module nb_module;

/* One named tensor of a module: a parameter (trainable) or a buffer. */
typedef struct {
    const char *name; /* PyTorch state_dict key, e.g. "1.weight" */
    nb_tensor *tensor;
    int is_buffer;    /* running statistics and counters */
} nb_named_tensor;

nb_tensor *nb_module_forward(nb_module *m, nb_tensor *x);
void nb_module_free(nb_module *m);
void nb_module_train(nb_module *m, int training); /* model.train() / model.eval() */
int nb_module_is_training(const nb_module *m);
/* Parameters and buffers in state_dict order. The array lives with the module and
 * stays valid until a child is added or a parameter's requires_grad changes (then
 * the next call returns a new one); the same holds for nb_module_parameters. */
const nb_named_tensor *nb_module_state(nb_module *m, int *count);
/* NB_OK when every F32 parameter and buffer is finite; else NB_ERR_NAN naming the
 * first tensor holding NaN or infinite values and how many (src/nn/finite.c). */
nb_status nb_module_check_finite(nb_module *m);
/* Trainable parameters only (requires_grad), in order; array lives with the module. */
nb_tensor **nb_module_parameters(nb_module *m, int *count);
int64_t nb_module_num_params(nb_module *m);
void nb_module_zero_grad(nb_module *m);
/* The class name ("Linear", "Sequential", ...). */
const char *nb_module_kind(const nb_module *m);

/* Layers; weights initialised as PyTorch's module defaults from the ctx generator. */
typedef struct { int no_bias; } nb_linear_opts;
nb_module *nb_linear_new(nb_ctx *ctx, int64_t in_features, int64_t out_features,
                         const nb_linear_opts *o);
nb_module *nb_relu_new(nb_ctx *ctx);
nb_module *nb_sigmoid_new(nb_ctx *ctx);
nb_module *nb_tanh_new(nb_ctx *ctx);
nb_module *nb_leaky_relu_new(nb_ctx *ctx, float negative_slope); /* 0 -> 0.01 */
nb_module *nb_elu_new(nb_ctx *ctx, float alpha);                 /* 0 -> 1.0 */
nb_module *nb_prelu_new(nb_ctx *ctx, int64_t num_parameters, float init); /* 0,0 -> 1, 0.25 */
nb_module *nb_softmax_new(nb_ctx *ctx, int dim);
nb_module *nb_log_softmax_new(nb_ctx *ctx, int dim);
nb_module *nb_dropout_new(nb_ctx *ctx, float p); /* p < 0 -> 0.5 (PyTorch's default) */
nb_module *nb_flatten_new(nb_ctx *ctx, int start_dim, int end_dim); /* (1, -1) as PyTorch */
/* Sequential takes ownership of the children; names them "0", "1", ... */
nb_module *nb_sequential_new(nb_ctx *ctx, nb_module **children, int n);
nb_status nb_sequential_append(nb_module *seq, nb_module *child);
nb_module *nb_sequential_child(nb_module *seq, int i);
int nb_sequential_len(const nb_module *seq);

/* Built-in models: "mlp" and "cnn" of bench/torch_bench.py, "lenet5",
 * "resnet_small", torchvision's resnet18/34, vgg11(_bn), vgg16(_bn) (nb_model_names). */
typedef struct {
    int num_classes;   /* 0 -> 10 */
    int in_channels;   /* 0 -> 1 */
    float dropout;     /* probability for the model's dropout layers; <0 keeps the default */
    int dropout_set;   /* 1 when dropout was given */
    int input_size[2]; /* model files: (H, W) of the samples for the shape check; 0: the file's input() or 28x28 */
} nb_model_opts;
/* A built-in model by name, or a model file (docs/model-files.md) when name ends in
 * ".nbm" or contains '/': then in_channels and input_size give the input shape and
 * num_classes, when nonzero, the least number of outputs the model must have. */
nb_module *nb_model_new(nb_ctx *ctx, const char *name, const nb_model_opts *o);
/* Names of the built-in models, NULL-terminated. */
const char *const *nb_model_names(void);
/* Whether nb_model_new takes name as a model file (ends in ".nbm" or contains '/'). */
int nb_model_is_file(const char *name);

/* Model files (.nbm, docs/model-files.md): one PyTorch layer per line in lower snake
 * case, e.g. "conv2d(1, 32, 3, padding=1)", named children "fc: linear(64, 10)",
 * blocks "layer1: sequential { ... }" and "residual(activation=relu) { ... }". The
 * module tree and state_dict keys are those of the nn.Sequential / named modules
 * the file describes; weights are drawn from the context's generator in file order.
 * Shapes are inferred and checked from the input shape while loading. */
typedef struct {
    char name[256];    /* state_dict prefix: "0", "features.3", "layer1.0.conv1" */
    const char *kind;  /* PyTorch class name: "Conv2d", "Sequential", "Residual" */
    int depth;         /* 0 for the file's top-level layers */
    int line;          /* line in the file */
    int is_block;      /* sequential or residual */
    int ndim;          /* output shape without the batch dimension */
    int64_t shape[NB_MAX_DIMS];
    int64_t params;    /* parameter values of the layer and its children */
    int64_t buffers;   /* buffer values (running statistics) */
} nb_model_layer;

typedef struct {
    nb_model_layer *layers; /* in file order, blocks before their children */
    int n;
    int input_ndim;
    int64_t input[NB_MAX_DIMS]; /* the input shape used, without the batch dimension */
} nb_model_summary;

typedef struct {
    int64_t input[3];    /* (C, H, W) of the samples; zeros: the file's input(...) line,
                          * else 1x28x28. Nonzero values must agree with input(...) */
    int num_classes;     /* nonzero: a (features) output must have at least this many */
    const char *name;    /* nb_model_file_parse: the name messages use (NULL: "<string>") */
    nb_model_summary *summary; /* NULL, or receives one row per layer (nb_model_summary_free) */
} nb_model_file_opts;

/* Build the model a file describes; NULL with a message naming file:line:column
 * and what was expected, or the layer and both shapes when a shape does not fit. */
nb_module *nb_model_file_load(nb_ctx *ctx, const char *path, const nb_model_file_opts *o);
/* The same from the text of a model file. */
nb_module *nb_model_file_parse(nb_ctx *ctx, const char *text, const nb_model_file_opts *o);
void nb_model_summary_free(nb_model_summary *s);

/* ------------------------------------------------------------------------ */
/* Normalization (SPEC.md): y = (x - E[x]) / sqrt(Var[x] + eps) · γ + β       */
/* ------------------------------------------------------------------------ */

/* F.batch_norm. x (N, C, *); running_mean, running_var, weight, bias: (C) or NULL
 * (no weight/bias: γ = 1, β = 0). training != 0: normalize with this batch's
 * statistics over (N, *) (biased variance) and update the running tensors given,
 * in place: running = (1-momentum)·running + momentum·batch, running_var from the
 * unbiased variance. training == 0: normalize with the running statistics. */
nb_tensor *nb_batch_norm(nb_tensor *x, nb_tensor *running_mean, nb_tensor *running_var,
                         nb_tensor *weight, nb_tensor *bias, int training, float momentum, float eps);
/* F.layer_norm: statistics over the last ndim dims of x, which must equal
 * normalized_shape; weight, bias shaped like normalized_shape, or NULL. */
nb_tensor *nb_layer_norm(nb_tensor *x, int ndim, const int64_t *normalized_shape, nb_tensor *weight,
                         nb_tensor *bias, float eps);
/* F.instance_norm. x (N, C, *). use_input_stats: statistics per sample and channel
 * over (*), and the running tensors given are updated with their average over N;
 * otherwise the running statistics normalize (as batch_norm in eval). */
nb_tensor *nb_instance_norm(nb_tensor *x, nb_tensor *running_mean, nb_tensor *running_var,
                            nb_tensor *weight, nb_tensor *bias, int use_input_stats, float momentum,
                            float eps);
/* F.group_norm. x (N, C, *), C divisible by num_groups; statistics per sample over
 * each group of C/num_groups channels and (*); weight, bias (C) or NULL. */
nb_tensor *nb_group_norm(nb_tensor *x, int64_t num_groups, nb_tensor *weight, nb_tensor *bias, float eps);

/* BatchNorm1d/2d(num_features, eps=1e-5, momentum=0.1, affine=True,
 * track_running_stats=True). Parameters weight (1), bias (0); buffers running_mean
 * (0), running_var (1), num_batches_tracked (I64, shape []), bumped by each training
 * forward. Eval mode normalizes with the running statistics. */
typedef struct {
    float eps;              /* 0 -> 1e-5 */
    float momentum;         /* 0 -> 0.1, unless momentum_set */
    int momentum_set;       /* 1: momentum as given, 0 included */
    int cumulative_average; /* momentum=None: factor 1/num_batches_tracked (cumulative average) */
    int no_affine;          /* affine=False: no weight and bias */
    int no_running_stats;   /* track_running_stats=False: batch statistics always, no buffers */
} nb_batchnorm_opts;
/* input (N, C) or (N, C, L) */
nb_module *nb_batchnorm1d_new(nb_ctx *ctx, int64_t num_features, const nb_batchnorm_opts *o);
/* input (N, C, H, W) */
nb_module *nb_batchnorm2d_new(nb_ctx *ctx, int64_t num_features, const nb_batchnorm_opts *o);

/* LayerNorm(normalized_shape, eps=1e-5, elementwise_affine=True): weight (1) and
 * bias (0) shaped like normalized_shape (1 to NB_MAX_DIMS trailing dims). */
typedef struct {
    float eps;                 /* 0 -> 1e-5 */
    int no_elementwise_affine; /* elementwise_affine=False */
} nb_layernorm_opts;
nb_module *nb_layernorm_new(nb_ctx *ctx, int ndim, const int64_t *normalized_shape,
                            const nb_layernorm_opts *o);

/* InstanceNorm1d/2d(num_features, eps=1e-5, momentum=0.1, affine=False,
 * track_running_stats=False). With track_running_stats, buffers as BatchNorm's
 * (num_batches_tracked stays 0, as in PyTorch) and eval uses the running stats. */
typedef struct {
    float eps;               /* 0 -> 1e-5 */
    float momentum;          /* 0 -> 0.1, unless momentum_set */
    int momentum_set;        /* 1: momentum as given, 0 included */
    int affine;              /* 1: weight (1) and bias (0) per channel */
    int track_running_stats; /* 1: running_mean, running_var, num_batches_tracked */
} nb_instancenorm_opts;
/* input (N, C, L) or unbatched (C, L) */
nb_module *nb_instancenorm1d_new(nb_ctx *ctx, int64_t num_features, const nb_instancenorm_opts *o);
/* input (N, C, H, W) or unbatched (C, H, W) */
nb_module *nb_instancenorm2d_new(nb_ctx *ctx, int64_t num_features, const nb_instancenorm_opts *o);

/* GroupNorm(num_groups, num_channels, eps=1e-5, affine=True): weight (1), bias (0)
 * per channel; num_channels must divide by num_groups. Input (N, C, *). */
typedef struct {
    float eps;     /* 0 -> 1e-5 */
    int no_affine; /* affine=False */
} nb_groupnorm_opts;
nb_module *nb_groupnorm_new(nb_ctx *ctx, int64_t num_groups, int64_t num_channels,
                            const nb_groupnorm_opts *o);

/* ------------------------------------------------------------------------ */
/* Convolution and pooling (SPEC.md "CNN"); tensors NCHW as PyTorch          */
/* ------------------------------------------------------------------------ */

/* Conv2d padding: explicit pairs (the default), "same" or "valid". */
typedef enum { NB_PADDING_EXPLICIT = 0, NB_PADDING_SAME = 1, NB_PADDING_VALID = 2 } nb_padding_mode;

/* Conv2d options; pairs are (height, width) and zero means PyTorch's default. */
typedef struct {
    int stride[2];        /* 0 -> 1 */
    int padding[2];       /* zero padding on both sides; used with NB_PADDING_EXPLICIT */
    int dilation[2];      /* 0 -> 1 */
    nb_padding_mode padding_mode; /* SAME: output size = input size (stride 1 only; an odd
                                   * total padding puts the extra row/column at the
                                   * bottom/right, as PyTorch); VALID: no padding */
    int groups;           /* 0 -> 1; in and out channels must divide by it */
    int no_bias;          /* modules only: bias=False */
} nb_conv2d_opts;

/* F.conv2d (cross-correlation). x (N, C, H, W) or unbatched (C, H, W); w (OC,
 * C/groups, KH, KW); b (OC) or NULL. Output (N, OC, OH, OW) with
 * OH = ⌊(H + 2P - D(KH-1) - 1)/S⌋ + 1. Shape errors are reported before any
 * computation, naming the layer as PyTorch prints it and the input shape. */
nb_tensor *nb_conv2d(nb_tensor *x, nb_tensor *w, nb_tensor *b, const nb_conv2d_opts *o);

/* Pooling options; pairs are (height, width). */
typedef struct {
    int kernel[2];        /* required */
    int stride[2];        /* 0 -> kernel */
    int padding[2];       /* at most half the kernel; max pooling pads with -inf */
    int dilation[2];      /* 0 -> 1; max pooling only */
    int ceil_mode;        /* ceil instead of floor for the output size; a last window
                           * that would start in the right/bottom padding is dropped */
    int exclude_pad;      /* avg only: count_include_pad=False */
    int divisor_override; /* avg only: 0 -> none, else divide every sum by it */
} nb_pool2d_opts;

/* F.max_pool2d. x (N, C, H, W) or (C, H, W). The first maximum of each window
 * (row-major scan) gets the gradient; NaN propagates. */
nb_tensor *nb_max_pool2d(nb_tensor *x, const nb_pool2d_opts *o);
/* F.avg_pool2d: window sums divided by the window size (count_include_pad: padding
 * included, but not the part of a ceil_mode window past the padding), by the count
 * of input elements (exclude_pad), or by divisor_override. */
nb_tensor *nb_avg_pool2d(nb_tensor *x, const nb_pool2d_opts *o);
/* F.adaptive_avg_pool2d: output (N, C, oh, ow); window i spans
 * [⌊i·H/oh⌋, ⌈(i+1)·H/oh⌉). */
nb_tensor *nb_adaptive_avg_pool2d(nb_tensor *x, int64_t oh, int64_t ow);
/* Global average pooling: the mean over (H, W), output (N, C, 1, 1) (as
 * AdaptiveAvgPool2d(1)). */
nb_tensor *nb_global_avg_pool2d(nb_tensor *x);

/* Conv2d(in, out, (kh, kw), ...): parameters weight (out, in/groups, kh, kw) ~
 * kaiming_uniform(a=√5) = U(±1/√fan_in) and bias (out) ~ U(±1/√fan_in),
 * fan_in = in/groups·kh·kw, as PyTorch. */
nb_module *nb_conv2d_new(nb_ctx *ctx, int64_t in_channels, int64_t out_channels, int kh, int kw,
                         const nb_conv2d_opts *o);
nb_module *nb_maxpool2d_new(nb_ctx *ctx, const nb_pool2d_opts *o);
nb_module *nb_avgpool2d_new(nb_ctx *ctx, const nb_pool2d_opts *o);
nb_module *nb_adaptive_avgpool2d_new(nb_ctx *ctx, int64_t oh, int64_t ow);

/* ------------------------------------------------------------------------ */
/* Optimizers, gradient clipping, learning-rate schedules                    */
/* ------------------------------------------------------------------------ */

/* An optimizer updates a list of F32 parameter tensors from their gradients
 * (nb_tensor_grad), exactly as PyTorch 1.13's single-tensor (foreach=False)
 * implementations do, in float32 with torch's order of operations. A parameter
 * whose gradient is NULL is skipped (PyTorch's p.grad is None); a zeroed gradient
 * is not NULL, so it still takes a step (weight decay, momentum), as in torch 1.13
 * whose zero_grad() zeroes in place. Hyperparameters are doubles like PyTorch's
 * Python floats: derived coefficients (1 - dampening, 1 - beta, lr / (1 - beta1^t),
 * 1 - lr·weight_decay) are formed in double and rounded to float once, as torch
 * does, so pass 0.9 rather than 0.9f to get torch's numbers.
 *
 * All state (momentum buffers, exp_avg, exp_avg_sq, max_exp_avg_sq, step) is
 * allocated when a parameter is added, so nb_optim_step never allocates.
 * A parameter may be in one group only. */

typedef struct nb_optim nb_optim;

/* torch.optim.SGD: g ← ∇ + λθ (−∇ if maximize); b ← g at the first step, else
 * μ·b + (1-τ)·g; g ← g + μ·b (nesterov) or b; θ ← θ - lr·g. */
typedef struct {
    double lr;           /* required, > 0 */
    double momentum;     /* μ, 0 (then no buffers unless nb_optim_set_momentum adds them) */
    double dampening;    /* τ, 0 */
    double weight_decay; /* λ, 0 */
    int nesterov;        /* needs momentum > 0 and dampening 0 */
    int maximize;
} nb_sgd_opts;

/* torch.optim.Adam / AdamW, step t (1-based, per parameter):
 *   Adam: g ← ∇ + λθ            AdamW: θ ← θ·(1 - lr·λ)
 *   m ← β1·m + (1-β1)·g;  v ← β2·v + (1-β2)·g²;  amsgrad: v̂ ← max(v̂, v), used for v
 *   θ ← θ - (lr/(1-β1ᵗ)) · m / (√v/√(1-β2ᵗ) + ε) */
typedef struct {
    double lr;           /* 0 -> 1e-3 */
    double beta1, beta2; /* 0 -> 0.9, 0.999, unless betas_set */
    double eps;          /* 0 -> 1e-8 */
    double weight_decay; /* Adam: 0. AdamW: 0 -> 1e-2 (PyTorch's AdamW default); a negative value -> 0 */
    int amsgrad;
    int maximize;
    int betas_set;       /* 1: beta1 and beta2 as given, zeros included (e.g. betas=(0, 0.99)) */
} nb_adam_opts;

/* A parameter group (torch's add_param_group) with its own lr and weight decay. */
typedef struct {
    nb_tensor **params;
    int n;
    double lr;            /* 0 -> the optimizer's lr */
    double weight_decay;  /* used when weight_decay_set, else the optimizer's */
    int weight_decay_set; /* 1: weight_decay as given, 0 included (e.g. no decay on biases) */
} nb_param_group;

/* The parameters given here form group 0. NULL with a message on bad options
 * (torch's checks: lr > 0, momentum, dampening, weight_decay >= 0, betas in [0, 1),
 * eps >= 0, nesterov with dampening), a NULL or non-F32 parameter, an op result
 * (arena tensor) given as a parameter, or a parameter given twice. */
nb_optim *nb_sgd_new(nb_tensor **params, int n, const nb_sgd_opts *o);
nb_optim *nb_adam_new(nb_tensor **params, int n, const nb_adam_opts *o);
nb_optim *nb_adamw_new(nb_tensor **params, int n, const nb_adam_opts *o);
/* Add group number nb_optim_num_groups() (allocates its state). */
nb_status nb_optim_add_group(nb_optim *opt, const nb_param_group *g);
nb_status nb_optim_step(nb_optim *opt);
/* Zero every parameter's gradient in place (torch 1.13's zero_grad(set_to_none=False)). */
void nb_optim_zero_grad(nb_optim *opt);
void nb_optim_free(nb_optim *opt);
int nb_optim_num_groups(const nb_optim *opt);
/* Learning rate of a group now (what the next step uses), and its base (initial) lr,
 * which schedules scale. NAN for a bad group. */
double nb_optim_get_lr(const nb_optim *opt, int group);
double nb_optim_get_base_lr(const nb_optim *opt, int group);
/* Set a group's lr (>= 0); group -1 sets every group. */
nb_status nb_optim_set_lr(nb_optim *opt, int group, double lr);
/* Set a group's base lr (> 0; what nb_sched_apply scales), e.g. when restoring a
 * checkpoint; group -1 sets every group. The current lr is left as it is. */
nb_status nb_optim_set_base_lr(nb_optim *opt, int group, double lr);
/* A group's momentum: SGD's momentum, Adam's beta1 (what OneCycleLR cycles); group -1
 * sets every group. Turning SGD momentum on from 0 allocates that group's buffers here
 * (the first step with momentum then starts them from the gradient, as torch). */
double nb_optim_get_momentum(const nb_optim *opt, int group);
nb_status nb_optim_set_momentum(nb_optim *opt, int group, double momentum);
/* The optimizer's state as named tensors, for checkpoints: for parameter K (counting
 * through the groups in order, as torch's optimizer.state_dict() numbers them)
 *   "state.K.step"            F32 [] steps taken (torch 1.13 Adam/AdamW's step; for
 *                             SGD nabla's count of momentum steps, 0 meaning the
 *                             buffer is not set yet, where torch has no entry)
 *   "state.K.momentum_buffer" SGD with momentum
 *   "state.K.exp_avg", "state.K.exp_avg_sq", "state.K.max_exp_avg_sq" (amsgrad)
 * The tensors shape like their parameter (step: shape []) and are the optimizer's
 * own state: writing into them (e.g. from a checkpoint) sets the state. The array
 * lives with the optimizer until the next nb_optim_add_group / set_momentum; returns
 * the count (-1 for a NULL optimizer). */
int nb_optim_state(nb_optim *opt, const nb_named_tensor **out);

/* clip_grad_norm_(params, max_norm, norm_type): total = the norm_type-norm of the
 * per-parameter norms (all gradients as one vector; norm_type 2, 1, any p > 0 or
 * INFINITY); every gradient is multiplied by min(1, max_norm/(total + 1e-6)), in
 * float32 like torch. Returns total (float32; 0 when no parameter has a gradient,
 * inf/NaN for non-finite gradients, which are scaled anyway, as torch's
 * error_if_nonfinite=False), or NAN with a message on bad arguments. */
float nb_clip_grad_norm(nb_tensor **params, int n, float max_norm, float norm_type);
/* clip_grad_value_: clamp every gradient value to [-clip_value, clip_value]. */
nb_status nb_clip_grad_value(nb_tensor **params, int n, float clip_value);

typedef enum {
    NB_SCHED_NONE = 0,  /* constant lr (with warmup: torch LinearLR alone) */
    NB_SCHED_STEP,      /* StepLR(step_size, gamma): base·γ^⌊t/step_size⌋ */
    NB_SCHED_MULTISTEP, /* MultiStepLR(milestones, gamma): base·γ^(number of milestones <= t) */
    NB_SCHED_COSINE,    /* CosineAnnealingLR(T_max, eta_min): η_min + (base-η_min)(1+cos(πt/T_max))/2,
                         * not clamped at T_max (it rises again after, as torch's) */
    NB_SCHED_ONECYCLE   /* OneCycleLR(max_lr = base, total_steps, ...), lr and momentum */
} nb_sched_kind;

/* A schedule as a closed form of the step t = 0, 1, ... (the number of
 * scheduler.step() calls made so far: epochs or iterations, as the caller steps).
 * With warmup = W > 0 the schedule is torch's
 *     SequentialLR([LinearLR(start_factor=f, end_factor=1, total_iters=W), S], milestones=[W])
 * (S the kind's scheduler): lr = base·(f + (1-f)·t/W) for t < W, then S at t - W
 * (for NB_SCHED_NONE: LinearLR alone, base from t = W on). */
typedef struct {
    nb_sched_kind kind;
    int step_size;           /* StepLR: > 0 */
    double gamma;            /* StepLR, MultiStepLR: 0 -> 0.1 */
    const int *milestones;   /* MultiStepLR: n_milestones steps (a repeated one counts twice) */
    int n_milestones;
    int t_max;               /* CosineAnnealingLR: T_max > 0 */
    double eta_min;          /* CosineAnnealingLR: 0 */
    int total_steps;         /* OneCycleLR: > 0; t may not exceed it */
    double pct_start;        /* OneCycleLR: 0 -> 0.3 (use pct_start_set for 0) */
    int pct_start_set;
    int anneal_linear;       /* OneCycleLR anneal_strategy='linear' (default 'cos') */
    int three_phase;         /* OneCycleLR three_phase=True */
    double div_factor;       /* OneCycleLR: 0 -> 25 (initial lr = max_lr/div_factor) */
    double final_div_factor; /* OneCycleLR: 0 -> 1e4 (min lr = initial lr/final_div_factor) */
    int no_cycle_momentum;   /* OneCycleLR cycle_momentum=False */
    double base_momentum;    /* OneCycleLR: 0 -> 0.85 */
    double max_momentum;     /* OneCycleLR: 0 -> 0.95 */
    int warmup;              /* W: linear warm-up steps (0: none) */
    double warmup_start_factor; /* f: 0 -> 1/3 (LinearLR's default) */
} nb_sched_opts;

/* NB_OK or NB_ERR_ARG naming the bad option. */
nb_status nb_sched_check(const nb_sched_opts *o);
/* The learning rate at step t for a group whose base (initial) lr is base_lr; for
 * OneCycleLR base_lr is max_lr. NAN with a message if the options are bad or t < 0
 * (or t > total_steps for OneCycleLR). o NULL: base_lr. */
double nb_sched_lr(const nb_sched_opts *o, double base_lr, int t);
/* OneCycleLR's momentum (SGD momentum or Adam beta1) at step t when it cycles
 * momentum; -1 for every other schedule and during warm-up (momentum left alone). */
double nb_sched_momentum(const nb_sched_opts *o, int t);
/* Set every group's lr to nb_sched_lr(o, its base lr, t) and, when the schedule
 * cycles momentum, its momentum: what `scheduler.step()` has done after t calls. */
nb_status nb_sched_apply(const nb_sched_opts *o, nb_optim *opt, int t);

/* ------------------------------------------------------------------------ */
/* Weights: safetensors                                                      */
/* ------------------------------------------------------------------------ */

/* Low level: a validated safetensors file (every header rule of SPEC.md is checked
 * at open; nothing in the file is trusted). */
typedef struct nb_safetensors nb_safetensors;
nb_safetensors *nb_safetensors_open(const char *path);
void nb_safetensors_close(nb_safetensors *f);
int nb_safetensors_count(const nb_safetensors *f);
const char *nb_safetensors_name(const nb_safetensors *f, int i); /* in file order */
/* Index of name or -1. */
int nb_safetensors_find(const nb_safetensors *f, const char *name);
/* Stored dtype ("F32", "I64", ...) and shape of entry i. */
const char *nb_safetensors_dtype(const nb_safetensors *f, int i);
int nb_safetensors_shape(const nb_safetensors *f, int i, int64_t shape[NB_MAX_DIMS]); /* returns ndim */
/* A new heap tensor with entry `name` converted to F32 (floats) or I64 (integers);
 * NULL with a message if absent. */
nb_tensor *nb_safetensors_get(nb_safetensors *f, nb_ctx *ctx, const char *name);
/* The __metadata__ value for key, or NULL. */
const char *nb_safetensors_metadata(const nb_safetensors *f, const char *key);
/* Write named tensors (F32 and I64 as stored), with n_meta optional metadata pairs
 * meta[2k] = key, meta[2k+1] = value; atomic (temp file, fsync, rename). */
nb_status nb_safetensors_write(const char *path, const nb_named_tensor *ts, int n,
                               const char *const *meta, int n_meta);

/* Write every parameter and buffer under its state_dict name; atomic (temp file,
 * fsync, rename), so an existing file is intact if anything fails. */
nb_status nb_save_safetensors(nb_module *m, const char *path);
/* Load names into the module. strict: every key must match, both ways. */
nb_status nb_load_safetensors(nb_module *m, const char *path, int strict);

/* ------------------------------------------------------------------------ */
/* NumPy .npy                                                                */
/* ------------------------------------------------------------------------ */

/* Write t as a NumPy .npy file (format 1.0: '<f4' for F32, '<i8' for I64, C order),
 * readable with numpy.load; atomic like nb_safetensors_write. */
nb_status nb_save_npy(const char *path, nb_tensor *t);
/* Read a .npy file (format 1.0-3.0, C order, little-endian) as a heap tensor: float16/
 * 32/64 as F32, every integer type and bool as I64. NULL with a message naming the
 * file for anything else (Fortran order, big-endian, structured or object arrays). */
nb_tensor *nb_load_npy(nb_ctx *ctx, const char *path);
/* Write t under the NumPy type descr ("<f4", "<f8", "<i8", "<i4", "|u1", "|b1", ...):
 * values converted from t's dtype (bool: nonzero is True); atomic. */
nb_status nb_save_npy_as(const char *path, nb_tensor *t, const char *descr);

/* Write n bytes to path atomically (temporary file, fsync, rename): readers see the
 * old file or the whole new one. */
nb_status nb_write_file_atomic(const char *path, const void *data, size_t n);
/* A working file (or an empty directory) removed if SIGTERM or SIGINT ends the process,
 * by the handler that removes the temp files of atomic writes in progress (installed
 * only where the program has no handler of its own); at most 16 paths with the writes
 * in progress. nb_keep_on_signal forgets it (call it before removing the path). */
nb_status nb_remove_on_signal(const char *path);
void nb_keep_on_signal(const char *path);

/* ------------------------------------------------------------------------ */
/* Data                                                                      */
/* ------------------------------------------------------------------------ */

typedef struct nb_dataset nb_dataset;

/* An IDX image file and its label file (plain or .gz), e.g. Fashion-MNIST. */
nb_dataset *nb_idx_dataset_new(const char *images_path, const char *labels_path);
/* Fashion-MNIST or MNIST in dir (NULL: /usr/share/datasets/fashion-mnist);
 * train != 0: the 60,000 training images, else the 10,000 test images. */
nb_dataset *nb_fashion_mnist_new(const char *dir, int train);
/* MNIST in dir (NULL: /usr/share/datasets/mnist), the same files as Fashion-MNIST;
 * class names "0".."9". */
nb_dataset *nb_mnist_new(const char *dir, int train);
void nb_dataset_free(nb_dataset *d);
int64_t nb_dataset_len(const nb_dataset *d);
/* (C, H, W) of one sample. */
void nb_dataset_sample_shape(const nb_dataset *d, int64_t chw[3]);
int nb_dataset_num_classes(const nb_dataset *d);
/* Class names or NULL. */
const char *nb_dataset_class_name(const nb_dataset *d, int c);

/* CIFAR-10, binary version, in dir (or dir/cifar-10-batches-bin): train != 0 reads
 * data_batch_1..5.bin (50,000 images), else test_batch.bin (10,000); samples (3, 32, 32).
 * Each file must be exactly 30,730,000 bytes with labels 0-9. Not packaged in Debian:
 * download https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz and `tar xzf` it. */
nb_dataset *nb_cifar10_new(const char *dir, int train);

typedef struct nb_transform nb_transform; /* an image transform pipeline (src/augment) */

typedef struct {
    int channels;            /* 0: the first image's; 1, 2, 3 or 4: convert every image */
    int64_t height, width;   /* 0, 0: the first image's size; else every image's size */
} nb_image_folder_opts;
/* torchvision's ImageFolder: root/CLASS/...(.png|.jpg|.jpeg|.bmp|.ppm|.pgm), classes
 * sorted by name (label = rank), files in torchvision's order; decoded (libpng, libjpeg-turbo; docs/security.md) when a
 * sample is read. An image whose shape differs from the dataset's is an error naming
 * the file. */
nb_dataset *nb_image_folder_new(const char *root, const nb_image_folder_opts *o);
/* The file of sample i of an image folder (NULL for other datasets). */
const char *nb_image_folder_path(const nb_dataset *d, int64_t i);
/* A dataset by kind: "fashion-mnist" or "mnist" (IDX files in dir; NULL: Debian's
 * Fashion-MNIST), "cifar10" (as nb_cifar10_new), "folder" (image folders dir/train and
 * dir/test, else dir/val); kind NULL or "" tells the kind from what dir holds (nothing
 * recognised: Fashion-MNIST, whose error says how to install it). */
nb_dataset *nb_dataset_open(const char *kind, const char *dir, int train);

typedef struct nb_loader nb_loader;
typedef struct {
    int batch_size;     /* 0 -> 1 */
    int shuffle;
    int drop_last;
    uint64_t seed;      /* shuffling and augmentation seed */
    int workers;        /* threads loading batches ahead (0: in the calling thread) */
    int prefetch;       /* batch slots filled ahead, 0 -> 2 x workers */
    const nb_transform *transform; /* per-sample pipeline (not owned; NULL: none), see
                                    * nb_transform_parse; it may change the sample shape */
    float mixup_alpha;  /* > 0: MixUp per batch, λ ~ Beta(α, α) (nb_random_mixup) */
    float cutmix_alpha; /* > 0: CutMix per batch (nb_random_cutmix); with both, one of the
                         * two per batch with p = 0.5. Mixing adds soft targets. */
    int num_replicas;   /* DistributedSampler: > 1 loads only shard `rank` of the epoch's */
    int rank;           /* order (see "Data parallelism" at the end); 0: every sample */
} nb_loader_opts;

nb_loader *nb_loader_new(nb_ctx *ctx, nb_dataset *d, const nb_loader_opts *o);
void nb_loader_free(nb_loader *l); /* stops its workers, also mid-epoch */
/* Start an epoch (reshuffles with (seed, epoch)). Sample i of epoch e draws its random
 * transforms from a stream of (seed, e, i) only, so batches are bit-identical for any
 * number of workers. Calling it mid-epoch drops what was prefetched. */
void nb_loader_start_epoch(nb_loader *l, int epoch);
/* The next batch as arena tensors x (B,C,H,W) in [0,1] and y (B) I64; 0 at the end of
 * the epoch (or on an error, with a message; then *x and *y are NULL). An error in a
 * worker (a corrupt file) comes out here, in batch order. */
int nb_loader_next(nb_loader *l, nb_tensor **x, nb_tensor **y);
/* With MixUp/CutMix, nb_loader_next's y is the soft targets (B, num_classes) F32 that
 * nb_cross_entropy takes; this gives both: *y the original labels (B) I64 and *soft the
 * targets (NULL when the loader does not mix). soft may be NULL. */
int nb_loader_next_mixed(nb_loader *l, nb_tensor **x, nb_tensor **y, nb_tensor **soft);
int64_t nb_loader_num_batches(const nb_loader *l);
/* (C, H, W) of the samples in a batch (the transform's output shape). */
void nb_loader_sample_shape(const nb_loader *l, int64_t chw[3]);

/* ------------------------------------------------------------------------ */
/* Image augmentation (torchvision.transforms; docs/augmentation.md)        */
/* ------------------------------------------------------------------------ */

/* An image is an F32 tensor (C, H, W) with values in [0, 1] (what ToTensor gives and
 * the datasets return). Every nb_img_* function also takes a batch (B, C, H, W) and
 * gives each image the same parameters. Results are new arena tensors in the input's
 * context (released by the next nb_ctx_reset), never recorded for autograd; the input
 * is left as it was. Errors: NULL with a message. */

typedef enum { NB_INTERP_NEAREST = 0, NB_INTERP_BILINEAR = 1 } nb_interp;
typedef enum { NB_PAD_CONSTANT = 0, NB_PAD_EDGE, NB_PAD_REFLECT, NB_PAD_SYMMETRIC } nb_pad_mode;

/* Deterministic transforms (torchvision.transforms.functional, tensor path). */
nb_tensor *nb_img_hflip(nb_tensor *img);
nb_tensor *nb_img_vflip(nb_tensor *img);
/* F.crop: rows [top, top+height), columns [left, left+width); zeros outside the image. */
nb_tensor *nb_img_crop(nb_tensor *img, int64_t top, int64_t left, int64_t height, int64_t width);
/* F.center_crop (zero padding when the crop is larger than the image). */
nb_tensor *nb_img_center_crop(nb_tensor *img, int64_t height, int64_t width);
/* F.pad by ltrb = (left, top, right, bottom) >= 0; reflect needs each < the size along
 * it, symmetric <= it; fill is used by constant only. */
nb_tensor *nb_img_pad(nb_tensor *img, const int64_t ltrb[4], nb_pad_mode mode, float fill);
/* F.resize to (height, width): bilinear (align_corners=False) or nearest; antialias
 * (bilinear only) low-pass filters when shrinking, as interpolate(antialias=True). */
nb_tensor *nb_img_resize(nb_tensor *img, int64_t height, int64_t width, nb_interp interp, int antialias);
/* F.resized_crop: crop (top, left, height, width), then resize to (out_h, out_w). */
nb_tensor *nb_img_resized_crop(nb_tensor *img, int64_t top, int64_t left, int64_t height, int64_t width,
                               int64_t out_h, int64_t out_w, nb_interp interp, int antialias);

/* Options of rotate and affine; the zero value is torchvision's default. */
typedef struct {
    nb_interp interpolation; /* NEAREST */
    float fill;              /* value of pixels whose source is outside the image */
    int expand;              /* rotate: enlarge the output to hold the whole rotated image */
    int has_center;          /* 1: centre of rotation `center` (x, y) in pixels, else the image centre */
    float center[2];
} nb_warp_opts;
/* F.rotate: angle in degrees, counter-clockwise. o may be NULL. */
nb_tensor *nb_img_rotate(nb_tensor *img, float angle, const nb_warp_opts *o);
/* F.affine: rotation angle in degrees (clockwise, as torchvision), translation
 * (tx, ty) in pixels, scale > 0, shear angles in degrees. o may be NULL. */
nb_tensor *nb_img_affine(nb_tensor *img, float angle, float tx, float ty, float scale, float shear_x,
                         float shear_y, const nb_warp_opts *o);

/* Colour (F.adjust_*, formulas of torchvision's tensor path; 1 or 3 channels).
 * Saturation and hue leave 1-channel images as they are. */
nb_tensor *nb_img_adjust_brightness(nb_tensor *img, float factor); /* factor >= 0 */
nb_tensor *nb_img_adjust_contrast(nb_tensor *img, float factor);   /* factor >= 0 */
nb_tensor *nb_img_adjust_saturation(nb_tensor *img, float factor); /* factor >= 0 */
nb_tensor *nb_img_adjust_hue(nb_tensor *img, float hue_factor);    /* in [-0.5, 0.5] */
/* F.rgb_to_grayscale: 0.2989 R + 0.587 G + 0.114 B, 1 or 3 output channels. */
nb_tensor *nb_img_grayscale(nb_tensor *img, int num_output_channels);
/* F.normalize: (x - mean[c]) / std[c]; n = 1 (all channels) or C values. */
nb_tensor *nb_img_normalize(nb_tensor *img, const float *mean, const float *std, int n);
/* ToTensor: h·w·c bytes (HWC, as stb_image gives) to an arena (C, H, W) tensor of byte/255. */
nb_tensor *nb_img_from_bytes(nb_ctx *ctx, const uint8_t *hwc, int64_t h, int64_t w, int64_t c);
/* An image file (PNG, JPEG, BMP, binary PPM/PGM; libpng, libjpeg-turbo) as the datasets read it: an
 * arena (C, H, W) tensor of byte/255; channels 0 keeps the file's, 1-4 converts (1:
 * stb_image's luma, as nb_image_folder_opts.channels). NULL naming the file on error. */
nb_tensor *nb_img_load(nb_ctx *ctx, const char *path, int channels);

/* Noise, drawn from rng. GaussianNoise (torchvision v2): x + N(mean, sigma²) per
 * value, clamped to [0, 1] if clip. imgaug's AdditiveGaussianNoise: x + N(loc, scale²),
 * one draw per pixel shared by its channels unless per_channel, clamped to [0, 1]
 * (scale in units of the [0, 1] range: imgaug's scale/255). imgaug's SaltAndPepper:
 * each pixel (or value, per_channel) with probability p becomes a Beta(0.5, 0.5) draw. */
nb_tensor *nb_img_gaussian_noise(nb_tensor *img, float mean, float sigma, int clip, nb_rng *rng);
nb_tensor *nb_img_additive_gaussian_noise(nb_tensor *img, float loc, float scale, int per_channel, nb_rng *rng);
nb_tensor *nb_img_salt_and_pepper(nb_tensor *img, float p, int per_channel, nb_rng *rng);

/* F.erase: the box (top, left, height, width) set to v: nv = 1 value, C values (one
 * per channel) or C·height·width values (a patch, e.g. RandomErasing's value='random'). */
nb_tensor *nb_img_erase(nb_tensor *img, int64_t top, int64_t left, int64_t height, int64_t width,
                        const float *v, int64_t nv);
/* Cutout (DeVries & Taylor): rows clamp(cy ± length/2) and columns clamp(cx ± length/2)
 * (integer halves, end exclusive) set to value. */
nb_tensor *nb_img_cutout(nb_tensor *img, int64_t cy, int64_t cx, int64_t length, float value);

/* Parameter samplers of the random transforms (torchvision's get_params), drawing from
 * rng only. Uniform draws are a + (b - a)·nb_rng_uniform, integers nb_rng_below. */
/* RandomCrop: top in [0, h-th], left in [0, w-tw]; NB_ERR_ARG if the crop is larger. */
nb_status nb_random_crop_params(int64_t h, int64_t w, int64_t th, int64_t tw, nb_rng *rng, int64_t *top,
                                int64_t *left);
/* RandomResizedCrop: up to 10 tries of area fraction U[scale], log aspect U[log ratio],
 * w = round(√(A·r)), h = round(√(A/r)); else the central crop. box: top, left, h, w
 * (the whole image for ranges that are not 0 < min <= max). */
void nb_random_resized_crop_params(int64_t h, int64_t w, const float scale[2], const float ratio[2], nb_rng *rng,
                                   int64_t box[4]);
/* RandomErasing: up to 10 tries of area fraction U[scale], log aspect U[log ratio],
 * eh = round(√(A·r)), ew = round(√(A/r)), accepted if eh < h and ew < w; returns 1 and
 * box (top, left, eh, ew), or 0 when no try fits (the image stays as it is). */
int nb_random_erasing_params(int64_t h, int64_t w, const float scale[2], const float ratio[2], nb_rng *rng,
                             int64_t box[4]);
/* ColorJitter: order = a random permutation of 0..3 (brightness, contrast, saturation,
 * hue), factors[k] ~ U[range k]; a NULL range is off (factor 1, hue 0, not drawn). */
void nb_color_jitter_params(const float brightness[2], const float contrast[2], const float saturation[2],
                            const float hue[2], nb_rng *rng, int order[4], float factors[4]);
/* RandomAffine: out = angle ~ U[degrees], tx, ty = round(U[±translate·(w, h)]), scale ~
 * U[scale], shear_x ~ U[shear[0..1]], shear_y ~ U[shear[2..3]]; NULL ranges give 0, 1, 0. */
void nb_random_affine_params(const float degrees[2], const float *translate, const float *scale,
                             const float *shear, int64_t h, int64_t w, nb_rng *rng, float out[6]);
/* A Beta(a, b) draw (a, b > 0; NaN otherwise). */
double nb_rng_beta(nb_rng *rng, double a, double b);

/* Batch mixing. x (B, C, H, W); y: I64 class indices (B) or F32 probabilities
 * (B, num_classes). Each sample is mixed with the batch rolled by one (sample b-1,
 * sample 0 with B-1); *x_out and the soft targets *y_out (B, num_classes), which
 * nb_cross_entropy takes, are arena tensors. */
/* MixUp: x' = λ·x + (1-λ)·roll(x), y' = λ·y + (1-λ)·roll(y). */
nb_status nb_mixup(nb_tensor *x, nb_tensor *y, int64_t num_classes, float lambda, nb_tensor **x_out,
                   nb_tensor **y_out);
/* CutMix: the box centred at (cx, cy) with half sizes int(½√(1-λ)·W), int(½√(1-λ)·H),
 * clamped to the image, is pasted from roll(x); targets use λ' = 1 - box area / (H·W),
 * stored in *lambda_adj when not NULL. */
nb_status nb_cutmix(nb_tensor *x, nb_tensor *y, int64_t num_classes, float lambda, int64_t cx, int64_t cy,
                    nb_tensor **x_out, nb_tensor **y_out, float *lambda_adj);
/* λ ~ Beta(alpha, alpha) once per batch (CutMix: centre uniform over the pixels);
 * *lambda (may be NULL) receives the λ the targets use. alpha > 0; 0 means 1. */
nb_status nb_random_mixup(nb_tensor *x, nb_tensor *y, int64_t num_classes, float alpha, nb_rng *rng,
                          nb_tensor **x_out, nb_tensor **y_out, float *lambda);
nb_status nb_random_cutmix(nb_tensor *x, nb_tensor *y, int64_t num_classes, float alpha, nb_rng *rng,
                           nb_tensor **x_out, nb_tensor **y_out, float *lambda);

/* Pipelines (nb_transform is declared in the Data section). A SPEC string is a
 * comma-separated list of transforms, each a name with optional arguments, e.g.
 *     "random_crop(28, padding=2), hflip, random_erasing(p=0.5)"
 * Names are torchvision's (RandomCrop) or snake_case (random_crop) with short aliases
 * (hflip, vflip); arguments are positional in torchvision's order or name=value;
 * values are numbers, tuples (a, b), true/false/none and bare words (reflect,
 * bilinear, random). docs/augmentation.md lists every transform. NULL with a message
 * showing the position in the string on an unknown name or a bad argument. */
nb_transform *nb_transform_parse(const char *spec);
void nb_transform_free(nb_transform *tf);
/* Apply every transform in order, each drawing its random choices from rng, to an image
 * (C, H, W), or to each image of a batch (B, C, H, W) in turn (their outputs must have
 * one shape). Returns a new arena tensor in img's context. */
nb_tensor *nb_transform_apply(const nb_transform *tf, nb_tensor *img, nb_rng *rng);
/* The output shape for inputs (C, H, W); NB_ERR_ARG if it depends on the random draws
 * (rotation with expand) or the input does not fit (a crop larger than the image). */
nb_status nb_transform_out_shape(const nb_transform *tf, const int64_t in_chw[3], int64_t out_chw[3]);
/* The pipeline with every argument as torchvision prints it, one transform a line:
 * "Compose(\n    RandomCrop(size=(28, 28), padding=(2, 2, 2, 2), ...)\n    ...\n)"; returns buf. */
char *nb_transform_str(const nb_transform *tf, char *buf, size_t n);

/* ------------------------------------------------------------------------ */
/* Training helpers                                                          */
/* ------------------------------------------------------------------------ */

typedef struct {
    double loss;     /* mean cross-entropy */
    double accuracy; /* fraction of argmax == label */
    int64_t count;   /* samples seen */
} nb_eval_result;

/* Evaluate a classifier on a dataset in eval mode without gradients (the module's
 * training flag is restored after). batch_size 0 -> 1000. */
nb_status nb_evaluate(nb_module *m, nb_dataset *d, int batch_size, nb_eval_result *out);
/* Number of rows of logits (N, C) whose argmax equals the label. */
int64_t nb_count_correct(nb_tensor *logits, nb_tensor *labels);
/* nb_evaluate that also fills the confusion matrix counts[t * K + p] (K = the dataset's
 * number of classes, a K*K buffer the caller owns, zeroed first; NULL: none): the samples of
 * true class t whose argmax is p. Rows sum to the class counts; predictions >= K are not counted. */
nb_status nb_evaluate_confusion(nb_module *m, nb_dataset *d, int batch_size, nb_eval_result *out, int64_t *counts);
/* Add each row of logits (N, C) to counts[label * num_classes + argmax] (labels and
 * argmaxes outside [0, num_classes) are skipped). */
void nb_count_confusion(nb_tensor *logits, nb_tensor *labels, int num_classes, int64_t *counts);

/* ------------------------------------------------------------------------ */
/* Checkpoints: resume a training run exactly                                */
/* ------------------------------------------------------------------------ */

/* Where a training run stands. A checkpoint taken after batch b of epoch e says
 * {epoch = e, batch = b}; at the end of an epoch {epoch = e + 1, batch = 0}. */
typedef struct {
    int epoch;            /* the epoch to continue (0-based) */
    int64_t batch;        /* batches of that epoch already trained on */
    int64_t step;         /* optimizer steps taken in all */
    int64_t sched_step;   /* scheduler steps taken (the t of nb_sched_apply) */
    uint64_t loader_seed; /* the loader's shuffling and augmentation seed */
} nb_train_position;

/* One safetensors file holding everything a run needs to continue bit for bit:
 *   "model.<key>"        every parameter and buffer under its state_dict key
 *   "optim.state.K.<x>"  the optimizer state of nb_optim_state (opt may be NULL)
 * and __metadata__ with the optimizer groups' lr, base lr and momentum, the
 * context's generator (xoshiro256** state, seed and dropout counter), the position
 * (all under "nabla.") and n_meta caller pairs meta[2k] = key, meta[2k+1] = value
 * (e.g. the model name; keys must not start with "nabla."), readable with
 * nb_safetensors_metadata. Written atomically (temporary file, fsync, rename): a
 * crash or kill during the write leaves the previous file as it was. */
nb_status nb_checkpoint_save(const char *path, nb_module *m, nb_optim *opt, nb_ctx *ctx,
                             const nb_train_position *pos, const char *const *meta, int n_meta);
/* Restore a checkpoint into a model and optimizer built as for the saved run (same
 * architecture, same optimizer kind and parameter groups) and into ctx (generator,
 * dropout counter); *pos (may be NULL) receives the position. Every key must match
 * both ways and every shape must agree; otherwise NB_ERR_ARG / NB_ERR_SHAPE naming
 * the keys, and nothing (model, optimizer, ctx) is changed. opt may be NULL to
 * restore the weights only (the optimizer entries are then ignored). */
nb_status nb_checkpoint_load(const char *path, nb_module *m, nb_optim *opt, nb_ctx *ctx, nb_train_position *pos);

/* ------------------------------------------------------------------------ */
/* Subsets: some classes, a few samples per class                            */
/* ------------------------------------------------------------------------ */

typedef struct {
    const int *classes; /* keep these classes, relabelled 0..n_classes-1 in this order
                         * (names kept); NULL / 0: every class, labels unchanged */
    int n_classes;
    int64_t per_class;  /* > 0: keep the first per_class samples of each kept class in
                         * the order of a permutation drawn from seed; 0: all */
    uint64_t seed;
} nb_subset_opts;
/* A dataset of the samples of base that o selects, in base order. Takes ownership
 * of base (freed with the subset, or at once on failure). Reads every label of base
 * once (image folders decode each image). NULL with a message for a class outside
 * the dataset, a class listed twice, or a kept class without samples. */
nb_dataset *nb_subset_new(nb_dataset *base, const nb_subset_opts *o);
/* The base dataset's index of sample i of a subset, or -1. */
int64_t nb_subset_base_index(const nb_dataset *d, int64_t i);
/* Parse "5,6,7,8,9" or "5-9" (ranges and lists mixed) into classes[0..*n). */
nb_status nb_parse_class_list(const char *s, int *classes, int max, int *n);

/* ------------------------------------------------------------------------ */
/* Embeddings and pretrained word vectors                                    */
/* ------------------------------------------------------------------------ */

/* F.embedding: rows of weight (num, dim) picked by I64 indices of any shape; output
 * indices.shape + (dim). padding_idx in [0, num) gets no gradient; -1: none.
 * Backward adds each output row's gradient into its weight row (repeats add up).
 * An index outside [0, num) is an error naming it. */
nb_tensor *nb_embedding(nb_tensor *indices, nb_tensor *weight, int64_t padding_idx);

typedef struct {
    int64_t padding_idx; /* used when has_padding_idx; negative counts from the end (PyTorch) */
    int has_padding_idx; /* 0: padding_idx=None */
} nb_embedding_opts;
/* nn.Embedding(num_embeddings, embedding_dim, padding_idx): parameter "weight"
 * (num, dim) ~ N(0, 1) from the context generator, the padding row zero. The
 * forward takes I64 indices. */
nb_module *nb_embedding_new(nb_ctx *ctx, int64_t num_embeddings, int64_t embedding_dim, const nb_embedding_opts *o);
/* Embedding.from_pretrained(embeddings, freeze): weight is a copy of embeddings
 * (num, dim), as it is (the padding row is not zeroed, as PyTorch); freeze turns its
 * requires_grad off, so it is not among nb_module_parameters. */
nb_module *nb_embedding_from_pretrained(nb_ctx *ctx, const nb_tensor *embeddings, int freeze,
                                        const nb_embedding_opts *o);
/* The module's padding index (resolved to [0, num)), or -1. */
int64_t nb_embedding_padding_idx(const nb_module *m);

/* Pretrained word vectors: words and a (count, dim) matrix. */
typedef struct nb_word_vectors nb_word_vectors;
/* GloVe text ("word v1 ... vd" a line; a word2vec text header "N D" is skipped).
 * A line with another number of values or a value that is not a number is an
 * error naming the file and the line. max_words > 0 keeps the first max_words. */
nb_word_vectors *nb_glove_load(const char *path, int64_t max_words);
/* word2vec binary ("N D\n", then per word: the word, a space, D little-endian
 * float32, an optional newline); truncated or inconsistent files are errors. */
nb_word_vectors *nb_word2vec_load(const char *path, int64_t max_words);
void nb_word_vectors_free(nb_word_vectors *wv);
int64_t nb_word_vectors_count(const nb_word_vectors *wv);
int64_t nb_word_vectors_dim(const nb_word_vectors *wv);
const char *nb_word_vectors_word(const nb_word_vectors *wv, int64_t i);
/* Row of word (the first if it appears twice), or -1. */
int64_t nb_word_vectors_find(const nb_word_vectors *wv, const char *word);
const float *nb_word_vectors_vector(const nb_word_vectors *wv, int64_t i); /* dim floats */
/* A heap tensor (count, dim) of the vectors, for nb_embedding_from_pretrained. */
nb_tensor *nb_word_vectors_tensor(const nb_word_vectors *wv, nb_ctx *ctx);

/* ------------------------------------------------------------------------ */
/* Transfer learning: heads, features, pretrained backbones, freezing        */
/* ------------------------------------------------------------------------ */

/* The classifier head: the last Linear of m in state_dict order (fc of a ResNet,
 * classifier.6 of a VGG, the last index of a Sequential); name (may be NULL)
 * receives its dotted prefix ("fc"). NULL with a message if m has no Linear. */
nb_module *nb_module_head(nb_module *m, char *name, size_t n);
/* Run m on x and return the input of its head, as (N, features): the
 * penultimate-layer features (embeddings). *logits (may be NULL) receives m's
 * output. Arena tensors; call in eval mode without gradients for embeddings. */
nb_tensor *nb_module_features(nb_module *m, nb_tensor *x, nb_tensor **logits);

typedef struct {
    int loaded;       /* tensors copied into the model */
    int head_skipped; /* tensors of the model's head left as they were (new head) */
    int unexpected;   /* tensors of the file the model has no place for */
    char head[128];   /* the head's prefix */
} nb_pretrained_report;
/* Load a pretrained backbone: every parameter and buffer of m outside the head
 * (prefix head, or NULL: m's last Linear) must be in the file with the same shape;
 * the head keeps its fresh weights (the file's old head, of any size, is ignored);
 * other tensors of the file are counted as unexpected and ignored. A file for
 * another architecture fails naming the missing and mismatched keys, and m is left
 * as it was. rep may be NULL. */
nb_status nb_load_pretrained(nb_module *m, const char *path, const char *head, nb_pretrained_report *rep);
/* Freeze the parameters whose names start with one of the comma-separated
 * prefixes ("conv1,layer1", whole name components), or "backbone" for all but the
 * head: requires_grad off, so nb_module_parameters leaves them out. BatchNorm
 * layers whose parameters are all frozen stay in eval mode (running statistics
 * used, not updated) even through nb_module_train(m, 1). A prefix that matches
 * nothing is an error. *n_frozen (may be NULL) receives the count. */
nb_status nb_module_freeze(nb_module *m, const char *prefixes, int *n_frozen);
/* The trainable parameters of m split into backbone and head (its last Linear),
 * for parameter groups with their own learning rates (nb_optim_add_group). Arrays
 * hold at least nb_module_parameters' count; returns 0, or -1 without a head. */
int nb_module_split_head(nb_module *m, nb_tensor **backbone, int *n_backbone, nb_tensor **head, int *n_head);

/* ------------------------------------------------------------------------ */
/* Text augmentation (nlpaug names and semantics; SPEC.md)                   */
/* ------------------------------------------------------------------------ */

/* Text is UTF-8. A character is a code point with what attaches to it (combining
 * accents, a ZWJ emoji sequence, a flag), so edits never split one. A line is split
 * into words, punctuation/symbol characters and whitespace; every part that is not
 * edited comes out byte for byte (Korean, accents and emoji included). Word
 * augmenters make ceil(aug_p·len) edits clamped to [aug_min, aug_max] (len counts
 * words and punctuation, not whitespace), and at most as many as there are
 * candidate words: words that are not stopwords. Every random choice comes from the
 * nb_rng passed in. An augmenter is used by one thread at a time.
 * Option conventions: 0 means nlpaug's default; a negative value means 0 (for a
 * maximum: no maximum). */
typedef struct nb_text_aug nb_text_aug;

typedef enum { NB_TEXT_DELETE = 0, NB_TEXT_SWAP, NB_TEXT_SUBSTITUTE, NB_TEXT_CROP, NB_TEXT_INSERT } nb_text_action;

typedef struct {
    float aug_p;                  /* share of words edited: 0 -> 0.3 */
    int aug_min;                  /* 0 -> 1 */
    int aug_max;                  /* 0 -> 10; negative: no maximum */
    const char *const *stopwords; /* words never edited (exact, case-sensitive match) */
    int n_stopwords;
    const char *stopwords_regex;  /* POSIX extended regex; a word it matches at its start is never edited */
} nb_text_word_opts;

/* RandomWordAug(action): DELETE, SWAP (with the neighbouring word), SUBSTITUTE (by a
 * random entry of target_words; none: "_" as nlpaug), CROP (a run of consecutive
 * tokens, stopwords not protected, as nlpaug). The first word keeps the line's
 * capitalization as in nlpaug. o may be NULL. */
nb_text_aug *nb_text_random_word_new(nb_text_action action, const nb_text_word_opts *o,
                                     const char *const *target_words, int n_target_words);
/* SynonymAug(aug_src='wordnet'): each chosen word replaced by a WordNet synonym
 * (Debian's wordnet-dev library and wordnet-base data) of its likely part of speech:
 * the one most frequent in WordNet's sense-tagged corpus, refined by the previous
 * word (after a determiner a noun, after "to" a verb, after "very" an adjective).
 * Pronouns, auxiliaries, determiners, prepositions and conjunctions are not
 * candidates; the synonym takes the original's case. Fails, naming the Debian
 * package, when WordNet is missing. */
nb_text_aug *nb_text_synonym_new(const nb_text_word_opts *o);
/* EDA random insertion: count as above; each insertion puts a WordNet synonym of a
 * random candidate word before a random word of the line. */
nb_text_aug *nb_text_random_insert_new(const nb_text_word_opts *o);

typedef enum { NB_TEXT_SWAP_ADJACENT = 0, NB_TEXT_SWAP_MIDDLE, NB_TEXT_SWAP_RANDOM } nb_text_swap_mode;

typedef struct {
    float aug_char_p;   /* share of a word's characters edited: 0 -> 0.3 */
    int aug_char_min;   /* 0 -> 1 (OcrAug: 2) */
    int aug_char_max;   /* 0 -> 10; negative: no maximum */
    float aug_word_p;   /* share of words edited: 0 -> 0.3 */
    int aug_word_min;   /* 0 -> 1 */
    int aug_word_max;   /* 0 -> 10; negative: no maximum */
    int min_char;       /* words with fewer characters are left alone: 0 -> 4 (OcrAug: 1) */
    int no_upper_case;  /* include_upper_case=False */
    int no_lower_case;  /* include_lower_case=False (RandomCharAug) */
    int no_numeric;     /* include_numeric=False */
    int no_special_char; /* KeyboardAug include_special_char=False; RandomCharAug spec_char='' */
    const char *spec_char; /* RandomCharAug: NULL -> "!@#$%^&*()_+" */
    const char *const *candidates; /* RandomCharAug: strings to insert/substitute; overrides the above */
    int n_candidates;
    nb_text_swap_mode swap_mode;   /* RandomCharAug swap */
    const char *const *stopwords;
    int n_stopwords;
    const char *stopwords_regex;
} nb_text_char_opts;

/* RandomCharAug(action): INSERT, SUBSTITUTE, SWAP or DELETE characters inside the
 * chosen words (nlpaug's default action is SUBSTITUTE). */
nb_text_aug *nb_text_random_char_new(nb_text_action action, const nb_text_char_opts *o);
/* KeyboardAug: characters replaced by a neighbouring key of a QWERTY keyboard. */
nb_text_aug *nb_text_keyboard_new(const nb_text_char_opts *o);
/* OcrAug: characters replaced by look-alikes an OCR engine confuses (0/O/o/D, 1/l/I,
 * 2/Z, 5/S, 6/b, 8/B, 9/g/q, ...). */
nb_text_aug *nb_text_ocr_new(const nb_text_char_opts *o);

typedef struct {
    const char *source;   /* NULL -> "eng" */
    const char *pivot;    /* NULL -> "spa" */
    const char *forward;  /* Apertium mode source -> pivot; NULL -> "<source>-<pivot>" */
    const char *backward; /* NULL -> "<pivot>-<source>" */
    const char *command;  /* NULL -> "apertium" from PATH */
    const char *data_dir; /* where the modes are: NULL -> Apertium's default (/usr/share/apertium) */
    int batch_lines;      /* lines per Apertium call: 0 -> 10000 (1: one call per line) */
    int timeout_seconds;  /* fail when Apertium sends nothing for this long: 0 -> 300 */
} nb_text_backtranslation_opts;
/* BackTranslationAug: translate source -> pivot -> source with Apertium (Debian's
 * apertium and apertium-eng-spa), many lines per call. Deterministic. Fails, naming
 * the Debian packages, when Apertium or the language pair is missing. */
nb_text_aug *nb_text_backtranslation_new(const nb_text_backtranslation_opts *o);

/* Pipelines: take ownership of flow[0..n) (also on failure). Sequential applies
 * each in turn; Sometimes applies each with probability aug_p (0 -> 0.8, nlpaug's). */
nb_text_aug *nb_text_sequential_new(nb_text_aug **flow, int n);
nb_text_aug *nb_text_sometimes_new(nb_text_aug **flow, int n, float aug_p);
/* A Sequential built from a spec such as "synonym(p=0.3), random_swap(p=0.1)";
 * names and parameters in docs/text-augmentation.md. Errors name the column. */
nb_text_aug *nb_text_aug_from_spec(const char *spec);
void nb_text_aug_free(nb_text_aug *a);
/* The augmented text as a new string (free with free()); NULL with a message on
 * failure (invalid UTF-8 names its byte, counted from 1). An empty text gives "". */
char *nb_text_augment(nb_text_aug *a, const char *text, nb_rng *r);
/* Augment n texts at once (one Apertium call for the lot): out[i] as from
 * nb_text_augment, and the same results as n calls of it in order with r. On failure
 * every out[i] is NULL. */
nb_status nb_text_augment_batch(nb_text_aug *a, const char *const *texts, int64_t n, nb_rng *r, char **out);
/* External processes (Apertium) this augmenter and its children have started. */
int64_t nb_text_aug_calls(const nb_text_aug *a);

/* -1 when s[0..n) is valid UTF-8, else the byte offset of the first bad sequence. */
int64_t nb_utf8_check(const char *s, size_t n);
/* A copy with each invalid sequence replaced by U+FFFD (free with free()). */
char *nb_utf8_repair(const char *s, size_t n);

/* ------------------------------------------------------------------------ */
/* ONNX models (docs/onnx.md)                                                */
/* ------------------------------------------------------------------------ */

typedef struct {
    int reserved; /* no options yet; zero */
} nb_onnx_opts;

/* An ONNX model file (opsets 1-17, default domain) as a module that runs its graph.
 * Everything is checked at load: an unsupported op or attribute, a cycle, an input
 * nothing produces, a duplicate name, an initializer whose data does not fit its
 * shape, external data outside the model's folder each fail with a message naming
 * the node (name, op type, opset) or the tensor. Float initializers feeding
 * Conv/ConvTranspose/Gemm/MatMul/PRelu and the norms' scale and bias are trainable
 * parameters under their ONNX names, the others buffers. nb_module_forward runs a
 * graph on its first input and returns its first output; nb_onnx_run does the rest.
 * Training mode follows PyTorch: BatchNormalization uses batch statistics, Dropout
 * drops. o may be NULL. */
nb_module *nb_onnx_load(nb_ctx *ctx, const char *path, const nb_onnx_opts *o);
/* The same from the bytes of a model; dir is where external data is read from
 * (NULL: external data is refused). */
nb_module *nb_onnx_load_buffer(nb_ctx *ctx, const void *data, size_t n, const char *dir, const nb_onnx_opts *o);
int nb_onnx_is_model(const nb_module *m);
int nb_onnx_opset(const nb_module *m);
/* Graph inputs (initializers excluded) and outputs, in graph order. */
int nb_onnx_num_inputs(const nb_module *m);
int nb_onnx_num_outputs(const nb_module *m);
const char *nb_onnx_input_name(const nb_module *m, int i);
const char *nb_onnx_output_name(const nb_module *m, int i);
/* The ONNX element type the graph declares for input i (1 float, 7 int64, 9 bool, ...; 0 unknown). */
int nb_onnx_input_type(const nb_module *m, int i);
/* The declared shape of input i into shape (NB_MAX_DIMS values; -1 for a symbolic
 * dimension such as the batch); returns the rank, or -1 when the graph does not say. */
int nb_onnx_input_shape(const nb_module *m, int i, int64_t *shape);
/* Nodes in the order they run: the name ("#k" for the k-th unnamed node) and op type. */
int nb_onnx_num_nodes(const nb_module *m);
const char *nb_onnx_node(const nb_module *m, int i, const char **op_type);
/* Run the graph: inputs[0..n_in) in graph-input order (F32 for floating types, I64
 * for integer and bool types; other dtypes are converted to what the graph
 * declares); outputs[0..n_out) receive arena tensors of the first n_out graph
 * outputs and out_types (may be NULL) their ONNX element types (integers and bools
 * are I64 tensors holding the values). */
nb_status nb_onnx_run(nb_module *m, nb_tensor *const *inputs, int n_in, nb_tensor **outputs, int *out_types, int n_out);
/* Transfer learning: the head of an imported graph is its last Gemm or MatMul whose
 * weight is a parameter (nb_module_head names it by the weight's name without
 * ".weight", e.g. "fc"; nb_module_features returns its input). Its output width, and
 * a new width with fresh weights U(±1/√in) and bias (PyTorch's Linear init) from the
 * context's generator. */
int64_t nb_onnx_num_classes(nb_module *m);
/* Which dimension of the head's weight is its output width: 0 for a Gemm with transB
 * ((out, in), as PyTorch's Linear), 1 for (in, out); -1 without a head. */
int nb_onnx_head_out_axis(nb_module *m);
nb_status nb_onnx_set_num_classes(nb_module *m, int64_t num_classes);
typedef struct {
    int opset;      /* 13..17; 0: 17 for nabla's modules, the model's own for an imported graph
                     * (converted when another is given; read at opsets 6 to 17) */
    int64_t batch;  /* 0: a symbolic batch dimension named "batch"; N > 0: fixed to N */
    int input_ndim; /* the dims of one sample (3 for C, H, W); nabla's modules: 0 is 1x28x28;
                     * an imported graph: 0 keeps its first input's shape */
    int64_t input[NB_MAX_DIMS];
    int input_ids;  /* the input is int64 token ids (batch, length): the text models */
    int64_t length; /* with input_ids: 0 a symbolic length named "sequence"; N > 0 fixed */
    int attention_mask; /* with input_ids: a second input "attention_mask" (batch, length) int64, 1 token
                         * and 0 padding, as Hugging Face's models take it (a text model's to_onnx adds
                         * (1 - mask)·float32's lowest to the attention scores) */
    int set_batch;  /* an imported graph: 1 sets its inputs' batch dimension from batch; 0
                     * keeps it as read */
} nb_onnx_save_opts;
/* Write a module as an ONNX model in eval mode, its weights as initializers under their
 * state_dict names, its nodes named as torch.onnx.export names them. An imported model
 * is its graph as read with the module's current weights (fine-tuned, a resized head
 * included; floating initializers as float32, external data inline), converted to
 * another opset, batch or input shape when o asks (docs/onnx.md; the graph runs once
 * or twice on zeros to find the outputs' shapes, its values left in the arena). Built-in models,
 * model files and the text models are written from each module's typed state
 * (docs/onnx.md lists the ops each layer becomes); a module kind without an ONNX form
 * fails naming the module and its kind. Atomic. o may be NULL. */
nb_status nb_onnx_save(nb_module *m, const char *path, const nb_onnx_save_opts *o);
/* Describe the graph on f: opset, inputs and outputs with declared types and shapes,
 * parameter counts, and each node with its op, inputs and output shapes (from one run
 * on zeros, symbolic dimensions 1). Resets the model's context. */
nb_status nb_onnx_print(nb_module *m, FILE *f);
/* Transformers: GELU, attention (issue 16)                                  */
/* ------------------------------------------------------------------------ */

/* F.gelu(x, approximate): NB_GELU_ERF ('none', BERT's "gelu") x·Φ(x); NB_GELU_TANH
 * ('tanh', GPT-2's "gelu_new") ½x(1 + tanh(√(2/π)(x + 0.044715x³))). */
typedef enum { NB_GELU_ERF = 0, NB_GELU_TANH = 1 } nb_gelu_approx;
nb_tensor *nb_gelu(nb_tensor *x, nb_gelu_approx approximate);

typedef struct {
    nb_tensor *attn_mask; /* (B, Tk) F32 or I64, 1 = attend, 0 = padding: added to the scores
                           * as (1 - m)·finfo(float32).min (Hugging Face's extended mask); NULL: none */
    int is_causal;        /* query i sees keys j <= i + (Tk - Tq) (HF GPT-2's alignment) */
    float dropout_p;      /* dropout on the attention probabilities when training */
    int training;
    float score_div;      /* > 0: the scores are also divided by it (GPT-2's scale_attn_by_inverse_layer_idx:
                           * layer index + 1); 0: 1 */
} nb_attention_opts;
/* softmax(q·kᵀ/√D + masks)·v, the softmax in float32 max-subtracted, fused and threaded
 * over (batch, head). q (B, H, Tq, D), k and v (B, H, Tk, D) -> (B, H, Tq, D). o may be NULL. */
nb_tensor *nb_scaled_dot_product_attention(nb_tensor *q, nb_tensor *k, nb_tensor *v, const nb_attention_opts *o);
/* The same with the heads merged in the last dim: q (B, Tq, heads·D), k and v
 * (B, Tk, heads·D) -> (B, Tq, heads·D); head h is columns [h·D, (h+1)·D), so this is
 * split heads, attention, merge heads without the copies. */
nb_tensor *nb_multihead_attention(nb_tensor *q, nb_tensor *k, nb_tensor *v, int64_t heads, const nb_attention_opts *o);

/* ------------------------------------------------------------------------ */
/* Text models: BERT and GPT-2 with Hugging Face's names (issue 16)          */
/* ------------------------------------------------------------------------ */

typedef enum {
    NB_BERT_MODEL = 0,     /* BertModel: last_hidden_state (B, T, hidden), pooler_output (B, hidden) */
    NB_BERT_SEQ_CLS,       /* BertForSequenceClassification: "bert." + BertModel, "classifier": logits (B, labels) */
    NB_GPT2_MODEL,         /* GPT2Model: last_hidden_state (B, T, hidden) */
    NB_GPT2_LM_HEAD,       /* GPT2LMHeadModel: "transformer." + GPT2Model, lm_head tied to wte: logits (B, T, vocab) */
    NB_BERT_MLM            /* BertForMaskedLM: "bert." + BertModel, "cls.predictions.*" (decoder tied to the word
                            * embeddings): logits (B, T, vocab) */
} nb_text_arch;

/* A model's config.json in nabla's terms (Hugging Face's key in brackets: BERT / GPT-2). */
typedef struct {
    nb_text_arch arch;
    int64_t vocab_size;        /* vocab_size */
    int64_t hidden_size;       /* hidden_size / n_embd */
    int64_t num_layers;        /* num_hidden_layers / n_layer */
    int64_t num_heads;         /* num_attention_heads / n_head; divides hidden_size */
    int64_t intermediate_size; /* intermediate_size / n_inner (null: 4·n_embd) */
    int64_t max_positions;     /* max_position_embeddings / n_positions */
    int64_t type_vocab_size;   /* BERT's type_vocab_size */
    int64_t pad_token_id;      /* BERT's word_embeddings padding_idx (pad_token_id); -1: none */
    int num_labels;            /* BertForSequenceClassification: classifier outputs */
    float layer_norm_eps;      /* layer_norm_eps (1e-12) / layer_norm_epsilon (1e-5) */
    float hidden_dropout;      /* hidden_dropout_prob / resid_pdrop */
    float attention_dropout;   /* attention_probs_dropout_prob / attn_pdrop */
    float embedding_dropout;   /* GPT-2's embd_pdrop (BERT: hidden_dropout_prob) */
    float classifier_dropout;  /* classifier_dropout (null: hidden_dropout_prob) */
    nb_gelu_approx activation; /* hidden_act / activation_function: "gelu" ERF, "gelu_new" TANH */
    float initializer_range;   /* initializer_range: N(0, σ²) for fresh weights */
    int scale_attn_by_inverse_layer_idx; /* GPT-2's key: layer l's scores also divided by l + 1 */
} nb_text_config;

/* Hugging Face's class name of an architecture ("BertModel", ...). */
const char *nb_text_arch_name(nb_text_arch a);
/* A config.json (cJSON) into *c: model_type "bert" or "gpt2" (and architectures[0]
 * if present) picks the architecture; the size keys are required, the rest take
 * Hugging Face's defaults. Unknown architectures, keys that change the math to
 * something nabla does not do (position_embedding_type other than "absolute",
 * is_decoder, add_cross_attention, scale_attn_weights false, an activation other
 * than gelu/gelu_new/gelu_pytorch_tanh, ...) and contradictions (hidden size not
 * divisible by heads) are errors naming the file and the key. */
nb_status nb_text_config_read(const char *path, nb_text_config *c);
/* A built-in configuration: "bert_tiny" (BertForSequenceClassification, Google's BERT-Tiny
 * sizes: 2 layers, hidden 128, 2 heads, intermediate 512, 512 positions) or "gpt2_tiny"
 * (GPT2LMHeadModel: 2 layers, hidden 128, 2 heads, inner 512, 1024 positions); set
 * vocab_size (and num_labels) to the tokenizer's before building. */
nb_status nb_text_config_preset(const char *name, nb_text_config *c);
/* Write *c as a config.json Hugging Face's from_pretrained reads (atomic). */
nb_status nb_text_config_write(const char *path, const nb_text_config *c);
/* A fresh model initialised as Hugging Face's _init_weights, from the context generator. */
nb_module *nb_text_model_new(nb_ctx *ctx, const nb_text_config *c);
/* The config of a text model, or NULL for other modules. */
const nb_text_config *nb_text_model_config(const nb_module *m);

typedef struct {
    int arch_set;      /* 1: build `arch` instead of config.json's (e.g. a classifier on a BertModel) */
    nb_text_arch arch;
    int num_labels;    /* > 0: the classifier's outputs (config's num_labels otherwise) */
} nb_model_dir_opts;
/* A Hugging Face model directory: config.json and model.safetensors. Tensor names load
 * with or without the base-model prefix ("bert.", "transformer."), LayerNorm's also as
 * gamma/beta (old TensorFlow conversions); buffers
 * (embeddings.position_ids, h.N.attn.bias, h.N.attn.masked_bias) are ignored; the tied
 * lm_head.weight may be absent; a head the file lacks (a classifier on a BertModel)
 * keeps its fresh weights; any other missing, unexpected or mis-shaped tensor is an
 * error naming it. o may be NULL. */
nb_module *nb_model_from_dir(nb_ctx *ctx, const char *dir, const nb_model_dir_opts *o);
/* A text model of configuration *c (e.g. nb_text_config_preset's) with the weights of
 * a safetensors file under Hugging Face's names, loaded as nb_model_from_dir loads
 * model.safetensors; the vocabulary, positions, token types and classifier classes are
 * as many as the file's tensors have, the other sizes are c's (a tensor of another shape
 * is an error naming it). */
nb_module *nb_text_model_from_weights(nb_ctx *ctx, const nb_text_config *c, const char *path);
/* Save a text model as a directory Hugging Face and nb_model_from_dir read: config.json
 * and model.safetensors with Hugging Face's names (the tied lm_head left out). */
nb_status nb_text_model_save_dir(nb_module *m, const char *dir);
/* nb_text_model_save_dir with config.json's id2label and label2id naming the n classes
 * (Hugging Face's class names; labels[k] NULL: "LABEL_k"), in the same atomic write. */
nb_status nb_text_model_save_dir_labels(nb_module *m, const char *dir, const char *const *labels, int n);

typedef struct {
    nb_tensor *attention_mask; /* (B, T) I64 or F32, 1 = token, 0 = padding; NULL: all tokens */
    nb_tensor *token_type_ids; /* BERT: (B, T) I64; NULL: zeros */
} nb_text_inputs;
/* Run a text model on input_ids (B, T) I64, T <= max positions: BertModel and
 * GPT2Model give last_hidden_state (and BertModel *pooled = pooler_output when
 * pooled is not NULL), the classifier and LM head their logits. Dropout follows the
 * module's training mode. in may be NULL. nb_module_forward(m, ids) is this without
 * masks. */
nb_tensor *nb_text_forward(nb_module *m, nb_tensor *input_ids, const nb_text_inputs *in, nb_tensor **pooled);

/* A key/value cache for GPT-2 generation: batch rows of up to max_len (<= n_positions)
 * tokens. nb_text_forward_cached runs the next tokens ids (B, T) after those cached
 * (positions continue from nb_text_cache_len), appends their keys and values, and
 * returns what nb_text_forward on the whole sequence gives for these T positions (no
 * padding mask; inference only: gradients must be off). */
typedef struct nb_text_cache nb_text_cache;
nb_text_cache *nb_text_cache_new(nb_module *m, int64_t batch, int64_t max_len);
void nb_text_cache_free(nb_text_cache *c);
int64_t nb_text_cache_len(const nb_text_cache *c);
nb_tensor *nb_text_forward_cached(nb_module *m, nb_tensor *ids, nb_text_cache *c);

/* ------------------------------------------------------------------------ */
/* Tokenizers: BERT's WordPiece and GPT-2's byte-level BPE (issue 16)        */
/* ------------------------------------------------------------------------ */

/* Token ids equal Hugging Face's (BertTokenizer, GPT2Tokenizer) on the same files; the
 * text is UTF-8 (invalid UTF-8 is an error naming the byte). A tokenizer is read-only
 * after loading, so several threads may encode with one. */
typedef struct nb_tokenizer nb_tokenizer;

typedef struct {
    int keep_case; /* do_lower_case=False: no lower-casing and no accent stripping */
} nb_wordpiece_opts;
/* BERT: vocab.txt (one token a line, id = line number from 0; tokens valid UTF-8 and
 * distinct, [UNK] required). Basic tokenization, then WordPiece with "##" continuations. */
nb_tokenizer *nb_wordpiece_load(const char *vocab_txt, const nb_wordpiece_opts *o);
/* GPT-2: vocab.json ({"token": id}) and merges.txt ("a b" a line, rank = order; every
 * token a merge names must be in the vocabulary). */
nb_tokenizer *nb_bpe_load(const char *vocab_json, const char *merges_txt);
/* A model directory's tokenizer: vocab.txt (with tokenizer_config.json's do_lower_case
 * when present) or vocab.json + merges.txt. */
nb_tokenizer *nb_tokenizer_from_dir(const char *dir);
void nb_tokenizer_free(nb_tokenizer *t);
int64_t nb_tokenizer_vocab_size(const nb_tokenizer *t); /* largest id + 1 */
int64_t nb_tokenizer_token_to_id(const nb_tokenizer *t, const char *token); /* -1 if absent */
const char *nb_tokenizer_id_to_token(const nb_tokenizer *t, int64_t id);    /* NULL if none */
int nb_tokenizer_is_bpe(const nb_tokenizer *t);
/* The ids of text without special tokens: the count, with *ids a malloc'd array
 * (free()); -1 with a message on error. */
int64_t nb_tokenizer_encode(const nb_tokenizer *t, const char *text, int64_t **ids);

typedef struct {
    int64_t max_length;    /* > 0: truncate to this many ids, special tokens included
                            * (longest_first: the longer text loses its last id, one at a time) */
    int64_t pad_to;        /* > 0: pad to this length ([PAD]; GPT-2: <|endoftext|>), mask 0 */
    int no_special_tokens; /* BERT: no [CLS]/[SEP] (GPT-2 adds none anyway) */
} nb_encode_opts;
typedef struct {
    int64_t *ids, *type_ids, *mask; /* n each, malloc'd */
    int64_t n;
} nb_encoding;
/* BERT: [CLS] a [SEP] (b [SEP]) with token types 0 then 1; GPT-2: a b. b may be NULL. */
nb_status nb_tokenizer_encode_pair(const nb_tokenizer *t, const char *a, const char *b, const nb_encode_opts *o,
                                   nb_encoding *out);
void nb_encoding_free(nb_encoding *e);
/* Text of ids (malloc'd): GPT-2's bytes back; BERT's tokens joined by spaces, "##"
 * pieces glued to the one before. */
char *nb_tokenizer_decode(const nb_tokenizer *t, const int64_t *ids, int64_t n);

/* Build a BERT vocab.txt from texts (an uncased vocabulary): [PAD] [UNK] [CLS] [SEP]
 * [MASK], every character of the basic-tokenized texts, each as a "##" continuation,
 * then the most frequent words until vocab_size tokens (ties in byte order). */
nb_status nb_wordpiece_build_vocab(const char *const *texts, int64_t n, int64_t vocab_size, const char *path);

/* Train a byte-level BPE on texts: GPT-2's pre-tokenization, the 256 byte tokens, then up
 * to n_merges merges of the most frequent adjacent pair (ties: the smaller pair of ids;
 * pairs seen once are not merged), and <|endoftext|>; writes vocab.json and merges.txt
 * that nb_bpe_load reads. */
nb_status nb_bpe_train(const char *const *texts, int64_t n, int64_t n_merges, const char *vocab_json,
                       const char *merges_txt);

/* ------------------------------------------------------------------------ */
/* Text datasets (issue 16)                                                  */
/* ------------------------------------------------------------------------ */

typedef struct nb_text_dataset nb_text_dataset;
/* WordNet glosses labelled by lexicographer file (45 supersenses: adj.all, ...,
 * noun.animal, ..., verb.weather, adj.ppl) from dir (NULL: /usr/share/wordnet, Debian's
 * wordnet-base); train != 0: the ~90% of synsets whose hash of (part of speech, offset)
 * is not 0 mod 10, else the rest. */
nb_text_dataset *nb_wordnet_glosses_new(const char *dir, int train);
/* "label<TAB>text" lines; classes are the distinct labels sorted. */
nb_text_dataset *nb_tsv_dataset_new(const char *path);
void nb_text_dataset_free(nb_text_dataset *d);
int64_t nb_text_dataset_len(const nb_text_dataset *d);
const char *nb_text_dataset_text(const nb_text_dataset *d, int64_t i);
int64_t nb_text_dataset_label(const nb_text_dataset *d, int64_t i);
int nb_text_dataset_num_classes(const nb_text_dataset *d);
const char *nb_text_dataset_class_name(const nb_text_dataset *d, int c);
/* Data parallelism over MPI: torch.distributed with DistributedDataParallel */
/* (PyTorch 1.13); docs/distributed.md                                       */
/* ------------------------------------------------------------------------ */

/* Built with MPI (the Makefile found mpicc): 1, else 0. */
int nb_dist_available(void);
/* dist.init_process_group("mpi"). Started by mpirun (or any launcher that sets
 * OMPI_COMM_WORLD_SIZE, PMIX_SIZE or PMI_SIZE) in a build with MPI: initialises MPI
 * (MPI_THREAD_FUNNELED: call nabla's distributed functions from this thread only).
 * Otherwise the run is rank 0 of 1 and MPI is not touched. A build without MPI started
 * as one of several ranks fails with NB_ERR_STATE saying how to get MPI. argc/argv may
 * be NULL; a second call is a no-op. */
nb_status nb_dist_init(int *argc, char ***argv);
int nb_dist_rank(void);        /* dist.get_rank(); 0 for one process */
int nb_dist_world(void);       /* dist.get_world_size(); 1 for one process */
int nb_dist_local_world(void); /* ranks on this machine (share its cores) */
/* dist.destroy_process_group(): MPI_Finalize when nb_dist_init called MPI_Init. */
void nb_dist_finalize(void);
/* End every rank of the job at once with this exit code (MPI_Abort), for an error
 * that only some ranks see (the others would wait in a collective forever). For one
 * process it returns; the caller exits. */
void nb_dist_abort(int code);

typedef enum { NB_DIST_SUM, NB_DIST_MIN, NB_DIST_MAX } nb_dist_op;
/* dist.all_reduce of v[0..n) in place (collective: every rank calls it). */
nb_status nb_dist_allreduce(double *v, int n, nb_dist_op op);
/* dist.broadcast of `bytes` bytes at buf from rank root. */
nb_status nb_dist_broadcast(void *buf, size_t bytes, int root);
/* Collective error check: each rank passes its status (a failed one with its message
 * in nb_last_error()). NB_OK when every rank passed NB_OK; else, on every rank, the
 * lowest failing rank's status with the message "rank R: <its message>". */
nb_status nb_dist_agree(nb_status st);
/* Seconds this process has spent waiting on nabla's communication (gradient buckets,
 * buffer broadcasts, SyncBatchNorm, all-reduces). */
double nb_dist_comm_seconds(void);
/* Per-rank dropout streams: ctx's dropout key becomes seed on rank 0 (so rank 0 draws
 * what one process would) and a hash of (seed, rank) on the other ranks. */
void nb_dist_seed_ctx(nb_ctx *ctx, uint64_t seed);

/* DistributedDataParallel(module). nb_ddp_new (collective) checks that every rank has
 * the same parameters and buffers (NB_ERR_SHAPE naming the first tensor whose shape
 * differs, and the ranks) and copies rank 0's into every rank, then hooks the module's
 * context: during each nb_backward, the gradients of the parameters that require grad
 * are averaged over the ranks by all-reduce in buckets (parameters in reverse order,
 * the first bucket first_bucket_mb, the others bucket_cap_mb), each bucket started
 * (MPI_Iallreduce) as soon as the backward has passed every use of its parameters, so
 * communication overlaps the rest of the backward; nb_backward returns once every
 * bucket is averaged, so clipping, penalties and nb_optim_step see the averaged
 * gradient and parameters stay bit-identical on every rank. The parameters are those
 * requiring grad when it is made (freeze first). One process: a no-op wrapper. Free it
 * before the module. Its first collective is nb_dist_agree(NB_OK): a rank that failed to
 * build its model calls nb_dist_agree(its error) instead, and nb_ddp_new fails on every
 * rank with that rank's message. */
typedef struct nb_ddp nb_ddp;
typedef struct {
    float bucket_cap_mb;      /* 0 -> 25 (DDP's bucket_cap_mb) */
    float first_bucket_mb;    /* 0 -> 1 (torch.distributed's _DEFAULT_FIRST_BUCKET_BYTES) */
    int no_broadcast_buffers; /* 1: broadcast_buffers=False (buffers stay per rank) */
    int sync_bn;              /* 1: every BatchNorm as SyncBatchNorm (convert_sync_batchnorm):
                               * training batch statistics over all ranks' batches */
} nb_ddp_opts;
nb_ddp *nb_ddp_new(nb_module *m, const nb_ddp_opts *o);
/* DDP's forward: in training mode, rank 0's buffers (BatchNorm's running statistics)
 * are broadcast first (broadcast_buffers), then nb_module_forward. */
nb_tensor *nb_ddp_forward(nb_ddp *d, nb_tensor *x);
/* Copy rank 0's buffers into every rank now (e.g. before a sharded evaluation, so
 * every rank evaluates with the same running statistics). */
nb_status nb_ddp_broadcast_buffers(nb_ddp *d);
void nb_ddp_free(nb_ddp *d); /* unhooks the context */
int nb_ddp_num_buckets(const nb_ddp *d);

/* DistributedSampler(num_replicas = W, rank = r) is nb_loader_opts.num_replicas/rank:
 * each epoch, the order (shuffled with (seed, epoch), the same on every rank) is padded
 * to ceil(N/W)·W by repeating it from the start, and rank r takes the indices
 * r, r+W, r+2W, ...: ceil(N/W) samples; the batch size is per rank. Augmentation draws
 * per rank (streams of (seed, rank, epoch, sample)). */
/* The samples rank, rank+world, rank+2·world, ... of base (no padding: for sharded
 * evaluation whose counts are then all-reduced); base is not owned and must outlive it. */
nb_dataset *nb_dataset_shard(nb_dataset *base, int rank, int world);

#ifdef __cplusplus
}
#endif
#endif /* NABLA_H */
