/* hf_labels.c - class names in a Hugging Face config.json (id2label), read by `nabla run
 * --text` (`nabla train` writes them with the model: nb_text_model_save_dir_labels). */
#include "cli.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static cJSON *read_config(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *text = NULL;
    size_t len = 0;
    if (!fseek(f, 0, SEEK_END)) {
        long sz = ftell(f);
        if (sz > 0 && !fseek(f, 0, SEEK_SET) && (text = malloc((size_t)sz + 1))) len = fread(text, 1, (size_t)sz, f);
    }
    fclose(f);
    cJSON *root = text ? cJSON_ParseWithLength(text, len) : NULL;
    free(text);
    return root;
}

char **cli_hf_labels(const char *dir, int n)
{
    cJSON *root = read_config(dir);
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(root, "id2label");
    char **names = calloc((size_t)(n > 0 ? n : 1), sizeof *names);
    for (int k = 0; names && k < n; k++) {
        char key[32], fallback[32];
        snprintf(key, sizeof key, "%d", k);
        snprintf(fallback, sizeof fallback, "LABEL_%d", k);
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(map, key);
        if (!(names[k] = strdup(cJSON_IsString(v) ? v->valuestring : fallback))) {
            cli_hf_labels_free(names, k);
            names = NULL;
        }
    }
    cJSON_Delete(root);
    return names;
}

void cli_hf_labels_free(char **names, int n)
{
    for (int k = 0; names && k < n; k++) free(names[k]);
    free(names);
}
