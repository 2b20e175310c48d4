/* onnx_conformance.c - run ONNX's own backend test data (Debian's libonnx-testdata)
 * through nabla's ONNX reader.
 *
 *   build/tests/onnx_conformance [--data DIR] [--expected FILE] [--filter SUBSTR] [--table]
 *
 * For every test directory under DIR/{node,pytorch-converted,pytorch-operator,simple}
 * (DIR defaults to /usr/share/libonnx-testdata/data): load model.onnx, run every
 * test_data_set_* (input_K.pb in graph-input order) and compare with output_K.pb as
 * ONNX does (|got - want| <= atol + rtol·|want|, rtol 1e-3, atol 1e-7; NaN equals
 * NaN). Each test runs in a child process (a crash is a failure, not the end of
 * the run). One line per test:
 *   ok   node/test_abs [Abs]
 *   FAIL node/test_x [X]: output 0 ('y') element 17: got 0.5, want 0.25 (largest error 0.25)
 *   SKIP node/test_y [Foo]: node '#0' (Foo, opset 13): op Foo not supported
 * ([Op] is the op the test is about, which the per-op table counts it under)
 * then a per-op table and "N passed, N failed, N skipped". Failures listed in the
 * expected-failures file (a test name and its reason per line) are reported as
 * "xfail" and do not fail the run. Exits 0 when no other test failed. */
#include "onnx_internal.h"

#include <ctype.h>
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define RTOL 1e-3
#define ATOL 1e-7

static const char *const SUITES[] = {"node", "pytorch-converted", "pytorch-operator", "simple"};

typedef struct {
    char status; /* 'p' pass, 'f' fail, 's' skip */
    char msg[600];
} result;

static unsigned char *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc(len > 0 ? (size_t)len : 1);
    if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *n = (size_t)len;
    return buf;
}

/* a TensorProto file as a heap tensor; NULL with msg set */
static nb_tensor *read_pb(nb_ctx *ctx, const char *path, int *et, char *msg, size_t mlen)
{
    size_t n;
    unsigned char *buf = read_all(path, &n);
    if (!buf) {
        snprintf(msg, mlen, "cannot read %s", path);
        return NULL;
    }
    Onnx__TensorProto *tp = onnx__tensor_proto__unpack(NULL, n, buf);
    free(buf);
    if (!tp) {
        snprintf(msg, mlen, "%s is not a TensorProto (a sequence or optional value?): not supported", path);
        return NULL;
    }
    nb_tensor *t = ox_tensor_decode(ctx, tp, NULL, et);
    if (!t) snprintf(msg, mlen, "%s", nb_last_error());
    onnx__tensor_proto__free_unpacked(tp, NULL);
    return t;
}

/* ONNX's test data stores bfloat16 values as their uint16 bits (numpy has no
 * bfloat16): read them back as floats where the graph says bfloat16. */
static nb_tensor *bf16_bits_to_float(nb_ctx *ctx, nb_tensor *t)
{
    if (nb_tensor_dtype(t) != NB_I64) return t;
    nb_tensor *f = nb_tensor_new(ctx, NB_F32, nb_tensor_ndim(t), nb_tensor_shape(t));
    for (int64_t i = 0; f && i < nb_tensor_numel(t); i++) {
        uint32_t w = (uint32_t)(nb_tensor_data_i64(t)[i] & 0xffff) << 16;
        memcpy(&nb_tensor_data(f)[i], &w, 4);
    }
    nb_tensor_free(t);
    return f;
}

static int is_unsupported(const char *msg)
{
    return strstr(msg, "not supported") != NULL;
}

static void run_test(const char *dir, result *r)
{
    char path[4200];
    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.seed = 0, .threads = 1});
    nb_set_grad_enabled(ctx, 0);
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    nb_module *m = nb_onnx_load(ctx, path, NULL);
    if (!m) {
        const char *e = nb_last_error();
        const char *s = strstr(e, "node '");
        if (!s) s = strstr(e, "node #");
        r->status = is_unsupported(e) ? 's' : 'f';
        const char *colon = strstr(e, "model.onnx: ");
        snprintf(r->msg, sizeof r->msg, "%s%s", r->status == 'f' ? "load: " : "", s ? s : colon ? colon + 12 : e);
        nb_ctx_free(ctx);
        return;
    }
    nb_module_train(m, 0);
    int n_in = nb_onnx_num_inputs(m), n_out = nb_onnx_num_outputs(m), sets = 0;
    double worst = 0;
    r->status = 'p';
    for (int s = 0;; s++) {
        snprintf(path, sizeof path, "%s/test_data_set_%d", dir, s);
        if (access(path, F_OK)) break;
        sets++;
        nb_ctx_reset(ctx);
        nb_tensor *ins[64] = {0}, *want[16] = {0}, *got[16] = {0};
        int k_in = 0, k_out = 0, et;
        for (; k_in < 64; k_in++) {
            snprintf(path, sizeof path, "%s/test_data_set_%d/input_%d.pb", dir, s, k_in);
            if (access(path, F_OK)) break;
            if (!(ins[k_in] = read_pb(ctx, path, &et, r->msg, sizeof r->msg))) {
                r->status = is_unsupported(r->msg) ? 's' : 'f';
                goto done_set;
            }
        }
        for (; k_out < 16; k_out++) {
            snprintf(path, sizeof path, "%s/test_data_set_%d/output_%d.pb", dir, s, k_out);
            if (access(path, F_OK)) break;
            if (!(want[k_out] = read_pb(ctx, path, &et, r->msg, sizeof r->msg))) {
                r->status = is_unsupported(r->msg) ? 's' : 'f';
                goto done_set;
            }
        }
        if (k_in != n_in) {
            snprintf(r->msg, sizeof r->msg, "the test gives %d inputs, the graph has %d", k_in, n_in);
            r->status = 'f';
            goto done_set;
        }
        if (k_out > n_out) k_out = n_out;
        for (int k = 0; k < k_in; k++)
            if (nb_onnx_input_type(m, k) == OX_BFLOAT16) ins[k] = bf16_bits_to_float(ctx, ins[k]);
        int types[16];
        if (nb_onnx_run(m, ins, n_in, got, types, k_out)) {
            const char *e = nb_last_error();
            r->status = is_unsupported(e) ? 's' : 'f';
            snprintf(r->msg, sizeof r->msg, "run: %s", e);
            goto done_set;
        }
        for (int k = 0; k < k_out && r->status == 'p'; k++) {
            if (types[k] == OX_BFLOAT16) want[k] = bf16_bits_to_float(ctx, want[k]);
            nb_tensor *g = got[k], *w = want[k];
            char gs[64], ws[64];
            if (g->ndim != w->ndim || memcmp(g->shape, w->shape, sizeof(int64_t) * (size_t)g->ndim)) {
                nb_shape_str(g, gs, sizeof gs);
                nb_shape_str(w, ws, sizeof ws);
                snprintf(r->msg, sizeof r->msg, "output %d ('%s'): shape %s, want %s", k, nb_onnx_output_name(m, k), gs, ws);
                r->status = 'f';
                break;
            }
            for (int64_t i = 0; i < g->numel; i++) {
                double a = ox_get_f(g, i), b = ox_get_f(w, i);
                if (g->dtype == NB_I64 && w->dtype == NB_I64) a = (double)nb__i(g)[i], b = (double)nb__i(w)[i];
                if (isnan(a) && isnan(b)) continue;
                double err = fabs(a - b);
                if (a == b) err = 0;
                if (err > worst || isnan(err)) worst = isnan(err) ? INFINITY : err;
                if (!(err <= ATOL + RTOL * fabs(b))) {
                    snprintf(r->msg, sizeof r->msg, "output %d ('%s') element %lld: got %.9g, want %.9g", k, nb_onnx_output_name(m, k),
                             (long long)i, a, b);
                    r->status = 'f';
                    break;
                }
            }
        }
    done_set:
        for (int k = 0; k < 64; k++) nb_tensor_free(ins[k]);
        for (int k = 0; k < 16; k++) nb_tensor_free(want[k]);
        if (r->status != 'p') break;
    }
    if (r->status == 'f') {
        size_t l = strlen(r->msg);
        if (worst > 0) snprintf(r->msg + l, sizeof r->msg - l, " (largest error %.3g)", worst);
    } else if (r->status == 'p') {
        if (!sets) {
            r->status = 's';
            snprintf(r->msg, sizeof r->msg, "no test data sets");
        } else snprintf(r->msg, sizeof r->msg, "largest error %.3g", worst);
    }
    nb_module_free(m);
    nb_ctx_free(ctx);
}

/* ---- the table: each test is counted under its op ---- */

typedef struct {
    char op[64];
    int pass, fail, skip, xfail;
} op_row;

static op_row rows[512];
static int n_rows;

static void canon(const char *s, char *out, size_t n)
{
    size_t k = 0;
    for (; *s && k + 1 < n; s++)
        if (*s != '_') out[k++] = (char)tolower((unsigned char)*s);
    out[k] = 0;
}

/* the op a test is about: the graph's op whose name best prefixes the test name, else its only op */
static void test_op(const char *dir, const char *name, char *op, size_t n)
{
    char path[4200];
    size_t ln = strlen(name), ld = strlen(dir);
    if (ln > 9 && !strcmp(name + ln - 9, "_expanded") && ld > 9) { /* the op its sibling tests */
        char sib[2200], sname[512];
        snprintf(sib, sizeof sib, "%.*s", (int)(ld - 9), dir);
        snprintf(sname, sizeof sname, "%.*s", (int)(ln - 9), name);
        snprintf(path, sizeof path, "%s/model.onnx", sib);
        if (!access(path, F_OK)) {
            test_op(sib, sname, op, n);
            return;
        }
    }
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    snprintf(op, n, "(graph)");
    size_t len;
    unsigned char *buf = read_all(path, &len);
    if (!buf) return;
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, len, buf);
    free(buf);
    if (!mp || !mp->graph) {
        if (mp) onnx__model_proto__free_unpacked(mp, NULL);
        return;
    }
    char tn[256], cn[128];
    canon(name + (strncmp(name, "test_", 5) ? 0 : 5), tn, sizeof tn);
    size_t best = 0;
    const char *only = mp->graph->n_node ? mp->graph->node[0]->op_type : NULL;
    for (size_t i = 0; i < mp->graph->n_node; i++) {
        const char *t = mp->graph->node[i]->op_type;
        if (!t) continue;
        if (only && strcmp(only, t)) only = NULL;
        canon(t, cn, sizeof cn);
        size_t l = strlen(cn);
        if (l > best && !strncmp(tn, cn, l)) {
            best = l;
            snprintf(op, n, "%s", t);
        }
    }
    if (!best && only) snprintf(op, n, "%s", only);
    onnx__model_proto__free_unpacked(mp, NULL);
}

static op_row *row_of(const char *op)
{
    for (int i = 0; i < n_rows; i++)
        if (!strcmp(rows[i].op, op)) return &rows[i];
    if (n_rows == 512) return &rows[511];
    snprintf(rows[n_rows].op, sizeof rows[n_rows].op, "%s", op);
    return &rows[n_rows++];
}

static int cmp_rows(const void *a, const void *b) { return strcmp(((const op_row *)a)->op, ((const op_row *)b)->op); }
static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* expected failures: "suite/test_name reason..." per line, '#' comments */
static char **xf_names;
static int n_xf;

static void load_expected(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        char *p = line;
        while (isspace((unsigned char)*p)) p++;
        if (!*p || *p == '#') continue;
        char *e = p;
        while (*e && !isspace((unsigned char)*e)) e++;
        *e = 0;
        xf_names = realloc(xf_names, (size_t)(n_xf + 1) * sizeof *xf_names);
        xf_names[n_xf++] = strdup(p);
    }
    fclose(f);
}

static int expected_failure(const char *id)
{
    for (int i = 0; i < n_xf; i++)
        if (!strcmp(xf_names[i], id)) return 1;
    return 0;
}

int main(int argc, char **argv)
{
    const char *data = "/usr/share/libonnx-testdata/data", *filter = NULL, *expected = "tests/onnx_expected_failures.txt";
    int table = 1, timeout = 120;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--data") && i + 1 < argc) data = argv[++i];
        else if (!strcmp(argv[i], "--expected") && i + 1 < argc) expected = argv[++i];
        else if (!strcmp(argv[i], "--filter") && i + 1 < argc) filter = argv[++i];
        else if (!strcmp(argv[i], "--no-table")) table = 0;
        else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) timeout = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--data DIR] [--expected FILE] [--filter SUBSTR] [--no-table] [--timeout S]\n", argv[0]);
            return 2;
        }
    }
    load_expected(expected);
    int pass = 0, fail = 0, skip = 0, xfail = 0, xpass = 0;
    for (size_t su = 0; su < sizeof SUITES / sizeof SUITES[0]; su++) {
        char sdir[1024];
        snprintf(sdir, sizeof sdir, "%s/%s", data, SUITES[su]);
        DIR *d = opendir(sdir);
        if (!d) {
            fprintf(stderr, "onnx_conformance: no test data at %s (install libonnx-testdata)\n", sdir);
            return 2;
        }
        char **names = NULL;
        int nn = 0;
        struct dirent *e;
        while ((e = readdir(d)))
            if (e->d_name[0] != '.') {
                names = realloc(names, (size_t)(nn + 1) * sizeof *names);
                names[nn++] = strdup(e->d_name);
            }
        closedir(d);
        qsort(names, (size_t)nn, sizeof *names, cmp_str);
        for (int t = 0; t < nn; t++) {
            char id[512], dir[2200], op[64];
            snprintf(id, sizeof id, "%s/%s", SUITES[su], names[t]);
            if (filter && !strstr(id, filter)) continue;
            snprintf(dir, sizeof dir, "%s/%s", sdir, names[t]);
            test_op(dir, names[t], op, sizeof op);
            result r = {'f', "crashed"};
            int fd[2];
            fflush(stdout);
            if (pipe(fd)) return 2;
            pid_t pid = fork();
            if (pid == 0) {
                close(fd[0]);
                alarm((unsigned)timeout);
                result cr = {'f', ""};
                run_test(dir, &cr);
                if (write(fd[1], &cr, sizeof cr) != (ssize_t)sizeof cr) _exit(3);
                _exit(0);
            }
            close(fd[1]);
            ssize_t got = read(fd[0], &r, sizeof r);
            close(fd[0]);
            int wst = 0;
            waitpid(pid, &wst, 0);
            if (got != (ssize_t)sizeof r) {
                r.status = 'f';
                if (WIFSIGNALED(wst)) snprintf(r.msg, sizeof r.msg, "crashed with signal %d%s", WTERMSIG(wst), WTERMSIG(wst) == SIGALRM ? " (timeout)" : "");
                else snprintf(r.msg, sizeof r.msg, "the test process ended without a result");
            }
            op_row *row = row_of(op);
            if (r.status == 'p') {
                if (expected_failure(id)) {
                    printf("ok   %s [%s] (listed as an expected failure: remove it from the list)\n", id, op);
                    xpass++;
                } else printf("ok   %s [%s]\n", id, op);
                pass++;
                row->pass++;
            } else if (r.status == 's') {
                printf("SKIP %s [%s]: %s\n", id, op, r.msg);
                skip++;
                row->skip++;
            } else if (expected_failure(id)) {
                printf("xfail %s [%s]: %s\n", id, op, r.msg);
                xfail++;
                row->xfail++;
            } else {
                printf("FAIL %s [%s]: %s\n", id, op, r.msg);
                fail++;
                row->fail++;
            }
            free(names[t]);
        }
        free(names);
    }
    if (table) {
        qsort(rows, (size_t)n_rows, sizeof rows[0], cmp_rows);
        printf("\n| op | passed | failed | expected failures | skipped |\n|---|---|---|---|---|\n");
        for (int i = 0; i < n_rows; i++)
            printf("| %s | %d | %d | %d | %d |\n", rows[i].op, rows[i].pass, rows[i].fail, rows[i].xfail, rows[i].skip);
        printf("\n");
    }
    if (xpass) printf("%d tests listed as expected failures passed\n", xpass);
    printf("%d passed, %d failed, %d expected failures, %d skipped\n", pass, fail, xfail, skip);
    return fail ? 1 : 0;
}
