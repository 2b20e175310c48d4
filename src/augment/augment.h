/* augment.h - what the files of src/augment share (not public, not for other folders;
 * the loader's entry point is in augment/transform.h).
 *
 * Kernels work on nb__img: n images of c planes of h×w floats, contiguous and
 * row-major, i.e. the data of a (n, c, h, w) tensor. They write into an output
 * the caller allocated with the shape the matching *_shape function gives, and take
 * any temporary memory from the arena passed in (a context's arena, or a loader
 * worker's own arena), so they are safe on several threads with separate arenas. */
#ifndef NB_AUGMENT_H
#define NB_AUGMENT_H

#include "core/arena.h"
#include "core/spec.h"

typedef struct {
    float *p;
    int64_t n, c, h, w;
} nb__img;

static inline int64_t nb__img_numel(const nb__img *m) { return m->n * m->c * m->h * m->w; }

/* An image of the given shape from the arena (p NULL and a message on failure). */
nb__img nb__img_alloc(nb_arena *a, int64_t n, int64_t c, int64_t h, int64_t w);

/* ---- tensors <-> nb__img (augment.c) ---- */
/* A view of an F32 (C, H, W) or (B, C, H, W) tensor (n = 1 for 3-D); NB_ERR_ARG /
 * NB_ERR_SHAPE with a message naming `op` otherwise. */
nb_status nb__img_view(nb_tensor *t, const char *op, nb__img *out);
/* A new arena tensor in ctx shaped like `like` (3-D or 4-D) but with the given c, h, w. */
nb_tensor *nb__img_tensor(nb_ctx *ctx, const nb_tensor *like, int64_t c, int64_t h, int64_t w, nb__img *view);

/* ---- geometry.c ---- */
void nb__k_hflip(const nb__img *in, nb__img *out);
void nb__k_vflip(const nb__img *in, nb__img *out);
/* out (h, w): in[top + y][left + x], fill outside */
void nb__k_crop(const nb__img *in, nb__img *out, int64_t top, int64_t left, float fill);
/* out (in.h + top + bottom, in.w + left + right); checks done by nb__pad_check */
void nb__k_pad(const nb__img *in, nb__img *out, int64_t left, int64_t top, nb_pad_mode mode, float fill);
nb_status nb__pad_check(int64_t h, int64_t w, const int64_t ltrb[4], nb_pad_mode mode);
/* torchvision's centre crop: the (top, left) of the crop in input coordinates (may be
 * negative: F.center_crop pads with zeros first). */
void nb__center_crop_origin(int64_t h, int64_t w, int64_t th, int64_t tw, int64_t *top, int64_t *left);
/* Resize the window (top, left, wh, ww) of in (inside the image) to out's size. */
nb_status nb__k_resize(nb_arena *a, const nb__img *in, int64_t top, int64_t left, int64_t wh, int64_t ww,
                       nb__img *out, nb_interp interp, int antialias);
/* F.resized_crop into out (its size is the output size): crop (zeros outside), then
 * resize unless the size is unchanged. */
nb_status nb__resized_crop(nb_arena *a, const nb__img *in, int64_t top, int64_t left, int64_t height, int64_t width,
                          nb__img *out, nb_interp interp, int antialias);
/* Size of Resize(size) with one int: the smaller edge to size (max_size 0: none). */
nb_status nb__resize_short_size(int64_t h, int64_t w, int64_t size, int64_t max_size, int64_t *oh, int64_t *ow);
/* The inverse affine matrix of F.rotate / F.affine (tensor path), in pixels about
 * the image centre. */
void nb__rotate_matrix(int64_t h, int64_t w, float angle, const nb_warp_opts *o, double m[6]);
void nb__affine_matrix(int64_t h, int64_t w, float angle, float tx, float ty, float scale, float shear_x,
                       float shear_y, const nb_warp_opts *o, double m[6]);
/* Output size of F.rotate(expand=True) for matrix m. */
void nb__rotate_expand_size(int64_t h, int64_t w, const double m[6], int64_t *oh, int64_t *ow);
/* Sample in (h, w) through matrix m onto out (oh, ow) as F_t.affine/rotate with fill. */
void nb__k_warp(const nb__img *in, nb__img *out, const double m[6], nb_interp interp, float fill);

/* ---- color.c ---- */
nb_status nb__k_brightness(const nb__img *in, nb__img *out, float f);
nb_status nb__k_contrast(const nb__img *in, nb__img *out, float f);
nb_status nb__k_saturation(const nb__img *in, nb__img *out, float f);
nb_status nb__k_hue(const nb__img *in, nb__img *out, float f);
/* out has 1 or 3 channels; in 1 or 3 */
nb_status nb__k_grayscale(const nb__img *in, nb__img *out);
/* mean, std: n values (1 or in.c) */
nb_status nb__k_normalize(const nb__img *in, nb__img *out, const float *mean, const float *std, int n);

/* ---- noise.c ---- */
void nb__k_gaussian_noise(const nb__img *in, nb__img *out, float mean, float sigma, int clip, nb_rng *r);
void nb__k_additive_gaussian_noise(const nb__img *in, nb__img *out, float loc, float scale, int per_channel,
                                   nb_rng *r);
void nb__k_salt_and_pepper(const nb__img *in, nb__img *out, float p, int per_channel, nb_rng *r);

/* ---- erase.c ---- */
/* out = in with rows [top, top+h) and columns [left, left+w) of every image set
 * to v: nv = 1 (one value), c (one per channel) or c·h·w (a patch). */
nb_status nb__k_erase(const nb__img *in, nb__img *out, int64_t top, int64_t left, int64_t h, int64_t w,
                      const float *v, int64_t nv);
void nb__k_cutout(const nb__img *in, nb__img *out, int64_t cy, int64_t cx, int64_t length, float value);

/* ---- transforms.c: the transform classes a pipeline is made of ---- */
#define NB_TF_MAXC 16 /* per-channel values (Normalize, RandomErasing's value) */

typedef struct nb__tf_step nb__tf_step;
typedef struct {
    const char *name;  /* torchvision's class name, "RandomCrop" */
    const char *snake; /* "random_crop" */
    const char *alias; /* a short name ("hflip") or NULL */
    const char *const *keys; /* parameter names in torchvision's order, NULL-terminated */
    int max_pos;       /* how many may be positional */
    /* read the item's arguments into s (s->k is set, every other field zero) */
    nb_status (*parse)(nb__tf_step *s, const nb__spec_item *it);
    /* output shape for input `in`; NB_ERR_ARG when it depends on the draws or the
     * input does not fit */
    nb_status (*shape)(const nb__tf_step *s, const int64_t in[3], int64_t out[3]);
    /* draw the parameters from r and transform one image (in.n = 1); *out is a new
     * buffer from a, or *in itself when the image is left as it was */
    nb_status (*run)(const nb__tf_step *s, nb_arena *a, const nb__img *in, nb__img *out, nb_rng *r);
    /* torchvision's repr of the transform */
    void (*str)(const nb__tf_step *s, char *buf, size_t n);
} nb__tf_kind;

struct nb__tf_step {
    const nb__tf_kind *k;
    float p;                  /* probability of applying (flips, erasing, random grayscale) */
    int64_t size[2];          /* output (h, w); w = 0: Resize's smaller edge to size[0] */
    int64_t max_size;         /* Resize */
    int64_t pad[4];           /* left, top, right, bottom */
    int has_pad, pad_if_needed;
    nb_pad_mode pad_mode;
    float fill;
    nb_interp interp;
    int antialias;
    float degrees[2];
    float translate[2], scale[2], shear[4], ratio[2];
    int has_translate, has_scale, has_shear;
    int expand, has_center;
    float center[2];
    float jitter[4][2];       /* ColorJitter ranges: brightness, contrast, saturation, hue */
    int has_jitter[4];
    float mean[NB_TF_MAXC], std[NB_TF_MAXC];
    int n_norm;
    float value[NB_TF_MAXC];  /* RandomErasing, Cutout */
    int n_value, value_random;
    int n_out;                /* Grayscale */
    float noise_mean, sigma;  /* GaussianNoise */
    int clip, per_channel;
    float range[2];           /* AdditiveGaussianNoise scale, SaltAndPepper p: U[range] per image */
    int64_t length, n_holes;  /* Cutout */
};

/* The transform class called name (torchvision's, snake_case or alias), or NULL. */
const nb__tf_kind *nb__tf_find(const char *name);
/* Every class, *n of them (for "did you mean" and the docs). */
const nb__tf_kind *nb__tf_kinds(int *n);

#endif
