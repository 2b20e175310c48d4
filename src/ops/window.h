/* window.h - the output length of a sliding window (convolution, pooling): one formula
 * for the ops (ops/conv2d.c, ops/pool.c) and for shape inference (model files, ONNX). */
#ifndef NB_OPS_WINDOW_H
#define NB_OPS_WINDOW_H

#include <stdint.h>

/* Windows of k taps spaced dil apart, stride apart, over n positions padded by pad_lo
 * before and pad_hi after: PyTorch's pooling_output_shape,
 * floor((n + pad_lo + pad_hi - dil*(k-1) - 1 + (ceil_mode ? stride-1 : 0)) / stride) + 1,
 * less the last window under ceil_mode when it would start in the padding after;
 * 0 when no window fits. stride >= 1. */
int64_t nb__window_out(int64_t n, int64_t k, int64_t stride, int64_t pad_lo, int64_t pad_hi, int64_t dil, int ceil_mode);

#endif
