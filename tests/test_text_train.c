/* test_text_train.c - text datasets and the text commands end to end: the
 * wordnet-glosses dataset (45 supersenses, every gloss once, a 90/10 split that does
 * not change), TSV datasets, WordPiece vocabulary building and BPE training (their
 * files load, GPT-2 decoding gives the texts back), `nabla train` on a TSV with
 * bert_tiny from scratch (learns a separable task, saves a directory that loads and
 * tokenizes; `nabla run --text` names its classes), `nabla train --task lm` with
 * gpt2_tiny and `nabla generate` (greedy output repeats; a seed decides sampling). */
#include "check.h"
#include "cli.h"
#include "nabla.h"

#include <sys/stat.h>

static char dir[] = "/tmp/nb_text_trainXXXXXX";

static void path(char *buf, size_t n, const char *name) { snprintf(buf, n, "%s/%s", dir, name); }

static void wordnet(void)
{
    nb_text_dataset *tr = nb_wordnet_glosses_new(NULL, 1), *te = nb_wordnet_glosses_new(NULL, 0);
    CHECK("wordnet-glosses loads (Debian's wordnet-base)", tr && te, "%s", nb_last_error());
    if (!tr || !te) return;
    int64_t a = nb_text_dataset_len(tr), b = nb_text_dataset_len(te);
    CHECK("117,659 glosses in all, about a tenth in the test split", a + b == 117659 && b > 10000 && b < 13500,
          "%lld + %lld", (long long)a, (long long)b);
    CHECK("45 classes named as WordNet's lexicographer files",
          nb_text_dataset_num_classes(tr) == 45 && !strcmp(nb_text_dataset_class_name(tr, 5), "noun.animal") &&
              !strcmp(nb_text_dataset_class_name(tr, 44), "adj.ppl"),
          "%d", nb_text_dataset_num_classes(tr));
    int64_t counts[45] = {0};
    for (int64_t i = 0; i < a; i++) counts[nb_text_dataset_label(tr, i)]++;
    int present = 0;
    for (int c = 0; c < 45; c++) present += counts[c] > 0;
    CHECK("every supersense has training glosses", present == 45, "%d", present);
    /* the first noun synset, entity (03 = noun.Tops), is in a fixed split */
    int found = 0;
    for (int64_t i = 0; i < a + b && !found; i++) {
        const char *t = i < a ? nb_text_dataset_text(tr, i) : nb_text_dataset_text(te, i - a);
        found = !strcmp(t, "that which is perceived or known or inferred to have its own distinct existence (living or "
                           "nonliving)") &&
                (i < a ? nb_text_dataset_label(tr, i) : nb_text_dataset_label(te, i - a)) == 3;
    }
    CHECK("entity's gloss is there, labelled noun.Tops, trailing blanks removed", found, "not found");
    nb_text_dataset_free(tr), nb_text_dataset_free(te);
    CHECK("a missing WordNet directory: error naming wordnet-base", !nb_wordnet_glosses_new("/nonexistent", 1) &&
                                                                        strstr(nb_last_error(), "wordnet-base"),
          "%s", nb_last_error());
}

static const char *const pos_words[] = {"good", "great", "fine", "lovely", "nice"};
static const char *const neg_words[] = {"bad", "awful", "poor", "nasty", "grim"};

static void write_tsv(const char *p, int n, uint64_t seed)
{
    FILE *f = fopen(p, "w");
    nb_rng r;
    nb_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) {
        int y = i % 2;
        fprintf(f, "%s\tthe %s day was %s and %s\n", y ? "pos" : "neg", nb_rng_below(&r, 2) ? "first" : "last",
                (y ? pos_words : neg_words)[nb_rng_below(&r, 5)], nb_rng_below(&r, 2) ? "long" : "short");
    }
    fclose(f);
}

static void tsv_and_vocab(void)
{
    char p[300], v[300], m[300];
    path(p, sizeof p, "bad.tsv");
    write_text(p, "pos\tfine\nno tab here\n");
    CHECK("a TSV line without a tab: error naming line 2", !nb_tsv_dataset_new(p) && strstr(nb_last_error(), ":2:"), "%s",
          nb_last_error());
    path(p, sizeof p, "train.tsv");
    write_tsv(p, 400, 1);
    nb_text_dataset *d = nb_tsv_dataset_new(p);
    CHECK("TSV: 400 texts, classes neg and pos sorted", d && nb_text_dataset_len(d) == 400 &&
                                                          nb_text_dataset_num_classes(d) == 2 &&
                                                          !strcmp(nb_text_dataset_class_name(d, 0), "neg") &&
                                                          nb_text_dataset_label(d, 1) == 1,
          "%s", nb_last_error());
    const char *texts[400];
    for (int i = 0; d && i < 400; i++) texts[i] = nb_text_dataset_text(d, i);
    path(v, sizeof v, "vocab.txt");
    nb_status st = d ? nb_wordpiece_build_vocab(texts, 400, 30, v) : NB_ERR_ARG;
    nb_tokenizer *t = st ? NULL : nb_wordpiece_load(v, NULL);
    int64_t *ids = NULL, n = t ? nb_tokenizer_encode(t, "The GOOD day", &ids) : -1;
    CHECK("a built WordPiece vocabulary loads, specials first, and encodes", t && nb_tokenizer_token_to_id(t, "[PAD]") == 0 &&
                                                                               nb_tokenizer_token_to_id(t, "[UNK]") == 1 &&
                                                                               n >= 3,
          "%s", nb_last_error());
    free(ids);
    nb_tokenizer_free(t);
    path(v, sizeof v, "vocab.json");
    path(m, sizeof m, "merges.txt");
    st = d ? nb_bpe_train(texts, 400, 40, v, m) : NB_ERR_ARG;
    t = st ? NULL : nb_bpe_load(v, m);
    int back = t != NULL;
    for (int i = 0; t && i < 400 && back; i++) {
        n = nb_tokenizer_encode(t, texts[i], &ids);
        char *s = n >= 0 ? nb_tokenizer_decode(t, ids, n) : NULL;
        back = s && !strcmp(s, texts[i]) && n < (int64_t)strlen(texts[i]);
        free(s);
        free(ids);
    }
    CHECK("a trained BPE loads; each text encodes in fewer ids than bytes and decodes back", back, "%s", nb_last_error());
    nb_tokenizer_free(t);
    nb_text_dataset_free(d);
}

/* Files left in the private TMPDIR of the training runs (their vocabulary's working files
 * must be gone after every run); -1 if it cannot be listed. */
static char tmpd[300];
static int tmp_left(void)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "ls -A %s", tmpd);
    FILE *p = popen(cmd, "r");
    int n = 0, ch;
    if (!p) return -1;
    while ((ch = fgetc(p)) != EOF) n += ch == '\n';
    return pclose(p) ? -1 : n;
}

static void cli(void)
{
    char tr[300], te[300], save[300], lm[300], txt[300];
    path(tmpd, sizeof tmpd, "tmpdir");
    run("mkdir -p %s", tmpd);
    path(tr, sizeof tr, "train.tsv");
    path(te, sizeof te, "test.tsv");
    write_tsv(te, 100, 2);
    path(save, sizeof save, "cls");
    int rc = run("TMPDIR=%s " NABLA " train --dataset tsv --data %s --test-data %s --epochs 4 --batch-size 16 --vocab-size 100 "
                       "--max-length 12 --threads 1 --save %s --quiet",
                 tmpd, tr, te, save);
    CHECK("train --dataset tsv from scratch removes its working vocabulary (TMPDIR empty)", tmp_left() == 0, "%d left",
          tmp_left());
    double acc = -1;
    char *a = strstr(out, "test_acc=");
    if (a) acc = atof(a + 9);
    CHECK("nabla train --dataset tsv (bert_tiny from scratch) learns a separable task: test_acc >= 0.95", rc == 0 && acc >= 0.95,
          "rc %d: %s", rc, out);
    nb_ctx *ctx = nb_ctx_new(NULL);
    nb_module *m = nb_model_from_dir(ctx, save, NULL);
    nb_tokenizer *t = nb_tokenizer_from_dir(save);
    CHECK("the saved directory loads as a BertForSequenceClassification with its vocab.txt",
          m && t && nb_text_model_config(m)->arch == NB_BERT_SEQ_CLS && nb_text_model_config(m)->num_labels == 2, "%s",
          nb_last_error());
    nb_module_free(m), nb_tokenizer_free(t);
    nb_ctx_free(ctx);
    rc = run_stdout("printf 'the first day was lovely and long\\nthe last day was awful and short\\n' | " NABLA
                    " run --model %s --text - --top 1 --threads 1",
                    save);
    char *p1 = strstr(out, "lovely and long\n  "), *p2 = strstr(out, "awful and short\n  ");
    CHECK("nabla run --text on the saved classifier names the classes (config.json's id2label): pos, then neg",
          rc == 0 && p1 && p2 && strstr(p1, "  pos\n") && strstr(p1, "  pos\n") < p2 && strstr(p2, "  neg\n"), "rc %d: %s", rc,
          out);
    rc = run(NABLA " train --dataset tsv --data %s --test-data %s --model %s --epochs 1 --batch-size 16 --threads 1 "
                   "--freeze bert.embeddings --quiet",
             tr, te, save);
    CHECK("fine-tuning the saved directory with --freeze runs", rc == 0 && strstr(out, "test_acc="), "rc %d: %s", rc, out);
    rc = run(NABLA " train --dataset tsv --data %s --test-data %s --model %s --epochs 2 --batch-size 16 --threads 1 "
                   "--aug 'random_swap(p=0.2)' --lr-backbone 1e-4 --lr 1e-3 --quiet",
             tr, te, save);
    acc = -1;
    if ((a = strstr(out, "test_acc="))) acc = atof(a + 9);
    CHECK("fine-tuning with --aug random_swap and --lr-backbone keeps test_acc >= 0.95", rc == 0 && acc >= 0.95, "rc %d: %s",
          rc, out);
    rc = run(NABLA " train --dataset tsv --data %s --test-data %s --aug 'nonsense(' --quiet", tr, te);
    CHECK("a bad --aug spec: an error naming the column", rc != 0 && strstr(out, "column"), "rc %d: %s", rc, out);

    /* masked-LM pretraining on the texts of the training file, then fine-tuning it */
    char mlmd[300], corpus[300];
    path(corpus, sizeof corpus, "texts.txt");
    run("cut -f2 %s > %s", tr, corpus);
    path(mlmd, sizeof mlmd, "mlm");
    rc = run("TMPDIR=%s " NABLA " train --task mlm --data %s --epochs 3 --batch-size 16 --vocab-size 100 --threads 1 --save %s --quiet",
             tmpd, corpus, mlmd);
    CHECK("train --task mlm from scratch removes its working vocabulary (TMPDIR empty)", tmp_left() == 0, "%d left",
          tmp_left());
    double ml = 1e9;
    if ((a = strstr(out, "heldout_mlm_loss="))) ml = atof(a + 17);
    CHECK("nabla train --task mlm (bert_tiny from scratch): held-out masked-LM loss below 3", rc == 0 && ml < 3, "rc %d: %s", rc,
          out);
    rc = run(NABLA " train --dataset tsv --data %s --test-data %s --model %s --epochs 3 --batch-size 16 --lr 1e-3 --threads 1 "
                   "--quiet",
             tr, te, mlmd);
    acc = -1;
    if ((a = strstr(out, "test_acc="))) acc = atof(a + 9);
    CHECK("the BertForMaskedLM directory fine-tunes as a classifier (cls.* left out, new classifier): test_acc >= 0.95",
          rc == 0 && acc >= 0.95, "rc %d: %s", rc, out);
    path(txt, sizeof txt, "corpus.txt");
    FILE *f = fopen(txt, "w");
    for (int i = 0; i < 300; i++) fprintf(f, "the cat sat on the mat %d times\nthe dog ran in the park\n", i % 7);
    fclose(f);
    path(lm, sizeof lm, "lm");
    rc = run("TMPDIR=%s " NABLA " train --task lm --data %s --epochs 2 --batch-size 16 --vocab-size 300 --threads 1 --save %s --quiet",
             tmpd, txt, lm);
    CHECK("train --task lm from scratch removes its working vocabulary and merges (TMPDIR empty)", tmp_left() == 0,
          "%d left", tmp_left());
    double ppl = 1e9;
    char *pp = strstr(out, "perplexity=");
    if (pp) ppl = atof(pp + 11);
    CHECK("nabla train --task lm (gpt2_tiny, BPE trained on the file): held-out perplexity below 10", rc == 0 && ppl < 10,
          "rc %d: %s", rc, out);
    {
        /* ended by SIGTERM while it trains: the handler removes the working files */
        int rc2 = run("TMPDIR=%s " NABLA " train --task lm --data %s --epochs 10000 --batch-size 16 --vocab-size 300 "
                      "--threads 1 --quiet & p=$!; i=0; while [ $i -lt 1200 ] && [ -z \"$(ls -A %s)\" ]; do sleep 0.05; "
                      "i=$((i+1)); done; sleep 1; kill -TERM $p; wait $p; echo status=$?",
                      tmpd, txt, tmpd);
        CHECK("train --task lm ended by SIGTERM: its working files are removed (TMPDIR empty)",
              rc2 == 0 && strstr(out, "status=143") && tmp_left() == 0, "rc %d, %d left: %s", rc2, tmp_left(), out);
    }
    rc = run(NABLA " generate --model %s --prompt 'the cat' --max-new-tokens 6 --temperature 0", lm);
    static char first[sizeof out];
    memcpy(first, out, sizeof out);
    int rc2 = run(NABLA " generate --model %s --prompt 'the cat' --max-new-tokens 6 --temperature 0", lm);
    CHECK("nabla generate (greedy) continues the prompt, the same twice", rc == 0 && rc2 == 0 && !strncmp(first, "the cat", 7) &&
                                                                             !strcmp(first, out) && strlen(first) > 9,
          "rc %d: %s / %s", rc, first, out);
    rc = run(NABLA " generate --model %s --prompt 'the' --max-new-tokens 20 --top-k 5 --seed 1", lm);
    memcpy(first, out, sizeof out);
    rc2 = run(NABLA " generate --model %s --prompt 'the' --max-new-tokens 20 --top-k 5 --seed 1", lm);
    CHECK("nabla generate with a seed repeats", rc == 0 && !strcmp(first, out), "rc %d", rc);
    rc = run(NABLA " generate --model %s --prompt x", save);
    CHECK("nabla generate on a BERT directory: error", rc != 0, "rc %d: %s", rc, out);
    /* embed: the golden tiny BERT with a 99-token vocabulary written here */
    char bd[300], vp[320], npy[300], txt2[300];
    path(bd, sizeof bd, "bert");
    run("mkdir -p %s && cp tests/goldens/bert_tiny/config.json tests/goldens/bert_tiny/model.safetensors %s", bd, bd);
    snprintf(vp, sizeof vp, "%s/vocab.txt", bd);
    f = fopen(vp, "w");
    fputs("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n", f);
    for (int i = 5; i < 99; i++) fprintf(f, i < 31 ? "%c\n" : "w%d\n", i < 31 ? 'a' + i - 5 : i);
    fclose(f);
    path(npy, sizeof npy, "e.npy");
    path(txt2, sizeof txt2, "lines.txt");
    write_text(txt2, "a cab\nw40 w41 dead\n");
    rc = run(NABLA " embed --model %s --out %s %s", bd, npy, txt2);
    nb_ctx *c2 = nb_ctx_new(NULL);
    nb_module *bm = nb_model_from_dir(c2, bd, &(nb_model_dir_opts){.arch_set = 1, .arch = NB_BERT_MODEL});
    nb_tokenizer *bt = nb_tokenizer_from_dir(bd);
    int same = rc == 0 && bm && bt;
    FILE *nf = fopen(npy, "rb");
    char hdr[128];
    float got[64];
    same = same && nf && fread(hdr, 1, 128, nf) == 128 && fread(got, sizeof(float), 64, nf) == 64;
    if (nf) fclose(nf);
    nb_module_train(bm, 0);
    const char *ls[2] = {"a cab", "w40 w41 dead"};
    for (int i = 0; same && i < 2; i++) {
        nb_encoding e;
        nb_tokenizer_encode_pair(bt, ls[i], NULL, NULL, &e);
        nb_tensor *ids = nb_tensor_from(c2, NB_I64, 2, (int64_t[]){1, e.n}, e.ids);
        nb_tensor *h = nb_text_forward(bm, ids, NULL, NULL);
        same = h && !memcmp(nb_tensor_data(h), got + 32 * i, 32 * sizeof(float));
        nb_tensor_free(ids);
        nb_encoding_free(&e);
    }
    CHECK("nabla embed --model BERT_DIR: (2, 32) .npy of the [CLS] hidden states, as nb_text_forward gives them one by one",
          same, "rc %d: %s", rc, out);
    nb_module_free(bm), nb_tokenizer_free(bt);
    nb_ctx_free(c2);
    rc = run(NABLA " info tests/goldens/bert_tiny");
    CHECK("nabla info DIR: the architecture, sizes and parameter count (22,051 for the golden BERT)",
          rc == 0 && strstr(out, "BertForSequenceClassification, 2 layers, hidden 32") && strstr(out, "22051"), "rc %d: %s",
          rc, out);
    run("rm -rf %s", dir);
}

int main(void)
{
    if (!mkdtemp(dir)) return 2;
    wordnet();
    tsv_and_vocab();
    cli();
    CHECK_DONE();
}
