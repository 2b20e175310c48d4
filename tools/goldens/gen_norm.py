#!/usr/bin/python3
"""Normalization goldens: BatchNorm1d/2d, LayerNorm, InstanceNorm1d/2d, GroupNorm.

For every case: input x, an upstream gradient dy, the layer's weight/bias (random,
so the affine part is tested) and, for eval cases, running statistics; then the
forward output y and the gradients of sum(y * dy) for x, weight and bias.
Running-statistics cases do three training forwards (x0, x1, x2) and record
running_mean, running_var and num_batches_tracked after them.

Each file's __metadata__ has "cases" = the count and "caseK" = the configuration
as space-separated key=value pairs (tests/test_norm.c parses it):
  layer=BatchNorm2d shape=7,3,5,5 train=1 affine=1 track=1 momentum=0.1
  ns=3,5 (LayerNorm's normalized_shape) groups=2 (GroupNorm) steps=3 (running stats)
  tol=1e-4 (a looser tolerance where PyTorch's own rounding is that large)
Tensors of case K are named "K.x", "K.dy", "K.weight", "K.bias", "K.running_mean",
"K.running_var", "K.y", "K.dx", "K.dweight", "K.dbias", "K.num_batches_tracked",
and for running-statistics cases "K.x0", "K.x1", "K.x2".

Run: /usr/bin/python3 tools/goldens/gen_norm.py
"""
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(__file__))
import stio  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "goldens")
torch.manual_seed(1234)
torch.set_num_threads(1)


def rnd(*shape, scale=2.0, offset=3.0):
    # offset from zero so a variance that cancels would show
    return torch.randn(*shape) * scale + offset


def shape_str(s):
    return ",".join(str(d) for d in s)


def randomize(m):
    """Random affine parameters and running statistics (what eval cases use)."""
    with torch.no_grad():
        if getattr(m, "weight", None) is not None:
            m.weight.copy_(torch.rand_like(m.weight) * 1.5 + 0.25)
            m.bias.copy_(torch.randn_like(m.bias))
        if getattr(m, "running_mean", None) is not None:
            m.running_mean.copy_(torch.randn_like(m.running_mean) + 3.0)
            m.running_var.copy_(torch.rand_like(m.running_var) * 4 + 0.5)


def run_case(w, m, cfg, shape, train):
    randomize(m)
    m.train(train)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    x = rnd(*shape).requires_grad_(True)
    dy = torch.randn(*shape)
    y = m(x)
    (y * dy).sum().backward()
    t = {"x": x, "dy": dy, "y": y, "dx": x.grad}
    for k in ("weight", "bias", "running_mean", "running_var"):
        if k in before:
            t[k] = before[k]
    if getattr(m, "weight", None) is not None:
        t["dweight"], t["dbias"] = m.weight.grad, m.bias.grad
    if getattr(m, "running_mean", None) is not None:
        t["running_mean_after"] = m.running_mean
        t["running_var_after"] = m.running_var
    cfg = dict(cfg, shape=shape_str(shape), train=int(train))
    w.case(cfg, t)


def run_stats(w, m, cfg, shape):
    """Three training forwards from the default buffers; the buffers after."""
    m.train(True)
    xs = [rnd(*shape) for _ in range(3)]
    with torch.no_grad():
        for x in xs:
            m(x)
    t = {"x0": xs[0], "x1": xs[1], "x2": xs[2], "running_mean": m.running_mean, "running_var": m.running_var,
         "num_batches_tracked": m.num_batches_tracked}
    w.case(dict(cfg, shape=shape_str(shape), steps=3), t)


def bn_cfg(layer, C, affine=True, track=True, momentum=0.1):
    return {"layer": layer, "C": C, "affine": int(affine), "track": int(track),
            "momentum": "None" if momentum is None else momentum}


def batchnorm():
    w = stio.CaseWriter(OUT, "norm_batchnorm")
    grid = [("BatchNorm1d", nn.BatchNorm1d, [(7, 3), (7, 8), (2, 1), (1, 3, 5), (7, 3, 5), (7, 1, 9)]),
            ("BatchNorm2d", nn.BatchNorm2d, [(7, 3, 5, 5), (1, 8, 3, 7), (7, 1, 4, 3), (2, 8, 9, 11), (1, 3, 1, 2)])]
    for layer, cls, shapes in grid:
        for shape in shapes:
            C = shape[1]
            for train in (True, False):
                run_case(w, cls(C), bn_cfg(layer, C), shape, train)
        shape = shapes[-2]
        C = shape[1]
        for train in (True, False):
            run_case(w, cls(C, affine=False), bn_cfg(layer, C, affine=False), shape, train)
            run_case(w, cls(C, track_running_stats=False), bn_cfg(layer, C, track=False), shape, train)
        run_case(w, cls(C, momentum=0.3), bn_cfg(layer, C, momentum=0.3), shape, True)
        run_case(w, cls(C, momentum=None), bn_cfg(layer, C, momentum=None), shape, True)
    for layer, cls, shape in (("BatchNorm2d", nn.BatchNorm2d, (7, 3, 5, 5)), ("BatchNorm1d", nn.BatchNorm1d, (7, 8)),
                              ("BatchNorm1d", nn.BatchNorm1d, (3, 3, 5))):
        for momentum in (0.1, None):
            run_stats(w, cls(shape[1], momentum=momentum), bn_cfg(layer, shape[1], momentum=momentum), shape)
    w.save()


def layernorm():
    w = stio.CaseWriter(OUT, "norm_layernorm")
    for shape, nd in (((7, 5), 1), ((7, 3, 5), 2), ((2, 3, 4, 5), 3), ((1, 6), 1), ((4, 5), 2), ((7, 1), 1),
                      ((3, 2, 33), 1), ((3, 600), 1), ((2, 3, 130), 2)):
        ns = shape[len(shape) - nd:]
        for affine in (True, False):
            cfg = {"layer": "LayerNorm", "ns": shape_str(ns), "affine": int(affine)}
            if ns == (1,):
                # one value per row: the exact answer is y = bias (x - mean = 0), PyTorch's float
                # E[x²]-E[x]² leaves rounding noise of ~3e-7·|x|/√eps in y and dx
                cfg["tol"] = 1e-4
            run_case(w, nn.LayerNorm(ns, elementwise_affine=affine), cfg, shape, True)
    run_case(w, nn.LayerNorm((3, 5), eps=1e-3), {"layer": "LayerNorm", "ns": "3,5", "affine": 1, "eps": 1e-3},
             (7, 3, 5), False)
    w.save()


def instancenorm():
    w = stio.CaseWriter(OUT, "norm_instancenorm")
    grid = [("InstanceNorm1d", nn.InstanceNorm1d, [(7, 3, 9), (1, 8, 5), (3, 9), (7, 1, 2)]),
            ("InstanceNorm2d", nn.InstanceNorm2d, [(7, 3, 5, 5), (1, 8, 3, 7), (3, 5, 7), (2, 1, 1, 3)])]
    for layer, cls, shapes in grid:
        for shape in shapes:
            C = shape[-2] if layer == "InstanceNorm1d" else shape[-3]
            for affine in (False, True):
                run_case(w, cls(C, affine=affine), bn_cfg(layer, C, affine=affine, track=False), shape, True)
            for train in (True, False):
                run_case(w, cls(C, affine=True, track_running_stats=True),
                         bn_cfg(layer, C, affine=True, track=True), shape, train)
        shape = shapes[0]
        C = shape[1]
        run_case(w, cls(C, track_running_stats=True, momentum=0.3), bn_cfg(layer, C, affine=False, momentum=0.3),
                 shape, True)
        run_stats(w, cls(C, track_running_stats=True), bn_cfg(layer, C, affine=False), shape)
    w.save()


def groupnorm():
    w = stio.CaseWriter(OUT, "norm_groupnorm")
    for C, G, shape in ((8, 1, (7, 8, 5, 5)), (8, 2, (7, 8, 5, 5)), (8, 8, (7, 8, 5, 5)), (8, 2, (1, 8, 3)),
                        (3, 1, (7, 3, 5, 7)), (3, 3, (7, 3, 5, 7)), (1, 1, (7, 1, 4, 4)), (8, 2, (7, 8)),
                        (8, 4, (2, 8, 3, 3, 3))):
        for affine in ((True, False) if G == 2 and len(shape) == 4 else (True,)):
            cfg = {"layer": "GroupNorm", "groups": G, "C": C, "affine": int(affine)}
            run_case(w, nn.GroupNorm(G, C, affine=affine), cfg, shape, True)
    w.save()


def state():
    """A BatchNorm2d's state_dict after 3 training steps, under PyTorch's names
    (num_batches_tracked I64, shape []), for nb_load_safetensors; and the eval
    output of one input with it."""
    torch.manual_seed(99)
    m = nn.Sequential(nn.BatchNorm2d(3), nn.BatchNorm1d(4, momentum=None))
    with torch.no_grad():
        for _ in range(3):
            m[0](rnd(5, 3, 4, 4))
            m[1](rnd(6, 4))
        m[0].weight.uniform_(0.5, 1.5)
        m[0].bias.uniform_(-1, 1)
        m.eval()
        x = rnd(2, 3, 4, 4)
        sd = dict(m.state_dict())
        stio.save(os.path.join(OUT, "norm_state.safetensors"), sd)
        stio.save(os.path.join(OUT, "norm_state_eval.safetensors"), {"x": x, "y": m[0](x)})


batchnorm()
layernorm()
instancenorm()
groupnorm()
state()
