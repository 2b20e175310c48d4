/* bench/text.c - text augmentation throughput on one core.
 *   make bench/text && build/bench/text [LINES]
 * Word augmenters: input words per second (per second of this thread's CPU time,
 * which a busy shared machine does not distort, and per wall-clock second) over LINES
 * (default 100,000) generated
 * English lines of 12 words and 2 punctuation marks, augmented in batches of 10,000
 * (nb_text_augment_batch). Back-translation (when Apertium's eng-spa is installed):
 * 1,000 lines in one batch against one Apertium call per line (on 20 lines, scaled),
 * with the number of Apertium processes started. */
#include "nabla.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
static double now(void) { return clock_s(CLOCK_MONOTONIC); }
static double cpu(void) { return clock_s(CLOCK_THREAD_CPUTIME_ID); }

static const char *const vocab[] = {
    "the",     "a",       "quick",    "brown",   "fox",     "jumps",  "over",    "lazy",     "dog",    "happy",
    "people",  "like",    "to",       "read",    "books",   "in",     "the",     "evening",  "when",   "weather",
    "is",      "cold",    "and",      "dark",    "machine", "learning", "needs",  "data",     "model",  "train",
    "small",   "large",   "house",    "city",    "river",   "walk",   "quickly", "slowly",   "bright", "morning",
    "she",     "he",      "they",     "found",   "good",    "bad",    "great",   "movie",    "story",  "music",
    "very",    "really",  "today",    "tomorrow", "friend", "family", "work",    "school",   "teacher", "student",
    "computer", "phone",  "battery",  "screen",  "fast",    "slow",   "price",   "quality",  "service", "food",
};
#define NV (int)(sizeof vocab / sizeof vocab[0])

static void bench_spec(const char *spec, char **lines, int n, int64_t words)
{
    nb_text_aug *a = nb_text_aug_from_spec(spec);
    if (!a) {
        printf("%-34s %s\n", spec, nb_last_error());
        return;
    }
    nb_rng r;
    nb_rng_seed(&r, 1);
    char **out = malloc(sizeof *out * 10000);
    double t0 = now(), c0 = cpu();
    for (int s = 0; s < n; s += 10000) {
        int m = n - s < 10000 ? n - s : 10000;
        if (nb_text_augment_batch(a, (const char *const *)lines + s, m, &r, out)) {
            printf("%-34s %s\n", spec, nb_last_error());
            break;
        }
        for (int i = 0; i < m; i++) free(out[i]);
    }
    double dt = now() - t0, dc = cpu() - c0;
    printf("%-36s %7.2f M words/s per CPU second, %7.2f M words/s wall (%.3f s)\n", spec,
           (double)words / dc / 1e6, (double)words / dt / 1e6, dt);
    free(out);
    nb_text_aug_free(a);
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 100000;
    if (n < 1) n = 100000;
    char **lines = malloc(sizeof *lines * (size_t)n);
    nb_rng r;
    nb_rng_seed(&r, 7);
    int64_t words = 0;
    for (int i = 0; i < n; i++) {
        char buf[512];
        size_t o = 0;
        for (int w = 0; w < 12; w++) {
            const char *v = vocab[nb_rng_below(&r, NV)];
            o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%s%s", w ? " " : "", v, w == 5 ? "," : "");
        }
        snprintf(buf + o, sizeof buf - o, ".");
        buf[0] = (char)(buf[0] - 32 * (buf[0] >= 'a' && buf[0] <= 'z'));
        lines[i] = strdup(buf);
        words += 12;
    }
    printf("%d lines, %lld words (12 words + 2 punctuation marks per line), one thread\n", n, (long long)words);
    const char *specs[] = {"random_delete", "random_swap", "random_substitute", "random_crop", "random_char",
                           "keyboard", "ocr", "synonym", "random_insert", "synonym(p=0.3), random_swap(p=0.1)"};
    for (size_t k = 0; k < sizeof specs / sizeof specs[0]; k++) bench_spec(specs[k], lines, n, words);

    if (access("/usr/share/apertium/modes/eng-spa.mode", R_OK) == 0) {
        int nb = 1000, n1 = 20;
        nb_text_aug *bt = nb_text_backtranslation_new(NULL);
        char **out = malloc(sizeof *out * (size_t)nb);
        double t0 = now();
        nb_status st = bt ? nb_text_augment_batch(bt, (const char *const *)lines, nb, &r, out) : NB_ERR_ARG;
        double dt = now() - t0;
        if (st) printf("back_translation: %s\n", nb_last_error());
        else {
            printf("back_translation batched: %d lines in %.2f s = %.0f lines/s, %lld Apertium calls\n", nb, dt,
                   nb / dt, (long long)nb_text_aug_calls(bt));
            for (int i = 0; i < nb; i++) free(out[i]);
        }
        nb_text_aug_free(bt);
        bt = nb_text_backtranslation_new(&(nb_text_backtranslation_opts){.batch_lines = 1});
        t0 = now();
        st = bt ? nb_text_augment_batch(bt, (const char *const *)lines, n1, &r, out) : NB_ERR_ARG;
        dt = now() - t0;
        if (st) printf("back_translation per line: %s\n", nb_last_error());
        else {
            printf("back_translation one call per line: %d lines in %.2f s = %.1f lines/s, %lld Apertium calls "
                   "(1,000 lines would take %.0f s and %d calls)\n",
                   n1, dt, n1 / dt, (long long)nb_text_aug_calls(bt), dt / n1 * 1000, 2 * 1000);
            for (int i = 0; i < n1; i++) free(out[i]);
        }
        nb_text_aug_free(bt);
        free(out);
    } else {
        printf("back_translation: skipped (apt-get install apertium apertium-eng-spa)\n");
    }
    for (int i = 0; i < n; i++) free(lines[i]);
    free(lines);
    return 0;
}
