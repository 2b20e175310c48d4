/* check.h - the test harness: each test program prints "ok NAME" or
 * "FAIL NAME: why" per check and exits non-zero if any failed; tests/run.sh
 * adds the lines up into "N passed, N failed". */
#ifndef NB_CHECK_H
#define NB_CHECK_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_failed_ = 0;
static int check_passed_ = 0;

#define CHECK(name, cond, ...)                                                        \
    do {                                                                              \
        if (cond) {                                                                   \
            printf("ok %s\n", name);                                                  \
            check_passed_++;                                                          \
        } else {                                                                      \
            printf("FAIL %s (%s:%d): ", name, __FILE__, __LINE__);                    \
            printf(__VA_ARGS__);                                                      \
            printf("\n");                                                             \
            check_failed_++;                                                          \
        }                                                                             \
        fflush(stdout);                                                               \
    } while (0)

/* Largest |a-b| / max(|b|, floor) over n values; the index of the worst in *at. */
static inline double check_max_rel(const float *a, const float *b, long n, double floor_, long *at)
{
    double worst = 0;
    long w = 0;
    for (long i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        double s = fabs((double)b[i]);
        double r = d / (s > floor_ ? s : floor_);
        if (r != r || r > worst) {
            worst = r != r ? INFINITY : r;
            w = i;
        }
    }
    if (at) *at = w;
    return worst;
}

#define CHECK_CLOSE(name, got, want, n, tol)                                          \
    do {                                                                              \
        long at_;                                                                     \
        double r_ = check_max_rel((got), (want), (n), 1.0, &at_);                     \
        CHECK(name, r_ <= (tol), "max rel err %.3g at %ld (got %.9g want %.9g)", r_,  \
              at_, (double)(got)[at_], (double)(want)[at_]);                          \
    } while (0)

#define CHECK_DONE() return check_failed_ ? 1 : 0

#endif
