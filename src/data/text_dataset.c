/* text_dataset.c - labelled text datasets: WordNet glosses labelled by their
 * lexicographer file (the supersense, 45 classes) and TSV files of label<TAB>text.
 *
 * wordnet-glosses: every synset of data.noun, data.verb, data.adj and data.adv
 * (Debian's wordnet-base, /usr/share/wordnet): the text is its gloss (the part after
 * " | ", definition and examples, trailing blanks removed), the label its lex_filenum
 * (field 2, 0..44, names as WordNet's lexnames: adj.all, ..., noun.animal, ...,
 * adj.ppl). Split by a hash of (part of speech, synset offset): about 1 in 10 synsets
 * is in the test set, always the same ones.
 * tsv: "label<TAB>text" a line; class names are the distinct labels sorted (byte
 * order), so a train and a test file with the same labels agree. */
#include "core/error.h"
#include "core/tensor.h"
#include "core/tape.h"
#include "core/ctx.h"
#include "core/random.h"
#include "core/threads.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct nb_text_dataset {
    char **texts;
    int64_t *labels;
    int64_t n, cap;
    char **class_names;
    int num_classes;
    int names_owned;
};

static const char *const lexnames[45] = {
    "adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal", "noun.artifact", "noun.attribute",
    "noun.body", "noun.cognition", "noun.communication", "noun.event", "noun.feeling", "noun.food", "noun.group",
    "noun.location", "noun.motive", "noun.object", "noun.person", "noun.phenomenon", "noun.plant", "noun.possession",
    "noun.process", "noun.quantity", "noun.relation", "noun.shape", "noun.state", "noun.substance", "noun.time",
    "verb.body", "verb.change", "verb.cognition", "verb.communication", "verb.competition", "verb.consumption",
    "verb.contact", "verb.creation", "verb.emotion", "verb.motion", "verb.perception", "verb.possession",
    "verb.social", "verb.stative", "verb.weather", "adj.ppl"};

static int push(nb_text_dataset *d, const char *text, size_t n, int64_t label)
{
    if (d->n == d->cap) {
        int64_t cap = d->cap ? d->cap * 2 : 1024;
        char **t = realloc(d->texts, sizeof *t * (size_t)cap);
        if (t) d->texts = t;
        int64_t *l = realloc(d->labels, sizeof *l * (size_t)cap);
        if (l) d->labels = l;
        if (!t || !l) return -1;
        d->cap = cap;
    }
    char *s = malloc(n + 1);
    if (!s) return -1;
    memcpy(s, text, n);
    s[n] = 0;
    d->texts[d->n] = s;
    d->labels[d->n++] = label;
    return 0;
}

void nb_text_dataset_free(nb_text_dataset *d)
{
    if (!d) return;
    for (int64_t i = 0; i < d->n; i++) free(d->texts[i]);
    free(d->texts);
    free(d->labels);
    if (d->names_owned)
        for (int c = 0; c < d->num_classes; c++) free(d->class_names[c]);
    if (d->names_owned) free(d->class_names);
    free(d);
}

nb_text_dataset *nb_wordnet_glosses_new(const char *dir, int train)
{
    if (!dir) dir = "/usr/share/wordnet";
    nb_text_dataset *d = calloc(1, sizeof *d);
    if (!d) {
        nb__fail(NB_ERR_MEM, "out of memory");
        return NULL;
    }
    d->class_names = (char **)lexnames;
    d->num_classes = 45;
    static const char *const pos[4] = {"noun", "verb", "adj", "adv"};
    char *line = NULL;
    size_t cap = 0;
    for (int p = 0; p < 4; p++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/data.%s", dir, pos[p]);
        FILE *f = fopen(path, "r");
        if (!f) {
            nb__fail(NB_ERR_IO, "wordnet-glosses: cannot open %s: %s (install Debian's wordnet-base)", path,
                     strerror(errno));
            goto fail;
        }
        ssize_t len;
        long ln = 0;
        while ((len = getline(&line, &cap, f)) > 0) {
            ln++;
            if (!strncmp(line, "  ", 2)) continue; /* the license header */
            char *bar = strstr(line, " | ");
            unsigned long offset;
            int lex;
            if (!bar || sscanf(line, "%lu %d", &offset, &lex) != 2 || lex < 0 || lex > 44) {
                nb__fail(NB_ERR_FORMAT, "wordnet-glosses: %s:%ld: not a synset line", path, ln);
                fclose(f);
                goto fail;
            }
            char *g = bar + 3;
            size_t gl = strlen(g);
            while (gl && strchr(" \t\r\n", g[gl - 1])) gl--;
            int is_test = nb__mix64((uint64_t)offset * 4 + (uint64_t)p) % 10 == 0;
            if (is_test == !train && push(d, g, gl, lex)) {
                nb__fail(NB_ERR_MEM, "out of memory");
                fclose(f);
                goto fail;
            }
        }
        fclose(f);
    }
    free(line);
    return d;
fail:
    free(line);
    nb_text_dataset_free(d);
    return NULL;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

nb_text_dataset *nb_tsv_dataset_new(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        nb__fail(NB_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    nb_text_dataset *d = calloc(1, sizeof *d);
    char **raw = NULL, *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long ln = 0;
    if (!d) {
        fclose(f);
        nb__fail(NB_ERR_MEM, "out of memory");
        return NULL;
    }
    d->names_owned = 1;
    /* labels first as strings (stored in labels as indices into raw), then numbered */
    while ((len = getline(&line, &cap, f)) >= 0) {
        ln++;
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (!len) continue;
        char *tab = strchr(line, '\t');
        if (!tab || tab == line || nb_utf8_check(line, (size_t)len) >= 0) {
            nb__fail(NB_ERR_FORMAT, "%s:%ld: %s", path, ln,
                     !tab || tab == line ? "expected label<TAB>text" : "not valid UTF-8");
            goto fail;
        }
        *tab = 0;
        char **r = realloc(raw, sizeof *r * (size_t)(d->n + 1));
        if (!r) goto oom;
        raw = r;
        if (!(raw[d->n] = strdup(line)) || push(d, tab + 1, strlen(tab + 1), 0)) goto oom;
    }
    /* distinct sorted names */
    char **names = malloc(sizeof *names * (size_t)(d->n ? d->n : 1));
    if (!names) goto oom;
    memcpy(names, raw, sizeof *names * (size_t)d->n);
    qsort(names, (size_t)d->n, sizeof *names, cmp_str);
    int k = 0;
    for (int64_t i = 0; i < d->n; i++)
        if (!k || strcmp(names[k - 1], names[i])) names[k++] = names[i];
    d->class_names = malloc(sizeof *d->class_names * (size_t)(k ? k : 1));
    if (!d->class_names) {
        free(names);
        goto oom;
    }
    for (int c = 0; c < k; c++) d->class_names[c] = strdup(names[c]);
    d->num_classes = k;
    for (int64_t i = 0; i < d->n; i++) {
        char **hit = bsearch(&raw[i], names, (size_t)k, sizeof *names, cmp_str);
        d->labels[i] = hit - names;
    }
    free(names);
    for (int64_t i = 0; i < d->n; i++) free(raw[i]);
    free(raw);
    free(line);
    fclose(f);
    return d;
oom:
    nb__fail(NB_ERR_MEM, "out of memory");
fail:
    for (int64_t i = 0; raw && i < d->n; i++) free(raw[i]);
    free(raw);
    free(line);
    fclose(f);
    nb_text_dataset_free(d);
    return NULL;
}

int64_t nb_text_dataset_len(const nb_text_dataset *d) { return d ? d->n : 0; }
const char *nb_text_dataset_text(const nb_text_dataset *d, int64_t i) { return d && i >= 0 && i < d->n ? d->texts[i] : NULL; }
int64_t nb_text_dataset_label(const nb_text_dataset *d, int64_t i) { return d && i >= 0 && i < d->n ? d->labels[i] : -1; }
int nb_text_dataset_num_classes(const nb_text_dataset *d) { return d ? d->num_classes : 0; }
const char *nb_text_dataset_class_name(const nb_text_dataset *d, int c)
{
    return d && c >= 0 && c < d->num_classes ? d->class_names[c] : NULL;
}
