#!/bin/sh
# Build the libFuzzer target for the safetensors reader with clang (ASan + UBSan)
# and run it for SECONDS (default 60) from the seed corpus; exits non-zero on a
# crash, leak or sanitizer report (the reproducer is left in build-fuzz/).
# Needs Debian's clang and libclang-rt-14-dev (the libFuzzer runtime).
#   sh tests/fuzz/run.sh [SECONDS]
set -eu
cd "$(dirname "$0")/../.."
SECONDS_=${1:-60}
CC=${FUZZ_CC:-clang}
OUT=build-fuzz
mkdir -p "$OUT/corpus"
# only what the reader needs: no OpenMP, no BLAS
SRC="src/io/safetensors.c src/io/atomic.c src/core/error.c src/core/tensor.c src/core/arena.c src/core/ctx.c
     src/core/rng.c src/core/autograd.c src/nn/module.c"
$CC -std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
    -fno-sanitize-recover=undefined -Iinclude -Isrc/core -o "$OUT/fuzz_safetensors" \
    tests/fuzz/fuzz_safetensors.c $SRC -lm
cp tests/fuzz/corpus/* "$OUT/corpus/"
# -rss_limit_mb: a header may promise huge tensors; the reader must refuse them before allocating
set +e
"$OUT/fuzz_safetensors" "$OUT/corpus" -max_total_time="$SECONDS_" -dict=tests/fuzz/safetensors.dict \
    -rss_limit_mb=2048 -max_len=4096 -print_final_stats=1 -artifact_prefix="$OUT/" >"$OUT/fuzz.log" 2>&1
status=$?
set -e
tail -n 25 "$OUT/fuzz.log"
echo "fuzz_safetensors: ran ${SECONDS_}s, status $status"
exit $status
