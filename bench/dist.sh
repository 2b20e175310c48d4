#!/bin/sh
# Data parallelism side by side on this machine (issue 13; BENCHMARKS.md): the cnn with
# 1 rank x 2 threads, 2 ranks x 1 thread (mpirun), and PyTorch DDP (gloo, 2 processes x
# 1 thread), ROUNDS rounds. Run on an idle machine:
#     sh bench/dist.sh [ROUNDS] [STEPS]
set -u
cd "$(dirname "$0")/.."
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
R=${1:-3}
S=${2:-100}
make -s build/nabla || exit 1
for r in $(seq "$R"); do
    echo "round $r"
    build/nabla bench --model cnn --threads 2 --steps "$S"
    mpirun --oversubscribe -np 2 build/nabla bench --model cnn --threads 1 --steps "$S"
    /usr/bin/python3 bench/torch_ddp.py --procs 2 --threads 1 --steps "$S"
done
