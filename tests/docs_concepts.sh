#!/bin/sh
# Check that everything docs/concepts.md cites exists:
#   - every nb_/NB_ name is declared in include/nabla.h (and every function is
#     exported by build/libnabla.so);
#   - every path under src/, tests/, tools/, examples/, docs/, include/ exists;
#   - every `nabla CMD` is a command and every --option in a code span is in the
#     --help of its command (the span's `nabla CMD`, else train); a lowercase word
#     after an option is one of its values (its help line, or a model name);
#   - every spec of the "spec" columns parses (image or text, tests/docs_spec.c).
# Prints "ok ..."/"FAIL ..." lines and ends with "N passed, N failed".
# Needs `make` first (build/nabla, build/libnabla.so). Usage: sh tests/docs_concepts.sh [DOC]
cd "$(dirname "$0")/.." || exit 1
doc=${1:-docs/concepts.md}
B=${B:-build}
passed=0
failed=0
ok() { echo "ok $*"; passed=$((passed + 1)); }
fail() { echo "FAIL $*"; failed=$((failed + 1)); }
if [ ! -f "$doc" ] || [ ! -x "$B/nabla" ] || [ ! -f "$B/libnabla.so" ]; then
    echo "FAIL setup: need $doc, $B/nabla and $B/libnabla.so (run make first)"
    echo "0 passed, 1 failed"
    exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# --- names of nabla.h
nm -D --defined-only "$B/libnabla.so" | awk '{print $3}' >"$tmp/symbols"
for id in $(grep -oE '\b(nb|NB)_[A-Za-z0-9_]+' "$doc" | sort -u); do
    if ! grep -qw "$id" include/nabla.h; then
        fail "name $id: not in include/nabla.h"
    elif grep -qE "\b$id\(" include/nabla.h && ! grep -qx "$id" "$tmp/symbols"; then
        fail "name $id: declared but not exported by $B/libnabla.so"
    else
        ok "name $id"
    fi
done

# --- paths (globs allowed)
for p in $(grep -oE '(^|[^A-Za-z0-9_./-])(src|tests|tools|examples|docs|include)/[A-Za-z0-9_.*/-]*[A-Za-z0-9_*]' "$doc" |
    sed -E 's/^[^A-Za-z0-9_.]//' | sort -u); do
    # shellcheck disable=SC2086
    set -- $p
    if [ -e "$1" ]; then ok "path $p"; else fail "path $p: no such file"; fi
done

# --- commands and options, from the code spans
grep -oE '`[^`]*`' "$doc" | tr -d '`' | grep -e '--\|nabla ' | sort -u >"$tmp/spans"
help_of() { # command -> $tmp/help.CMD (option lines of its --help); status of --help
    [ -f "$tmp/help.$1" ] && return 0
    "$B/nabla" "$1" --help >"$tmp/help.$1.all" 2>&1 || return 1
    grep -E '^  -' "$tmp/help.$1.all" >"$tmp/help.$1"
}
while IFS= read -r span; do
    cmd=train
    c=$(printf '%s\n' "$span" | sed -nE 's/.*nabla ([a-z][a-z-]*).*/\1/p')
    [ -n "$c" ] && cmd=$c
    if ! help_of "$cmd"; then
        fail "command 'nabla $cmd' (in \`$span\`): not a command"
        continue
    fi
    [ -n "$c" ] && ok "command nabla $cmd"
    # each option with the word after it
    printf '%s\n' "$span" | grep -oE -- '--[a-z][a-z0-9-]*( [^ -][^ ]*)?' | while IFS= read -r pair; do
        opt=${pair%% *}
        val=
        [ "$opt" != "$pair" ] && val=${pair#* }
        line=$(grep -E -- "^  $opt( |$)" "$tmp/help.$cmd")
        if [ -z "$line" ]; then
            echo "FAIL option $opt: not in 'nabla $cmd --help' (in \`$span\`)"
            continue
        fi
        case $val in
        *[!a-z0-9_-]* | "") echo "ok option $opt (nabla $cmd)" ;;
        [a-z]*)
            if [ "$opt" = --model ]; then
                if grep -q "\"$val\"" src/models/models.c; then echo "ok option $opt $val"; else echo "FAIL option $opt $val: no such model"; fi
            elif printf '%s\n' "$line" | grep -qw -- "$val"; then
                echo "ok option $opt $val (nabla $cmd)"
            else
                echo "FAIL option $opt $val: '$val' is not among its values in 'nabla $cmd --help'"
            fi
            ;;
        *) echo "ok option $opt (nabla $cmd)" ;;
        esac
    done >>"$tmp/options"
done <"$tmp/spans"
if [ -f "$tmp/options" ]; then
    sort -u "$tmp/options" >"$tmp/options.u"
    cat "$tmp/options.u"
    passed=$((passed + $(grep -c '^ok ' "$tmp/options.u")))
    failed=$((failed + $(grep -c '^FAIL ' "$tmp/options.u")))
fi

# --- specs of the "spec" columns: image under a heading with "Image", text under "Text"
awk '
    /^## / { kind = ""; if ($0 ~ /[Ii]mage/) kind = "image"; else if ($0 ~ /[Tt]ext/) kind = "text"; col = 0; next }
    /^\|/ && kind != "" {
        line = $0
        gsub(/\\\|/, "\001", line)
        n = split(line, cell, "|")
        if (!col) { for (i = 1; i <= n; i++) if (cell[i] ~ /^ *spec/) col = i; next }
        if (cell[col] ~ /^ *-+ *$/) next
        s = cell[col]
        while (match(s, /`[^`]*`/)) {
            spec = substr(s, RSTART + 1, RLENGTH - 2)
            gsub(/\001/, "|", spec)
            print kind "\t" spec
            s = substr(s, RSTART + RLENGTH)
        }
    }
' "$doc" >"$tmp/specs"
if [ ! -s "$tmp/specs" ]; then
    fail "specs: no spec column found in $doc"
elif ! ${CC:-cc} -std=c11 -Iinclude -o "$tmp/docs_spec" tests/docs_spec.c -L"$B" -lnabla -Wl,-rpath,"$PWD/$B" 2>"$tmp/cc.log"; then
    head -n 5 "$tmp/cc.log"
    fail "specs: tests/docs_spec.c does not build"
else
    "$tmp/docs_spec" <"$tmp/specs" >"$tmp/spec.out" 2>&1
    cat "$tmp/spec.out"
    passed=$((passed + $(grep -c '^ok ' "$tmp/spec.out")))
    failed=$((failed + $(grep -c '^FAIL ' "$tmp/spec.out")))
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
