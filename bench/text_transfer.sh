#!/bin/bash
# Text transfer learning on wordnet-glosses (issue 16): a BERT-Tiny classifier (2 layers,
# hidden 128, WordPiece vocabulary of 8000 built from the training glosses) trained from
# scratch, against the same model first pretrained with masked-LM on the training
# glosses' text (no labels; `--task mlm`) and then fine-tuned with the same recipe
# (AdamW, lr LR, batch 32, the same seed). Both for CLS_STEPS steps over the 106,087
# labelled training glosses, and for a small label budget of FEW_STEPS steps
# (FEW_STEPS x 32 glosses); test accuracy on the 11,572 test glosses (45 supersenses).
# Each phase's wall and CPU time (user + system) and the 1-minute load at its start.
# Prints a Markdown table; the phases' own output goes to stderr.
#   bash bench/text_transfer.sh [CLS_STEPS] [MLM_STEPS] [FEW_STEPS] [LR]
# The default (1500 steps, 1000 pretraining steps, 300 steps, lr 1e-3) takes about 9
# minutes of CPU time. NB_THREADS sets the threads (default 2), NABLA the binary
# (default build/nabla).
set -eu
cd "$(dirname "$0")/.."
CS=${1:-1500}
PS=${2:-1000}
FS=${3:-300}
LR=${4:-1e-3}
N=${NABLA:-build/nabla}
T=${NB_THREADS:-2}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
common="--dataset wordnet-glosses --threads $T --seed 1"
ROWS=""
# phase LABEL ARGS...: runs nabla train ARGS, appends "LABEL|result|wall|cpu|load" to ROWS
phase() {
    label=$1
    shift
    load=$(cut -d' ' -f1 /proc/loadavg)
    echo "== $label: nabla train $*" >&2
    /usr/bin/time -f "%e %U %S" -o "$W/time" $N train "$@" >"$W/out"
    cat "$W/out" >&2
    res=$(sed -n 's/.*\(test_acc=[0-9.]*\).*/\1/p; s/.*\(heldout_mlm_loss=[0-9.]*\).*/\1/p' "$W/out")
    read -r wall user sys <"$W/time"
    cpu=$(echo "$user $sys" | awk '{ printf "%.0f", $1 + $2 }')
    ROWS="$ROWS$label|$res|$(printf %.0f "$wall")|$cpu|$load
"
}
phase "from scratch, $CS steps" $common --model bert_tiny --epochs 100 --max-steps "$CS" --lr "$LR"
phase "masked-LM pretraining, $PS steps" --task mlm $common --model bert_tiny --epochs 100 --max-steps "$PS" --save "$W/mlm"
phase "pretrained, fine-tuned $CS steps" $common --model "$W/mlm" --epochs 100 --max-steps "$CS" --lr "$LR" --save "$W/fine"
phase "from scratch, $FS steps" $common --model bert_tiny --epochs 1 --max-steps "$FS" --lr "$LR"
phase "pretrained, fine-tuned $FS steps" $common --model "$W/mlm" --epochs 1 --max-steps "$FS" --lr "$LR"
printf 'a domesticated carnivorous mammal\nmove fast by using the legs\n' |
    $N run --model "$W/fine" --text - --top 2 --threads "$T" >&2
echo "## $(date -u '+%Y-%m-%d %H:%M UTC'), $T thread(s), lr $LR, batch 32"
echo "| phase | result | wall s | CPU s | load at start |"
echo "|---|---|---|---|---|"
printf %s "$ROWS" | awk -F'|' '{ printf "| %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5 }'
