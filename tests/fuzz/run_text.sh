#!/bin/sh
# Build the libFuzzer target for the text-model file readers and the tokenizers
# (tests/fuzz/fuzz_text_files.c: config.json, vocab.txt, vocab.json + merges.txt,
# tokenizer input) with clang (ASan + UBSan) and run it for SECONDS (default 60) from
# tests/fuzz/corpus_text; exits non-zero on a crash, leak or sanitizer report (the
# reproducer is left in build-fuzz/). Same packages as tests/fuzz/run.sh.
#   sh tests/fuzz/run_text.sh [SECONDS]
set -eu
cd "$(dirname "$0")/../.."
SECONDS_=${1:-60}
CC=${FUZZ_CC:-clang}
OUT=build-fuzz
mkdir -p "$OUT/corpus_text" "$OUT/obj"
BASE="-std=c11 -D_GNU_SOURCE -DNB_HAVE_OPENBLAS -g -fno-omit-frame-pointer -fopenmp -Wno-pass-failed -Iinclude -Isrc"
FLAGS="$BASE -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined"
find src -name '*.c' | sort | xargs -P "$(nproc)" -I{} sh -c \
    'case "$2" in src/kernels/*) f="$5 -O2";; *) f="$4";; esac
     $3 $f -c "$2" -o "$1/obj/$(echo "$2" | tr / _).o"' sh "$OUT" {} "$CC" "$FLAGS" "$BASE"
BLAS_DIR=/usr/lib/$(gcc -print-multiarch)/openblas-openmp
WN=$([ -f /usr/include/wn.h ] && echo -lwordnet || true)
$CC $FLAGS -fsanitize=fuzzer -o "$OUT/fuzz_text_files" tests/fuzz/fuzz_text_files.c "$OUT"/obj/*.o \
    -L"$BLAS_DIR" -l:libopenblas.so.0 -Wl,-rpath,"$BLAS_DIR" -lz -lstb -lcjson $WN -lm -lpthread
cp tests/fuzz/corpus_text/* "$OUT/corpus_text/"
set +e
"$OUT/fuzz_text_files" "$OUT/corpus_text" -max_total_time="$SECONDS_" -rss_limit_mb=2048 -max_len=4096 \
    -print_final_stats=1 -artifact_prefix="$OUT/" >"$OUT/fuzz_text.log" 2>&1
status=$?
set -e
tail -n 25 "$OUT/fuzz_text.log"
echo "fuzz_text_files: ran ${SECONDS_}s, status $status"
exit $status
