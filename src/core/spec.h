/* spec.h - augmentation spec strings (src/core/spec.c).
 * Text and image augmentation share one syntax (`--aug` / `--augment`):
 *     "random_crop(28, padding=2), hflip, random_erasing(p=0.5, scale=(0.02, 0.33))"
 * A spec is a comma-separated list of items; an item is a name with an optional
 * argument list, positional arguments first, then key=value. A value is a number,
 * a string (a bare word such as spa, eng-spa or True, or quoted '...' / "..."), a
 * tuple of numbers "(0.02, 0.33)" (or "[...]"), or a nested item
 * "sometimes(synonym(p=0.3), p=0.5)". Columns are 1-based code-point positions in
 * the string, so a caller can say "--augment: unknown parameter 'pad' at column 17".
 * The parser knows no names: callers validate items with nb__spec_check and read
 * values with nb__spec_num / _int / _bool / _str / _tuple, whose messages carry the
 * item name and column (the caller adds its "--augment: " prefix). */
#ifndef NB_CORE_SPEC_H
#define NB_CORE_SPEC_H

#include "nabla.h"

typedef enum { NB__SPEC_NUM, NB__SPEC_STR, NB__SPEC_TUPLE, NB__SPEC_ITEM } nb__spec_kind;
typedef struct nb__spec_item nb__spec_item;
typedef struct {
    const char *key;     /* NULL for a positional argument */
    int key_col;         /* column of the key, or of the value when positional */
    nb__spec_kind kind;
    int col;             /* column of the value */
    double num;          /* NUM */
    const char *str;     /* STR: the string; NUM: the number as written */
    double *tuple;       /* TUPLE: n_tuple numbers */
    int n_tuple;
    nb__spec_item *item; /* ITEM: one nested item */
} nb__spec_arg;
struct nb__spec_item {
    const char *name;
    int col;             /* column of the name */
    nb__spec_arg *args;  /* positional arguments first */
    int n_args, n_pos;
};
/* The kinds of syntax fault nb__spec_parse reports (nb__last_error_pos()->kind),
 * for callers that word their own message (model files: one layer a line). */
typedef enum {
    NB__SPEC_OTHER_FAULT = 1,    /* any other, and the typed reads' faults */
    NB__SPEC_NO_NAME,            /* an item does not start with a name */
    NB__SPEC_NO_NAME_AFTER_COMMA,
    NB__SPEC_NO_SEPARATOR,       /* two items without ',' between them */
    NB__SPEC_UNCLOSED_CALL,      /* the string ends inside an item's '(' (col: the '(') */
} nb__spec_syntax;
/* Parse s into a new array of *n items (a blank string gives 0 items and *items
 * NULL). Syntax errors, duplicate keywords and positional-after-keyword give
 * NB_ERR_ARG with "... at column C", the column and kind also as data
 * (nb__last_error_pos in core/error.h). Free with nb__spec_free. */
nb_status nb__spec_parse(const char *s, nb__spec_item **items, int *n);
void nb__spec_free(nb__spec_item *items, int n);
/* Check an item's arguments against its parameter names (NULL-terminated); the
 * first max_pos of them may also be given positionally, in order. Fails naming
 * the first unknown keyword ("unknown parameter 'pad' for random_crop at column
 * 17"), a surplus positional argument, or a parameter given twice. */
nb_status nb__spec_check(const nb__spec_item *it, const char *const *keys, int max_pos);
/* What nb__spec_check finds, for callers with messages of their own (model files):
 * the first fault, *arg the index in it->args of the argument at fault (-1: none),
 * *max_pos clipped to the number of keys. */
typedef enum { NB__SPEC_NO_FAULT, NB__SPEC_TOO_MANY_POS, NB__SPEC_UNKNOWN_KEY, NB__SPEC_GIVEN_TWICE } nb__spec_fault;
nb__spec_fault nb__spec_find_fault(const nb__spec_item *it, const char *const *keys, int *max_pos, int *arg);
/* The argument given as keyword `key` or as positional number pos (-1: keyword
 * only); NULL when absent. */
const nb__spec_arg *nb__spec_get(const nb__spec_item *it, const char *key, int pos);
/* Typed reads; the default when absent, NB_ERR_ARG naming item, key and column
 * when the value has the wrong type. _int wants an integral number, _bool
 * True/False/true/false/1/0, _tuple 1..max numbers (a single number is a
 * 1-tuple; *n receives the count). */
nb_status nb__spec_num(const nb__spec_item *it, const char *key, int pos, double def, double *out);
nb_status nb__spec_int(const nb__spec_item *it, const char *key, int pos, long def, long *out);
nb_status nb__spec_bool(const nb__spec_item *it, const char *key, int pos, int def, int *out);
nb_status nb__spec_str(const nb__spec_item *it, const char *key, int pos, const char *def, const char **out);
nb_status nb__spec_tuple(const nb__spec_item *it, const char *key, int pos, double *out, int max, int *n);

#endif
