/* subset_args.c - the --classes LIST / --per-class N options that train, eval and
 * embed share: the dataset wrapped in nb_subset_new. */
#include "cli.h"

#include <stdint.h>

nb_dataset *cli_subset(const char *cmd, nb_dataset *d, const char *classes, long per_class, uint64_t seed)
{
    if (!d || (!classes && per_class <= 0)) return d;
    int list[1024], n = 0;
    if (classes && nb_parse_class_list(classes, list, 1024, &n)) {
        cli_error("%s: --classes: %s", cmd, nb_last_error());
        nb_dataset_free(d);
        return NULL;
    }
    nb_dataset *s = nb_subset_new(d, &(nb_subset_opts){.classes = list, .n_classes = n,
                                                       .per_class = per_class > 0 ? per_class : 0, .seed = seed});
    if (!s) cli_error("%s: --classes/--per-class: %s", cmd, nb_last_error());
    return s;
}
