#!/bin/sh
# Build every example against an installed nabla with pkg-config, as a user would,
# and run it briefly (NB_EXAMPLE_QUICK=1) in a scratch directory (files it writes land
# there). Every example is built and run even when one fails; prints "ok ..." /
# "FAIL ..." per build and run and ends with "N passed, N failed" (status 1 if any
# failed). Usage: sh tests/examples.sh PREFIX   (after make install PREFIX=PREFIX)
prefix=$1
if [ -z "$prefix" ] || [ ! -f "$prefix/lib/pkgconfig/nabla.pc" ]; then
    echo "usage: sh tests/examples.sh PREFIX (no $prefix/lib/pkgconfig/nabla.pc: run make install PREFIX=... first)"
    echo "0 passed, 1 failed"
    exit 1
fi
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
export LD_LIBRARY_PATH="$prefix/lib"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
passed=0
failed=0
for src in examples/*.c; do
    [ -e "$src" ] || continue
    name=$(basename "$src" .c)
    # shellcheck disable=SC2046
    if ! cc -O2 -o "$out/$name" "$src" $(pkg-config --cflags --libs nabla) 2>"$out/$name.log"; then
        head -n 20 "$out/$name.log"
        echo "FAIL $name: does not build"
        failed=$((failed + 1))
        continue
    fi
    if [ -s "$out/$name.log" ]; then # warnings
        cat "$out/$name.log"
        echo "FAIL $name: builds with warnings"
        failed=$((failed + 1))
    else
        echo "ok $name builds"
        passed=$((passed + 1))
    fi
    mkdir -p "$out/run.$name"
    if (cd "$out/run.$name" && NB_EXAMPLE_QUICK=1 "$out/$name") >"$out/$name.out" 2>&1; then
        tail -n 3 "$out/$name.out" | sed "s|^|    |"
        echo "ok $name runs"
        passed=$((passed + 1))
    else
        rc=$?
        tail -n 20 "$out/$name.out"
        echo "FAIL $name: exited with status $rc"
        failed=$((failed + 1))
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
