/* test_faults.c - every file the nabla command writes, against a full disk and a
 * read-only directory (issue 15): the command fails with a non-zero status and a
 * message naming the path, the previous file stays as it was, and no temporary
 * file is left. Each case runs in its own mount namespace (unshare -m) on a small
 * tmpfs, filled up or remounted read-only, so it needs root (CI runs as root;
 * otherwise the checks are skipped). Kills during a write are in test_checkpoint
 * (every point of a checkpoint write) and test_hostile (SIGTERM, stale temp files). */
#include "check.h"
#include "cli.h"

#include <sys/stat.h>

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
             "mount -t tmpfs -o size=256k none $D || exit 99; printf old > $D/%s; "
             "%s"
             "%s >$D/../out.txt 2>&1; echo status=$? >> $D/../out.txt; "
             "printf \"content=\" >> $D/../out.txt; cat $D/%s >> $D/../out.txt; echo >> $D/../out.txt; "
             "echo temps=$(ls -a $D | grep -c \"\\.tmp\\.\") >> $D/../out.txt'",
             root, file,
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

int main(void)
{
    snprintf(root, sizeof root, "/tmp/nb_faults_XXXXXX");
    if (!mkdtemp(root) || make_data()) {
        printf("FAIL temp dir\n");
        return 1;
    }
    if (geteuid() != 0 || system("unshare -m true 2>/dev/null")) {
        printf("SKIP fault injection: needs root and unshare -m (util-linux)\n");
        run("rm -rf %s", root);
        CHECK_DONE();
    }
    char nabla[600], w[600], data[600];
    if (!realpath(NABLA, nabla)) {
        printf("FAIL %s not built\n", NABLA);
        return 1;
    }
    snprintf(data, sizeof data, "--dataset folder --data %s/data", root);
    snprintf(w, sizeof w, "%s/w.safetensors", root);
    int rc = run("%s train --model mlp %s --epochs 1 --threads 1 --save %s", nabla, data, w);
    CHECK("(weights for the embed case)", rc == 0, "rc %d: %s", rc, out);
    char cmd[3000];
    for (int mode = 0; mode < 2; mode++) {
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
    }
    /* the JSON log is appended to as the run goes (a resume adds to it): a full disk
     * or a read-only directory must fail the run, naming the log */
    for (int mode = 0; mode < 2; mode++) {
        snprintf(cmd, sizeof cmd, "%s train --model mlp %s --epochs 1 --threads 1 --log-json $D/log.jsonl", nabla, data);
        char script[4096];
        snprintf(script, sizeof script,
                 "export D=%s/mnt; unshare -m sh -c 'mount -t tmpfs -o size=256k none $D || exit 99; %s %s; echo status=$?'",
                 root,
                 mode ? "mount -o remount,ro $D; "
                      : "dd if=/dev/zero of=$D/fill bs=4k >/dev/null 2>&1; dd if=/dev/zero of=$D/fill2 bs=1 >/dev/null 2>&1;",
                 cmd);
        run("%s", script);
        const char *st = strstr(out, "status=");
        int status = st ? atoi(st + 7) : -1;
        CHECK(mode ? "--log-json, read-only directory: non-zero status naming the log"
                   : "--log-json, full disk: non-zero status naming the log",
              status != 0 && strstr(out, "log.jsonl"), "status %d: %.300s", status, out);
    }
    run("rm -rf %s", root);
    CHECK_DONE();
}
