/* hf_labels.c - class names in a Hugging Face config.json (id2label / label2id): written
 * by `nabla train` when it saves a text classifier, read by `nabla run --text`. */
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

int cli_hf_set_labels(const char *dir, const char *const *names, int n)
{
    cJSON *root = read_config(dir), *id2 = cJSON_CreateObject(), *to = cJSON_CreateObject();
    int rc = root && id2 && to ? 0 : -1;
    for (int k = 0; !rc && k < n; k++) {
        char key[32], fallback[32];
        snprintf(key, sizeof key, "%d", k);
        snprintf(fallback, sizeof fallback, "LABEL_%d", k);
        const char *name = names[k] ? names[k] : fallback;
        if (!cJSON_AddStringToObject(id2, key, name) || !cJSON_AddNumberToObject(to, name, k)) rc = -1;
    }
    if (!rc) {
        cJSON_DeleteItemFromObjectCaseSensitive(root, "id2label");
        cJSON_DeleteItemFromObjectCaseSensitive(root, "label2id");
        cJSON_AddItemToObject(root, "id2label", id2);
        cJSON_AddItemToObject(root, "label2id", to);
        id2 = to = NULL;
        char *text = cJSON_Print(root), path[4096];
        snprintf(path, sizeof path, "%s/config.json", dir);
        if (!text || nb_write_file_atomic(path, text, strlen(text))) rc = -1;
        free(text);
    }
    cJSON_Delete(id2), cJSON_Delete(to), cJSON_Delete(root);
    return rc;
}
