#!/bin/bash
# Data-parallel training under Open MPI with 2 ranks (issue 13; docs/distributed.md),
# each mpirun under a timeout. Prints "ok"/"FAIL" lines and ends with "N passed, N failed":
#   - tests/test_dist.c under mpirun -np 2 (parameters bit-identical across ranks, ...)
#   - equality: 2 ranks x batch 64 against 1 process x batch 128 (nabla) and against
#     PyTorch's DDP (gloo, 2 processes) and single-process runs (tests/goldens/ddp_losses.txt,
#     tools/goldens/gen_ddp.py), per-step losses within 1e-4, with and without BatchNorm
#     (+ --sync-bn), over shared memory and over TCP (--mca btl tcp,self)
#   - faults: a rank killed with SIGKILL ends the job within 30 s naming the rank, and
#     --resume from the last checkpoint completes the run bit for bit; a rank that cannot open its
#     data makes every rank exit with that rank's message
#   - a build without MPI links no MPI and says so when started as one of 2 ranks
# Needs openmpi-bin, libopenmpi-dev and dataset-fashion-mnist. Run from anywhere.
set -u
cd "$(dirname "$0")/.."
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
P=0
F=0
ok() { echo "ok $1"; P=$((P + 1)); }
fail() { echo "FAIL $1: $2"; F=$((F + 1)); }
check() { # name, condition status, message on failure
    if [ "$2" -eq 0 ]; then ok "$1"; else fail "$1" "$3"; fi
}
finish() {
    echo "$P passed, $F failed"
    [ "$F" -eq 0 ]
    exit
}
if ! command -v mpirun >/dev/null || ! command -v mpicc >/dev/null; then
    echo "SKIP dist: mpirun/mpicc not found (Debian's openmpi-bin and libopenmpi-dev)"
    finish
fi
MAKE=${MAKE:-make}
$MAKE -s build/nabla build/tests/test_dist >/dev/null || { fail build "make build/nabla build/tests/test_dist"; finish; }
NABLA=build/nabla
MPIRUN="timeout 300 mpirun --oversubscribe -np 2"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
[ -n "${KEEP:-}" ] && trap - EXIT && echo "keeping $T"

# 1. the C test under 2 ranks
out=$($MPIRUN build/tests/test_dist 2>&1)
rc=$?
n_ok=$(printf '%s\n' "$out" | grep -c '^ok ')
printf '%s\n' "$out" | grep '^FAIL '
check "test_dist under mpirun -np 2 ($n_ok checks)" $((rc != 0 || n_ok < 10)) "status $rc, $n_ok ok lines"

# per-step losses of a --log-json file, one per line
losses() { grep '"step"' "$1" | sed -E 's/.*"loss":([^,]*),.*/\1/'; }
# max |a - b| over two files of numbers (column ca of a, the only column of b); fails when lengths differ
maxdiff() { paste <(grep -v '^#' "$1" | awk -v c="$2" '{print $c}') "$3" |
    awk 'BEGIN {m = 0} NF != 2 {bad = 1} {d = $1 - $2; if (d < 0) d = -d; if (d > m) m = d}
         END {if (bad || NR == 0) print "inf"; else printf "%.3g\n", m}'; }
within() { awk -v d="$1" 'BEGIN {exit !(d ~ /^[0-9.e+-]+$/ && d + 0 <= 1e-4)}'; }
G=tests/goldens/ddp_losses.txt
# PyTorch's runs use a constant learning rate and plain cross-entropy (not the CLI's default recipe)
TRAIN="train --lr-schedule none --label-smoothing 0 --epochs 1 --max-steps 50 --threads 1 --no-shuffle --log-every 1 --quiet"

# 2. equality without BatchNorm: PyTorch's DDP, PyTorch single-process, nabla single-process
SM="--model tests/dist/smooth.nbm --init tests/goldens/ddp_smooth_init.safetensors"
$MPIRUN $NABLA $TRAIN $SM --batch-size 64 --log-json "$T/np2.jsonl" >"$T/np2.out" 2>&1
check "mpirun -np 2 train --batch-size 64 runs" $? "$(tail -n 3 "$T/np2.out")"
losses "$T/np2.jsonl" >"$T/np2.txt"
timeout 300 $NABLA $TRAIN $SM --batch-size 128 --log-json "$T/np1.jsonl" >/dev/null 2>&1
losses "$T/np1.jsonl" >"$T/np1.txt"
d=$(maxdiff "$T/np1.txt" 1 "$T/np2.txt"); within "$d"
check "2 ranks x 64 = 1 process x 128 (nabla), 50 losses, max diff $d" $? "max diff $d"
d=$(maxdiff $G 2 "$T/np2.txt"); within "$d"
check "2 ranks x 64 = PyTorch DDP (gloo, 2 processes), 50 losses, max diff $d" $? "max diff $d"
d=$(maxdiff $G 3 "$T/np2.txt"); within "$d"
check "2 ranks x 64 = PyTorch single process x 128, 50 losses, max diff $d" $? "max diff $d"
grep -q . "$T/np2.out" && [ "$(grep -c 'test_acc=' "$T/np2.out")" -eq 1 ]
check "only rank 0 prints the result" $? "$(cat "$T/np2.out")"

# 3. BatchNorm with --sync-bn
SB="--model tests/dist/smooth_bn.nbm --init tests/goldens/ddp_smooth_bn_init.safetensors"
$MPIRUN $NABLA $TRAIN $SB --batch-size 64 --sync-bn --log-json "$T/bn2.jsonl" >/dev/null 2>&1
losses "$T/bn2.jsonl" >"$T/bn2.txt"
timeout 300 $NABLA $TRAIN $SB --batch-size 128 --log-json "$T/bn1.jsonl" >/dev/null 2>&1
losses "$T/bn1.jsonl" >"$T/bn1.txt"
d=$(maxdiff "$T/bn1.txt" 1 "$T/bn2.txt"); within "$d"
check "--sync-bn: 2 ranks x 64 = 1 process x 128 (nabla), max diff $d" $? "max diff $d"
d=$(maxdiff $G 4 "$T/bn2.txt"); within "$d"
check "--sync-bn: 2 ranks x 64 = PyTorch single process x 128, max diff $d" $? "max diff $d"
$MPIRUN $NABLA $TRAIN $SB --batch-size 64 --max-steps 10 --log-json "$T/bnl.jsonl" >/dev/null 2>&1
losses "$T/bnl.jsonl" >"$T/bnl.txt"
head -n 10 "$T/bn1.txt" >"$T/bn10.txt"
d=$(maxdiff "$T/bn10.txt" 1 "$T/bnl.txt")
awk -v d="$d" 'BEGIN {exit !(d ~ /^[0-9.e+-]+$/ && d + 0 > 1e-4)}'
check "without --sync-bn each rank normalises its own batch (the losses differ, max diff $d)" $? "max diff $d"

# every option on every rank: several epochs with per-epoch evaluation (collective) and a log
$MPIRUN $NABLA train --model tests/dist/smooth.nbm --epochs 2 --per-class 40 --batch-size 32 --threads 1 --quiet \
    --log-json "$T/ep.jsonl" --lr-schedule cosine --clip-grad-norm 1 --l2 1e-4 --augment "random_crop(28, padding=2)" \
    >"$T/ep.out" 2>&1
rc=$?
[ $rc -eq 0 ] && [ "$(grep -c '"test_acc"' "$T/ep.jsonl")" -eq 2 ]
check "2 epochs with per-epoch evaluation, schedule, clipping, L2, augmentation" $? "status $rc: $(tail -n 3 "$T/ep.out")"

# 4. over TCP, the transport between machines
timeout 300 mpirun --oversubscribe -np 2 --mca btl tcp,self --mca btl_tcp_if_include lo $NABLA $TRAIN $SM \
    --batch-size 64 --log-json "$T/tcp.jsonl" >"$T/tcp.out" 2>&1
losses "$T/tcp.jsonl" >"$T/tcp.txt"
d=$(maxdiff $G 2 "$T/tcp.txt"); within "$d"
check "over TCP (--mca btl tcp,self): = PyTorch DDP, max diff $d" $? "max diff $d $(tail -n 3 "$T/tcp.out")"

# 5. a rank killed with SIGKILL mid-epoch; then --resume completes the run
KT="train --model tests/dist/smooth.nbm --epochs 1 --max-steps 200 --threads 1 --batch-size 64 --quiet"
mpirun --oversubscribe -np 2 $NABLA $KT --checkpoint "$T/ck.safetensors" --checkpoint-every 20 >"$T/kill.out" 2>&1 &
MP=$!
rank1=""
for _ in $(seq 600); do # up to 60 s for a checkpoint and rank 1's process
    if [ -s "$T/ck.safetensors" ] && [ -z "$rank1" ]; then
        for p in $(pgrep -P $MP); do
            tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx 'OMPI_COMM_WORLD_RANK=1' && rank1=$p
        done
    fi
    [ -n "$rank1" ] && break
    sleep 0.1
done
if [ -z "$rank1" ]; then
    kill $MP 2>/dev/null
    fail "SIGKILL a rank" "no checkpoint or no rank 1 process: $(tail -n 3 "$T/kill.out")"
else
    t0=$(date +%s)
    kill -9 "$rank1"
    for _ in $(seq 300); do kill -0 $MP 2>/dev/null || break; sleep 0.1; done
    if kill -0 $MP 2>/dev/null; then
        kill -9 $MP
        fail "SIGKILL rank 1: the job ends within 30 s" "still running after 30 s"
    else
        wait $MP
        rc=$?
        secs=$(($(date +%s) - t0))
        [ $rc -ne 0 ] && grep -q "rank 1" "$T/kill.out"
        check "SIGKILL rank 1: the job ends in ${secs}s (status $rc) naming rank 1" $? "$(tail -n 5 "$T/kill.out")"
        $MPIRUN $NABLA $KT --checkpoint "$T/ck.safetensors" --resume "$T/ck.safetensors" --save "$T/resumed.safetensors" \
            >"$T/resume.out" 2>&1
        rc=$?
        [ $rc -eq 0 ] && grep -q 'test_acc=' "$T/resume.out"
        check "--resume from the last checkpoint completes the run" $? "status $rc: $(tail -n 3 "$T/resume.out")"
        $MPIRUN $NABLA $KT --save "$T/whole.safetensors" >/dev/null 2>&1
        cmp -s "$T/whole.safetensors" "$T/resumed.safetensors"
        check "the resumed run's weights are bit-identical to an uninterrupted run's" $? "they differ"
    fi
fi

# 6. a rank that cannot open its data: every rank exits with its message
timeout 120 mpirun --oversubscribe -np 1 $NABLA $KT --max-steps 5 : -np 1 $NABLA $KT --max-steps 5 \
    --data "$T/no-such-dir" >"$T/data.out" 2>&1
rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] && [ "$(grep -c 'rank 1: .*no-such-dir' "$T/data.out")" -eq 2 ]
check "rank 1 without its data: both ranks exit with rank 1's message" $? "status $rc: $(head -n 5 "$T/data.out")"

# a rank that cannot read its --init file (one machine without it): the same
timeout 120 mpirun --oversubscribe -np 1 $NABLA $KT --max-steps 5 : -np 1 $NABLA $KT --max-steps 5 \
    --init "$T/no-such.safetensors" >"$T/init.out" 2>&1
rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] && [ "$(grep -c 'rank 1: .*no-such.safetensors' "$T/init.out")" -eq 2 ]
check "rank 1 without its --init file: both ranks exit with rank 1's message" $? "status $rc: $(head -n 5 "$T/init.out")"

# 7. without MPI: nothing links it, and 2 ranks get a clear error
if $MAKE -s B=build-nompi NO_MPI=1 build-nompi/nabla >"$T/nompi.out" 2>&1; then
    ! ldd build-nompi/nabla | grep -q libmpi
    check "a build with NO_MPI=1 links no MPI" $? "$(ldd build-nompi/nabla | grep mpi)"
    timeout 120 build-nompi/nabla $KT --max-steps 2 >/dev/null 2>&1
    check "the build without MPI trains as one process" $? "status $?"
    timeout 120 mpirun --oversubscribe -np 2 build-nompi/nabla $KT --max-steps 2 >"$T/nompi.out" 2>&1
    rc=$?
    [ $rc -ne 0 ] && grep -q "built without MPI" "$T/nompi.out"
    check "the build without MPI under mpirun -np 2 says so" $? "status $rc: $(head -n 3 "$T/nompi.out")"
else
    fail "build with NO_MPI=1" "$(tail -n 5 "$T/nompi.out")"
fi
finish
