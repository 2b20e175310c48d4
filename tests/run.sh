#!/bin/sh
# Build and run each test program; count its "ok"/"FAIL" lines; end with
# "N passed, N failed". A test that fails to build, crashes or exits non-zero
# without a FAIL line counts as one failure.
passed=0
failed=0
for t in "$@"; do
    name=$(basename "$t")
    if ! blog=$($MAKE SAN="$SAN" "$t" 2>&1); then
        printf '%s\n' "$blog" | grep -E 'error|undefined' | head -n 5
        echo "FAIL $name: does not build"
        failed=$((failed + 1))
        continue
    fi
    out=$("$t" 2>&1)
    rc=$?
    p=$(printf '%s\n' "$out" | grep -c '^ok ')
    f=$(printf '%s\n' "$out" | grep -c '^FAIL ')
    printf '%s\n' "$out" | grep -E '^(FAIL|SKIP) ' | sed "s|^|$name: |"
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "$name: exited with status $rc"
        printf '%s\n' "$out" | tail -n 5
        f=1
    fi
    echo "$name: $p passed, $f failed"
    passed=$((passed + p))
    failed=$((failed + f))
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
