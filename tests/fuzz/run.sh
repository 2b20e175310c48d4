#!/bin/sh
# Build the libFuzzer target for the safetensors reader with clang (ASan + UBSan)
# and run it for SECONDS (default 60) from the seed corpus; exits non-zero on a
# crash, leak or sanitizer report (the reproducer is left in build-fuzz/).
# Needs Debian's clang, libclang-rt-14-dev (the libFuzzer runtime) and libomp-14-dev
# (clang's OpenMP; clang-14 does not pull it in).
#   sh tests/fuzz/run.sh [SECONDS]
set -eu
cd "$(dirname "$0")/../.."
SECONDS_=${1:-60}
CC=${FUZZ_CC:-clang}
OUT=build-fuzz
mkdir -p "$OUT/corpus"
# the whole library, as users link it (clang's OpenMP is libomp: libomp-14-dev),
# a file per job; the compute kernels (src/kernels/, never run by the reader) without
# the sanitizers, which would take a minute to build them
BASE="-std=c11 -D_GNU_SOURCE -DNB_HAVE_OPENBLAS -g -fno-omit-frame-pointer -fopenmp -Wno-pass-failed -Iinclude -Isrc/core"
FLAGS="$BASE -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined"
mkdir -p "$OUT/obj"
find src -name '*.c' | sort | xargs -P "$(nproc)" -I{} sh -c \
    'case "$2" in src/kernels/*) f="$5 -O2";; *) f="$4";; esac
     $3 $f -c "$2" -o "$1/obj/$(echo "$2" | tr / _).o"' sh "$OUT" {} "$CC" "$FLAGS" "$BASE"
BLAS_DIR=/usr/lib/$(gcc -print-multiarch)/openblas-openmp
WN=$([ -f /usr/include/wn.h ] && echo -lwordnet || true)
$CC $FLAGS -fsanitize=fuzzer -o "$OUT/fuzz_safetensors" tests/fuzz/fuzz_safetensors.c "$OUT"/obj/*.o \
    -L"$BLAS_DIR" -l:libopenblas.so.0 -Wl,-rpath,"$BLAS_DIR" -lz -lstb -lcjson $WN -lm -lpthread
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
