#!/usr/bin/python3
"""gen_onnx_finetune.py - a small CNN exported by torch.onnx.export and PyTorch's losses
when training it: nabla trains the same ONNX file and must match them step by step.

Writes tests/goldens/onnx_finetune.onnx (the model as exported, its random weights as
initializers) and tests/goldens/onnx_finetune.safetensors: the batches (x, y), the
per-step losses of 50 SGD steps (lr 0.1, momentum 0.9, cross-entropy) and the weights
after training. Smooth activations (tanh), so rounding cannot flip a branch.
Run with Debian's PyTorch: /usr/bin/python3 tools/goldens/gen_onnx_finetune.py
"""
import os

import torch

import stio

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "..", "tests", "goldens")
STEPS, BATCHES, B = 50, 10, 8

torch.manual_seed(0)
model = torch.nn.Sequential(
    torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.Tanh(), torch.nn.AvgPool2d(2), torch.nn.Flatten(),
    torch.nn.Linear(4 * 4 * 4, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))
x = torch.randn(BATCHES * B, 1, 8, 8)
y = torch.randint(0, 3, (BATCHES * B,))
path = os.path.join(OUT, "onnx_finetune.onnx")
torch.onnx.export(model, x[:B], path, opset_version=13, do_constant_folding=False, input_names=["x"],
                  output_names=["logits"], dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}})
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
losses = []
for step in range(STEPS):
    k = step % BATCHES
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(x[k * B:(k + 1) * B]), y[k * B:(k + 1) * B])
    loss.backward()
    opt.step()
    losses.append(loss.item())
t = {"x": x, "y": y, "losses": torch.tensor(losses)}
for name, p in model.state_dict().items():
    t["final." + name] = p
stio.save(os.path.join(OUT, "onnx_finetune.safetensors"), t, {"steps": STEPS, "batch": B, "batches": BATCHES})
print("wrote", path, "and onnx_finetune.safetensors; loss %.4f -> %.4f" % (losses[0], losses[-1]))
