/* The output length of a sliding window (ops/window.h). */
#include "ops/window.h"

int64_t nb__window_out(int64_t n, int64_t k, int64_t stride, int64_t pad_lo, int64_t pad_hi, int64_t dil, int ceil_mode)
{
    int64_t num = n + pad_lo + pad_hi - dil * (k - 1) - 1 + (ceil_mode ? stride - 1 : 0);
    int64_t q = num >= 0 ? num / stride : -((-num + stride - 1) / stride); /* floor division */
    int64_t out = q + 1;
    if (ceil_mode && (out - 1) * stride >= n + pad_lo) out--;
    return out > 0 ? out : 0;
}
