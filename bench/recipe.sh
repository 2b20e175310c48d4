#!/bin/sh
# recipe.sh - issue 14's two time-to-accuracy figures, on an idle machine, after `make`:
#   1. `nabla train` with its defaults (the cnn3, 9 epochs, cosine schedule, label smoothing
#      0.1) for seeds 1, 2 and 3, and with --baseline also PyTorch's baseline model and recipe
#      (--model cnn --epochs 10 --lr-schedule none --label-smoothing 0) for the same seeds;
#   2. `nabla train --config recipes/fashion_mnist.conf` (models/vgg_small.nbm), seed 0;
#   3. PyTorch's training throughput for the same model and recipe (bench/torch_recipe.py,
#      a short run; `--epochs N` there trains the whole recipe).
# Each run's per-epoch log goes to OUT/NAME.jsonl and its result line (test_acc,
# train_seconds, images_per_s) and user/wall time to OUT/results.txt.
#   sh bench/recipe.sh [--baseline] [OUT]        (OUT: recipe-runs by default; about 6 + 15 minutes)
cd "$(dirname "$0")/.." || exit 1
baseline=0
[ "${1:-}" = --baseline ] && baseline=1 && shift
OUT=${1:-recipe-runs}
mkdir -p "$OUT" || exit 1
run() { # NAME ARGS...
    name=$1
    shift
    echo "## $name: nabla train $* ($(date -u '+%H:%M UTC'), load $(cut -d' ' -f1 /proc/loadavg))"
    /usr/bin/time -f "user_s=%U wall_s=%e" -o "$OUT/$name.time" build/nabla train --quiet --log-json "$OUT/$name.jsonl" "$@" \
        >"$OUT/$name.out" || echo "FAIL $name"
    echo "$name $* :: $(cat "$OUT/$name.out") $(cat "$OUT/$name.time")" | tee -a "$OUT/results.txt"
}
for s in 1 2 3; do run "default_seed$s" --seed "$s"; done
if [ "$baseline" = 1 ]; then
    for s in 1 2 3; do run "baseline_seed$s" --seed "$s" --model cnn --epochs 10 --lr-schedule none --label-smoothing 0; done
fi
run recipe_seed0 --config recipes/fashion_mnist.conf
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
    for t in 1 2; do /usr/bin/python3 bench/torch_recipe.py --steps 20 --threads "$t"; done | tee -a "$OUT/results.txt"
fi
