/* text_model.h - what the text models share (private): src/models/bert.c, gpt2.c,
 * hf_dir.c, on the blocks of src/nn/transformer.c (nn/transformer.h). */
#ifndef NB_TEXT_MODEL_H
#define NB_TEXT_MODEL_H
#include "nn/transformer.h"

/* Models (bert.c, gpt2.c): a text model's module has impl = a nb_text_config copy. */
nb_module *nb__bert_new(nb_ctx *ctx, const nb_text_config *c);
nb_tensor *nb__bert_forward(nb_module *m, nb_tensor *ids, const nb_text_inputs *in, nb_tensor **pooled);
nb_module *nb__gpt2_new(nb_ctx *ctx, const nb_text_config *c);
nb_tensor *nb__gpt2_forward(nb_module *m, nb_tensor *ids, const nb_text_inputs *in);
/* The (B, T) input ids and their checks: I64, 2 dims, T <= max positions. */
nb_status nb__text_check_ids(const nb_tensor *ids, const nb_text_inputs *in, const nb_text_config *c);
/* text_model.c: the number of architectures (nb_text_arch values) and whether one is BERT's. */
#define NB__TEXT_N_ARCH 5
/* text_onnx.c: the models' to_onnx hooks (nn/onnx_export.h) */
int nb__bert_to_onnx(nb_module *m, struct nb__ox *e, int ids);
int nb__gpt2_to_onnx(nb_module *m, struct nb__ox *e, int ids);
int nb__text_is_bert(nb_text_arch a);
/* A malloc'd copy of c (a text model's m->impl), NULL with the message set. */
void *nb__text_config_copy(const nb_text_config *c);
#endif
