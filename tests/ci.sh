#!/bin/bash
# The full check CI runs (also handy locally): build, the layer check, the docs checks, tests,
# tests under ASan+UBSan, install + examples built with pkg-config. Ends with the summed
# "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
J=$(nproc 2>/dev/null || echo 2)
P=0
F=0
stage() { # name, command...: runs the command, counts its "N passed, N failed" line or its status
    local name=$1
    shift
    echo "=== $name"
    local log
    log=$(mktemp)
    "$@" >"$log" 2>&1
    local rc=$?
    local line
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
    if [ -n "$line" ]; then
        grep -E '^(FAIL|SKIP)|^[^ ]+: FAIL |exited with status|: [0-9]+ passed, [1-9][0-9]* failed' "$log"
        local p f
        p=$(echo "$line" | sed -E 's/^([0-9]+) passed.*/\1/')
        f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
        if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
        echo "$name: $p passed, $f failed"
        P=$((P + p))
        F=$((F + f))
    elif [ "$rc" -eq 0 ]; then
        echo "$name: ok"
        P=$((P + 1))
    else
        tail -n 30 "$log"
        echo "$name: FAILED (status $rc)"
        F=$((F + 1))
    fi
    rm -f "$log"
}
stage build make -j"$J"
stage layers sh tests/layers.sh # each file includes and calls only its own layer and those below (docs/internals.md)
stage docs sh tests/docs_concepts.sh # every name, path, option and spec docs/concepts.md cites exists
stage docs-commands sh tests/docs_commands.sh # every command of docs/tutorial.md and README.md, run as written (a few minutes)
stage tests make -j"$J" test
stage isa sh tests/isa.sh # the kernel tests again with NB_ISA=avx2 and NB_ISA=generic (a few minutes)
stage sanitizers make -j"$J" SAN=1 test
stage mpi bash tests/dist.sh # data parallelism: 2 ranks under Open MPI (mpirun --oversubscribe, as root in CI)
stage onnx-conformance sh tests/onnx_conformance.sh # ONNX's backend test data (libonnx-testdata)
# every model exported, checked by python3-onnx's checker and run in onnxruntime (npm's
# onnxruntime-node, which the script installs with `npm install --ignore-scripts`)
stage onnx-export bash tests/onnx_export.sh
# libFuzzer on each reader of outside input (clang, libclang-rt-14-dev): a fixed seed, at
# most 30,000 inputs or 20 s a target, so CI repeats (a prefix of) a run that passed here;
# the long campaigns are docs/security.md's
stage fuzz env FUZZ_SEED=1 FUZZ_RUNS=30000 sh tests/fuzz/run.sh 20
PREFIX_DIR=$(mktemp -d)
stage install make install PREFIX="$PREFIX_DIR"
stage examples sh tests/examples.sh "$PREFIX_DIR"
echo "$P passed, $F failed"
[ "$F" -eq 0 ]
