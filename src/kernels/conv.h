/* conv.h - convolution and pooling kernels: plain functions with explicit shapes.
 *
 * Layouts (all row-major, contiguous):
 *   x  (N, C, H, W)            input
 *   w  (OC, C/G, KH, KW)       weight, G = groups
 *   b  (OC)                    bias
 *   y  (N, OC, OH, OW)         output
 * Gradients have the shape of what they belong to. Backward kernels ADD into
 * their output (dx, dw, db), as autograd accumulates.
 *
 * Families (one file each):
 *   conv_naive.c  reference loops in double, for tests and as the definition;
 *   im2col.c      im2col/col2im and the im2col + sgemm convolution (any shape);
 *   conv_fast.c   stride-1 convolution on zero-padded planes with AVX-512
 *                 micro-kernels (forward, input and weight gradients); on AVX-512 the
 *                 forward and input gradient read the planes in place (masked loads);
 *   conv_batch.c  im2col of a chunk of images side by side and one sgemm over it
 *                 (small output planes, strided and 1x1 layers in training);
 *   conv_small.c  a few images on small output planes: transposed im2col and dot
 *                 products with the weights in place (batch-1 inference);
 *   conv_pool.c   inference: stride-1 convolution + epilogue + 2x2 max pool in one
 *                 pass, output channels along the vectors (the cnn's blocks);
 *   pool.c        max/avg/adaptive pooling, forward and backward.
 */
#ifndef NB_KERNELS_CONV_H
#define NB_KERNELS_CONV_H

#include <stddef.h>
#include <stdint.h>

/* Everything a convolution kernel needs to know. Padding is given for the top
 * and left; the bottom/right padding follows from OH, OW
 * (pb = (OH-1)·sh + (KH-1)·dh + 1 - H - pt, may differ from pt for "same"). */
typedef struct {
    int64_t N, C, H, W;    /* input */
    int64_t OC, KH, KW;    /* weight (OC, C/G, KH, KW) */
    int64_t OH, OW;        /* output */
    int64_t sh, sw;        /* stride */
    int64_t dh, dw;        /* dilation */
    int64_t pt, pl;        /* top and left zero padding (may be negative: a crop) */
    int64_t G;             /* groups */
} nb__conv_shape;

/* An elementwise epilogue applied per output channel oc after the sum:
 * v = sum·scale[oc] + shift[oc] (NULL: 1 and 0), then max(v, 0) if relu;
 * accumulate: y += v instead of y = v. residual (conv_fast.c's forward only; y's
 * layout): v = max(sum·scale + shift + residual, 0) with relu (an inference residual
 * block's Add and ReLU). */
typedef struct {
    const float *scale, *shift;
    int relu;
    int accumulate;
    const float *residual;
} nb__conv_epilogue;

/* The output columns j whose input column j·stride + off lies in [0, W), of OW:
 * [*j0, *j1) (empty: *j0 == *j1). */
static inline void nb__valid_range(int64_t off, int64_t stride, int64_t W, int64_t OW, int64_t *j0, int64_t *j1)
{
    int64_t a = off >= 0 ? 0 : (-off + stride - 1) / stride;
    int64_t b = W - off <= 0 ? 0 : (W - off + stride - 1) / stride;
    if (a > OW) a = OW;
    if (b > OW) b = OW;
    if (b < a) b = a;
    *j0 = a;
    *j1 = b;
}

/* ---- conv_naive.c ---- */
void nb__conv2d_naive_fwd(const nb__conv_shape *s, const float *x, const float *w, const float *b, float *y);
void nb__conv2d_naive_bwd_x(const nb__conv_shape *s, const float *dy, const float *w, float *dx);
void nb__conv2d_naive_bwd_w(const nb__conv_shape *s, const float *x, const float *dy, float *dw);
void nb__conv2d_naive_bwd_b(const nb__conv_shape *s, const float *dy, float *db);

/* ---- im2col.c ---- */
/* col (C/G·KH·KW, OH·OW) of group g of one image x_img (C, H, W). */
void nb__im2col(const nb__conv_shape *s, const float *x_img, int64_t g, float *col);
/* dx_img (C, H, W) += the scatter of col back (the adjoint of nb__im2col). */
void nb__col2im(const nb__conv_shape *s, const float *col, int64_t g, float *dx_img);
/* Floats of scratch the im2col convolution needs (one col buffer). */
size_t nb__conv2d_gemm_scratch(const nb__conv_shape *s);
/* y = conv(x, w) + b through im2col and nb__sgemm (threaded inside). */
void nb__conv2d_gemm_fwd(const nb__conv_shape *s, const float *x, const float *w, const float *b, float *y,
                         float *scratch);
/* y = epilogue(conv(x, w)) for batches smaller than the team (batch-1 inference): the
 * output rows of each image split over nt threads (nt > 1), each thread making its own
 * columns of col, their product and their epilogue; the bias goes in ep->shift. */
void nb__conv2d_gemm_fwd_split(const nb__conv_shape *s, const float *x, const float *w, const nb__conv_epilogue *ep,
                               float *y, float *scratch, int nt);
/* y (N, OC, P) = epilogue(y) in place, one pass (ep->accumulate is not used here). */
void nb__conv_epilogue_apply(const nb__conv_epilogue *ep, float *y, int64_t N, int64_t OC, int64_t P);
void nb__conv2d_gemm_bwd_x(const nb__conv_shape *s, const float *dy, const float *w, float *dx, float *scratch);
void nb__conv2d_gemm_bwd_w(const nb__conv_shape *s, const float *x, const float *dy, float *dw, float *scratch);

/* ---- conv_small.c: y = epilogue(conv) (no residual) with the weights read in place;
 * for N·OH·OW up to 28 output positions ---- */
size_t nb__conv2d_small_scratch(const nb__conv_shape *s); /* floats */
void nb__conv2d_small_fwd(const nb__conv_shape *s, const float *x, const float *w, const nb__conv_epilogue *ep,
                          float *y, float *scratch);

/* ---- conv_fast.c (stride 1, any padding, dilation and groups; the forward also strides
 * up to 4) ---- */
/* Whether the fast kernels handle this shape (stride 1, sizes that fit int32 offsets). */
int nb__conv2d_fast_ok(const nb__conv_shape *s);
/* Whether nb__conv2d_fast_fwd handles it (strides 1 to 4). */
int nb__conv2d_fast_fwd_ok(const nb__conv_shape *s);
/* Floats of scratch for forward (fwd), input gradient (bwd_x) and weight/bias
 * gradient (bwd_w) with nthreads threads. */
size_t nb__conv2d_fast_scratch_fwd(const nb__conv_shape *s, int nthreads);
size_t nb__conv2d_fast_scratch_bwd_x(const nb__conv_shape *s, int nthreads);
size_t nb__conv2d_fast_scratch_bwd_w(const nb__conv_shape *s, int nthreads);
/* y (=|+=) epilogue(conv(x, w)). */
void nb__conv2d_fast_fwd(const nb__conv_shape *s, const float *x, const float *w, const nb__conv_epilogue *ep,
                         float *y, float *scratch, int nthreads);
/* Whether the forward and input-gradient kernels read the input planes in place with
 * masked loads (AVX-512, stride 1, OW <= W) instead of a zero-padded copy: the same
 * results bit for bit. On unless NB_CONV_DIRECT=0 in the environment; tests and
 * benchmarks switch it with nb__conv_fast_set_direct (not thread-safe: between calls). */
int nb__conv_fast_direct(void);
void nb__conv_fast_set_direct(int on);
/* dx += conv_transpose(dy, w) */
void nb__conv2d_fast_bwd_x(const nb__conv_shape *s, const float *dy, const float *w, float *dx, float *scratch,
                           int nthreads);
/* dw += Σ dy ⋆ x, db += Σ dy (db may be NULL; dw may be NULL when only db is wanted) */
void nb__conv2d_fast_bwd_w(const nb__conv_shape *s, const float *x, const float *dy, float *dw, float *db,
                           float *scratch, int nthreads);

/* ---- conv_pool.c: y (N, OC, OH/2, OW/2) = the 2x2 stride-2 max pool of epilogue(conv)
 * (ep->scale, ep->shift with the bias folded in, ep->relu; no residual, no accumulate) ---- */
/* Whether nb__conv2d_pool_fwd handles s (stride 1, dilation 1, groups 1, OH and OW >= 2,
 * sizes that fit int32 offsets). */
int nb__conv2d_pool_ok(const nb__conv_shape *s);
size_t nb__conv2d_pool_scratch(const nb__conv_shape *s, int nthreads); /* floats */
void nb__conv2d_pool_fwd(const nb__conv_shape *s, const float *x, const float *w, const nb__conv_epilogue *ep,
                         float *y, float *scratch, int nthreads);

/* ---- conv_batch.c (any stride, padding, dilation and groups) ---- */
/* Images per chunk (col of the chunk at most 2^21 floats unless one image needs more). */
int64_t nb__conv2d_batch_images(const nb__conv_shape *s);
/* Floats of scratch for nb__conv2d_batch_fwd and nb__conv2d_batch_bwd. */
size_t nb__conv2d_batch_scratch(const nb__conv_shape *s);
/* y = epilogue(conv(x, w)) (ep may be NULL; the bias goes in ep->shift; ep->accumulate unused). */
void nb__conv2d_batch_fwd(const nb__conv_shape *s, const float *x, const float *w, const nb__conv_epilogue *ep,
                          float *y, float *scratch);
/* dx += conv_transpose(dy, w), dw += Σ dy ⋆ x, db += Σ dy; any of dx, dw, db may be NULL. */
void nb__conv2d_batch_bwd(const nb__conv_shape *s, const float *x, const float *w, const float *dy, float *dx,
                          float *dw, float *db, float *scratch);

/* ---- pool.c ---- */
typedef struct {
    int64_t N, C, H, W;    /* input (N·C planes) */
    int64_t OH, OW;        /* output */
    int64_t kh, kw, sh, sw, ph, pw, dh, dw;
    int exclude_pad;       /* avg: count_include_pad=False */
    int64_t divisor;       /* avg: divisor_override, 0 for none */
} nb__pool_shape;

/* y (N, C, OH, OW); idx (same shape) receives the flat h·W+w index of each
 * maximum in its plane (-1 for a window with no input element), or is NULL. */
void nb__max_pool2d_fwd(const nb__pool_shape *s, const float *x, float *y, int32_t *idx);
/* dx += dy scattered to idx */
void nb__max_pool2d_bwd(const nb__pool_shape *s, const float *dy, const int32_t *idx, float *dx);
void nb__avg_pool2d_fwd(const nb__pool_shape *s, const float *x, float *y);
void nb__avg_pool2d_bwd(const nb__pool_shape *s, const float *dy, float *dx);
/* adaptive average pooling: s->OH, s->OW set; other fields ignored */
void nb__adaptive_avg_pool2d_fwd(const nb__pool_shape *s, const float *x, float *y);
void nb__adaptive_avg_pool2d_bwd(const nb__pool_shape *s, const float *dy, float *dx);
/* Adaptive average pooling as the matrix P of one plane (H, W) -> (OH, OW), on the
 * s->N·s->C planes, for a Linear that follows the pool (ops/pool_linear.c); win is
 * scratch for 2·(OH + OW) int64 (the windows). Every result stays in float32 with the
 * window's divisor as the pool's.
 *   fold: y (planes, H, W) = Pᵀ x (planes, OH, OW), each value of x divided by its
 *         window's size and summed into the window (the pool's backward, into zeros);
 *   acc:  y (planes, OH, OW) += P x (planes, H, W) (the pool's forward, added). */
void nb__adaptive_avg_pool2d_fold(const nb__pool_shape *s, const float *x, float *y, int64_t *win);
void nb__adaptive_avg_pool2d_acc(const nb__pool_shape *s, const float *x, float *y, int64_t *win);

#endif
