#!/usr/bin/python3
"""PyTorch CPU reference: what `nabla bench` is measured against, printed in its format.

Needs Debian's PyTorch and torchvision (run with the system interpreter):
    apt-get install -y python3-torch python3-torchvision dataset-fashion-mnist
    /usr/bin/python3 bench/torch_bench.py --model cnn --threads 2 --steps 100
    /usr/bin/python3 bench/torch_bench.py --model resnet18 --input 3,32,32 --batch 64 --steps 20
    /usr/bin/python3 bench/torch_bench.py --model cnn --epochs 10   # time-to-accuracy

Models (nabla's built-in models of the same names are the same modules):
  mlp : Flatten, Linear(784,512), ReLU, Linear(512,256), ReLU, Linear(256,10)
  cnn : Conv2d(1,32,3,p=1), BatchNorm2d(32), ReLU, MaxPool2d(2),
        Conv2d(32,64,3,p=1), BatchNorm2d(64), ReLU, MaxPool2d(2),
        Flatten, Linear(3136,128), ReLU, Dropout(0.25), Linear(128,10)
  resnet18, vgg11_bn : torchvision's, 10 classes, the first conv taking C input channels
  resnet_small : the CIFAR-style ResNet-14 of He et al. sec. 4.2 built from torchvision's
        BasicBlock (conv1 3x3 16 channels, bn1, relu, layer1..3 of 2 blocks with 16/32/64
        channels and strides 1/2/2, AdaptiveAvgPool2d(1), fc Linear(64, 10)).
Recipe: SGD lr=0.05 momentum=0.9 weight_decay=5e-4, CrossEntropyLoss, batch 128,
Fashion-MNIST inputs scaled to [0,1]; with --input C,H,W one batch of uniform [0,1)
images of that shape and random labels of 10 classes, trained on again and again
(`nabla bench --input` does the same).

Prints one line of key=value pairs: train_img_per_s (steady-state training steps on
preloaded tensors, no data loading), infer_b1_us and infer_b1_median_us (batch-1 eval
latency: the mean and the median of the timed calls),
peak_rss_mb, and with --epochs the test accuracy and wall seconds.
"""
import argparse, resource, time

import torch
import torch.nn as nn

import fmnist

p = argparse.ArgumentParser()
p.add_argument("--model", default="cnn", choices=["mlp", "cnn", "resnet_small", "resnet18", "vgg11_bn"])
p.add_argument("--threads", type=int, default=2)
p.add_argument("--steps", type=int, default=100)
p.add_argument("--epochs", type=int, default=0)
p.add_argument("--batch", type=int, default=128)
p.add_argument("--input", default="", help="C,H,W: synthetic images of this shape instead of Fashion-MNIST")
p.add_argument("--data", default=fmnist.DATA)
a = p.parse_args()


torch.set_num_threads(a.threads)
torch.manual_seed(0)
B = a.batch
if a.input:
    C, H, W = (int(v) for v in a.input.split(","))
    X = torch.rand(B, C, H, W)
    Y = torch.randint(0, 10, (B,))
    Xt, Yt = X[:1], Y[:1]
else:
    C = 1
    X, Y = fmnist.split(a.data, "train")
    Xt, Yt = fmnist.split(a.data, "t10k")


def resnet_small():
    from torchvision.models.resnet import BasicBlock

    def layer(cin, cout, stride):
        down = None
        if stride != 1 or cin != cout:
            down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        return nn.Sequential(BasicBlock(cin, cout, stride, down), BasicBlock(cout, cout))

    return nn.Sequential(nn.Conv2d(C, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(inplace=True),
                         layer(16, 16, 1), layer(16, 32, 2), layer(32, 64, 2), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(64, 10))


def resnet18():
    import torchvision
    m = torchvision.models.resnet18(num_classes=10)
    if C != 3:
        m.conv1 = nn.Conv2d(C, 64, 7, 2, 3, bias=False)
    return m


def vgg11_bn():
    import torchvision
    m = torchvision.models.vgg11_bn(num_classes=10)
    if C != 3:
        m.features[0] = nn.Conv2d(C, 64, 3, padding=1)
    return m


models = {
    "mlp": lambda: nn.Sequential(nn.Flatten(), nn.Linear(C * 784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                                 nn.Linear(256, 10)),
    "cnn": lambda: nn.Sequential(nn.Conv2d(C, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
                                 nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
                                 nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.25),
                                 nn.Linear(128, 10)),
    "resnet_small": resnet_small,
    "resnet18": resnet18,
    "vgg11_bn": vgg11_bn,
}
m = models[a.model]()
opt = torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
lossf = nn.CrossEntropyLoss()


def step(x, y):
    opt.zero_grad(set_to_none=True)
    loss = lossf(m(x), y)
    loss.backward()
    opt.step()
    return loss


def batch(i):
    if a.input:
        return X, Y
    j = (i * B) % (len(X) - B)
    return X[j:j + B], Y[j:j + B]


out = [f"torch={torch.__version__}", f"model={a.model}"]
if a.input:
    out.append(f"input={a.input}")
out += [f"threads={a.threads}", f"batch={B}"]
if a.epochs and not a.input:
    t0 = time.perf_counter()
    for e in range(a.epochs):
        m.train()
        perm = torch.randperm(len(X))
        for j in range(0, len(X) - B + 1, B):
            i = perm[j:j + B]
            step(X[i], Y[i])
    secs = time.perf_counter() - t0
    m.eval()
    with torch.no_grad():
        acc = (m(Xt).argmax(1) == Yt).float().mean().item()
    out += [f"epochs={a.epochs}", f"test_acc={acc:.4f}", f"train_seconds={secs:.1f}"]
else:
    m.train()
    for i in range(10):
        step(*batch(i))
    t0 = time.perf_counter()
    for i in range(a.steps):
        step(*batch(i))
    out.append(f"train_img_per_s={a.steps * B / (time.perf_counter() - t0):.0f}")
m.eval()
with torch.no_grad():
    x1 = Xt[:1]
    for _ in range(50):
        m(x1)
    n1 = 500 if a.model in ("mlp", "cnn") else 50
    t0 = ti = time.perf_counter()
    ts = []
    for _ in range(n1):
        m(x1)
        tn = time.perf_counter()
        ts.append(tn - ti)
        ti = tn
    ts.sort()
    out.append(f"infer_b1_us={(ti - t0) / n1 * 1e6:.1f}")
    out.append(f"infer_b1_median_us={(ts[n1 // 2 - 1] + ts[n1 // 2]) / 2 * 1e6:.1f}")
out.append(f"peak_rss_mb={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")
print(" ".join(out))
