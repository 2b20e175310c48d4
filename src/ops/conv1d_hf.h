/* conv1d_hf.h - Hugging Face's Conv1D op (src/ops/conv1d_hf.c). */
#ifndef NB_OPS_CONV1D_HF_H
#define NB_OPS_CONV1D_HF_H
#include "nabla.h"

/* y = x·W + b with W stored (in, out), the transpose of Linear's. x (..., in), w (in, out),
 * b (out) or NULL. */
nb_tensor *nb__conv1d_hf(nb_tensor *x, nb_tensor *w, nb_tensor *b);

/* The output of an affine map of x (..., in) with O outputs (Linear's and Conv1D's): x's
 * shape with its last dim O, unset (the caller's GEMM fills it, bias first:
 * nb__sgemm_bias). NULL on error. (matmul.c) */
nb_tensor *nb__affine_out(nb_tensor *x, int64_t O);
#endif
