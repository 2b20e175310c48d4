/* transfer.c - transfer learning: load a pretrained backbone into a model whose
 * head is new, freeze parameters by name prefix (BatchNorm layers whose parameters
 * are all frozen stay in eval mode), and split the trainable parameters into
 * backbone and head for per-group learning rates.
 *
 * Prefixes match whole name components: "layer1" matches "layer1.0.conv1.weight"
 * but not "layer10.x"; "features.0" matches "features.0.weight" only. The word
 * "backbone" means every parameter outside the head (the last Linear). */
#include "core/error.h"
#include "core/tensor.h"
#include "nn/module.h"

#include <stdlib.h>
#include <string.h>

/* name is under prefix p (length n): equal, or p followed by '.'. */
static int under(const char *name, const char *p, size_t n)
{
    return n && !strncmp(name, p, n) && (name[n] == 0 || name[n] == '.');
}

/* ------------------------------------------------------------------------ */
/* pretrained backbones                                                      */
/* ------------------------------------------------------------------------ */

nb_status nb_load_pretrained(nb_module *m, const char *path, const char *head, nb_pretrained_report *rep)
{
    if (rep) memset(rep, 0, sizeof *rep);
    if (!m || !path) return nb__fail(NB_ERR_ARG, "nb_load_pretrained: NULL argument");
    char hbuf[512];
    if (!head) {
        if (!nb_module_head(m, hbuf, sizeof hbuf)) return NB_ERR_ARG;
        head = hbuf;
    }
    size_t hl = strlen(head);
    nb_safetensors *f = nb_safetensors_open(path);
    if (!f) return nb_last_status() ? nb_last_status() : NB_ERR_FORMAT;
    int n;
    nb_clear_error();
    const nb_named_tensor *s = nb_module_state(m, &n);
    nb_status st = NB_OK;
    nb_tensor **staged = calloc((size_t)n + 1, sizeof *staged);
    char *used = calloc((size_t)nb_safetensors_count(f) + 1, 1);
    char missing[700] = "", bad[900] = "";
    int n_missing = 0, n_bad = 0, n_loaded = 0, n_head = 0;
    if (!staged || !used) {
        st = nb__fail(NB_ERR_MEM, "loading %s: out of memory", path);
        goto done;
    }
    for (int i = 0; i < n; i++) {
        if (under(s[i].name, head, hl)) {
            n_head++;
            int k = nb_safetensors_find(f, s[i].name);
            if (k >= 0) used[k] = 1; /* the old head: not loaded, not unexpected */
            continue;
        }
        int k = nb_safetensors_find(f, s[i].name);
        if (k < 0) {
            if (n_missing++ < 8)
                snprintf(missing + strlen(missing), sizeof missing - strlen(missing), "%s%s", n_missing > 1 ? ", " : "",
                         s[i].name);
            continue;
        }
        used[k] = 1;
        int64_t shape[NB_MAX_DIMS];
        int nd = nb_safetensors_shape(f, k, shape);
        const char *dt = nb_safetensors_dtype(f, k);
        int file_float = dt[0] == 'F' || !strcmp(dt, "BF16");
        int same = nd == s[i].tensor->ndim && file_float == (s[i].tensor->dtype == NB_F32);
        for (int d = 0; same && d < nd; d++) same = shape[d] == s[i].tensor->shape[d];
        if (!same) {
            if (n_bad++ < 6) {
                char a[160], b[160];
                nb__shape_str(nd, shape, a, sizeof a);
                nb__shape_str(s[i].tensor->ndim, s[i].tensor->shape, b, sizeof b);
                snprintf(bad + strlen(bad), sizeof bad - strlen(bad), "%s%s (file %s %s, model %s)", n_bad > 1 ? "; " : "",
                         s[i].name, dt, a, b);
            }
            continue;
        }
    }
    int n_unexpected = 0;
    for (int k = 0; k < nb_safetensors_count(f); k++) n_unexpected += !used[k];
    if (n_missing || n_bad) {
        char more[64] = "";
        if (n_missing > 8 || n_bad > 6) snprintf(more, sizeof more, " (%d missing, %d mismatched in all)", n_missing, n_bad);
        st = nb__fail(n_bad ? NB_ERR_SHAPE : NB_ERR_ARG,
                      "%s does not hold this model's backbone (is it for another architecture?): %s%s%s%s%s%s", path,
                      n_missing ? "missing " : "", missing, n_missing && n_bad ? "; " : "", n_bad ? "mismatched " : "", bad,
                      more);
        goto done;
    }
    for (int i = 0; i < n; i++) {
        if (under(s[i].name, head, hl)) continue;
        if (!(staged[i] = nb_safetensors_get(f, m->ctx, s[i].name))) {
            st = NB_ERR_IO;
            goto done;
        }
    }
    for (int i = 0; i < n; i++) {
        if (!staged[i]) continue;
        nb_tensor *t = s[i].tensor;
        memcpy(t->data, staged[i]->data, (size_t)t->numel * (t->dtype == NB_F32 ? 4 : 8));
        nb__bump_version(t);
        n_loaded++;
    }
    if (rep) {
        rep->loaded = n_loaded;
        rep->head_skipped = n_head;
        rep->unexpected = n_unexpected;
        snprintf(rep->head, sizeof rep->head, "%s", head);
    }
done:
    if (staged)
        for (int i = 0; i < n; i++) nb_tensor_free(staged[i]);
    free(staged);
    free(used);
    nb_safetensors_close(f);
    return st;
}

/* ------------------------------------------------------------------------ */
/* freezing                                                                  */
/* ------------------------------------------------------------------------ */

/* Does name match one of the comma-separated prefixes (or "backbone": not under head)? */
static int frozen_name(const char *name, const char *prefixes, const char *head)
{
    for (const char *p = prefixes; *p;) {
        while (*p == ',' || *p == ' ') p++;
        size_t n = strcspn(p, ", ");
        if (n == 8 && !strncmp(p, "backbone", 8)) {
            if (!under(name, head, strlen(head))) return 1;
        } else if (under(name, p, n)) {
            return 1;
        }
        p += n;
    }
    return 0;
}

/* BatchNorm modules whose parameters are all frozen stay in eval mode. */
static void keep_frozen_bn_eval(nb_module *m)
{
    if (!strncmp(m->vt->kind, "BatchNorm", 9)) {
        int all = m->n_own > 0, any_param = 0;
        for (int i = 0; i < m->n_own; i++)
            if (!m->own[i].is_buffer) {
                any_param = 1;
                all &= !m->own[i].tensor->requires_grad;
            }
        if (all && any_param) {
            m->keep_eval = 1;
            m->training = 0;
        }
    }
    for (int i = 0; i < m->n_children; i++) keep_frozen_bn_eval(m->children[i]);
}

nb_status nb_module_freeze(nb_module *m, const char *prefixes, int *n_frozen)
{
    if (n_frozen) *n_frozen = 0;
    if (!m || !prefixes) return nb__fail(NB_ERR_ARG, "nb_module_freeze: NULL argument");
    char head[512] = "";
    int wants_backbone = strstr(prefixes, "backbone") != NULL;
    if (wants_backbone && !nb_module_head(m, head, sizeof head)) return NB_ERR_ARG;
    int n;
    const nb_named_tensor *s = nb_module_state(m, &n);
    /* every prefix must name something, so a typo is an error rather than a no-op */
    for (const char *p = prefixes; *p;) {
        while (*p == ',' || *p == ' ') p++;
        size_t len = strcspn(p, ", ");
        if (!len) break;
        int hit = len == 8 && !strncmp(p, "backbone", 8);
        for (int i = 0; i < n && !hit; i++) hit = under(s[i].name, p, len);
        if (!hit)
            return nb__fail(NB_ERR_ARG, "freeze: no parameter or buffer of the %s is named '%.*s' or starts with '%.*s.' "
                            "(e.g. %s)", m->vt->kind, (int)len, p, (int)len, p, n ? s[0].name : "none");
        p += len;
    }
    int count = 0;
    for (int i = 0; i < n; i++)
        if (!s[i].is_buffer && s[i].tensor->requires_grad && frozen_name(s[i].name, prefixes, head)) {
            nb_tensor_set_requires_grad(s[i].tensor, 0);
            count++;
        }
    keep_frozen_bn_eval(m);
    if (n_frozen) *n_frozen = count;
    return NB_OK;
}

int nb_module_split_head(nb_module *m, nb_tensor **backbone, int *n_backbone, nb_tensor **head_params, int *n_head)
{
    char head[512];
    *n_backbone = *n_head = 0;
    if (!nb_module_head(m, head, sizeof head)) return -1;
    int n;
    const nb_named_tensor *s = nb_module_state(m, &n);
    size_t hl = strlen(head);
    for (int i = 0; i < n; i++) {
        if (s[i].is_buffer || !s[i].tensor->requires_grad) continue;
        if (under(s[i].name, head, hl)) head_params[(*n_head)++] = s[i].tensor;
        else backbone[(*n_backbone)++] = s[i].tensor;
    }
    return 0;
}
