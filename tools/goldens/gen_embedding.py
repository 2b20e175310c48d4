#!/usr/bin/python3
"""Embedding goldens: F.embedding / nn.Embedding forward and backward from PyTorch 1.13.

Case K: weight "K.weight" (num, dim), indices "K.idx" (I64, any shape), upstream
gradient "K.dy", output "K.y" and weight gradient "K.dweight" of sum(y * dy).
__metadata__ "caseK" = "padding_idx=P" (P as given to nn.Embedding: None or an int,
negative counting from the end). Repeated indices, the padding index, 0-d, 1-d and
3-d index tensors are covered.

Run: /usr/bin/python3 tools/goldens/gen_embedding.py
"""
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(__file__))
import stio  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "goldens", "embedding.safetensors")
torch.manual_seed(4321)

CASES = [
    (10, 4, None, [[1, 2, 4], [4, 3, 9]]),
    (10, 4, 2, [[2, 2, 5], [0, 2, 7]]),
    (10, 4, -1, [9, 3, 9, 9, 0]),
    (7, 3, 0, [[[0, 1], [1, 6]], [[6, 6], [0, 5]]]),
    (5, 6, None, 3),
    (300, 17, 11, [[i * 37 % 300 for i in range(40)], [11] * 40]),
]

tensors, meta = {}, {"cases": str(len(CASES))}
for k, (num, dim, pad, idx) in enumerate(CASES):
    emb = nn.Embedding(num, dim, padding_idx=pad)
    with torch.no_grad():
        emb.weight.copy_(torch.randn(num, dim))  # random also on the padding row: forward reads it as it is
    x = torch.tensor(idx, dtype=torch.int64)
    y = emb(x)
    dy = torch.randn_like(y)
    (y * dy).sum().backward()
    tensors[f"{k}.weight"] = emb.weight.detach()
    tensors[f"{k}.idx"] = x
    tensors[f"{k}.dy"] = dy
    tensors[f"{k}.y"] = y.detach()
    tensors[f"{k}.dweight"] = emb.weight.grad
    meta[f"case{k}"] = f"padding_idx={pad}"

# from_pretrained keeps the rows as given (padding row not zeroed) and freezes by default
w = torch.randn(6, 3)
e = nn.Embedding.from_pretrained(w, padding_idx=1)
tensors["pretrained.weight"] = w
tensors["pretrained.y"] = e(torch.tensor([1, 5, 1]))
meta["pretrained.requires_grad"] = str(int(e.weight.requires_grad))
e2 = nn.Embedding.from_pretrained(w, freeze=False)
meta["pretrained_unfrozen.requires_grad"] = str(int(e2.weight.requires_grad))
# a fresh Embedding with padding_idx zeroes that row
meta["fresh_padding_row_zero"] = str(int(bool((nn.Embedding(5, 3, padding_idx=-2).weight[3] == 0).all())))

stio.save(OUT, tensors, meta)
print("wrote", OUT, os.path.getsize(OUT), "bytes")
