#!/usr/bin/python3
"""Optimizer, clipping and schedule goldens from PyTorch 1.13.

Three parameters (shapes (4,3), (5,), (2,2,3)) start from fixed values; for 10
steps their gradients are set to fixed random tensors and the optimizer steps.
Every configuration records the parameters after each step.
Writes tests/goldens/optim.safetensors.  Run: /usr/bin/python3 tools/goldens/gen_optim.py
"""
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
import stio  # noqa: E402

torch.manual_seed(0)
SHAPES = [(4, 3), (5,), (2, 2, 3)]
init = [torch.randn(s) for s in SHAPES]
grads = [[torch.randn(s) for s in SHAPES] for _ in range(10)]
out = {}
for k, t in enumerate(init):
    out[f"init.{k}"] = t
for step in range(10):
    for k in range(3):
        out[f"grad.{step}.{k}"] = grads[step][k]

CONFIGS = {
    "sgd": lambda p: torch.optim.SGD(p, lr=0.1),
    "sgd_momentum": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
    "sgd_dampening": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.3),
    "sgd_nesterov_wd": lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.01),
    "adam": lambda p: torch.optim.Adam(p, lr=0.01),
    "adam_wd_amsgrad": lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1, amsgrad=True),
    "adamw": lambda p: torch.optim.AdamW(p, lr=0.01),
    "adamw_amsgrad": lambda p: torch.optim.AdamW(p, lr=0.02, weight_decay=0.05, amsgrad=True),
    # two groups: params 0 and 1 with the defaults, param 2 with its own lr and weight decay
    "sgd_groups": lambda p: torch.optim.SGD([{"params": p[:2]}, {"params": p[2:], "lr": 0.01, "weight_decay": 0.5}],
                                            lr=0.1, momentum=0.9, weight_decay=0.001),
}
for name, make in CONFIGS.items():
    params = [t.clone().requires_grad_(True) for t in init]
    opt = make(params)
    for step in range(10):
        for k, p in enumerate(params):
            p.grad = grads[step][k].clone()
        opt.step()
        for k, p in enumerate(params):
            out[f"{name}.{step}.{k}"] = p.detach().clone()

# clipping: the first step's gradients
for norm_type, key in [(2.0, "2"), (math.inf, "inf"), (1.0, "1")]:
    params = [t.clone().requires_grad_(True) for t in init]
    for k, p in enumerate(params):
        p.grad = grads[0][k].clone()
    total = torch.nn.utils.clip_grad_norm_(params, max_norm=1.5, norm_type=norm_type)
    out[f"clip_norm.{key}.total"] = torch.tensor([float(total)], dtype=torch.float64)
    for k, p in enumerate(params):
        out[f"clip_norm.{key}.{k}"] = p.grad.clone()
params = [t.clone().requires_grad_(True) for t in init]
for k, p in enumerate(params):
    p.grad = grads[0][k].clone()
torch.nn.utils.clip_grad_value_(params, 0.5)
for k, p in enumerate(params):
    out[f"clip_value.{k}"] = p.grad.clone()


# schedules: lr of 30 steps
def lrs(make_sched):
    p = [torch.zeros(1, requires_grad=True)]
    opt = torch.optim.SGD(p, lr=0.1)
    s = make_sched(opt)
    v = []
    for _ in range(30):
        v.append(opt.param_groups[0]["lr"])
        opt.step()
        s.step()
    return torch.tensor(v, dtype=torch.float64)


S = torch.optim.lr_scheduler
out["sched.step"] = lrs(lambda o: S.StepLR(o, step_size=7, gamma=0.5))
out["sched.cosine"] = lrs(lambda o: S.CosineAnnealingLR(o, T_max=30, eta_min=0.001))
out["sched.warmup_cosine"] = lrs(lambda o: S.SequentialLR(
    o, [S.LinearLR(o, start_factor=1 / 3, total_iters=5), S.CosineAnnealingLR(o, T_max=25)], milestones=[5]))
out["sched.warmup_step"] = lrs(lambda o: S.SequentialLR(
    o, [S.LinearLR(o, start_factor=0.25, total_iters=4), S.StepLR(o, step_size=10, gamma=0.1)], milestones=[4]))

stio.save(os.path.join(os.path.dirname(__file__), "..", "..", "tests", "goldens", "optim.safetensors"), out,
          {"generator": "tools/goldens/gen_optim.py", "torch": torch.__version__})
print(len(out), "tensors")
