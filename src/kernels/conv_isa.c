/* conv_isa.c - conv_fast.c's and conv_pool.c's entry points (kernels/conv.h) calling the
 * copy compiled for the ISA core/isa.h chose: each is built three times (the Makefile's
 * ISA_SRC), as nb__conv2d_fast_*_avx512, _avx2 and _generic (conv_pool.c: nb__conv2d_pool_*). */
#include "core/isa.h"
#include "kernels/conv.h"
#include "kernels/conv_isa.h"

#include <stdlib.h>

static int g_direct = -1; /* -1: not read from the environment yet */

int nb__conv_fast_direct(void)
{
    if (g_direct < 0) {
        const char *e = getenv("NB_CONV_DIRECT");
        g_direct = !(e && e[0] == '0');
    }
    return g_direct;
}

void nb__conv_fast_set_direct(int on) { g_direct = on != 0; }

#define DISPATCH(call_avx512, call_avx2, call_generic)   \
    switch (nb__isa()) {                                  \
    case NB__ISA_AVX512: return call_avx512;              \
    case NB__ISA_AVX2: return call_avx2;                  \
    default: return call_generic;                         \
    }
#define DISPATCH_VOID(call_avx512, call_avx2, call_generic) \
    switch (nb__isa()) {                                     \
    case NB__ISA_AVX512: call_avx512; break;                 \
    case NB__ISA_AVX2: call_avx2; break;                     \
    default: call_generic; break;                            \
    }

int nb__conv2d_fast_ok(const nb__conv_shape *s)
{
    DISPATCH(nb__conv2d_fast_ok_avx512(s), nb__conv2d_fast_ok_avx2(s), nb__conv2d_fast_ok_generic(s))
}

int nb__conv2d_fast_fwd_ok(const nb__conv_shape *s)
{
    DISPATCH(nb__conv2d_fast_fwd_ok_avx512(s), nb__conv2d_fast_fwd_ok_avx2(s), nb__conv2d_fast_fwd_ok_generic(s))
}

size_t nb__conv2d_fast_scratch_fwd(const nb__conv_shape *s, int nt)
{
    DISPATCH(nb__conv2d_fast_scratch_fwd_avx512(s, nt), nb__conv2d_fast_scratch_fwd_avx2(s, nt),
             nb__conv2d_fast_scratch_fwd_generic(s, nt))
}

size_t nb__conv2d_fast_scratch_bwd_x(const nb__conv_shape *s, int nt)
{
    DISPATCH(nb__conv2d_fast_scratch_bwd_x_avx512(s, nt), nb__conv2d_fast_scratch_bwd_x_avx2(s, nt),
             nb__conv2d_fast_scratch_bwd_x_generic(s, nt))
}

size_t nb__conv2d_fast_scratch_bwd_w(const nb__conv_shape *s, int nt)
{
    DISPATCH(nb__conv2d_fast_scratch_bwd_w_avx512(s, nt), nb__conv2d_fast_scratch_bwd_w_avx2(s, nt),
             nb__conv2d_fast_scratch_bwd_w_generic(s, nt))
}

void nb__conv2d_fast_fwd(const nb__conv_shape *s, const float *x, const float *w, const nb__conv_epilogue *ep,
                         float *y, float *scratch, int nt)
{
    DISPATCH_VOID(nb__conv2d_fast_fwd_avx512(s, x, w, ep, y, scratch, nt),
             nb__conv2d_fast_fwd_avx2(s, x, w, ep, y, scratch, nt),
             nb__conv2d_fast_fwd_generic(s, x, w, ep, y, scratch, nt))
}

void nb__conv2d_fast_bwd_x(const nb__conv_shape *s, const float *dy, const float *w, float *dx, float *scratch,
                           int nt)
{
    DISPATCH_VOID(nb__conv2d_fast_bwd_x_avx512(s, dy, w, dx, scratch, nt),
             nb__conv2d_fast_bwd_x_avx2(s, dy, w, dx, scratch, nt),
             nb__conv2d_fast_bwd_x_generic(s, dy, w, dx, scratch, nt))
}

void nb__conv2d_fast_bwd_w(const nb__conv_shape *s, const float *x, const float *dy, float *dw, float *db,
                           float *scratch, int nt)
{
    DISPATCH_VOID(nb__conv2d_fast_bwd_w_avx512(s, x, dy, dw, db, scratch, nt),
             nb__conv2d_fast_bwd_w_avx2(s, x, dy, dw, db, scratch, nt),
             nb__conv2d_fast_bwd_w_generic(s, x, dy, dw, db, scratch, nt))
}

int nb__conv2d_pool_ok(const nb__conv_shape *s)
{
    DISPATCH(nb__conv2d_pool_ok_avx512(s), nb__conv2d_pool_ok_avx2(s), nb__conv2d_pool_ok_generic(s))
}

size_t nb__conv2d_pool_scratch(const nb__conv_shape *s, int nt)
{
    DISPATCH(nb__conv2d_pool_scratch_avx512(s, nt), nb__conv2d_pool_scratch_avx2(s, nt),
             nb__conv2d_pool_scratch_generic(s, nt))
}

void nb__conv2d_pool_fwd(const nb__conv_shape *s, const float *x, const float *w, const nb__conv_epilogue *ep,
                         float *y, float *scratch, int nt)
{
    DISPATCH_VOID(nb__conv2d_pool_fwd_avx512(s, x, w, ep, y, scratch, nt),
                  nb__conv2d_pool_fwd_avx2(s, x, w, ep, y, scratch, nt),
                  nb__conv2d_pool_fwd_generic(s, x, w, ep, y, scratch, nt))
}
