/* cnn.c - the built-in `cnn`, `cnn3` and `lenet5` models (their rows are in models.c;
 * models/cnn.nbm, models/cnn3.nbm and models/lenet5.nbm describe the same stacks,
 * tests/test_model_file.c checks that they agree). */
#include "models/models.h"

/* cnn of bench/torch_bench.py (state_dict keys 0.*, 1.*, 4.*, 5.*, 9.*, 12.*):
 * Conv2d(C,32,3,p=1), BatchNorm2d(32), ReLU, MaxPool2d(2), Conv2d(32,64,3,p=1),
 * BatchNorm2d(64), ReLU, MaxPool2d(2), Flatten, Linear(3136,128), ReLU, Dropout(0.25),
 * Linear(128,classes). cnn3, the default model of `nabla train` (keys 0.*, 1.*, 4.*, 5.*,
 * 8.*, 9.*, 12.*, 15.*): the same with a third Conv2d(64,64,3,p=1), BatchNorm2d(64), ReLU
 * at 7x7 before the Flatten. Built in this order (the weights' draws follow it) for 28x28
 * inputs. */
static nb_module *cnn_stack(nb_ctx *ctx, const nb_model_opts *o, int third_conv)
{
    nb_conv2d_opts p1 = {.padding = {1, 1}};
    nb_pool2d_opts mp = {.kernel = {2, 2}};
    nb_module *layers[16];
    int n = 0;
    layers[n++] = nb_conv2d_new(ctx, o->in_channels, 32, 3, 3, &p1);
    layers[n++] = nb_batchnorm2d_new(ctx, 32, NULL);
    layers[n++] = nb_relu_new(ctx);
    layers[n++] = nb_maxpool2d_new(ctx, &mp);
    layers[n++] = nb_conv2d_new(ctx, 32, 64, 3, 3, &p1);
    layers[n++] = nb_batchnorm2d_new(ctx, 64, NULL);
    layers[n++] = nb_relu_new(ctx);
    layers[n++] = nb_maxpool2d_new(ctx, &mp);
    if (third_conv) {
        layers[n++] = nb_conv2d_new(ctx, 64, 64, 3, 3, &p1);
        layers[n++] = nb_batchnorm2d_new(ctx, 64, NULL);
        layers[n++] = nb_relu_new(ctx);
    }
    layers[n++] = nb_flatten_new(ctx, 1, -1);
    layers[n++] = nb_linear_new(ctx, 64 * 7 * 7, 128, NULL);
    layers[n++] = nb_relu_new(ctx);
    layers[n++] = nb_dropout_new(ctx, 0.25f);
    layers[n++] = nb_linear_new(ctx, 128, o->num_classes, NULL);
    return nb_sequential_new(ctx, layers, n);
}

nb_module *nb__model_cnn(nb_ctx *ctx, const nb_model_opts *o) { return cnn_stack(ctx, o, 0); }

nb_module *nb__model_cnn3(nb_ctx *ctx, const nb_model_opts *o) { return cnn_stack(ctx, o, 1); }

/* lenet5, LeCun et al. 1998 with PyTorch layers and its tanh activations
 * (state_dict keys 0.*, 3.*, 7.*, 9.*, 11.*): Conv2d(C,6,5,p=2), Tanh, AvgPool2d(2),
 * Conv2d(6,16,5), Tanh, AvgPool2d(2), Flatten, Linear(400,120), Tanh, Linear(120,84),
 * Tanh, Linear(84,classes). Built for 28x28 inputs (the padding makes them 32x32). */
nb_module *nb__model_lenet5(nb_ctx *ctx, const nb_model_opts *o)
{
    nb_conv2d_opts p2 = {.padding = {2, 2}};
    nb_pool2d_opts ap = {.kernel = {2, 2}};
    nb_module *layers[] = {
        nb_conv2d_new(ctx, o->in_channels, 6, 5, 5, &p2), nb_tanh_new(ctx), nb_avgpool2d_new(ctx, &ap),
        nb_conv2d_new(ctx, 6, 16, 5, 5, NULL), nb_tanh_new(ctx), nb_avgpool2d_new(ctx, &ap),
        nb_flatten_new(ctx, 1, -1), nb_linear_new(ctx, 16 * 5 * 5, 120, NULL), nb_tanh_new(ctx),
        nb_linear_new(ctx, 120, 84, NULL), nb_tanh_new(ctx), nb_linear_new(ctx, 84, o->num_classes, NULL),
    };
    return nb_sequential_new(ctx, layers, (int)(sizeof layers / sizeof layers[0]));
}
