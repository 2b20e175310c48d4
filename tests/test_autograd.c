/* test_autograd.c - the tape: gradients of a small graph against hand-derived
 * values, accumulation until zeroed, no-grad mode, a consumed graph, views,
 * NULL propagation, the arena reaching a fixed size, and intermediate gradients given
 * back for reuse once their node has run. */
#include "check.h"
#include "nabla.h"

static nb_tensor *vec(nb_ctx *c, int n, const float *v)
{
    return nb_tensor_from(c, NB_F32, 1, (int64_t[]){n}, v);
}

int main(void)
{
    nb_ctx *c = nb_ctx_new(&(nb_ctx_opts){.seed = 1, .threads = 1});
    float av[3] = {1, -2, 3}, bv[3] = {0.5f, 4, -1};
    nb_tensor *a = vec(c, 3, av), *b = vec(c, 3, bv);
    nb_tensor_set_requires_grad(a, 1);
    nb_tensor_set_requires_grad(b, 1);

    /* L = sum(a*b + a^2) -> dL/da = b + 2a, dL/db = a */
    nb_tensor *L = nb_sum(nb_add(nb_mul(a, b), nb_square(a)));
    CHECK("forward value", L && fabsf(nb_tensor_item(L) - (0.5f - 8 - 3 + 1 + 4 + 9)) < 1e-6f, "got %g",
          L ? nb_tensor_item(L) : -1);
    CHECK("backward status", nb_backward(L) == NB_OK, "%s", nb_last_error());
    float ga[3] = {0.5f + 2, 4 - 4, -1 + 6};
    CHECK_CLOSE("grad a", nb_tensor_grad(a), ga, 3, 1e-6);
    CHECK_CLOSE("grad b", nb_tensor_grad(b), av, 3, 1e-6);

    /* a second backward of the same graph is refused */
    CHECK("graph consumed", nb_backward(L) == NB_ERR_STATE, "status %d", nb_backward(L));

    /* gradients accumulate until zeroed */
    nb_ctx_reset(c);
    L = nb_sum(nb_mul(a, b));
    nb_backward(L);
    float acc[3] = {ga[0] + bv[0], ga[1] + bv[1], ga[2] + bv[2]};
    CHECK_CLOSE("grads accumulate", nb_tensor_grad(a), acc, 3, 1e-6);
    nb_tensor_zero_grad(a);
    nb_tensor_zero_grad(b);
    float zero[3] = {0, 0, 0};
    CHECK_CLOSE("zero_grad", nb_tensor_grad(a), zero, 3, 0);

    /* a value used twice gets both contributions; reshape/transposed views pass gradients */
    nb_ctx_reset(c);
    nb_tensor *r = nb_reshape(a, 2, (int64_t[]){3, 1});
    nb_tensor *t = nb_transpose(r, 0, 1); /* (1,3) */
    L = nb_sum(nb_mul(nb_flatten(t, 0, -1), a));
    nb_backward(L);
    float two_a[3] = {2, -4, 6};
    CHECK_CLOSE("shared input through views", nb_tensor_grad(a), two_a, 3, 1e-6);

    /* no-grad mode records nothing */
    nb_ctx_reset(c);
    nb_set_grad_enabled(c, 0);
    L = nb_sum(nb_mul(a, b));
    CHECK("no_grad output does not require grad", L && !nb_tensor_requires_grad(L), "it does");
    CHECK("backward without graph fails", nb_backward(L) == NB_ERR_STATE, "%s", nb_last_error());
    nb_set_grad_enabled(c, 1);

    /* an error in the middle of a chain propagates NULL and keeps the first message */
    nb_ctx_reset(c);
    nb_tensor *m = nb_tensor_new(c, NB_F32, 2, (int64_t[]){2, 3});
    nb_tensor *two = vec(c, 2, av);
    nb_tensor *bad = nb_sum(nb_relu(nb_add(m, two)));
    nb_tensor_free(two);
    CHECK("shape error propagates", bad == NULL && strstr(nb_last_error(), "[2, 3]") && strstr(nb_last_error(), "[2]"),
          "msg: %s", nb_last_error());
    CHECK("backward of NULL is an error", nb_backward(NULL) == NB_ERR_ARG, "status");

    /* broadcasting backward reduces over repeated dims */
    nb_ctx_reset(c);
    nb_tensor_set_requires_grad(m, 1);
    nb_tensor *row = vec(c, 3, bv);
    nb_tensor_set_requires_grad(row, 1);
    L = nb_sum(nb_mul(m, row));
    nb_backward(L);
    float zero3[3] = {0, 0, 0};
    CHECK_CLOSE("broadcast grad of zeros matrix", nb_tensor_grad(row), zero3, 3, 0);
    float mg[6] = {0.5f, 4, -1, 0.5f, 4, -1};
    CHECK_CLOSE("broadcast grad of the big side", nb_tensor_grad(m), mg, 6, 1e-6);

    /* the arena grows during the first steps, then stays put */
    nb_tensor *w = nb_tensor_new(c, NB_F32, 2, (int64_t[]){64, 100});
    nb_tensor_set_requires_grad(w, 1);
    nb_tensor *x = nb_tensor_new(c, NB_F32, 2, (int64_t[]){32, 100});
    size_t mallocs_after_warmup = 0, bytes_after_warmup = 0;
    for (int step = 0; step < 200; step++) {
        nb_ctx_reset(c);
        nb_tensor *y = nb_relu(nb_linear(x, w, NULL));
        nb_backward(nb_mean(nb_square(y)));
        if (step == 4) {
            mallocs_after_warmup = nb_ctx_arena_mallocs(c);
            bytes_after_warmup = nb_ctx_arena_bytes(c);
        }
    }
    CHECK("arena makes no allocation after warm-up", nb_ctx_arena_mallocs(c) == mallocs_after_warmup,
          "%zu -> %zu", mallocs_after_warmup, nb_ctx_arena_mallocs(c));
    CHECK("arena size flat", nb_ctx_arena_bytes(c) == bytes_after_warmup, "%zu -> %zu", bytes_after_warmup,
          nb_ctx_arena_bytes(c));

    /* a module's parameter array stays valid across state/num_params/save calls,
     * and is rebuilt when a parameter is frozen */
    nb_module *mlp = nb_model_new(c, "mlp", NULL);
    int np1, np2, np3, ns;
    nb_tensor **p1 = nb_module_parameters(mlp, &np1);
    nb_tensor *first = p1[0];
    int64_t total = nb_module_num_params(mlp);
    nb_module_state(mlp, &ns);
    nb_tensor **p2 = nb_module_parameters(mlp, &np2);
    CHECK("parameter array kept while the module is unchanged", p2 == p1 && np2 == np1 && p1[0] == first &&
          total == 784 * 512 + 512 + 512 * 256 + 256 + 256 * 10 + 10, "%p %p %d %d", (void *)p1, (void *)p2, np1, np2);
    nb_tensor_set_requires_grad(first, 0);
    nb_tensor **p3 = nb_module_parameters(mlp, &np3);
    CHECK("a frozen parameter leaves the array", np3 == np1 - 1 && p3[0] != first, "%d -> %d", np1, np3);
    nb_module_free(mlp);

    /* intermediate gradients are given back once their node has run: none is kept (NULL,
     * as PyTorch's .grad of a non-leaf), the leaf's is right, and a chain of 40 same-size
     * ops needs far less arena than 40 activations and 40 gradients */
    {
        nb_ctx *c2 = nb_ctx_new(&(nb_ctx_opts){.seed = 1, .threads = 1});
        enum { LEN = 1 << 16, DEPTH = 40 };
        nb_tensor *v = nb_tensor_new(c2, NB_F32, 1, (int64_t[]){LEN});
        float *vd = nb_tensor_data(v);
        for (int i = 0; i < LEN; i++) vd[i] = (float)(i % 7) * 0.01f;
        nb_tensor_set_requires_grad(v, 1);
        nb_tensor *mid[DEPTH];
        int kept = 0, same = 1;
        for (int step = 0; step < 3; step++) {
            nb_ctx_reset(c2);
            nb_tensor_zero_grad(v);
            nb_tensor *h = v;
            for (int d = 0; d < DEPTH; d++) h = mid[d] = nb_mul_scalar(h, 1.01f);
            if (nb_backward(nb_sum(h))) break;
            kept = 0;
            for (int d = 0; d < DEPTH; d++) kept += nb_tensor_grad(mid[d]) != NULL;
        }
        float want = 1.0f;
        for (int d = 0; d < DEPTH; d++) want *= 1.01f;
        const float *gv = nb_tensor_grad(v);
        for (int i = 0; gv && i < LEN; i++) same &= gv[i] == gv[0];
        CHECK("intermediate gradients are given back after their node (none kept)", kept == 0, "%d kept", kept);
        CHECK("the leaf's gradient through 40 ops with reused gradient blocks", gv && same && fabsf(gv[0] - want) < 1e-5f,
              "got %g, want %g", gv ? gv[0] : -1.0f, want);
        size_t act = (size_t)DEPTH * LEN * sizeof(float);
        CHECK("a 40-op chain's arena holds its activations and a few gradients, not 40", nb_ctx_arena_bytes(c2) < act * 2,
              "%zu bytes for %zu of activations", nb_ctx_arena_bytes(c2), act);
        nb_tensor_free(v);
        nb_ctx_free(c2);
    }

    nb_tensor_free(w);
    nb_tensor_free(x);
    nb_tensor_free(m);
    nb_tensor_free(row);
    nb_tensor_free(a);
    nb_tensor_free(b);
    nb_ctx_free(c);
    CHECK_DONE();
}
