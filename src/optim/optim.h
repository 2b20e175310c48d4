/* optim.h - what the optimizer files share: parameter groups, per-parameter state. */
#ifndef NB_OPTIM_H
#define NB_OPTIM_H
#include "internal.h"

typedef struct {
    nb_tensor *p;
    int group;
    float *buf1;   /* SGD momentum buffer / Adam exp_avg */
    float *buf2;   /* Adam exp_avg_sq */
    float *buf3;   /* Adam max_exp_avg_sq (amsgrad) */
    int64_t step;  /* Adam: steps taken by this parameter; SGD: 0 until the buffer exists */
} nb__param_state;

typedef struct {
    float lr, base_lr, weight_decay;
} nb__group;

typedef enum { NB_OPT_SGD, NB_OPT_ADAM, NB_OPT_ADAMW } nb__optim_kind;

struct nb_optim {
    nb__optim_kind kind;
    nb_sgd_opts sgd;
    nb_adam_opts adam;
    nb__param_state *ps;
    int n;
    nb__group *groups;
    int n_groups;
};

nb_optim *nb__optim_new(nb__optim_kind kind, nb_tensor **params, int n, float lr, float wd);
void nb__sgd_step(nb_optim *o);
void nb__adam_step(nb_optim *o);

#endif
