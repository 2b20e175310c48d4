#!/bin/sh
# Check that the library's layers stay strict (docs/internals.md, "Layers"):
#   1. every #include "..." of src/<folder>/ names nabla.h, a header of its own folder
#      or one of a folder below it (written "folder/file.h"), and the file exists;
#      tools/nabla/ includes only nabla.h and its own headers;
#   2. every nb_* symbol an object of build/src/<folder>/ uses (nm: U) is defined by an
#      object of its own folder or of a folder below it; the CLI's objects use no
#      private nb__ symbol.
# Prints "ok ..."/"FAIL ..." lines and ends with "N passed, N failed".
# Needs `make` first (the objects under build/). Usage: sh tests/layers.sh
cd "$(dirname "$0")/.." || exit 1
B=${B:-build}

# folder: the folders below it, which it may include and call (besides nabla.h and itself)
below() {
    case $1 in
    core) echo "" ;;
    kernels) echo "core" ;;
    dist) echo "core" ;;
    ops) echo "core dist kernels" ;;
    loss | init) echo "core dist kernels ops" ;;
    nn) echo "core dist kernels ops init" ;;
    optim | augment | text) echo "core dist kernels ops" ;;
    onnx) echo "core dist kernels ops init nn" ;;
    models) echo "core dist kernels ops init nn onnx" ;;
    data) echo "core dist kernels ops augment text" ;;
    io) echo "core dist kernels ops init nn onnx models" ;;
    train) echo "core dist kernels ops loss init nn optim augment text onnx models data io" ;;
    *) echo "?" ;;
    esac
}
FOLDERS="core dist kernels ops loss init nn optim augment text onnx models data io train"

passed=0
failed=0
ok() { echo "ok $*"; passed=$((passed + 1)); }
fail() { echo "FAIL $*"; failed=$((failed + 1)); }
allowed() { # folder dep: is dep the folder itself or below it?
    [ "$1" = "$2" ] && return 0
    for d in $(below "$1"); do [ "$d" = "$2" ] && return 0; done
    return 1
}

# ---- 1. #include lines ----
for d in src/*/; do
    f=$(basename "$d")
    case " $FOLDERS " in *" $f "*) ;; *)
        fail "src/$f/ is not a known layer (add it to tests/layers.sh and docs/internals.md)"
        continue ;;
    esac
done
bad=$(mktemp)
for file in src/*/*.c src/*/*.h; do
    f=$(echo "$file" | cut -d/ -f2)
    grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$file" | while IFS= read -r line; do
        n=${line%%:*}
        h=$(echo "$line" | sed -E 's/^[^"]*"([^"]*)".*/\1/')
        [ "$h" = nabla.h ] && continue
        case $h in *.pb-c.h) continue ;; esac # protoc-c's code, generated into the build folder
        case $h in
        */*) dep=${h%%/*} ;;
        *) echo "$file:$n: includes \"$h\": write it with its folder (\"$f/$h\")" >>"$bad"; continue ;;
        esac
        if [ ! -f "src/$h" ]; then
            echo "$file:$n: includes \"$h\", which is not a file under src/" >>"$bad"
        elif ! allowed "$f" "$dep"; then
            echo "$file:$n: $f includes \"$h\" from $dep, which is not below it" >>"$bad"
        fi
    done
done
for file in tools/nabla/*.c tools/nabla/*.h; do
    grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$file" | while IFS= read -r line; do
        n=${line%%:*}
        h=$(echo "$line" | sed -E 's/^[^"]*"([^"]*)".*/\1/')
        [ "$h" = nabla.h ] && continue
        [ -f "tools/nabla/$h" ] || echo "$file:$n: the CLI includes \"$h\"; it sees the library through nabla.h only" >>"$bad"
    done
done
if [ -s "$bad" ]; then
    fail "includes: a file includes a layer above its own"
    sed 's/^/    /' "$bad"
else
    ok "includes: every file includes only its own layer and those below it"
fi

# ---- 2. calls between objects (nm) ----
if [ ! -f "$B/libnabla.a" ]; then
    fail "calls: $B/libnabla.a is missing (run make first)"
else
    defs=$(mktemp)
    : >"$bad"
    for o in "$B"/src/*/*.o; do
        f=$(echo "$o" | sed -E "s|^$B/src/([^/]+)/.*|\1|")
        nm "$o" | awk -v f="$f" '$2 ~ /^[TDRBCW]$/ && $3 ~ /^nb/ {print $3, f}'
    done | sort >"$defs"
    for o in "$B"/src/*/*.o; do
        f=$(echo "$o" | sed -E "s|^$B/src/([^/]+)/.*|\1|")
        nm -u "$o" | awk '$2 ~ /^nb/ {print $2}' | sort -u | join - "$defs" | while read -r sym dep; do
            allowed "$f" "$dep" || echo "${o#"$B"/}: $f calls $sym of $dep, which is not below it" >>"$bad"
        done
    done
    for o in "$B"/tools/nabla/*.o; do
        [ -f "$o" ] || continue
        nm -u "$o" | awk '$2 ~ /^nb__/ {print $2}' | while read -r sym; do
            echo "${o#"$B"/}: the CLI calls the private $sym" >>"$bad"
        done
    done
    if [ -s "$bad" ]; then
        fail "calls: an object calls a layer above its own"
        sed 's/^/    /' "$bad"
    else
        ok "calls: every object calls only its own layer and those below it ($(wc -l <"$defs") nb_ symbols)"
    fi
    rm -f "$defs"
fi
rm -f "$bad"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
