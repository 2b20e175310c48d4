#!/usr/bin/python3
"""gen_onnx_backward.py - gradients through the ONNX ops whose backward is a composition
(ConvTranspose 1-D, 2-D and 3-D, Conv 3-D): small modules exported by torch.onnx.export, and
PyTorch's output and gradients of loss = sum(y * r) for a fixed random r.

Writes tests/goldens/onnx_backward_NAME.onnx and tests/goldens/onnx_backward.safetensors
(NAME.x, NAME.r, NAME.y, NAME.grad.x and NAME.grad.<initializer> for each case).
Run with Debian's PyTorch: /usr/bin/python3 tools/goldens/gen_onnx_backward.py
"""
import os

import torch

import stio

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "..", "tests", "goldens")

torch.manual_seed(0)
CASES = [
    # name, module, input shape
    ("convt2d", torch.nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2), (2, 4, 5, 5)),
    ("convt2d_dil", torch.nn.ConvTranspose2d(3, 4, (2, 3), stride=(1, 2), padding=(0, 2), dilation=2, bias=False),
     (2, 3, 4, 6)),
    ("convt1d", torch.nn.ConvTranspose1d(3, 2, 4, stride=3, padding=2), (2, 3, 7)),
    ("conv3d", torch.nn.Conv3d(4, 6, (2, 3, 3), stride=(2, 1, 2), padding=(1, 1, 0), dilation=(1, 2, 1), groups=2),
     (2, 4, 5, 6, 7)),
]
t = {}


def run(name, mod, shape):
    x = torch.randn(*shape)
    path = os.path.join(OUT, "onnx_backward_%s.onnx" % name)
    torch.onnx.export(mod, x, path, opset_version=13, do_constant_folding=False, input_names=["x"],
                      output_names=["y"])
    xg = x.clone().requires_grad_(True)
    y = mod(xg)
    r = torch.randn(*y.shape)
    (y * r).sum().backward()
    t[name + ".x"], t[name + ".r"], t[name + ".y"] = x, r, y.detach()
    t[name + ".grad.x"] = xg.grad
    for pname, p in mod.named_parameters():
        t[name + ".grad." + pname] = p.grad
    print(name, tuple(y.shape))


for case in CASES:
    run(*case)
# added later: drawn after the cases above from their own seed, so their goldens stay as they were
torch.manual_seed(1)
CASES_3D = [
    ("convt3d", torch.nn.ConvTranspose3d(4, 6, (2, 3, 2), stride=(2, 1, 2), padding=(1, 1, 0), output_padding=(1, 0, 1),
                                         dilation=(1, 2, 1), groups=2), (2, 4, 3, 4, 3)),
]
for case in CASES_3D:
    run(*case)
stio.save(os.path.join(OUT, "onnx_backward.safetensors"), t, {"cases": ",".join(c[0] for c in CASES + CASES_3D)})
