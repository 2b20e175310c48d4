/* transform.h - running an image transform pipeline on one sample
 * (src/augment/pipeline.c), what the loader calls.
 * Run pipeline tf on one image (c, h, w) at `in`, drawing from rng and taking every
 * buffer from arena a (the caller resets it; `in` is not written); *out points into
 * a (or is `in` when no transform changed the image), with shape out_chw. Safe on
 * several threads with separate arenas and rngs. */
#ifndef NB_AUGMENT_TRANSFORM_H
#define NB_AUGMENT_TRANSFORM_H

#include "core/arena.h"
#include "nabla.h"

nb_status nb__transform_run(const nb_transform *tf, const float *in, const int64_t in_chw[3], nb_arena *a,
                            nb_rng *rng, float **out, int64_t out_chw[3]);

#endif
