/* test_faults.c - every file the nabla command writes, against faults (issue 15).
 *
 * 1. A full disk and a read-only directory: each case runs in its own mount namespace
 *    (unshare -m) on a small tmpfs, filled up or remounted read-only, so it needs root
 *    (CI runs as root; otherwise these checks are skipped): the command fails with a
 *    non-zero status and a message naming the path, the previous file stays as it
 *    was, and no temporary file is left.
 * 2. Every point of every write: tests/faultshim.c, preloaded, numbers the points and
 *    calls of the atomic writes a command makes (every file it writes) and at point k
 *    sends SIGKILL or SIGTERM, or makes call k fail as on a full disk (ENOSPC, EIO).
 *    For every k: each file the command writes holds its previous content or exactly
 *    what a run without faults writes; SIGTERM and a failed call leave no temp file,
 *    end with the signal's status or exit 1 naming the file whose write failed;
 *    after a SIGKILL the command run again succeeds and removes the dead writer's
 *    temp file. */
#include "check.h"
#include "cli.h"

#include <sys/stat.h>

#ifdef __SANITIZE_ADDRESS__
#define SHIM "build-san/tests/faultshim.so"
#define SHIM_ENV "ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0 "
#else
#define SHIM "build/tests/faultshim.so"
#define SHIM_ENV ""
#endif

static char root[256]; /* the data sets and weights made once, outside the tmpfs */

static int write_pgm(const char *path, int seed)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    fprintf(f, "P5\n28 28\n255\n");
    for (int i = 0; i < 784; i++) fputc((i * 7 + seed * 31) & 255, f);
    return fclose(f);
}

static int make_data(void)
{
    char p[600];
    const char *split[2] = {"train", "test"};
    for (int s = 0; s < 2; s++)
        for (int c = 0; c < 2; c++) {
            snprintf(p, sizeof p, "mkdir -p %s/data/%s/%c", root, split[s], 'a' + c);
            if (system(p)) return -1;
            for (int i = 0; i < 4; i++) {
                snprintf(p, sizeof p, "%s/data/%s/%c/%d.pgm", root, split[s], 'a' + c, i);
                if (write_pgm(p, i + 5 * c)) return -1;
            }
        }
    return 0;
}

/* Run cmd (with D the tmpfs directory, where FILE holds "old" beforehand) in a new
 * mount namespace with the tmpfs full (mode 0) or read-only (mode 1). Prints the
 * status, FILE's content and the temp files left for the checks. */
static int fault_case(const char *what, const char *file, const char *cmd, int mode)
{
    char script[4096];
    snprintf(script, sizeof script,
             "export D=%s/mnt; mkdir -p $D; unshare -m sh -c '"
             "mount -t tmpfs -o size=256k none $D || exit 99; mkdir -p $(dirname $D/%s); printf old > $D/%s; "
             "%s"
             "%s >$D/../out.txt 2>&1; echo status=$? >> $D/../out.txt; "
             "printf \"content=\" >> $D/../out.txt; cat $D/%s >> $D/../out.txt; echo >> $D/../out.txt; "
             "echo temps=$(ls -a $D | grep -c \"\\.tmp\\.\") >> $D/../out.txt'",
             root, file, file,
             mode ? "mount -o remount,ro $D; "
                  : "dd if=/dev/zero of=$D/fill bs=4k >/dev/null 2>&1; dd if=/dev/zero of=$D/fill2 bs=1 >/dev/null 2>&1; ",
             cmd, file);
    int rc = run("%s", script);
    if (rc == 99 || (rc != 0 && strstr(out, "unshare"))) return -1;
    run("cat %s/out.txt", root);
    const char *st = strstr(out, "status="), *ct = strstr(out, "content="), *tp = strstr(out, "temps=");
    int status = st ? atoi(st + 7) : -1, temps = tp ? atoi(tp + 6) : -1;
    int kept = ct && !strncmp(ct + 8, "old\n", 4);
    char name[256];
    snprintf(name, sizeof name, "%s, %s: non-zero status naming the file, the old file intact, no temp file", what,
             mode ? "read-only directory" : "full disk");
    CHECK(name, status != 0 && strstr(out, file) && kept && temps == 0, "status %d, kept %d, temps %d: %.400s", status,
          kept, temps, out);
    return 0;
}

/* ---- every point of every write ---- */

static char shim[600];

/* a whole file into a malloc'ed string (NULL if missing); *n its length */
static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, len = 0, k;
    char *b = malloc(cap + 1);
    while (b && (k = fread(b + len, 1, cap - len, f)) > 0)
        if ((len += k) == cap) b = realloc(b, (cap *= 2) + 1);
    fclose(f);
    if (b) b[len] = 0;
    *n = len;
    return b;
}

typedef struct {
    const char *what;
    const char *files[3]; /* the files the command writes, in D */
    char cmd[2000];       /* run in D */
    int log;              /* files[0] is the JSON log: complete lines instead of exact bytes */
    int stride;           /* try every stride-th point and call (and the last); 0: every one */
} write_case;

/* A JSON-lines log that is whole: every line an object, ending with a newline. */
static int log_whole(const char *s, size_t n)
{
    if (!n || s[n - 1] != '\n') return 0;
    for (const char *l = s; l < s + n;) {
        const char *e = memchr(l, '\n', (size_t)(s + n - l));
        if (!e || e == l || *l != '{' || e[-1] != '}') return 0;
        l = e + 1;
    }
    return 1;
}

/* Run wc's command in D with the shim (fault: kill, term, enospc or none), the files
 * holding "old" first. Returns the shell's status (128+N: killed by signal N); the
 * output in out. */
static int shim_run(const char *dir, const write_case *wc, const char *fault, long at, int reset)
{
    if (reset) {
        run("rm -rf %s && mkdir -p %s", dir, dir);
        for (int i = 0; i < 3 && wc->files[i]; i++)
            run("cd %s && mkdir -p $(dirname %s) && printf old > %s", dir, wc->files[i], wc->files[i]);
    }
    run("cd %s && " SHIM_ENV "LD_PRELOAD=%s NB_FAULT=%s NB_FAULT_AT=%ld NB_FAULT_COUNT=%s/../count %s > %s/../out.txt 2>&1; "
        "echo $?",
        dir, shim, fault, at, dir, wc->cmd, dir);
    int status = atoi(out);
    run("cat %s/../out.txt", dir);
    return status;
}

/* The files after a faulted run: each the old content or the reference (ref[i]). */
static int files_ok(const char *dir, const write_case *wc, char **ref, size_t *refn, char *why, size_t whyn)
{
    for (int i = 0; i < 3 && wc->files[i]; i++) {
        char p[700];
        size_t n = 0;
        snprintf(p, sizeof p, "%s/%s", dir, wc->files[i]);
        char *c = slurp(p, &n);
        int ok = c && ((n == 3 && !memcmp(c, "old", 3)) ||
                       (wc->log && i == 0 ? log_whole(c, n) : n == refn[i] && !memcmp(c, ref[i], n)));
        if (!ok) snprintf(why, whyn, "%s: %s (%zu bytes)", wc->files[i], c ? "neither old nor the whole new file" : "missing", n);
        free(c);
        if (!ok) return 0;
    }
    return 1;
}

static int temps_in(const char *dir)
{
    run("find %s | grep -c '\\.tmp\\.'", dir);
    return atoi(out);
}

/* The message names the file whose write failed (the shim wrote it to the count file). */
static int names_the_file(const char *text)
{
    char p[700], *c;
    size_t n;
    snprintf(p, sizeof p, "%s/pts/count", root);
    if (!(c = slurp(p, &n))) return 0;
    char *t = strchr(c, ' ') ? strchr(strchr(c, ' ') + 1, ' ') : NULL;
    int ok = 0;
    if (t) {
        t++;
        t[strcspn(t, "\n")] = 0;
        ok = *t && strcmp(t, "-") && strstr(text, t);
    }
    free(c);
    return ok;
}

static void every_point(const write_case *wc, int stride)
{
    if (wc->stride) stride *= wc->stride;
    char dir[600], name[300], why[400] = "";
    snprintf(dir, sizeof dir, "%s/pts/d", root);
    run("mkdir -p %s/pts", root);
    /* the reference run: no fault, counts the points and calls */
    int st = shim_run(dir, wc, "none", 0, 1);
    char cnt[700];
    snprintf(cnt, sizeof cnt, "%s/pts/count", root);
    size_t n = 0;
    char *c = slurp(cnt, &n);
    long points = 0, calls = 0;
    if (c) sscanf(c, "%ld %ld", &points, &calls);
    free(c);
    char *ref[3] = {0};
    size_t refn[3] = {0};
    for (int i = 0; i < 3 && wc->files[i]; i++) {
        char p[700];
        snprintf(p, sizeof p, "%s/%s", dir, wc->files[i]);
        ref[i] = slurp(p, &refn[i]);
    }
    snprintf(name, sizeof name, "%s: a run without faults writes its files (%ld points, %ld calls)", wc->what, points, calls);
    CHECK(name, st == 0 && points > 0 && calls > 0 && ref[0], "status %d, %ld points: %.300s", st, points, out);
    if (st || !points) return;
    /* the reference must be what every clean run writes (a run is deterministic) */
    int again = shim_run(dir, wc, "none", 0, 1);
    int same = again == 0 && files_ok(dir, wc, ref, refn, why, sizeof why);
    snprintf(name, sizeof name, "%s: a second run writes the same bytes", wc->what);
    CHECK(name, same, "%s", why);
    int bad[3] = {0}, tried[3] = {0};
    char first[3][1400] = {"", "", ""};
    for (int f = 0; f < 3; f++) {
        const char *fault = f == 0 ? "kill" : f == 1 ? "term" : "enospc";
        long last = f == 2 ? calls : points;
        for (long k = 1; k <= last; k = k == last ? last + 1 : k + stride > last ? last : k + stride) {
            tried[f]++;
            st = shim_run(dir, wc, fault, k, 1);
            char msg[4096];
            snprintf(msg, sizeof msg, "%.4000s", out);
            int ok = files_ok(dir, wc, ref, refn, why, sizeof why), temps = temps_in(dir);
            if (f == 0) { /* killed; the next run removes the temp file and writes the whole files */
                ok = ok && st == 128 + 9;
                int st2 = shim_run(dir, wc, "none", 0, 0);
                int t2 = temps_in(dir);
                int whole = files_ok(dir, wc, ref, refn, why, sizeof why);
                /* whole: the files are the new ones now (old only if nothing was written) */
                ok = ok && st2 == 0 && t2 == 0 && whole;
                if (!ok && !first[f][0])
                    snprintf(first[f], sizeof first[f], "point %ld: status %d, then %d, temps left %d: %s %.200s", k, st,
                             st2, t2, why, out);
            } else {
                ok = ok && temps == 0 && (f == 1 ? st == 128 + 15 : st == 1 && names_the_file(msg));
                if (!ok && !first[f][0])
                    snprintf(first[f], sizeof first[f], "%s %ld: status %d, temps %d: %s %.250s", f == 1 ? "point" : "call",
                             k, st, temps, why, msg);
            }
            bad[f] += !ok;
        }
    }
    snprintf(name, sizeof name, "%s: SIGKILL at %d of %ld points: old or whole files; the next run removes the temp file",
             wc->what, tried[0], points);
    CHECK(name, !bad[0], "%d bad; first %s", bad[0], first[0]);
    snprintf(name, sizeof name, "%s: SIGTERM at %d of %ld points: old or whole files, no temp file, status 143", wc->what,
             tried[1], points);
    CHECK(name, !bad[1], "%d bad; first %s", bad[1], first[1]);
    snprintf(name, sizeof name,
             "%s: %d of %ld calls failing (ENOSPC/EIO): exit 1 naming that file, old or whole files, no temp file",
             wc->what, tried[2], calls);
    CHECK(name, !bad[2], "%d bad; first %s", bad[2], first[2]);
    for (int i = 0; i < 3; i++) free(ref[i]);
}

int main(void)
{
    snprintf(root, sizeof root, "/tmp/nb_faults_XXXXXX");
    if (!mkdtemp(root) || make_data()) {
        printf("FAIL temp dir\n");
        return 1;
    }
    int ns = geteuid() == 0 && !system("unshare -m true 2>/dev/null");
    if (!ns) printf("SKIP full disk and read-only directory: need root and unshare -m (util-linux)\n");
    char nabla[600], w[600], data[600];
    if (!realpath(NABLA, nabla)) {
        printf("FAIL %s not built\n", NABLA);
        return 1;
    }
    snprintf(data, sizeof data, "--dataset folder --data %s/data", root);
    snprintf(w, sizeof w, "%s/w.safetensors", root);
    int rc = run("%s train --model mlp %s --epochs 1 --threads 1 --save %s", nabla, data, w);
    CHECK("(weights for the embed case)", rc == 0, "rc %d: %s", rc, out);
    char tsv[300];
    snprintf(tsv, sizeof tsv, "%s/t.tsv", root);
    FILE *tf = fopen(tsv, "w");
    for (int i = 0; tf && i < 32; i++)
        fprintf(tf, "%s\tthe %s day was %s\n", i % 2 ? "pos" : "neg", i % 3 ? "first" : "last", i % 2 ? "fine" : "grim");
    if (tf) fclose(tf);
    char cmd[3000], onnx[600];
    if (!realpath("tests/goldens/onnx_finetune.onnx", onnx)) snprintf(onnx, sizeof onnx, "missing.onnx");
    for (int mode = 0; mode < 2 && ns; mode++) {
        snprintf(cmd, sizeof cmd, "%s train --model mlp %s --epochs 1 --threads 1 --save $D/w.safetensors", nabla, data);
        if (fault_case("train --save (safetensors)", "w.safetensors", cmd, mode)) {
            printf("SKIP fault injection: cannot mount a tmpfs here\n");
            break;
        }
        snprintf(cmd, sizeof cmd, "%s train --model mlp %s --epochs 1 --threads 1 --checkpoint $D/ck.safetensors", nabla,
                 data);
        fault_case("train --checkpoint", "ck.safetensors", cmd, mode);
        snprintf(cmd, sizeof cmd, "%s embed --model mlp %s --weights %s --out $D/e.npy --labels-out %s/l.npy", nabla, data,
                 w, root);
        fault_case("embed --out (.npy)", "e.npy", cmd, mode);
        snprintf(cmd, sizeof cmd, "%s augment --augment hflip %s --n 4 --out $D/a.png", nabla, data);
        fault_case("augment --out (PNG)", "a.png", cmd, mode);
        snprintf(cmd, sizeof cmd, "%s eval --model mlp %s --weights %s --confusion $D/c.png", nabla, data, w);
        fault_case("eval --confusion (PNG)", "c.png", cmd, mode);
        snprintf(cmd, sizeof cmd, "%s export --model %s --out $D/m.onnx", nabla, onnx);
        fault_case("export (ONNX)", "m.onnx", cmd, mode);
        snprintf(cmd, sizeof cmd,
                 "%s train --dataset tsv --data %s --test-data %s --epochs 1 --batch-size 16 --vocab-size 60 "
                 "--max-length 8 --threads 1 --save $D/cls --quiet",
                 nabla, tsv, tsv);
        fault_case("train --dataset tsv --save DIR (config.json)", "cls/config.json", cmd, mode);
    }
    /* the JSON log is written whole at each epoch's end: a full disk or a read-only
     * directory must fail the run, naming the log, and leave the old log */
    for (int mode = 0; mode < 2 && ns; mode++) {
        snprintf(cmd, sizeof cmd, "%s train --model mlp %s --epochs 1 --threads 1 --log-json $D/log.jsonl", nabla, data);
        if (fault_case("train --log-json", "log.jsonl", cmd, mode)) break;
    }

    if (!realpath(SHIM, shim)) {
        printf("FAIL %s not built (make %s)\n", SHIM, SHIM);
        return 1;
    }
#ifdef __SANITIZE_ADDRESS__
    int stride = 3; /* every third point: each run takes seconds under the sanitizers */
#else
    int stride = 1;
#endif
    write_case cases[] = {
        {"train --save (safetensors and .conf)", {"w.safetensors", "w.conf"}, "", 0, 0},
        {"train --checkpoint (checkpoint and .conf)", {"ck.safetensors", "ck.conf"}, "", 0, 0},
        {"embed --out and --labels-out (.npy)", {"e.npy", "l.npy"}, "", 0, 0},
        {"augment --out (PNG)", {"a.png"}, "", 0, 0},
        {"eval --confusion (PNG)", {"c.png"}, "", 0, 0},
        {"train --log-json, 2 epochs", {"log.jsonl"}, "", 1, 0},
        {"export (ONNX)", {"m.onnx"}, "", 0, 0},
        /* 116 points, most of them the halves of the 40 tensors' writes: every third */
        {"train --dataset tsv --save DIR (a Hugging Face directory)", {"cls/config.json", "cls/model.safetensors", "cls/vocab.txt"},
         "", 0, 3},
    };
    snprintf(cases[0].cmd, sizeof cases[0].cmd, "%s train --model mlp %s --epochs 1 --threads 1 --save w.safetensors", nabla,
             data);
    snprintf(cases[1].cmd, sizeof cases[1].cmd, "%s train --model mlp %s --epochs 1 --threads 1 --checkpoint ck.safetensors",
             nabla, data);
    snprintf(cases[2].cmd, sizeof cases[2].cmd, "%s embed --model mlp %s --weights %s --out e.npy --labels-out l.npy", nabla,
             data, w);
    snprintf(cases[3].cmd, sizeof cases[3].cmd, "%s augment --augment hflip %s --n 4 --out a.png", nabla, data);
    snprintf(cases[4].cmd, sizeof cases[4].cmd, "%s eval --model mlp %s --weights %s --confusion c.png", nabla, data, w);
    snprintf(cases[5].cmd, sizeof cases[5].cmd, "%s train --model mlp %s --epochs 2 --threads 1 --log-json log.jsonl", nabla,
             data);
    snprintf(cases[6].cmd, sizeof cases[6].cmd, "%s export --model %s --out m.onnx", nabla, onnx);
    snprintf(cases[7].cmd, sizeof cases[7].cmd,
             "%s train --dataset tsv --data %s --test-data %s --epochs 1 --batch-size 16 --vocab-size 60 "
             "--max-length 8 --threads 1 --save cls --quiet",
             nabla, tsv, tsv);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) every_point(&cases[i], stride);
    run("rm -rf %s", root);
    CHECK_DONE();
}
