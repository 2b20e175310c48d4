/* golden.h - the case configurations of the golden files (tests/goldens, made by
 * tools/goldens/gen_*.py): each case's metadata is a string "k1=v1 k2=v2 ...". */
#ifndef NB_TEST_GOLDEN_H
#define NB_TEST_GOLDEN_H
#include "check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The value of key in "k1=v1 k2=v2" into buf (at most n - 1 chars); "" if absent. */
static inline const char *cfg_get(const char *cfg, const char *key, char *buf, size_t n)
{
    size_t kl = strlen(key);
    buf[0] = 0;
    for (const char *p = cfg; p && *p;) {
        if (!strncmp(p, key, kl) && p[kl] == '=') {
            const char *v = p + kl + 1;
            size_t l = strcspn(v, " ");
            if (l >= n) l = n - 1;
            memcpy(buf, v, l);
            buf[l] = 0;
            return buf;
        }
        p = strchr(p, ' ');
        if (p) p++;
    }
    return buf;
}

/* The integer value of key, or dflt if absent. */
static inline long cfg_int(const char *cfg, const char *key, long dflt)
{
    char v[64];
    return *cfg_get(cfg, key, v, sizeof v) ? atol(v) : dflt;
}

/* "a,b" (or "a", meaning "a,a") into v; 0 if key is absent. */
static inline int cfg_pair(const char *cfg, const char *key, int v[2])
{
    char s[64];
    if (!*cfg_get(cfg, key, s, sizeof s)) return 0;
    char *e;
    v[0] = (int)strtol(s, &e, 10);
    v[1] = *e == ',' ? (int)strtol(e + 1, NULL, 10) : v[0];
    return 1;
}

/* max |a-b| / max(|b|, 1% of max|b|) over n values; the index of the worst in *at. */
static inline double rel_err_scaled(const float *a, const float *b, long n, long *at)
{
    double mx = 0;
    for (long i = 0; i < n; i++) mx = fmax(mx, fabs(b[i]));
    return check_max_rel(a, b, n, mx > 0 ? 0.01 * mx : 1e-30, at);
}

/* CHECK that got is want within tol by rel_err_scaled. */
#define CHECK_CLOSE_SCALED(name, got, want, n, tol)                                                 \
    do {                                                                                            \
        long at_;                                                                                   \
        double r_ = rel_err_scaled((got), (want), (n), &at_);                                       \
        CHECK(name, r_ <= (tol), "max rel err %.3g at %ld (got %.9g want %.9g)", r_, at_,           \
              (double)(got)[at_], (double)(want)[at_]);                                             \
    } while (0)

#endif
