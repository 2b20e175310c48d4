#!/bin/bash
# zoo.sh - the model zoo side by side with PyTorch, in one run: for each model and
# thread count, `nabla bench` and bench/torch_bench.py alternately (A B A B ...), REPEAT
# rounds, each line as printed (train_img_per_s, infer_b1_us and its median, peak_rss_mb; nabla's line
# says which ISA ran). Run from the repository root after `make`:
#   bash bench/zoo.sh [STEPS] [REPEAT] [MODEL:C,H,W ...]
# Default models: cnn and resnet_small on Fashion-MNIST (batch 128), resnet18 and
# vgg11_bn on synthetic 3x32x32 batches of 64 (VGG cannot run at 28x28).
# BASE=path/to/another/nabla runs that binary too, just before build/nabla each time
# (paired before/after lines; its lines are prefixed "base:").
set -u
cd "$(dirname "$0")/.."
STEPS=${1:-20}
REPEAT=${2:-2}
shift $(($# < 2 ? $# : 2))
SPECS=("$@")
[ ${#SPECS[@]} -eq 0 ] && SPECS=(cnn: resnet_small: resnet18:3,32,32 vgg11_bn:3,32,32)
echo "## $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)"
for spec in "${SPECS[@]}"; do
    model=${spec%%:*}
    input=${spec#*:}
    if [ -n "$input" ]; then
        nargs=(--input "$input" --batch-size 64)
        targs=(--input "$input" --batch 64)
    else
        nargs=()
        targs=()
    fi
    for t in 1 2; do
        for _ in $(seq "$REPEAT"); do
            if [ -n "${BASE:-}" ]; then
                printf 'base: '
                "$BASE" bench --model "$model" --threads "$t" --steps "$STEPS" "${nargs[@]}" 2>&1 | tail -n 1
            fi
            build/nabla bench --model "$model" --threads "$t" --steps "$STEPS" "${nargs[@]}" 2>&1 | tail -n 1
            /usr/bin/python3 bench/torch_bench.py --model "$model" --threads "$t" --steps "$STEPS" "${targs[@]}" 2>&1 | tail -n 1
        done
    done
done
echo "## load after: $(cut -d' ' -f1-3 /proc/loadavg)"
