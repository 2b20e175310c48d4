/* ema.h - `nabla train --ema DECAY` (ema.c): an exponential moving average of a
 * model's float parameters and buffers, torchvision's ExponentialMovingAverage. */
#ifndef NB_CLI_EMA_H
#define NB_CLI_EMA_H
#include "nabla.h"

typedef struct cli_ema cli_ema;
/* The average of m's float tensors (state_dict order), empty until the first update;
 * NULL when out of memory. m must outlive it. */
cli_ema *cli_ema_new(nb_module *m, double decay);
/* After an optimizer step: avg = decay * avg + (1 - decay) * param (the first call copies). */
void cli_ema_update(cli_ema *e);
/* Exchange the model's weights and the averages: call once to evaluate or save the
 * average, and again to continue training from the model's own weights. */
void cli_ema_swap(cli_ema *e);
void cli_ema_free(cli_ema *e);

#endif
