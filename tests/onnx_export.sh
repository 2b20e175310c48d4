#!/bin/bash
# ONNX export (docs/onnx.md "Export"): every built-in model, every models/*.nbm and the
# text models, exported by `nabla export`, must
#   (a) pass onnx.checker.check_model(full_check=True) (Debian's python3-onnx),
#   (b) run in onnxruntime (npm's onnxruntime-node, tools/onnx/ort_run.js) and give
#       nabla's own outputs (`nabla run MODEL --weights W`) within 1e-5 of the largest
#       output, at opsets 13 and 17, and
#   (c) give the same outputs after export -> import -> export (`nabla export --model
#       exported.onnx`), bit for bit in nabla and within 1e-5 in onnxruntime, and
#   (d) be written again from the imported file at the other opset (13 -> 17 with a
#       symbolic batch, 17 -> 13 with batch 1) passing (a) and giving nabla's outputs in
#       onnxruntime within 1e-5.
# Then torchvision's resnet18, mobilenet_v2, squeezenet1_1 (64x64) and vgg11_bn (224x224)
# exported by torch.onnx.export (where PyTorch is installed) and ONNX's backend test models at older
# opsets (libonnx-testdata, tools/onnx/reexport_check.py) written again the same way.
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
        # the imported file written at the other opset: 13 -> 17 with a symbolic batch, 17 -> 13 with batch 1
        if [ "$opset" = 13 ]; then reexport "$name opset 13" "$f" 17 dynamic "$d/imp13/output_0.npy" "${ins[@]}"
        else reexport "$name opset $opset" "$f" 13 1 "" "${ins[@]}"; fi
        rm -f "$f" "$d/again$opset.onnx"
    done
    rm -rf "$d"
}

# reexport LABEL FILE OPSET BATCH NABLA_OUT.npy|"" X.npy [X2.npy ...]: `nabla export --model FILE
# --opset OPSET --batch BATCH` must pass the checker and run in onnxruntime with nabla's
# outputs of FILE (NABLA_OUT, else computed; on the inputs X..., or on each one's first
# sample for a fixed batch of 1) within 1e-5
reexport() {
    local label="$1 -> opset $3 batch $4" f=$2 opset=$3 batch=$4 want=$5
    shift 5
    local xs=("$@") d i
    d=$(mktemp -d -p "$W")
    try "$label: export" "$N" export --model "$f" --opset "$opset" --batch "$batch" --out "$d/r.onnx" || return
    check "$label" "$d/r.onnx"
    if [ "$batch" = 1 ]; then
        for i in "${!xs[@]}"; do
            try "$label: first sample of input $i" $PY "$T" first "${xs[$i]}" "$d/x1_$i.npy" || return
            xs[$i]=$d/x1_$i.npy
        done
        want=
    fi
    if [ -z "$want" ]; then
        try "$label: nabla run" "$N" run "$f" "${xs[@]}" --out "$d/nabla" || return
        want=$d/nabla/output_0.npy
    fi
    if try "$label: onnxruntime" $ORT "$d/r.onnx" "${xs[@]}" --out "$d/ort"; then
        compare "$label: onnxruntime vs nabla" "$d/ort/output_0.npy" "$want" 1e-5
    fi
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

# torchvision's models exported by torch.onnx.export (only where Debian's python3-torch and
# python3-torchvision are installed; CI has neither): each file imported and written at the
# other opset with a symbolic batch and with batch 1
if [ ${#@} -eq 0 ] && $PY -c "import torch, torchvision" 2>/dev/null; then
    d=$W/torchvision
    mkdir -p "$d"
    if try "torchvision: export" $PY tools/onnx/check_torchvision.py --nabla "$N" --out "$d" --keep --size 64 \
        --models resnet18,mobilenet_v2,squeezenet1_1 --opsets 13,17; then
        for f in "$d"/*.onnx; do
            b=$(basename "$f" .onnx)
            case $b in *op13*) other=17 ;; *) other=13 ;; esac
            reexport "torchvision $b" "$f" $other dynamic "${f%.onnx}_out/output_0.npy" "$d/x.npy"
            reexport "torchvision $b" "$f" $other 1 "" "$d/x.npy"
            rm -f "$f"
        done
    fi
    rm -rf "$d"
    # vgg11_bn at 224x224 (torch exports its 7x7 adaptive pool only from a 7x7 map; the file is
    # 530 MB): opset 17 with BatchNormalization kept, written at 13 with a symbolic batch
    mkdir -p "$d"
    if try "torchvision: export vgg11_bn" $PY tools/onnx/check_torchvision.py --nabla "$N" --out "$d" --keep --size 224 \
        --models vgg11_bn --opsets 17 --modes PRESERVE; then
        f=$d/vgg11_bn_op17_preserve.onnx
        reexport "torchvision vgg11_bn_op17_preserve" "$f" 13 dynamic "${f%.onnx}_out/output_0.npy" "$d/x.npy"
    fi
    rm -rf "$d"
else
    echo "skip torchvision models (no python3-torch/python3-torchvision, or models named)"
fi

# ONNX's backend test models (libonnx-testdata) at older opsets, written at 13 and 17
TD=/usr/share/libonnx-testdata/data
if [ ${#@} -eq 0 ] && [ -d "$TD" ]; then
    tests=()
    for t in pytorch-converted/test_Softmax pytorch-converted/test_log_softmax_dim3 pytorch-converted/test_PReLU_2d_multiparam \
        pytorch-converted/test_BatchNorm2d_eval pytorch-operator/test_operator_chunk pytorch-operator/test_operator_clip \
        pytorch-operator/test_operator_pad pytorch-operator/test_operator_index node/test_dropout_default_old node/test_averagepool_2d_pads \
        pytorch-operator/test_operator_reduced_sum node/test_upsample_nearest node/test_resize_upsample_scales_nearest \
        node/test_squeeze node/test_unsqueeze_axis_0 node/test_reduce_sum_keepdims_example node/test_split_variable_parts_1d \
        node/test_dropout_default node/test_layer_normalization_4d_axis1 node/test_layer_normalization_3d_axis_negative_2_epsilon \
        node/test_hardswish node/test_shape_start_1_end_negative_1 node/test_clip_default_inbounds node/test_slice; do
        [ -d "$TD/$t" ] && tests+=("$TD/$t")
    done
    out=$(NODE_PATH=$NODE_PATH $PY tools/onnx/reexport_check.py "$N" tools/onnx/ort_run.js "$W" 13,17 "${tests[@]}" 2>&1)
    echo "$out" | grep -v "passed, .* failed"
    P=$((P + $(echo "$out" | grep -c "^ok")))
    F=$((F + $(echo "$out" | grep -c "^FAIL")))
fi

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
# what the target opset cannot express is refused naming the node
if [ -f "$TD/node/test_tril/model.onnx" ]; then
    if out=$("$N" export --model "$TD/node/test_tril/model.onnx" --opset 13 --out "$d/t.onnx" 2>&1); then fail "Trilu to opset 13 refused"; else
        case $out in *"(Trilu, opset 14): the op does not exist at opset 13"*) pass "Trilu to opset 13 refused: $out" ;;
        *) fail "Trilu to opset 13 refused: $out" ;; esac
    fi
fi
echo "$P passed, $F failed"
[ "$F" -eq 0 ]
