#!/bin/sh
# Build every example against an installed nabla with pkg-config and run it briefly.
set -e
prefix=$1
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
export LD_LIBRARY_PATH="$prefix/lib"
out=$(mktemp -d)
for src in examples/*.c; do
    [ -e "$src" ] || continue
    name=$(basename "$src" .c)
    cc -O2 -o "$out/$name" "$src" $(pkg-config --cflags --libs nabla)
    echo "built $name"
    NB_EXAMPLE_QUICK=1 "$out/$name"
    echo "ran $name"
done
