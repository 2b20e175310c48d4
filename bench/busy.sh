#!/bin/bash
# busy.sh - the cnn side by side with PyTorch on a busy machine: torch_baseline.py and
# `nabla bench` with 1 and 2 threads, beside 1 and then 2 busy loops (one per core on
# a 2-core machine). Run from the repository root after `make`:
#   bash bench/busy.sh [STEPS]     (20 timed steps by default)
set -u
cd "$(dirname "$0")/.."
STEPS=${1:-20}
hogs=()
stop_hogs() {
    [ ${#hogs[@]} -gt 0 ] && kill "${hogs[@]}" 2>/dev/null
    wait 2>/dev/null
    hogs=()
}
trap stop_hogs EXIT
for h in 1 2; do
    echo "## beside $h busy process(es), $(date -u '+%Y-%m-%d %H:%M UTC')"
    for _ in $(seq "$h"); do
        sh -c 'while :; do :; done' &
        hogs+=($!)
    done
    sleep 1
    for t in 1 2; do /usr/bin/python3 bench/torch_bench.py --model cnn --threads "$t" --steps "$STEPS" 2>&1 | tail -n 1; done
    for t in 1 2; do build/nabla bench --model cnn --threads "$t" --steps "$STEPS" 2>&1 | tail -n 1; done
    stop_hogs
    sleep 2
done
