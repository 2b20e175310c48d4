/* fuzz_model_file.c - libFuzzer target for model files (.nbm): the text is parsed
 * with a summary (as `nabla info`) for the default input 1x28x28, and, when it
 * builds, run forward on one zero image if it is small enough. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_str(data, size);
    if (!text) return 0;
    nb_ctx *ctx = fuzz_ctx();
    nb_model_summary sum;
    nb_module *m = nb_model_file_parse(ctx, text, &(nb_model_file_opts){.name = "fuzz.nbm", .summary = &sum});
    if (m) {
        /* forward only when every weight and activation is small: a legal model (a
         * conv with padding 23223) may need more memory than a fuzzer's 2 GB */
        int64_t params = 0, act = 0;
        for (int i = 0; i < sum.n; i++) {
            int64_t e = 1;
            for (int k = 0; k < sum.layers[i].ndim; k++) e *= sum.layers[i].shape[k] > 0 ? sum.layers[i].shape[k] : 1;
            params += sum.layers[i].params;
            if (e > act) act = e;
        }
        if (params < 200000 && act < (1 << 20)) {
            int64_t shape[4] = {1, sum.input_ndim > 0 ? sum.input[0] : 1, sum.input_ndim > 1 ? sum.input[1] : 1,
                                sum.input_ndim > 2 ? sum.input[2] : 1};
            if (shape[1] * shape[2] * shape[3] <= 4096) {
                nb_tensor *x = nb_tensor_new(ctx, NB_F32, 1 + (sum.input_ndim > 0 ? sum.input_ndim : 3), shape);
                nb_module_train(m, 0);
                nb_ctx_reset(ctx);
                nb_tensor *y = nb_module_forward(m, x);
                fuzz_touch(y);
                nb_tensor_free(x);
            }
        }
        nb_model_summary_free(&sum);
        nb_module_free(m);
    }
    nb_ctx_reset(ctx);
    free(text);
    nb_clear_error();
    return 0;
}
