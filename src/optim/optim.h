/* optim.h - what the optimizer files share: parameter groups and per-parameter state. */
#ifndef NB_OPTIM_H
#define NB_OPTIM_H

#include "nabla.h"

/* State of one parameter; every tensor is allocated when the parameter is added. */
typedef struct {
    nb_tensor *p;
    int group;
    nb_tensor *step; /* F32 []: Adam's step count; SGD: momentum steps taken (0: buffer unset) */
    nb_tensor *buf1; /* SGD momentum_buffer (NULL while momentum is 0) / Adam exp_avg */
    nb_tensor *buf2; /* Adam exp_avg_sq */
    nb_tensor *buf3; /* Adam max_exp_avg_sq (amsgrad) */
} nb__param_state;

typedef struct {
    double lr, base_lr, weight_decay;
    double momentum; /* SGD momentum / Adam beta1 */
} nb__group;

typedef enum { NB_OPT_SGD, NB_OPT_ADAM, NB_OPT_ADAMW } nb__optim_kind;

struct nb_optim {
    nb__optim_kind kind;
    nb_sgd_opts sgd;  /* SGD: lr, momentum, weight_decay are the defaults of new groups */
    nb_adam_opts adam;
    nb__param_state *ps;
    int n, cap;
    nb__group *groups;
    int n_groups;
    /* nb_optim_state's view, rebuilt when stale */
    nb_named_tensor *named;
    char **names;
    int n_named, named_stale;
};

void nb__sgd_step(nb_optim *o);
void nb__adam_step(nb_optim *o);

#endif
