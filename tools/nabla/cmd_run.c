/* cmd_run.c - `nabla run MODEL.onnx IN.npy [IN2.npy ...] --out DIR`: run an ONNX model
 * on NumPy arrays given in graph-input order ("" leaves an optional input out) and
 * write DIR/output_0.npy ... in graph-output order, each in the type the graph
 * declares (float32, float64, int64, int32, uint8, bool, ...), so a script can
 * compare nabla's outputs with another runtime's. MODEL may also be a built-in model,
 * a model file or a text model (with --weights): its output on one input. `nabla
 * export` (here too) writes any of them as ONNX. */
#include "cli.h"
#include "options.h"
#include "progress.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *SYNOPSIS =
    "MODEL IN.npy [IN2.npy ...] --out DIR [--threads T] [--weights W.safetensors] [--num-classes K] [--time W,R]\n"
    "   or: nabla run --model HF_DIR ... (a Hugging Face model directory; nabla run --model HF_DIR --help)";

/* NumPy type of an ONNX element type */
static const char *npy_descr(int et)
{
    switch (et) {
    case 2: return "|u1";
    case 3: return "|i1";
    case 4: return "<u2";
    case 5: return "<i2";
    case 6: return "<i4";
    case 7: return "<i8";
    case 9: return "|b1";
    case 11: return "<f8";
    case 12: return "<u4";
    case 13: return "<u8";
    default: return "<f4";
    }
}

int info_onnx(const char *path)
{
    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.threads = 1});
    nb_module *m = ctx ? nb_onnx_load(ctx, path, NULL) : NULL;
    int status = 1;
    if (!m) cli_error("info: %s", nb_last_error());
    else if (nb_onnx_print(m, stdout)) cli_error("info: %s", nb_last_error());
    else status = 0;
    nb_module_free(m);
    nb_ctx_free(ctx);
    return status;
}

/* `nabla export`: a model as an ONNX file (nb_onnx_save). --model is a built-in model, a
 * model file (.nbm), a text model (a Hugging Face directory, or bert_tiny / gpt2_tiny
 * fresh) or an imported .onnx model (written back with the given weights, e.g. after
 * `nabla train --model MODEL.onnx --save W.safetensors`; the head takes the weights'
 * width; --opset converts it, --batch and --input (its first input's dims after the
 * batch, any number of them) reshape its inputs). The built-in models and model files take the input shape from --input, a
 * model file's input(...) or 1,28,28, and their number of classes from --num-classes,
 * the weights' head or 10. */
static const char *EXPORT_SYNOPSIS =
    "--model MODEL [--weights W.safetensors] [--opset 13..17] [--batch N|dynamic] [--input C,H,W] "
    "[--num-classes K] [--length T|dynamic] --out FILE.onnx";

/* "dynamic" -> 0, a positive integer -> itself; -1 after printing an error */
static int64_t dim_arg(const char *opt, const char *s)
{
    if (!s || !strcmp(s, "dynamic")) return 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*end || v < 1) {
        cli_error("export: %s wants a positive integer or 'dynamic', got '%s'", opt, s);
        return -1;
    }
    return v;
}

/* The imported graph's head resized to the weights' width, then the weights loaded. */
static int load_onnx_weights(nb_module *m, const char *weights)
{
    nb_safetensors *f = nb_safetensors_open(weights);
    char head[512], key[600];
    if (f && nb_module_head(m, head, sizeof head)) {
        snprintf(key, sizeof key, "%s.weight", head);
        int k = nb_safetensors_find(f, key);
        int64_t shape[NB_MAX_DIMS];
        int axis = nb_onnx_head_out_axis(m);
        if (k >= 0 && axis >= 0 && nb_safetensors_shape(f, k, shape) == 2 && nb_onnx_set_num_classes(m, shape[axis])) {
            nb_safetensors_close(f);
            return 1;
        }
    }
    nb_safetensors_close(f);
    return nb_load_safetensors(m, weights, 1) ? 1 : 0;
}

/* The width of the weights' head (the built model's head names it), 0 if it says nothing. */
static int64_t weights_classes(nb_module *m, const char *weights)
{
    char head[512], key[600];
    int64_t shape[NB_MAX_DIMS], k = 0;
    nb_safetensors *f = nb_module_head(m, head, sizeof head) ? nb_safetensors_open(weights) : NULL;
    snprintf(key, sizeof key, "%s.weight", head);
    int i = f ? nb_safetensors_find(f, key) : -1;
    if (i >= 0 && nb_safetensors_shape(f, i, shape) == 2) k = shape[0];
    nb_safetensors_close(f);
    nb_clear_error();
    return k;
}

/* A text model: a Hugging Face directory (its own weights) or a preset built fresh. */
static nb_module *text_model(nb_ctx *ctx, const char *model, long classes)
{
    if (cli_is_model_dir(model))
        return nb_model_from_dir(ctx, model, &(nb_model_dir_opts){.num_labels = (int)classes});
    nb_text_config c;
    if (nb_text_config_preset(model, &c)) return NULL;
    if (classes > 0) c.num_labels = (int)classes;
    return nb_text_model_new(ctx, &c);
}

static int is_text_model(const char *model)
{
    return cli_is_model_dir(model) || !strcmp(model, "bert_tiny") || !strcmp(model, "gpt2_tiny");
}

enum { MODEL_ONNX, MODEL_TEXT, MODEL_IMAGE };

/* --model of export and run, with --weights and --num-classes: an imported graph (the
 * head resized to the weights'), a text model, or a built-in model / model file for
 * images of shape chw (chw[0] == 0: the file's input(...) or 1,28,28; set on return).
 * *kind says which. NULL with the error set. */
static nb_module *open_model(nb_ctx *ctx, const char *model, const char *weights, long classes, int64_t chw[3],
                             int *kind)
{
    size_t n = strlen(model);
    nb_module *m = NULL;
    if (n > 5 && !strcmp(model + n - 5, ".onnx")) {
        *kind = MODEL_ONNX;
        if ((m = nb_model_new(ctx, model, NULL)) && weights && load_onnx_weights(m, weights)) goto fail;
        return m;
    }
    if (is_text_model(model)) {
        *kind = MODEL_TEXT;
        if ((m = text_model(ctx, model, classes)) && weights && nb_load_safetensors(m, weights, 1)) goto fail;
        return m;
    }
    *kind = MODEL_IMAGE;
    if (!chw[0] && nb_model_is_file(model)) { /* the file's input(...) line */
        nb_model_summary sum = {0};
        nb_module *f = nb_model_file_load(ctx, model, &(nb_model_file_opts){.summary = &sum});
        if (f && sum.input_ndim == 3) memcpy(chw, sum.input, 3 * sizeof *chw);
        nb_model_summary_free(&sum);
        nb_module_free(f);
        if (!f) return NULL;
    }
    if (!chw[0]) chw[0] = 1, chw[1] = 28, chw[2] = 28;
    nb_model_opts mo = {.num_classes = (int)classes, .in_channels = (int)chw[0], .input_size = {(int)chw[1], (int)chw[2]}};
    if (!(m = nb_model_new(ctx, model, &mo))) return NULL;
    if (weights && !classes) { /* the head as wide as the weights' */
        int64_t k = weights_classes(m, weights);
        if (k > 0 && k != (mo.num_classes ? mo.num_classes : 10)) {
            nb_module_free(m);
            mo.num_classes = (int)k;
            if (!(m = nb_model_new(ctx, model, &mo))) return NULL;
        }
    }
    if (weights && nb_load_safetensors(m, weights, 1)) goto fail;
    return m;
fail:
    nb_module_free(m);
    return NULL;
}

int cmd_export(int argc, char **argv)
{
    const char *model = NULL, *weights = NULL, *out = NULL, *batch_s = NULL, *input = NULL, *length_s = NULL;
    long opset = 0, classes = 0;
    const cli_option opts[] = {
        {"--model", OPT_STRING, &model, "MODEL",
         "built-in model, model file (.nbm), text model (directory or bert_tiny/gpt2_tiny) or .onnx (required)"},
        {"--weights", OPT_STRING, &weights, "FILE", "safetensors weights under the model's names (default: fresh or the model's own)"},
        {"--out", OPT_STRING, &out, "FILE.onnx", "where to write (required)"},
        {"--opset", OPT_INT, &opset, "N", "ONNX opset, 13 to 17 (17; an imported model keeps its own unless given)"},
        {"--batch", OPT_STRING, &batch_s, "N|dynamic", "batch dimension of the input (dynamic; an imported model keeps its own unless given)"},
        {"--input", OPT_STRING, &input, "C,H,W", "image input shape (a model file's input(...) or 1,28,28)"},
        {"--num-classes", OPT_INT, &classes, "K", "classes of a built-in model or model file (the weights' or 10)"},
        {"--length", OPT_STRING, &length_s, "T|dynamic", "text models: sequence length of the input (dynamic)"},
        {NULL, 0, NULL, NULL, NULL},
    };
    int rc = cli_parse("export", EXPORT_SYNOPSIS, opts, argc, argv, NULL, 0, NULL);
    if (rc) return rc == 1 ? 0 : rc;
    if (!model || !out) {
        cli_error("export: --model MODEL and --out FILE are required");
        return 2;
    }
    int64_t batch = dim_arg("--batch", batch_s), length = dim_arg("--length", length_s), chw[3] = {0, 0, 0};
    if (batch < 0 || length < 0) return 2;
    if (opset && (opset < 13 || opset > 17)) {
        cli_error("export: --opset %ld: nabla writes opsets 13 to 17", opset);
        return 2;
    }
    size_t n = strlen(model);
    int onnx = n > 5 && !strcmp(model + n - 5, ".onnx"), text = !onnx && is_text_model(model);
    int64_t dims[NB_MAX_DIMS];
    int ndims = 0;
    if (input) { /* C,H,W; an imported graph: its first input's dims after the batch */
        const char *p = input;
        for (;;) {
            char *end;
            long long v = strtoll(p, &end, 10);
            if (end == p || v < 1 || ndims == (onnx ? NB_MAX_DIMS - 1 : 3)) break;
            dims[ndims++] = v;
            p = end;
            if (*p != ',') break;
            p++;
        }
        if (*p || (!onnx && ndims != 3) || !ndims) {
            cli_error("export: --input wants %s, got '%s'", onnx ? "positive integers separated by commas" : "C,H,W (three positive integers)", input);
            return 2;
        }
        if (!onnx) memcpy(chw, dims, sizeof chw);
    }
    if (onnx && (classes || length_s)) {
        cli_error("export: an imported .onnx model keeps its head and sequence length: --num-classes and --length do not apply");
        return 2;
    }
    if (text && (input || (weights && cli_is_model_dir(model)))) {
        cli_error("export: a text model takes --length, not --input; a model directory brings its own weights");
        return 2;
    }
    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.threads = 1});
    int status = 1, kind = 0;
    nb_module *m = ctx ? open_model(ctx, model, weights, classes, chw, &kind) : NULL;
    if (!m) goto fail;
    nb_onnx_save_opts so = {.opset = (int)opset, .batch = batch};
    if (kind == MODEL_TEXT) {
        so.input_ids = 1;
        so.attention_mask = 1; /* input_ids and attention_mask, as Hugging Face's models are exported */
        so.length = length;
    } else if (kind == MODEL_IMAGE) {
        so.input_ndim = 3;
        memcpy(so.input, chw, sizeof chw);
    } else { /* an imported graph */
        so.set_batch = batch_s != NULL;
        so.input_ndim = ndims;
        memcpy(so.input, dims, sizeof dims);
    }
    if (nb_onnx_save(m, out, &so)) goto fail;
    printf("wrote %s\n", out);
    status = 0;
    goto done;
fail:
    cli_error("export: %s", nb_last_error());
done:
    nb_module_free(m);
    nb_ctx_free(ctx);
    return status;
}

/* `nabla run` of a model that is not an ONNX file: its eval-mode output on one input
 * (images (N, C, H, W) float32, text token ids (N, T) int64) as DIR/output_0.npy. */
static int run_module(nb_ctx *ctx, const char *model, const char *weights, long classes, const char *in,
                      const char *out)
{
    nb_tensor *x = nb_load_npy(ctx, in);
    int64_t chw[3] = {0, 0, 0};
    int kind = 0, status = 1;
    if (!x) {
        cli_error("run: %s: %s", in, nb_last_error());
        return 1;
    }
    if (nb_tensor_ndim(x) == 4) memcpy(chw, nb_tensor_shape(x) + 1, sizeof chw);
    nb_module *m = open_model(ctx, model, weights, classes, chw, &kind);
    nb_tensor *y = NULL;
    if (m) {
        nb_module_train(m, 0);
        nb_set_grad_enabled(ctx, 0);
        y = nb_module_forward(m, x);
    }
    char path[4096], shape[128];
    snprintf(path, sizeof path, "%s/output_0.npy", out);
    if (!y || nb_save_npy(path, y)) cli_error("run: %s", nb_last_error());
    else {
        printf("%s: %s %s\n", path, nb_tensor_dtype(y) == NB_F32 ? "<f4" : "<i8", nb_shape_str(y, shape, sizeof shape));
        status = 0;
    }
    nb_module_free(m);
    nb_tensor_free(x);
    return status;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int cmd_run(int argc, char **argv)
{
    if (cli_is_text_run(argc, argv)) return cmd_run_text(argc, argv); /* a Hugging Face model directory */
    const char *out = NULL, *weights = NULL, *time_s = NULL;
    long threads = 0, classes = 0;
    const cli_option opts[] = {
        {"--out", OPT_STRING, &out, "DIR", "directory for output_0.npy, output_1.npy, ... (required unless --time)"},
        {"--time", OPT_STRING, &time_s, "WARMUP,RUNS",
         "ONNX models: run WARMUP times, then time RUNS runs and print nabla_us=MEDIAN (microseconds a run)"},
        {"--threads", OPT_INT, &threads, "T", "threads (default: all cores)"},
        {"--weights", OPT_STRING, &weights, "FILE", "safetensors weights under the model's names"},
        {"--num-classes", OPT_INT, &classes, "K", "classes of a built-in model or model file (the weights' or 10)"},
        {NULL, 0, NULL, NULL, NULL},
    };
    const char *pos[66];
    int npos = 0;
    int rc = cli_parse("run", SYNOPSIS, opts, argc, argv, pos, 66, &npos);
    if (rc) return rc == 1 ? 0 : rc;
    long warmup = 0, runs = 0;
    char end;
    if (time_s && (sscanf(time_s, "%ld,%ld%c", &warmup, &runs, &end) != 2 || warmup < 0 || runs < 1 || runs > 100000)) {
        cli_error("run: --time wants WARMUP,RUNS (e.g. 5,50), got '%s'", time_s);
        return 2;
    }
    if (npos < 1 || (!out && !time_s)) {
        cli_error("run: usage: nabla run %s", SYNOPSIS);
        return 2;
    }
    if (out && mkdir(out, 0777) && errno != EEXIST) {
        cli_error("run: cannot create %s: %s", out, strerror(errno));
        return 1;
    }
    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.threads = (int)threads});
    size_t len = strlen(pos[0]);
    if (ctx && !(len > 5 && !strcmp(pos[0] + len - 5, ".onnx"))) {
        int st = 2;
        if (npos != 2 || !out) cli_error("run: a model that is not an ONNX file takes one input .npy and --out");
        else st = run_module(ctx, pos[0], weights, classes, pos[1], out);
        nb_ctx_free(ctx);
        return st;
    }
    int kind;
    int64_t chw[3] = {0, 0, 0};
    nb_module *m = ctx ? open_model(ctx, pos[0], weights, 0, chw, &kind) : NULL;
    nb_tensor *ins[65] = {0};
    int status = 1, n_in = npos - 1;
    if (!m) {
        cli_error("run: %s", nb_last_error());
        goto done;
    }
    if (n_in != nb_onnx_num_inputs(m)) {
        cli_error("run: %s has %d inputs (", pos[0], nb_onnx_num_inputs(m));
        for (int i = 0; i < nb_onnx_num_inputs(m); i++) fprintf(stderr, "%s%s", i ? ", " : "", nb_onnx_input_name(m, i));
        fprintf(stderr, "), %d .npy files given\n", n_in);
        status = 2;
        goto done;
    }
    for (int i = 0; i < n_in; i++) {
        if (!*pos[1 + i]) continue; /* "" leaves an optional input out */
        ins[i] = nb_load_npy(ctx, pos[1 + i]);
        if (!ins[i]) {
            cli_error("run: input %d ('%s'): %s", i, nb_onnx_input_name(m, i), nb_last_error());
            goto done;
        }
    }
    nb_module_train(m, 0);
    nb_set_grad_enabled(ctx, 0);
    int n_out = nb_onnx_num_outputs(m);
    nb_tensor *outs[64];
    int types[64];
    if (n_out > 64) n_out = 64;
    double *us = runs ? malloc(sizeof(double) * (size_t)runs) : NULL;
    for (long i = 0; i < 1 + warmup + runs; i++) { /* one run, or the warm-up and the timed runs */
        nb_ctx_reset(ctx);
        double t0 = now_seconds();
        if (nb_onnx_run(m, ins, n_in, outs, types, n_out)) {
            cli_error("run: %s", nb_last_error());
            free(us);
            goto done;
        }
        if (us && i > warmup) us[i - warmup - 1] = (now_seconds() - t0) * 1e6;
    }
    if (us) {
        double mean = 0;
        for (long i = 0; i < runs; i++) mean += us[i] / (double)runs;
        qsort(us, (size_t)runs, sizeof *us, cmp_double);
        printf("nabla_us=%.1f nabla_mean_us=%.1f threads=%d runs=%ld\n", us[runs / 2], mean, nb_ctx_threads(ctx), runs);
        free(us);
    }
    for (int k = 0; out && k < n_out; k++) {
        char path[4096], shape[128];
        snprintf(path, sizeof path, "%s/output_%d.npy", out, k);
        if (nb_save_npy_as(path, outs[k], npy_descr(types[k]))) {
            cli_error("run: %s", nb_last_error());
            goto done;
        }
        printf("%s: %s %s %s\n", path, nb_onnx_output_name(m, k), npy_descr(types[k]), nb_shape_str(outs[k], shape, sizeof shape));
    }
    status = 0;
done:
    for (int i = 0; i < 65; i++) nb_tensor_free(ins[i]);
    nb_module_free(m);
    nb_ctx_free(ctx);
    return status;
}

