#!/usr/bin/python3
"""gen_onnx_rnn_backward.py - gradients through ONNX's RNN, GRU and LSTM: the ONNX
models built with onnx.helper (W, R, B, LSTM's P and the initial state as
initializers), their outputs and the gradients of loss = sum(Y * r) + sum(Y_h * rh)
with respect to X, W, R, B (and P) from the ONNX equations written in PyTorch (gate
orders z, r, h and i, o, f, c as ONNX; default activations), with autograd.

Writes tests/goldens/onnx_rnn_NAME.onnx and tests/goldens/onnx_rnn_backward.safetensors
(NAME.X, NAME.r, NAME.rh, NAME.Y, NAME.Y_h, NAME.grad.X, NAME.grad.W, ...).
Run with Debian's PyTorch and python3-onnx: /usr/bin/python3 tools/goldens/gen_onnx_rnn_backward.py
"""
import os

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

import stio

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "..", "tests", "goldens")
torch.manual_seed(0)
torch.set_default_dtype(torch.float64)


def cell(kind, x, h, c, W, R, B, P, lbr, H, clip=0):
    """one step of one direction; x (N, I), h, c (N, H); W (G·H, I), R (G·H, H), B (2·G·H);
    clip > 0 clamps every pre-activation to [-clip, clip] (ONNX's clip)"""
    G = {"RNN": 1, "GRU": 3, "LSTM": 4}[kind]
    cl = (lambda v: v.clamp(-clip, clip)) if clip > 0 else (lambda v: v)
    wb, rb = B[: G * H], B[G * H:]
    gx = x @ W.T + wb
    if kind == "RNN":
        return torch.tanh(cl(gx + h @ R.T + rb)), c
    if kind == "GRU":
        gh = h @ R[: 2 * H].T + rb[: 2 * H]
        z = torch.sigmoid(cl(gx[:, :H] + gh[:, :H]))
        r = torch.sigmoid(cl(gx[:, H:2 * H] + gh[:, H:]))
        if lbr:
            hh = torch.tanh(cl(gx[:, 2 * H:] + r * (h @ R[2 * H:].T + rb[2 * H:])))
        else:
            hh = torch.tanh(cl(gx[:, 2 * H:] + (r * h) @ R[2 * H:].T + rb[2 * H:]))
        return (1 - z) * hh + z * h, c
    g = gx + h @ R.T + rb
    i, o, f, cc = g[:, :H], g[:, H:2 * H], g[:, 2 * H:3 * H], g[:, 3 * H:]
    if P is not None:
        i = i + P[:H] * c
        f = f + P[2 * H:] * c
    i, f, cc = torch.sigmoid(cl(i)), torch.sigmoid(cl(f)), torch.tanh(cl(cc))
    c = f * c + i * cc
    if P is not None:
        o = o + P[H:2 * H] * c
    return torch.sigmoid(cl(o)) * torch.tanh(c), c


def run(kind, X, W, R, B, P, h0, dirs, lbr, H):
    """layout 0: X (S, N, I) -> Y (S, dirs, N, H), Y_h (dirs, N, H)"""
    S, N = X.shape[0], X.shape[1]
    ys = [[None] * dirs for _ in range(S)]
    hs = []
    for d in range(dirs):
        h = h0[d]
        c = torch.zeros(N, H)
        steps = range(S - 1, -1, -1) if d == 1 else range(S)
        for t in steps:
            h, c = cell(kind, X[t], h, c, W[d], R[d], B[d], None if P is None else P[d], lbr, H)
            ys[t][d] = h
        hs.append(h)
    Y = torch.stack([torch.stack(ys[t]) for t in range(S)])
    return Y, torch.stack(hs)


def run_lens(kind, X, W, R, B, P, h0, dirs, lbr, H, lens, clip):
    """as run, each batch entry b for lens[b] steps (the reverse direction from its last
    one); past its length an entry keeps its state and its Y is 0"""
    S, N = X.shape[0], X.shape[1]
    ys = [[torch.zeros(N, H) for _ in range(dirs)] for _ in range(S)]
    hs = []
    for d in range(dirs):
        h = h0[d]
        c = torch.zeros(N, H)
        for step in range(S):
            ts = [(lens[b] - 1 - step if d == 1 else step) for b in range(N)]
            valid = torch.tensor([float(step < lens[b]) for b in range(N)]).unsqueeze(1)
            x = torch.stack([X[ts[b], b] if step < lens[b] else torch.zeros(X.shape[2]) for b in range(N)])
            hn, cn = cell(kind, x, h, c, W[d], R[d], B[d], None if P is None else P[d], lbr, H, clip)
            h = valid * hn + (1 - valid) * h
            c = valid * cn + (1 - valid) * c
            for b in range(N):
                if step < lens[b]:
                    ys[ts[b]][d] = torch.cat([ys[ts[b]][d][:b], hn[b:b + 1], ys[ts[b]][d][b + 1:]])
        hs.append(h)
    Y = torch.stack([torch.stack(ys[t]) for t in range(S)])
    return Y, torch.stack(hs)


CASES = [  # name, op, directions, hidden, linear_before_reset, peepholes (, sequence_lens, clip)
    ("rnn", "RNN", 2, 3, 0, False),
    ("gru", "GRU", 1, 4, 0, False),
    ("gru_lbr", "GRU", 2, 3, 1, False),
    ("lstm", "LSTM", 2, 3, 0, True),
]
# added later (training with shorter sequence_lens and clip), drawn after the cases above from
# their own seed so that those stay as they were
CASES_LENS = [
    ("rnn_lens_clip", "RNN", 2, 3, 0, False, [5, 3], 0.9),
    ("gru_lens_clip", "GRU", 2, 3, 0, False, [2, 5], 0.7),
    ("lstm_lens_clip", "LSTM", 2, 3, 0, True, [4, 1], 0.8),
]
S, N, I = 5, 2, 4
t = {}
for case in CASES + [None] + CASES_LENS:
    if case is None:
        torch.manual_seed(1)
        continue
    name, kind, dirs, H, lbr, peep = case[:6]
    lens, clip = (case[6], case[7]) if len(case) > 6 else (None, 0)
    G = {"RNN": 1, "GRU": 3, "LSTM": 4}[kind]
    X = torch.randn(S, N, I)
    W = torch.randn(dirs, G * H, I) * 0.5
    R = torch.randn(dirs, G * H, H) * 0.5
    B = torch.randn(dirs, 2 * G * H) * 0.5
    P = torch.randn(dirs, 3 * H) * 0.5 if peep else None
    h0 = torch.randn(dirs, N, H) * 0.5
    inits = [numpy_helper.from_array(a.numpy().astype(np.float32), nm) for nm, a in
             [("W", W), ("R", R), ("B", B), ("initial_h", h0)] + ([("P", P)] if peep else [])]
    if lens is not None:
        inits.append(numpy_helper.from_array(np.array(lens, dtype=np.int32), "sequence_lens"))
    ins = ["X", "W", "R", "B", "sequence_lens" if lens is not None else "", "initial_h"] + (["", "P"] if peep else [])
    attrs = {"hidden_size": H, "direction": "bidirectional" if dirs == 2 else "forward"}
    if clip > 0:
        attrs["clip"] = clip
    if kind == "GRU":
        attrs["linear_before_reset"] = lbr
    node = helper.make_node(kind, ins, ["Y", "Y_h"], name=name, **attrs)
    graph = helper.make_graph([node], name, [helper.make_tensor_value_info("X", TensorProto.FLOAT, [S, N, I])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [S, dirs, N, H]),
                               helper.make_tensor_value_info("Y_h", TensorProto.FLOAT, [dirs, N, H])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 7
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(OUT, "onnx_rnn_%s.onnx" % name))
    # the reference in float64 from the float32-rounded values the model holds
    X, W, R, B, h0 = [a.float().double().requires_grad_(True) for a in (X, W, R, B, h0)]
    P = P.float().double().requires_grad_(True) if peep else None
    if lens is None:
        Y, Yh = run(kind, X, W, R, B, P, h0, dirs, lbr, H)
    else:
        Y, Yh = run_lens(kind, X, W, R, B, P, h0, dirs, lbr, H, lens, clip)
    r, rh = torch.randn(*Y.shape), torch.randn(*Yh.shape)
    ((Y * r).sum() + (Yh * rh).sum()).backward()
    f = lambda a: a.detach().float()
    t.update({name + ".X": f(X), name + ".r": f(r), name + ".rh": f(rh), name + ".Y": f(Y), name + ".Y_h": f(Yh),
              name + ".grad.X": f(X.grad), name + ".grad.W": f(W.grad), name + ".grad.R": f(R.grad),
              name + ".grad.B": f(B.grad)})
    if peep:
        t[name + ".grad.P"] = f(P.grad)
    print(name, tuple(Y.shape))
stio.save(os.path.join(OUT, "onnx_rnn_backward.safetensors"), t, {"cases": ",".join(c[0] for c in CASES + CASES_LENS)})
