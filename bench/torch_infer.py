#!/usr/bin/python3
"""torch_infer.py - PyTorch's eval-mode inference time of torchvision's resnet18 (1000
classes, 3x224x224), the reference of bench/onnx_bench.sh, printed as
`torch_us=<median> torch_mean_us=<mean> threads=T runs=R`.

    /usr/bin/python3 bench/torch_infer.py --batch 32 --threads 2 --warmup 3 --runs 10

Needs Debian's python3-torch and python3-torchvision; random weights (the time does not
depend on them), torch.no_grad(), one process, torch.set_num_threads(T).
"""
import argparse
import time

import torch
import torchvision

p = argparse.ArgumentParser()
p.add_argument("--batch", type=int, default=1)
p.add_argument("--threads", type=int, default=1)
p.add_argument("--warmup", type=int, default=10)
p.add_argument("--runs", type=int, default=50)
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
m = torchvision.models.resnet18(num_classes=1000).eval()
x = torch.rand(a.batch, 3, 224, 224)
us = []
with torch.no_grad():
    for i in range(a.warmup + a.runs):
        t0 = time.perf_counter()
        m(x)
        if i >= a.warmup:
            us.append((time.perf_counter() - t0) * 1e6)
us.sort()
print(f"torch_us={us[len(us) // 2]:.1f} torch_mean_us={sum(us) / len(us):.1f} threads={a.threads} runs={a.runs}")
