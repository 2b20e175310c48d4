/* check_data.c - checks of the data a command is given, shared by the commands:
 * the training and test splits must name the same classes in the same order
 * (an image folder's train/ and test/ with other class directories would be
 * scored against each other's labels). */
#include "cli.h"

#include <string.h>

int cli_check_classes(const char *cmd, const nb_dataset *train, const nb_dataset *test)
{
    int k = nb_dataset_num_classes(train), kt = nb_dataset_num_classes(test);
    for (int c = 0; c < (k > kt ? k : kt); c++) {
        const char *a = c < k ? nb_dataset_class_name(train, c) : NULL;
        const char *b = c < kt ? nb_dataset_class_name(test, c) : NULL;
        if (!a && !b) continue; /* unnamed classes (IDX): only the counts can differ, which evaluation reports */
        if (!a || !b || strcmp(a, b)) {
            cli_error("%s: the training and test data name different classes: class %d is '%s' in the training "
                      "data but '%s' in the test data (%d and %d classes); use the same class directories",
                      cmd, c, a ? a : "(none)", b ? b : "(none)", k, kt);
            return 2;
        }
    }
    return 0;
}
