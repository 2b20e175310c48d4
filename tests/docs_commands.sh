#!/bin/sh
# Run every command of docs/tutorial.md and README.md as written, in order, and check
# README.md's command synopses against the commands' --help.
#
# Which lines are commands:
#   - docs/tutorial.md: every line starting with "$ " (after the block's indentation) in a
#     code block (indented by 4 spaces, or fenced with ```); the other lines of a block are
#     output and are not checked. A command with a here-document (<<'EOF') takes the
#     lines after it up to the marker, without the block's indentation.
#   - README.md: every line of an indented code block that starts (after an optional "$ ")
#     with nabla, build/nabla, make, cc or apt-get. A line with "[--", and every command
#     after it in its block, is a synopsis (the usage block; "[..." continuation lines
#     included): its command must exist and each of its options must be in that
#     command's --help; it is not run. A block whose
#     first line is "# NAME.conf" is a config file: it is written to NAME.conf and must be
#     accepted by `nabla train --config NAME.conf` (a 10-image run).
#   A command line ending in "\" continues on the next line.
#
# How they run: each with bash -c, in a scratch directory that mirrors the repository's
# top level by symlinks (build/, models/, .ci/packages, Makefile, ... are reachable; the
# files the commands write stay in the scratch directory), with build/ first in PATH so
# `nabla` is build/nabla. The tutorial's commands share one directory (each may use the
# files of those before it); README.md's get their own, where w.safetensors and
# boot.pgm, which its `nabla predict` example takes as given, are made first.
# Threads: whatever NB_THREADS says (the commands give no --threads).
#
# Commands that cannot run here by nature are in skip_reason below, each with its reason;
# "apt-get update && xargs apt-get install -y < .ci/packages && REST" runs REST. Python
# lines (NumPy) run only when `python3 -c 'import numpy'` works (NumPy is not in
# .ci/packages).
#
# Prints "ok ..."/"FAIL ..."/"SKIP ..." lines and ends with "N passed, N failed,
# N skipped"; exits non-zero on a failure. Needs `make` first.
# Usage: sh tests/docs_commands.sh [TUTORIAL.md [README.md]]   (KEEP=1: keep the scratch
#        directories and each command's output, NNN.out, and print where they are)
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
B=${B:-build}
TUTORIAL=${1:-docs/tutorial.md}
README=${2:-README.md}
passed=0
failed=0
skipped=0
ok() { printf 'ok %s\n' "$*"; passed=$((passed + 1)); }
fail() { printf 'FAIL %s\n' "$*"; failed=$((failed + 1)); }
skip() { printf 'SKIP %s\n' "$*"; skipped=$((skipped + 1)); }
if [ ! -x "$B/nabla" ] || [ ! -f "$TUTORIAL" ] || [ ! -f "$README" ] || ! command -v bash >/dev/null; then
    echo "FAIL setup: need $B/nabla (run make first), $TUTORIAL, $README and bash"
    echo "0 passed, 1 failed, 0 skipped"
    exit 1
fi
tmp=$(mktemp -d)
if [ -n "${KEEP:-}" ]; then
    echo "scratch directories and outputs kept in $tmp"
else
    trap 'rm -rf "$tmp"' EXIT
fi
PATH="$ROOT/$B:$PATH"
export PATH

skip_reason() { # command (comment stripped) -> reason on stdout, status 0 if it is skipped
    case $1 in
    "apt-get update && xargs apt-get install -y < .ci/packages")
        echo "installs the Debian packages (as root); CI's machine has them" ;;
    "bash tests/ci.sh") echo "it is CI itself, which runs this script" ;;
    "make test" | "make SAN=1 test") echo "tests/ci.sh runs it as a stage of its own" ;;
    "make install PREFIX=/usr/local") echo "writes to /usr/local; tests/ci.sh installs into a temporary prefix" ;;
    "cc my.c "*) echo "my.c stands for the reader's program; tests/examples.sh builds each example this way" ;;
    python3*)
        python3 -c 'import numpy' 2>/dev/null && return 1
        echo "needs Python 3 with NumPy (not in .ci/packages)" ;;
    *) return 1 ;;
    esac
}

mirror() { # new scratch directory mirroring the repository's top level
    mkdir -p "$1"
    for f in "$ROOT"/* "$ROOT"/.ci; do
        [ -e "$f" ] && ln -s "$f" "$1/"
    done
}

n=0
run() { # where (doc:line), directory, command text
    n=$((n + 1))
    out=$tmp/$(printf '%03d' "$n").out
    short=$(printf '%s' "$3" | tr '\n' ' ' | sed -E 's/\\ +/ /g; s/  +/ /g; s/ +#.*//')
    bare=$(printf '%s' "$short" | sed -E 's/ +$//')
    if reason=$(skip_reason "$bare"); then
        skip "$1: $bare ($reason)"
        return
    fi
    case $bare in
    "apt-get update && xargs apt-get install -y < .ci/packages && "*)
        skip "$1: apt-get update && xargs apt-get install -y < .ci/packages ($(skip_reason "apt-get update && xargs apt-get install -y < .ci/packages")); running the rest"
        rest=${bare#apt-get update && xargs apt-get install -y < .ci/packages && }
        n=$((n - 1))
        run "$1" "$2" "$rest"
        return
        ;;
    esac
    t0=$(date +%s)
    (cd "$2" && timeout 1800 bash -c "$3") >"$out" 2>&1 </dev/null
    rc=$?
    t=$(($(date +%s) - t0))
    if [ "$rc" -eq 0 ]; then
        ok "$1: $bare (${t}s)"
    else
        fail "$1: $bare: exit status $rc (${t}s); its output ends:"
        tail -n 8 "$out" | sed 's/^/    /'
    fi
}

# extract DOC MODE -> records "LINE<TAB>KIND<TAB>TEXT" (TEXT's newlines as \001), KIND run,
# synopsis or conf
extract() {
    awk -v mode="$2" '
    function flush() {
        if (cmd != "") { gsub(/\t/, " ", cmd); print start "\t" kind "\t" cmd }
        cmd = ""; cont = 0
    }
    function begin(text, k) { flush(); start = NR; kind = k; cmd = text; cont = (text ~ /\\$/) }
    /^```/ { flush(); fence = !fence; next }
    {
        line = $0
        inblock = fence || line ~ /^    /
        if (!inblock) { flush(); blank = (line ~ /^[ \t]*$/); conf = ""; syn = 0; next }
        if (here != "") {
            b = line; sub(/^    /, "", b); cmd = cmd "\001" b
            if (b == here) { here = ""; flush() }
            next
        }
        if (cont) { cmd = cmd "\001" line; cont = (line ~ /\\$/); if (!cont && kind == "run") flush(); next }
        body = line; sub(/^    /, "", body)
        if (mode == "tutorial") {
            if (body ~ /^\$ /) {
                sub(/^\$ /, "", body); begin(body, "run")
                if (match(body, /<< *\047?[A-Za-z_]+\047?/)) { here = substr(body, RSTART, RLENGTH); gsub(/[< \047]/, "", here) }
                else if (!cont) flush()
            }
            next
        }
        # README
        if (conf != "") { if (body ~ /^[ \t]*$/) { flush(); conf = "" } else cmd = cmd "\001" body; next }
        if (blank && body ~ /^# [A-Za-z0-9_.-]+\.conf *$/) { b = body; sub(/^# /, "", b); sub(/ *$/, "", b); begin(b, "conf"); conf = b; blank = 0; next }
        blank = 0
        if (kind == "synopsis" && cmd != "" && body ~ /^ +\[/) { cmd = cmd " " body; next }
        b = body; sub(/^\$ /, "", b)
        if (b ~ /^(nabla|build\/nabla|make|cc|apt-get)( |$)/) {
            if (b ~ /\[--/) syn = 1
            begin(b, syn ? "synopsis" : "run")
            if (!cont && kind == "run") flush()
        } else if (kind == "synopsis") flush()
    }
    END { flush() }
    ' "$1"
}

help_of() { # command -> $tmp/help.CMD; status of --help
    [ -f "$tmp/help.$1" ] && return 0
    nabla "$1" --help >"$tmp/help.$1" 2>&1
}

check_synopsis() { # where, text
    cmd=$(printf '%s\n' "$2" | sed -nE 's/^(build\/)?nabla +([a-z][a-z-]*).*/\2/p')
    if [ -z "$cmd" ] || ! help_of "$cmd"; then
        fail "$1: synopsis '$(printf '%s' "$2" | cut -c1-40)...': 'nabla $cmd' is not a command"
        return
    fi
    bad=
    for opt in $(printf '%s\n' "$2" | grep -oE -- '(^|[][ |])--?[a-z][a-z0-9-]*' | sed -E 's/^[][ |]//' | sort -u); do
        grep -qE -- "^  $opt( |$)" "$tmp/help.$cmd" || bad="$bad $opt"
    done
    if [ -n "$bad" ]; then
        fail "$1: synopsis of nabla $cmd: not in 'nabla $cmd --help':$bad"
    else
        ok "$1: synopsis of nabla $cmd: every option is in its --help"
    fi
}

check_conf() { # where, directory, "NAME.conf" line then the file's lines
    set -- "$1" "$2" "$(printf '%s\n' "$3" | head -n 1)" "$3"
    printf '%s\n' "$4" | tail -n +2 >"$2/$3"
    n=$((n + 1))
    out=$tmp/$(printf '%03d' "$n").out
    if (cd "$2" && nabla train --config "$3" --per-class 1 --epochs 1 --quiet) >"$out" 2>&1 </dev/null; then
        ok "$1: $3 is accepted by nabla train --config $3"
    else
        fail "$1: $3 is not accepted by nabla train --config $3:"
        tail -n 4 "$out" | sed 's/^/    /'
    fi
}

# --- docs/tutorial.md, in one directory
mirror "$tmp/tutorial"
extract "$TUTORIAL" tutorial >"$tmp/tutorial.cmds"
[ -s "$tmp/tutorial.cmds" ] || fail "$TUTORIAL: no \"\$ \" command found"
while IFS="$(printf '\t')" read -r line kind text; do
    run "tutorial:$line" "$tmp/tutorial" "$(printf '%s' "$text" | tr '\001' '\n')"
done <"$tmp/tutorial.cmds"

# --- README.md, in another, with the files its predict example takes as given
mirror "$tmp/readme"
if (cd "$tmp/readme" && nabla train --model mlp --epochs 1 --save w.safetensors --quiet &&
    { printf 'P5\n28 28\n255\n'; zcat /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz | tail -c +17 | head -c 784; } >boot.pgm) >"$tmp/readme.fixtures" 2>&1; then
    ok "README fixtures: w.safetensors (mlp, 1 epoch), boot.pgm (the first test image)"
else
    fail "README fixtures:"
    tail -n 4 "$tmp/readme.fixtures" | sed 's/^/    /'
fi
extract "$README" readme >"$tmp/readme.cmds"
[ -s "$tmp/readme.cmds" ] || fail "$README: no command found"
while IFS="$(printf '\t')" read -r line kind text; do
    case $kind in
    synopsis) check_synopsis "README:$line" "$text" ;;
    conf) check_conf "README:$line" "$tmp/readme" "$(printf '%s' "$text" | tr '\001' '\n')" ;;
    *) run "README:$line" "$tmp/readme" "$(printf '%s' "$text" | tr '\001' '\n')" ;;
    esac
done <"$tmp/readme.cmds"

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
