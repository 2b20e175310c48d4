/* onnx_internal.h - what the ONNX reader's files share: the loaded graph, the
 * values a run passes between nodes, attribute helpers and the op table.
 *
 * A value is an nb_tensor plus the ONNX element type the graph gives it. Floating
 * types (float, double, float16, bfloat16) are stored as F32 tensors (the compute
 * type); every integer type and bool as I64 tensors, wrapped to the type's range
 * after each op (ox_wrap), so uint8 arithmetic overflows as ONNX says. */
#ifndef NB_ONNX_INTERNAL_H
#define NB_ONNX_INTERNAL_H

#include "core/error.h"
#include "core/tensor.h"
#include "core/tape.h"
#include "core/ctx.h"
#include "core/random.h"
#include "core/threads.h"
#include "kernels/gemm.h"
#include "ops/broadcast.h"
#include "ops/conv2d.h"
#include "ops/norm.h"
#include "nn/module.h"
#include "onnx.pb-c.h"

#include <math.h>

/* ONNX TensorProto.DataType values */
enum {
    OX_UNDEF = 0, OX_FLOAT = 1, OX_UINT8 = 2, OX_INT8 = 3, OX_UINT16 = 4, OX_INT16 = 5, OX_INT32 = 6,
    OX_INT64 = 7, OX_STRING = 8, OX_BOOL = 9, OX_FLOAT16 = 10, OX_DOUBLE = 11, OX_UINT32 = 12,
    OX_UINT64 = 13, OX_COMPLEX64 = 14, OX_COMPLEX128 = 15, OX_BFLOAT16 = 16
};

typedef struct {
    nb_tensor *t; /* NULL: absent (an optional input left out) */
    int et;       /* ONNX element type */
} ox_val;

typedef struct ox_node ox_node;
typedef struct ox_model ox_model;
typedef struct ox_op ox_op;

/* An op's forward: in[0..n->n_in) (absent optional inputs have t == NULL), fills
 * out[0..n->n_out) (outputs the graph does not use may be left NULL). */
typedef nb_status (*ox_run_fn)(ox_model *m, const ox_node *n, ox_val *in, ox_val *out);
/* Optional load-time check of attribute values and constant inputs. */
typedef nb_status (*ox_check_fn)(ox_model *m, const ox_node *n);

struct ox_op {
    const char *type;
    ox_run_fn run;
    int min_in, max_in, min_out, max_out;
    const char *attrs; /* comma-separated attribute names it understands */
    ox_check_fn check;
};

struct ox_node {
    const Onnx__NodeProto *p;
    const char *name; /* the node's name, or "#k" (k: its index in the file) when it has none */
    char namebuf[24];
    const ox_op *op;
    int n_in, n_out;
    int *in, *out;    /* value ids; -1 for "" */
};

typedef struct {
    char *name;
    int et;          /* declared element type (0 unknown) */
    int ndim;        /* -1 unknown */
    int64_t shape[NB_MAX_DIMS]; /* -1 for a symbolic dimension */
    char *dim_param[NB_MAX_DIMS];
} ox_info;

struct ox_model {
    nb_module *mod;
    nb_ctx *ctx;
    Onnx__ModelProto *proto;
    int opset;
    char *dir;        /* the model's folder (external data is read from it) */
    int n_values;
    char **vname;     /* value names */
    ox_val *init;     /* initializers and Constant outputs (t NULL for other values) */
    char *mod_owned;  /* 1 where the module holds init[id] (freed with it) */
    ox_val *vals;     /* values of the current run */
    int *use_count;   /* how many node inputs read each value */
    ox_node *nodes;   /* in topological order */
    int n_nodes;
    int *inputs, *outputs; /* value ids of the graph's (non-initializer) inputs and outputs */
    int n_inputs, n_outputs;
    ox_info *in_info, *out_info;
    int training;
};

/* ---- failures ---- */
/* Fail naming the node: "node 'conv1' (Conv, opset 13): <message>", with
 * nb__last_error_pos()->kind OX_FAULT_NODE (the message names its node already). */
enum { OX_FAULT_NODE = 0x4f58 };
nb_status ox_fail(const ox_model *m, const ox_node *n, nb_status code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- attributes ---- */
const Onnx__AttributeProto *ox_attr(const ox_node *n, const char *name);
int64_t ox_attr_i(const ox_node *n, const char *name, int64_t def);
float ox_attr_f(const ox_node *n, const char *name, float def);
/* The string attribute, or def; copied into buf. */
const char *ox_attr_s(const ox_node *n, const char *name, const char *def, char *buf, size_t len);
/* ints attribute: *count (-1 when absent) and the values. */
const int64_t *ox_attr_ints(const ox_node *n, const char *name, int *count);
const float *ox_attr_floats(const ox_node *n, const char *name, int *count);

/* ---- values ---- */
/* A double as int64 without undefined behaviour: NaN is 0, out-of-range values clamp. */
static inline int64_t ox_f2i(double v)
{
    if (!(v == v)) return 0;
    if (v >= 9.2233720368547748e18) return INT64_MAX;
    if (v <= -9.2233720368547758e18) return INT64_MIN;
    return (int64_t)v;
}
/* The cubic convolution kernel of Keys (1981) with coefficient A (-0.75 in ONNX's
 * Resize and GridSample): the weight of a sample at distance t. */
static inline double ox_cubic(double t, double A)
{
    t = fabs(t);
    if (t <= 1) return ((A + 2) * t - (A + 3)) * t * t + 1;
    if (t < 2) return ((A * t - 5 * A) * t + 8 * A) * t - 4 * A;
    return 0;
}
static inline int ox_is_float(int et) { return et == OX_FLOAT || et == OX_DOUBLE || et == OX_FLOAT16 || et == OX_BFLOAT16; }
static inline nb_dtype ox_storage(int et) { return ox_is_float(et) ? NB_F32 : NB_I64; }
const char *ox_type_name(int et);
/* 1 (with a message) when a result of this shape would exceed 2^30 elements: graphs
 * whose values ask for absurd sizes (ConstantOfShape, Expand, Range, ...) fail, not
 * the machine. */
int ox_too_big(int ndim, const int64_t *shape);
extern int64_t nb__onnx_max_numel; /* the limit, 2^30 (tests and the fuzz target lower it) */
/* A new arena tensor for a value of type et (refuses ox_too_big shapes). */
nb_tensor *ox_new(nb_ctx *ctx, int et, int ndim, const int64_t *shape);
/* Element i as a double / an int64, whatever the storage; 0 outside the tensor (an
 * empty tensor where a scalar was expected). */
double ox_get_f(const nb_tensor *t, int64_t i);
int64_t ox_get_i(const nb_tensor *t, int64_t i);
/* Wrap every element of an I64-stored tensor to et's range (uint8 & 255, bool != 0, ...). */
void ox_wrap(nb_tensor *t, int et);
/* A copy converted to type et (Cast semantics: float -> int truncates toward zero). */
nb_tensor *ox_cast(nb_tensor *t, int from_et, int to_et);
/* A float32 view of a value (a cast copy for integer types). */
nb_tensor *ox_as_float(ox_val v);
/* Read an int64 list from a 0-d/1-d input (shape, axes, pads). */
nb_status ox_ints_of(const ox_model *m, const ox_node *n, ox_val v, int64_t *out, int max, int *count,
                     const char *what);
/* Decode a TensorProto into a heap tensor (et receives its type). dir: where external
 * data lives (NULL refuses it). */
nb_tensor *ox_tensor_decode(nb_ctx *ctx, const Onnx__TensorProto *tp, const char *dir, int *et);

/* ---- generic differentiable helpers (ops_shape.c) ----
 * out[i] = x[map[i]] (map[i] < 0: fill); backward adds out's gradient back into x. The
 * map (numel of out int64s) must live in the arena. Works for F32 and I64 storage. */
nb_tensor *ox_gather_map(nb_tensor *x, int ndim, const int64_t *shape, int64_t *map, float fill);
/* Concatenate along axis (n tensors of one dtype), with backward. */
nb_tensor *ox_concat(nb_tensor **xs, int n, int axis);
/* numpy-style broadcast of x to shape (with backward). */
nb_tensor *ox_expand(nb_tensor *x, int ndim, const int64_t *shape);
/* Permute dims (with backward). */
nb_tensor *ox_transpose(nb_tensor *x, const int64_t *perm);
/* min(max(x, lo), hi) of an F32 tensor, with backward (ops_math.c, ONNX's Clip). */
nb_tensor *ox_clip_f(nb_tensor *x, float lo, float hi);
/* Pad: pads[2*ndim] as ONNX (begins then ends, negative crops); mode 0 constant, 1 edge, 2 reflect. */
nb_tensor *ox_pad(nb_tensor *x, const int64_t *pads, int mode, float value);

/* Where a protobuf that protobuf-c refused goes wrong: "field graph.node[2].input:
 * length 4000 past the end at byte 117" (wire.c); a static string. */
const char *nb__onnx_wire_check(const void *data, size_t n);
/* NULL when the bytes walk as a ModelProto (every key, length and wire type), else where not */
const char *nb__onnx_wire_error(const void *data, size_t n);

/* ---- op table (ops.c) ---- */
const ox_op *ox_find_op(const char *type);

/* per-family op functions */
#define OX_OP(name) nb_status ox_op_##name(ox_model *m, const ox_node *n, ox_val *in, ox_val *out)
#define OX_CHECK(name) nb_status ox_check_##name(ox_model *m, const ox_node *n)
/* each op's function (ops_*.c), for the table in ops.c */
#define OX_DECL(name) OX_OP(name);
OX_DECL(identity) OX_DECL(reshape) OX_DECL(flatten) OX_DECL(transpose) OX_DECL(squeeze) OX_DECL(unsqueeze)
OX_DECL(concat) OX_DECL(split) OX_DECL(slice) OX_DECL(gather) OX_DECL(gather_elements) OX_DECL(expand) OX_DECL(tile)
OX_DECL(pad) OX_DECL(shape) OX_DECL(size) OX_DECL(constant) OX_DECL(constant_of_shape) OX_DECL(cast) OX_DECL(range)
OX_DECL(depth_to_space) OX_DECL(resize) OX_DECL(add) OX_DECL(sub) OX_DECL(mul) OX_DECL(div) OX_DECL(pow) OX_DECL(and)
OX_DECL(or) OX_DECL(xor) OX_DECL(equal) OX_DECL(less) OX_DECL(greater) OX_DECL(less_equal) OX_DECL(greater_equal)
OX_DECL(mod) OX_DECL(bitshift) OX_DECL(max) OX_DECL(min) OX_DECL(sum) OX_DECL(mean) OX_DECL(floor) OX_DECL(ceil)
OX_DECL(round) OX_DECL(reciprocal) OX_DECL(sin) OX_DECL(cos) OX_DECL(tan) OX_DECL(asin) OX_DECL(acos) OX_DECL(atan)
OX_DECL(sinh) OX_DECL(cosh) OX_DECL(asinh) OX_DECL(acosh) OX_DECL(atanh) OX_DECL(erf) OX_DECL(softplus)
OX_DECL(softsign) OX_DECL(hardswish) OX_DECL(selu) OX_DECL(hard_sigmoid) OX_DECL(celu) OX_DECL(thresholded_relu)
OX_DECL(shrink) OX_DECL(neg) OX_DECL(abs) OX_DECL(sign) OX_DECL(not) OX_DECL(exp) OX_DECL(log) OX_DECL(sqrt)
OX_DECL(sigmoid) OX_DECL(tanh) OX_DECL(relu) OX_DECL(isnan) OX_DECL(isinf) OX_DECL(clip) OX_DECL(where)
OX_DECL(reduce_sum) OX_DECL(reduce_mean) OX_DECL(reduce_max) OX_DECL(reduce_min) OX_DECL(reduce_prod)
OX_DECL(reduce_l1) OX_DECL(reduce_l2) OX_DECL(reduce_log_sum) OX_DECL(reduce_log_sum_exp) OX_DECL(reduce_sum_square)
OX_DECL(argmax) OX_DECL(cumsum) OX_DECL(conv) OX_DECL(conv_transpose) OX_DECL(max_pool) OX_DECL(average_pool)
OX_DECL(global_max_pool) OX_DECL(global_average_pool) OX_DECL(batch_norm) OX_DECL(instance_norm) OX_DECL(layer_norm)
OX_DECL(gemm) OX_DECL(matmul) OX_DECL(leaky_relu) OX_DECL(elu) OX_DECL(prelu) OX_DECL(softmax) OX_DECL(log_softmax)
OX_DECL(hardmax) OX_DECL(dropout) OX_DECL(lrn) OX_DECL(nll_loss) OX_DECL(softmax_cross_entropy) OX_DECL(trilu)
OX_DECL(one_hot) OX_DECL(topk) OX_DECL(scatter_elements) OX_DECL(scatter_nd) OX_DECL(gather_nd) OX_DECL(nonzero)
OX_DECL(compress) OX_DECL(reverse_sequence) OX_DECL(eye_like) OX_DECL(mvn) OX_DECL(det) OX_DECL(quantize_linear)
OX_DECL(dequantize_linear) OX_DECL(dynamic_quantize_linear) OX_DECL(window) OX_DECL(rnn) OX_DECL(grid_sample)
OX_DECL(max_unpool) OX_DECL(roi_align) OX_DECL(einsum) OX_DECL(unique) OX_DECL(nms) OX_DECL(conv_integer)
OX_DECL(matmul_integer) OX_DECL(qlinear_matmul) OX_DECL(qlinear_conv) OX_DECL(dft) OX_DECL(stft)
#undef OX_DECL
/* the load-time checks of ops with conditions of their own (ops_*.c) */
OX_CHECK(grid_sample);
OX_CHECK(rnn);
OX_CHECK(loss);
OX_CHECK(pad);
OX_CHECK(constant);
OX_CHECK(cast);
OX_CHECK(resize);
OX_CHECK(autopad);
OX_CHECK(batchnorm);

/* ops_shape.c: row-major strides of shape into st; the data offset of element i of idx
 * (GatherElements, ScatterElements): idx's coordinates with the one on axis replaced by
 * the index it holds (negative from the end), each checked against x's shape. */
void ox_strides(int nd, const int64_t *shape, int64_t *st);
nb_status ox_elem_offset(ox_model *m, const ox_node *n, const nb_tensor *x, const nb_tensor *idx, int axis,
                         const int64_t *xs, const int64_t *is, int64_t i, int64_t *off);

/* ops_nn.c: Conv (2-D) + an eval-mode BatchNormalization (+ a residual Add of res, not
 * NULL) (+ Relu) as one convolution with nabla's epilogue, when no gradient is recorded:
 * 1 with out[0] set, 0 when the nodes do not fit (run them one by one), -1 on error. in:
 * the Conv's inputs, bnin the BatchNormalization's (the first, the Conv's output, is not
 * computed yet). bn NULL: a Conv (+ Add) (+ Relu) without one. */
int ox_conv_bn_fused(ox_model *m, const ox_node *conv, const ox_val *in, const ox_node *bn, const ox_val *bnin, int relu,
                     const nb_tensor *res, ox_val *out);

/* export.c: nb_onnx_save of nabla's own modules (through their to_onnx hooks) */
nb_status nb__onnx_export(nb_module *m, const char *path, const nb_onnx_save_opts *o);

/* head.c: the module vtable's head and features hooks of an imported graph */
nb_status nb__onnx_head(nb_module *m, char *name, size_t n);
nb_tensor *nb__onnx_features(nb_module *m, nb_tensor *x, nb_tensor **logits);

#endif
