#!/bin/sh
# Run each test program; count its "ok"/"FAIL" lines; end with "N passed, N failed".
# A program that crashes or exits non-zero without a FAIL line counts as one failure.
passed=0
failed=0
for t in "$@"; do
    out=$("$t" 2>&1)
    rc=$?
    p=$(printf '%s\n' "$out" | grep -c '^ok ')
    f=$(printf '%s\n' "$out" | grep -c '^FAIL ')
    printf '%s\n' "$out" | grep -E '^(FAIL|SKIP) ' | sed "s|^|$(basename "$t"): |"
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "$(basename "$t"): exited with status $rc"
        printf '%s\n' "$out" | tail -n 5
        f=1
    fi
    echo "$(basename "$t"): $p passed, $f failed"
    passed=$((passed + p))
    failed=$((failed + f))
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
