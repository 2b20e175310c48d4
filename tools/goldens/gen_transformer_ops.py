#!/usr/bin/python3
"""Transformer op goldens: GELU (approximate='none' and 'tanh') and the attention core
written as Hugging Face's BertSelfAttention / GPT2Attention compute it, from PyTorch 1.13.

gelu.K: "gelu.K.x", "gelu.K.dy", "gelu.K.y", "gelu.K.dx" (gradient of sum(y * dy));
__metadata__ "gelu.K" = "approximate=none|tanh".
att.K: q (B, H, Tq, D), k, v (B, H, Tk, D), optional mask (B, Tk) of 1/0, upstream dy;
outputs y and dq, dk, dv. __metadata__ "att.K" = "causal=0|1 mask=0|1".
    scores = q @ k^T / sqrt(D)                               (a float32 divisor)
    causal: where(j <= i + Tk - Tq, scores, finfo.min)       (GPT2Attention._attn)
    mask:   scores + (1 - m)[:, None, None, :] * finfo.min   (get_extended_attention_mask)
    y = softmax(scores, -1) @ v

Run: /usr/bin/python3 tools/goldens/gen_transformer_ops.py
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
import stio  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "goldens", "transformer_ops.safetensors")
torch.manual_seed(1616)
tensors, meta = {}, {}

GELU = [("none", torch.linspace(-8, 8, 161)), ("tanh", torch.linspace(-8, 8, 161)),
        ("none", torch.randn(3, 5, 7) * 2), ("tanh", torch.randn(3, 5, 7) * 2)]
for k, (approx, x) in enumerate(GELU):
    x = x.clone().requires_grad_(True)
    y = F.gelu(x, approximate=approx)
    dy = torch.randn_like(y)
    (y * dy).sum().backward()
    for n, t in (("x", x), ("dy", dy), ("y", y), ("dx", x.grad)):
        tensors[f"gelu.{k}.{n}"] = t.detach()
    meta[f"gelu.{k}"] = f"approximate={approx}"
meta["gelu.cases"] = str(len(GELU))


def attn(q, k, v, causal, mask):
    D, Tq, Tk = q.shape[-1], q.shape[-2], k.shape[-2]
    s = torch.matmul(q, k.transpose(-1, -2)) / torch.full([], D ** 0.5, dtype=q.dtype)
    mn = torch.finfo(q.dtype).min
    if causal:
        allow = torch.ones(Tk, Tk, dtype=torch.bool).tril()[Tk - Tq:Tk, :Tk]
        s = torch.where(allow, s, torch.full([], mn, dtype=s.dtype))
    if mask is not None:
        s = s + (1.0 - mask[:, None, None, :].to(q.dtype)) * mn
    return torch.matmul(F.softmax(s, dim=-1), v)


ATT = [  # B, H, Tq, Tk, D, causal, mask rows (lengths of the unpadded prefix, or None)
    (1, 1, 4, 4, 8, 0, None),
    (2, 3, 5, 5, 4, 0, [5, 3]),
    (2, 2, 6, 6, 8, 1, None),
    (3, 2, 7, 7, 4, 1, [7, 4, 2]),
    (2, 2, 3, 6, 4, 1, [6, 5]),
    (2, 4, 17, 17, 16, 0, [17, 9]),
]
for c, (B, H, Tq, Tk, D, causal, lens) in enumerate(ATT):
    q = torch.randn(B, H, Tq, D, requires_grad=True)
    k = torch.randn(B, H, Tk, D, requires_grad=True)
    v = torch.randn(B, H, Tk, D, requires_grad=True)
    mask = None
    if lens is not None:
        mask = torch.zeros(B, Tk, dtype=torch.int64)
        for b, n in enumerate(lens):
            mask[b, :n] = 1
        tensors[f"att.{c}.mask"] = mask
    y = attn(q, k, v, causal, mask)
    dy = torch.randn_like(y)
    (y * dy).sum().backward()
    for n, t in (("q", q), ("k", k), ("v", v), ("dy", dy), ("y", y), ("dq", q.grad), ("dk", k.grad), ("dv", v.grad)):
        tensors[f"att.{c}.{n}"] = t.detach()
    meta[f"att.{c}"] = f"causal={causal} mask={int(lens is not None)}"
meta["att.cases"] = str(len(ATT))

stio.save(OUT, tensors, meta)
print("wrote", OUT, os.path.getsize(OUT), "bytes")
