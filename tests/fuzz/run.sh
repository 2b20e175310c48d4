#!/bin/sh
# Build the libFuzzer target for the safetensors reader (TARGET safetensors, the
# default) or the ONNX reader (TARGET onnx) with clang (ASan + UBSan) and run it for
# SECONDS (default 60) from the seed corpus; exits non-zero on a crash, leak or
# sanitizer report (the reproducer is left in build-fuzz/). The ONNX target's seeds
# are the small models of Debian's libonnx-testdata.
# Needs Debian's clang, libclang-rt-14-dev (the libFuzzer runtime) and libomp-14-dev
# (clang's OpenMP; clang-14 does not pull it in).
#   sh tests/fuzz/run.sh [SECONDS] [TARGET]
set -eu
cd "$(dirname "$0")/../.."
SECONDS_=${1:-60}
TARGET=${2:-safetensors}
CC=${FUZZ_CC:-clang}
OUT=build-fuzz
mkdir -p "$OUT/corpus-$TARGET"
# the whole library, as users link it (clang's OpenMP is libomp: libomp-14-dev),
# a file per job; the compute kernels (src/kernels/, never run by the reader) without
# the sanitizers, which would take a minute to build them
BASE="-std=c11 -D_GNU_SOURCE -DNB_HAVE_OPENBLAS -g -fno-omit-frame-pointer -fopenmp -Wno-pass-failed -Iinclude -Isrc -I$OUT/gen"
# the ONNX reader's protobuf code, generated as the Makefile does
mkdir -p "$OUT/gen"
protoc-c --proto_path=/usr/include/onnx --c_out="$OUT/gen" onnx.proto
FLAGS="$BASE -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined"
mkdir -p "$OUT/obj"
{ find src -name '*.c'; echo "$OUT/gen/onnx.pb-c.c"; } | sort | xargs -P "$(nproc)" -I{} sh -c \
    'case "$2" in src/kernels/*) f="$5 -O2";; *) f="$4";; esac
     $3 $f -c "$2" -o "$1/obj/$(echo "$2" | tr / _).o"' sh "$OUT" {} "$CC" "$FLAGS" "$BASE"
BLAS_DIR=/usr/lib/$(gcc -print-multiarch)/openblas-openmp
WN=$([ -f /usr/include/wn.h ] && echo -lwordnet || true)
$CC $FLAGS -fsanitize=fuzzer -o "$OUT/fuzz_$TARGET" "tests/fuzz/fuzz_$TARGET.c" "$OUT"/obj/*.o \
    -L"$BLAS_DIR" -l:libopenblas.so.0 -Wl,-rpath,"$BLAS_DIR" -lprotobuf-c -lcjson -lz -lstb $WN -lm -lpthread
if [ "$TARGET" = onnx ]; then
    DICT=
    for f in /usr/share/libonnx-testdata/data/node/*/model.onnx; do
        if [ "$(stat -c %s "$f")" -le 4096 ]; then cp "$f" "$OUT/corpus-$TARGET/$(basename "$(dirname "$f")").onnx"; fi
    done
else
    DICT=-dict=tests/fuzz/safetensors.dict
    cp tests/fuzz/corpus/* "$OUT/corpus-$TARGET/"
fi
# -rss_limit_mb: a header may promise huge tensors; the reader must refuse them before allocating
set +e
"$OUT/fuzz_$TARGET" "$OUT/corpus-$TARGET" -max_total_time="$SECONDS_" $DICT \
    -rss_limit_mb=2048 -max_len=4096 -print_final_stats=1 -artifact_prefix="$OUT/" >"$OUT/fuzz-$TARGET.log" 2>&1
status=$?
set -e
tail -n 25 "$OUT/fuzz-$TARGET.log"
echo "fuzz_$TARGET: ran ${SECONDS_}s, status $status"
exit $status
