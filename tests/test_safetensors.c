/* test_safetensors.c - the safetensors reader rejects every malformed file with
 * a message that names the problem; the writer round-trips F32/I64 and metadata
 * and is atomic; dtypes written by PyTorch (tests/goldens/safetensors_dtypes.
 * safetensors, tools/goldens/gen_safetensors_interop.py) convert as .float() and
 * .long() do; modules save and load with strict key checks. */
#include "check.h"
#include "cli.h"
#include "core/tensor.h"
#include "nn/module.h"

#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define GOLDEN "tests/goldens/safetensors_dtypes.safetensors"

/* Write a file: u64 LE length `hlen` (the JSON's length when hlen is -1), the JSON,
 * then `data_len` bytes 0, 1, 2, ... */
static void write_raw(const char *path, const char *json, long long hlen, size_t data_len)
{
    FILE *fp = fopen(path, "wb");
    if (!fp) {
        perror(path);
        exit(2);
    }
    uint64_t n = hlen < 0 ? strlen(json) : (uint64_t)hlen;
    unsigned char b[8];
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(n >> (8 * i));
    fwrite(b, 1, 8, fp);
    fwrite(json, 1, strlen(json), fp);
    for (size_t i = 0; i < data_len; i++) fputc((int)(i & 0xff), fp);
    if (fclose(fp)) exit(2);
}

/* Open a file made from json + data_len bytes; expect failure with every word of
 * `words` (separated by '|') in the message. */
static void bad(const char *check, const char *json, long long hlen, size_t data_len, const char *words)
{
    const char *path = tmp_path("bad.safetensors");
    write_raw(path, json, hlen, data_len);
    nb_clear_error();
    nb_safetensors *f = nb_safetensors_open(path);
    const char *msg = nb_last_error();
    int ok = f == NULL && strstr(msg, path) != NULL;
    char w[256];
    snprintf(w, sizeof w, "%s", words);
    for (char *tok = strtok(w, "|"); tok && ok; tok = strtok(NULL, "|")) ok = strstr(msg, tok) != NULL;
    CHECK(check, ok, "%s; message: \"%s\" (want the path and \"%s\")", f ? "opened" : "rejected", msg, words);
    if (getenv("NB_TEST_VERBOSE")) printf("    message: %s\n", msg);
    nb_safetensors_close(f);
}

static void test_malformed(void)
{
    const char *path = tmp_path("short.safetensors");
    FILE *fp = fopen(path, "wb");
    fwrite("\x10\0\0", 1, 3, fp);
    fclose(fp);
    nb_safetensors *f = nb_safetensors_open(path);
    CHECK("truncated file (3 bytes) rejected", !f && strstr(nb_last_error(), "8-byte") && strstr(nb_last_error(), path),
          "%s", nb_last_error());
    nb_safetensors_close(f);

    f = nb_safetensors_open(tmp_path("does-not-exist.safetensors"));
    CHECK("missing file: cannot open", !f && strstr(nb_last_error(), "cannot open") && strstr(nb_last_error(), "does-not-exist"),
          "%s", nb_last_error());

    bad("header length past the end of the file", "{}", 1000, 0, "header length 1000|past the end");
    bad("header length > 100 MB", "{}", 200000000LL, 0, "100 MB");
    bad("header length 2^63 - 1", "{}", INT64_MAX, 0, "header length 9223372036854775807|100 MB");
    bad("invalid JSON: unterminated object", "{\"a\":{\"dtype\":\"F32\",", -1, 0, "invalid JSON");
    bad("invalid JSON: missing colon", "{\"a\" {}}", -1, 0, "invalid JSON|':'");
    bad("invalid JSON: trailing garbage", "{} x", -1, 0, "invalid JSON|after the header");
    bad("invalid JSON: unterminated string", "{\"abc", -1, 0, "invalid JSON|unterminated string");
    bad("invalid JSON: bad escape", "{\"a\\q\":{}}", -1, 0, "invalid JSON|escape");
    bad("invalid JSON: trailing comma", "{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},}", -1, 4,
        "invalid JSON");
    bad("invalid JSON: not an object", "[1, 2]", -1, 0, "invalid JSON|object");
    bad("invalid JSON: raw control character in a string", "{\"a\tb\":{}}", -1, 0, "invalid JSON|control");
    bad("invalid JSON: lone surrogate", "{\"\\ud800\":{}}", -1, 0, "invalid JSON|surrogate");
    bad("invalid JSON: leading zero", "{\"a\":{\"dtype\":\"F32\",\"shape\":[01],\"data_offsets\":[0,4]}}", -1, 4,
        "invalid JSON|leading zero");
    bad("invalid JSON: not UTF-8", "{\"caf\xe9\":{}}", -1, 0, "invalid JSON|byte 5|UTF-8");
    bad("invalid JSON: UTF-8 encoded surrogate", "{\"\xed\xa0\x80\":{}}", -1, 0, "invalid JSON|UTF-8");
    bad("unknown dtype", "{\"w\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,4]}}", -1, 4, "dtype|Q4|'w'");
    bad("dtype not a string", "{\"w\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", -1, 4, "dtype|'w'");
    bad("negative shape", "{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", -1, 4, "shape|non-negative");
    bad("fractional shape", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", -1, 4, "shape|integer");
    bad("9 dimensions", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", -1, 4,
        "'w'|dimensions|at most 8");
    bad("missing data_offsets", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", -1, 4, "'w'|data_offsets");
    bad("missing shape", "{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", -1, 4, "'w'|shape");
    bad("data_offsets with 3 values", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", -1, 8,
        "data_offsets|2 values");
    bad("offsets beyond the data buffer", "{\"w\":{\"dtype\":\"F32\",\"shape\":[100],\"data_offsets\":[0,400]}}", -1, 16,
        "'w'|data_offsets [0, 400]|beyond the data buffer of 16 bytes");
    bad("offset end before begin", "{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}", -1, 8,
        "'w'|end before begin");
    bad("overlapping ranges",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
        "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
        -1, 12, "overlap|'a'|'b'");
    bad("hole between tensors",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
        "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}",
        -1, 20, "hole|[8, 12)");
    bad("hole at the start", "{\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", -1, 12, "hole|[0, 4)");
    bad("unused bytes at the end", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", -1, 12,
        "hole|last 4 bytes");
    bad("duplicate names",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
        "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
        -1, 16, "duplicate|'a'");
    bad("byte count != numel * dtype size", "{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", -1, 8,
        "'w'|needs 12 bytes|hold 8 bytes");
    bad("byte count overflow", "{\"w\":{\"dtype\":\"F64\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", -1,
        8, "'w'|needs more than");
    bad("metadata value not a string", "{\"__metadata__\":{\"k\":1}}", -1, 0, "__metadata__|'k'|string");
    bad("duplicate __metadata__ key", "{\"__metadata__\":{\"k\":\"1\",\"j\":\"2\",\"k\":\"3\"}}", -1, 0,
        "duplicate __metadata__ key 'k'");
    /* what cJSON alone would let through */
    bad("control character between tokens", "{\x01}", -1, 0, "invalid JSON|control character outside");
    bad("duplicate member of an entry",
        "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", -1, 4,
        "'w'|\"dtype\" twice");
    bad("\\u0000 in a name", "{\"a\\u0000b\":{}}", -1, 0, "invalid JSON|u0000");
    bad("duplicate __metadata__", "{\"__metadata__\":{},\"__metadata__\":{}}", -1, 0, "duplicate|__metadata__");

    /* a valid header with the freedoms JSON gives: escapes, whitespace, unknown members */
    const char *okjson = " { \"__metadata__\" : { \"a\\u00e9\" : \"x\\ny\" } ,\n"
                         "\"w\\\"q\\u00e9\\ud83d\\ude00\":{\"extra\":[1,{\"z\":null},-2.5e3,true],"
                         "\"data_offsets\":[0,8],\"shape\":[2],\"dtype\":\"F32\"},"
                         "\"empty\":{\"dtype\":\"I64\",\"shape\":[0,3],\"data_offsets\":[8,8]}}   ";
    path = tmp_path("ok.safetensors");
    write_raw(path, okjson, -1, 8);
    f = nb_safetensors_open(path);
    CHECK("valid header with escapes, whitespace, unknown members opens", f != NULL, "%s", nb_last_error());
    if (f) {
        CHECK("escaped name decoded to UTF-8", nb_safetensors_find(f, "w\"q\xc3\xa9\xf0\x9f\x98\x80") == 0,
              "name 0 is \"%s\"", nb_safetensors_name(f, 0));
        const char *mv = nb_safetensors_metadata(f, "a\xc3\xa9");
        CHECK("escaped metadata decoded", mv && !strcmp(mv, "x\ny"), "%s", mv ? mv : "(null)");
        int64_t sh[NB_MAX_DIMS];
        CHECK("zero-size tensor: shape [0, 3]", nb_safetensors_shape(f, 1, sh) == 2 && sh[0] == 0 && sh[1] == 3, "ndim");
        CHECK("find of an absent name is -1", nb_safetensors_find(f, "nope") == -1, "found");
        nb_ctx *ctx = nb_ctx_new(NULL);
        nb_tensor *t = nb_safetensors_get(f, ctx, "nope");
        CHECK("get of an absent name fails naming it", !t && strstr(nb_last_error(), "'nope'"), "%s", nb_last_error());
        nb_ctx_free(ctx);
        nb_safetensors_close(f);
    }
}

/* Every truncation and 3000 random byte edits of a valid file: open never
 * crashes or reads out of bounds (run under ASan), and a rejection always
 * names the file. */
static void test_fuzz(void)
{
    const char *json = "{\"__metadata__\":{\"k\\u00e9\":\"v\"},\"a\":{\"dtype\":\"F16\",\"shape\":[2,1],"
                       "\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[4,12]}}";
    const char *path = tmp_path("fuzz.safetensors");
    write_raw(path, json, -1, 12);
    unsigned char orig[512];
    FILE *fp = fopen(path, "rb");
    size_t n = fread(orig, 1, sizeof orig, fp);
    fclose(fp);
    nb_safetensors *f = nb_safetensors_open(path);
    int base_ok = f && nb_safetensors_count(f) == 2;
    nb_safetensors_close(f);
    int opened = 0, named = 1;
    for (size_t len = 0; len < n; len++) {
        fp = fopen(path, "wb");
        fwrite(orig, 1, len, fp);
        fclose(fp);
        f = nb_safetensors_open(path);
        opened += f != NULL;
        if (!f && !strstr(nb_last_error(), path)) named = 0;
        nb_safetensors_close(f);
    }
    CHECK("fuzz: every truncation of a valid file is rejected with the path", base_ok && opened == 0 && named,
          "base %d, %d truncations opened", base_ok, opened);
    nb_rng r;
    nb_rng_seed(&r, 7);
    nb_ctx *ctx = nb_ctx_new(NULL);
    int rejected = 0;
    named = 1;
    for (int it = 0; it < 3000; it++) {
        unsigned char m[512];
        memcpy(m, orig, n);
        int edits = 1 + (int)nb_rng_below(&r, 3);
        for (int e = 0; e < edits; e++) {
            size_t at = 8 + nb_rng_below(&r, n - 8);
            static const char pool[] = "{}[]\":,0123456789-.eE \\ux\x80\xff";
            m[at] = nb_rng_below(&r, 2) ? (unsigned char)pool[nb_rng_below(&r, sizeof pool - 1)]
                                        : (unsigned char)nb_rng_below(&r, 256);
        }
        fp = fopen(path, "wb");
        fwrite(m, 1, n, fp);
        fclose(fp);
        f = nb_safetensors_open(path);
        if (!f) {
            rejected++;
            if (!strstr(nb_last_error(), path)) named = 0;
        }
        for (int i = 0; f && i < nb_safetensors_count(f); i++) nb_tensor_free(nb_safetensors_get(f, ctx, nb_safetensors_name(f, i)));
        nb_safetensors_close(f);
    }
    nb_ctx_free(ctx);
    CHECK("fuzz: 3000 mutated headers never crash; rejections name the file", named && rejected > 1000,
          "%d rejected", rejected);
}

static int file_equals(const char *path, const void *want, size_t n)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return 0;
    unsigned char buf[4096];
    size_t got = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    return got == n && !memcmp(buf, want, n);
}

static void test_round_trip(nb_ctx *ctx)
{
    float w[6] = {1.5f, -2.25f, 3e-38f, 1e30f, -0.0f, 7.0f};
    int64_t q[3] = {INT64_MIN, 0, INT64_MAX};
    int64_t nbt = 12345;
    nb_tensor *a = nb_tensor_from(ctx, NB_F32, 2, (int64_t[]){2, 3}, w);
    nb_tensor *b = nb_tensor_from(ctx, NB_I64, 1, (int64_t[]){3}, q);
    nb_tensor *c = nb_tensor_from(ctx, NB_I64, 0, NULL, &nbt);
    nb_named_tensor ts[3] = {{"layer.weight", a, 0}, {"odd \"name\"\\\n", b, 1}, {"bn.num_batches_tracked", c, 1}};
    const char *meta[] = {"format", "pt", "note", "quote \" and tab\t"};
    const char *path = tmp_path("rt.safetensors");
    CHECK("write F32 + I64 + metadata", nb_safetensors_write(path, ts, 3, meta, 2) == NB_OK, "%s", nb_last_error());
    FILE *fp = fopen(path, "rb");
    unsigned char len8[8] = {0};
    if (fp) {
        if (fread(len8, 1, 8, fp) != 8) memset(len8, 0xff, 8);
        fclose(fp);
    }
    CHECK("header length is a multiple of 8", len8[0] % 8 == 0, "length byte %d", len8[0]);
    nb_safetensors *f = nb_safetensors_open(path);
    CHECK("written file opens", f != NULL, "%s", nb_last_error());
    if (!f) return;
    CHECK("3 tensors in file order", nb_safetensors_count(f) == 3 && !strcmp(nb_safetensors_name(f, 1), "odd \"name\"\\\n"),
          "count %d", nb_safetensors_count(f));
    CHECK("dtypes F32, I64", !strcmp(nb_safetensors_dtype(f, 0), "F32") && !strcmp(nb_safetensors_dtype(f, 1), "I64"),
          "%s %s", nb_safetensors_dtype(f, 0), nb_safetensors_dtype(f, 1));
    const char *m1 = nb_safetensors_metadata(f, "format"), *m2 = nb_safetensors_metadata(f, "note");
    CHECK("metadata round trip", m1 && m2 && !strcmp(m1, "pt") && !strcmp(m2, "quote \" and tab\t"), "%s / %s",
          m1 ? m1 : "(null)", m2 ? m2 : "(null)");
    CHECK("absent metadata key is NULL", nb_safetensors_metadata(f, "nope") == NULL, "not NULL");
    nb_tensor *ra = nb_safetensors_get(f, ctx, "layer.weight");
    nb_tensor *rb = nb_safetensors_get(f, ctx, "odd \"name\"\\\n");
    nb_tensor *rc = nb_safetensors_get(f, ctx, "bn.num_batches_tracked");
    CHECK("F32 round trip bit-exact", ra && nb_tensor_dtype(ra) == NB_F32 && nb_tensor_ndim(ra) == 2 &&
                                          nb_tensor_dim(ra, 1) == 3 && !memcmp(nb_tensor_data(ra), w, sizeof w),
          "%s", nb_last_error());
    CHECK("I64 round trip exact (min, 0, max)",
          rb && nb_tensor_dtype(rb) == NB_I64 && !memcmp(nb_tensor_data_i64(rb), q, sizeof q), "%s", nb_last_error());
    CHECK("I64 scalar shape [] round trip", rc && nb_tensor_ndim(rc) == 0 && nb_tensor_data_i64(rc)[0] == 12345, "%s",
          nb_last_error());
    nb_tensor_free(ra);
    nb_tensor_free(rb);
    nb_tensor_free(rc);
    nb_safetensors_close(f);

    nb_named_tensor dup[2] = {{"x", a, 0}, {"x", b, 0}};
    CHECK("write refuses duplicate names", nb_safetensors_write(tmp_path("dup.safetensors"), dup, 2, NULL, 0) == NB_ERR_ARG &&
                                               strstr(nb_last_error(), "duplicate"),
          "%s", nb_last_error());
    CHECK("written file with no tensors opens",
          nb_safetensors_write(tmp_path("empty.safetensors"), NULL, 0, NULL, 0) == NB_OK &&
              (f = nb_safetensors_open(tmp_path("empty.safetensors"))) && nb_safetensors_count(f) == 0,
          "%s", nb_last_error());
    nb_safetensors_close(f);
    nb_tensor_free(a);
    nb_tensor_free(b);
    nb_tensor_free(c);
}

static void test_atomic(nb_ctx *ctx)
{
    const char *path = tmp_path("atomic.safetensors");
    const char old[] = "the old content";
    char tmp[800];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *fp = fopen(path, "wb");
    fwrite(old, 1, sizeof old, fp);
    fclose(fp);
    float v[4] = {1, 2, 3, 4};
    nb_tensor *t = nb_tensor_from(ctx, NB_F32, 1, (int64_t[]){4}, v);
    nb_named_tensor ts[1] = {{"w", t, 0}};

    /* the temporary file cannot be created (a directory is in its place) */
    mkdir(tmp, 0755);
    nb_status st = nb_safetensors_write(path, ts, 1, NULL, 0);
    CHECK("atomic: temp file cannot be created -> NB_ERR_IO naming the file", st == NB_ERR_IO && strstr(nb_last_error(), path),
          "status %d: %s", st, nb_last_error());
    CHECK("atomic: old file intact after a failed create", file_equals(path, old, sizeof old), "changed");
    rmdir(tmp);

    /* the write fails half way: the process may not write files over 4 KB */
    int64_t big = 1 << 16;
    nb_tensor *bt = nb_tensor_new(ctx, NB_F32, 1, &big);
    nb_named_tensor bts[1] = {{"big", bt, 0}};
    struct rlimit saved, lim;
    getrlimit(RLIMIT_FSIZE, &saved);
    lim = saved;
    lim.rlim_cur = 4096;
    void (*oldsig)(int) = signal(SIGXFSZ, SIG_IGN);
    setrlimit(RLIMIT_FSIZE, &lim);
    st = nb_safetensors_write(path, bts, 1, NULL, 0);
    setrlimit(RLIMIT_FSIZE, &saved);
    signal(SIGXFSZ, oldsig);
    CHECK("atomic: a write that fails half way -> NB_ERR_IO", st == NB_ERR_IO && strstr(nb_last_error(), path), "status %d: %s", st,
          nb_last_error());
    CHECK("atomic: old file intact after a failed write", file_equals(path, old, sizeof old), "changed");
    CHECK("atomic: no temporary file left behind", access(tmp, F_OK) != 0, "%s exists", tmp);
    nb_tensor_free(bt);

    /* the directory does not allow writing (root may write anyway: then skip) */
    char dir[600], inner[700];
    snprintf(dir, sizeof dir, "%s/ro", tmp_dir);
    snprintf(inner, sizeof inner, "%s/w.safetensors", dir);
    mkdir(dir, 0755);
    fp = fopen(inner, "wb");
    fwrite(old, 1, sizeof old, fp);
    fclose(fp);
    chmod(dir, 0555);
    if (access(dir, W_OK) == 0) {
        printf("SKIP atomic: read-only directory (running as root, which may write there anyway)\n");
    } else {
        st = nb_safetensors_write(inner, ts, 1, NULL, 0);
        CHECK("atomic: unwritable directory -> NB_ERR_IO", st == NB_ERR_IO, "status %d", st);
        CHECK("atomic: old file intact in an unwritable directory", file_equals(inner, old, sizeof old), "changed");
    }
    chmod(dir, 0755);
    unlink(inner);
    rmdir(dir);

    /* a target that cannot be replaced: rename fails, temp removed */
    char dpath[600];
    snprintf(dpath, sizeof dpath, "%s/adir", tmp_dir);
    mkdir(dpath, 0755);
    snprintf(inner, sizeof inner, "%s/keep", dpath);
    fp = fopen(inner, "wb");
    fclose(fp);
    st = nb_safetensors_write(dpath, ts, 1, NULL, 0);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", dpath, (long)getpid());
    CHECK("atomic: rename over a directory fails cleanly", st == NB_ERR_IO && (strstr(nb_last_error(), "renaming") || strstr(nb_last_error(), "a directory")) &&
                                                               access(inner, F_OK) == 0 && access(tmp, F_OK) != 0,
          "status %d: %s", st, nb_last_error());
    unlink(inner);
    rmdir(dpath);

    /* a successful write replaces the file */
    st = nb_safetensors_write(path, ts, 1, NULL, 0);
    nb_safetensors *f = st ? NULL : nb_safetensors_open(path);
    CHECK("atomic: a successful write replaces the old file", f && nb_safetensors_count(f) == 1, "%s", nb_last_error());
    nb_safetensors_close(f);
    nb_tensor_free(t);
}

static void test_dtypes(nb_ctx *ctx)
{
    nb_safetensors *f = nb_safetensors_open(GOLDEN);
    CHECK("golden from PyTorch opens", f != NULL, "%s", nb_last_error());
    if (!f) return;
    static const char *const fl[] = {"f16", "bf16", "f64"};
    for (int i = 0; i < 3; i++) {
        char wname[32], label[96];
        snprintf(wname, sizeof wname, "%s.want", fl[i]);
        nb_tensor *got = nb_safetensors_get(f, ctx, fl[i]), *want = nb_safetensors_get(f, ctx, wname);
        int ok = got && want && nb_tensor_dtype(got) == NB_F32 && nb_tensor_numel(got) == nb_tensor_numel(want) &&
                 nb_tensor_ndim(got) == 3 && nb_tensor_dim(got, 2) == 4;
        int64_t bad_at = -1;
        for (int64_t k = 0; ok && k < nb_tensor_numel(got); k++)
            if (memcmp(&nb_tensor_data(got)[k], &nb_tensor_data(want)[k], 4)) bad_at = k, ok = 0;
        snprintf(label, sizeof label, "%s -> F32 bit-exact as torch .float()", fl[i]);
        CHECK(label, ok, "at %lld: got %.9g want %.9g (%s)", (long long)bad_at,
              bad_at >= 0 ? nb_tensor_data(got)[bad_at] : 0.0, bad_at >= 0 ? nb_tensor_data(want)[bad_at] : 0.0,
              nb_last_error());
        nb_tensor_free(got);
        nb_tensor_free(want);
    }
    static const char *const in[] = {"i32", "i16", "i8", "u8", "bool"};
    for (int i = 0; i < 5; i++) {
        char wname[32], label[96];
        snprintf(wname, sizeof wname, "%s.want", in[i]);
        nb_tensor *got = nb_safetensors_get(f, ctx, in[i]), *want = nb_safetensors_get(f, ctx, wname);
        int ok = got && want && nb_tensor_dtype(got) == NB_I64 && nb_tensor_numel(got) == nb_tensor_numel(want) &&
                 !memcmp(nb_tensor_data_i64(got), nb_tensor_data_i64(want), (size_t)nb_tensor_numel(got) * 8);
        snprintf(label, sizeof label, "%s -> I64 as torch .long()", in[i]);
        CHECK(label, ok, "%s", nb_last_error());
        nb_tensor_free(got);
        nb_tensor_free(want);
    }
    nb_tensor *s = nb_safetensors_get(f, ctx, "scalar.f16");
    CHECK("F16 scalar shape [] = 2.5", s && nb_tensor_ndim(s) == 0 && nb_tensor_item(s) == 2.5f, "%s", nb_last_error());
    nb_tensor_free(s);
    int i = nb_safetensors_find(f, "bn.num_batches_tracked");
    int64_t sh[NB_MAX_DIMS];
    nb_tensor *nbt = nb_safetensors_get(f, ctx, "bn.num_batches_tracked");
    CHECK("PyTorch BatchNorm num_batches_tracked: I64 shape [] = 2",
          i >= 0 && !strcmp(nb_safetensors_dtype(f, i), "I64") && nb_safetensors_shape(f, i, sh) == 0 && nbt &&
              nb_tensor_data_i64(nbt)[0] == 2,
          "%s", nb_last_error());
    nb_tensor_free(nbt);
    const char *gen = nb_safetensors_metadata(f, "generator");
    CHECK("golden metadata readable", gen && !strcmp(gen, "gen_safetensors_interop.py"), "%s", gen ? gen : "(null)");
    nb_safetensors_close(f);
}

/* ---- modules: a probe module built from the internal module API ---- */

static const nb_module_vtable PROBE_VT = {.kind = "Probe"};

/* state: "weight" (2, 3), "bias" (2), "bn.running_mean" (3), "bn.num_batches_tracked" I64 [] */
static nb_module *probe_new(nb_ctx *ctx, int64_t n_out, float fill)
{
    nb_module *m = nb__module_new(ctx, &PROBE_VT);
    nb_module *bn = nb__module_new(ctx, &PROBE_VT);
    nb_tensor *w = nb_tensor_new(ctx, NB_F32, 2, (int64_t[]){n_out, 3});
    nb_tensor *b = nb_tensor_new(ctx, NB_F32, 1, (int64_t[]){n_out});
    nb_tensor *rm = nb_tensor_new(ctx, NB_F32, 1, (int64_t[]){3});
    nb_tensor *nbt = nb_tensor_new(ctx, NB_I64, 0, NULL);
    for (int64_t i = 0; i < n_out * 3; i++) nb_tensor_data(w)[i] = fill + (float)i;
    for (int64_t i = 0; i < n_out; i++) nb_tensor_data(b)[i] = -fill - (float)i;
    for (int i = 0; i < 3; i++) nb_tensor_data(rm)[i] = fill * 0.5f + (float)i;
    nb_tensor_data_i64(nbt)[0] = (int64_t)fill * 10;
    nb__module_add(m, "weight", w, 0);
    nb__module_add(m, "bias", b, 0);
    nb__module_add(bn, "running_mean", rm, 1);
    nb__module_add(bn, "num_batches_tracked", nbt, 1);
    nb__module_add_child(m, "bn", bn);
    return m;
}

static int probe_equal(nb_module *a, nb_module *b)
{
    int na, nb;
    const nb_named_tensor *sa = nb_module_state(a, &na), *sb = nb_module_state(b, &nb);
    if (na != nb) return 0;
    for (int i = 0; i < na; i++) {
        if (strcmp(sa[i].name, sb[i].name) || nb_tensor_numel(sa[i].tensor) != nb_tensor_numel(sb[i].tensor)) return 0;
        size_t bytes = (size_t)nb_tensor_numel(sa[i].tensor) * 4 * (nb_tensor_dtype(sa[i].tensor) == NB_I64 ? 2 : 1);
        if (memcmp(sa[i].tensor->data, sb[i].tensor->data, bytes)) return 0;
    }
    return 1;
}

static void test_modules(nb_ctx *ctx)
{
    nb_module *src = probe_new(ctx, 2, 1.0f), *dst = probe_new(ctx, 2, 7.0f), *keep = probe_new(ctx, 2, 7.0f);
    const char *path = tmp_path("module.safetensors");
    CHECK("save module", nb_save_safetensors(src, path) == NB_OK, "%s", nb_last_error());
    nb_safetensors *f = nb_safetensors_open(path);
    int i = f ? nb_safetensors_find(f, "bn.num_batches_tracked") : -1;
    int64_t sh[NB_MAX_DIMS];
    CHECK("saved: state_dict names, I64 buffer with shape []",
          f && nb_safetensors_count(f) == 4 && nb_safetensors_find(f, "weight") >= 0 && i >= 0 &&
              !strcmp(nb_safetensors_dtype(f, i), "I64") && nb_safetensors_shape(f, i, sh) == 0,
          "%s", nb_last_error());
    nb_safetensors_close(f);
    CHECK("load strict into an equal module", nb_load_safetensors(dst, path, 1) == NB_OK && probe_equal(src, dst), "%s",
          nb_last_error());

    /* shape mismatch: error naming the key and both shapes; nothing changes */
    nb_module *wide = probe_new(ctx, 4, 3.0f), *wide_copy = probe_new(ctx, 4, 3.0f);
    nb_status st = nb_load_safetensors(wide, path, 0);
    const char *msg = nb_last_error();
    CHECK("shape mismatch -> NB_ERR_SHAPE naming key and both shapes",
          st == NB_ERR_SHAPE && strstr(msg, "weight: the file has [2, 3], the module has [4, 3]") &&
              strstr(msg, "bias: the file has [2], the module has [4]"),
          "status %d: %s", st, msg);
    CHECK("failed load leaves the module unchanged (bn.* matched but not copied)", probe_equal(wide, wide_copy),
          "module changed");

    /* strict: every missing and every unexpected key, in one message */
    nb_module *other = nb__module_new(ctx, &PROBE_VT);
    nb__module_add(other, "weight", nb_tensor_new(ctx, NB_F32, 2, (int64_t[]){2, 3}), 0);
    nb__module_add(other, "extra_a", nb_tensor_new(ctx, NB_F32, 1, (int64_t[]){1}), 0);
    nb__module_add(other, "extra_b", nb_tensor_new(ctx, NB_F32, 1, (int64_t[]){1}), 0);
    st = nb_load_safetensors(other, path, 1);
    msg = nb_last_error();
    CHECK("strict: reports every missing and unexpected key",
          st != NB_OK && strstr(msg, "missing keys: extra_a, extra_b") && strstr(msg, "unexpected keys: ") &&
              strstr(msg, "bias") && strstr(msg, "bn.running_mean") && strstr(msg, "bn.num_batches_tracked"),
          "status %d: %s", st, msg);
    int n;
    const nb_named_tensor *s = nb_module_state(other, &n);
    CHECK("strict failure copies nothing", nb_tensor_data(s[0].tensor)[0] == 0.0f, "weight changed");
    st = nb_load_safetensors(other, path, 0);
    s = nb_module_state(other, &n);
    CHECK("non-strict loads the matching key and ignores the rest",
          st == NB_OK && nb_tensor_data(s[0].tensor)[5] == 6.0f && nb_tensor_data(s[1].tensor)[0] == 0.0f, "%s",
          nb_last_error());

    /* an integer buffer stored as F32 cannot go into an I64 tensor */
    nb_tensor *fw = nb_tensor_new(ctx, NB_F32, 0, NULL);
    nb_named_tensor ft[1] = {{"bn.num_batches_tracked", fw, 1}};
    nb_safetensors_write(tmp_path("f32nbt.safetensors"), ft, 1, NULL, 0);
    st = nb_load_safetensors(keep, tmp_path("f32nbt.safetensors"), 0);
    CHECK("F32 into an I64 buffer is refused", st == NB_ERR_ARG && strstr(nb_last_error(), "bn.num_batches_tracked"),
          "status %d: %s", st, nb_last_error());
    nb_tensor_free(fw);
    st = nb_load_safetensors(keep, tmp_path("missing.safetensors"), 1);
    CHECK("load of a missing file -> NB_ERR_IO", st == NB_ERR_IO && strstr(nb_last_error(), "missing.safetensors"),
          "status %d: %s", st, nb_last_error());

    /* a PyTorch BatchNorm state_dict loads into a module with the same names */
    nb_module *bnm = nb__module_new(ctx, &PROBE_VT), *inner = nb__module_new(ctx, &PROBE_VT);
    static const char *const names[] = {"weight", "bias", "running_mean", "running_var"};
    for (int k = 0; k < 4; k++) nb__module_add(inner, names[k], nb_tensor_new(ctx, NB_F32, 1, (int64_t[]){3}), k >= 2);
    nb__module_add(inner, "num_batches_tracked", nb_tensor_new(ctx, NB_I64, 0, NULL), 1);
    nb__module_add_child(bnm, "bn", inner);
    st = nb_load_safetensors(bnm, GOLDEN, 0);
    s = nb_module_state(bnm, &n);
    CHECK("PyTorch BatchNorm1d state_dict loads (num_batches_tracked = 2 into I64)",
          st == NB_OK && n == 5 && nb_tensor_data_i64(s[4].tensor)[0] == 2 && nb_tensor_data(s[3].tensor)[0] != 1.0f,
          "%s", nb_last_error());

    nb_module_free(src);
    nb_module_free(dst);
    nb_module_free(keep);
    nb_module_free(wide);
    nb_module_free(wide_copy);
    nb_module_free(other);
    nb_module_free(bnm);
}

int main(void)
{
    if (tmp_dir_init("test_safetensors")) {
        perror("mkdtemp");
        return 2;
    }
    nb_ctx *ctx = nb_ctx_new(NULL);
    test_malformed();
    test_fuzz();
    test_round_trip(ctx);
    test_atomic(ctx);
    test_dtypes(ctx);
    test_modules(ctx);
    nb_ctx_free(ctx);
    if (tmp_dir_remove()) printf("note: could not remove %s\n", tmp_dir);
    CHECK_DONE();
}
