#!/bin/bash
# busy.sh - the cnn on an idle and on a busy machine: torch_bench.py and `nabla bench` with 1
# and 2 threads on each of nabla's pools (NB_POOL=own, its own thread pool, the default; and
# NB_POOL=omp, the same work on OpenMP's threads), beside 0, 1 and then 2 busy loops (one
# per core on a 2-core machine). Run from the repository root after `make`:
#   bash bench/busy.sh [STEPS]     (20 timed steps by default)
# Environment: HOGS="0 1 2" (busy loops per round), POOLS="own omp", REPS=1 (runs of each
# configuration, alternating), NO_TORCH=1 (skip PyTorch).
set -u
cd "$(dirname "$0")/.."
STEPS=${1:-20}
HOGS=${HOGS:-0 1 2}
POOLS=${POOLS:-own omp}
REPS=${REPS:-1}
hogs=()
stop_hogs() {
    [ ${#hogs[@]} -gt 0 ] && kill "${hogs[@]}" 2>/dev/null
    wait 2>/dev/null
    hogs=()
}
trap stop_hogs EXIT
for h in $HOGS; do
    echo "## beside $h busy process(es), $(date -u '+%Y-%m-%d %H:%M UTC'), load $(cut -d' ' -f1-3 /proc/loadavg)"
    for _ in $(seq "$h"); do
        sh -c 'while :; do :; done' &
        hogs+=($!)
    done
    sleep 1
    if [ "${NO_TORCH:-0}" != 1 ]; then
        for t in 1 2; do /usr/bin/python3 bench/torch_bench.py --model cnn --threads "$t" --steps "$STEPS" 2>&1 | tail -n 1; done
    fi
    for _ in $(seq "$REPS"); do
        for pool in $POOLS; do
            for t in 1 2; do
                echo "pool=$pool $(NB_POOL=$pool build/nabla bench --model cnn --threads "$t" --steps "$STEPS" 2>&1 | tail -n 1)"
            done
        done
    done
    stop_hogs
    sleep 2
done
