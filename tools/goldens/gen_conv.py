#!/usr/bin/python3
"""Convolution and pooling goldens: Conv2d, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d,
global average pooling, and the built-in `cnn` and `lenet5` models.

Every case holds an input x, an upstream gradient dy, the layer's tensors (w, b),
the forward output y and the gradients of sum(y * dy) (dx, dw, db).
Each file's __metadata__ has "cases" = the count and "caseK" = the configuration
as space-separated key=value pairs that tests/test_conv.c and tests/test_pool.c parse:
  conv:  stride=2,1 padding=1,0 | padding=same | padding=valid  dilation=1,2 groups=2 bias=1
  pool:  op=max|avg|adaptive|global kernel=3,2 stride=2,1 padding=1,0 dilation=1,2 ceil=1
         include_pad=0 divisor=5 out=3,2 (adaptive output size)
Tensors of case K: "K.x", "K.dy", "K.w", "K.b", "K.y", "K.dx", "K.dw", "K.db".

The grid covers odd spatial sizes, stride 1/2/3, padding 0/1/2/same/valid, dilation
1/2, groups 1/2/C (depthwise), kernels 1/3/5/7, batch 1 and 7, unbatched inputs,
rectangular kernels and strides, without bias; tensors are kept small.

conv_models.safetensors: the `cnn` and `lenet5` models with weights from a formula
both sides compute (param_value below), a batch of 5 inputs, the logits in train
mode (dropout 0) and eval mode, the gradients of the small parameters, every 37th
element of the big Linear's gradient, and the BatchNorm running statistics after
the training forward.

Run: /usr/bin/python3 tools/goldens/gen_conv.py
"""
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
import stio  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "goldens")
torch.manual_seed(4321)
torch.set_num_threads(1)


def pair(v):
    return v if isinstance(v, tuple) else (v, v)


def pstr(v):
    a, b = pair(v)
    return "%d,%d" % (a, b)


def conv_case(wr, N, C, H, W, OC, k, stride=1, padding=0, dilation=1, groups=1, bias=True, unbatched=False):
    kh, kw = pair(k)
    shape = (C, H, W) if unbatched else (N, C, H, W)
    x = torch.randn(*shape, requires_grad=True)
    w = (torch.randn(OC, C // groups, kh, kw) / math.sqrt(C // groups * kh * kw)).requires_grad_()
    b = torch.randn(OC, requires_grad=True) if bias else None
    y = F.conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)
    dy = torch.randn_like(y)
    (y * dy).sum().backward()
    cfg = {"shape": ",".join(str(d) for d in shape), "oc": OC, "kernel": "%d,%d" % (kh, kw), "stride": pstr(stride),
           "dilation": pstr(dilation), "groups": groups, "bias": int(bias)}
    cfg["padding"] = padding if isinstance(padding, str) else pstr(padding)
    wr.case(cfg, {"x": x, "w": w, "b": b, "dy": dy, "y": y, "dx": x.grad, "dw": w.grad,
                  "db": b.grad if bias else None})


def gen_conv():
    wr = stio.CaseWriter(OUT, "conv_conv2d")
    # kernel 1/3/5/7, stride 1/2/3, padding 0/1/2/same/valid, dilation 1/2, groups 1/2/C, batch 1/7
    conv_case(wr, 7, 3, 9, 7, 5, 3, padding=1)
    conv_case(wr, 1, 4, 11, 9, 6, 3, stride=2, padding=1)
    conv_case(wr, 7, 2, 13, 11, 4, 5, stride=3, padding=2)
    conv_case(wr, 1, 3, 15, 13, 4, 7, padding=3)
    conv_case(wr, 7, 4, 7, 9, 8, 1)
    conv_case(wr, 1, 6, 9, 9, 4, 1, stride=2)
    conv_case(wr, 7, 3, 11, 9, 4, 3, dilation=2, padding=2)
    conv_case(wr, 1, 2, 13, 13, 3, 5, dilation=2, stride=2, padding=1)
    conv_case(wr, 7, 4, 9, 7, 6, 3, groups=2, padding=1)
    conv_case(wr, 1, 6, 11, 9, 6, 3, groups=6, padding=1)              # depthwise
    conv_case(wr, 7, 4, 9, 9, 8, 5, groups=4, padding=2, stride=2)     # depthwise x2
    conv_case(wr, 7, 3, 9, 7, 4, 3, padding="same")
    conv_case(wr, 1, 2, 10, 9, 3, 4, padding="same")                   # even kernel: extra pad bottom/right
    conv_case(wr, 1, 3, 11, 9, 4, (4, 2), padding="same", dilation=(1, 2))
    conv_case(wr, 7, 2, 9, 11, 3, 5, padding="same", dilation=2)
    conv_case(wr, 1, 3, 9, 9, 4, 3, padding="valid")
    conv_case(wr, 7, 3, 9, 13, 5, (3, 5), stride=(2, 1), padding=(1, 2))
    conv_case(wr, 1, 4, 8, 11, 4, (1, 3), stride=(1, 3), padding=(0, 1), bias=False)
    conv_case(wr, 7, 2, 5, 5, 3, 3, bias=False, padding=2)             # padding larger than the map needs
    conv_case(wr, 1, 1, 1, 1, 2, 1, padding=0)                         # 1x1 image
    conv_case(wr, 1, 3, 7, 9, 4, 3, padding=1, unbatched=True)
    conv_case(wr, 7, 1, 11, 11, 8, 3, padding=1)                       # like the cnn's first layer
    conv_case(wr, 1, 8, 7, 7, 8, 3, padding=1, groups=2, dilation=2, bias=False)
    conv_case(wr, 7, 2, 9, 9, 2, 7, stride=3, padding=3, dilation=1)
    # wide enough for the AVX-512 stride-1 kernels in every pass (>= 8 channels, >= 32 taps)
    conv_case(wr, 7, 9, 9, 7, 10, 3, padding=1)
    conv_case(wr, 1, 16, 7, 9, 12, 3, padding="same", dilation=2)
    conv_case(wr, 2, 16, 7, 7, 16, 3, groups=2, padding=1, bias=False)
    wr.save()


def pool_case(wr, op, shape, **kw):
    x = torch.randn(*shape)
    if op == "max":  # distinct values so the argmax is unique
        x = (torch.randperm(x.numel()).float().reshape(shape) / x.numel() - 0.5) * 4
    x.requires_grad_()
    cfg = {"op": op, "shape": ",".join(str(d) for d in shape)}
    if op == "max":
        k, s, p, d, c = kw.get("kernel"), kw.get("stride"), kw.get("padding", 0), kw.get("dilation", 1), kw.get("ceil", False)
        y = F.max_pool2d(x, k, s, p, d, ceil_mode=c)
        cfg.update(kernel=pstr(k), stride=pstr(s if s is not None else k), padding=pstr(p), dilation=pstr(d), ceil=int(c))
        if s is None:
            cfg["stride"] = "0,0"
    elif op == "avg":
        k, s, p, c = kw.get("kernel"), kw.get("stride"), kw.get("padding", 0), kw.get("ceil", False)
        inc, div = kw.get("include_pad", True), kw.get("divisor")
        y = F.avg_pool2d(x, k, s, p, ceil_mode=c, count_include_pad=inc, divisor_override=div)
        cfg.update(kernel=pstr(k), stride=pstr(s) if s is not None else "0,0", padding=pstr(p), ceil=int(c),
                   include_pad=int(inc), divisor=div or 0)
    elif op == "adaptive":
        o = kw["out"]
        y = F.adaptive_avg_pool2d(x, o)
        cfg["out"] = pstr(o)
    else:
        y = F.adaptive_avg_pool2d(x, 1)
    dy = torch.randn_like(y)
    (y * dy).sum().backward()
    wr.case(cfg, {"x": x, "dy": dy, "y": y, "dx": x.grad})


def gen_pool():
    wr = stio.CaseWriter(OUT, "conv_pool")
    pool_case(wr, "max", (7, 3, 9, 7), kernel=2)                       # stride defaults to kernel
    pool_case(wr, "max", (1, 2, 28, 28), kernel=2)                     # the cnn's fast path
    pool_case(wr, "max", (7, 2, 13, 15), kernel=2, stride=2)           # odd sizes: last row/column unused
    pool_case(wr, "max", (1, 3, 11, 9), kernel=3, stride=2, padding=1)
    pool_case(wr, "max", (7, 2, 9, 11), kernel=3, stride=1, padding=1) # overlapping windows
    pool_case(wr, "max", (1, 2, 13, 13), kernel=3, stride=2, dilation=2, padding=1)
    pool_case(wr, "max", (7, 2, 10, 9), kernel=3, stride=2, ceil=True)
    pool_case(wr, "max", (1, 2, 11, 11), kernel=(3, 2), stride=(2, 3), padding=(1, 1), ceil=True)
    pool_case(wr, "max", (3, 9, 9), kernel=3, stride=3)                # unbatched
    pool_case(wr, "max", (1, 1, 7, 7), kernel=7, stride=1)
    pool_case(wr, "avg", (7, 3, 9, 7), kernel=2)
    pool_case(wr, "avg", (1, 2, 11, 9), kernel=3, stride=2, padding=1)
    pool_case(wr, "avg", (1, 2, 11, 9), kernel=3, stride=2, padding=1, include_pad=False)
    pool_case(wr, "avg", (7, 2, 10, 9), kernel=3, stride=2, ceil=True)
    pool_case(wr, "avg", (1, 2, 10, 11), kernel=3, stride=2, padding=1, ceil=True)
    pool_case(wr, "avg", (1, 2, 10, 11), kernel=3, stride=2, padding=1, ceil=True, include_pad=False)
    pool_case(wr, "avg", (7, 2, 9, 9), kernel=(3, 2), stride=(1, 2), padding=(1, 1), divisor=5)
    pool_case(wr, "avg", (2, 13, 13), kernel=5, stride=3, padding=2)   # unbatched
    pool_case(wr, "adaptive", (7, 3, 9, 7), out=3)
    pool_case(wr, "adaptive", (1, 2, 11, 13), out=(4, 5))              # windows that overlap
    pool_case(wr, "adaptive", (1, 2, 5, 3), out=(7, 4))                # output larger than input
    pool_case(wr, "adaptive", (2, 9, 9), out=(1, 2))                   # unbatched
    pool_case(wr, "global", (7, 5, 9, 7))
    pool_case(wr, "global", (1, 3, 1, 1))
    wr.save()


# ---- models ----

def param_value(t, shape, kind, fan_in):
    """Deterministic weights both sides compute in double then round to float:
    v_i = bound * sin(0.7 i + 1.3 t + 0.5) for weights and biases of Conv/Linear,
    1 + 0.2 sin(...) for BatchNorm weights, 0.1 sin(...) for BatchNorm biases."""
    n = int(np.prod(shape))
    s = np.sin(0.7 * np.arange(n, dtype=np.float64) + 1.3 * t + 0.5)
    if kind == "bn_weight":
        v = 1 + 0.2 * s
    elif kind == "bn_bias":
        v = 0.1 * s
    else:
        v = s / math.sqrt(fan_in)
    return torch.tensor(v.astype(np.float32).reshape(shape))


def model_def(name):
    if name == "cnn":
        return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.0),
                             nn.Linear(128, 10))
    return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.Tanh(), nn.AvgPool2d(2), nn.Conv2d(6, 16, 5), nn.Tanh(),
                         nn.AvgPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.Tanh(), nn.Linear(120, 84), nn.Tanh(),
                         nn.Linear(84, 10))


def gen_models():
    t = {}
    meta = {}
    for name in ("cnn", "lenet5"):
        m = model_def(name)
        params = [(k, v) for k, v in m.named_parameters()]
        with torch.no_grad():
            for ti, (k, p) in enumerate(params):
                mod = m[int(k.split(".")[0])]
                if isinstance(mod, nn.BatchNorm2d):
                    p.copy_(param_value(ti, p.shape, "bn_" + k.split(".")[1], 1))
                else:
                    fan_in = mod.weight[0].numel()
                    p.copy_(param_value(ti, p.shape, "w", fan_in))
        init_state = {k: v.clone() for k, v in m.state_dict().items()}
        x = torch.rand(5, 1, 28, 28)
        y = torch.tensor([3, 1, 4, 1, 5])
        m.train()
        logits = m(x)
        loss = F.cross_entropy(logits, y)
        loss.backward()
        t[name + ".x"] = x
        t[name + ".y"] = y
        t[name + ".logits_train"] = logits.detach()
        t[name + ".loss"] = loss.detach().reshape([])
        for k, p in params:
            if p.numel() > 20000:
                t[name + ".grad_every37." + k] = p.grad.reshape(-1)[::37].clone()
            else:
                t[name + ".grad." + k] = p.grad
        # the same model in float64: the exact answer both float32 results are rounded
        # approximations of (cancelling sums such as BatchNorm's dγ = Σ g·x̂ differ between
        # two float32 computations by more than either differs from this)
        m64 = model_def(name).double()
        m64.load_state_dict(init_state)
        m64.train()
        F.cross_entropy(m64(x.double()), y).backward()
        for k, p in m64.named_parameters():
            g = p.grad.float()
            t[name + (".grad64_every37." if p.numel() > 20000 else ".grad64.") + k] = (
                g.reshape(-1)[::37].clone() if p.numel() > 20000 else g)
        for k, b in m.named_buffers():
            if b.dtype == torch.float32:
                t[name + ".after." + k] = b.detach().clone()
        m.eval()
        with torch.no_grad():
            t[name + ".logits_eval"] = m(x)
        meta[name + ".params"] = str(sum(p.numel() for p in m.parameters()))
        meta[name + ".state"] = ",".join(m.state_dict().keys())
    path = os.path.join(OUT, "conv_models.safetensors")
    stio.save(path, t, meta)
    print(path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    gen_conv()
    gen_pool()
    gen_models()
