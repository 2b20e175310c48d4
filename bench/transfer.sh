#!/bin/sh
# Transfer learning on Fashion-MNIST (issue 6): pretrain the cnn on classes 0-4
# (30,000 images), then train on classes 5-9 with only 100 labelled images per class
# (500 images): the pretrained backbone frozen (new head only), fine-tuned whole
# (backbone at a 10x smaller learning rate, or at the head's), and the same model
# from scratch. Test accuracy on the 5,000 test images of classes 5-9, for SEEDS
# seeds of the few-shot choice and training order. Prints a Markdown table.
#   sh bench/transfer.sh [PRETRAIN_EPOCHS] [FINETUNE_EPOCHS] [SEEDS]   (about 10 minutes on 2 busy cores)
set -eu
cd "$(dirname "$0")/.."
PE=${1:-3}
FE=${2:-30}
SEEDS=${3:-3}
N=build/nabla
T=${NB_THREADS:-2}
W=$(mktemp -d)
common="--model cnn --threads $T --quiet --lr-schedule none --label-smoothing 0" # the recipe of BENCHMARKS.md's table
echo "pretraining cnn on classes 0-4, $PE epochs" >&2
$N train $common --classes 0-4 --epochs "$PE" --save "$W/pre.safetensors" | sed 's/^/  pretrain: /' >&2
few="--classes 5-9 --per-class 100 --batch-size 32 --epochs $FE"
run() { # label, seed, extra options
    acc=$($N train $common $few --seed "$2" $3 | sed -n 's/.*test_acc=\([0-9.]*\).*/\1/p')
    echo "$1 seed $2: $acc" >&2
    echo "$acc"
}
row() { # label, extra options
    accs=""
    for s in $(seq 1 "$SEEDS"); do accs="$accs $(run "$1" "$s" "$2")"; done
    echo "$accs" | awk -v l="$1" '{ s = 0; mn = 1; mx = 0; for (i = 1; i <= NF; i++) { s += $i; if ($i < mn) mn = $i; if ($i > mx) mx = $i }
        printf "| %s | %.2f | %.2f - %.2f |\n", l, 100 * s / NF, 100 * mn, 100 * mx }'
}
echo "| classes 5-9, 100 images per class | test accuracy % (mean of $SEEDS seeds) | range |"
echo "|---|---|---|"
row "from scratch" ""
row "pretrained, backbone frozen (head only)" "--pretrained $W/pre.safetensors --freeze backbone"
row "pretrained, fine-tuned, backbone lr 0.005 (head 0.05)" "--pretrained $W/pre.safetensors --lr-backbone 0.005"
row "pretrained, fine-tuned, one lr 0.05" "--pretrained $W/pre.safetensors"
rm -rf "$W"
