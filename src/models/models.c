/* models.c - the built-in models, defined exactly as in bench/torch_bench.py
 * so their parameter names equal PyTorch's state_dict keys. */
#include "core/error.h"
#include "nn/module.h"
#include "models/models.h"
#include "nn/layers.h"

#include <string.h>


/* mlp: Flatten, Linear(784,512), ReLU, Linear(512,256), ReLU, Linear(256,10) */
static nb_module *mlp(nb_ctx *ctx, const nb_model_opts *o)
{
    int64_t in = 28 * 28 * o->in_channels;
    nb_module *layers[] = {
        nb_flatten_new(ctx, 1, -1),  nb_linear_new(ctx, in, 512, NULL), nb_relu_new(ctx),
        nb_linear_new(ctx, 512, 256, NULL), nb_relu_new(ctx), nb_linear_new(ctx, 256, o->num_classes, NULL),
    };
    return nb_sequential_new(ctx, layers, 6);
}

typedef struct {
    const char *name;
    nb_module *(*build)(nb_ctx *ctx, const nb_model_opts *o);
} model_entry;

static const model_entry models[] = {
    {"mlp", mlp},
    {"cnn", nb__model_cnn},
    {"cnn3", nb__model_cnn3},
    {"lenet5", nb__model_lenet5},
    {"resnet18", nb__model_resnet18},
    {"resnet34", nb__model_resnet34},
    {"resnet_small", nb__model_resnet_small},
    {"vgg11", nb__model_vgg11},
    {"vgg11_bn", nb__model_vgg11_bn},
    {"vgg16", nb__model_vgg16},
    {"vgg16_bn", nb__model_vgg16_bn},
};
#define NMODELS (int)(sizeof models / sizeof models[0])

const char *const *nb_model_names(void)
{
    static const char *names[NMODELS + 1];
    for (int i = 0; i < NMODELS; i++) names[i] = models[i].name;
    names[NMODELS] = NULL;
    return names;
}

static void set_dropout(nb_module *m, float p)
{
    if (nb__is_dropout(m)) nb__dropout_set_p(m, p);
    for (int i = 0; i < m->n_children; i++) set_dropout(m->children[i], p);
}

nb_module *nb_model_new(nb_ctx *ctx, const char *name, const nb_model_opts *opts)
{
    nb_model_opts o = opts ? *opts : (nb_model_opts){0};
    if (!o.num_classes) o.num_classes = 10;
    if (!o.in_channels) o.in_channels = 1;
    if (o.dropout_set && !(o.dropout >= 0 && o.dropout <= 1)) {
        nb__fail(NB_ERR_ARG, "dropout must be in [0, 1], got %g", o.dropout);
        return NULL;
    }
    size_t name_len = name ? strlen(name) : 0;
    if (name_len > 5 && !strcmp(name + name_len - 5, ".onnx")) { /* docs/onnx.md: the head resized to num_classes */
        nb_module *m = nb_onnx_load(ctx, name, NULL);
        if (m && opts && opts->num_classes && nb_onnx_num_classes(m) && nb_onnx_set_num_classes(m, opts->num_classes)) {
            nb_module_free(m);
            return NULL;
        }
        return m;
    }
    if (nb_model_is_file(name)) {
        const nb_model_opts *g = opts ? opts : &(nb_model_opts){0};
        nb_module *m = nb_model_file_load(
            ctx, name,
            &(nb_model_file_opts){.input = {g->in_channels, g->input_size[0], g->input_size[1]},
                                  .num_classes = g->num_classes});
        if (m && o.dropout_set) set_dropout(m, o.dropout);
        return m;
    }
    for (int i = 0; i < NMODELS; i++)
        if (!strcmp(name, models[i].name)) {
            nb_module *m = models[i].build(ctx, &o);
            if (m && o.dropout_set) set_dropout(m, o.dropout);
            return m;
        }
    char list[256] = "";
    for (int i = 0; i < NMODELS; i++) {
        strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
        strncat(list, models[i].name, sizeof list - strlen(list) - 1);
    }
    nb__fail(NB_ERR_ARG, "unknown model '%s' (built-in models: %s; or a model file: name.nbm)", name, list);
    return NULL;
}
