/* module.h - the module vtable and struct, and what every layer file uses to
 * build one (src/nn/module.c). */
#ifndef NB_NN_MODULE_H
#define NB_NN_MODULE_H

#include "nabla.h"

struct nb__ox; /* the ONNX writer's interface (nn/onnx_export.h) */

typedef struct nb_module_vtable {
    const char *kind;
    nb_tensor *(*forward)(nb_module *m, nb_tensor *x);
    void (*free)(nb_module *m); /* optional: frees what m->impl points to (not m->impl, not params) */
    void (*train)(nb_module *m, int training); /* optional: propagate to children */
    /* Optional fusion, asked by a container (Sequential) before it runs m = mods[0];
     * mods[1..n) are the modules that follow m, training is the container's mode. Run m
     * and as many of the following modules as it can fuse into one op: return the output
     * of the last one fused and set *used to their count (>= 2); or return NULL with
     * *used = 0 and no error, and the container runs m alone. */
    nb_tensor *(*fuse)(nb_module *const *mods, int n, nb_tensor *x, int training, int *used);
    /* Optional, for a module that is not a tree of Linear layers (an imported graph):
     * nb_module_head's answer (0 with its dotted name in name[0..n), or an error status),
     * and nb_module_features' (the head's input; *logits the output). Without them the
     * head is the last Linear in state_dict order. */
    nb_status (*head)(nb_module *m, char *name, size_t n);
    nb_tensor *(*features)(nb_module *m, nb_tensor *x, nb_tensor **logits);
    /* Optional: the module's eval-mode forward as ONNX nodes on the graph value x;
     * returns the output's value, or -1 with a message (nn/onnx_export.h). A module
     * without it cannot be exported by nb_onnx_save. */
    int (*to_onnx)(nb_module *m, struct nb__ox *e, int x);
} nb_module_vtable;

struct nb_module {
    const nb_module_vtable *vt;
    nb_ctx *ctx;
    int training;
    int keep_eval; /* frozen (nb_module_freeze): stays in eval mode whatever nb_module_train says */
    /* own parameters and buffers, with local names ("weight"); children add prefixes */
    nb_named_tensor *own;
    int n_own;
    nb_module **children;
    char **child_names;
    int n_children;
    /* flattened state, rebuilt on demand */
    nb_named_tensor *state;
    char **state_names;
    int n_state;
    nb_tensor **params;
    int n_params;
    int state_dirty;
    nb_tensor **capture; /* while set, nb_module_forward stores its first input there (features.c) */
    void *impl; /* the kind's typed state (a struct of its own file), malloc'd; freed with the module */
};

nb_module *nb__module_new(nb_ctx *ctx, const nb_module_vtable *vt);
/* nb__module_new with a zeroed kind state of `bytes` bytes at m->impl. */
nb_module *nb__module_new_with(nb_ctx *ctx, const nb_module_vtable *vt, size_t bytes);
/* Register a tensor the module owns (frees it) under a local name. */
nb_status nb__module_add(nb_module *m, const char *name, nb_tensor *t, int is_buffer);
nb_status nb__module_add_child(nb_module *m, const char *name, nb_module *child);
/* mods[0]'s fuse hook (see nb_module_vtable.fuse); NULL with *used = 0 when it has none. */
nb_tensor *nb__module_fuse(nb_module *const *mods, int n, nb_tensor *x, int training, int *used);
/* The Sequential m's forward from its child `start` on (fusions included). */
nb_tensor *nb__sequential_forward_from(nb_module *m, int start, nb_tensor *x);

#endif
