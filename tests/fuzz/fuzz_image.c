/* fuzz_image.c - libFuzzer target for image decoding (every format image folders
 * and `nabla predict` accept: PNG, JPEG, BMP, PPM, PGM, through stb_image and the
 * checks of src/data/image_folder.c). Byte 0 picks the channel conversion (0: the
 * file's, 1-4); the rest is the file. A decoded image is read in full, and a
 * BMP must hold its pixels. */
#include "fuzz_common.h"

/* stb_image compiled here, with the sanitizers and coverage, from Debian's header
 * (the same code as libstb0): its definitions take the place of the shared
 * library's, so the fuzzer sees inside the decoders. */
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int channels = data[0] % 5;
    char path[64];
    int fd = fuzz_file(data + 1, size - 1, path);
    if (fd < 0) return 0;
    nb_tensor *t = nb_img_load(fuzz_ctx(), path, channels);
    fuzz_touch(t);
    /* a BMP is uncompressed (RLE is refused): at least 1 bit a pixel must be in the
     * file, or made-up pixels were accepted */
    if (t && size >= 3 && data[1] == 'B' && data[2] == 'M' && nb_tensor_ndim(t) == 3 &&
        nb_tensor_dim(t, 1) * nb_tensor_dim(t, 2) > (int64_t)(size - 1) * 8)
        __builtin_trap();
    nb_tensor_free(t);
    nb_ctx_reset(fuzz_ctx()); /* the image lives in the context's arena */
    close(fd);
    nb_clear_error();
    return 0;
}
