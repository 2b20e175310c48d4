#!/bin/sh
# The kernel tests on every instruction set this CPU runs besides its best (which
# `make test` covers): NB_ISA=avx2 and NB_ISA=generic (src/core/isa.c). Also checks that
# an unknown NB_ISA is refused with a message naming it. Needs `make` first.
# Prints "ok ..."/"FAIL ..." lines and ends with "N passed, N failed".
# Usage: sh tests/isa.sh [ISA...]   (default: every ISA below this CPU's best)
cd "$(dirname "$0")/.." || exit 1
B=${B:-build}
MAKE=${MAKE:-make}
TESTS="test_conv test_gemm test_pool test_pool_linear test_threadpool test_trajectory test_noalloc"
flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null)
has() { for f in "$@"; do case " $flags " in *" $f "*) ;; *) return 1 ;; esac; done; }
if [ $# -gt 0 ]; then
    isas="$*"
else
    isas=generic
    has avx2 fma && isas="avx2 $isas"
    has avx2 fma && ! has avx512f avx512dq avx512bw avx512vl && isas=generic
fi
passed=0
failed=0
for t in $TESTS; do
    $MAKE --no-print-directory "$B/tests/$t" >/dev/null 2>&1 || { echo "FAIL $t: does not build"; failed=$((failed + 1)); }
done
$MAKE --no-print-directory "$B/nabla" >/dev/null 2>&1
for isa in $isas; do
    for t in $TESTS; do
        [ -x "$B/tests/$t" ] || continue
        out=$(NB_ISA=$isa "$B/tests/$t" 2>&1)
        rc=$?
        p=$(printf '%s\n' "$out" | grep -c '^ok ')
        f=$(printf '%s\n' "$out" | grep -c '^FAIL ')
        printf '%s\n' "$out" | grep -E '^FAIL ' | sed "s|^|NB_ISA=$isa $t: |"
        if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
            echo "NB_ISA=$isa $t: exited with status $rc"
            f=1
        fi
        echo "NB_ISA=$isa $t: $p passed, $f failed"
        passed=$((passed + p))
        failed=$((failed + f))
    done
done
# an unknown ISA: the context is refused, naming the value
msg=$(NB_ISA=avx9000 "$B/nabla" bench --steps 1 2>&1)
if [ $? -ne 0 ] && printf '%s' "$msg" | grep -q 'NB_ISA=avx9000'; then
    echo "ok NB_ISA=avx9000 is refused: $msg"
    passed=$((passed + 1))
else
    echo "FAIL NB_ISA=avx9000 should be refused naming the value; got: $msg"
    failed=$((failed + 1))
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
