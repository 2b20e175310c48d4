/* test_spec.c - the augmentation spec parser (src/core/spec.c): values, nesting,
 * columns in messages, typed readers and every syntax error. */
#include "check.h"
#include "core/spec.h"

static int has(const char *msg, const char *part) { return strstr(msg, part) != NULL; }

/* Parse s expecting failure; returns the message. */
static const char *parse_err(const char *s)
{
    nb__spec_item *items;
    int n;
    nb_clear_error();
    nb_status st = nb__spec_parse(s, &items, &n);
    if (st == NB_OK) {
        nb__spec_free(items, n);
        return "(parsed)";
    }
    return nb_last_error();
}

/* nb_edit_distance, which every "did you mean" uses (model files, transforms, CLI options) */
static void test_edit_distance(void)
{
    CHECK("edit distance kitten/sitting", nb_edit_distance("kitten", "sitting") == 3, "%d",
          nb_edit_distance("kitten", "sitting"));
    CHECK("edit distance: equal, empty, one insertion", nb_edit_distance("relu", "relu") == 0 &&
          nb_edit_distance("", "abc") == 3 && nb_edit_distance("conv2", "conv2d") == 1, "%d %d %d",
          nb_edit_distance("relu", "relu"), nb_edit_distance("", "abc"), nb_edit_distance("conv2", "conv2d"));
    char longer[80];
    memset(longer, 'a', 70);
    longer[70] = 0;
    CHECK("edit distance: over 63 bytes is 99", nb_edit_distance(longer, "a") == 99, "%d", nb_edit_distance(longer, "a"));
}

int main(void)
{
    nb__spec_item *it;
    int n;

    test_edit_distance();

    /* the image example */
    nb_status st = nb__spec_parse("random_crop(28, padding=2), hflip, random_erasing(p=0.5, scale=(0.02, 0.33))",
                                  &it, &n);
    CHECK("image spec parses", st == NB_OK && n == 3, "st %d n %d: %s", st, n, nb_last_error());
    if (st == NB_OK && n == 3) {
        CHECK("item names", !strcmp(it[0].name, "random_crop") && !strcmp(it[1].name, "hflip") &&
                                !strcmp(it[2].name, "random_erasing"),
              "%s %s %s", it[0].name, it[1].name, it[2].name);
        CHECK("item columns", it[0].col == 1 && it[1].col == 29 && it[2].col == 36, "%d %d %d", it[0].col,
              it[1].col, it[2].col);
        CHECK("random_crop args", it[0].n_args == 2 && it[0].n_pos == 1 && it[0].args[0].kind == NB__SPEC_NUM &&
                                      it[0].args[0].num == 28 && !it[0].args[0].key &&
                                      !strcmp(it[0].args[1].key, "padding") && it[0].args[1].num == 2,
              "n_args %d n_pos %d", it[0].n_args, it[0].n_pos);
        CHECK("argument columns", it[0].args[0].col == 13 && it[0].args[1].key_col == 17 && it[0].args[1].col == 25,
              "%d %d %d", it[0].args[0].col, it[0].args[1].key_col, it[0].args[1].col);
        CHECK("hflip without parentheses", it[1].n_args == 0, "%d", it[1].n_args);
        const nb__spec_arg *sc = nb__spec_get(&it[2], "scale", -1);
        CHECK("tuple value", sc && sc->kind == NB__SPEC_TUPLE && sc->n_tuple == 2 && sc->tuple[0] == 0.02 &&
                                 sc->tuple[1] == 0.33,
              "kind %d", sc ? (int)sc->kind : -1);
        /* typed readers */
        static const char *const crop_keys[] = {"size", "padding", "pad_if_needed", "fill", "padding_mode", NULL};
        CHECK("check accepts known keys", nb__spec_check(&it[0], crop_keys, 1) == NB_OK, "%s", nb_last_error());
        long size, padding, fill;
        int pin;
        const char *mode;
        st = nb__spec_int(&it[0], "size", 0, 0, &size);
        st |= nb__spec_int(&it[0], "padding", 1, 0, &padding);
        st |= nb__spec_int(&it[0], "fill", 3, 7, &fill);
        st |= nb__spec_bool(&it[0], "pad_if_needed", 2, 0, &pin);
        st |= nb__spec_str(&it[0], "padding_mode", 4, "constant", &mode);
        CHECK("typed reads and defaults", st == NB_OK && size == 28 && padding == 2 && fill == 7 && pin == 0 &&
                                              !strcmp(mode, "constant"),
              "%ld %ld %ld %d %s", size, padding, fill, pin, mode);
        double sc2[4];
        int k;
        CHECK("tuple reader", nb__spec_tuple(&it[2], "scale", -1, sc2, 4, &k) == NB_OK && k == 2 && sc2[1] == 0.33,
              "%d", k);
        CHECK("tuple reader max", nb__spec_tuple(&it[2], "scale", -1, sc2, 1, &k) == NB_ERR_ARG &&
                                      has(nb_last_error(), "at most 1 number") && has(nb_last_error(), "column 64"),
              "%s", nb_last_error());
        double p;
        CHECK("number reader", nb__spec_num(&it[2], "p", -1, 0.1, &p) == NB_OK && p == 0.5, "%g", p);
        CHECK("int reader rejects a tuple",
              nb__spec_int(&it[2], "scale", -1, 0, &size) == NB_ERR_ARG &&
                  has(nb_last_error(), "random_erasing: 'scale' needs an integer at column 64"),
              "%s", nb_last_error());
        static const char *const hflip_keys[] = {"p", NULL};
        CHECK("check with no args", nb__spec_check(&it[1], hflip_keys, 1) == NB_OK, "%s", nb_last_error());
        nb__spec_free(it, n);
    }

    /* unknown parameter: the caller's message with the column */
    st = nb__spec_parse("random_crop(28, pad=2)", &it, &n);
    if (st == NB_OK) {
        static const char *const crop_keys[] = {"size", "padding", NULL};
        st = nb__spec_check(&it[0], crop_keys, 1);
        CHECK("unknown parameter named with column",
              st == NB_ERR_ARG && has(nb_last_error(), "unknown parameter 'pad' for random_crop at column 17"), "%s",
              nb_last_error());
        nb__spec_free(it, n);
    } else CHECK("unknown parameter spec parses", 0, "%s", nb_last_error());

    st = nb__spec_parse("random_crop(28, 2, 3)", &it, &n);
    if (st == NB_OK) {
        static const char *const crop_keys[] = {"size", "padding", NULL};
        st = nb__spec_check(&it[0], crop_keys, 2);
        CHECK("too many positional", st == NB_ERR_ARG && has(nb_last_error(), "at most 2 positional arguments at column 20"),
              "%s", nb_last_error());
        nb__spec_free(it, n);
    }
    st = nb__spec_parse("random_crop(28, size=3)", &it, &n);
    if (st == NB_OK) {
        static const char *const crop_keys[] = {"size", "padding", NULL};
        st = nb__spec_check(&it[0], crop_keys, 2);
        CHECK("positional and keyword for one parameter", st == NB_ERR_ARG && has(nb_last_error(), "given twice"),
              "%s", nb_last_error());
        nb__spec_free(it, n);
    }

    /* text specs: strings, nesting, booleans, quoted strings with commas */
    st = nb__spec_parse(" synonym(p=0.3) ,random_swap( p = .1 ),back_translation(pivot=spa, pair=eng-spa),"
                        "sometimes(synonym(p=0.3), random_delete, p=0.5), random_substitute(words='a,b \\'c\\'', "
                        "upper=True, n=-1e-2)",
                        &it, &n);
    CHECK("text spec parses", st == NB_OK && n == 5, "%d %d %s", st, n, nb_last_error());
    if (st == NB_OK && n == 5) {
        CHECK("leading blank and spaced keyword", it[0].col == 2 && it[1].args[0].num == 0.1 &&
                                                      !strcmp(it[1].args[0].key, "p"),
              "%d", it[0].col);
        const char *pivot, *pair;
        nb__spec_str(&it[2], "pivot", -1, NULL, &pivot);
        nb__spec_str(&it[2], "pair", -1, NULL, &pair);
        CHECK("bare words", !strcmp(pivot, "spa") && !strcmp(pair, "eng-spa"), "%s %s", pivot, pair);
        const nb__spec_item *so = &it[3];
        CHECK("nested items", so->n_args == 3 && so->n_pos == 2 && so->args[0].kind == NB__SPEC_ITEM &&
                                  !strcmp(so->args[0].item->name, "synonym") &&
                                  so->args[0].item->args[0].num == 0.3 && so->args[1].kind == NB__SPEC_STR &&
                                  !strcmp(so->args[1].str, "random_delete") && so->args[2].num == 0.5,
              "n_args %d", so->n_args);
        const char *words;
        int up;
        double v;
        nb__spec_str(&it[4], "words", -1, NULL, &words);
        nb__spec_bool(&it[4], "upper", -1, 0, &up);
        nb__spec_num(&it[4], "n", -1, 0, &v);
        CHECK("quoted string with escapes", !strcmp(words, "a,b 'c'"), "%s", words);
        CHECK("bool and exponent", up == 1 && v == -1e-2, "%d %g", up, v);
        CHECK("bool reader rejects a word", nb__spec_bool(&it[2], "pivot", -1, 0, &up) == NB_ERR_ARG &&
                                                has(nb_last_error(), "'pivot' needs True or False"),
              "%s", nb_last_error());
        nb__spec_free(it, n);
    }

    /* blank and NULL give no items */
    CHECK("blank spec", nb__spec_parse("   ", &it, &n) == NB_OK && n == 0 && it == NULL, "%d", n);
    CHECK("NULL spec", nb__spec_parse(NULL, &it, &n) == NB_OK && n == 0, "%d", n);

    /* columns count code points: 'é' is 2 bytes, one column */
    const char *e = parse_err("x('é', 2x)");
    CHECK("column in code points", has(e, "malformed number") && has(e, "column 9"), "%s", e);

    /* syntax errors */
    struct {
        const char *s, *want;
    } bad[] = {
        {"hflip,", "expected an augmentation name after ',', found end of string at column 7"},
        {"hflip,,vflip", "expected an augmentation name, found ',' at column 7"},
        {"hflip vflip", "expected ',' between augmentations, found 'v' at column 7"},
        {"random_crop(28", "unclosed '(' of random_crop opened at column 12"},
        {"random_crop(28,", "unclosed '(' of random_crop opened at column 12"},
        {"random_crop(p=)", "expected a value after '=', found ')' at column 15"},
        {"random_crop(p=0.5, p=0.2)", "parameter 'p' of random_crop given twice at column 20"},
        {"random_crop(p=0.5, 3)", "positional argument after keyword arguments of random_crop at column 20"},
        {"x(s='abc)", "unterminated string starting at column 5"},
        {"x(scale=(0.1, 0.2)", "unclosed '(' of x opened at column 2"},
        {"x(scale=(0.1, 0.2, )", "unclosed '(' of x opened at column 2"},
        {"x(scale=(0.1 0.2))", "expected ',' or the end of the tuple, found '0' at column 14"},
        {"x(scale=(0.1, a))", "in a tuple: expected a number, found 'a' at column 15"},
        {"x(scale=())", "empty tuple at column 9"},
        {"x(p=1e)", "malformed number, found 'e' at column 6"},
        {"x(p=0.5 0.6)", "expected ',' or ')', found '0' at column 9"},
        {"3x", "expected an augmentation name, found '3' at column 1"},
        {"x(=3)", "expected a value, found '=' at column 3"},
        {"x(p=1e999)", "out of range at column 5"},
        {"x(p=-)", "expected a number, found '-' at column 5"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *m = parse_err(bad[i].s);
        char name[96];
        snprintf(name, sizeof name, "syntax error: %s", bad[i].s);
        CHECK(name, has(m, bad[i].want), "got \"%s\", want \"%s\"", m, bad[i].want);
    }

    /* deep nesting is refused, not a stack overflow */
    char deep[400];
    size_t len = 0;
    for (int i = 0; i < 40; i++) len += (size_t)snprintf(deep + len, sizeof deep - len, "a(");
    for (int i = 0; i < 40; i++) deep[len++] = ')';
    deep[len] = 0;
    CHECK("deep nesting refused", has(parse_err(deep), "nested too deeply"), "%s", parse_err(deep));

    CHECK_DONE();
}
