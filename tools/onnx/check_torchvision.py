#!/usr/bin/python3
"""Export torchvision models with random weights through Debian's torch.onnx.export
and compare `nabla run` with PyTorch on a random batch.

    /usr/bin/python3 tools/onnx/check_torchvision.py [--nabla build/nabla] [--out DIR]
        [--models resnet18,vgg11_bn,mobilenet_v2,squeezenet1_1] [--opsets 13,17] [--batch 2]
        [--size 224] [--modes EVAL,PRESERVE] [--keep]

Each model is exported at each opset twice: training=TrainingMode.EVAL (BatchNorm
folded into the convolutions) and TrainingMode.PRESERVE of the eval-mode model
(BatchNormalization nodes kept). Prints one line per export with the largest error
relative to the largest |output| and exits 1 if any exceeds --rtol (1e-4). Needs
python3-torch and python3-torchvision; CI does not run it (the exports are 5-500 MB),
docs/onnx.md records its results. --keep leaves the exported files in --out (NAME_opN_MODE.onnx,
with nabla's outputs in NAME_opN_MODE_out/ and the input in x.npy) for tests/onnx_export.sh.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torchvision


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nabla", default="build/nabla")
    ap.add_argument("--out", default=None)
    ap.add_argument("--models", default="resnet18,vgg11_bn,mobilenet_v2,squeezenet1_1")
    ap.add_argument("--opsets", default="13,17")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--rtol", type=float, default=1e-4)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--modes", default="EVAL,PRESERVE")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    out = a.out or tempfile.mkdtemp(prefix="nabla_onnx_")
    torch.manual_seed(0)
    os.makedirs(out, exist_ok=True)
    x = torch.rand(a.batch, 3, a.size, a.size)
    np.save(os.path.join(out, "x.npy"), x.numpy())
    worst_all = 0.0
    for name in a.models.split(","):
        torch.manual_seed(1)
        model = getattr(torchvision.models, name)(num_classes=1000)
        # random but not degenerate BatchNorm statistics
        for mod in model.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.1, 0.1)
                mod.running_var.uniform_(0.5, 1.5)
        model.eval()
        with torch.no_grad():
            want = model(x).numpy()
        for opset in [int(o) for o in a.opsets.split(",")]:
            for mode in a.modes.split(","):
                path = os.path.join(out, "%s_op%d_%s.onnx" % (name, opset, mode.lower()))
                torch.onnx.export(model, x, path, opset_version=opset, training=getattr(torch.onnx.TrainingMode, mode),
                                  input_names=["input"], output_names=["logits"],
                                  dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
                od = path[:-5] + "_out"
                r = subprocess.run([a.nabla, "run", path, os.path.join(out, "x.npy"), "--out", od],
                                   capture_output=True, text=True)
                if r.returncode:
                    print("FAIL %s opset %d %s: %s" % (name, opset, mode, r.stderr.strip()))
                    worst_all = float("inf")
                    continue
                got = np.load(os.path.join(od, "output_0.npy"))
                err = float(np.abs(got - want).max() / np.abs(want).max())
                worst_all = max(worst_all, err)
                print("%s %s opset %d %s: largest error / largest |output| = %.2e" %
                      ("ok  " if err <= a.rtol else "FAIL", name, opset, mode, err))
                if not a.keep:
                    os.remove(path)
    print("largest relative error %.2e" % worst_all)
    return 0 if worst_all <= a.rtol else 1


if __name__ == "__main__":
    sys.exit(main())
