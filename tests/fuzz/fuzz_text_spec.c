/* fuzz_text_spec.c - libFuzzer target for text augmentation specs (`augment-text
 * --aug SPEC`, nb_text_aug_from_spec): a spec that builds augments a short line
 * (not when it back-translates: that would start Apertium for every input). */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *spec = fuzz_str(data, size);
    if (!spec) return 0;
    nb_text_aug *a = nb_text_aug_from_spec(spec);
    if (a && !strstr(spec, "back")) {
        nb_rng r;
        nb_rng_seed(&r, size);
        char *o = nb_text_augment(a, "The quick brown fox jumps over the lazy dog, and I said \"no\".", &r);
        if (o && nb_utf8_check(o, strlen(o)) >= 0) __builtin_trap(); /* valid UTF-8 in, valid out */
        free(o);
    }
    nb_text_aug_free(a);
    free(spec);
    nb_clear_error();
    return 0;
}
