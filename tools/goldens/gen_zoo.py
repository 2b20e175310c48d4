#!/usr/bin/python3
"""Model-zoo interop goldens: nabla's resnet18 and vgg11_bn in torchvision 0.14.

1. `NB_ZOO_WRITE=DIR build/tests/test_zoo` writes nabla's deterministic random
   weights (seeded init plus random BatchNorm statistics) to DIR/resnet18.safetensors
   and DIR/vgg11_bn.safetensors (build it first: make build/tests/test_zoo).
2. Each file is loaded with load_state_dict(strict=True) into torchvision's own
   model (so every name and shape must be torchvision's), and its eval-mode logits
   for fixed inputs are recorded: "resnet18.input" (2, 3, 64, 64) and "vgg11_bn.input"
   (2, 3, 32, 32), "<model>.logits" (2, 1000).
3. torchvision's resnet18 state_dict (with those weights) is written by
   tools/pth2safetensors.py into DIR; only its header (JSON: the 122 keys in
   torchvision's order, dtypes, shapes, offsets) is kept, as the metadata
   "resnet18.torchvision_header", so the test can rebuild the file from its own
   copy of the weights without committing 46 MB.
Writes tests/goldens/zoo_interop.safetensors (small).

Run: make build/tests/test_zoo && /usr/bin/python3 tools/goldens/gen_zoo.py
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tools"))
import stio  # noqa: E402
import pth2safetensors  # noqa: E402

torch.manual_seed(99)
torch.set_num_threads(1)
OUT = os.path.join(ROOT, "tests", "goldens", "zoo_interop.safetensors")

tmp = tempfile.mkdtemp(prefix="nb_zoo_")
subprocess.run([os.path.join(ROOT, "build", "tests", "test_zoo")], env={**os.environ, "NB_ZOO_WRITE": tmp},
               check=True, cwd=ROOT)

tensors, meta = {}, {}
for name, size in (("resnet18", 64), ("vgg11_bn", 32)):
    sd = {k: torch.from_numpy(np.array(v)) for k, v in stio.load(os.path.join(tmp, name + ".safetensors")).items()}
    model = getattr(torchvision.models, name)()
    model.load_state_dict(sd, strict=True)
    model.eval()
    x = torch.rand(2, 3, size, size) * 2 - 0.5
    with torch.no_grad():
        y = model(x)
    tensors[name + ".input"] = x
    tensors[name + ".logits"] = y
    meta[name + ".keys"] = str(len(sd))
    print(name, "logits max |y|", float(y.abs().max()))
    if name == "resnet18":
        pth = os.path.join(tmp, "resnet18_tv.pth")
        torch.save(model.state_dict(), pth)
        st = os.path.join(tmp, "resnet18_tv.safetensors")
        pth2safetensors.convert(pth, st)
        raw = open(st, "rb").read(1 << 20)
        n = struct.unpack("<Q", raw[:8])[0]
        header = raw[8:8 + n].decode()
        h = json.loads(header)
        assert len([k for k in h if k != "__metadata__"]) == 122
        meta["resnet18.torchvision_header"] = header
stio.save(OUT, tensors, meta)
print("wrote", OUT, os.path.getsize(OUT), "bytes")
for f in os.listdir(tmp):
    os.remove(os.path.join(tmp, f))
os.rmdir(tmp)
