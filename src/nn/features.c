/* features.c - the head of a classifier (its last Linear) and the features that
 * enter it: the penultimate-layer embeddings of `nabla embed` and the layer
 * transfer learning replaces.
 *
 * "Last" is the last Linear in state_dict order (children in registration order,
 * depth first), which for torchvision-style models is the one applied last: fc of
 * ResNet, classifier.6 of VGG, the final index of a Sequential.
 * The features are captured rather than recomputed: for one forward call the head's
 * capture pointer is set, so nb_module_forward records the head's input and then runs
 * the Linear as usual; any model structure works (Sequential or a custom forward). */
#include "core/error.h"
#include "core/tensor.h"
#include "nn/module.h"

#include <string.h>

/* Depth-first search; *best receives the last Linear and name its dotted path. */
static void find_last(nb_module *m, const char *prefix, nb_module **best, char *name, size_t n)
{
    if (!strcmp(m->vt->kind, "Linear")) {
        *best = m;
        snprintf(name, n, "%s", prefix);
    }
    for (int i = 0; i < m->n_children; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s%s%s", prefix, *prefix ? "." : "", m->child_names[i]);
        find_last(m->children[i], p, best, name, n);
    }
}

nb_module *nb_module_head(nb_module *m, char *name, size_t n)
{
    char buf[512] = "";
    nb_module *best = NULL;
    if (!m) {
        nb__fail(NB_ERR_ARG, "nb_module_head: module is NULL");
        return NULL;
    }
    if (m->vt->head) return m->vt->head(m, name, n) ? NULL : m;
    find_last(m, "", &best, buf, sizeof buf);
    if (!best) {
        nb__fail(NB_ERR_ARG, "the %s has no Linear layer (no classifier head)", m->vt->kind);
        return NULL;
    }
    if (name && n) snprintf(name, n, "%s", buf);
    return best;
}

nb_tensor *nb_module_features(nb_module *m, nb_tensor *x, nb_tensor **logits)
{
    if (logits) *logits = NULL;
    if (!x) return NULL;
    if (m->vt->features) return m->vt->features(m, x, logits);
    nb_module *head = nb_module_head(m, NULL, 0);
    if (!head) return NULL;
    nb_tensor *f = NULL;
    head->capture = &f;
    nb_tensor *y = nb_module_forward(m, x);
    head->capture = NULL;
    if (!y) return NULL;
    if (!f) {
        nb__fail(NB_ERR_STATE, "the %s's forward did not reach its last Linear layer", m->vt->kind);
        return NULL;
    }
    if (logits) *logits = y;
    if (f->ndim != 2 && f->ndim >= 1) f = nb_reshape(f, 2, (int64_t[]){-1, f->shape[f->ndim - 1]});
    return f;
}
