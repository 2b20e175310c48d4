/* evaluate.c - accuracy, mean cross-entropy and confusion matrix of a classifier over a dataset. */
#include "core/error.h"
#include "core/tensor.h"
#include "nn/module.h"

#include <string.h>

int64_t nb_count_correct(nb_tensor *logits, nb_tensor *labels)
{
    if (!logits || !labels || logits->ndim != 2 || labels->dtype != NB_I64) return 0;
    int64_t N = logits->shape[0], C = logits->shape[1], ok = 0;
    const float *z = nb__f(logits);
    const int64_t *y = nb__i(labels);
    for (int64_t i = 0; i < N && i < labels->numel; i++) {
        int64_t best = 0;
        for (int64_t c = 1; c < C; c++)
            if (z[i * C + c] > z[i * C + best]) best = c;
        ok += best == y[i];
    }
    return ok;
}

void nb_count_confusion(nb_tensor *logits, nb_tensor *labels, int num_classes, int64_t *counts)
{
    if (!logits || !labels || !counts || logits->ndim != 2 || labels->dtype != NB_I64) return;
    int64_t N = logits->shape[0], C = logits->shape[1];
    const float *z = nb__f(logits);
    const int64_t *y = nb__i(labels);
    for (int64_t i = 0; i < N && i < labels->numel; i++) {
        int64_t best = 0; /* the first maximum, as nb_count_correct and torch.argmax */
        for (int64_t c = 1; c < C; c++)
            if (z[i * C + c] > z[i * C + best]) best = c;
        if (y[i] >= 0 && y[i] < num_classes && best < num_classes) counts[y[i] * num_classes + best]++;
    }
}

nb_status nb_evaluate_confusion(nb_module *m, nb_dataset *d, int batch_size, nb_eval_result *out, int64_t *counts)
{
    if (!m || !d || !out) return nb__fail(NB_ERR_ARG, "nb_evaluate: NULL argument");
    int K = nb_dataset_num_classes(d);
    if (counts) memset(counts, 0, sizeof *counts * (size_t)K * (size_t)K);
    nb_ctx *ctx = m->ctx;
    nb_loader *l = nb_loader_new(ctx, d, &(nb_loader_opts){.batch_size = batch_size > 0 ? batch_size : 1000});
    if (!l) return NB_ERR_ARG;
    int was_training = m->training, grad = nb_set_grad_enabled(ctx, 0);
    nb_module_train(m, 0);
    double loss_sum = 0;
    int64_t correct = 0, count = 0;
    nb_status st = NB_OK;
    nb_loader_start_epoch(l, 0);
    for (;;) {
        nb_ctx_reset(ctx);
        nb_tensor *x, *y;
        if (!nb_loader_next(l, &x, &y)) break;
        nb_tensor *z = nb_module_forward(m, x);
        nb_tensor *loss = nb_cross_entropy(z, y, &(nb_cross_entropy_opts){.reduction = NB_SUM});
        if (!loss) {
            st = NB_ERR_SHAPE;
            break;
        }
        loss_sum += nb_tensor_item(loss);
        correct += nb_count_correct(z, y);
        if (counts) nb_count_confusion(z, y, K, counts);
        count += nb_tensor_numel(y);
    }
    nb_ctx_reset(ctx);
    nb_module_train(m, was_training);
    nb_set_grad_enabled(ctx, grad);
    nb_loader_free(l);
    if (st) return st;
    out->loss = count ? loss_sum / (double)count : 0;
    out->accuracy = count ? (double)correct / (double)count : 0;
    out->count = count;
    return NB_OK;
}

nb_status nb_evaluate(nb_module *m, nb_dataset *d, int batch_size, nb_eval_result *out)
{
    return nb_evaluate_confusion(m, d, batch_size, out, NULL);
}
