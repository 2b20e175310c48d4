/* test_window.c - one output-size function per window layer (ops/window.h): the values of
 * PyTorch's formula, and model files' shape inference agreeing with the ops (conv2d,
 * maxpool2d, avgpool2d) over a grid of sizes, strides, paddings, dilations and ceil_mode. */
#include "check.h"
#include "nabla.h"
#include "ops/window.h"

static nb_ctx *ctx;

/* Values from torch 1.13: nn.MaxPool2d / nn.Conv2d output sizes. */
static void test_formula(void)
{
    /* MaxPool2d(2, ceil_mode=True) on width 3: 2 (the last window starts inside the input) */
    CHECK("ceil_mode keeps a window that starts in the input", nb__window_out(3, 2, 2, 0, 0, 1, 1) == 2, "%lld",
          (long long)nb__window_out(3, 2, 2, 0, 0, 1, 1));
    /* ... and on height 1: 1 (the padded input is shorter than the window) */
    CHECK("ceil_mode: one window over a 1-pixel input", nb__window_out(1, 2, 2, 0, 0, 1, 1) == 1, "%lld",
          (long long)nb__window_out(1, 2, 2, 0, 0, 1, 1));
    /* MaxPool2d(2, stride=2, padding=1, ceil_mode=True) on 5: 4 windows, the last starting in the padding -> 3 */
    CHECK("ceil_mode drops a window starting in the padding", nb__window_out(5, 2, 2, 1, 1, 1, 1) == 3, "%lld",
          (long long)nb__window_out(5, 2, 2, 1, 1, 1, 1));
    /* AvgPool2d(3, stride=2, padding=1, ceil_mode=True) on 6: 4 (the last starts at 5, inside) */
    CHECK("ceil_mode keeps a window starting at the last pixel", nb__window_out(6, 3, 2, 1, 1, 1, 1) == 4, "%lld",
          (long long)nb__window_out(6, 3, 2, 1, 1, 1, 1));
    /* Conv2d(k=3, stride=2, padding=1, dilation=2) on 7: floor((7+2-4-1)/2)+1 = 3 */
    CHECK("dilated strided window", nb__window_out(7, 3, 2, 1, 1, 2, 0) == 3, "%lld",
          (long long)nb__window_out(7, 3, 2, 1, 1, 2, 0));
    CHECK("no window fits: 0", nb__window_out(2, 5, 1, 0, 0, 1, 0) == 0 && nb__window_out(1, 9, 3, 0, 0, 2, 0) == 0,
          "%lld", (long long)nb__window_out(1, 9, 3, 0, 0, 1, 0));
    /* padding='same' with an even kernel: 1 before, 2 after (PyTorch puts the odd one last) */
    CHECK("asymmetric padding", nb__window_out(5, 4, 1, 1, 2, 1, 0) == 5, "%lld",
          (long long)nb__window_out(5, 4, 1, 1, 2, 1, 0));
}

/* The model file's inferred output shape equals the op's, or both refuse. */
static int agree(const char *layer, int64_t h, int64_t w, char *why, size_t n)
{
    char text[256];
    snprintf(text, sizeof text, "input(2, %lld, %lld)\n%s\n", (long long)h, (long long)w, layer);
    nb_model_summary sum;
    nb_module *m = nb_model_file_parse(ctx, text, &(nb_model_file_opts){.summary = &sum});
    nb_tensor *x = nb_tensor_new(ctx, NB_F32, 4, (int64_t[]){1, 2, h, w});
    nb_tensor *y = m ? nb_module_forward(m, x) : NULL;
    int ok;
    if (!m) {
        /* the file found no window: the op must refuse that input too (the model built
         * for a larger input, then run on this one) */
        if (!strstr(nb_last_error(), "empty output")) {
            snprintf(why, n, "%s on %lldx%lld: %s", layer, (long long)h, (long long)w, nb_last_error());
            nb_tensor_free(x);
            return 0;
        }
        snprintf(text, sizeof text, "input(2, 16, 16)\n%s\n", layer);
        m = nb_model_file_parse(ctx, text, NULL);
        y = m ? nb_module_forward(m, x) : NULL;
        ok = m && !y;
        if (!ok) snprintf(why, n, "%s on %lldx%lld: the file found no window, the op ran", layer, (long long)h, (long long)w);
        nb_tensor_free(x);
        nb_module_free(m);
        return ok ? -1 : 0;
    }
    ok = y && sum.n >= 1 && sum.layers[sum.n - 1].ndim == 3 &&
         sum.layers[sum.n - 1].shape[1] == nb_tensor_shape(y)[2] &&
         sum.layers[sum.n - 1].shape[2] == nb_tensor_shape(y)[3];
    if (!ok)
        snprintf(why, n, "%s on %lldx%lld: file %lldx%lld, op %s", layer, (long long)h, (long long)w,
                 (long long)sum.layers[sum.n - 1].shape[1], (long long)sum.layers[sum.n - 1].shape[2],
                 y ? "ran" : nb_last_error());
    if (y) nb_tensor_free(y);
    nb_tensor_free(x);
    nb_model_summary_free(&sum);
    nb_module_free(m);
    return ok;
}

static void test_agree(void)
{
    char layer[160], why[512] = "";
    int bad = 0, ran = 0, refused = 0;
    for (int k = 1; k <= 3 && !bad; k++)
        for (int s = 1; s <= 3 && !bad; s++)
            for (int p = 0; p <= k / 2 && !bad; p++)
                for (int d = 1; d <= 2 && !bad; d++)
                    for (int h = 1; h <= 7 && !bad; h++)
                        for (int kind = 0; kind < 5 && !bad; kind++) {
                            if (kind == 0)
                                snprintf(layer, sizeof layer, "conv2d(2, 3, %d, stride=%d, padding=%d, dilation=%d)", k,
                                         s, p, d);
                            else if (kind <= 2)
                                snprintf(layer, sizeof layer,
                                         "maxpool2d(%d, stride=%d, padding=%d, dilation=%d, ceil_mode=%s)", k, s, p, d,
                                         kind == 2 ? "True" : "False");
                            else if (d == 1)
                                snprintf(layer, sizeof layer, "avgpool2d(%d, stride=%d, padding=%d, ceil_mode=%s)", k,
                                         s, p, kind == 4 ? "True" : "False");
                            else
                                continue;
                            int r = agree(layer, h, h + 2, why, sizeof why);
                            if (r == 0) bad = 1;
                            else if (r > 0) ran++;
                            else refused++;
                        }
    CHECK("model files infer the ops' output sizes (conv2d, maxpool2d, avgpool2d)", !bad && ran > 500 && refused > 10,
          "%s (%d agreed, %d refused by both)", why, ran, refused);
}

int main(void)
{
    ctx = nb_ctx_new(&(nb_ctx_opts){.seed = 1, .threads = 1});
    test_formula();
    test_agree();
    nb_ctx_free(ctx);
    CHECK_DONE();
}
