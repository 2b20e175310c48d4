/* init.c - torch.nn.init: gains, fans, uniform/normal/constant, Xavier, Kaiming, orthogonal.
 * Every random draw comes from the nb_rng passed in. */
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

float nb_calculate_gain(nb_nonlinearity nl, float param)
{
    switch (nl) {
    case NB_GAIN_TANH: return 5.0f / 3.0f;
    case NB_GAIN_RELU: return sqrtf(2.0f);
    case NB_GAIN_LEAKY_RELU: return sqrtf(2.0f / (1.0f + param * param));
    case NB_GAIN_SELU: return 0.75f;
    default: return 1.0f; /* linear, conv, sigmoid */
    }
}

nb_status nb_init_fans(const nb_tensor *t, int64_t *fan_in, int64_t *fan_out)
{
    if (!t || t->ndim < 2) {
        return nb__fail(NB_ERR_SHAPE, "fan in and fan out cannot be computed for a tensor with fewer than 2 dimensions");
    }
    int64_t rf = 1;
    for (int i = 2; i < t->ndim; i++) rf *= t->shape[i];
    *fan_in = t->shape[1] * rf;
    *fan_out = t->shape[0] * rf;
    return NB_OK;
}

static nb_status check_f32(const nb_tensor *t, const char *what)
{
    if (!t || t->dtype != NB_F32) return nb__fail(NB_ERR_ARG, "%s: needs an F32 tensor", what);
    return NB_OK;
}

nb_status nb_init_uniform(nb_tensor *t, float a, float b, nb_rng *r)
{
    if (check_f32(t, "init uniform")) return NB_ERR_ARG;
    float *d = nb__f(t);
    for (int64_t i = 0; i < t->numel; i++) d[i] = a + (b - a) * nb_rng_uniform(r);
    return NB_OK;
}

nb_status nb_init_normal(nb_tensor *t, float mean, float std, nb_rng *r)
{
    if (check_f32(t, "init normal")) return NB_ERR_ARG;
    float *d = nb__f(t);
    for (int64_t i = 0; i < t->numel; i++) d[i] = mean + std * nb_rng_normal(r);
    return NB_OK;
}

nb_status nb_init_constant(nb_tensor *t, float v)
{
    if (check_f32(t, "init constant")) return NB_ERR_ARG;
    float *d = nb__f(t);
    for (int64_t i = 0; i < t->numel; i++) d[i] = v;
    return NB_OK;
}

nb_status nb_init_zeros(nb_tensor *t) { return nb_init_constant(t, 0.0f); }

nb_status nb_init_xavier_uniform(nb_tensor *t, float gain, nb_rng *r)
{
    int64_t fi, fo;
    if (nb_init_fans(t, &fi, &fo)) return NB_ERR_SHAPE;
    float a = gain * sqrtf(6.0f / (float)(fi + fo));
    return nb_init_uniform(t, -a, a, r);
}

nb_status nb_init_xavier_normal(nb_tensor *t, float gain, nb_rng *r)
{
    int64_t fi, fo;
    if (nb_init_fans(t, &fi, &fo)) return NB_ERR_SHAPE;
    return nb_init_normal(t, 0.0f, gain * sqrtf(2.0f / (float)(fi + fo)), r);
}

/* std = gain / sqrt(fan), gain from nl with slope a (torch: a=0 leaky_relu gives sqrt(2)) */
static nb_status kaiming_std(const nb_tensor *t, float a, nb_fan_mode mode, nb_nonlinearity nl, float *std)
{
    int64_t fi, fo;
    if (nb_init_fans(t, &fi, &fo)) return NB_ERR_SHAPE;
    int64_t fan = mode == NB_FAN_OUT ? fo : fi;
    if (fan == 0) return nb__fail(NB_ERR_SHAPE, "kaiming init of a tensor with zero elements");
    *std = nb_calculate_gain(nl, a) / sqrtf((float)fan);
    return NB_OK;
}

nb_status nb_init_kaiming_uniform(nb_tensor *t, float a, nb_fan_mode mode, nb_nonlinearity nl, nb_rng *r)
{
    float std = 0;
    if (kaiming_std(t, a, mode, nl, &std)) return NB_ERR_SHAPE;
    float bound = sqrtf(3.0f) * std;
    return nb_init_uniform(t, -bound, bound, r);
}

nb_status nb_init_kaiming_normal(nb_tensor *t, float a, nb_fan_mode mode, nb_nonlinearity nl, nb_rng *r)
{
    float std = 0;
    if (kaiming_std(t, a, mode, nl, &std)) return NB_ERR_SHAPE;
    return nb_init_normal(t, 0.0f, std, r);
}

nb_status nb_init_orthogonal(nb_tensor *t, float gain, nb_rng *r)
{
    if (check_f32(t, "init orthogonal")) return NB_ERR_ARG;
    if (t->ndim < 2) return nb__fail(NB_ERR_SHAPE, "orthogonal init needs a tensor with at least 2 dimensions");
    int64_t rows = t->shape[0], cols = t->numel / (rows ? rows : 1);
    if (rows == 0 || cols == 0) return NB_OK;
    int transpose = rows < cols;
    int m = (int)(transpose ? cols : rows), n = (int)(transpose ? rows : cols);
    double *A = malloc(sizeof(double) * (size_t)m * n), *v = malloc(sizeof(double) * (size_t)m),
           *d = malloc(sizeof(double) * (size_t)n), *Q = malloc(sizeof(double) * (size_t)m * n),
           *H = malloc(sizeof(double) * (size_t)m * n);
    if (!A || !v || !d || !Q || !H) {
        free(A), free(v), free(d), free(Q), free(H);
        return nb__fail(NB_ERR_MEM, "out of memory in orthogonal init");
    }
    /* flattened = normal(rows, cols); if rows < cols it is transposed: A (m x n) */
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++) {
            double x = nb_rng_normal(r);
            if (transpose) A[(size_t)j * n + (size_t)i] = x;
            else A[(size_t)i * n + (size_t)j] = x;
        }
    /* Householder: reduce A to R in place, keeping the reflectors in H (column k: v_k, normalised) */
    memset(H, 0, sizeof(double) * (size_t)m * n);
    for (int k = 0; k < n; k++) {
        double norm = 0;
        for (int i = k; i < m; i++) norm += A[(size_t)i * n + k] * A[(size_t)i * n + k];
        norm = sqrt(norm);
        double alpha = A[(size_t)k * n + k] > 0 ? -norm : norm;
        double vn = 0;
        for (int i = k; i < m; i++) {
            v[i] = A[(size_t)i * n + k] - (i == k ? alpha : 0);
            vn += v[i] * v[i];
        }
        vn = sqrt(vn);
        for (int i = k; i < m; i++) H[(size_t)i * n + k] = vn > 0 ? v[i] / vn : 0;
        for (int j = k; j < n; j++) { /* A <- (I - 2 h hᵀ) A */
            double dot = 0;
            for (int i = k; i < m; i++) dot += H[(size_t)i * n + k] * A[(size_t)i * n + j];
            for (int i = k; i < m; i++) A[(size_t)i * n + j] -= 2 * dot * H[(size_t)i * n + k];
        }
        d[k] = A[(size_t)k * n + k];
    }
    /* Q = H_0 ... H_{n-1} [I_n; 0]: apply reflectors in reverse to the identity columns */
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) Q[(size_t)i * n + j] = i == j;
    for (int k = n - 1; k >= 0; k--)
        for (int j = 0; j < n; j++) {
            double dot = 0;
            for (int i = k; i < m; i++) dot += H[(size_t)i * n + k] * Q[(size_t)i * n + j];
            for (int i = k; i < m; i++) Q[(size_t)i * n + j] -= 2 * dot * H[(size_t)i * n + k];
        }
    /* Q *= sign(diag(R)); then transpose back and scale */
    float *out = nb__f(t);
    for (int j = 0; j < n; j++) {
        double s = d[j] > 0 ? 1.0 : d[j] < 0 ? -1.0 : 0.0;
        for (int i = 0; i < m; i++) Q[(size_t)i * n + j] *= s;
    }
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++)
            out[i * cols + j] = (float)(gain * (transpose ? Q[(size_t)j * n + (size_t)i] : Q[(size_t)i * n + (size_t)j]));
    free(A), free(v), free(d), free(Q), free(H);
    return NB_OK;
}
