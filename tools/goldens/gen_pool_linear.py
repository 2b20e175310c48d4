#!/usr/bin/python3
"""Goldens for adaptive average pooling + flatten + Linear (nabla's fused op,
src/ops/pool_linear.c): torch.nn.functional.adaptive_avg_pool2d, torch.flatten(., 1)
and F.linear in PyTorch 1.13, forward and the gradients of x, W and b for an upstream
gradient g, at inputs that the pool upsamples (1x1, 2x2, 3x5, 2x3 to 7x7, 3x4, 5x5),
copies (7x7) and shrinks (9x8).

Writes tests/goldens/pool_linear.safetensors: case k as "k.x" (N, C, H, W), "k.w"
(NO, C*OH*OW), "k.b", "k.g" (N, NO), "k.y", "k.dx", "k.dw", "k.db"; metadata "cases"
and "k" = "OH OW".

Run: /usr/bin/python3 tools/goldens/gen_pool_linear.py
"""
import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import stio  # noqa: E402

torch.manual_seed(14)
OUT = os.path.join(HERE, "..", "..", "tests", "goldens", "pool_linear.safetensors")
CASES = [(1, 1, 7, 7), (2, 2, 7, 7), (3, 5, 7, 7), (2, 3, 3, 4), (1, 1, 5, 5), (7, 7, 7, 7), (9, 8, 7, 7)]
N, C, NO = 3, 4, 5
tensors, meta = {}, {"cases": str(len(CASES))}
for k, (H, W, OH, OW) in enumerate(CASES):
    x = (torch.rand(N, C, H, W) * 2 - 1).requires_grad_()
    w = (torch.rand(NO, C * OH * OW) * 2 - 1).requires_grad_()
    b = (torch.rand(NO) * 2 - 1).requires_grad_()
    g = torch.rand(N, NO) * 2 - 1
    y = F.linear(torch.flatten(F.adaptive_avg_pool2d(x, (OH, OW)), 1), w, b)
    y.backward(g)
    for name, t in (("x", x), ("w", w), ("b", b), ("g", g), ("y", y), ("dx", x.grad), ("dw", w.grad),
                    ("db", b.grad)):
        tensors["%d.%s" % (k, name)] = t.detach()
    meta[str(k)] = "%d %d" % (OH, OW)
stio.save(OUT, tensors, meta)
print("wrote", OUT, os.path.getsize(OUT), "bytes")
