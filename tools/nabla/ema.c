/* ema.c - `nabla train --ema DECAY`: an exponential moving average of the model's
 * weights, evaluated and saved in place of the last step's weights. The semantics are
 * torchvision's ExponentialMovingAverage (references/classification/utils.py), an
 * torch.optim.swa_utils.AveragedModel(model, avg_fn, use_buffers=True) whose avg_fn is
 *     avg = decay * avg + (1 - decay) * param
 * over every float parameter and buffer (BatchNorm's running statistics included),
 * updated after every optimizer step; the first update copies the model (n_averaged 0).
 * Integer buffers (num_batches_tracked) are copied, not averaged. */
#include "ema.h"

#include <stdlib.h>
#include <string.h>

struct cli_ema {
    int n;
    nb_tensor **t;   /* the model's float tensors, state_dict order */
    float **avg;     /* their averages */
    int64_t *numel;
    float decay;
    int64_t n_averaged;
};

cli_ema *cli_ema_new(nb_module *m, double decay)
{
    int count;
    const nb_named_tensor *st = nb_module_state(m, &count);
    cli_ema *e = calloc(1, sizeof *e);
    if (!e || !(e->t = calloc((size_t)count + 1, sizeof *e->t)) || !(e->avg = calloc((size_t)count + 1, sizeof *e->avg)) ||
        !(e->numel = calloc((size_t)count + 1, sizeof *e->numel))) {
        cli_ema_free(e);
        return NULL;
    }
    e->decay = (float)decay;
    for (int i = 0; i < count; i++) {
        if (nb_tensor_dtype(st[i].tensor) != NB_F32) continue;
        int64_t k = nb_tensor_numel(st[i].tensor);
        if (!(e->avg[e->n] = malloc(sizeof(float) * (size_t)(k ? k : 1)))) {
            cli_ema_free(e);
            return NULL;
        }
        e->t[e->n] = st[i].tensor;
        e->numel[e->n++] = k;
    }
    return e;
}

void cli_ema_update(cli_ema *e)
{
    const float d = e->decay, w = 1.0f - e->decay;
    for (int i = 0; i < e->n; i++) {
        const float *p = nb_tensor_data(e->t[i]);
        float *a = e->avg[i];
        if (e->n_averaged == 0) memcpy(a, p, sizeof(float) * (size_t)e->numel[i]);
        else
            for (int64_t j = 0; j < e->numel[i]; j++) a[j] = d * a[j] + w * p[j];
    }
    e->n_averaged++;
}

void cli_ema_swap(cli_ema *e)
{
    if (!e->n_averaged) return; /* no step yet: the average is the model */
    for (int i = 0; i < e->n; i++) {
        float *p = nb_tensor_data(e->t[i]), *a = e->avg[i];
        for (int64_t j = 0; j < e->numel[i]; j++) {
            float v = p[j];
            p[j] = a[j];
            a[j] = v;
        }
    }
}

void cli_ema_free(cli_ema *e)
{
    if (!e) return;
    for (int i = 0; e->avg && i < e->n; i++) free(e->avg[i]);
    free(e->avg);
    free(e->t);
    free(e->numel);
    free(e);
}
