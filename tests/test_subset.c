/* test_subset.c - class subsets and N images per class: labels remapped to
 * 0..K-1 in the order given, names kept, the samples are the base's (pixel values
 * carry the base index), "first N under the seed" is a prefix property (N=2 is a
 * subset of N=3 for the same seed), seeds differ, errors name the class; on
 * Fashion-MNIST classes 5-9 with 100 per class give 500 training images and the
 * CLI trains a 5-class head with them. */
#include "check.h"
#include "cli.h"
#include "nabla.h"


/* IDX files of n 2x2 images, image i all pixels i % 256, label labels[i]. */
static void write_idx(const char *img, const char *lab, int n, const unsigned char *labels)
{
    FILE *f = fopen(img, "wb");
    unsigned char h[16] = {0, 0, 8, 3, (unsigned char)(n >> 24), (unsigned char)(n >> 16), (unsigned char)(n >> 8),
                           (unsigned char)n, 0, 0, 0, 2, 0, 0, 0, 2};
    fwrite(h, 1, 16, f);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 4; k++) fputc(i % 256, f);
    fclose(f);
    f = fopen(lab, "wb");
    unsigned char hl[8] = {0, 0, 8, 1, (unsigned char)(n >> 24), (unsigned char)(n >> 16), (unsigned char)(n >> 8),
                           (unsigned char)n};
    fwrite(hl, 1, 8, f);
    fwrite(labels, 1, (size_t)n, f);
    fclose(f);
}

static char img_path[512], lab_path[512];

static nb_dataset *base(void) { return nb_idx_dataset_new(img_path, lab_path); }

/* Base index and label of every sample (through the loader, in order). */
static int64_t collect(nb_dataset *d, int64_t *idx, int64_t *lab, int64_t max)
{
    nb_ctx *ctx = nb_ctx_new(&(nb_ctx_opts){.threads = 1});
    nb_loader *l = nb_loader_new(ctx, d, &(nb_loader_opts){.batch_size = 7});
    nb_loader_start_epoch(l, 0);
    int64_t n = 0;
    nb_tensor *x, *y;
    while (nb_loader_next(l, &x, &y)) {
        for (int64_t i = 0; i < nb_tensor_numel(y) && n < max; i++, n++) {
            idx[n] = (int64_t)(nb_tensor_data(x)[i * 4] * 255.0f + 0.5f);
            lab[n] = nb_tensor_data_i64(y)[i];
        }
        nb_ctx_reset(ctx);
    }
    nb_loader_free(l);
    nb_ctx_free(ctx);
    return n;
}

int main(void)
{
    if (tmp_dir_init("subset")) return 2;
    snprintf(img_path, sizeof img_path, "%s/img", tmp_dir);
    snprintf(lab_path, sizeof lab_path, "%s/lab", tmp_dir);
    enum { N = 200 };
    unsigned char labels[N];
    for (int i = 0; i < N; i++) labels[i] = (unsigned char)((i * 7 + i / 10) % 10); /* classes interleaved */
    write_idx(img_path, lab_path, N, labels);

    /* classes only */
    int cls[] = {7, 2, 9};
    nb_dataset *d = nb_subset_new(base(), &(nb_subset_opts){.classes = cls, .n_classes = 3});
    int64_t idx[N], lab[N];
    int64_t n = d ? collect(d, idx, lab, N) : 0;
    int want = 0, ok = 1;
    for (int i = 0; i < N; i++) want += labels[i] == 7 || labels[i] == 2 || labels[i] == 9;
    int64_t prev = -1;
    for (int64_t k = 0; k < n && ok; k++) {
        int b = (int)idx[k];
        int mapped = labels[b] == 7 ? 0 : labels[b] == 2 ? 1 : labels[b] == 9 ? 2 : -1;
        ok = mapped == lab[k] && b > prev && nb_subset_base_index(d, k) == b;
        prev = b;
    }
    CHECK("classes 7,2,9: every sample of them, in base order, relabelled 0,1,2 in the order given",
          d && n == want && nb_dataset_len(d) == want && nb_dataset_num_classes(d) == 3 && ok, "n %lld want %d ok %d: %s",
          (long long)n, want, ok, nb_last_error());
    nb_dataset_free(d);

    /* per class under a seed */
    int64_t i2[N], l2[N], i3[N], l3[N], io[N], lo[N];
    nb_dataset *d2 = nb_subset_new(base(), &(nb_subset_opts){.per_class = 2, .seed = 5});
    nb_dataset *d3 = nb_subset_new(base(), &(nb_subset_opts){.per_class = 3, .seed = 5});
    nb_dataset *dother = nb_subset_new(base(), &(nb_subset_opts){.per_class = 2, .seed = 6});
    int64_t n2 = collect(d2, i2, l2, N), n3 = collect(d3, i3, l3, N), no = collect(dother, io, lo, N);
    int counts[10] = {0}, labels_kept = 1, prefix = 1, differ = 0;
    for (int64_t k = 0; k < n2; k++) {
        counts[l2[k]]++;
        labels_kept &= l2[k] == labels[i2[k]];
        int found = 0;
        for (int64_t j = 0; j < n3; j++) found |= i3[j] == i2[k];
        prefix &= found;
        differ |= k >= no || io[k] != i2[k];
    }
    int two_each = n2 == 20;
    for (int c = 0; c < 10; c++) two_each &= counts[c] == 2;
    CHECK("per_class 2: two of each class, labels unchanged, 10 classes", two_each && labels_kept && nb_dataset_num_classes(d2) == 10,
          "n2 %lld", (long long)n2);
    CHECK("per_class 2 is a subset of per_class 3 under the same seed (the first N under the seed)", prefix && n3 == 30,
          "n3 %lld", (long long)n3);
    CHECK("another seed picks other images", differ && no == 20, "same picks");
    nb_dataset *d2b = nb_subset_new(base(), &(nb_subset_opts){.per_class = 2, .seed = 5});
    int64_t ib[N], lb[N];
    int64_t nbb = collect(d2b, ib, lb, N);
    CHECK("the same seed picks the same images", nbb == n2 && !memcmp(ib, i2, sizeof(int64_t) * (size_t)n2), "differ");
    nb_dataset_free(d2);
    nb_dataset_free(d2b);
    nb_dataset_free(d3);
    nb_dataset_free(dother);

    /* both */
    int c59[] = {5, 6, 7, 8, 9};
    d = nb_subset_new(base(), &(nb_subset_opts){.classes = c59, .n_classes = 5, .per_class = 4, .seed = 1});
    n = collect(d, idx, lab, N);
    int cnt[5] = {0};
    ok = n == 20;
    for (int64_t k = 0; k < n && ok; k++) {
        ok = lab[k] >= 0 && lab[k] < 5 && labels[idx[k]] == lab[k] + 5;
        if (ok) cnt[lab[k]]++;
    }
    for (int c = 0; c < 5; c++) ok &= cnt[c] == 4;
    CHECK("classes 5-9 with 4 per class: 20 samples, labels base-5", ok, "n %lld", (long long)n);
    nb_dataset_free(d);

    /* errors (the base is freed by nb_subset_new also on failure: ASan checks there is no leak) */
    int bad1[] = {3, 10};
    nb_clear_error();
    d = nb_subset_new(base(), &(nb_subset_opts){.classes = bad1, .n_classes = 2});
    CHECK("class outside the dataset: names it and the range", !d && strstr(nb_last_error(), "class 10") && strstr(nb_last_error(), "0..9"),
          "%s", nb_last_error());
    int bad2[] = {3, 4, 3};
    d = nb_subset_new(base(), &(nb_subset_opts){.classes = bad2, .n_classes = 3});
    CHECK("class listed twice", !d && strstr(nb_last_error(), "class 3 is listed twice"), "%s", nb_last_error());
    d = nb_subset_new(NULL, NULL);
    CHECK("NULL base", !d && strstr(nb_last_error(), "NULL"), "%s", nb_last_error());
    unsigned char only_low[N];
    for (int i = 0; i < N; i++) only_low[i] = (unsigned char)(i % 4);
    only_low[0] = 9; /* classes 0..9, but 4..8 have no samples */
    write_idx(img_path, lab_path, N, only_low);
    int c6[] = {6};
    d = nb_subset_new(base(), &(nb_subset_opts){.classes = c6, .n_classes = 1});
    CHECK("a class without samples", !d && strstr(nb_last_error(), "class 6") && strstr(nb_last_error(), "no samples"), "%s",
          nb_last_error());

    int list[64], nl = 0;
    CHECK("parse 5,6,7,8,9", !nb_parse_class_list("5,6,7,8,9", list, 64, &nl) && nl == 5 && list[0] == 5 && list[4] == 9,
          "n %d", nl);
    CHECK("parse 0-2, 7", !nb_parse_class_list("0-2, 7", list, 64, &nl) && nl == 4 && list[2] == 2 && list[3] == 7, "n %d", nl);
    CHECK("parse errors name the place", nb_parse_class_list("1,,2", list, 64, &nl) && strstr(nb_last_error(), ",2") &&
                                             nb_parse_class_list("3-1", list, 64, &nl) && nb_parse_class_list("", list, 64, &nl),
          "%s", nb_last_error());

    /* Fashion-MNIST: names kept, 100 per class; the CLI */
    if (!have_fashion_mnist()) {
        printf("SKIP Fashion-MNIST subset checks: not installed\n");
    } else {
        nb_dataset *fm = nb_subset_new(nb_fashion_mnist_new(NULL, 1),
                                       &(nb_subset_opts){.classes = c59, .n_classes = 5, .per_class = 100, .seed = 0});
        CHECK("Fashion-MNIST classes 5-9, 100 per class: 500 images named Sandal .. Ankle boot",
              fm && nb_dataset_len(fm) == 500 && nb_dataset_num_classes(fm) == 5 &&
                  !strcmp(nb_dataset_class_name(fm, 0), "Sandal") && !strcmp(nb_dataset_class_name(fm, 4), "Ankle boot"),
              "%s", nb_last_error());
        nb_dataset_free(fm);
        if (!access(NABLA, X_OK)) {
            char w[600];
            snprintf(w, sizeof w, "%s/sub.safetensors", tmp_dir);
            int rc =
                run(NABLA " train --model mlp --classes 5,6,7,8,9 --per-class 100 --epochs 3 --threads 1 --quiet --save %s", w);
            double acc = strstr(out, "test_acc=") ? atof(strstr(out, "test_acc=") + 9) : 0;
            CHECK("train --classes 5-9 --per-class 100: trains on 500 images, tested on classes 5-9 (acc > 0.5)",
                  rc == 0 && acc > 0.5, "rc %d: %s", rc, out);
            nb_safetensors *f = nb_safetensors_open(w);
            int64_t shape[NB_MAX_DIMS] = {0};
            int k = f ? nb_safetensors_find(f, "5.weight") : -1;
            if (k >= 0) nb_safetensors_shape(f, k, shape);
            CHECK("its head has 5 outputs", shape[0] == 5 && shape[1] == 256, "shape [%lld, %lld]", (long long)shape[0],
                  (long long)shape[1]);
            nb_safetensors_close(f);
            rc = run(NABLA " eval --model mlp --weights %s --classes 5-9", w);
            double acc2 = strstr(out, "test_acc=") ? atof(strstr(out, "test_acc=") + 9) : -1;
            CHECK("eval --classes 5-9 reads it back with the same accuracy", rc == 0 && fabs(acc2 - acc) < 1e-4, "rc %d: %s",
                  rc, out);
            rc = run(NABLA " train --model mlp --classes 4,12 --max-steps 1");
            CHECK("train --classes 4,12: status 1 naming class 12", rc == 1 && strstr(out, "class 12"), "rc %d: %s", rc, out);
        }
    }
    tmp_dir_remove();
    CHECK_DONE();
}
