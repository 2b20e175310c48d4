/* vgg.c - VGG with torchvision's structure and state_dict names (Simonyan &
 * Zisserman 2014; torchvision.models.vgg):
 *
 *   features: Sequential of [Conv2d 3x3 pad 1, (BatchNorm2d,) ReLU] per number of
 *             the configuration and MaxPool2d(2, 2) per M;
 *   avgpool:  AdaptiveAvgPool2d((7, 7));
 *   classifier: Linear(512*7*7, 4096), ReLU, Dropout(0.5), Linear(4096, 4096),
 *             ReLU, Dropout(0.5), Linear(4096, num_classes)  (keys classifier.0, .3, .6).
 *   forward: features, avgpool, flatten(1), classifier. When avgpool upsamples (the 1x1
 *   maps of a 32x32 input), avgpool, flatten and classifier.0 run as one op with
 *   classifier.0's weight folded with the pooling (nn/adaptive_pool.c); the parameters and
 *   their names stay torchvision's.
 *
 * Configurations: A (vgg11) 64 M 128 M 256 256 M 512 512 M 512 512 M;
 * D (vgg16) 64 64 M 128 128 M 256 256 256 M 512 512 512 M 512 512 512 M, so vgg16's
 * convolutions are features.0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28.
 * Parameters with 1000 classes: vgg11 132,863,336, vgg11_bn 132,868,840, vgg16
 * 138,357,544, vgg16_bn 138,365,992.
 *
 * Initialisation as torchvision: conv weights kaiming_normal(mode=fan_out,
 * nonlinearity=relu) and bias 0, BatchNorm 1 and 0, Linear weights N(0, 0.01²) and
 * bias 0; draws from the context generator. in_channels replaces the first conv's 3. */
#include "core/ctx.h"
#include "nn/module.h"
#include "nn/layers.h"
#include "nn/onnx_export.h"
#include "models/models.h"

#include <string.h>

#define M_ (-1) /* max pool in a configuration */

static const int CFG_A[] = {64, M_, 128, M_, 256, 256, M_, 512, 512, M_, 512, 512, M_, 0};
static const int CFG_D[] = {64, 64, M_, 128, 128, M_, 256, 256, 256, M_, 512, 512, 512, M_, 512, 512, 512, M_, 0};

static nb_tensor *vgg_forward(nb_module *m, nb_tensor *x)
{
    x = nb_module_forward(m->children[0], x); /* features */
    nb_module *cls = m->children[2];
    if (x && !strcmp(cls->vt->kind, "Sequential") && cls->n_children > 0) {
        int ran; /* avgpool, flatten, classifier.0 as one op, then the rest of the classifier */
        nb_tensor *y = nb__adaptive_pool_linear(m->children[1], cls->children[0], x, &ran);
        if (ran) return nb__sequential_forward_from(cls, 1, y);
    }
    x = nb_module_forward(m->children[1], x); /* avgpool */
    if (!x) return NULL;
    return nb_module_forward(cls, nb_flatten(x, 1, -1));
}

/* ONNX: features, avgpool, Flatten, classifier */
static int vgg_ox(nb_module *m, nb__ox *e, int x)
{
    x = nb__ox_child(e, m->children[0], m->child_names[0], x);
    x = nb__ox_child(e, m->children[1], m->child_names[1], x);
    return nb__ox_child(e, m->children[2], m->child_names[2], x < 0 ? -1 : nb__ox_flatten(e, x, 1, -1));
}

static const nb_module_vtable vgg_vt = {.kind = "VGG", .forward = vgg_forward, .to_onnx = vgg_ox};

static int append(nb_module *seq, nb_module *child)
{
    return !child || nb_sequential_append(seq, child); /* append frees child on failure */
}

static nb_module *vgg(nb_ctx *ctx, const nb_model_opts *o, const int *cfg, int batch_norm)
{
    nb_module *m = nb__module_new(ctx, &vgg_vt);
    nb_module *features = nb_sequential_new(ctx, NULL, 0), *classifier = nb_sequential_new(ctx, NULL, 0);
    nb_module *avgpool = nb_adaptive_avgpool2d_new(ctx, 7, 7);
    if (!m || !features || !classifier || !avgpool) goto fail_all;
    int64_t in = o->in_channels;
    for (const int *c = cfg; *c; c++) {
        if (*c == M_) {
            if (append(features, nb_maxpool2d_new(ctx, &(nb_pool2d_opts){.kernel = {2, 2}, .stride = {2, 2}})))
                goto fail_all;
            continue;
        }
        nb_module *cv = nb_conv2d_new(ctx, in, *c, 3, 3, &(nb_conv2d_opts){.padding = {1, 1}});
        if (!cv || nb_init_kaiming_normal(cv->own[0].tensor, 0.0f, NB_FAN_OUT, NB_GAIN_RELU, &ctx->rng) ||
            nb_init_zeros(cv->own[1].tensor)) {
            nb_module_free(cv);
            goto fail_all;
        }
        if (append(features, cv) || (batch_norm && append(features, nb_batchnorm2d_new(ctx, *c, NULL))) ||
            append(features, nb_relu_new(ctx)))
            goto fail_all;
        in = *c;
    }
    const int64_t sizes[3][2] = {{512 * 7 * 7, 4096}, {4096, 4096}, {4096, o->num_classes}};
    for (int k = 0; k < 3; k++) {
        nb_module *lin = nb_linear_new(ctx, sizes[k][0], sizes[k][1], NULL);
        if (!lin || nb_init_normal(lin->own[0].tensor, 0.0f, 0.01f, &ctx->rng) || nb_init_zeros(lin->own[1].tensor)) {
            nb_module_free(lin);
            goto fail_all;
        }
        if (append(classifier, lin)) goto fail_all;
        if (k < 2 && (append(classifier, nb_relu_new(ctx)) || append(classifier, nb_dropout_new(ctx, 0.5f))))
            goto fail_all;
    }
    nb_module *kids[3] = {features, avgpool, classifier};
    const char *names[3] = {"features", "avgpool", "classifier"};
    for (int k = 0; k < 3; k++)
        if (nb__module_add_child(m, names[k], kids[k])) {
            for (int j = k; j < 3; j++) nb_module_free(kids[j]);
            nb_module_free(m);
            return NULL;
        }
    return m;
fail_all:
    nb_module_free(features);
    nb_module_free(classifier);
    nb_module_free(avgpool);
    nb_module_free(m);
    return NULL;
}

nb_module *nb__model_vgg11(nb_ctx *ctx, const nb_model_opts *o) { return vgg(ctx, o, CFG_A, 0); }
nb_module *nb__model_vgg11_bn(nb_ctx *ctx, const nb_model_opts *o) { return vgg(ctx, o, CFG_A, 1); }
nb_module *nb__model_vgg16(nb_ctx *ctx, const nb_model_opts *o) { return vgg(ctx, o, CFG_D, 0); }
nb_module *nb__model_vgg16_bn(nb_ctx *ctx, const nb_model_opts *o) { return vgg(ctx, o, CFG_D, 1); }
