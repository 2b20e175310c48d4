/* resnet.c - ResNet with torchvision's structure and state_dict names (He et al.
 * 2015; torchvision.models.resnet), BasicBlock variants:
 *
 *   conv1 7x7/2 pad 3 (no bias), bn1, relu, maxpool 3x3/2 pad 1,
 *   layer1..layer4: BasicBlocks with 64/128/256/512 channels, first strides 1/2/2/2;
 *   block 0 of a layer whose stride or width changes has downsample =
 *   Sequential(conv 1x1/stride (no bias), BatchNorm2d) on the identity path,
 *   avgpool AdaptiveAvgPool2d(1), flatten, fc Linear(512, num_classes).
 *   BasicBlock: conv1 3x3/stride pad 1, bn1, relu, conv2 3x3 pad 1, bn2,
 *   += identity, relu.
 *
 * resnet18: blocks [2, 2, 2, 2], 11,689,512 parameters with 1000 classes, 122
 * state_dict entries (e.g. layer2.0.downsample.0.weight, fc.bias); resnet34:
 * [3, 4, 6, 3], 21,797,672 parameters.
 *
 * resnet_small (nabla's, for 28x28 inputs such as Fashion-MNIST): the CIFAR-style
 * ResNet-14 of He et al. sec. 4.2 with the same names: conv1 3x3/1 pad 1 with 16
 * channels (no bias), bn1, relu, no maxpool, layer1..layer3 of 2 BasicBlocks with
 * 16/32/64 channels and first strides 1/2/2 (28 -> 28 -> 14 -> 7), avgpool, fc
 * Linear(64, num_classes); 174,970 parameters for 10 classes.
 *
 * Initialisation as torchvision: conv weights kaiming_normal(mode=fan_out,
 * nonlinearity=relu), BatchNorm weight 1 and bias 0, fc PyTorch's Linear default;
 * draws from the context generator. in_channels replaces conv1's 3 input channels. */
#include "core/ctx.h"
#include "core/tape.h"
#include "nn/module.h"
#include "nn/residual.h"
#include "nn/onnx_export.h"
#include "models/models.h"

#include <math.h>
#include <string.h>

/* ---- helpers ---- */

static nb_module *conv(nb_ctx *ctx, int64_t in, int64_t out, int k, int stride, int pad)
{
    nb_module *c = nb_conv2d_new(ctx, in, out, k, k,
                                 &(nb_conv2d_opts){.stride = {stride, stride}, .padding = {pad, pad}, .no_bias = 1});
    if (c && nb_init_kaiming_normal(c->own[0].tensor, 0.0f, NB_FAN_OUT, NB_GAIN_RELU, &ctx->rng)) {
        nb_module_free(c);
        return NULL;
    }
    return c;
}

/* Add a child; on failure free it and return nonzero (the caller frees the parent). */
static int add(nb_module *parent, const char *name, nb_module *child)
{
    if (!child) return -1;
    if (nb__module_add_child(parent, name, child)) {
        nb_module_free(child);
        return -1;
    }
    return 0;
}

static nb_module *basic_block(nb_ctx *ctx, int64_t in, int64_t out, int stride)
{
    nb_module *b = nb__basic_block_new(ctx); /* conv1, bn1, relu, conv2, bn2 [, downsample = the shortcut] */
    if (!b) return NULL;
    if (add(b, "conv1", conv(ctx, in, out, 3, stride, 1)) || add(b, "bn1", nb_batchnorm2d_new(ctx, out, NULL)) ||
        add(b, "relu", nb_relu_new(ctx)) || add(b, "conv2", conv(ctx, out, out, 3, 1, 1)) ||
        add(b, "bn2", nb_batchnorm2d_new(ctx, out, NULL)))
        goto fail;
    if (stride != 1 || in != out) {
        nb_module *ds[] = {conv(ctx, in, out, 1, stride, 0), nb_batchnorm2d_new(ctx, out, NULL)};
        nb_module *down = nb_sequential_new(ctx, ds, 2);
        if (!down) goto fail;
        if (nb__residual_add(b, "downsample", down, 1)) {
            nb_module_free(down);
            goto fail;
        }
    }
    return b;
fail:
    nb_module_free(b);
    return NULL;
}

/* ---- ResNet ---- */

/* Whether the training stem's relu(bn1(.)), made by the fuse hook from children[i] on, is
 * read by nobody once the maxpool at children[i + 2] has run: bn1 uses batch statistics
 * (its backward then recomputes the ReLU's mask from its input, not its output), the
 * maxpool's backward reads only its indices, and no feature capture holds the tensor. */
static int stem_dead_after_pool(const nb_module *m, int i)
{
    if (i + 2 >= m->n_children || strcmp(m->child_names[i], "bn1") || strcmp(m->child_names[i + 2], "maxpool"))
        return 0;
    const nb_module *bn = m->children[i], *pool = m->children[i + 2];
    return bn->training && !m->ctx->sync_bn && !pool->capture && !strcmp(nb_module_kind(bn), "BatchNorm2d") &&
           !strcmp(nb_module_kind(pool), "MaxPool2d");
}

/* Children in torchvision's order; maxpool may be absent (resnet_small), layer4 too. */
static nb_tensor *resnet_forward(nb_module *m, nb_tensor *x)
{
    nb_tensor *stem = NULL; /* the stem's output, dead after the maxpool (stem_dead_after_pool) */
    for (int i = 0; i < m->n_children && x;) {
        if (!strcmp(m->child_names[i], "fc")) x = nb_flatten(x, 1, -1);
        int used = 0; /* training: the stem's BatchNorm + ReLU as one op (their fuse hook) */
        nb_tensor *y = m->training ? nb__module_fuse(m->children + i, m->n_children - i, x, 1, &used) : NULL;
        if (used > 0) {
            if (used == 2 && stem_dead_after_pool(m, i)) stem = y;
            x = y;
            i += used;
            continue;
        }
        x = nb_module_forward(m->children[i], x);
        if (stem && x) nb__data_as_grad(stem); /* its 4 MiB (resnet18, 3x32x32, batch 64) hold its gradient */
        stem = NULL;
        i++;
    }
    return x;
}

/* ONNX: the children, Flatten before fc */
static int resnet_ox(nb_module *m, nb__ox *e, int x)
{
    for (int i = 0; i < m->n_children && x >= 0; i++) {
        if (!strcmp(m->child_names[i], "fc")) x = nb__ox_flatten(e, x, 1, -1);
        x = nb__ox_child(e, m->children[i], m->child_names[i], x);
    }
    return x;
}

static const nb_module_vtable resnet_vt = {.kind = "ResNet", .forward = resnet_forward, .to_onnx = resnet_ox};

typedef struct {
    int stem_kernel, stem_stride, stem_pad, maxpool;
    int64_t stem_width;
    int nlayers;
    int blocks[4];
    int64_t widths[4];
} resnet_cfg;

static nb_module *resnet(nb_ctx *ctx, const nb_model_opts *o, const resnet_cfg *c)
{
    nb_module *m = nb__module_new(ctx, &resnet_vt);
    if (!m) return NULL;
    if (add(m, "conv1", conv(ctx, o->in_channels, c->stem_width, c->stem_kernel, c->stem_stride, c->stem_pad)) ||
        add(m, "bn1", nb_batchnorm2d_new(ctx, c->stem_width, NULL)) || add(m, "relu", nb_relu_new(ctx)))
        goto fail;
    if (c->maxpool &&
        add(m, "maxpool", nb_maxpool2d_new(ctx, &(nb_pool2d_opts){.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}})))
        goto fail;
    int64_t in = c->stem_width;
    for (int l = 0; l < c->nlayers; l++) {
        nb_module *layer = nb_sequential_new(ctx, NULL, 0);
        char name[24]; /* "layer" and an int, whatever its width */
        snprintf(name, sizeof name, "layer%d", l + 1);
        if (add(m, name, layer)) goto fail;
        for (int b = 0; b < c->blocks[l]; b++) {
            nb_module *blk = basic_block(ctx, in, c->widths[l], b == 0 && l > 0 ? 2 : 1);
            if (!blk || nb_sequential_append(layer, blk)) goto fail;
            in = c->widths[l];
        }
    }
    if (add(m, "avgpool", nb_adaptive_avgpool2d_new(ctx, 1, 1)) ||
        add(m, "fc", nb_linear_new(ctx, in, o->num_classes, NULL)))
        goto fail;
    return m;
fail:
    nb_module_free(m);
    return NULL;
}

nb_module *nb__model_resnet18(nb_ctx *ctx, const nb_model_opts *o)
{
    const resnet_cfg c = {7, 2, 3, 1, 64, 4, {2, 2, 2, 2}, {64, 128, 256, 512}};
    return resnet(ctx, o, &c);
}

nb_module *nb__model_resnet34(nb_ctx *ctx, const nb_model_opts *o)
{
    const resnet_cfg c = {7, 2, 3, 1, 64, 4, {3, 4, 6, 3}, {64, 128, 256, 512}};
    return resnet(ctx, o, &c);
}

nb_module *nb__model_resnet_small(nb_ctx *ctx, const nb_model_opts *o)
{
    const resnet_cfg c = {3, 1, 1, 0, 16, 3, {2, 2, 2}, {16, 32, 64}};
    return resnet(ctx, o, &c);
}
