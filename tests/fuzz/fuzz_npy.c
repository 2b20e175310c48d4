/* fuzz_npy.c - libFuzzer target for the NumPy .npy reader (nb_load_npy: `nabla run`
 * inputs). The input is the file. A tensor that loads must have the shape's number
 * of elements and is read in full. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd = fuzz_file(data, size, path);
    if (fd < 0) return 0;
    nb_tensor *t = nb_load_npy(fuzz_ctx(), path);
    if (t) {
        int64_t n = 1;
        for (int i = 0; i < nb_tensor_ndim(t); i++) n *= nb_tensor_shape(t)[i];
        if (n != nb_tensor_numel(t) || (nb_tensor_dtype(t) != NB_F32 && nb_tensor_dtype(t) != NB_I64))
            __builtin_trap();
        fuzz_touch(t);
    } else if (!nb_last_error()[0] || !strstr(nb_last_error(), path))
        __builtin_trap(); /* a refusal names the file */
    nb_tensor_free(t);
    close(fd);
    nb_clear_error();
    return 0;
}
