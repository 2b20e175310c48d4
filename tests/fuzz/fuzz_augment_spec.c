/* fuzz_augment_spec.c - libFuzzer target for image augmentation specs
 * (`--augment SPEC`, nb_transform_parse): a spec that parses is printed back,
 * its output shape asked for 1x28x28 and 3x32x32 inputs, and, when the output is
 * small, applied to an image of that shape. A spec naming a number above 1024 is
 * not applied: a legal center_crop(30000) before a random_crop(32) needs 3.6 GB
 * on the way (the library reports the failed allocation; the fuzzer's limit is 2 GB). */
#include "fuzz_common.h"

#include <stdlib.h>

static int has_big_number(const char *s)
{
    for (const char *p = s; *p; p++)
        if ((*p >= '0' && *p <= '9') || *p == '.') {
            char *end;
            double v = strtod(p, &end);
            if (v > 1024 || v != v) return 1;
            p = end > p ? end - 1 : p;
        }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *spec = fuzz_str(data, size);
    if (!spec) return 0;
    nb_transform *tf = nb_transform_parse(spec);
    if (tf) {
        char repr[4096];
        nb_transform_str(tf, repr, sizeof repr);
        nb_ctx *ctx = fuzz_ctx();
        const int64_t ins[2][3] = {{1, 28, 28}, {3, 32, 32}};
        for (int k = 0; k < 2 && !has_big_number(spec); k++) {
            int64_t out[3];
            if (nb_transform_out_shape(tf, ins[k], out)) continue;
            if (out[0] * out[1] * out[2] > (1 << 16)) continue;
            nb_tensor *img = nb_tensor_new(ctx, NB_F32, 3, ins[k]);
            float *v = nb_tensor_data(img);
            for (int64_t i = 0; i < nb_tensor_numel(img); i++) v[i] = (float)(i % 17) / 16.0f;
            nb_rng r;
            nb_rng_seed(&r, size);
            nb_ctx_reset(ctx);
            nb_tensor *y = nb_transform_apply(tf, img, &r);
            fuzz_touch(y);
            nb_tensor_free(img);
        }
        nb_ctx_reset(ctx);
    }
    nb_transform_free(tf);
    free(spec);
    nb_clear_error();
    return 0;
}
