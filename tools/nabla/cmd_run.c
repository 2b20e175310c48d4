/* cmd_run.c - `nabla run MODEL.onnx IN.npy [IN2.npy ...] --out DIR`: run an ONNX model
 * on NumPy arrays given in graph-input order ("" leaves an optional input out) and
 * write DIR/output_0.npy ... in graph-output order, each in the type the graph
 * declares (float32, float64, int64, int32, uint8, bool, ...), so a script can
 * compare nabla's outputs with another runtime's. */
#include "cli.h"
#include "options.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *SYNOPSIS = "MODEL.onnx IN.npy [IN2.npy ...] --out DIR [--threads T]\n"
                              "   or: nabla run --model HF_DIR ... (a Hugging Face model directory; "
                              "nabla run --model HF_DIR --help)";

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

int cmd_run(int argc, char **argv)
{
    if (cli_is_text_run(argc, argv)) return cmd_run_text(argc, argv); /* a Hugging Face model directory */
    const char *out = NULL;
    long threads = 0;
    const cli_option opts[] = {
        {"--out", OPT_STRING, &out, "DIR", "directory for output_0.npy, output_1.npy, ... (required)"},
        {"--threads", OPT_INT, &threads, "T", "threads (default: all cores)"},
        {NULL, 0, NULL, NULL, NULL},
    };
    const char *pos[66];
    int npos = 0;
    int rc = cli_parse("run", SYNOPSIS, opts, argc, argv, pos, 66, &npos);
    if (rc) return rc == 1 ? 0 : rc;
    if (npos < 1 || !out) {
        cli_error("run: usage: nabla run %s", SYNOPSIS);
        return 2;
    }
    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.threads = (int)threads});
    nb_module *m = ctx ? nb_onnx_load(ctx, pos[0], NULL) : NULL;
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
    if (mkdir(out, 0777) && errno != EEXIST) {
        cli_error("run: cannot create %s: %s", out, strerror(errno));
        goto done;
    }
    nb_module_train(m, 0);
    nb_set_grad_enabled(ctx, 0);
    int n_out = nb_onnx_num_outputs(m);
    nb_tensor *outs[64];
    int types[64];
    if (n_out > 64) n_out = 64;
    if (nb_onnx_run(m, ins, n_in, outs, types, n_out)) {
        cli_error("run: %s", nb_last_error());
        goto done;
    }
    for (int k = 0; k < n_out; k++) {
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

/* `nabla export --model MODEL.onnx [--weights W.safetensors] --out OUT.onnx`: an
 * imported model written back as ONNX with the given weights (e.g. after `nabla train
 * --model MODEL.onnx --save W.safetensors`; the head takes the weights' width). */
int cmd_export(int argc, char **argv)
{
    const char *model = NULL, *weights = NULL, *out = NULL;
    long opset = 0;
    const cli_option opts[] = {
        {"--model", OPT_STRING, &model, "FILE.onnx", "the ONNX model (required; built-in models cannot be exported yet)"},
        {"--weights", OPT_STRING, &weights, "FILE", "safetensors weights under the model's names (default: the model's own)"},
        {"--out", OPT_STRING, &out, "FILE.onnx", "where to write (required)"},
        {"--opset", OPT_INT, &opset, "N", "must be the model's own opset (no conversion yet)"},
        {NULL, 0, NULL, NULL, NULL},
    };
    int rc = cli_parse("export", "--model FILE.onnx [--weights FILE] --out FILE.onnx", opts, argc, argv, NULL, 0, NULL);
    if (rc) return rc == 1 ? 0 : rc;
    if (!model || !out) {
        cli_error("export: --model FILE and --out FILE are required");
        return 2;
    }
    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.threads = 1});
    nb_module *m = ctx ? nb_model_new(ctx, model, NULL) : NULL;
    int status = 1;
    if (!m) {
        cli_error("export: %s", nb_last_error());
        goto done;
    }
    if (weights) {
        /* the head takes the width the weights give it */
        nb_safetensors *f = nb_onnx_is_model(m) ? nb_safetensors_open(weights) : NULL;
        char head[512], key[600];
        if (f && nb_module_head(m, head, sizeof head)) {
            snprintf(key, sizeof key, "%s.weight", head);
            int k = nb_safetensors_find(f, key);
            int64_t shape[NB_MAX_DIMS];
            int axis = nb_onnx_head_out_axis(m);
            if (k >= 0 && axis >= 0 && nb_safetensors_shape(f, k, shape) == 2 && nb_onnx_set_num_classes(m, shape[axis]))
                cli_error("export: %s", nb_last_error());
        }
        nb_safetensors_close(f);
        if (nb_load_safetensors(m, weights, 1)) {
            cli_error("export: %s", nb_last_error());
            goto done;
        }
    }
    if (nb_onnx_save(m, out, &(nb_onnx_save_opts){.opset = (int)opset})) {
        cli_error("export: %s", nb_last_error());
        goto done;
    }
    printf("wrote %s\n", out);
    status = 0;
done:
    nb_module_free(m);
    nb_ctx_free(ctx);
    return status;
}
