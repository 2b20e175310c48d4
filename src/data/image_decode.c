/* image_decode.c - decode an image file held in memory to HWC bytes, for image
 * folders and nb_img_load. Each format goes to the decoder that hostile files
 * have been thrown at longest (docs/security.md):
 *   PNG   Debian's libpng (the simplified API), as PIL and torchvision
 *   JPEG  Debian's libjpeg-turbo (the libjpeg API), as PIL and torchvision;
 *         a file that ends early ("Premature end of JPEG file") is an error, as
 *         PIL's default, and at most SCAN_LIMIT progressive scans are read
 *   PGM/PPM (binary P5/P6) parsed here: the header, then exactly the declared bytes
 *   BMP   stb_image (Debian's libstb), the only format left to it
 * Every declared size is checked against MAX_SIDE and MAX_PIXELS before anything
 * is allocated. The channel conversion (want_c) is stb_image's, so images decode
 * as they did with stb alone: grey = (77 r + 150 g + 29 b) >> 8, alpha 255 added. */
#include "core/error.h"
#include "data/dataset.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>
#include <png.h>
#include <stb/stb_image.h>

#define MAX_SIDE 16384
#ifndef NB_IMAGE_MAX_PIXELS /* the fuzz build lowers it: more inputs a second */
#define NB_IMAGE_MAX_PIXELS ((int64_t)1 << 26)
#endif
#define MAX_PIXELS ((int64_t)(NB_IMAGE_MAX_PIXELS))
#define SCAN_LIMIT 500 /* progressive JPEG scans (libjpeg-turbo's own advice against "scan bombs") */

static nb_status check_size(const char *path, int64_t w, int64_t h)
{
    if (w < 1 || h < 1 || w > MAX_SIDE || h > MAX_SIDE || w * h > MAX_PIXELS)
        return nb__fail(NB_ERR_FORMAT,
                        "the image %s declares %lldx%lld pixels: larger than nabla reads (at most %d per side and %lld "
                        "pixels); corrupt, or resize it first",
                        path, (long long)w, (long long)h, MAX_SIDE, (long long)MAX_PIXELS);
    return NB_OK;
}

/* ---- stb_image's channel conversion ---- */

static unsigned char luma(const unsigned char *p) { return (unsigned char)((p[0] * 77 + p[1] * 150 + p[2] * 29) >> 8); }

/* px (w*h pixels of fc channels) to want_c channels; px itself when they agree. */
static unsigned char *convert(unsigned char *px, int64_t npx, int fc, int want_c)
{
    if (!want_c || want_c == fc) return px;
    unsigned char *out = malloc((size_t)npx * (size_t)want_c);
    if (!out) return NULL;
    for (int64_t i = 0; i < npx; i++) {
        const unsigned char *s = px + i * fc;
        unsigned char *d = out + i * want_c;
        unsigned char y = fc >= 3 ? luma(s) : s[0];
        unsigned char a = fc == 2 ? s[1] : fc == 4 ? s[3] : 255;
        switch (want_c) {
        case 1: d[0] = y; break;
        case 2: d[0] = y, d[1] = a; break;
        case 3:
            if (fc >= 3) d[0] = s[0], d[1] = s[1], d[2] = s[2];
            else d[0] = d[1] = d[2] = y;
            break;
        default:
            if (fc >= 3) d[0] = s[0], d[1] = s[1], d[2] = s[2];
            else d[0] = d[1] = d[2] = y;
            d[3] = a;
        }
    }
    free(px);
    return out;
}

/* ---- PNG ---- */

static nb_status decode_png(const char *path, const unsigned char *buf, size_t n, unsigned char **px, int *w, int *h,
                            int *fc)
{
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&im, buf, n))
        return nb__fail(NB_ERR_FORMAT, "cannot decode the PNG image %s: %s (corrupt or not an image?)", path, im.message);
    nb_status st = check_size(path, im.width, im.height);
    if (st) {
        png_image_free(&im);
        return st;
    }
    int c = (im.format & PNG_FORMAT_FLAG_COLOR ? 3 : 1) + (im.format & PNG_FORMAT_FLAG_ALPHA ? 1 : 0);
    im.format = c == 1 ? PNG_FORMAT_GRAY : c == 2 ? PNG_FORMAT_GA : c == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_RGBA;
    unsigned char *out = malloc(PNG_IMAGE_SIZE(im));
    if (!out) {
        png_image_free(&im);
        return nb__fail(NB_ERR_MEM, "out of memory decoding %s", path);
    }
    if (!png_image_finish_read(&im, NULL, out, 0, NULL)) {
        free(out);
        nb_status e = nb__fail(NB_ERR_FORMAT, "cannot decode the PNG image %s: %s (corrupt or not an image?)", path, im.message);
        png_image_free(&im);
        return e;
    }
    *px = out, *w = (int)im.width, *h = (int)im.height, *fc = c;
    png_image_free(&im);
    return NB_OK;
}

/* ---- JPEG ---- */

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];
} jpeg_err;

static void jpeg_fail(j_common_ptr c)
{
    jpeg_err *e = (jpeg_err *)c->err;
    c->err->format_message(c, e->msg);
    longjmp(e->jb, 1);
}

static void jpeg_warn(j_common_ptr c, int level)
{
    /* corrupt-data warnings are as PIL takes them (decoded anyway), but not a file
     * that ends early: its missing part would be made up */
    if (level < 0 && c->err->msg_code == JWRN_JPEG_EOF) jpeg_fail(c);
}

static void jpeg_progress(j_common_ptr c)
{
    j_decompress_ptr d = (j_decompress_ptr)c;
    if (d->input_scan_number > SCAN_LIMIT) {
        jpeg_err *e = (jpeg_err *)c->err;
        snprintf(e->msg, sizeof e->msg, "more than %d progressive scans", SCAN_LIMIT);
        longjmp(e->jb, 1);
    }
}

static nb_status decode_jpeg(const char *path, const unsigned char *buf, size_t n, unsigned char **px, int *w, int *h,
                             int *fc)
{
    struct jpeg_decompress_struct c;
    jpeg_err err;
    struct jpeg_progress_mgr prog = {.progress_monitor = jpeg_progress};
    unsigned char *volatile out = NULL;
    volatile nb_status st = NB_OK;
    c.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = jpeg_fail;
    err.pub.emit_message = jpeg_warn;
    err.msg[0] = 0;
    if (setjmp(err.jb)) {
        if (!st) st = nb__fail(NB_ERR_FORMAT, "cannot decode the JPEG image %s: %s (corrupt or not an image?)", path, err.msg);
        free(out);
        jpeg_destroy_decompress(&c);
        return st;
    }
    jpeg_create_decompress(&c);
    c.progress = &prog;
    jpeg_mem_src(&c, buf, (unsigned long)n);
    jpeg_read_header(&c, TRUE);
    if ((st = check_size(path, c.image_width, c.image_height))) longjmp(err.jb, 1);
    c.out_color_space = c.num_components == 1 ? JCS_GRAYSCALE : JCS_RGB; /* CMYK: an error, as stb */
    jpeg_start_decompress(&c);
    int comp = c.output_components;
    size_t row = (size_t)c.output_width * (size_t)comp;
    if (!(out = malloc(row * c.output_height))) {
        st = nb__fail(NB_ERR_MEM, "out of memory decoding %s", path);
        longjmp(err.jb, 1);
    }
    while (c.output_scanline < c.output_height) {
        JSAMPROW r = out + row * c.output_scanline;
        jpeg_read_scanlines(&c, &r, 1);
    }
    jpeg_finish_decompress(&c);
    *px = out, *w = (int)c.output_width, *h = (int)c.output_height, *fc = comp;
    jpeg_destroy_decompress(&c);
    return NB_OK;
}

/* ---- binary PGM / PPM ---- */

static nb_status decode_pnm(const char *path, const unsigned char *b, size_t n, unsigned char **px, int *w, int *h,
                            int *fc)
{
    size_t i = 2;
    int64_t v[3];
    for (int k = 0; k < 3; k++) {
        for (;;) { /* whitespace and # comments */
            while (i < n && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r' || b[i] == '\v' || b[i] == '\f'))
                i++;
            if (i < n && b[i] == '#')
                while (i < n && b[i] != '\n' && b[i] != '\r') i++;
            else
                break;
        }
        if (i >= n || b[i] < '0' || b[i] > '9')
            return nb__fail(NB_ERR_FORMAT, "cannot decode the image %s: a PGM/PPM header needs width, height and maxval",
                            path);
        v[k] = 0;
        while (i < n && b[i] >= '0' && b[i] <= '9' && v[k] < ((int64_t)1 << 40)) v[k] = v[k] * 10 + (b[i++] - '0');
    }
    if (i >= n || !(b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r'))
        return nb__fail(NB_ERR_FORMAT, "cannot decode the image %s: no whitespace after the PGM/PPM header", path);
    i++;
    if (v[2] < 1 || v[2] > 65535)
        return nb__fail(NB_ERR_FORMAT, "cannot decode the image %s: maxval %lld is not in [1, 65535]", path,
                        (long long)v[2]);
    nb_status st = check_size(path, v[0], v[1]);
    if (st) return st;
    int c = b[1] == '6' ? 3 : 1, bytes = v[2] > 255 ? 2 : 1;
    int64_t npx = v[0] * v[1], need = npx * c * bytes;
    if ((int64_t)(n - i) < need)
        return nb__fail(NB_ERR_FORMAT, "the image %s is truncated: its header declares %lld bytes of pixels, it holds %lld",
                        path, (long long)need, (long long)(n - i));
    unsigned char *out = malloc((size_t)(npx * c));
    if (!out) return nb__fail(NB_ERR_MEM, "out of memory decoding %s", path);
    /* as stb_image: the bytes as they are (no scaling by maxval); 16-bit samples
     * (big-endian) keep their high byte */
    for (int64_t k = 0; k < npx * c; k++) out[k] = b[i + (size_t)(k * bytes)];
    *px = out, *w = (int)v[0], *h = (int)v[1], *fc = c;
    return NB_OK;
}

/* ---- BMP (stb_image) ---- */

static nb_status decode_bmp(const char *path, const unsigned char *buf, size_t n, unsigned char **px, int *w, int *h,
                            int *fc)
{
    if (n > INT32_MAX) return nb__fail(NB_ERR_FORMAT, "the image %s is larger than 2 GB", path);
    if (!stbi_info_from_memory(buf, (int)n, w, h, fc))
        return nb__fail(NB_ERR_FORMAT, "cannot decode the BMP image %s: %s (corrupt or not an image?)", path,
                        stbi_failure_reason() ? stbi_failure_reason() : "unknown error");
    nb_status st = check_size(path, *w, *h);
    if (st) return st;
    /* stb fills a short file with zeros: a bitmap must hold every row. stb decodes
     * only uncompressed (0) and bit-field (3) bitmaps, but reads the compression as a
     * signed int and takes a negative one for uncompressed, so anything else is
     * refused here; an OS/2 bitmap (12-byte header) has no compression field. */
    if (n < 26) return nb__fail(NB_ERR_FORMAT, "the image %s is truncated: %lld bytes", path, (long long)n);
    uint32_t off = buf[10] | buf[11] << 8 | buf[12] << 16 | (uint32_t)buf[13] << 24;
    uint32_t hdr = buf[14] | buf[15] << 8 | buf[16] << 16 | (uint32_t)buf[17] << 24;
    int bpp = hdr == 12 ? buf[24] | buf[25] << 8 : n >= 34 ? buf[28] | buf[29] << 8 : 0;
    uint32_t comp = hdr == 12 ? 0 : n >= 34 ? buf[30] | buf[31] << 8 | buf[32] << 16 | (uint32_t)buf[33] << 24 : 1;
    if (comp != 0 && comp != 3)
        return nb__fail(NB_ERR_FORMAT, "cannot decode the BMP image %s: compression %lu is not supported (uncompressed "
                        "and bit-field bitmaps are)", path, (unsigned long)comp);
    if (bpp != 1 && bpp != 4 && bpp != 8 && bpp != 16 && bpp != 24 && bpp != 32)
        return nb__fail(NB_ERR_FORMAT, "cannot decode the BMP image %s: %d bits per pixel", path, bpp);
    int64_t need = (int64_t)off + ((int64_t)bpp * *w + 31) / 32 * 4 * *h;
    if ((int64_t)n < need)
        return nb__fail(NB_ERR_FORMAT, "the image %s is truncated: its header declares %lld bytes, it holds %lld", path,
                        (long long)need, (long long)n);
    unsigned char *p = stbi_load_from_memory(buf, (int)n, w, h, fc, 0);
    if (!p)
        return nb__fail(NB_ERR_FORMAT, "cannot decode the BMP image %s: %s (corrupt or not an image?)", path,
                        stbi_failure_reason() ? stbi_failure_reason() : "unknown error");
    /* stb's buffer is freed with stbi_image_free; hand out a malloc'ed copy */
    size_t bytes = (size_t)*w * (size_t)*h * (size_t)*fc;
    *px = malloc(bytes);
    if (*px) memcpy(*px, p, bytes);
    stbi_image_free(p);
    return *px ? NB_OK : nb__fail(NB_ERR_MEM, "out of memory decoding %s", path);
}

nb_status nb__image_decode(const char *path, const unsigned char *buf, size_t n, int want_c, unsigned char **px,
                           int *w, int *h, int *c)
{
    *px = NULL;
    int fc = 0;
    nb_status st;
    if (n >= 8 && !memcmp(buf, "\x89PNG\r\n\x1a\n", 8)) st = decode_png(path, buf, n, px, w, h, &fc);
    else if (n >= 3 && buf[0] == 0xFF && buf[1] == 0xD8 && buf[2] == 0xFF) st = decode_jpeg(path, buf, n, px, w, h, &fc);
    else if (n >= 2 && buf[0] == 'P' && (buf[1] == '5' || buf[1] == '6')) st = decode_pnm(path, buf, n, px, w, h, &fc);
    else if (n >= 2 && buf[0] == 'B' && buf[1] == 'M') st = decode_bmp(path, buf, n, px, w, h, &fc);
    else
        return nb__fail(NB_ERR_FORMAT,
                        "cannot decode the image %s: not a PNG, JPEG, BMP or binary PGM/PPM file (corrupt or not an "
                        "image?)",
                        path);
    if (st) return st;
    unsigned char *conv = convert(*px, (int64_t)*w * *h, fc, want_c);
    if (!conv) {
        free(*px);
        *px = NULL;
        return nb__fail(NB_ERR_MEM, "out of memory decoding %s", path);
    }
    *px = conv;
    *c = want_c ? want_c : fc;
    return NB_OK;
}
