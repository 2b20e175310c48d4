/* spec.c - the augmentation spec language shared by text and image augmentation:
 *     "random_crop(28, padding=2), hflip, random_erasing(p=0.5, scale=(0.02, 0.33))"
 * A recursive-descent parser into items with positional and keyword arguments
 * (grammar and value kinds in core/spec.h), plus typed readers for callers. Every
 * message carries a 1-based column counted in code points. */
#include "core/error.h"
#include "core/spec.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *s; /* the whole string */
    const char *p; /* current position */
    int depth;
} parser;

/* Column (1-based, in code points) of byte position q of s. */
static int col_of(const char *s, const char *q)
{
    int c = 1;
    for (const char *t = s; t < q; t++)
        if (((unsigned char)*t & 0xC0) != 0x80) c++;
    return c;
}

static void skip_ws(parser *ps)
{
    while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r') ps->p++;
}

static int is_name_start(char c) { return isalpha((unsigned char)c) || c == '_'; }
static int is_name_char(char c) { return isalnum((unsigned char)c) || c == '_'; }
/* Bare-word values may also hold '-', '.', '/', ':' inside (eng-spa, words.txt). */
static int is_word_char(char c) { return is_name_char(c) || c == '-' || c == '.' || c == '/' || c == ':'; }

static char *dup_range(const char *a, const char *b)
{
    size_t n = (size_t)(b - a);
    char *r = malloc(n + 1);
    if (!r) return NULL;
    memcpy(r, a, n);
    r[n] = 0;
    return r;
}

/* Describe the character at q for messages: 'x', end of string, or a code point. */
static void char_desc(const char *q, char *buf, size_t n)
{
    if (!*q) snprintf(buf, n, "end of string");
    else if ((unsigned char)*q < 0x80) snprintf(buf, n, "'%c'", *q);
    else {
        int len = 1;
        while (len < 4 && ((unsigned char)q[len] & 0xC0) == 0x80) len++;
        snprintf(buf, n, "'%.*s'", len, q);
    }
}

static nb_status fail_at(parser *ps, const char *q, nb__spec_syntax kind, const char *what)
{
    char d[32];
    char_desc(q, d, sizeof d);
    return nb__fail_at(NB_ERR_ARG, col_of(ps->s, q), kind, "%s, found %s", what, d);
}

static nb_status oom(void) { return nb__fail(NB_ERR_MEM, "out of memory parsing an augmentation spec"); }

static void free_arg(nb__spec_arg *a);

static void free_item(nb__spec_item *it)
{
    for (int i = 0; i < it->n_args; i++) free_arg(&it->args[i]);
    free(it->args);
    free((char *)it->name);
}

static void free_arg(nb__spec_arg *a)
{
    free((char *)a->key);
    free((char *)a->str);
    free(a->tuple);
    if (a->item) {
        free_item(a->item);
        free(a->item);
    }
}

void nb__spec_free(nb__spec_item *items, int n)
{
    if (!items) return;
    for (int i = 0; i < n; i++) free_item(&items[i]);
    free(items);
}

/* A number as Python writes it: [+-] digits [. digits] [e [+-] digits], or .digits.
 * Returns the end, or NULL if there is no number at p. */
static const char *scan_number(const char *p)
{
    const char *q = p;
    if (*q == '+' || *q == '-') q++;
    int digits = 0;
    while (isdigit((unsigned char)*q)) q++, digits++;
    if (*q == '.') {
        q++;
        while (isdigit((unsigned char)*q)) q++, digits++;
    }
    if (!digits) return NULL;
    if (*q == 'e' || *q == 'E') {
        const char *e = q + 1;
        if (*e == '+' || *e == '-') e++;
        if (isdigit((unsigned char)*e)) {
            while (isdigit((unsigned char)*e)) e++;
            q = e;
        }
    }
    return q;
}

static nb_status parse_number(parser *ps, double *out, const char **end)
{
    const char *q = scan_number(ps->p);
    if (!q) return fail_at(ps, ps->p, NB__SPEC_OTHER_FAULT, "expected a number");
    if (is_name_char(*q)) return fail_at(ps, q, NB__SPEC_OTHER_FAULT, "malformed number");
    char buf[64];
    size_t n = (size_t)(q - ps->p);
    if (n >= sizeof buf)
        return nb__fail_at(NB_ERR_ARG, col_of(ps->s, ps->p), NB__SPEC_OTHER_FAULT, "number too long");
    memcpy(buf, ps->p, n);
    buf[n] = 0;
    errno = 0;
    double v = strtod(buf, NULL);
    if (errno == ERANGE && fabs(v) > 1.0)
        return nb__fail_at(NB_ERR_ARG, col_of(ps->s, ps->p), NB__SPEC_OTHER_FAULT, "number %s out of range", buf);
    *out = v;
    *end = q;
    return NB_OK;
}

static nb_status parse_item(parser *ps, nb__spec_item *it);

/* A quoted string with \\, \' and \" escapes. */
static nb_status parse_quoted(parser *ps, char **out)
{
    const char *start = ps->p;
    char quote = *ps->p++;
    size_t cap = 16, len = 0;
    char *buf = malloc(cap);
    if (!buf) return oom();
    for (;;) {
        char c = *ps->p;
        if (!c) {
            free(buf);
            return nb__fail_at(NB_ERR_ARG, col_of(ps->s, start), NB__SPEC_OTHER_FAULT, "unterminated string starting");
        }
        ps->p++;
        if (c == quote) break;
        if (c == '\\' && (*ps->p == '\\' || *ps->p == '\'' || *ps->p == '"')) c = *ps->p++;
        if (len + 2 > cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                return oom();
            }
            buf = nb;
        }
        buf[len++] = c;
    }
    buf[len] = 0;
    *out = buf;
    return NB_OK;
}

/* '(' or '[' numbers ')' or ']' */
static nb_status parse_tuple(parser *ps, nb__spec_arg *a)
{
    const char *open = ps->p;
    char close = *ps->p == '(' ? ')' : ']';
    ps->p++;
    int cap = 4;
    a->tuple = malloc(sizeof(double) * (size_t)cap);
    if (!a->tuple) return oom();
    for (;;) {
        skip_ws(ps);
        if (*ps->p == close) {
            ps->p++;
            break;
        }
        if (!*ps->p)
            return nb__fail_at(NB_ERR_ARG, col_of(ps->s, open), NB__SPEC_OTHER_FAULT, "unclosed '%c' opened", *open);
        double v;
        const char *end;
        nb_status st = parse_number(ps, &v, &end);
        if (st) {
            nb__error_prefix("in a tuple");
            return st;
        }
        if (a->n_tuple == cap) {
            double *nt = realloc(a->tuple, sizeof(double) * (size_t)(cap *= 2));
            if (!nt) return oom();
            a->tuple = nt;
        }
        a->tuple[a->n_tuple++] = v;
        ps->p = end;
        skip_ws(ps);
        if (*ps->p == ',') ps->p++;
        else if (*ps->p != close) {
            if (!*ps->p)
                return nb__fail_at(NB_ERR_ARG, col_of(ps->s, open), NB__SPEC_OTHER_FAULT, "unclosed '%c' opened", *open);
            return fail_at(ps, ps->p, NB__SPEC_OTHER_FAULT, "expected ',' or the end of the tuple");
        }
    }
    if (a->n_tuple == 0) return nb__fail_at(NB_ERR_ARG, col_of(ps->s, open), NB__SPEC_OTHER_FAULT, "empty tuple");
    return NB_OK;
}

static nb_status parse_value(parser *ps, nb__spec_arg *a)
{
    a->col = col_of(ps->s, ps->p);
    char c = *ps->p;
    if (c == '(' || c == '[') {
        a->kind = NB__SPEC_TUPLE;
        return parse_tuple(ps, a);
    }
    if (c == '\'' || c == '"') {
        a->kind = NB__SPEC_STR;
        return parse_quoted(ps, (char **)&a->str);
    }
    if (isdigit((unsigned char)c) || c == '+' || c == '-' || c == '.') {
        const char *start = ps->p, *end;
        nb_status st = parse_number(ps, &a->num, &end);
        if (st) return st;
        a->kind = NB__SPEC_NUM;
        a->str = dup_range(start, end);
        if (!a->str) return oom();
        ps->p = end;
        return NB_OK;
    }
    if (is_name_start(c)) {
        const char *q = ps->p;
        while (is_name_char(*q)) q++;
        const char *r = q;
        while (*r == ' ' || *r == '\t') r++;
        if (*r == '(') { /* a nested item */
            a->kind = NB__SPEC_ITEM;
            a->item = calloc(1, sizeof *a->item);
            if (!a->item) return oom();
            return parse_item(ps, a->item);
        }
        while (is_word_char(*q)) q++;
        a->kind = NB__SPEC_STR;
        a->str = dup_range(ps->p, q);
        if (!a->str) return oom();
        ps->p = q;
        return NB_OK;
    }
    return fail_at(ps, ps->p, NB__SPEC_OTHER_FAULT, "expected a value");
}

static nb_status push_arg(nb__spec_item *it, int *cap, nb__spec_arg **slot)
{
    if (it->n_args == *cap) {
        int nc = *cap ? *cap * 2 : 4;
        nb__spec_arg *na = realloc(it->args, sizeof *na * (size_t)nc);
        if (!na) return oom();
        it->args = na;
        *cap = nc;
    }
    *slot = &it->args[it->n_args++];
    memset(*slot, 0, sizeof **slot);
    return NB_OK;
}

/* name [ '(' args ')' ] */
static nb_status parse_item(parser *ps, nb__spec_item *it)
{
    if (!is_name_start(*ps->p)) return fail_at(ps, ps->p, NB__SPEC_NO_NAME, "expected an augmentation name");
    const char *start = ps->p;
    while (is_name_char(*ps->p)) ps->p++;
    it->col = col_of(ps->s, start);
    it->name = dup_range(start, ps->p);
    if (!it->name) return oom();
    skip_ws(ps);
    if (*ps->p != '(') return NB_OK;
    if (++ps->depth > 32)
        return nb__fail_at(NB_ERR_ARG, col_of(ps->s, ps->p), NB__SPEC_OTHER_FAULT, "items nested too deeply");
    const char *open = ps->p++;
    int cap = 0, seen_key = 0;
    for (;;) {
        skip_ws(ps);
        if (*ps->p == ')') {
            ps->p++;
            break;
        }
        if (!*ps->p)
            return nb__fail_at(NB_ERR_ARG, col_of(ps->s, open), NB__SPEC_UNCLOSED_CALL, "unclosed '(' of %s opened",
                               it->name);
        nb__spec_arg *a = NULL;
        nb_status st = push_arg(it, &cap, &a);
        if (st) return st;
        /* key = value ? */
        const char *q = ps->p;
        if (is_name_start(*q)) {
            while (is_name_char(*q)) q++;
            const char *r = q;
            while (*r == ' ' || *r == '\t') r++;
            if (*r == '=') {
                a->key = dup_range(ps->p, q);
                if (!a->key) return oom();
                a->key_col = col_of(ps->s, ps->p);
                for (int i = 0; i < it->n_args - 1; i++)
                    if (it->args[i].key && !strcmp(it->args[i].key, a->key))
                        return nb__fail_at(NB_ERR_ARG, a->key_col, NB__SPEC_OTHER_FAULT,
                                           "parameter '%s' of %s given twice", a->key, it->name);
                ps->p = r + 1;
                skip_ws(ps);
                if (!*ps->p || *ps->p == ',' || *ps->p == ')')
                    return fail_at(ps, ps->p, NB__SPEC_OTHER_FAULT, "expected a value after '='");
                seen_key = 1;
            }
        }
        if (!a->key) {
            if (seen_key)
                return nb__fail_at(NB_ERR_ARG, col_of(ps->s, ps->p), NB__SPEC_OTHER_FAULT,
                                   "positional argument after keyword arguments of %s", it->name);
            a->key_col = col_of(ps->s, ps->p);
            it->n_pos++;
        }
        st = parse_value(ps, a);
        if (st) return st;
        skip_ws(ps);
        if (*ps->p == ',') ps->p++;
        else if (*ps->p != ')') {
            if (!*ps->p)
                return nb__fail_at(NB_ERR_ARG, col_of(ps->s, open), NB__SPEC_UNCLOSED_CALL, "unclosed '(' of %s opened",
                                   it->name);
            return fail_at(ps, ps->p, NB__SPEC_OTHER_FAULT, "expected ',' or ')'");
        }
    }
    ps->depth--;
    return NB_OK;
}

nb_status nb__spec_parse(const char *s, nb__spec_item **items, int *n)
{
    *items = NULL;
    *n = 0;
    if (!s) return NB_OK;
    parser ps = {s, s, 0};
    nb__spec_item *arr = NULL;
    int cnt = 0, cap = 0;
    nb_status st = NB_OK;
    skip_ws(&ps);
    while (*ps.p) {
        if (cnt == cap) {
            int nc = cap ? cap * 2 : 4;
            nb__spec_item *na = realloc(arr, sizeof *na * (size_t)nc);
            if (!na) {
                st = oom();
                break;
            }
            arr = na;
            cap = nc;
        }
        memset(&arr[cnt], 0, sizeof arr[cnt]);
        cnt++;
        st = parse_item(&ps, &arr[cnt - 1]);
        if (st) break;
        skip_ws(&ps);
        if (*ps.p == ',') {
            ps.p++;
            skip_ws(&ps);
            if (!*ps.p) {
                st = fail_at(&ps, ps.p, NB__SPEC_NO_NAME_AFTER_COMMA, "expected an augmentation name after ','");
                break;
            }
        } else if (*ps.p) {
            st = fail_at(&ps, ps.p, NB__SPEC_NO_SEPARATOR, "expected ',' between augmentations");
            break;
        }
    }
    if (st) {
        nb__spec_free(arr, cnt);
        return st;
    }
    *items = arr;
    *n = cnt;
    return NB_OK;
}

nb__spec_fault nb__spec_find_fault(const nb__spec_item *it, const char *const *keys, int *max_pos, int *arg)
{
    int nkeys = 0;
    while (keys && keys[nkeys]) nkeys++;
    if (*max_pos > nkeys) *max_pos = nkeys;
    *arg = -1;
    if (it->n_pos > *max_pos) {
        *arg = *max_pos;
        return NB__SPEC_TOO_MANY_POS;
    }
    for (int i = it->n_pos; i < it->n_args; i++) {
        int k = 0;
        while (k < nkeys && strcmp(keys[k], it->args[i].key)) k++;
        *arg = i;
        if (k == nkeys) return NB__SPEC_UNKNOWN_KEY;
        if (k < it->n_pos) return NB__SPEC_GIVEN_TWICE;
    }
    *arg = -1;
    return NB__SPEC_NO_FAULT;
}

nb_status nb__spec_check(const nb__spec_item *it, const char *const *keys, int max_pos)
{
    int i;
    nb__spec_fault f = nb__spec_find_fault(it, keys, &max_pos, &i);
    const nb__spec_arg *a = i >= 0 ? &it->args[i] : NULL;
    switch (f) {
    case NB__SPEC_TOO_MANY_POS:
        if (max_pos == 0)
            return nb__fail_at(NB_ERR_ARG, a->key_col, NB__SPEC_OTHER_FAULT,
                               "%s takes no positional arguments (use key=value)", it->name);
        return nb__fail_at(NB_ERR_ARG, a->key_col, NB__SPEC_OTHER_FAULT, "%s takes at most %d positional argument%s",
                           it->name, max_pos, max_pos == 1 ? "" : "s");
    case NB__SPEC_UNKNOWN_KEY:
        return nb__fail_at(NB_ERR_ARG, a->key_col, NB__SPEC_OTHER_FAULT, "unknown parameter '%s' for %s", a->key,
                           it->name);
    case NB__SPEC_GIVEN_TWICE:
        return nb__fail_at(NB_ERR_ARG, a->key_col, NB__SPEC_OTHER_FAULT,
                           "parameter '%s' of %s given twice (positionally and by keyword)", a->key, it->name);
    default:
        return NB_OK;
    }
}

const nb__spec_arg *nb__spec_get(const nb__spec_item *it, const char *key, int pos)
{
    if (pos >= 0 && pos < it->n_pos) return &it->args[pos];
    for (int i = it->n_pos; i < it->n_args; i++)
        if (!strcmp(it->args[i].key, key)) return &it->args[i];
    return NULL;
}

static nb_status wrong(const nb__spec_item *it, const char *key, const nb__spec_arg *a, const char *want)
{
    return nb__fail_at(NB_ERR_ARG, a->col, NB__SPEC_OTHER_FAULT, "%s: '%s' needs %s", it->name, key, want);
}

nb_status nb__spec_num(const nb__spec_item *it, const char *key, int pos, double def, double *out)
{
    const nb__spec_arg *a = nb__spec_get(it, key, pos);
    if (!a) {
        *out = def;
        return NB_OK;
    }
    if (a->kind != NB__SPEC_NUM) return wrong(it, key, a, "a number");
    *out = a->num;
    return NB_OK;
}

nb_status nb__spec_int(const nb__spec_item *it, const char *key, int pos, long def, long *out)
{
    const nb__spec_arg *a = nb__spec_get(it, key, pos);
    if (!a) {
        *out = def;
        return NB_OK;
    }
    if (a->kind != NB__SPEC_NUM || a->num != floor(a->num) || fabs(a->num) > 2e9)
        return wrong(it, key, a, "an integer");
    *out = (long)a->num;
    return NB_OK;
}

nb_status nb__spec_bool(const nb__spec_item *it, const char *key, int pos, int def, int *out)
{
    const nb__spec_arg *a = nb__spec_get(it, key, pos);
    if (!a) {
        *out = def;
        return NB_OK;
    }
    if (a->kind == NB__SPEC_NUM && (a->num == 0 || a->num == 1)) {
        *out = a->num != 0;
        return NB_OK;
    }
    if (a->kind == NB__SPEC_STR) {
        if (!strcmp(a->str, "True") || !strcmp(a->str, "true")) {
            *out = 1;
            return NB_OK;
        }
        if (!strcmp(a->str, "False") || !strcmp(a->str, "false")) {
            *out = 0;
            return NB_OK;
        }
    }
    return wrong(it, key, a, "True or False");
}

nb_status nb__spec_str(const nb__spec_item *it, const char *key, int pos, const char *def, const char **out)
{
    const nb__spec_arg *a = nb__spec_get(it, key, pos);
    if (!a) {
        *out = def;
        return NB_OK;
    }
    if (a->kind != NB__SPEC_STR && a->kind != NB__SPEC_NUM) return wrong(it, key, a, "a string");
    *out = a->str;
    return NB_OK;
}

nb_status nb__spec_tuple(const nb__spec_item *it, const char *key, int pos, double *out, int max, int *n)
{
    const nb__spec_arg *a = nb__spec_get(it, key, pos);
    if (!a) {
        *n = 0;
        return NB_OK;
    }
    if (a->kind == NB__SPEC_NUM) {
        if (max < 1) return wrong(it, key, a, "a tuple");
        out[0] = a->num;
        *n = 1;
        return NB_OK;
    }
    if (a->kind != NB__SPEC_TUPLE) return wrong(it, key, a, "a number or a tuple of numbers");
    if (a->n_tuple > max)
        return nb__fail_at(NB_ERR_ARG, a->col, NB__SPEC_OTHER_FAULT, "%s: '%s' takes at most %d number%s, got %d",
                           it->name, key, max, max == 1 ? "" : "s", a->n_tuple);
    memcpy(out, a->tuple, sizeof(double) * (size_t)a->n_tuple);
    *n = a->n_tuple;
    return NB_OK;
}
