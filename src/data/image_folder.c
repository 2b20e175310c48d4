/* image_folder.c - a directory of images, one subdirectory per class, like
 * torchvision.datasets.ImageFolder:
 *
 *     root/cat/001.png, root/cat/002.jpg, ..., root/dog/a.jpeg, ...
 *
 * Classes are the subdirectories of root sorted by name (class index = rank);
 * the samples of a class are its image files, found recursively and ordered as
 * torchvision does (directories by path, files by name within one). Images are
 * decoded when a sample is read (in the loader's worker threads), with
 * image_decode.c (libpng, libjpeg-turbo; PGM/PPM there; BMP by stb_image), to
 * (C, H, W) floats x/255 (ToTensor).
 *
 * Every sample must have the dataset's shape: by default the first image's size
 * and channel count; opts.channels converts every image (like PIL's convert),
 * opts.height/width ask for a size. An image of another size is an error unless
 * the loader's transform brings it to one shape (a resize: the loader reads
 * samples at their own size through get_sized); an unreadable or corrupt file is
 * an error naming the file. */
#include "core/error.h"
#include "core/arena.h"
#include "data/dataset.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>


#define MAX_DEPTH 16 /* subdirectory levels followed inside a class directory */

typedef struct {
    char *path;
    int dirlen; /* path[0..dirlen) is the directory */
    int label;
} if_entry;

typedef struct {
    if_entry *files;
    int64_t n, cap;
    char **classes;
    int nclasses;
    char *root;
    int convert;             /* channels requested: decode with stb_image's conversion */
    int fixed_size;          /* the size was given in the options */
    float lut[256];          /* byte -> byte / 255 (ToTensor's div(255)) */
    struct {
        dev_t dev;
        ino_t ino;
    } *seen;                 /* directories listed so far: a symlink loop is followed once */
    int64_t nseen, seen_cap;
} if_impl;

/* 1 if the directory sb was listed before, else remembers it (0); -1 out of memory. */
static int seen_before(if_impl *p, const struct stat *sb)
{
    for (int64_t i = 0; i < p->nseen; i++)
        if (p->seen[i].dev == sb->st_dev && p->seen[i].ino == sb->st_ino) return 1;
    if (p->nseen == p->seen_cap) {
        int64_t cap = p->seen_cap ? 2 * p->seen_cap : 64;
        void *t = realloc(p->seen, (size_t)cap * sizeof *p->seen);
        if (!t) return -1;
        p->seen = t, p->seen_cap = cap;
    }
    p->seen[p->nseen].dev = sb->st_dev, p->seen[p->nseen].ino = sb->st_ino;
    p->nseen++;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* listing                                                                   */
/* ------------------------------------------------------------------------ */

static int has_ext(const char *name, const char *const *exts)
{
    const char *dot = strrchr(name, '.');
    if (!dot) return 0;
    for (int i = 0; exts[i]; i++)
        if (!strcasecmp(dot + 1, exts[i])) return 1;
    return 0;
}

static const char *const IMG_EXT[] = {"png", "jpg", "jpeg", "bmp", "ppm", "pgm", NULL};
/* torchvision reads these too; nabla cannot */
static const char *const UNSUPPORTED_EXT[] = {"tif", "tiff", "webp", NULL};

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* torchvision's order: sorted(os.walk(dir)) then sorted(files), i.e. by directory
 * path, then by file name. */
static int cmp_entry(const void *pa, const void *pb)
{
    const if_entry *a = pa, *b = pb;
    int n = a->dirlen < b->dirlen ? a->dirlen : b->dirlen;
    int c = memcmp(a->path, b->path, (size_t)n);
    if (c) return c;
    if (a->dirlen != b->dirlen) return a->dirlen < b->dirlen ? -1 : 1;
    return strcmp(a->path + a->dirlen + 1, b->path + b->dirlen + 1);
}

static nb_status add_file(if_impl *p, const char *dir, const char *name, int label)
{
    if (p->n == p->cap) {
        int64_t cap = p->cap ? 2 * p->cap : 256;
        if_entry *f = realloc(p->files, (size_t)cap * sizeof *f);
        if (!f) return nb__fail(NB_ERR_MEM, "out of memory listing %s", dir);
        p->files = f, p->cap = cap;
    }
    size_t ld = strlen(dir), ln = strlen(name);
    char *path = malloc(ld + ln + 2);
    if (!path) return nb__fail(NB_ERR_MEM, "out of memory listing %s", dir);
    memcpy(path, dir, ld);
    path[ld] = '/';
    memcpy(path + ld + 1, name, ln + 1);
    p->files[p->n++] = (if_entry){path, (int)ld, label};
    return NB_OK;
}

/* Every image file under dir (recursively), with the given label. */
static nb_status list_class(if_impl *p, const char *dir, int label, int depth)
{
    DIR *dp = opendir(dir);
    if (!dp) return nb__fail(NB_ERR_IO, "cannot read the directory %s: %s", dir, strerror(errno));
    nb_status st = NB_OK;
    struct dirent *e;
    char sub[4096];
    while (!st && (e = readdir(dp))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if ((size_t)snprintf(sub, sizeof sub, "%s/%s", dir, e->d_name) >= sizeof sub) {
            st = nb__fail(NB_ERR_IO, "path too long: %s/%s", dir, e->d_name);
            break;
        }
        struct stat sb;
        if (stat(sub, &sb)) continue; /* a dangling link: not an image (torchvision skips it too) */
        if (S_ISDIR(sb.st_mode)) {
            int seen = seen_before(p, &sb);
            if (seen < 0) st = nb__fail(NB_ERR_MEM, "out of memory listing %s", dir);
            else if (!seen && depth < MAX_DEPTH) st = list_class(p, sub, label, depth + 1);
        } else if (has_ext(e->d_name, IMG_EXT)) {
            st = add_file(p, dir, e->d_name, label);
        } else if (has_ext(e->d_name, UNSUPPORTED_EXT)) {
            st = nb__fail(NB_ERR_FORMAT,
                          "%s: TIFF and WebP images cannot be read (nabla reads PNG, JPEG, BMP, PPM and PGM); "
                          "convert it or move it out of the dataset",
                          sub);
        }
    }
    closedir(dp);
    return st;
}

static nb_status list_classes(if_impl *p, const char *root)
{
    DIR *dp = opendir(root);
    if (!dp) return nb__fail(NB_ERR_IO, "cannot open the image folder %s: %s", root, strerror(errno));
    int cap = 0;
    nb_status st = NB_OK;
    struct dirent *e;
    char sub[4096];
    while ((e = readdir(dp))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        struct stat sb;
        snprintf(sub, sizeof sub, "%s/%s", root, e->d_name);
        if (stat(sub, &sb) || !S_ISDIR(sb.st_mode)) continue; /* files in root are not samples */
        if (p->nclasses == cap) {
            cap = cap ? 2 * cap : 16;
            char **c = realloc(p->classes, (size_t)cap * sizeof *c);
            if (!c) {
                st = nb__fail(NB_ERR_MEM, "out of memory listing %s", root);
                break;
            }
            p->classes = c;
        }
        if (!(p->classes[p->nclasses] = strdup(e->d_name))) {
            st = nb__fail(NB_ERR_MEM, "out of memory listing %s", root);
            break;
        }
        p->nclasses++;
    }
    closedir(dp);
    if (st) return st;
    if (!p->nclasses)
        return nb__fail(NB_ERR_FORMAT,
                        "%s holds no class directories: an image folder is root/CLASS_NAME/IMAGE.png|jpg (one "
                        "subdirectory per class)",
                        root);
    qsort(p->classes, (size_t)p->nclasses, sizeof *p->classes, cmp_str);
    for (int c = 0; c < p->nclasses; c++) {
        int64_t before = p->n;
        snprintf(sub, sizeof sub, "%s/%s", root, p->classes[c]);
        struct stat sb;
        if (!stat(sub, &sb) && seen_before(p, &sb) < 0) return nb__fail(NB_ERR_MEM, "out of memory listing %s", root);
        if ((st = list_class(p, sub, c, 0))) return st;
        if (p->n == before)
            return nb__fail(NB_ERR_FORMAT, "the class directory %s holds no image files (.png, .jpg, .jpeg, .bmp, .ppm, .pgm)",
                            sub);
        qsort(p->files + before, (size_t)(p->n - before), sizeof *p->files, cmp_entry);
    }
    return NB_OK;
}

/* ------------------------------------------------------------------------ */
/* decoding                                                                  */
/* ------------------------------------------------------------------------ */

/* Every image is read whole into memory (at most MAX_FILE bytes) and decoded by
 * nb__image_decode (image_decode.c: libpng, libjpeg-turbo, PGM/PPM here, BMP by
 * stb_image), which checks declared sizes before allocating. */
#define MAX_FILE ((long)1 << 30)

/* The whole file, malloc'ed; NULL with a message. */
static unsigned char *read_all(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        nb__fail(NB_ERR_IO, "cannot open the image %s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, len = 0;
    unsigned char *b = malloc(cap);
    while (b) {
        if (len == cap) {
            unsigned char *t = cap < (size_t)MAX_FILE ? realloc(b, cap *= 2) : NULL;
            if (!t) {
                free(b);
                b = NULL;
                nb__fail(NB_ERR_MEM, "cannot read the image %s: out of memory or larger than %ld MB", path,
                         MAX_FILE >> 20);
                break;
            }
            b = t;
        }
        size_t got = fread(b + len, 1, cap - len, fp);
        len += got;
        if (!got) break;
    }
    if (b && ferror(fp)) {
        free(b);
        b = NULL;
        nb__fail(NB_ERR_IO, "cannot read the image %s: %s", path, strerror(errno));
    }
    fclose(fp);
    *n = len;
    return b;
}

/* Decode path into HWC bytes *px (malloc'ed); *c channels after conversion. */
static nb_status decode(const char *path, int want_c, unsigned char **px, int *w, int *h, int *c)
{
    *px = NULL;
    size_t n = 0;
    nb_clear_error();
    unsigned char *buf = read_all(path, &n);
    if (!buf) return NB_ERR_IO;
    nb_status st = nb__image_decode(path, buf, n, want_c, px, w, h, c);
    free(buf);
    return st;
}

/* HWC bytes -> CHW floats byte / 255 (lut) */
static void to_chw(const unsigned char *px, int64_t c, int64_t hw, const float *lut, float *out)
{
    for (int64_t k = 0; k < c; k++)
        for (int64_t i = 0; i < hw; i++) out[k * hw + i] = lut[px[i * c + k]];
}

static void shape_str(const int64_t chw[3], char *buf, size_t n)
{
    snprintf(buf, n, "%lldx%lldx%lld (CxHxW)", (long long)chw[0], (long long)chw[1], (long long)chw[2]);
}

/* Image i decoded (*px, malloc'd: HWC bytes) and its shape chw. */
static nb_status decode_item(const nb_dataset *d, int64_t i, unsigned char **px, int64_t chw[3])
{
    const if_impl *p = d->impl;
    int w = 0, h = 0, c = 0;
    nb_status st = decode(p->files[i].path, p->convert, px, &w, &h, &c);
    chw[0] = c, chw[1] = h, chw[2] = w;
    return st;
}

static nb_status if_get(nb_dataset *d, int64_t i, float *out, int64_t *label, nb_rng *rng)
{
    const if_impl *p = d->impl;
    const char *path = p->files[i].path;
    unsigned char *px;
    int64_t chw[3];
    nb_status st = decode_item(d, i, &px, chw);
    if (st) return st;
    char got[64], want[64];
    if (chw[0] != d->chw[0] || chw[1] != d->chw[1] || chw[2] != d->chw[2]) {
        shape_str(chw, got, sizeof got);
        shape_str(d->chw, want, sizeof want);
        if (chw[0] != d->chw[0])
            st = nb__fail(NB_ERR_SHAPE,
                          "the image %s is %s but the dataset's images are %s; set the channels option to "
                          "convert every image to %lld channels",
                          path, got, want, (long long)d->chw[0]);
        else
            st = nb__fail(NB_ERR_SHAPE,
                          "the image %s is %s but the dataset's images are %s (%s); add a resize transform "
                          "to use images of other sizes",
                          path, got, want, p->fixed_size ? "the size asked for" : "the size of the first image");
    } else {
        to_chw(px, chw[0], chw[1] * chw[2], p->lut, out);
    }
    free(px);
    *label = p->files[i].label;
    return st;
}

/* Sample i at its own size (a loader with a transform brings it to the batch shape);
 * only the channel count must match (or be converted). */
static nb_status if_get_sized(nb_dataset *d, int64_t i, nb_arena *a, float **out, int64_t chw[3], int64_t *label,
                              nb_rng *rng)
{
    const if_impl *p = d->impl;
    const char *path = p->files[i].path;
    unsigned char *px;
    nb_status st = decode_item(d, i, &px, chw);
    if (st) return st;
    int64_t c = chw[0], hw = chw[1] * chw[2];
    if (c != d->chw[0]) {
        char got[64], want[64];
        shape_str(chw, got, sizeof got);
        shape_str(d->chw, want, sizeof want);
        st = nb__fail(NB_ERR_SHAPE,
                      "the image %s is %s but the dataset's images have %lld channels (the first is %s); set the "
                      "channels option to convert every image",
                      path, got, (long long)d->chw[0], want);
    } else if (!(*out = nb__arena_alloc(a, (size_t)c * (size_t)hw * sizeof(float)))) {
        st = NB_ERR_MEM;
    } else {
        to_chw(px, c, hw, p->lut, *out);
    }
    free(px);
    *label = p->files[i].label;
    return st;
}

static void if_free_impl(if_impl *p)
{
    if (!p) return;
    for (int64_t i = 0; i < p->n; i++) free(p->files[i].path);
    free(p->files);
    for (int c = 0; c < p->nclasses; c++) free(p->classes[c]);
    free(p->classes);
    free(p->root);
    free(p->seen);
    free(p);
}

static void if_free(nb_dataset *d) { if_free_impl(d->impl); }

static const nb_dataset_vtable IF_VT = {
    .kind = "ImageFolder", .get = if_get, .free = if_free, .get_sized = if_get_sized};

nb_dataset *nb_image_folder_new(const char *root, const nb_image_folder_opts *o)
{
    nb_image_folder_opts opts = o ? *o : (nb_image_folder_opts){0};
    if (!root || !*root) {
        nb__fail(NB_ERR_ARG, "nb_image_folder_new: no root directory given");
        return NULL;
    }
    if (opts.channels < 0 || opts.channels > 4 || opts.height < 0 || opts.width < 0 ||
        (opts.height > 0) != (opts.width > 0)) {
        nb__fail(NB_ERR_ARG,
                 "nb_image_folder_new: channels %d must be 0 (as stored), 1, 2, 3 or 4, and height %lld and width "
                 "%lld both 0 (the first image's size) or both positive",
                 opts.channels, (long long)opts.height, (long long)opts.width);
        return NULL;
    }
    if_impl *p = calloc(1, sizeof *p);
    if (!p || !(p->root = strdup(root))) {
        free(p);
        nb__fail(NB_ERR_MEM, "out of memory opening %s", root);
        return NULL;
    }
    if (list_classes(p, root)) goto fail;
    /* the shape every image must have: given, or the first image's */
    int w = 0, h = 0, c = 0;
    unsigned char *px0 = NULL;
    if (decode(p->files[0].path, 0, &px0, &w, &h, &c)) goto fail; /* the whole first image: its size and channels */
    free(px0);
    p->convert = opts.channels;
    for (int v = 0; v < 256; v++) p->lut[v] = (float)v / 255.0f;
    p->fixed_size = opts.height > 0;
    int64_t chw[3] = {opts.channels ? opts.channels : c, opts.height ? opts.height : h, opts.width ? opts.width : w};
    nb_dataset *d = nb__dataset_new(&IF_VT, p);
    if (!d) goto fail;
    d->len = p->n;
    d->chw[0] = chw[0], d->chw[1] = chw[1], d->chw[2] = chw[2];
    d->num_classes = p->nclasses;
    d->class_names = (const char *const *)p->classes;
    return d;
fail:
    if_free_impl(p);
    return NULL;
}

const char *nb_image_folder_path(const nb_dataset *d, int64_t i)
{
    if (!d || d->vt != &IF_VT || i < 0 || i >= d->len) return NULL;
    return ((const if_impl *)d->impl)->files[i].path;
}

/* ------------------------------------------------------------------------ */
/* one image file                                                            */
/* ------------------------------------------------------------------------ */

nb_tensor *nb_img_load(nb_ctx *ctx, const char *path, int channels)
{
    if (!ctx || !path) {
        nb__fail(NB_ERR_ARG, "nb_img_load needs a context and a path");
        return NULL;
    }
    if (channels < 0 || channels > 4) {
        nb__fail(NB_ERR_ARG, "nb_img_load: channels must be 0 (the file's), 1, 2, 3 or 4, got %d", channels);
        return NULL;
    }
    int w = 0, h = 0, c = 0;
    unsigned char *px;
    if (decode(path, channels, &px, &w, &h, &c)) return NULL;
    /* the datasets' conversion: ToTensor's byte / 255 */
    nb_tensor *t = nb_img_from_bytes(ctx, px, h, w, c);
    free(px);
    return t;
}
