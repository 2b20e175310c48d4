#!/usr/bin/python3
"""PyTorch reference for recipes/fashion_mnist.conf (issue 14, time to accuracy): the model of
models/vgg_small.nbm trained with the recipe of that config file, so that the time nabla takes for
it can be set beside PyTorch's.

Recipe (the config's keys): SGD lr 0.05, momentum 0.9, Nesterov, weight decay 5e-4, batch 128,
CrossEntropyLoss(label_smoothing=0.1), a learning rate per epoch: CosineAnnealingLR(T_max =
epochs) (nabla's --lr-schedule cosine), RandomHorizontalFlip on the training images (applied per
image, as nabla's loader does), inputs scaled to [0, 1]. The recipe before:
--warmup-epochs 1 --crops, a LinearLR warm-up from 1/3 over
1 epoch, then CosineAnnealingLR(T_max = epochs - 1), and RandomCrop(28, padding=2) before the flip.
recipes/fashion_mnist_long.conf: --erasing --epochs 55 (torchvision's RandomErasing(p=0.5) after
the flip; it draws from torch's global generator, seeded with --seed).

    /usr/bin/python3 bench/torch_recipe.py --steps 20           # img/s of training steps
    /usr/bin/python3 bench/torch_recipe.py --epochs 16          # the recipe: accuracy per epoch

--steps K times K training steps after 3 warm-up steps (augmentation included) and prints
train_img_per_s; --epochs N trains N epochs and prints the test accuracy after each one and
the wall seconds. --model cnn trains nabla's cnn instead, with the same recipe.
"""
import argparse, time

import torch
import torch.nn as nn

import fmnist

p = argparse.ArgumentParser()
p.add_argument("--model", default="vgg_small", choices=["vgg_small", "cnn"])
p.add_argument("--epochs", type=int, default=0)
p.add_argument("--steps", type=int, default=0)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--lr", type=float, default=0.05)
p.add_argument("--batch", type=int, default=128)
p.add_argument("--data", default=fmnist.DATA)
p.add_argument("--warmup-epochs", type=int, default=0, choices=[0, 1])
p.add_argument("--crops", action="store_true", help="RandomCrop(28, padding=2) before the flip")
p.add_argument("--erasing", action="store_true",
               help="RandomErasing(p=0.5) after the flip (recipes/fashion_mnist_long.conf)")
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(a.seed)


X, Y = fmnist.split(a.data, "train")
Xt, Yt = fmnist.split(a.data, "t10k")


def block(cin, cout):
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]


if a.model == "vgg_small":  # models/vgg_small.nbm
    m = nn.Sequential(*block(1, 32), *block(32, 32), nn.MaxPool2d(2), *block(32, 64), *block(64, 64), nn.MaxPool2d(2),
                      *block(64, 128), *block(128, 128), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10))
else:  # models/cnn.nbm
    m = fmnist.cnn()
opt = torch.optim.SGD(m.parameters(), lr=a.lr, momentum=0.9, weight_decay=5e-4, nesterov=True)
lossf = nn.CrossEntropyLoss(label_smoothing=0.1)
B = a.batch
gen = torch.Generator().manual_seed(a.seed)


erase = None
if a.erasing:
    import torchvision.transforms as T
    erase = T.RandomErasing(p=0.5)


def augment(x):
    """RandomHorizontalFlip(0.5) of each image of x (N, 1, 28, 28), after RandomCrop(28, padding=2)
    with --crops, then torchvision's RandomErasing(p=0.5) with --erasing."""
    n = x.shape[0]
    padded = nn.functional.pad(x, (2, 2, 2, 2)) if a.crops else x
    off = torch.randint(0, 5, (n, 2), generator=gen) if a.crops else torch.zeros(n, 2, dtype=torch.long)
    flip = torch.rand(n, generator=gen) < 0.5
    out = torch.empty_like(x)
    for k in range(n):
        i, j = int(off[k, 0]), int(off[k, 1])
        crop = padded[k, :, i:i + 28, j:j + 28]
        out[k] = crop.flip(-1) if flip[k] else crop
        if a.erasing:
            out[k] = erase(out[k])
    return out


def step(i):
    x = augment(X[i])
    opt.zero_grad(set_to_none=True)
    loss = lossf(m(x), Y[i])
    loss.backward()
    opt.step()


out = [f"torch={torch.__version__}", f"model={a.model}", f"threads={a.threads}", f"batch={B}"]
if a.steps:
    m.train()
    perm = torch.randperm(len(X), generator=gen)
    for s in range(3):
        step(perm[s * B:(s + 1) * B])
    t0 = time.perf_counter()
    for s in range(3, 3 + a.steps):
        step(perm[s * B:(s + 1) * B])
    out.append(f"train_img_per_s={a.steps * B / (time.perf_counter() - t0):.0f}")
if a.epochs:
    cos = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(a.epochs - a.warmup_epochs, 1))
    sched = cos
    if a.warmup_epochs:
        warm = torch.optim.lr_scheduler.LinearLR(opt, start_factor=1 / 3, total_iters=1)
        sched = torch.optim.lr_scheduler.SequentialLR(opt, [warm, cos], milestones=[1])
    t0 = time.perf_counter()
    for e in range(a.epochs):
        m.train()
        perm = torch.randperm(len(X), generator=gen)
        for j in range(0, len(X), B):
            step(perm[j:j + B])
        sched.step()
        m.eval()
        with torch.no_grad():
            acc = sum((m(Xt[j:j + 1000]).argmax(1) == Yt[j:j + 1000]).sum().item() for j in range(0, len(Xt), 1000))
        acc /= len(Xt)
        print(f"epoch {e + 1} test_acc={acc:.4f} seconds={time.perf_counter() - t0:.1f}", flush=True)
    out += [f"epochs={a.epochs}", f"test_acc={acc:.4f}", f"wall_s={time.perf_counter() - t0:.1f}"]
print(" ".join(out))
