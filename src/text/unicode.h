/* unicode.h - Unicode data for the BERT and GPT-2 tokenizers (tables generated into
 * unicode_tables.c by tools/gen_unicode_tables.py from Python's unicodedata, so the
 * tests' Python reference sees the same categories, case mappings and decompositions). */
#ifndef NB_UNICODE_H
#define NB_UNICODE_H

#include <stdint.h>

enum { NB__UC_OTHER = 0, NB__UC_L, NB__UC_N, NB__UC_P, NB__UC_C, NB__UC_MN, NB__UC_ZS };

typedef struct {
    uint32_t lo, hi;
    uint8_t cls;
} nb__uc_range;

typedef struct {
    uint32_t cp;
    uint8_t n;
    uint32_t to[4];
} nb__uc_map;

extern const nb__uc_range nb__uc_ranges[];
extern const int nb__uc_n_ranges;
extern const nb__uc_range nb__uc_cased[];
extern const int nb__uc_n_cased;
extern const nb__uc_range nb__uc_case_ignorable[];
extern const int nb__uc_n_case_ignorable;
extern const nb__uc_map nb__uc_lower[];
extern const int nb__uc_n_lower;
extern const nb__uc_map nb__uc_nfd[];
extern const int nb__uc_n_nfd;

/* The range of the sorted, disjoint ranges r[0..n) that holds cp, or NULL. */
static inline const nb__uc_range *nb__uc_range_of(const nb__uc_range *r, int n, uint32_t cp)
{
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (cp < r[mid].lo) hi = mid - 1;
        else if (cp > r[mid].hi) lo = mid + 1;
        else return &r[mid];
    }
    return 0;
}

/* The class of cp (NB__UC_*): L letters, N numbers, P punctuation, C control, format,
 * surrogate, private use and unassigned, Mn nonspacing marks, Zs space separators. */
static inline int nb__uc_class(uint32_t cp)
{
    const nb__uc_range *r = nb__uc_range_of(nb__uc_ranges, nb__uc_n_ranges, cp);
    return r ? r->cls : NB__UC_OTHER;
}

static inline int nb__uc_in(const nb__uc_range *r, int n, uint32_t cp) { return nb__uc_range_of(r, n, cp) != 0; }

static inline const nb__uc_map *nb__uc_find(const nb__uc_map *t, int n, uint32_t cp)
{
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (cp < t[mid].cp) hi = mid - 1;
        else if (cp > t[mid].cp) lo = mid + 1;
        else return &t[mid];
    }
    return 0;
}

/* Unicode's White_Space property (what \s matches in the GPT-2 pattern). */
static inline int nb__uc_white_space(uint32_t cp)
{
    return (cp >= 0x9 && cp <= 0xD) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
           cp == 0x3000;
}
#endif
