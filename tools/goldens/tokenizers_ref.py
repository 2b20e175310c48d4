#!/usr/bin/python3
"""A reference of the published tokenization algorithms, written for nabla's tests (no
Hugging Face `tokenizers`/`transformers` here), and the test data it produces.

BERT (google-research/bert tokenization.py, as transformers' BertTokenizer):
  BasicTokenizer: drop U+0000, U+FFFD and control characters (category C*, except \\t
  \\n \\r), whitespace (space, \\t, \\n, \\r, Zs) -> space; spaces around CJK ideographs;
  split on whitespace (str.split); per token: lower-case (str.lower) and strip accents
  (NFD, drop Mn) when do_lower_case; split off every punctuation character (category P*
  and the ASCII symbols); special tokens ([CLS], [SEP], [MASK], [PAD], [UNK]) in the
  text are kept whole. WordpieceTokenizer: greedy longest match first, continuations
  prefixed "##", a word with no full match (or over 100 characters) is [UNK].
  Encoding: [CLS] A [SEP] (B [SEP]), token types 0 then 1, truncation longest_first,
  padding with [PAD] and attention mask 0.
GPT-2 (openai/gpt-2 encoder.py, as transformers' GPT2Tokenizer): the pre-tokenization
  pattern 's|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+
  matched by hand (\\p{L}, \\p{N} by unicodedata category, \\s Unicode White_Space),
  each piece's UTF-8 bytes mapped by bytes_to_unicode, merged by rank.

Writes tests/goldens/tokenizers/: bert_vocab.txt (a WordPiece vocabulary from WordNet's
glosses and the test lines' characters but symbols), gpt2_vocab.json + gpt2_merges.txt (a byte-level BPE trained on them), and
cases.txt: per test line the BERT and GPT-2 ids, pair encodings with truncation and
padding, and a hash of the ids of every WordNet gloss.

Run: /usr/bin/python3 tools/goldens/tokenizers_ref.py
"""
import collections
import json
import os
import unicodedata

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "goldens", "tokenizers")
WORDNET = "/usr/share/wordnet"
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


# ---------------- BERT ----------------
def is_whitespace(c):
    return c in " \t\n\r" or unicodedata.category(c) == "Zs"


def is_control(c):
    if c in "\t\n\r":
        return False
    return unicodedata.category(c).startswith("C")


def is_punctuation(c):
    cp = ord(c)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(c).startswith("P")


def is_cjk(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF or 0x2A700 <= cp <= 0x2B73F
            or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF or 0xF900 <= cp <= 0xFAFF
            or 0x2F800 <= cp <= 0x2FA1F)


def strip_accents(t):
    return "".join(c for c in unicodedata.normalize("NFD", t) if unicodedata.category(c) != "Mn")


def split_punc(t):
    out, cur = [], ""
    for c in t:
        if is_punctuation(c):
            if cur:
                out.append(cur)
            out.append(c)
            cur = ""
        else:
            cur += c
    if cur:
        out.append(cur)
    return out


def basic_tokenize(text, lower=True):
    text = "".join(" " if is_whitespace(c) else c for c in text
                   if not (ord(c) == 0 or ord(c) == 0xFFFD or is_control(c)))
    text = "".join(" %s " % c if is_cjk(ord(c)) else c for c in text)
    out = []
    for tok in text.strip().split():
        if lower:
            tok = strip_accents(tok.lower())
        out.extend(split_punc(tok))
    return " ".join(out).split()


def wordpiece(word, vocab):
    if len(word) > 100:
        return ["[UNK]"]
    out, start = [], 0
    while start < len(word):
        end, cur = len(word), None
        while start < end:
            sub = word[start:end]
            if start > 0:
                sub = "##" + sub
            if sub in vocab:
                cur = sub
                break
            end -= 1
        if cur is None:
            return ["[UNK]"]
        out.append(cur)
        start = end
    return out


def split_special(text):
    """Segments of text and the special tokens in it, in order."""
    out, i, seg = [], 0, ""
    while i < len(text):
        hit = next((s for s in SPECIAL if text.startswith(s, i)), None)
        if hit:
            out.append((seg, False))
            out.append((hit, True))
            seg = ""
            i += len(hit)
        else:
            seg += text[i]
            i += 1
    out.append((seg, False))
    return [(s, sp) for s, sp in out if sp or s]


def bert_tokens(text, vocab, lower=True):
    toks = []
    for seg, special in split_special(text):
        if special:
            toks.append(seg)
        else:
            for w in basic_tokenize(seg, lower):
                toks.extend(wordpiece(w, vocab))
    return toks


def bert_ids(text, vocab, lower=True):
    return [vocab[t] for t in bert_tokens(text, vocab, lower)]


def bert_encode(a, b, vocab, max_length=None, pad_to=None):
    ia, ib = bert_ids(a, vocab), bert_ids(b, vocab) if b is not None else None
    if max_length is not None:  # longest_first: drop the last token of the longer, one at a time
        room = max_length - (3 if ib is not None else 2)
        while len(ia) + (len(ib) if ib is not None else 0) > room:
            if ib is not None and len(ib) > len(ia):
                ib.pop()
            else:
                ia.pop()
    ids = [vocab["[CLS]"]] + ia + [vocab["[SEP]"]]
    tt = [0] * len(ids)
    if ib is not None:
        ids += ib + [vocab["[SEP]"]]
        tt += [1] * (len(ib) + 1)
    mask = [1] * len(ids)
    if pad_to is not None and len(ids) < pad_to:
        n = pad_to - len(ids)
        ids += [vocab["[PAD]"]] * n
        tt += [0] * n
        mask += [0] * n
    return ids, tt, mask


# ---------------- GPT-2 ----------------
def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


B2U = bytes_to_unicode()


def is_L(c):
    return unicodedata.category(c)[0] == "L"


def is_N(c):
    return unicodedata.category(c)[0] == "N"


def is_S(c):  # Unicode White_Space
    cp = ord(c)
    return (9 <= cp <= 13 or cp in (0x20, 0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000)
            or 0x2000 <= cp <= 0x200A)


def pretokenize(text):
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        m = 0
        if c == "'":
            for s in ("s", "t", "re", "ve", "m", "ll", "d"):
                if text.startswith(s, i + 1):
                    m = 1 + len(s)
                    break
        if not m:
            for cls in (is_L, is_N, lambda x: not (is_S(x) or is_L(x) or is_N(x))):
                j = i + 1 if c == " " and i + 1 < n and cls(text[i + 1]) else i
                if j < n and cls(text[j]):
                    k = j
                    while k < n and cls(text[k]):
                        k += 1
                    m = k - i
                    break
        if not m and is_S(c):
            k = i
            while k < n and is_S(text[k]):
                k += 1
            # \s+(?!\S): the run, less its last character when a non-space follows it
            m = k - i if k == n or k - i == 1 else k - i - 1
        out.append(text[i:i + m])
        i += m
    return out


def get_pairs(word):
    return set(zip(word, word[1:]))


def bpe(token, ranks, cache):
    if token in cache:
        return cache[token]
    word = tuple(token)
    pairs = get_pairs(word)
    while pairs:
        bigram = min(pairs, key=lambda p: ranks.get(p, float("inf")))
        if bigram not in ranks:
            break
        first, second = bigram
        new, i = [], 0
        while i < len(word):
            try:
                j = word.index(first, i)
            except ValueError:
                new.extend(word[i:])
                break
            new.extend(word[i:j])
            i = j
            if word[i] == first and i < len(word) - 1 and word[i + 1] == second:
                new.append(first + second)
                i += 2
            else:
                new.append(word[i])
                i += 1
        word = tuple(new)
        if len(word) == 1:
            break
        pairs = get_pairs(word)
    cache[token] = word
    return word


def gpt2_ids(text, encoder, ranks, cache):
    ids = []
    for piece in pretokenize(text):
        u = "".join(B2U[b] for b in piece.encode("utf-8"))
        ids.extend(encoder[t] for t in bpe(u, ranks, cache))
    return ids


def train_bpe(texts, n_merges):
    words = collections.Counter()
    for t in texts:
        for p in pretokenize(t):
            words["".join(B2U[b] for b in p.encode("utf-8"))] += 1
    words = {tuple(w): c for w, c in words.items()}
    merges = []
    for _ in range(n_merges):
        pc = collections.Counter()
        for w, c in words.items():
            for p in zip(w, w[1:]):
                pc[p] += c
        if not pc:
            break
        best = min(pc, key=lambda p: (-pc[p], p))
        merges.append(best)
        nw = {}
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i < len(w) - 1 and (w[i], w[i + 1]) == best:
                    out.append(w[i] + w[i + 1])
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            nw[tuple(out)] = nw.get(tuple(out), 0) + c
        words = nw
    return merges


# ---------------- data ----------------
def wordnet_glosses():
    out = []
    for pos in ("noun", "verb", "adj", "adv"):
        with open(os.path.join(WORDNET, "data." + pos), encoding="utf-8") as f:
            for line in f:
                if line.startswith("  "):
                    continue
                bar = line.find(" | ")
                if bar >= 0:
                    out.append(line[bar + 3:].rstrip("\n").rstrip())
    return out


TEST_LINES = [
    "Hello, world! This is a test.",
    "don't stop: I'll, we've, they're, she'd, it's, I'm",
    "'S 'T 'RE upper-case contractions stay apart",
    "  multiple   spaces  and trailing   ",
    "tabs\tand\nnewlines\n\n\nthree",
    "naïve café résumé Ångström",
    "e\u0301te\u0301 combining accents",
    "İstanbul ǅemal ΣΊΣΥΦΟΣ ß",
    "Ελληνικά Русский «quotes» — dash… ¿qué? ¡sí!",
    "「日本語」のテキスト 中文字符 漢字",
    "안녕하세요 세계! 😀 café naïve 👍🏽 e\u0301t\u00e9 🇰🇷 👨‍👩‍👧 done\t\r\n",
    "안녕하세요 세계 😀 café naïve 👍🏽 e\u0301te\u0301 👨‍👩‍👧 한국어를 공부합니다",
    "한국어를공부 안녕하세요",
    "numbers 3.14 and 1,000,000 and ٣٤٥ and ½",
    "[CLS] the [MASK] sat on the [SEP] mat [PAD]",
    "zero\u200bwidth soft\u00adhyphen nbsp\u00a0here\u3000ideographic",
    "line\u2028separator and para\u2029graph",
    "control\x01chars\x7f and \ufffd replacement",
    "x" * 150 + " long word",
    "a dog; a cat's toy (small)",
    "",
    "   ",
    "emoji only 😀😀😀",
    "The quick brown fox jumps over the lazy dog.",
]

PAIRS = [  # a, b, max_length, pad_to
    ("a dog is an animal", "the cat sat", None, None),
    ("a dog is an animal", "the cat sat on the mat", 10, 12),
    ("one two three four five six seven", "eight", 8, None),
    ("short", None, None, 8),
    ("a long sentence that will be cut here", None, 6, None),
]


def fnv(h, s):
    for b in s.encode():
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def main():
    os.makedirs(OUT, exist_ok=True)
    glosses = wordnet_glosses()
    # BERT vocabulary: specials, every character of the lower-cased glosses and its ##
    # form, the 1500 most frequent words, a few suffixes
    words = collections.Counter()
    chars = set()
    for g in glosses:
        for w in basic_tokenize(g):
            words[w] += 1
            chars.update(w)
    # the test lines' characters too (Greek with its final sigma, Hangul jamo after NFD,
    # CJK), except symbols (emoji), which stay [UNK]
    for t in TEST_LINES:
        for w in basic_tokenize(t):
            chars.update(c for c in w if unicodedata.category(c)[0] != "S")
    vocab_list = list(SPECIAL)
    for c in sorted(chars):
        vocab_list.append(c)
    for c in sorted(chars):
        vocab_list.append("##" + c)
    for w, _ in sorted(words.items(), key=lambda kv: (-kv[1], kv[0]))[:1500]:
        if w not in vocab_list:
            vocab_list.append(w)
    for s in ("##s", "##ed", "##ing", "##ly", "##er", "##tion", "##al", "##ness", "##able", "##ic"):
        if s not in vocab_list:
            vocab_list.append(s)
    seen = set()
    vocab_list = [v for v in vocab_list if not (v in seen or seen.add(v))]
    vocab = {t: i for i, t in enumerate(vocab_list)}
    with open(os.path.join(OUT, "bert_vocab.txt"), "w", encoding="utf-8") as f:
        f.write("".join(t + "\n" for t in vocab_list))
    # GPT-2: 400 merges trained on the first 20,000 glosses
    merges = train_bpe(glosses[:20000], 400)
    enc_list = [B2U[b] for b in sorted(B2U)] + ["".join(m) for m in merges] + ["<|endoftext|>"]
    encoder = {}
    for t in enc_list:
        encoder.setdefault(t, len(encoder))
    ranks = {m: i for i, m in enumerate(merges)}
    with open(os.path.join(OUT, "gpt2_vocab.json"), "w", encoding="utf-8") as f:
        json.dump(encoder, f, ensure_ascii=False)
    with open(os.path.join(OUT, "gpt2_merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "".join("%s %s\n" % m for m in merges))
    cache = {}
    with open(os.path.join(OUT, "cases.txt"), "w", encoding="utf-8") as f:
        f.write("# lines: kind<TAB>escaped text (json string)<TAB>ids (space separated) ...; "
                "written by tools/goldens/tokenizers_ref.py\n")
        for t in TEST_LINES:
            f.write("bert\t%s\t%s\n" % (json.dumps(t, ensure_ascii=False), " ".join(map(str, bert_ids(t, vocab)))))
            f.write("gpt2\t%s\t%s\n" % (json.dumps(t, ensure_ascii=False),
                                       " ".join(map(str, gpt2_ids(t, encoder, ranks, cache)))))
        for a, b, ml, pad in PAIRS:
            ids, tt, mask = bert_encode(a, b, vocab, ml, pad)
            f.write("pair\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n" % (
                json.dumps(a), json.dumps(b if b is not None else ""), ml or 0, pad or 0,
                " ".join(map(str, ids)), " ".join(map(str, tt)), " ".join(map(str, mask))))
        hb = hg = 0xCBF29CE484222325
        for g in glosses:
            hb = fnv(hb, " ".join(map(str, bert_ids(g, vocab))) + "\n")
            hg = fnv(hg, " ".join(map(str, gpt2_ids(g, encoder, ranks, cache))) + "\n")
        f.write("wordnet\t%d\t%016x\t%016x\n" % (len(glosses), hb, hg))
    print("vocab", len(vocab), "merges", len(merges), "glosses", len(glosses))


if __name__ == "__main__":
    main()
