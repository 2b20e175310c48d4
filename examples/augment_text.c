/* augment_text.c - nlpaug-style text augmentation from C: word augmenters (random
 * delete, swap, substitute, crop), character augmenters (random character edits,
 * keyboard typos, OCR errors), WordNet synonyms and EDA random insertion, and a
 * pipeline written as a spec, each applied to one sentence a few times.
 *
 *   cc augment_text.c $(pkg-config --cflags --libs nabla) -o augment_text
 *   ./augment_text ["a sentence to augment"]
 *
 * Synonyms need WordNet (Debian's wordnet-base; nabla built with wordnet-dev); without
 * it those augmenters are refused with a message naming the package, and this
 * program prints the message and goes on. Back-translation (Apertium) works the same
 * way: nb_text_backtranslation_new or the spec "back_translation(pivot=spa)".
 * The command line does the same: echo "..." | nabla augment-text --aug SPEC -n 3.
 * docs/text-augmentation.md lists every augmenter and parameter.
 * NB_EXAMPLE_QUICK=1 changes nothing (it is already brief). */
#include <nabla.h>

#include <stdio.h>
#include <stdlib.h>

enum { VARIANTS = 3 };

/* Print VARIANTS augmentations of text by aug (consumed); 1 if aug is NULL for a
 * reason other than a missing package. */
static int show(const char *title, nb_text_aug *aug, const char *text, nb_rng *rng)
{
    printf("%s\n", title);
    if (!aug) {
        printf("    (not available: %s)\n", nb_last_error());
        return 0;
    }
    for (int i = 0; i < VARIANTS; i++) {
        char *out = nb_text_augment(aug, text, rng); /* a new string: free() it */
        if (!out) {
            fprintf(stderr, "augment_text: %s\n", nb_last_error());
            nb_text_aug_free(aug);
            return 1;
        }
        printf("    %s\n", out);
        free(out);
    }
    nb_text_aug_free(aug);
    return 0;
}

int main(int argc, char **argv)
{
    const char *text = argc > 1 ? argv[1] : "The quick brown fox jumps over the lazy dog near the quiet river bank.";
    nb_rng rng;
    nb_rng_seed(&rng, 7); /* every random choice comes from this generator */
    printf("original:\n    %s\n", text);

    /* Option structs: zero is nlpaug's default (aug_p 0.3, aug_min 1, aug_max 10). */
    const char *stop[] = {"fox", "dog"}; /* never edited */
    nb_text_word_opts words = {.aug_p = 0.2f, .stopwords = stop, .n_stopwords = 2};
    const char *targets[] = {"cat", "tree", "stone"};
    nb_text_char_opts chars = {.aug_word_p = 0.3f, .aug_char_p = 0.2f};
    int bad = 0;

    bad |= show("RandomWordAug(action='delete', aug_p=0.2), stopwords fox, dog:",
                nb_text_random_word_new(NB_TEXT_DELETE, &words, NULL, 0), text, &rng);
    bad |= show("RandomWordAug(action='swap', aug_p=0.2):", nb_text_random_word_new(NB_TEXT_SWAP, &words, NULL, 0),
                text, &rng);
    bad |= show("RandomWordAug(action='substitute', target_words=['cat', 'tree', 'stone']):",
                nb_text_random_word_new(NB_TEXT_SUBSTITUTE, &words, targets, 3), text, &rng);
    bad |= show("RandomWordAug(action='crop', aug_p=0.2):", nb_text_random_word_new(NB_TEXT_CROP, &words, NULL, 0),
                text, &rng);
    bad |= show("RandomCharAug(action='insert'):", nb_text_random_char_new(NB_TEXT_INSERT, &chars), text, &rng);
    bad |= show("RandomCharAug(action='swap'):", nb_text_random_char_new(NB_TEXT_SWAP, &chars), text, &rng);
    bad |= show("KeyboardAug:", nb_text_keyboard_new(&chars), text, &rng);
    bad |= show("OcrAug:", nb_text_ocr_new(NULL), text, &rng);
    bad |= show("SynonymAug(aug_src='wordnet', aug_p=0.3):", nb_text_synonym_new(&(nb_text_word_opts){.aug_p = 0.3f}),
                text, &rng);
    bad |= show("EDA random insertion of WordNet synonyms (aug_p=0.2):", nb_text_random_insert_new(&words), text, &rng);

    /* A pipeline from a spec: the syntax of `nabla augment-text --aug`. A spec error
     * names the column; a missing WordNet names the package. */
    const char *spec = "sometimes(synonym(p=0.3), random_swap(p=0.1), p=0.8), keyboard(p=0.1)";
    char title[256];
    snprintf(title, sizeof title, "spec \"%s\":", spec);
    bad |= show(title, nb_text_aug_from_spec(spec), text, &rng);

    /* Several lines at once (one Apertium call for all of them with back-translation). */
    nb_text_aug *swap = nb_text_aug_from_spec("random_swap(p=0.3)");
    const char *lines[] = {"first line of a small corpus", "and the second line of it"};
    char *outs[2];
    if (!swap || nb_text_augment_batch(swap, lines, 2, &rng, outs)) {
        fprintf(stderr, "augment_text: %s\n", nb_last_error());
        return 1;
    }
    printf("a batch of lines, random_swap(p=0.3):\n    %s\n    %s\n", outs[0], outs[1]);
    free(outs[0]);
    free(outs[1]);
    nb_text_aug_free(swap);
    return bad;
}
