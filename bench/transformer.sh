#!/bin/sh
# Transformers side by side (issue 16): PyTorch (bench/torch_transformer.py) and nabla
# (bench/transformer.c) on the same BERT-Tiny and 6-layer GPT-2, 1 and 2 threads:
# training tokens/s, batch-1 latency for 128 tokens, generation tokens/s. Run on an
# otherwise idle machine from the repository root:
#   sh bench/transformer.sh [STEPS]
set -eu
cd "$(dirname "$0")/.."
STEPS=${1:-5}
make -s bench/transformer
echo "## $(date -u '+%Y-%m-%d %H:%M UTC')"
for t in 1 2; do
    /usr/bin/python3 bench/torch_transformer.py "$t" "$STEPS"
    build/bench/transformer "$t" "$STEPS"
done
