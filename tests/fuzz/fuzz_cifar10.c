/* fuzz_cifar10.c - libFuzzer target for the CIFAR-10 binary batch reader. The
 * input becomes test_batch.bin in a directory of this process (and, when byte 0
 * is odd, batches.meta.txt from its first line); byte 0 bit 1 extends the file
 * with zeros to the exact size of a batch file, so label and pixel bytes the
 * fuzzer writes are read too. A set that opens is read at three samples.
 * run.sh builds the library with NB_CIFAR_RECORDS=2: a batch file is then 2
 * records (6,146 bytes) instead of 10,000 (30,730,000 bytes, 20-50 inputs a
 * second), so a whole file fits in one input and the reader's checks (size, every
 * label) run on bytes the fuzzer chose. */
#include "fuzz_common.h"

#ifndef NB_CIFAR_RECORDS
#define NB_CIFAR_RECORDS 10000
#endif
#define BATCH_BYTES (3073 * NB_CIFAR_RECORDS)

#include <fcntl.h>
#include <sys/stat.h>

static char dir[64];

static void cleanup(void)
{
    char p[128];
    snprintf(p, sizeof p, "%s/test_batch.bin", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/batches.meta.txt", dir);
    unlink(p);
    rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "%s/nb_fuzz_cifar_%ld", access("/dev/shm", W_OK) ? "/tmp" : "/dev/shm", (long)getpid());
        mkdir(dir, 0700);
        atexit(cleanup);
    }
    int mode = data[0];
    data++, size--;
    char p[128];
    snprintf(p, sizeof p, "%s/batches.meta.txt", dir);
    unlink(p);
    if (mode & 1) {
        size_t l = 0;
        while (l < size && data[l] != '\n') l++;
        FILE *f = fopen(p, "wb");
        if (f) {
            fwrite(data, 1, l < size ? l + 1 : l, f);
            fclose(f);
        }
        data += l < size ? l + 1 : l, size -= l < size ? l + 1 : l;
    }
    snprintf(p, sizeof p, "%s/test_batch.bin", dir);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) return 0;
    if (size && write(fd, data, size) != (ssize_t)size) size = 0;
    if (mode & 2 && size <= BATCH_BYTES) (void)!ftruncate(fd, BATCH_BYTES);
    close(fd);
    nb_dataset *d = nb_cifar10_new(dir, 0);
    if (d) {
        for (int c = 0; c < nb_dataset_num_classes(d); c++) nb_dataset_class_name(d, c);
        fuzz_read_samples(d);
    }
    nb_dataset_free(d);
    nb_clear_error();
    return 0;
}
