/* test_hostile.c - nabla as a hostile user meets it (issue 15): each finding of
 * the hostile-input review as a reproducer that must fail cleanly, never crash,
 * hang, clobber a file or accept garbage silently. Runs build/nabla (or
 * build-san/nabla) through the shell on small data sets made here (PGM image
 * folders, IDX files), plus a few library calls. The "hang" checks run under
 * timeout(1) with a limit far above the time a correct run takes: they catch a
 * hang or a quadratic blow-up, they do not time anything. */
#include "check.h"
#include "cli.h"
#include "nabla.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <stb/stb_image_write.h>

/* A w x h 8-bit PGM whose pixels depend on seed. */
static int write_pgm(const char *path, int w, int h, int seed)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    fprintf(f, "P5\n%d %d\n255\n", w, h);
    for (int i = 0; i < w * h; i++) fputc((i * 7 + seed * 31) & 255, f);
    return fclose(f) ? -1 : 0;
}

/* root/SPLIT/CLASS/NNN.pgm: n images of 28x28 for each class of the comma list */
static int make_folder(const char *root, const char *split, const char *classes, int n)
{
    char p[1024], cls[64];
    snprintf(p, sizeof p, "mkdir -p %s/%s", root, split);
    if (system(p)) return -1;
    for (const char *c = classes; *c;) {
        size_t l = strcspn(c, ",");
        snprintf(cls, sizeof cls, "%.*s", (int)l, c);
        snprintf(p, sizeof p, "%s/%s/%s", root, split, cls);
        mkdir(p, 0755);
        for (int i = 0; i < n; i++) {
            char f[1100];
            snprintf(f, sizeof f, "%s/%03d.pgm", p, i);
            if (write_pgm(f, 28, 28, i + (int)l * 13 + cls[0])) return -1;
        }
        c += l;
        if (*c) c++;
    }
    return 0;
}

static void be32(FILE *f, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16), (unsigned char)(v >> 8), (unsigned char)v};
    fwrite(b, 1, 4, f);
}

/* dir/{train,t10k}-{images-idx3,labels-idx1}-ubyte with n 28x28 images each */
static int make_idx(const char *dir, int n_train, int n_test)
{
    mkdir(dir, 0755);
    const char *split[2] = {"train", "t10k"};
    int n[2] = {n_train, n_test};
    for (int s = 0; s < 2; s++) {
        char p[1024];
        snprintf(p, sizeof p, "%s/%s-images-idx3-ubyte", dir, split[s]);
        FILE *f = fopen(p, "wb");
        if (!f) return -1;
        be32(f, 0x803), be32(f, (uint32_t)n[s]), be32(f, 28), be32(f, 28);
        for (int i = 0; i < n[s] * 784; i++) fputc(i * 13 & 255, f);
        fclose(f);
        snprintf(p, sizeof p, "%s/%s-labels-idx1-ubyte", dir, split[s]);
        if (!(f = fopen(p, "wb"))) return -1;
        be32(f, 0x801), be32(f, (uint32_t)n[s]);
        for (int i = 0; i < n[s]; i++) fputc(i % 10, f);
        fclose(f);
    }
    return 0;
}

static int file_type(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb)) return 0;
    return (int)(sb.st_mode & S_IFMT);
}

static int count_tmp(const char *dir)
{
    run("ls -a %s | grep -c '\\.tmp\\.'", dir);
    return atoi(out);
}

/* 1: model files nested without limit, and long ones parsed in quadratic time */
static void model_files(void)
{
    const char *p = tmp_path("deep.nbm");
    FILE *f = fopen(p, "w");
    for (int i = 0; i < 10000; i++) fprintf(f, "b%d: sequential {\n", i);
    fprintf(f, "flatten()\nlinear(784, 10)\n");
    for (int i = 0; i < 10000; i++) fprintf(f, "}\n");
    fclose(f);
    int rc = run(NABLA " info %s", p);
    CHECK("1: 10,000 nested blocks: status 1 naming the nesting, no crash", rc == 1 && strstr(out, "nest"),
          "rc %d: %.300s", rc, out);
    p = tmp_path("long.nbm");
    f = fopen(p, "w");
    fprintf(f, "flatten()\nlinear(784, 10)\n");
    for (int i = 0; i < 200000; i++) fprintf(f, "relu()\n");
    fclose(f);
    rc = run("timeout 60 " NABLA " info %s >/dev/null", p);
    CHECK("1: 200,000 layers load (linear time, far under the 60 s guard)", rc == 0, "rc %d (124: timed out): %.300s",
          rc, out);
    p = tmp_path("div.nbm");
    write_text(p, "avgpool2d(2, divisor_override=0)\nflatten()\nlinear(196, 10)\n");
    rc = run(NABLA " info %s", p);
    CHECK("11: avgpool2d(divisor_override=0) is refused naming it", rc == 1 && strstr(out, "divisor_override"),
          "rc %d: %.300s", rc, out);
    p = tmp_path("bom.nbm");
    write_text(p, "\xEF\xBB\xBF"
                  "flatten()\nlinear(784, 10)\n");
    rc = run(NABLA " info %s", p);
    CHECK("11: a model file starting with a UTF-8 BOM loads", rc == 0, "rc %d: %.300s", rc, out);
    /* a legal file whose conv needs 3 TB (the fuzzer's find): with a tensor budget the load
     * fails naming it, nothing is allocated; the step arena keeps to the same budget */
    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.max_tensor_bytes = 1 << 20});
    nb_module *m = nb_model_file_parse(ctx, "conv2d(1, 1e9, 28, 28)\nflatten()\n", NULL);
    CHECK("conv2d(1, 1e9, 28, 28) under max_tensor_bytes 1 MiB: NULL with NB_ERR_MEM naming the budget",
          !m && nb_last_status() == NB_ERR_MEM && strstr(nb_last_error(), "max_tensor_bytes"), "%s", nb_last_error());
    m = nb_model_file_parse(ctx, "conv2d(1, 8, 3)\nflatten()\n", NULL);
    CHECK("a small model under the same budget loads", m != NULL, "%s", nb_last_error());
    nb_tensor *x = nb_tensor_new(ctx, NB_F32, 4, (int64_t[]){64, 1, 28, 28});
    nb_tensor *y = m && x ? nb_module_forward(m, x) : NULL; /* 64x8x26x26 floats: 1.4 MB > 1 MiB */
    CHECK("a forward whose activation is over the budget fails with NB_ERR_MEM", !y && nb_last_status() == NB_ERR_MEM,
          "%s", nb_last_error());
    nb_tensor_free(x);
    nb_module_free(m);
    nb_ctx_free(ctx);
}

/* 2: the atomic write must not replace a device, FIFO or symlink */
static void atomic_targets(void)
{
    const char *fifo = tmp_path("fifo");
    mkfifo(fifo, 0644);
    nb_status st = nb_write_file_atomic(fifo, "abc", 3);
    CHECK("2: writing over a FIFO is refused with a message naming it",
          st != NB_OK && strstr(nb_last_error(), "fifo") && file_type(fifo) == S_IFIFO, "status %d, type %o: %s", st,
          file_type(fifo), nb_last_error());
    const char *dev = tmp_path("dev");
    if (mknod(dev, S_IFCHR | 0666, makedev(1, 7)) == 0) {
        st = nb_write_file_atomic(dev, "abc", 3);
        CHECK("2: writing over a character device is refused", st != NB_OK && file_type(dev) == S_IFCHR,
              "status %d, type %o", st, file_type(dev));
    } else {
        printf("SKIP 2: mknod needs root\n");
    }
    const char *target = tmp_path("target.bin"), *link = tmp_path("link.bin");
    write_text(target, "old");
    symlink("target.bin", link);
    st = nb_write_file_atomic(link, "new", 3);
    run("cat %s", target);
    CHECK("2: writing through a symlink replaces its target and keeps the link",
          st == NB_OK && file_type(link) == S_IFLNK && !strcmp(out, "new"), "status %d, link type %o, target '%s'", st,
          file_type(link), out);
    CHECK("2: no temporary file left beside the link or its target", count_tmp(tmp_dir) == 0, "%d", count_tmp(tmp_dir));
    const char *d = tmp_path("adir");
    mkdir(d, 0755);
    st = nb_write_file_atomic(d, "x", 1);
    CHECK("2: writing over a directory is refused naming it", st != NB_OK && strstr(nb_last_error(), "adir"),
          "status %d: %s", st, nb_last_error());
}

/* 6: stale temp files of dead writers are removed by the next save */
static void stale_temp(void)
{
    const char *p = tmp_path("stale.npy");
    char tmp[600];
    long pid = 4194000; /* a process that does not exist */
    while (kill((pid_t)pid, 0) == 0 || errno != ESRCH) pid--;
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", p, pid);
    write_text(tmp, "half a file");
    CHECK("6: the next save removes the temporary file of a dead writer",
          nb_write_file_atomic(p, "ok", 2) == NB_OK && access(tmp, F_OK) != 0, "%s still there", tmp);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", p, (long)getppid());
    write_text(tmp, "a live writer's");
    nb_write_file_atomic(p, "ok", 2);
    CHECK("6: the temporary file of a live writer stays", access(tmp, F_OK) == 0, "%s removed", tmp);
    unlink(tmp);
}

/* 6: SIGTERM during a save removes the temp file (the process has no handler) */
static void sigterm_save(void)
{
    const char *p = tmp_path("big.npy");
    char tmp[600];
    pid_t pid = fork();
    if (pid == 0) {
        nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.threads = 1});
        nb_tensor *t = nb_tensor_new(ctx, NB_F32, 1, (int64_t[]){(int64_t)1 << 27}); /* 512 MB */
        for (int i = 0; i < 50; i++) nb_save_npy(p, t);
        _exit(0);
    }
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", p, (long)pid);
    int seen = 0;
    for (int i = 0; i < 20000 && !seen; i++) {
        seen = access(tmp, F_OK) == 0;
        if (!seen) usleep(1000);
    }
    kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK("6: SIGTERM during a save: killed by the signal, no temp file left",
          seen && WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM && access(tmp, F_OK) != 0,
          "seen %d, status %d, temp %s", seen, status, access(tmp, F_OK) ? "gone" : "left");
    unlink(p);
    unlink(tmp);
}

/* 4: truncated PNM and huge declared sizes; 7: symlink loops in image folders */
static void images(void)
{
    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.threads = 1});
    const char *p = tmp_path("short.pgm");
    write_text(p, "P5\n28 28\n255\n");
    nb_tensor *t = nb_img_load(ctx, p, 0);
    CHECK("4: a truncated PGM is refused naming the file", !t && strstr(nb_last_error(), "short.pgm"), "%s",
          t ? "decoded" : nb_last_error());
    nb_tensor_free(t);
    p = tmp_path("short.ppm");
    write_text(p, "P6\n4 4\n255\nabcdef");
    t = nb_img_load(ctx, p, 0);
    CHECK("4: a truncated PPM is refused", !t, "decoded");
    nb_tensor_free(t);
    p = tmp_path("huge.pgm");
    FILE *f = fopen(p, "wb");
    fprintf(f, "P5\n20000 20000\n255\n");
    for (int i = 0; i < 100; i++) fputc(i, f);
    fclose(f);
    t = nb_img_load(ctx, p, 0);
    CHECK("4: a file declaring 20000x20000 is refused (too large or too short)", !t && strstr(nb_last_error(), "huge.pgm"),
          "%s", t ? "decoded" : nb_last_error());
    nb_tensor_free(t);
    /* PNG, JPEG and BMP cut at two thirds: refused, not completed with made-up pixels */
    unsigned char px[16 * 16 * 3];
    for (int i = 0; i < (int)sizeof px; i++) px[i] = (unsigned char)(i * 29);
    const char *ext[3] = {"png", "jpg", "bmp"};
    for (int k = 0; k < 3; k++) {
        char full[600], cut[600];
        snprintf(full, sizeof full, "%s/full.%s", tmp_dir, ext[k]);
        snprintf(cut, sizeof cut, "%s/cut.%s", tmp_dir, ext[k]);
        if (k == 0) stbi_write_png(full, 16, 16, 3, px, 48);
        if (k == 1) stbi_write_jpg(full, 16, 16, 3, px, 90);
        if (k == 2) stbi_write_bmp(full, 16, 16, 3, px);
        struct stat sb;
        stat(full, &sb);
        run("head -c %lld %s > %s", (long long)sb.st_size * 2 / 3, full, cut);
        nb_tensor *a = nb_img_load(ctx, full, 0), *b = nb_img_load(ctx, cut, 0);
        char name[128];
        snprintf(name, sizeof name, "4: a %s cut at two thirds is refused (the whole file decodes)", ext[k]);
        CHECK(name, a && !b, "whole %s, cut %s: %s", a ? "decoded" : "refused", b ? "decoded" : "refused", nb_last_error());
        nb_tensor_free(a);
        nb_tensor_free(b);
    }
    /* found by fuzz_image (slow inputs): a 75-byte BMP declaring 63x9478 pixels with
     * compression 0xfffffffc, which stb reads as a negative int and decodes as
     * uncompressed, filling the missing 1.8 MB with zeros; and an OS/2 (12-byte header)
     * BMP cut short, which the length check did not cover */
    {
        unsigned char b[75] = {'B', 'M', 198, 0, 0, 0, 0, 0, 0, 0, 54, 0, 0, 0, 40, 0, 0, 0, 63, 0, 0, 0,
                               0x06, 0x25, 0, 0, 1, 0, 24, 0, 0xfc, 0xff, 0xff, 0xff};
        memset(b + 34, 0xff, sizeof b - 34);
        p = tmp_path("negcomp.bmp");
        f = fopen(p, "wb");
        fwrite(b, 1, sizeof b, f);
        fclose(f);
        t = nb_img_load(ctx, p, 0);
        CHECK("4: a BMP with compression 0xfffffffc and no pixel data is refused naming the file (fuzz_image)",
              !t && strstr(nb_last_error(), "negcomp.bmp"), "%s", t ? "decoded" : nb_last_error());
        nb_tensor_free(t);
        unsigned char o[26 + 8] = {'B', 'M', 0, 0, 0, 0, 0, 0, 0, 0, 26, 0, 0, 0, 12, 0, 0, 0, 64, 0, 64, 0, 1, 0, 24, 0};
        p = tmp_path("os2.bmp");
        f = fopen(p, "wb");
        fwrite(o, 1, sizeof o, f);
        fclose(f);
        t = nb_img_load(ctx, p, 0);
        CHECK("4: an OS/2 BMP (12-byte header) of 64x64 pixels holding 8 bytes is refused", !t && strstr(nb_last_error(), "os2.bmp"),
              "%s", t ? "decoded" : nb_last_error());
        nb_tensor_free(t);
    }
    nb_ctx_free(ctx);

    const char *root = tmp_path("loop");
    make_folder(root, "train", "a,b", 10);
    run("ln -s . %s/train/a/loop && ln -s .. %s/train/b/up && ln -s ../a %s/train/b/toa", root, root, root);
    char tr[600];
    snprintf(tr, sizeof tr, "%s/train", root);
    nb_dataset *d = nb_image_folder_new(tr, NULL);
    CHECK("7: symlink loops in an image folder: every image once (20)", d && nb_dataset_len(d) <= 30,
          "%lld images: %s", d ? (long long)nb_dataset_len(d) : -1LL, d ? "" : nb_last_error());
    CHECK("7: ... and no fewer than the real files", d && nb_dataset_len(d) >= 20, "%lld",
          d ? (long long)nb_dataset_len(d) : -1LL);
    nb_dataset_free(d);
}

/* 5: NaN through relu, NaN weights trained, evaluated and saved */
static void nan_values(void)
{
    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.threads = 1});
    float v[3] = {NAN, -1, 2};
    nb_tensor *x = nb_tensor_from(ctx, NB_F32, 1, (int64_t[]){3}, v);
    nb_tensor *y = nb_relu(x);
    CHECK("5: relu(NaN) is NaN (as PyTorch)", y && isnan(nb_tensor_data(y)[0]) && nb_tensor_data(y)[1] == 0,
          "relu(NaN) = %g", y ? nb_tensor_data(y)[0] : 0.0);
    nb_tensor_free(x);

    const char *root = tmp_path("nan");
    make_folder(root, "train", "a,b", 10);
    make_folder(root, "test", "a,b", 4);
    nb_module *m = nb_model_new(ctx, "mlp", &(nb_model_opts){.num_classes = 2, .in_channels = 1, .input_size = {28, 28}});
    int n = 0;
    const nb_named_tensor *s = m ? nb_module_state(m, &n) : NULL;
    for (int i = 0; i < n; i++)
        if (nb_tensor_dtype(s[i].tensor) == NB_F32)
            for (int64_t k = 0; k < nb_tensor_numel(s[i].tensor); k++) nb_tensor_data(s[i].tensor)[k] = NAN;
    const char *nanw = tmp_path("nan.safetensors");
    nb_save_safetensors(m, nanw);
    nb_module_free(m);
    nb_ctx_free(ctx);

    const char *good = tmp_path("good.safetensors");
    write_text(good, "good weights");
    int rc = run(NABLA " train --model mlp --dataset folder --data %s --epochs 1 --threads 1 --init %s --save %s", root,
                 nanw, good);
    run("cat %s", good);
    int kept = !strcmp(out, "good weights");
    CHECK("5: training from NaN weights fails naming a tensor, and keeps the good file",
          rc != 0 && kept, "rc %d, kept %d", rc, kept);
    rc = run(NABLA " train --model mlp --dataset folder --data %s --epochs 1 --threads 1 --init %s", root, nanw);
    CHECK("5: ... the message names the tensor and NaN", rc != 0 && strstr(out, "NaN") && strstr(out, "weight"),
          "rc %d: %.400s", rc, out);
    /* images (i*7 + k*3) and (i*7 + k*5) & 255: at a constant lr 10 (PyTorch's baseline recipe otherwise) a
     * running_var overflows before the loss is NaN */
    const char *inf = tmp_path("inf.safetensors"), *iroot = tmp_path("inf");
    for (int sp = 0; sp < 2; sp++)
        for (int c = 0; c < 2; c++) {
            char d[700];
            snprintf(d, sizeof d, "mkdir -p %s/%s/%c", iroot, sp ? "test" : "train", 'a' + c);
            if (system(d)) break;
            for (int i = 0; i < (sp ? 4 : 16); i++) {
                snprintf(d, sizeof d, "%s/%s/%c/%d.pgm", iroot, sp ? "test" : "train", 'a' + c, i);
                FILE *g = fopen(d, "wb");
                fprintf(g, "P5\n28 28\n255\n");
                for (int k = 0; k < 784; k++) fputc((i * 7 + k * (c ? 5 : 3)) & 255, g);
                fclose(g);
            }
        }
    rc = run(NABLA " train --model cnn --dataset folder --data %s --lr 10 --momentum 0 --epochs 3 --batch-size 4 "
                   "--lr-schedule none --label-smoothing 0 --threads 1 --save %s",
             iroot, inf);
    CHECK("5: a cnn at lr 10 whose running_var overflows: reported naming the buffer, nothing saved",
          rc != 0 && strstr(out, "running_var") && access(inf, F_OK) != 0, "rc %d: %.400s", rc, out);
    rc = run(NABLA " eval --model mlp --dataset folder --data %s --weights %s", root, nanw);
    CHECK("5: eval of NaN weights fails naming the tensor", rc != 0 && strstr(out, "NaN") && !strstr(out, "test_loss=-nan"),
          "rc %d: %.400s", rc, out);
}

/* 3 and 9: a batch larger than the data set, empty and mismatched sets */
static void data_sets(void)
{
    const char *idx = tmp_path("idx10");
    make_idx(idx, 10, 10);
    int rc = run("timeout 120 " NABLA " bench --model mlp --data %s --batch-size 11 --steps 1 --threads 1", idx);
    CHECK("3: bench with a batch larger than the training set: an error, no hang",
          rc != 0 && rc != 124 && strstr(out, "batch"), "rc %d (124: timed out): %.300s", rc, out);
    const char *empty = tmp_path("idx0");
    make_idx(empty, 0, 0);
    const char *w = tmp_path("empty.safetensors");
    rc = run(NABLA " train --model mlp --data %s --epochs 1 --threads 1 --save %s", empty, w);
    CHECK("9: an empty training set: an error, nothing saved", rc != 0 && strstr(out, "empty") && access(w, F_OK) != 0,
          "rc %d: %.300s", rc, out);
    /* weights for a 10-class mlp, then an empty test set */
    const char *w10 = tmp_path("w10.safetensors");
    rc = run(NABLA " train --model mlp --data %s --epochs 1 --threads 1 --save %s", idx, w10);
    CHECK("9: (a tiny training run for the next checks)", rc == 0, "rc %d: %.300s", rc, out);
    const char *half = tmp_path("idx_notest");
    make_idx(half, 10, 0);
    rc = run(NABLA " eval --model mlp --data %s --weights %s", half, w10);
    CHECK("9: eval on an empty test set: an error, not test_acc=0", rc != 0 && !strstr(out, "test_acc="), "rc %d: %.300s",
          rc, out);
    rc = run(NABLA " embed --model mlp --data %s --split test --weights %s --out %s", half, w10, tmp_path("e.npy"));
    CHECK("9: embed of an empty set: an error, no (0, 0) file", rc != 0 && access(tmp_path("e.npy"), F_OK) != 0,
          "rc %d: %.300s", rc, out);
    const char *mis = tmp_path("mismatch");
    make_folder(mis, "train", "cat,dog", 4);
    make_folder(mis, "test", "cat,fox", 2);
    rc = run(NABLA " train --model mlp --dataset folder --data %s --epochs 1 --threads 1", mis);
    CHECK("9: train and test folders with different class names: an error naming them",
          rc != 0 && strstr(out, "dog") && strstr(out, "fox"), "rc %d: %.300s", rc, out);
}

/* 6: write failures on a full disk (/dev/full) and orphan files */
static void write_failures(void)
{
    const char *root = tmp_path("wf");
    make_folder(root, "train", "a,b", 4);
    make_folder(root, "test", "a,b", 2);
    if (access("/dev/full", W_OK) == 0) {
        int rc = run(NABLA " augment --augment hflip --dataset folder --data %s --n 2 --out /dev/full", root);
        CHECK("6: augment --out on a full disk: non-zero status naming the file", rc != 0 && strstr(out, "/dev/full"),
              "rc %d: %.300s", rc, out);
        rc = run(NABLA " train --model mlp --dataset folder --data %s --epochs 1 --threads 1 --log-json /dev/full", root);
        CHECK("6: --log-json on a full disk: non-zero status naming the file", rc != 0 && strstr(out, "/dev/full"),
              "rc %d: %.300s", rc, out);
    } else {
        printf("SKIP 6: no /dev/full\n");
    }
    const char *ck = tmp_path("ck");
    mkdir(ck, 0755); /* the checkpoint path is a directory: its write fails */
    int rc = run(NABLA " train --model mlp --dataset folder --data %s --epochs 1 --threads 1 --checkpoint %s", root, ck);
    CHECK("6: a failed checkpoint write: non-zero status and no orphan ck.conf",
          rc != 0 && access(tmp_path("ck.conf"), F_OK) != 0, "rc %d: %.300s", rc, out);
}

/* 8 and 11: options */
static void options(void)
{
    static const char *bad[][2] = {{"--lr -0.1", "--lr"},
                                   {"--weight-decay -1", "--weight-decay"},
                                   {"--dropout -0.5", "--dropout"},
                                   {"--dropout 1.5", "--dropout"},
                                   {"--clip-grad-norm -1", "--clip-grad-norm"},
                                   {"--clip-grad-value -1", "--clip-grad-value"},
                                   {"--per-class 0", "--per-class"},
                                   {"--epochs 0", "--epochs"},
                                   {"--batch-size 0", "--batch-size"},
                                   {"--lr nan", "--lr"},
                                   {"--label-smoothing 1.5", "--label-smoothing"},
                                   {"--label-smoothing -0.1", "--label-smoothing"}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = run(NABLA " train --model mlp --data /nonexistent %s", bad[i][0]);
        char name[128];
        snprintf(name, sizeof name, "8: train %s: status 2 naming %s only", bad[i][0], bad[i][1]);
        int others = 0; /* "must be positive" once for several options */
        if (strcmp(bad[i][1], "--epochs") && strstr(out, "--epochs")) others = 1;
        if (strcmp(bad[i][1], "--batch-size") && strstr(out, "--batch-size")) others = 1;
        CHECK(name, rc == 2 && strstr(out, bad[i][1]) && !others, "rc %d: %.300s", rc, out);
    }
    const char *c = tmp_path("dup.conf");
    write_text(c, "lr = 0.1\nepochs = 2\nlr = 0.2\n");
    int rc = run(NABLA " train --model mlp --data /nonexistent --config %s", c);
    CHECK("8: a config file with a duplicate key: status 2 naming both lines", rc == 2 && strstr(out, "dup.conf:3") && strstr(out, "line 1"),
          "rc %d: %.300s", rc, out);
    c = tmp_path("neg.conf");
    write_text(c, "# run\nepochs = -1\n");
    rc = run(NABLA " train --model mlp --data /nonexistent --config %s", c);
    CHECK("8: epochs = -1 in a config file: the message names file and line", rc == 2 && strstr(out, "neg.conf:2"),
          "rc %d: %.300s", rc, out);
    c = tmp_path("zero.conf");
    write_text(c, "batch-size = 0\n");
    rc = run(NABLA " train --model mlp --data /nonexistent --config %s", c);
    CHECK("8: batch-size = 0 in a config file: the message names file and line", rc == 2 && strstr(out, "zero.conf:1"),
          "rc %d: %.300s", rc, out);
    c = tmp_path("nul.conf");
    FILE *f = fopen(c, "wb");
    fwrite("model = mlp\0garbage\nepochs = 1\n", 1, 31, f);
    fclose(f);
    rc = run(NABLA " train --data /nonexistent --config %s", c);
    CHECK("8: a NUL byte in a config file is refused naming the line", rc == 2 && strstr(out, "nul.conf:1"),
          "rc %d: %.300s", rc, out);
    c = tmp_path("bom.conf");
    write_text(c, "\xEF\xBB\xBF"
                  "epochs = 0\n");
    rc = run(NABLA " train --model mlp --data /nonexistent --config %s", c);
    CHECK("11: a config file with a UTF-8 BOM is read (its epochs = 0 is what is refused)",
          rc == 2 && strstr(out, "--epochs") && !strstr(out, "unknown option"), "rc %d: %.300s", rc, out);
    rc = run(NABLA " bench --steps 0");
    CHECK("11: bench --steps 0 names --steps only", rc == 2 && strstr(out, "--steps") && !strstr(out, "--threads"),
          "rc %d: %.300s", rc, out);
    rc = run(NABLA " embed --weights x --out y --batch-size 0");
    CHECK("11: embed --batch-size 0 names --batch-size only", rc == 2 && strstr(out, "--batch-size") &&
          !strstr(out, "--num-classes"), "rc %d: %.300s", rc, out);
    rc = run("echo hi | " NABLA " augment-text --aug ''");
    CHECK("11: augment-text with an empty spec: status 2", rc == 2, "rc %d: %.300s", rc, out);
    rc = run("echo hi | " NABLA " augment-text --aug 'back_translation(source=\"x y\")'");
    CHECK("11: augment-text with a malformed back_translation spec: status 2", rc == 2, "rc %d: %.300s", rc, out);
}

/* 11: resume with another --lr */
static void resume_lr(void)
{
    const char *root = tmp_path("res");
    make_folder(root, "train", "a,b", 8);
    make_folder(root, "test", "a,b", 2);
    const char *ck = tmp_path("res.ckpt");
    int rc = run(NABLA " train --model mlp --dataset folder --data %s --epochs 1 --batch-size 4 --threads 1 "
                       "--max-steps 2 --checkpoint %s",
                 root, ck);
    CHECK("11: (a checkpoint to resume)", rc == 0, "rc %d: %.300s", rc, out);
    rc = run(NABLA " train --model mlp --dataset folder --data %s --epochs 2 --batch-size 4 --threads 1 --lr 0.3 "
                   "--resume %s",
             root, ck);
    CHECK("11: resume with another --lr: refused naming --lr", rc == 2 && strstr(out, "--lr"), "rc %d: %.300s", rc, out);
}

/* 10: quadratic random_insert, a hanging Apertium */
static void text(void)
{
    const char *big = tmp_path("big.txt");
    FILE *f = fopen(big, "w");
    for (int i = 0; i < 80000; i++) fputs("The quick brown fox jumps over the lazy dog near a river bank. ", f);
    fputs("\n", f);
    fclose(f);
    int rc = run("timeout 60 " NABLA " augment-text --aug 'random_insert(p=0.3, aug_max=None)' %s >/dev/null", big);
    CHECK("10: random_insert(aug_max=None) on a 5 MB line: linear (far under the 60 s guard)", rc == 0,
          "rc %d (124: timed out): %.300s", rc, out);

    /* an "apertium" that never answers */
    const char *dd = tmp_path("ap");
    run("mkdir -p %s/modes && touch %s/modes/eng-spa.mode %s/modes/spa-eng.mode", dd, dd, dd);
    const char *cmd = tmp_path("apertium");
    write_text(cmd, "#!/bin/sh\nsleep 30 | cat\n");
    chmod(cmd, 0755);
    nb_text_aug *a = nb_text_backtranslation_new(
        &(nb_text_backtranslation_opts){.command = cmd, .data_dir = dd, .timeout_seconds = 2});
    nb_rng r;
    nb_rng_seed(&r, 1);
    char *o = a ? nb_text_augment(a, "hello world", &r) : NULL;
    CHECK("10: a hanging Apertium times out with a message", a && !o && strstr(nb_last_error(), "timed out"), "%s",
          o ? o : nb_last_error());
    free(o);
    nb_text_aug_free(a);
}

int main(int argc, char **argv)
{
    if (tmp_dir_init("hostile")) {
        printf("FAIL temp dir\n");
        return 1;
    }
    const char *only = argc > 1 ? argv[1] : NULL; /* run one group: test_hostile NAME */
#define GROUP(fn)                                                                                                      \
    if (!only || !strcmp(only, #fn)) fn()
    GROUP(model_files);
    GROUP(atomic_targets);
    GROUP(stale_temp);
    GROUP(sigterm_save);
    GROUP(images);
    GROUP(nan_values);
    GROUP(data_sets);
    GROUP(write_failures);
    GROUP(options);
    GROUP(resume_lr);
    GROUP(text);
    tmp_dir_remove();
    CHECK_DONE();
}
