#!/bin/sh
# zoo_cpu.sh - training CPU time per step on a busy machine, for the zoo side by side:
# `perf stat -e task-clock` of the same command with --steps HI and --steps LO, the
# difference over HI-LO steps (setup, warm-up and the batch-1 loop cancel out), for each
# nabla binary given (A B A B ... : paired runs of an old and a new tree) and PyTorch
# (bench/torch_bench.py), ROUNDS times. Prints per run: cpu ms per step, images per
# CPU-second and the GFLOP/s that makes (3 x the forward's multiply-adds x 2 per image,
# BENCHMARKS.md's counts), and the run's peak RSS. Every run is niced to 19 unless NICE=0.
#   sh bench/zoo_cpu.sh MODEL THREADS ROUNDS NABLA_BINARY... [torch]
# e.g. sh bench/zoo_cpu.sh resnet_small 1 2 ../old-tree/build/nabla build/nabla torch
# MODEL: resnet_small (Fashion-MNIST, batch 128), resnet18 or vgg11_bn (3x32x32, batch 64).
set -u
cd "$(dirname "$0")/.."
MODEL=$1
T=$2
ROUNDS=$3
shift 3
LO=${LO:-3}
HI=${HI:-13}
N=""
[ "${NICE:-1}" != 0 ] && N="nice -n 19"
case $MODEL in
resnet_small) NARGS="" TARGS="" B=128 GF=0.121 ;;
resnet18) NARGS="--input 3,32,32 --batch-size 64" TARGS="--input 3,32,32 --batch 64" B=64 GF=0.222 ;;
vgg11_bn) NARGS="--input 3,32,32 --batch-size 64" TARGS="--input 3,32,32 --batch 64" B=64 GF=1.634 ;;
*) echo "zoo_cpu.sh: unknown model $MODEL" >&2; exit 2 ;;
esac
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# task-clock ms of one run of "$@" with --steps $1; the result line in $TMP/line
cpu_ms() {
    s=$1
    shift
    perf stat -e task-clock -x, -o "$TMP/stat" "$@" --steps "$s" >"$TMP/out" 2>&1
    tail -n 1 "$TMP/out" >"$TMP/line"
    grep task-clock "$TMP/stat" | cut -d, -f1
}
echo "## $(date -u '+%Y-%m-%d %H:%M UTC'), model $MODEL, $T thread(s), steps $HI - $LO, load: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$ROUNDS"); do
    for bin in "$@"; do
        name=$bin
        if [ "$bin" = torch ]; then
            lo=$(cpu_ms "$LO" $N /usr/bin/python3 bench/torch_bench.py --model "$MODEL" --threads "$T" $TARGS)
            hi=$(cpu_ms "$HI" $N /usr/bin/python3 bench/torch_bench.py --model "$MODEL" --threads "$T" $TARGS)
        else
            lo=$(cpu_ms "$LO" $N "$bin" bench --model "$MODEL" --threads "$T" $NARGS)
            hi=$(cpu_ms "$HI" $N "$bin" bench --model "$MODEL" --threads "$T" $NARGS)
        fi
        rss=$(grep -o 'peak_rss_mb=[0-9]*' "$TMP/line")
        awk -v lo="$lo" -v hi="$hi" -v n=$((HI - LO)) -v b="$B" -v gf="$GF" -v name="$name" -v r="$r" -v rss="$rss" \
            'BEGIN { ms = (hi - lo) / n; printf "round %d %-28s cpu_ms_per_step=%.1f img_per_cpu_s=%.0f gflops=%.0f %s\n", r, name, ms, b * 1000 / ms, b * 1000 / ms * gf, rss }'
    done
done
echo "## load after: $(cut -d' ' -f1-3 /proc/loadavg)"
