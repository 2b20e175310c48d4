#!/bin/sh
# Build the libFuzzer targets (tests/fuzz/fuzz_NAME.c: one per reader of outside
# input) with clang (ASan + UBSan) and run each for SECONDS (default 60) from its
# seed corpus (tests/fuzz/corpus/NAME/) with its dictionary (tests/fuzz/NAME.dict).
# Exits non-zero when any target finds a crash, leak, timeout or sanitizer report
# (the reproducer is left in build-fuzz/NAME/).
# Needs Debian's clang, libclang-rt-14-dev (the libFuzzer runtime) and libomp-14-dev
# (clang's OpenMP; clang-14 does not pull it in).
#   sh tests/fuzz/run.sh [SECONDS] [fuzz_NAME ...]    (no names: every target)
# Environment: FUZZ_CC (clang), FUZZ_JOBS (parallel targets, 1), FUZZ_RUNS (at most N
# inputs per target, within SECONDS), FUZZ_TIMEOUT (seconds one input may take, 10; a
# campaign on a loaded machine needs more: libFuzzer measures wall time), FUZZ_SEED (libFuzzer's -seed; with FUZZ_RUNS a run repeats
# exactly, as CI's does), FUZZ_KEEP=1 (keep the grown corpus in build-fuzz/NAME/corpus).
set -eu
cd "$(dirname "$0")/../.."
SECONDS_=${1:-60}
[ $# -gt 0 ] && shift
CC=${FUZZ_CC:-clang}
OUT=build-fuzz
TARGETS=${*:-$(ls tests/fuzz/fuzz_*.c | sed 's|.*/||; s|\.c$||')}
mkdir -p "$OUT/obj" "$OUT/gen"
# an object is rebuilt when its .c is newer; a header change (a struct's layout) rebuilds all
[ -z "$(find include src -name '*.h' -newer "$OUT/obj/.stamp" 2>/dev/null | head -1)" ] && [ -f "$OUT/obj/.stamp" ] ||
    { rm -f "$OUT"/obj/*.o; touch "$OUT/obj/.stamp"; }
# the ONNX reader's protobuf code, generated from Debian's onnx.proto as the Makefile does
[ "$OUT/gen/onnx.pb-c.c" -nt /usr/include/onnx/onnx.proto ] ||
    protoc-c --proto_path=/usr/include/onnx --c_out="$OUT/gen" onnx.proto
# the whole library, as users link it (clang's OpenMP is libomp: libomp-14-dev),
# a file per job; the compute kernels (src/kernels/, never run by the readers) without
# the sanitizers, which would take a minute to build them
BASE="-std=c11 -D_GNU_SOURCE -DNB_HAVE_OPENBLAS -g -fno-omit-frame-pointer -fopenmp -Wno-pass-failed -Iinclude -Isrc -I$OUT/gen -Itools/nabla"
# Sizes that only cost time, smaller than the library's so each input is fast (the
# checks and code paths are the same): images of at most 2^20 pixels (2^26 in the
# library); CIFAR-10 batch files of 2 records (10,000 in the library: a 30 MB file
# per input ran 20-50 inputs a second).
FLAGS="$BASE -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -DNB_IMAGE_MAX_PIXELS=1048576 -DNB_CIFAR_RECORDS=2"
# the Makefile's ISA_SRC (kernels compiled once per instruction set) likewise, each with
# its _avx512, _avx2 and _generic entry points
ISA_SRC=$(sed -n 's/^ISA_SRC *:= *//p' Makefile)
[ -n "$ISA_SRC" ] || { echo "tests/fuzz/run.sh: no ISA_SRC line in the Makefile" >&2; exit 1; }
NOT_ISA=$(for f in $ISA_SRC; do printf ' ! -path %s' "$f"; done)
# shellcheck disable=SC2086 # NOT_ISA is a list of find arguments
{ find src -name '*.c' $NOT_ISA; echo "$OUT/gen/onnx.pb-c.c"; } | sort | xargs -P "$(nproc)" -I{} sh -c \
    'o="$1/obj/$(echo "$2" | tr / _).o"; [ "$o" -nt "$2" ] && exit 0
     case "$2" in src/kernels/*) f="$5 -O2";; *) f="$4";; esac
     $3 $f -c "$2" -o "$o"' sh "$OUT" {} "$CC" "$FLAGS" "$BASE"
for src in $ISA_SRC; do
    rm -f "$OUT/obj/$(echo "$src" | tr / _).o" # built once, without a suffix, before it was in ISA_SRC
    for isa in "avx512:-mavx512f -mavx512dq -mavx512bw -mavx512vl -mavx2 -mfma" "avx2:-mavx2 -mfma" "generic:"; do
        name=${isa%%:*}
        o="$OUT/obj/$(echo "$src" | tr / _ | sed 's/\.c$//').$name.o"
        [ "$o" -nt "$src" ] || $CC $BASE -O2 ${isa#*:} -DNB_ISA_SUFFIX=_$name -c "$src" -o "$o"
    done
done
BLAS_DIR=/usr/lib/$(gcc -print-multiarch)/openblas-openmp
WN=$([ -f /usr/include/wn.h ] && echo -lwordnet || true)
status=0
for t in $TARGETS; do
    name=${t#fuzz_}
    dir="$OUT/$name"
    rm -rf "$dir/corpus"
    mkdir -p "$dir/corpus"
    if ! $CC $FLAGS -fsanitize=fuzzer -o "$OUT/$t" "tests/fuzz/$t.c" "$OUT"/obj/*.o \
        -L"$BLAS_DIR" -l:libopenblas.so.0 -Wl,-rpath,"$BLAS_DIR" -lprotobuf-c -lcjson -lz -lstb -lpng -ljpeg $WN -lm -lpthread; then
        echo "$t: does not build"
        status=1
        continue
    fi
    [ -d "tests/fuzz/corpus/$name" ] && cp "tests/fuzz/corpus/$name"/* "$dir/corpus/"
    if [ "$name" = onnx ]; then # ONNX's own small test models (libonnx-testdata) as seeds
        for f in /usr/share/libonnx-testdata/data/node/*/model.onnx; do
            [ "$(stat -c %s "$f")" -le 4096 ] && cp "$f" "$dir/corpus/$(basename "$(dirname "$f")").onnx"
        done
    fi
    dict=$([ -f "tests/fuzz/$name.dict" ] && echo "-dict=tests/fuzz/$name.dict" || true)
    limit="-max_total_time=$SECONDS_"
    [ -n "${FUZZ_RUNS:-}" ] && limit="$limit -runs=$FUZZ_RUNS" # whichever ends first
    [ -n "${FUZZ_SEED:-}" ] && limit="$limit -seed=$FUZZ_SEED"
    # -rss_limit_mb/-malloc_limit_mb: a header may promise huge sizes; the readers must
    # refuse them before allocating. -timeout: one input may not take 10 s (a hang).
    t0=$(date +%s)
    set +e
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} "$OUT/$t" "$dir/corpus" $limit $dict -rss_limit_mb=2048 \
        -malloc_limit_mb=2048 -timeout="${FUZZ_TIMEOUT:-10}" -max_len=8192 -print_final_stats=1 -artifact_prefix="$dir/" \
        >"$dir/fuzz.log" 2>&1
    rc=$?
    set -e
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$dir/fuzz.log" | grep -o '[0-9]*$' || echo '?')
    cov=$(grep -o 'cov: [0-9]*' "$dir/fuzz.log" | tail -n 1 | grep -o '[0-9]*$' || echo '?')
    if [ "$rc" -ne 0 ]; then
        grep -E 'ERROR|SUMMARY|Test unit written|==[0-9]+==' "$dir/fuzz.log" | head -n 8
        status=1
    fi
    [ -n "${FUZZ_KEEP:-}" ] || rm -rf "$dir/corpus"
    echo "$t: $(($(date +%s) - t0))s, $execs runs, coverage $cov, status $rc"
done
exit $status
