/* registry.c - text augmenters by spec name ("synonym(p=0.3), random_swap(p=0.1)"):
 * nb_text_aug_from_spec and nb__text_from_item, the factory of every augmenter
 * (word_aug.c, char_aug.c, synonym.c, backtranslate.c, the pipelines of pipeline.c),
 * kept apart from their base. A new augmenter adds its name here. */
#include "text/text.h"
#include "text/words.h"
#include "core/error.h"
#include "core/spec.h"

#include <stdlib.h>
#include <string.h>

/* nlpaug's class names are accepted too. */
static const char *const aliases[][2] = {
    {"BackTranslationAug", "back_translation"}, {"KeyboardAug", "keyboard"}, {"OcrAug", "ocr"},
    {"RandomCharAug", "random_char"},           {"RandomWordAug", "random_word"}, {"Sequential", "sequential"},
    {"Sometimes", "sometimes"},                 {"SynonymAug", "synonym"},
};
static const char *const known =
    "back_translation, keyboard, ocr, random_char, random_crop, random_delete, random_insert, random_substitute, "
    "random_swap, random_word, sequential, sometimes, synonym";

/* A probability: 'p' or its long name; literal 0 becomes the "negative means 0" convention. */
static nb_status spec_prob(const nb__spec_item *it, const char *longname, const char *shortname, float *out)
{
    const nb__spec_arg *a1 = nb__spec_get(it, longname, -1), *a2 = shortname ? nb__spec_get(it, shortname, -1) : NULL;
    if (a1 && a2)
        return nb__fail(NB_ERR_ARG, "%s: give '%s' or '%s', not both (column %d)", it->name, shortname, longname,
                        a2->key_col);
    const nb__spec_arg *a = a1 ? a1 : a2;
    *out = 0;
    if (!a) return NB_OK;
    double v;
    nb_status st = nb__spec_num(it, a->key, -1, 0, &v);
    if (st) return st;
    if (!(v >= 0 && v <= 1))
        return nb__fail(NB_ERR_ARG, "%s: '%s' must be in [0, 1], got %s at column %d", it->name, a->key, a->str,
                        a->col);
    *out = v == 0 ? -1.0f : (float)v;
    return NB_OK;
}

/* A count: literal 0 becomes -1 ("negative means 0"); for a maximum, 0 or None mean none
 * (nlpaug: `if self.aug_max and ...`). */
static nb_status spec_count(const nb__spec_item *it, const char *key, int is_max, int *out)
{
    const nb__spec_arg *a = nb__spec_get(it, key, -1);
    *out = 0;
    if (!a) return NB_OK;
    if (is_max && a->kind == NB__SPEC_STR && !strcmp(a->str, "None")) {
        *out = -1;
        return NB_OK;
    }
    long v;
    nb_status st = nb__spec_int(it, key, -1, 0, &v);
    if (st) return st;
    if (v < 0 || v > 1000000)
        return nb__fail(NB_ERR_ARG, "%s: '%s' must be between 0 and 1000000, got %ld at column %d", it->name, key, v,
                        a->col);
    *out = v == 0 ? -1 : (int)v;
    return NB_OK;
}

/* A word list "a|b|c" (also ',' or whitespace separated) split into a NULL-terminated
 * array of pointers into one block; *n its length. */
static char **split_words(const char *s, int *n)
{
    size_t len = strlen(s);
    char **arr = malloc(sizeof(char *) * (len / 2 + 2) + len + 1);
    if (!arr) return NULL;
    char *buf = (char *)(arr + len / 2 + 2);
    memcpy(buf, s, len + 1);
    int k = 0;
    for (char *t = strtok(buf, "|, \t"); t; t = strtok(NULL, "|, \t")) arr[k++] = t;
    arr[k] = NULL;
    *n = k;
    return arr;
}

static nb_status spec_words(const nb__spec_item *it, const char *key, char ***out, int *n)
{
    const char *s;
    *out = NULL;
    *n = 0;
    nb_status st = nb__spec_str(it, key, -1, NULL, &s);
    if (st || !s) return st;
    const nb__spec_arg *a = nb__spec_get(it, key, -1);
    if (nb_utf8_check(s, strlen(s)) >= 0)
        return nb__fail(NB_ERR_ARG, "%s: '%s' is not valid UTF-8 at column %d", it->name, key, a->col);
    if (!(*out = split_words(s, n))) return nb__fail(NB_ERR_MEM, "out of memory");
    if (*n == 0) {
        free(*out);
        *out = NULL;
        return nb__fail(NB_ERR_ARG, "%s: '%s' has no words at column %d", it->name, key, a->col);
    }
    return NB_OK;
}

static nb_status word_opts_from(const nb__spec_item *it, nb_text_word_opts *o, char ***stop)
{
    nb_status st;
    memset(o, 0, sizeof *o);
    *stop = NULL;
    if ((st = spec_prob(it, "aug_p", "p", &o->aug_p)) || (st = spec_count(it, "aug_min", 0, &o->aug_min)) ||
        (st = spec_count(it, "aug_max", 1, &o->aug_max)) ||
        (st = nb__spec_str(it, "stopwords_regex", -1, NULL, &o->stopwords_regex)) ||
        (st = spec_words(it, "stopwords", stop, &o->n_stopwords)))
        return st;
    o->stopwords = (const char *const *)*stop;
    return NB_OK;
}

static const char *const word_keys[] = {"p", "aug_p", "aug_min", "aug_max", "stopwords", "stopwords_regex",
                                        "action", "target_words", "aug_src", NULL};
static const char *const char_keys[] = {"p",           "aug_char_p",      "aug_char_min",     "aug_char_max",
                                        "aug_word_p",  "aug_word_min",    "aug_word_max",     "min_char",
                                        "include_upper_case", "include_lower_case", "include_numeric",
                                        "include_special_char", "spec_char", "candidates", "swap_mode",
                                        "action",      "stopwords",       "stopwords_regex",  NULL};
static const char *const bt_keys[] = {"source", "pivot", "forward", "backward", "command", "data_dir", "batch", NULL};

/* Check keys against a list restricted to the ones this name takes. */
static nb_status check_subset(const nb__spec_item *it, const char *const *all, const char *const *excluded)
{
    const char *keys[32];
    int k = 0;
    for (int i = 0; all[i] && k < 31; i++) {
        int skip = 0;
        for (int j = 0; excluded && excluded[j]; j++) skip |= !strcmp(all[i], excluded[j]);
        if (!skip) keys[k++] = all[i];
    }
    keys[k] = NULL;
    return nb__spec_check(it, keys, 0);
}

static nb_status parse_action(const nb__spec_item *it, int chars, nb_text_action def, nb_text_action *out)
{
    const char *s;
    nb_status st = nb__spec_str(it, "action", -1, NULL, &s);
    if (st) return st;
    *out = def;
    if (!s) return NB_OK;
    if (!strcmp(s, "delete")) *out = NB_TEXT_DELETE;
    else if (!strcmp(s, "swap")) *out = NB_TEXT_SWAP;
    else if (!strcmp(s, "substitute")) *out = NB_TEXT_SUBSTITUTE;
    else if (!chars && !strcmp(s, "crop")) *out = NB_TEXT_CROP;
    else if (chars && !strcmp(s, "insert")) *out = NB_TEXT_INSERT;
    else
        return nb__fail(NB_ERR_ARG, "%s: unknown action '%s' at column %d (%s)", it->name, s,
                        nb__spec_get(it, "action", -1)->col,
                        chars ? "insert, substitute, swap or delete" : "delete, swap, substitute or crop");
    return NB_OK;
}

static nb_text_aug *word_from(const nb__spec_item *it, const char *name)
{
    static const char *const no_action[] = {"action", "target_words", "aug_src", NULL};
    static const char *const no_action_sub[] = {"action", "aug_src", NULL};
    static const char *const no_target[] = {"target_words", "aug_src", NULL};
    static const char *const syn_ex[] = {"action", "target_words", NULL};
    nb_text_action act = NB_TEXT_DELETE;
    nb_status st;
    if (!strcmp(name, "random_word")) st = check_subset(it, word_keys, no_target);
    else if (!strcmp(name, "random_substitute")) st = check_subset(it, word_keys, no_action_sub);
    else if (!strcmp(name, "synonym")) st = check_subset(it, word_keys, syn_ex);
    else st = check_subset(it, word_keys, no_action);
    if (st) return NULL;
    if (!strcmp(name, "random_word")) {
        if (parse_action(it, 0, NB_TEXT_DELETE, &act)) return NULL;
    } else if (!strcmp(name, "random_swap")) act = NB_TEXT_SWAP;
    else if (!strcmp(name, "random_substitute")) act = NB_TEXT_SUBSTITUTE;
    else if (!strcmp(name, "random_crop")) act = NB_TEXT_CROP;
    if (!strcmp(name, "synonym")) {
        const char *src;
        if (nb__spec_str(it, "aug_src", -1, "wordnet", &src)) return NULL;
        if (strcmp(src, "wordnet")) {
            nb__fail(NB_ERR_ARG, "synonym: aug_src '%s' at column %d: only wordnet is available", src,
                     nb__spec_get(it, "aug_src", -1)->col);
            return NULL;
        }
    }
    nb_text_word_opts o;
    char **stop = NULL, **targets = NULL;
    int nt = 0;
    nb_text_aug *a = NULL;
    if (!word_opts_from(it, &o, &stop) && !spec_words(it, "target_words", &targets, &nt)) {
        if (!strcmp(name, "synonym")) a = nb_text_synonym_new(&o);
        else if (!strcmp(name, "random_insert")) a = nb_text_random_insert_new(&o);
        else a = nb_text_random_word_new(act, &o, (const char *const *)targets, nt);
    }
    free(stop);
    free(targets);
    return a;
}

static nb_text_aug *char_from(const nb__spec_item *it, const char *name)
{
    static const char *const random_ex[] = {"include_special_char", NULL};
    static const char *const keyboard_ex[] = {"include_lower_case", "spec_char", "candidates", "swap_mode", "action",
                                              NULL};
    static const char *const ocr_ex[] = {"include_upper_case", "include_lower_case", "include_numeric",
                                         "include_special_char", "spec_char", "candidates", "swap_mode", "action",
                                         NULL};
    int kind = !strcmp(name, "random_char") ? 0 : !strcmp(name, "keyboard") ? 1 : 2;
    if (check_subset(it, char_keys, kind == 0 ? random_ex : kind == 1 ? keyboard_ex : ocr_ex)) return NULL;
    nb_text_char_opts o = {0};
    nb_text_action act = NB_TEXT_SUBSTITUTE;
    char **stop = NULL, **cands = NULL;
    int up = 1, low = 1, num = 1, spec = 1;
    const char *swap_mode = NULL;
    nb_text_aug *a = NULL;
    nb_status st;
    if ((st = spec_prob(it, "aug_char_p", NULL, &o.aug_char_p)) || (st = spec_prob(it, "aug_word_p", "p", &o.aug_word_p)) ||
        (st = spec_count(it, "aug_char_min", 0, &o.aug_char_min)) ||
        (st = spec_count(it, "aug_char_max", 1, &o.aug_char_max)) ||
        (st = spec_count(it, "aug_word_min", 0, &o.aug_word_min)) ||
        (st = spec_count(it, "aug_word_max", 1, &o.aug_word_max)) || (st = spec_count(it, "min_char", 0, &o.min_char)) ||
        (st = nb__spec_bool(it, "include_upper_case", -1, 1, &up)) ||
        (st = nb__spec_bool(it, "include_lower_case", -1, 1, &low)) ||
        (st = nb__spec_bool(it, "include_numeric", -1, 1, &num)) ||
        (st = nb__spec_bool(it, "include_special_char", -1, 1, &spec)) ||
        (st = nb__spec_str(it, "spec_char", -1, NULL, &o.spec_char)) ||
        (st = nb__spec_str(it, "swap_mode", -1, NULL, &swap_mode)) ||
        (st = nb__spec_str(it, "stopwords_regex", -1, NULL, &o.stopwords_regex)) ||
        (st = spec_words(it, "stopwords", &stop, &o.n_stopwords)) ||
        (st = spec_words(it, "candidates", &cands, &o.n_candidates)) || (st = parse_action(it, 1, NB_TEXT_SUBSTITUTE, &act)))
        goto done;
    o.no_upper_case = !up;
    o.no_lower_case = !low;
    o.no_numeric = !num;
    o.no_special_char = !spec || (o.spec_char && !*o.spec_char);
    o.stopwords = (const char *const *)stop;
    o.candidates = (const char *const *)cands;
    if (swap_mode) {
        if (!strcmp(swap_mode, "adjacent")) o.swap_mode = NB_TEXT_SWAP_ADJACENT;
        else if (!strcmp(swap_mode, "middle")) o.swap_mode = NB_TEXT_SWAP_MIDDLE;
        else if (!strcmp(swap_mode, "random")) o.swap_mode = NB_TEXT_SWAP_RANDOM;
        else {
            nb__fail(NB_ERR_ARG, "%s: swap_mode '%s' at column %d: adjacent, middle or random", it->name, swap_mode,
                     nb__spec_get(it, "swap_mode", -1)->col);
            goto done;
        }
    }
    if (kind == 0) a = nb_text_random_char_new(act, &o);
    else if (kind == 1) a = nb_text_keyboard_new(&o);
    else a = nb_text_ocr_new(&o);
done:
    free(stop);
    free(cands);
    return a;
}

static nb_text_aug *bt_from(const nb__spec_item *it)
{
    if (nb__spec_check(it, bt_keys, 0)) return NULL;
    nb_text_backtranslation_opts o = {0};
    long batch;
    if (nb__spec_str(it, "source", -1, NULL, &o.source) || nb__spec_str(it, "pivot", -1, NULL, &o.pivot) ||
        nb__spec_str(it, "forward", -1, NULL, &o.forward) || nb__spec_str(it, "backward", -1, NULL, &o.backward) ||
        nb__spec_str(it, "command", -1, NULL, &o.command) || nb__spec_str(it, "data_dir", -1, NULL, &o.data_dir) ||
        nb__spec_int(it, "batch", -1, 0, &batch))
        return NULL;
    if (batch < 0 || batch > 100000000) {
        nb__fail(NB_ERR_ARG, "back_translation: 'batch' must be between 1 and 100000000, got %ld at column %d", batch,
                 nb__spec_get(it, "batch", -1)->col);
        return NULL;
    }
    o.batch_lines = (int)batch;
    return nb_text_backtranslation_new(&o);
}

static nb_text_aug *pipe_from(const nb__spec_item *it, int sometimes)
{
    float p = 0;
    for (int i = it->n_pos; i < it->n_args; i++) {
        const char *k = it->args[i].key;
        if (!sometimes || (strcmp(k, "p") && strcmp(k, "aug_p"))) {
            nb__fail(NB_ERR_ARG, "unknown parameter '%s' for %s at column %d", k, it->name, it->args[i].key_col);
            return NULL;
        }
    }
    if (sometimes && spec_prob(it, "aug_p", "p", &p)) return NULL;
    nb_text_aug **flow = calloc((size_t)(it->n_pos ? it->n_pos : 1), sizeof *flow);
    if (!flow) {
        nb__fail(NB_ERR_MEM, "out of memory");
        return NULL;
    }
    int n = 0;
    for (int i = 0; i < it->n_pos; i++) {
        const nb__spec_arg *arg = &it->args[i];
        nb__spec_item bare = {0};
        const nb__spec_item *child = arg->item;
        if (arg->kind == NB__SPEC_STR) {
            bare.name = arg->str;
            bare.col = arg->col;
            child = &bare;
        } else if (arg->kind != NB__SPEC_ITEM) {
            nb__fail(NB_ERR_ARG, "%s: argument %d at column %d is not an augmenter", it->name, i + 1, arg->col);
            child = NULL;
        }
        nb_text_aug *c = child ? nb__text_from_item(child) : NULL;
        if (!c) {
            for (int j = 0; j < n; j++) nb_text_aug_free(flow[j]);
            free(flow);
            return NULL;
        }
        flow[n++] = c;
    }
    nb_text_aug *a = sometimes ? nb_text_sometimes_new(flow, n, p) : nb_text_sequential_new(flow, n);
    free(flow);
    return a;
}

nb_text_aug *nb__text_from_item(const nb__spec_item *it)
{
    const char *name = it->name;
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (!strcmp(name, aliases[i][0])) name = aliases[i][1];
    if (!strcmp(name, "random_word") || !strcmp(name, "random_delete") || !strcmp(name, "random_swap") ||
        !strcmp(name, "random_substitute") || !strcmp(name, "random_crop") || !strcmp(name, "random_insert") ||
        !strcmp(name, "synonym"))
        return word_from(it, name);
    if (!strcmp(name, "random_char") || !strcmp(name, "keyboard") || !strcmp(name, "ocr")) return char_from(it, name);
    if (!strcmp(name, "back_translation")) return bt_from(it);
    if (!strcmp(name, "sequential")) return pipe_from(it, 0);
    if (!strcmp(name, "sometimes")) return pipe_from(it, 1);
    nb__fail(NB_ERR_ARG, "unknown text augmenter '%s' at column %d (known: %s)", it->name, it->col, known);
    return NULL;
}

nb_text_aug *nb_text_aug_from_spec(const char *spec)
{
    nb__spec_item *items;
    int n;
    if (nb__spec_parse(spec, &items, &n)) return NULL;
    if (n == 0) {
        nb__fail(NB_ERR_ARG, "no augmenter given (e.g. \"synonym(p=0.3), random_swap(p=0.1)\")");
        return NULL;
    }
    nb_text_aug **flow = calloc((size_t)n, sizeof *flow);
    if (!flow) {
        nb__spec_free(items, n);
        nb__fail(NB_ERR_MEM, "out of memory");
        return NULL;
    }
    int k = 0;
    for (; k < n; k++)
        if (!(flow[k] = nb__text_from_item(&items[k]))) break;
    nb_text_aug *a = NULL;
    if (k == n) a = nb_text_sequential_new(flow, n);
    else
        for (int j = 0; j < k; j++) nb_text_aug_free(flow[j]);
    free(flow);
    nb__spec_free(items, n);
    return a;
}
