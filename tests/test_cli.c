/* test_cli.c - the nabla command as a user meets it: help, usage errors, a
 * missing dataset, a NaN loss that must not overwrite saved weights, and a short
 * real training run whose weights eval reads back. Runs build/nabla (or
 * build-san/nabla) through the shell. */
#include "check.h"
#include "cli.h"

#include <sys/stat.h>

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
    if (!have_fashion_mnist()) {
        printf("SKIP cli training checks: Fashion-MNIST is not installed\n");
        CHECK_DONE();
    }
    rc = run(NABLA " train --model nosuchmodel --max-steps 1");
    CHECK("unknown model: names it and lists the built-in ones", rc != 0 && strstr(out, "nosuchmodel") && strstr(out, "mlp"),
          "rc %d: %s", rc, out);

    char dir[] = "/tmp/nb_cli_XXXXXX";
    CHECK("temp dir", mkdtemp(dir) != NULL, "mkdtemp");
    char w[512];
    snprintf(w, sizeof w, "%s/w.safetensors", dir);
    rc = run(NABLA " train --model mlp --max-steps 60 --threads 2 --save %s --log-json %s/log.jsonl --log-every 20", w, dir);
    CHECK("short training run succeeds and prints the summary line",
          rc == 0 && strstr(out, "test_acc=") && strstr(out, "test_loss=") && strstr(out, "train_seconds=") &&
              strstr(out, "images_per_s="),
          "rc %d: %s", rc, out);
    double acc = 0;
    const char *a = strstr(out, "test_acc=");
    if (a) acc = atof(a + 9);
    CHECK("60 steps learn something (test_acc > 0.5)", acc > 0.5, "test_acc %g", acc);
    run("cat %s/log.jsonl", dir);
    CHECK("log has step and epoch records", strstr(out, "\"step\":20") && strstr(out, "\"step\":60") && strstr(out, "\"test_acc\""),
          "%s", out);
    /* the epoch's mean loss (a double) with %.9g: 9 significant digits (8 if one is a trailing 0) */
    int digits = 0;
    const char *l = strstr(out, "\"train_loss\":");
    for (const char *c = l ? l + 13 : ""; *c && *c != ',' && *c != 'e'; c++)
        if (*c >= '0' && *c <= '9' && (digits || *c != '0')) digits++;
    CHECK("log writes the train loss with 9 significant digits", digits >= 8, "%d digits: %s", digits, out);

    rc = run(NABLA " eval --model mlp --weights %s", w);
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
        run(NABLA " train --model mlp --max-steps 30 --threads 2 --seed %d --save %s", seeds[k], outs[k]);
    }
    rc = run("cmp %s %s", w1, w2);
    CHECK("same seed, same threads: bit-identical weights", rc == 0, "%s", out);
    rc = run("cmp -s %s %s", w1, w3);
    CHECK("another seed: different weights", rc == 1, "cmp status %d", rc);

    struct stat before, after;
    stat(w, &before);
    rc = run(NABLA " train --model mlp --lr 1e30 --momentum 0 --max-steps 50 --save %s", w);
    CHECK("NaN loss: non-zero status, names the step", rc == 1 && strstr(out, "step") && (strstr(out, "NaN") || strstr(out, "infinite")),
          "rc %d: %s", rc, out);
    stat(w, &after);
    CHECK("NaN loss: the existing --save file is untouched",
          before.st_mtim.tv_sec == after.st_mtim.tv_sec && before.st_mtim.tv_nsec == after.st_mtim.tv_nsec &&
              before.st_size == after.st_size,
          "file changed");
    rc = run(NABLA " eval --model mlp --weights %s/missing.safetensors", dir);
    CHECK("eval of a missing weights file: status 1 and names the file", rc == 1 && strstr(out, "missing.safetensors"),
          "rc %d: %s", rc, out);
    run("rm -rf %s", dir);
    CHECK_DONE();
}
