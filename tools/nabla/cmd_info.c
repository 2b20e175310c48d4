/* cmd_info.c - `nabla info FILE`: what a model file builds (a torchsummary-like
 * table: each layer's name, type, output shape and parameter count, and the
 * totals) or what a safetensors file holds (each tensor's name, dtype and shape).
 *
 * "Total params" counts parameters only, in both: for a model file the module's
 * parameters; for a safetensors file every tensor except the buffers, recognised
 * by PyTorch's buffer names (running_mean, running_var, num_batches_tracked), so
 * the weights saved from a model give the same count as its model file. */
#include "cli.h"
#include "options.h"

#include <stdio.h>
#include <string.h>

static const char *SYNOPSIS = "FILE.nbm | FILE.safetensors | FILE.onnx [--input C,H,W]";

static void shape_str(int ndim, const int64_t *d, char *buf, size_t n)
{
    size_t k = 0;
    buf[0] = 0;
    for (int i = 0; i < ndim && k < n; i++) k += (size_t)snprintf(buf + k, n - k, i ? "x%lld" : "%lld", (long long)d[i]);
    if (!ndim) snprintf(buf, n, "scalar");
}

/* 1234567 -> "1,234,567" */
static const char *commas(int64_t v, char *buf, size_t n)
{
    char raw[32];
    snprintf(raw, sizeof raw, "%lld", (long long)v);
    size_t len = strlen(raw), k = 0;
    for (size_t i = 0; i < len && k + 1 < n; i++) {
        if (i && raw[i - 1] != '-' && (len - i) % 3 == 0) buf[k++] = ',';
        buf[k++] = raw[i];
    }
    buf[k] = 0;
    return buf;
}

static int is_buffer_name(const char *name)
{
    static const char *const suffixes[] = {"running_mean", "running_var", "num_batches_tracked"};
    const char *last = strrchr(name, '.');
    last = last ? last + 1 : name;
    for (int i = 0; i < 3; i++)
        if (!strcmp(last, suffixes[i])) return 1;
    return 0;
}

static int info_safetensors(const char *path)
{
    nb_safetensors *f = nb_safetensors_open(path);
    if (!f) {
        cli_error("info: %s", nb_last_error());
        return 1;
    }
    int n = nb_safetensors_count(f);
    int64_t params = 0, buffers = 0;
    int n_buffers = 0;
    size_t w = 4;
    for (int i = 0; i < n; i++)
        if (strlen(nb_safetensors_name(f, i)) > w) w = strlen(nb_safetensors_name(f, i));
    printf("%s: safetensors, %d tensor%s\n\n", path, n, n == 1 ? "" : "s");
    printf("%-*s  %-5s  %-16s  %12s\n", (int)w, "Name", "Dtype", "Shape", "Values");
    for (int i = 0; i < n; i++) {
        int64_t shape[NB_MAX_DIMS], numel = 1;
        int nd = nb_safetensors_shape(f, i, shape);
        for (int k = 0; k < nd; k++) numel *= shape[k];
        char s[128], c[32];
        shape_str(nd, shape, s, sizeof s);
        const char *name = nb_safetensors_name(f, i);
        int buf = is_buffer_name(name);
        printf("%-*s  %-5s  %-16s  %12s%s\n", (int)w, name, nb_safetensors_dtype(f, i), s, commas(numel, c, sizeof c),
               buf ? "  (buffer)" : "");
        if (buf) buffers += numel, n_buffers++;
        else params += numel;
    }
    char a[32], b[32];
    printf("\nTotal params: %s\n", commas(params, a, sizeof a));
    printf("Buffers: %s values in %d tensors (running_mean, running_var, num_batches_tracked)\n",
           commas(buffers, b, sizeof b), n_buffers);
    nb_safetensors_close(f);
    return 0;
}

static int info_model(const char *path, const int64_t input[3])
{
    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.threads = 1});
    nb_model_summary sum = {0};
    nb_module *m = ctx ? nb_model_file_load(ctx, path, &(nb_model_file_opts){.input = {input[0], input[1], input[2]},
                                                                           .summary = &sum})
                       : NULL;
    if (!m) {
        cli_error("info: %s", nb_last_error());
        nb_ctx_free(ctx);
        return 1;
    }
    char in[128];
    shape_str(sum.input_ndim, sum.input, in, sizeof in);
    int w = 5;
    for (int i = 0; i < sum.n; i++) {
        int len = (int)strlen(sum.layers[i].name) + 2 * sum.layers[i].depth;
        if (len > w) w = len;
    }
    printf("%s: model file, input %s\n\n", path, in);
    printf("%-*s  %-18s  %-14s  %12s\n", w, "Layer", "Type", "Output shape", "Param #");
    for (int i = 0; i < sum.n; i++) {
        const nb_model_layer *l = &sum.layers[i];
        char s[128], c[32];
        shape_str(l->ndim, l->shape, s, sizeof s);
        printf("%*s%-*s  %-18s  %-14s  %12s\n", 2 * l->depth, "", w - 2 * l->depth, l->name, l->kind, s,
               l->is_block ? "" : commas(l->params, c, sizeof c));
    }
    int n;
    const nb_named_tensor *st = nb_module_state(m, &n);
    int64_t buffers = 0;
    int n_buffers = 0;
    for (int i = 0; i < n; i++)
        if (st[i].is_buffer) buffers += nb_tensor_numel(st[i].tensor), n_buffers++;
    int64_t params = nb_module_num_params(m);
    char a[32], b[32], c[32];
    printf("\nTotal params: %s\n", commas(params, a, sizeof a));
    printf("Buffers: %s values in %d tensors (running statistics)\n", commas(buffers, b, sizeof b), n_buffers);
    printf("state_dict: %d tensors; float32 size %s bytes\n", n, commas((params + buffers) * 4, c, sizeof c));
    nb_model_summary_free(&sum);
    nb_module_free(m);
    nb_ctx_free(ctx);
    return 0;
}

int cmd_info(int argc, char **argv)
{
    const char *input = NULL;
    const cli_option opts[] = {
        {"--input", OPT_STRING, &input, "C,H,W", "input shape of a model file (default: its input(...) or 1,28,28)"},
        {NULL, 0, NULL, NULL, NULL},
    };
    const char *pos[1];
    int npos = 0;
    int rc = cli_parse("info", SYNOPSIS, opts, argc, argv, pos, 1, &npos);
    if (rc) return rc == 1 ? 0 : rc;
    if (npos == 1 && cli_is_model_dir(pos[0])) return cli_info_dir(pos[0]);
    if (npos != 1) {
        cli_error("info: give one FILE (a .nbm model file, a .safetensors file or an .onnx model)");
        return 2;
    }
    int64_t chw[3] = {0, 0, 0};
    if (input) {
        long long c, h, w;
        char end;
        if (sscanf(input, "%lld,%lld,%lld%c", &c, &h, &w, &end) != 3 || c < 1 || h < 1 || w < 1) {
            cli_error("info: --input needs C,H,W (three positive integers), got '%s'", input);
            return 2;
        }
        chw[0] = c, chw[1] = h, chw[2] = w;
    }
    size_t n = strlen(pos[0]);
    if (n > 12 && !strcmp(pos[0] + n - 12, ".safetensors")) return info_safetensors(pos[0]);
    if (n > 5 && !strcmp(pos[0] + n - 5, ".onnx")) return info_onnx(pos[0]);
    return info_model(pos[0], chw);
}
