/* finite.c - nb_module_check_finite: NaN and infinite values in a module's
 * parameters and buffers, named, so a diverged run or a corrupt weights file is
 * reported instead of trained on, evaluated (test_loss=nan) or saved. */
#include "core/error.h"
#include "core/tensor.h"
#include "nn/module.h"

#include <math.h>

nb_status nb_module_check_finite(nb_module *m)
{
    if (!m) return nb__fail(NB_ERR_ARG, "nb_module_check_finite: module is NULL");
    int n = 0;
    const nb_named_tensor *s = nb_module_state(m, &n);
    for (int i = 0; i < n; i++) {
        nb_tensor *t = s[i].tensor;
        if (nb_tensor_dtype(t) != NB_F32) continue;
        const float *v = nb__f(t); /* a read: nb_tensor_data would count as a write */
        int64_t numel = nb_tensor_numel(t), nans = 0, infs = 0, first = -1;
        for (int64_t k = 0; k < numel; k++)
            if (!isfinite(v[k])) {
                if (isnan(v[k])) nans++;
                else infs++;
                if (first < 0) first = k;
            }
        if (first >= 0)
            return nb__fail(NB_ERR_NAN, "the %s '%s' holds %lld NaN and %lld infinite values of %lld (the first at "
                            "index %lld)",
                            s[i].is_buffer ? "buffer" : "parameter", s[i].name, (long long)nans, (long long)infs,
                            (long long)numel, (long long)first);
    }
    return NB_OK;
}
