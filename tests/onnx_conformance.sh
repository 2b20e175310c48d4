#!/bin/sh
# Run ONNX's own backend tests (Debian's libonnx-testdata) through nabla's ONNX
# reader: one line per test, a per-op table, then "N passed, N failed, ...".
# Exits non-zero when a test not in tests/onnx_expected_failures.txt fails.
#   sh tests/onnx_conformance.sh [--filter SUBSTR] [--data DIR]
set -eu
cd "$(dirname "$0")/.."
${MAKE:-make} -s build/tests/onnx_conformance
exec build/tests/onnx_conformance --expected tests/onnx_expected_failures.txt "$@"
