#!/bin/bash
# ONNX export (docs/onnx.md "Export"): every built-in model, every models/*.nbm and the
# text models, exported by `nabla export`, must
#   (a) pass onnx.checker.check_model(full_check=True) (Debian's python3-onnx),
#   (b) run in onnxruntime (npm's onnxruntime-node, tools/onnx/ort_run.js) and give
#       nabla's own outputs (`nabla run MODEL --weights W`) within 1e-5 of the largest
#       output, at opsets 13 and 17, and
#   (c) give the same outputs after export -> import -> export (`nabla export --model
#       exported.onnx`), bit for bit in nabla and within 1e-5 in onnxruntime.
# The text models' graphs take input_ids and attention_mask (as torch.onnx.export of a
# Hugging Face model); they run on 3 sequences: one whole, one right-padded and one
# left-padded, and a model directory (GPT-2 with scale_attn_by_inverse_layer_idx) is
# exported too.
# The weights are redrawn around a fresh model's (BatchNorm statistics made
# non-trivial) by tools/onnx/export_check.py; the VGGs keep their fresh weights (their
# files are large). One line per check, then "N passed, N failed".
#   bash tests/onnx_export.sh [MODEL ...]
# onnxruntime-node is looked for in $ORT_NODE_DIR/node_modules (default
# build/ort-node) and installed there with `npm install --ignore-scripts
# onnxruntime-node@$ORT_NODE_VERSION` (1.31.1, the version measured) when missing (the
# package ships the native CPU runtime; the install script would only fetch a GPU add-on).
set -u
cd "$(dirname "$0")/.."
${MAKE:-make} -s build/nabla || exit 1
N=$PWD/build/nabla
PY=/usr/bin/python3
T=$PWD/tools/onnx/export_check.py
# Node.js and npm: Debian's (nodejs, npm) when the machine has none. They are not in
# .ci/packages because a machine with NodeSource's nodejs (which bundles npm) cannot
# install Debian's npm beside it.
if ! command -v npm >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null 2>&1 || echo "apt-get install nodejs npm failed"
fi
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || {
    echo "FAIL node and npm are needed (apt-get install nodejs npm)"
    echo "0 passed, 1 failed"
    exit 1
}
ORT_NODE_DIR=${ORT_NODE_DIR:-$PWD/build/ort-node}
if [ ! -d "$ORT_NODE_DIR/node_modules/onnxruntime-node" ]; then
    mkdir -p "$ORT_NODE_DIR"
    (cd "$ORT_NODE_DIR" && npm install --ignore-scripts --no-audit --no-fund "onnxruntime-node@${ORT_NODE_VERSION:-1.31.1}" >npm.log 2>&1) || {
        cat "$ORT_NODE_DIR/npm.log"
        echo "FAIL npm install --ignore-scripts onnxruntime-node"
        echo "0 passed, 1 failed"
        exit 1
    }
fi
export NODE_PATH=$ORT_NODE_DIR/node_modules
ORT="node $PWD/tools/onnx/ort_run.js"
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
P=0
F=0
pass() { echo "ok $*"; P=$((P + 1)); }
fail() { echo "FAIL $*"; F=$((F + 1)); }
# run a command; its output only when it fails
try() { # label, command...
    local label=$1
    shift
    local out
    if out=$("$@" 2>&1); then return 0; fi
    echo "$out" | tail -n 20
    fail "$label"
    return 1
}
check() { # label, file
    local out
    if out=$($PY "$T" check "$2" 2>&1); then pass "$1: $out"; else
        echo "$out" | tail -n 5
        fail "$1: check_model"
    fi
}
compare() { # label, a.npy, b.npy, tolerance
    local out
    out=$($PY "$T" compare "$2" "$3" "$4" "$1" 2>&1)
    case $out in ok*) P=$((P + 1)) ;; *) F=$((F + 1)) ;; esac
    echo "$out"
}

# model, input kind (image C,H,W or text), opsets, whether to redraw the weights
one() {
    local model=$1 shape=$2 opsets=$3 redraw=$4
    local name
    name=$(basename "$model" .nbm)
    [ "$name" != "$model" ] && [ ! -d "$model" ] && name=$name.nbm
    local d=$W/$name
    mkdir -p "$d"
    local xargs=() wargs=() iargs=() ins=("$d/x.npy")
    if [ "$shape" = text ]; then
        try "$name: input" $PY "$T" input "$d/x.npy" int64 1 3 9 || return
        ins+=("$d/mask.npy") # row 0 whole, row 1 right-padded, row 2 left-padded
        try "$name: mask" $PY -c "import numpy as np; m = np.ones((3, 9), np.int64); m[1, 5:] = 0; m[2, :3] = 0; np.save('$d/mask.npy', m)" || return
    else
        iargs=(--input "$shape")
        try "$name: input" $PY "$T" input "$d/x.npy" float32 1 2 ${shape//,/ } || return
    fi
    if [ -d "$model" ]; then
        : # a model directory brings its weights
    elif [ "$redraw" = 1 ]; then
        try "$name: fresh export" "$N" export --model "$model" "${iargs[@]}" --out "$d/fresh.onnx" || return
        try "$name: weights" $PY "$T" weights "$d/fresh.onnx" "$d/w.safetensors" 3 || return
        rm -f "$d/fresh.onnx"
        wargs=(--weights "$d/w.safetensors")
    fi
    try "$name: nabla run" "$N" run "$model" "${ins[@]}" "${wargs[@]}" --out "$d/nabla" || return
    for opset in $opsets; do
        local f=$d/m$opset.onnx
        try "$name opset $opset: export" "$N" export --model "$model" "${wargs[@]}" "${iargs[@]}" --opset "$opset" \
            --out "$f" || continue
        check "$name opset $opset" "$f"
        if [ "$shape" = text ]; then
            local inputs
            inputs=$($PY -c "import onnx; print(','.join(i.name for i in onnx.load('$f').graph.input))" 2>&1)
            if [ "$inputs" = input_ids,attention_mask ]; then pass "$name opset $opset: graph inputs input_ids, attention_mask"
            else fail "$name opset $opset: graph inputs are '$inputs', not input_ids,attention_mask"; fi
        fi
        if try "$name opset $opset: onnxruntime" $ORT "$f" "${ins[@]}" --out "$d/ort$opset"; then
            compare "$name opset $opset: onnxruntime vs nabla" "$d/ort$opset/output_0.npy" "$d/nabla/output_0.npy" 1e-5
        fi
        # export -> import -> export
        if try "$name opset $opset: re-export" "$N" export --model "$f" --out "$d/again$opset.onnx" &&
            try "$name opset $opset: nabla run" "$N" run "$f" "${ins[@]}" --out "$d/imp$opset" &&
            try "$name opset $opset: nabla run again" "$N" run "$d/again$opset.onnx" "${ins[@]}" --out "$d/again$opset" &&
            try "$name opset $opset: onnxruntime again" $ORT "$d/again$opset.onnx" "${ins[@]}" --out "$d/ortagain$opset"; then
            compare "$name opset $opset: re-exported vs exported, nabla" "$d/again$opset/output_0.npy" "$d/imp$opset/output_0.npy" 0
            compare "$name opset $opset: re-exported in onnxruntime vs nabla" "$d/ortagain$opset/output_0.npy" "$d/nabla/output_0.npy" 1e-5
        fi
        rm -f "$f" "$d/again$opset.onnx"
    done
    rm -rf "$d"
}

MODELS=("$@")
if [ ${#MODELS[@]} -eq 0 ]; then
    MODELS=(mlp cnn lenet5 resnet_small resnet18 resnet34 vgg11 vgg11_bn vgg16 vgg16_bn models/*.nbm tests/onnx_export_layers.nbm
        bert_tiny gpt2_tiny tests/goldens/gpt2_layer_idx)
fi
for m in "${MODELS[@]}"; do
    case $m in
    resnet18 | resnet34) one "$m" 3,64,64 "13 17" 1 ;;
    vgg11 | vgg16) one "$m" 3,32,32 17 0 ;;             # features 1x1, avgpool to 7x7 by MatMuls
    vgg11_bn | vgg16_bn) one "$m" 3,64,64 17 0 ;;       # features 2x2, overlapping bins
    bert_tiny | gpt2_tiny | tests/goldens/gpt2_layer_idx) one "$m" text "13 17" 1 ;;
    tests/onnx_export_layers.nbm) one "$m" 3,15,15 "13 17" 1 ;; # every layer kind of a model file
    *) one "$m" 1,28,28 "13 17" 1 ;;
    esac
done

# a fixed batch: the graph's input says 2 and onnxruntime refuses another
d=$W/fixed
mkdir -p "$d"
if try "fixed batch: export" "$N" export --model cnn --batch 2 --out "$d/b2.onnx" &&
    try "fixed batch: inputs" $PY "$T" input "$d/x2.npy" float32 1 2 1 28 28 &&
    try "fixed batch: inputs" $PY "$T" input "$d/x3.npy" float32 1 3 1 28 28; then
    check "fixed batch" "$d/b2.onnx"
    if $ORT "$d/b2.onnx" "$d/x2.npy" --out "$d/o2" >/dev/null 2>&1 && ! $ORT "$d/b2.onnx" "$d/x3.npy" --out "$d/o3" >/dev/null 2>&1; then
        pass "fixed batch: onnxruntime runs batch 2 and refuses batch 3"
    else fail "fixed batch: onnxruntime runs batch 2 and refuses batch 3"; fi
fi
# an opset the writer does not write
if out=$("$N" export --model cnn --opset 12 --out "$d/x.onnx" 2>&1); then fail "opset 12 refused"; else
    case $out in *"opsets 13 to 17"*) pass "opset 12 refused: $out" ;; *) fail "opset 12 refused: $out" ;; esac
fi
echo "$P passed, $F failed"
[ "$F" -eq 0 ]
