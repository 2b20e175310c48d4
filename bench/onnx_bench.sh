#!/bin/bash
# resnet18 inference from an ONNX file, side by side in one run (BENCHMARKS.md, "ONNX
# inference"): nabla (`nabla run --time` on the file `nabla export` writes),
# onnxruntime (npm's onnxruntime-node, tools/onnx/ort_run.js, the same file) and
# PyTorch (torchvision's resnet18, bench/torch_infer.py), batch 1 and 32, 1 and 2
# threads. One line per measurement: the median and the mean microseconds per batch.
#   bash bench/onnx_bench.sh [B1_WARMUP,B1_RUNS [B32_WARMUP,B32_RUNS]]   (defaults 10,50 and 3,10)
# Needs onnxruntime-node in $ORT_NODE_DIR/node_modules (default build/ort-node; installed
# there with `npm install --ignore-scripts onnxruntime-node` when missing) and Debian's
# python3-torch and python3-torchvision for the PyTorch lines (skipped without them).
# Run it on an idle machine; it prints the load before and after.
set -eu
cd "$(dirname "$0")/.."
make -s build/nabla
T1=${1:-10,50}
T32=${2:-3,10}
ORT_NODE_DIR=${ORT_NODE_DIR:-$PWD/build/ort-node}
if [ ! -d "$ORT_NODE_DIR/node_modules/onnxruntime-node" ]; then
    mkdir -p "$ORT_NODE_DIR"
    (cd "$ORT_NODE_DIR" && npm install --ignore-scripts --no-audit --no-fund "onnxruntime-node@${ORT_NODE_VERSION:-1.31.1}" >npm.log 2>&1)
fi
export NODE_PATH=$ORT_NODE_DIR/node_modules
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT
echo "load before: $(uptime)"
ORT_VERSION=$(node -p "require('onnxruntime-node/package.json').version")
echo "onnxruntime-node $ORT_VERSION, nabla at $(git rev-parse --short HEAD 2>/dev/null || echo unknown), NB_ISA=${NB_ISA:-auto}"
build/nabla export --model resnet18 --input 3,224,224 --num-classes 1000 --out "$D/resnet18.onnx" >/dev/null
for B in 1 32; do
    /usr/bin/python3 tools/onnx/export_check.py input "$D/x$B.npy" float32 1 $B 3 224 224
    [ "$B" = 1 ] && TIME=$T1 || TIME=$T32
    W=${TIME%,*}
    R=${TIME#*,}
    for T in 1 2; do
        echo "resnet18 batch=$B threads=$T nabla: $(build/nabla run "$D/resnet18.onnx" "$D/x$B.npy" --threads $T --time "$TIME")"
        echo "resnet18 batch=$B threads=$T onnxruntime: $(node tools/onnx/ort_run.js "$D/resnet18.onnx" "$D/x$B.npy" --threads $T --time "$TIME")"
        if /usr/bin/python3 -c "import torch, torchvision" 2>/dev/null; then
            echo "resnet18 batch=$B threads=$T pytorch: $(/usr/bin/python3 bench/torch_infer.py --batch $B --threads $T --warmup "$W" --runs "$R")"
        fi
    done
done
echo "load after: $(uptime)"

