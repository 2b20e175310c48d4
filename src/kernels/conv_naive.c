/* conv_naive.c - the reference convolution: the definition written as loops,
 * summed in double. Tests compare the fast kernels with it.
 *   x (N, C, H, W), w (OC, C/G, KH, KW), b (OC), y (N, OC, OH, OW)
 *   y[n,o,i,j] = b[o] + Σ_{c,u,v} w[o,c,u,v] · x[n, g·Cg + c, i·sh - pt + u·dh, j·sw - pl + v·dw]
 * with g = o / OCg and x = 0 outside the image. */
#include "kernels/conv.h"

void nb__conv2d_naive_fwd(const nb__conv_shape *s, const float *x, const float *w, const float *b, float *y)
{
    int64_t Cg = s->C / s->G, OCg = s->OC / s->G;
    for (int64_t n = 0; n < s->N; n++)
        for (int64_t o = 0; o < s->OC; o++) {
            int64_t g = o / OCg;
            for (int64_t i = 0; i < s->OH; i++)
                for (int64_t j = 0; j < s->OW; j++) {
                    double acc = b ? b[o] : 0.0;
                    for (int64_t c = 0; c < Cg; c++)
                        for (int64_t u = 0; u < s->KH; u++) {
                            int64_t ih = i * s->sh - s->pt + u * s->dh;
                            if (ih < 0 || ih >= s->H) continue;
                            for (int64_t v = 0; v < s->KW; v++) {
                                int64_t iw = j * s->sw - s->pl + v * s->dw;
                                if (iw < 0 || iw >= s->W) continue;
                                acc += (double)w[((o * Cg + c) * s->KH + u) * s->KW + v] *
                                       x[((n * s->C + g * Cg + c) * s->H + ih) * s->W + iw];
                            }
                        }
                    y[((n * s->OC + o) * s->OH + i) * s->OW + j] = (float)acc;
                }
        }
}

void nb__conv2d_naive_bwd_x(const nb__conv_shape *s, const float *dy, const float *w, float *dx)
{
    int64_t Cg = s->C / s->G, OCg = s->OC / s->G;
    for (int64_t n = 0; n < s->N; n++)
        for (int64_t ci = 0; ci < s->C; ci++) {
            int64_t g = ci / Cg, c = ci % Cg;
            for (int64_t ih = 0; ih < s->H; ih++)
                for (int64_t iw = 0; iw < s->W; iw++) {
                    double acc = 0;
                    for (int64_t o = g * OCg; o < (g + 1) * OCg; o++)
                        for (int64_t u = 0; u < s->KH; u++) {
                            int64_t t = ih + s->pt - u * s->dh; /* = i·sh */
                            if (t < 0 || t % s->sh) continue;
                            int64_t i = t / s->sh;
                            if (i >= s->OH) continue;
                            for (int64_t v = 0; v < s->KW; v++) {
                                int64_t r = iw + s->pl - v * s->dw;
                                if (r < 0 || r % s->sw) continue;
                                int64_t j = r / s->sw;
                                if (j >= s->OW) continue;
                                acc += (double)w[((o * Cg + c) * s->KH + u) * s->KW + v] *
                                       dy[((n * s->OC + o) * s->OH + i) * s->OW + j];
                            }
                        }
                    dx[((n * s->C + ci) * s->H + ih) * s->W + iw] += (float)acc;
                }
        }
}

void nb__conv2d_naive_bwd_w(const nb__conv_shape *s, const float *x, const float *dy, float *dw)
{
    int64_t Cg = s->C / s->G, OCg = s->OC / s->G;
    for (int64_t o = 0; o < s->OC; o++) {
        int64_t g = o / OCg;
        for (int64_t c = 0; c < Cg; c++)
            for (int64_t u = 0; u < s->KH; u++)
                for (int64_t v = 0; v < s->KW; v++) {
                    double acc = 0;
                    for (int64_t n = 0; n < s->N; n++)
                        for (int64_t i = 0; i < s->OH; i++) {
                            int64_t ih = i * s->sh - s->pt + u * s->dh;
                            if (ih < 0 || ih >= s->H) continue;
                            for (int64_t j = 0; j < s->OW; j++) {
                                int64_t iw = j * s->sw - s->pl + v * s->dw;
                                if (iw < 0 || iw >= s->W) continue;
                                acc += (double)dy[((n * s->OC + o) * s->OH + i) * s->OW + j] *
                                       x[((n * s->C + g * Cg + c) * s->H + ih) * s->W + iw];
                            }
                        }
                    dw[((o * Cg + c) * s->KH + u) * s->KW + v] += (float)acc;
                }
    }
}

void nb__conv2d_naive_bwd_b(const nb__conv_shape *s, const float *dy, float *db)
{
    int64_t P = s->OH * s->OW;
    for (int64_t o = 0; o < s->OC; o++) {
        double acc = 0;
        for (int64_t n = 0; n < s->N; n++)
            for (int64_t p = 0; p < P; p++) acc += dy[(n * s->OC + o) * P + p];
        db[o] += (float)acc;
    }
}
