/* fuzz_onnx.c - libFuzzer target for the ONNX reader.
 *
 * Each input is a would-be model.onnx given to nb_onnx_load_buffer (no folder, so
 * external data is refused): the protobuf parse (protobuf-c), the wire-format
 * diagnosis of a refused file, every initializer and Constant decoded against its
 * shape, the graph's names, inputs and cycles, every node checked against the op
 * table. A model that loads is then described through the query API. Nothing may
 * crash, leak, read out of bounds (ASan/UBSan) or allocate what a shape merely
 * promises. Build and run: sh tests/fuzz/run.sh [SECONDS] onnx. */
#include "nabla.h"

#include <stdint.h>
#include <string.h>

static nb_ctx *g_ctx;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_ctx) g_ctx = nb_ctx_new(&(nb_ctx_opts){.threads = 1});
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
        nb_module_free(m);
    } else {
        (void)strlen(nb_last_error());
    }
    nb_ctx_reset(g_ctx);
    return 0;
}
