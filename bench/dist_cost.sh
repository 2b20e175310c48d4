#!/bin/sh
# The cost model of docs/distributed.md: predicted step time and scaling efficiency of
# data-parallel training for N ranks on a link of BW bit/s, from a measured compute time
# per step (one rank, its per-rank batch) and the gradient size.
#   sh bench/dist_cost.sh CNN_MS RESNET18_MS [ALPHA_US] [HIDE]
# CNN_MS, RESNET18_MS: measured milliseconds of one training step (nabla bench);
# ALPHA_US: per-message latency (default 25 µs, TCP); HIDE: the share of the compute the
# all-reduce can hide behind (default 0.5: the backward after the first bucket is ready).
# Prints a Markdown table.
cnn=${1:?usage: dist_cost.sh CNN_MS RESNET18_MS [ALPHA_US] [HIDE]}
r18=${2:?usage: dist_cost.sh CNN_MS RESNET18_MS [ALPHA_US] [HIDE]}
alpha=${3:-25}
hide=${4:-0.5}
awk -v cnn="$cnn" -v r18="$r18" -v alpha="$alpha" -v hide="$hide" 'BEGIN {
    # model, gradient bytes (4 x parameters), buckets (1 MB first, then 25 MB), compute ms
    name[1] = "cnn";      bytes[1] = 421834 * 4;   k[1] = 2; tc[1] = cnn
    name[2] = "resnet18"; bytes[2] = 11175370 * 4; k[2] = 3; tc[2] = r18
    split("2 8 64 512", ranks, " ")
    split("10 100", gbit, " ")
    print "| model | link | ranks | all-reduce bandwidth term ms | latency term ms | step ms, no overlap | step ms, overlapped | efficiency (overlapped) |"
    print "|---|---|---|---|---|---|---|---|"
    for (m = 1; m <= 2; m++) for (g = 1; g <= 2; g++) for (r = 1; r <= 4; r++) {
        N = ranks[r]; bw = gbit[g] * 1e9 / 8
        tb = 2 * (N - 1) / N * bytes[m] / bw * 1e3
        tl = 2 * (N - 1) * k[m] * alpha * 1e-3
        tcomm = tb + tl
        t0 = tc[m] + tcomm
        ex = tcomm - hide * tc[m]; if (ex < 0) ex = 0
        t1 = tc[m] + ex
        printf "| %s | %d Gbit/s | %d | %.2f | %.2f | %.1f | %.1f | %.0f%% |\n", name[m], gbit[g], N, tb, tl, t0, t1, 100 * tc[m] / t1
    }
}'
