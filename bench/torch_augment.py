#!/usr/bin/python3
"""PyTorch reference for issue 4: the cnn of bench/torch_bench.py trained
with its recipe (SGD lr 0.05, momentum 0.9, weight decay 5e-4, batch 128) for EPOCHS
epochs with CosineAnnealingLR (per epoch), with or without torchvision's
RandomCrop(28, padding=2), RandomHorizontalFlip, RandomErasing(p=0.5).
    /usr/bin/python3 bench/torch_augment.py [--augment] [--epochs 30] [--threads 1]
Prints the test accuracy per epoch and the wall time."""
import argparse, time

import torch
import torch.nn as nn
import torchvision.transforms as T

import fmnist

p = argparse.ArgumentParser()
p.add_argument("--augment", action="store_true")
p.add_argument("--epochs", type=int, default=30)
p.add_argument("--threads", type=int, default=1)
p.add_argument("--seed", type=int, default=0)
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(a.seed)
X, Y = fmnist.split(fmnist.DATA, "train")
Xt, Yt = fmnist.split(fmnist.DATA, "t10k")
aug = T.Compose([T.RandomCrop(28, padding=2), T.RandomHorizontalFlip(), T.RandomErasing(p=0.5)])
m = fmnist.cnn()
opt = torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=a.epochs)
lossf = nn.CrossEntropyLoss()
t0 = time.perf_counter()
for e in range(a.epochs):
    m.train()
    perm = torch.randperm(len(X))
    for j in range(0, len(X), 128):
        i = perm[j:j + 128]
        x = torch.stack([aug(X[k]) for k in i]) if a.augment else X[i]
        opt.zero_grad(set_to_none=True)
        lossf(m(x), Y[i]).backward()
        opt.step()
    sched.step()
    m.eval()
    with torch.no_grad():
        acc = (m(Xt).argmax(1) == Yt).float().mean().item()
    print(f"epoch {e + 1} test_acc={acc:.4f} seconds={time.perf_counter() - t0:.0f}", flush=True)
acc = acc if a.epochs > 0 else float("nan")  # no epoch: nothing measured
print(f"augment={a.augment} epochs={a.epochs} test_acc={acc:.4f} wall={time.perf_counter() - t0:.0f}")
