/* test_cli.c - the nabla command as a user meets it: help, usage errors, a
 * missing dataset, a NaN loss that must not overwrite saved weights, and a short
 * real training run whose weights eval reads back. Runs build/nabla (or
 * build-san/nabla) through the shell. */
#include "check.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifdef __SANITIZE_ADDRESS__
#define NABLA "build-san/nabla"
#else
#define NABLA "build/nabla"
#endif

static char out[65536];

/* Run a shell command line, capture stdout+stderr into out, return the exit status. */
static int run(const char *cmd)
{
    char full[4096];
    snprintf(full, sizeof full, "%s 2>&1", cmd);
    FILE *p = popen(full, "r");
    if (!p) return -1;
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int has_data(void) { return access("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", R_OK) == 0; }

int main(void)
{
    int rc = run(NABLA " --help");
    CHECK("--help exits 0 and lists train", rc == 0 && strstr(out, "train"), "rc %d: %s", rc, out);
    rc = run(NABLA " train --help");
    CHECK("train --help lists --lr and --max-steps", rc == 0 && strstr(out, "--lr") && strstr(out, "--max-steps"),
          "rc %d", rc);
    rc = run(NABLA " train --bogus-option");
    CHECK("unknown option: status 2 and names it", rc == 2 && strstr(out, "--bogus-option"), "rc %d: %s", rc, out);
    rc = run(NABLA " frobnicate");
    CHECK("unknown command: status 2", rc == 2 && strstr(out, "frobnicate"), "rc %d: %s", rc, out);
    rc = run(NABLA " train --epochs abc");
    CHECK("non-numeric value: status 2", rc == 2 && strstr(out, "--epochs"), "rc %d: %s", rc, out);
    rc = run(NABLA " train --model nosuchmodel --data /nonexistent --max-steps 1");
    CHECK("missing dataset: says apt-get install dataset-fashion-mnist and --data",
          rc == 1 && strstr(out, "apt-get install dataset-fashion-mnist") && strstr(out, "--data"), "rc %d: %s", rc,
          out);
    if (!has_data()) {
        printf("SKIP cli training checks: Fashion-MNIST is not installed\n");
        CHECK_DONE();
    }
    rc = run(NABLA " train --model nosuchmodel --max-steps 1");
    CHECK("unknown model: names it and lists the built-in ones", rc != 0 && strstr(out, "nosuchmodel") && strstr(out, "mlp"),
          "rc %d: %s", rc, out);

    char dir[] = "/tmp/nb_cli_XXXXXX";
    CHECK("temp dir", mkdtemp(dir) != NULL, "mkdtemp");
    char cmd[2048], w[512];
    snprintf(w, sizeof w, "%s/w.safetensors", dir);
    snprintf(cmd, sizeof cmd, NABLA " train --model mlp --max-steps 60 --threads 2 --save %s --log-json %s/log.jsonl --log-every 20", w, dir);
    rc = run(cmd);
    CHECK("short training run succeeds and prints the summary line",
          rc == 0 && strstr(out, "test_acc=") && strstr(out, "test_loss=") && strstr(out, "train_seconds=") &&
              strstr(out, "images_per_s="),
          "rc %d: %s", rc, out);
    double acc = 0;
    const char *a = strstr(out, "test_acc=");
    if (a) acc = atof(a + 9);
    CHECK("60 steps learn something (test_acc > 0.5)", acc > 0.5, "test_acc %g", acc);
    snprintf(cmd, sizeof cmd, "cat %s/log.jsonl", dir);
    run(cmd);
    CHECK("log has step and epoch records", strstr(out, "\"step\":20") && strstr(out, "\"step\":60") && strstr(out, "\"test_acc\""),
          "%s", out);

    snprintf(cmd, sizeof cmd, NABLA " eval --model mlp --weights %s", w);
    rc = run(cmd);
    double acc2 = 0;
    a = strstr(out, "test_acc=");
    if (a) acc2 = atof(a + 9);
    CHECK("eval of the saved weights gives the same accuracy", rc == 0 && fabs(acc2 - acc) < 1e-4, "rc %d: %s (train said %g)",
          rc, out, acc);

    /* the same seed and thread count give a bit-identical run; another seed does not */
    char w1[512], w2[512], w3[512];
    snprintf(w1, sizeof w1, "%s/s1.safetensors", dir);
    snprintf(w2, sizeof w2, "%s/s2.safetensors", dir);
    snprintf(w3, sizeof w3, "%s/s3.safetensors", dir);
    const char *outs[3] = {w1, w2, w3};
    int seeds[3] = {5, 5, 6};
    for (int k = 0; k < 3; k++) {
        snprintf(cmd, sizeof cmd, NABLA " train --model mlp --max-steps 30 --threads 2 --seed %d --save %s", seeds[k], outs[k]);
        run(cmd);
    }
    snprintf(cmd, sizeof cmd, "cmp %s %s", w1, w2);
    rc = run(cmd);
    CHECK("same seed, same threads: bit-identical weights", rc == 0, "%s", out);
    snprintf(cmd, sizeof cmd, "cmp -s %s %s", w1, w3);
    rc = run(cmd);
    CHECK("another seed: different weights", rc == 1, "cmp status %d", rc);

    struct stat before, after;
    stat(w, &before);
    snprintf(cmd, sizeof cmd, NABLA " train --model mlp --lr 1e30 --momentum 0 --max-steps 50 --save %s", w);
    rc = run(cmd);
    CHECK("NaN loss: non-zero status, names the step", rc == 1 && strstr(out, "step") && (strstr(out, "NaN") || strstr(out, "infinite")),
          "rc %d: %s", rc, out);
    stat(w, &after);
    CHECK("NaN loss: the existing --save file is untouched",
          before.st_mtim.tv_sec == after.st_mtim.tv_sec && before.st_mtim.tv_nsec == after.st_mtim.tv_nsec &&
              before.st_size == after.st_size,
          "file changed");
    snprintf(cmd, sizeof cmd, NABLA " eval --model mlp --weights %s/missing.safetensors", dir);
    rc = run(cmd);
    CHECK("eval of a missing weights file: status 1 and names the file", rc == 1 && strstr(out, "missing.safetensors"),
          "rc %d: %s", rc, out);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    run(cmd);
    CHECK_DONE();
}
