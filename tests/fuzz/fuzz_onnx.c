/* fuzz_onnx.c - libFuzzer target for the ONNX reader and executor.
 *
 * Each input is a would-be model.onnx given to nb_onnx_load_buffer (no folder, so
 * external data is refused): the protobuf parse (protobuf-c), the wire-format
 * diagnosis of a refused file, every initializer and Constant decoded against its
 * shape, the graph's names, inputs and cycles, every node checked against the op
 * table. A model that loads is described through the query API and, when every input
 * has a small static shape, run once on inputs of ones, so the ops meet mutated
 * attributes and shapes too (results are capped at 2^20 elements here), then once more
 * in training mode with a backward from the first output, and then written back as
 * ONNX (the re-export of src/onnx/convert.c, at an opset 13-17 the input picks) and
 * read again. Nothing may
 * crash, leak, read out of bounds (ASan/UBSan) or allocate what a shape merely
 * promises. Build and run: sh tests/fuzz/run.sh [SECONDS] onnx. */
#include "nabla.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern int64_t nb__onnx_max_numel;

static nb_ctx *g_ctx;
static char g_out[64]; /* the re-export's file, in a directory of this process's */

/* nb_onnx_save of the imported model (convert.c), then nb_onnx_load of what it wrote */
static void reexport(nb_module *m, const uint8_t *data, size_t size)
{
    if (!g_out[0]) {
        char dir[] = "/tmp/fuzz_onnx_XXXXXX";
        if (!mkdtemp(dir)) return;
        snprintf(g_out, sizeof g_out, "%s/model.onnx", dir);
    }
    nb_onnx_save_opts o = {.opset = 13 + (int)(data[size / 2] % 5), .batch = data[size - 1] & 1 ? 2 : 0,
                           .set_batch = (data[size - 1] >> 1) & 1};
    nb_ctx_reset(g_ctx);
    nb_clear_error();
    if (nb_onnx_save(m, g_out, &o) == NB_OK) {
        nb_module *r = nb_onnx_load(g_ctx, g_out, NULL);
        if (!r) { /* what nabla writes, nabla must read */
            fprintf(stderr, "re-exported model does not load: %s\n", nb_last_error());
            __builtin_trap();
        }
        nb_module_free(r);
    }
    unlink(g_out);
}

static void run_once(nb_module *m)
{
    int n_in = nb_onnx_num_inputs(m), n_out = nb_onnx_num_outputs(m);
    if (n_in > 8 || n_out < 1 || nb_onnx_num_nodes(m) > 64) return;
    nb_tensor *ins[8] = {0}, *outs[1];
    /* inputs of their declared shapes (symbolic dimensions 2; unknown ranks: 1-D), small */
    for (int i = 0; i < n_in; i++) {
        int et = nb_onnx_input_type(m, i);
        int64_t shape[NB_MAX_DIMS], numel = 1;
        int nd = nb_onnx_input_shape(m, i, shape);
        if (nd < 0) {
            nd = 1;
            shape[0] = 4;
        }
        for (int d = 0; d < nd; d++) {
            if (shape[d] < 0) shape[d] = 2;
            numel *= shape[d];
            if (numel > 4096) goto done;
        }
        ins[i] = nb_tensor_new(g_ctx, et == 1 || et == 10 || et == 11 || et == 16 || et == 0 ? NB_F32 : NB_I64, nd, shape);
        if (!ins[i]) goto done;
        for (int64_t k = 0; k < numel; k++) {
            if (nb_tensor_dtype(ins[i]) == NB_F32) nb_tensor_data(ins[i])[k] = 1.0f;
            else nb_tensor_data_i64(ins[i])[k] = 1;
        }
    }
    nb_set_grad_enabled(g_ctx, 0);
    nb_module_train(m, 0);
    (void)nb_onnx_run(m, ins, n_in, outs, NULL, 1);
    /* and once in training mode with the gradient of the first output's sum, so every
     * backward (and the differentiable forms of ConvTranspose, 3-D Conv and the
     * recurrent ops) meets the mutated graphs too */
    nb_ctx_reset(g_ctx);
    nb_clear_error();
    nb_set_grad_enabled(g_ctx, 1);
    nb_module_train(m, 1);
    for (int i = 0; i < n_in; i++)
        if (ins[i] && nb_tensor_dtype(ins[i]) == NB_F32) nb_tensor_set_requires_grad(ins[i], 1);
    if (!nb_onnx_run(m, ins, n_in, outs, NULL, 1) && outs[0] && nb_tensor_dtype(outs[0]) == NB_F32 &&
        nb_tensor_numel(outs[0]) > 0 && nb_tensor_requires_grad(outs[0]))
        (void)nb_backward(nb_sum(outs[0]));
    nb_module_train(m, 0);
done:
    for (int i = 0; i < n_in; i++) nb_tensor_free(ins[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_ctx) {
        g_ctx = nb_ctx_new(&(nb_ctx_opts){.threads = 1});
        nb__onnx_max_numel = (int64_t)1 << 20;
    }
    nb_module *m = nb_onnx_load_buffer(g_ctx, data, size, NULL, NULL);
    if (m) {
        for (int i = 0; i < nb_onnx_num_inputs(m); i++) (void)strlen(nb_onnx_input_name(m, i));
        for (int i = 0; i < nb_onnx_num_outputs(m); i++) (void)strlen(nb_onnx_output_name(m, i));
        for (int i = 0; i < nb_onnx_num_nodes(m); i++) {
            const char *op;
            (void)strlen(nb_onnx_node(m, i, &op));
            (void)strlen(op);
        }
        int n;
        nb_module_state(m, &n);
        run_once(m);
        if (nb_onnx_num_nodes(m) <= 64) reexport(m, data, size);
        nb_module_free(m);
    } else {
        (void)strlen(nb_last_error());
    }
    nb_ctx_reset(g_ctx);
    return 0;
}
