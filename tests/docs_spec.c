/* docs_spec.c - parse augmentation specs read from stdin, one a line, "image<TAB>SPEC"
 * or "text<TAB>SPEC", with the library's own parsers (nb_transform_parse,
 * nb_text_aug_from_spec). Prints "ok spec ..." or "FAIL spec ...: message" per line;
 * a text augmenter refused because a Debian package is missing (its message says
 * "install") prints "SKIP spec ...". Built and run by tests/docs_concepts.sh. */
#include <nabla.h>

#include <stdio.h>
#include <string.h>

int main(void)
{
    char line[4096];
    int failed = 0;
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\n")] = 0;
        char *tab = strchr(line, '\t');
        if (!tab) continue;
        *tab = 0;
        const char *kind = line, *spec = tab + 1;
        nb_clear_error();
        if (!strcmp(kind, "image")) {
            nb_transform *tf = nb_transform_parse(spec);
            if (tf) printf("ok image spec %s\n", spec);
            else {
                printf("FAIL image spec %s: %s\n", spec, nb_last_error());
                failed++;
            }
            nb_transform_free(tf);
        } else {
            nb_text_aug *a = nb_text_aug_from_spec(spec);
            if (a) printf("ok text spec %s\n", spec);
            else if (strstr(nb_last_error(), "install")) printf("SKIP text spec %s: %s\n", spec, nb_last_error());
            else {
                printf("FAIL text spec %s: %s\n", spec, nb_last_error());
                failed++;
            }
            nb_text_aug_free(a);
        }
    }
    return failed ? 1 : 0;
}
