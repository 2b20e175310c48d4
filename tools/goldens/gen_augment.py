#!/usr/bin/python3
"""gen_augment.py - goldens for src/augment (tests/test_augment.c).

Runs torchvision.transforms.functional (tensor path) on fixed parameters and small
images and writes tests/goldens/aug_*.safetensors. Each output tensor NAME has a
metadata entry NAME = "op=... in=... key=value ..." telling the test what to run.

    /usr/bin/python3 tools/goldens/gen_augment.py
"""
import math
import os
import sys

import numpy as np
import torch
import torchvision
import torchvision.transforms.functional as F
from torchvision.transforms import InterpolationMode as IM

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stio  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "goldens")
torch.manual_seed(0)
g = torch.Generator().manual_seed(1234)

# inputs: a 1x28x28 image (Fashion-MNIST's shape) and a 3x17x23 one (odd sizes), and a batch
x1 = torch.rand(1, 28, 28, generator=g)
x3 = torch.rand(3, 17, 23, generator=g)
xb = torch.rand(2, 3, 17, 23, generator=g)
INPUTS = {"x1": x1, "x3": x3, "xb": xb}
INTERP = {"nearest": IM.NEAREST, "bilinear": IM.BILINEAR}


class Golden:
    def __init__(self):
        self.t, self.meta = dict(INPUTS), {}

    def add(self, name, out, cfg):
        assert name not in self.t
        self.t[name] = out.contiguous().float()
        self.meta[name] = cfg

    def save(self, fname):
        self.meta["torchvision"] = torchvision.__version__
        stio.save(os.path.join(OUT, fname), self.t, self.meta)
        size = os.path.getsize(os.path.join(OUT, fname))
        print(f"{fname}: {len(self.t)} tensors, {size} bytes")


def geometry():
    G = Golden()
    for xn in ("x1", "x3", "xb"):
        x = INPUTS[xn]
        G.add(f"hflip_{xn}", F.hflip(x), f"op=hflip in={xn}")
        G.add(f"vflip_{xn}", F.vflip(x), f"op=vflip in={xn}")
    crops = [("x1", 3, 5, 10, 12), ("x3", 0, 0, 17, 23), ("x3", -2, 20, 12, 10), ("x3", 10, -4, 9, 30), ("xb", 2, 1, 5, 7)]
    for k, (xn, t, l, h, w) in enumerate(crops):
        G.add(f"crop{k}", F.crop(INPUTS[xn], t, l, h, w), f"op=crop in={xn} top={t} left={l} h={h} w={w}")
    cc = [("x1", 20, 20), ("x1", 25, 23), ("x3", 10, 15), ("x3", 16, 22), ("x1", 32, 30), ("x3", 20, 30),
          ("x3", 12, 30), ("x3", 21, 8)]
    for k, (xn, h, w) in enumerate(cc):
        G.add(f"center_crop{k}", F.center_crop(INPUTS[xn], [h, w]), f"op=center_crop in={xn} h={h} w={w}")
    pads = [(2, 3, 4, 1), (0, 0, 0, 0), (5, 1, 0, 2)]
    for mode in ("constant", "edge", "reflect", "symmetric"):
        for xn in ("x1", "x3"):
            for k, p in enumerate(pads):
                fill = 0.5 if mode == "constant" and k == 0 else 0.0
                out = F.pad(INPUTS[xn], list(p), fill=fill, padding_mode=mode)
                G.add(f"pad_{mode}_{xn}_{k}", out,
                      f"op=pad in={xn} ltrb={','.join(map(str, p))} mode={mode} fill={fill}")
    # the largest padding each mode allows on the 17x23 image
    for mode, p in (("reflect", (22, 16, 22, 16)), ("symmetric", (23, 17, 23, 17))):
        G.add(f"pad_{mode}_max", F.pad(x3, list(p), padding_mode=mode),
              f"op=pad in=x3 ltrb={','.join(map(str, p))} mode={mode} fill=0")
    sizes = [("x1", 14, 14), ("x1", 40, 40), ("x1", 20, 35), ("x1", 9, 5), ("x3", 9, 11), ("x3", 30, 40),
             ("x3", 17, 40), ("x3", 5, 23), ("xb", 8, 31)]
    for k, (xn, h, w) in enumerate(sizes):
        for interp, aa in (("bilinear", 0), ("bilinear", 1), ("nearest", 0)):
            out = F.resize(INPUTS[xn], [h, w], interpolation=INTERP[interp], antialias=bool(aa))
            G.add(f"resize{k}_{interp}_{aa}", out, f"op=resize in={xn} h={h} w={w} interp={interp} aa={aa}")
    rcs = [("x1", 2, 3, 20, 15, 28, 28), ("x3", 1, 2, 10, 19, 24, 24), ("x3", -3, 5, 12, 12, 6, 6),
           ("x1", 0, 0, 28, 28, 28, 28)]
    for k, (xn, t, l, h, w, oh, ow) in enumerate(rcs):
        for aa in (0, 1):
            out = F.resized_crop(INPUTS[xn], t, l, h, w, [oh, ow], antialias=bool(aa))
            G.add(f"resized_crop{k}_{aa}", out,
                  f"op=resized_crop in={xn} top={t} left={l} h={h} w={w} oh={oh} ow={ow} interp=bilinear aa={aa}")
    rots = [("x1", 30, {}), ("x1", -45, {}), ("x1", 90, {}), ("x1", 180, {}), ("x3", 12.5, {}), ("x3", 90, {}),
            ("x3", 30, {"expand": True}), ("x1", 90, {"expand": True}), ("x3", -70, {"expand": True}),
            ("x3", 25, {"center": [5, 8]}), ("x1", 200, {"fill": 0.7}), ("xb", 33, {})]
    k = 0
    for xn, angle, kw in rots:
        x = INPUTS[xn]
        C = x.shape[-3]
        for interp in ("nearest", "bilinear"):
            fill = kw.get("fill", 0.0)
            out = F.rotate(x, angle, interpolation=INTERP[interp], expand=kw.get("expand", False),
                           center=kw.get("center"), fill=[fill] * C)
            cfg = f"op=rotate in={xn} angle={angle} interp={interp} expand={int(kw.get('expand', False))} fill={fill}"
            if "center" in kw:
                cfg += f" center={kw['center'][0]},{kw['center'][1]}"
            G.add(f"rotate{k}_{interp}", out, cfg)
        k += 1
    affs = [("x1", 20, (3, -2), 1.2, (10, 5), 0.0, None), ("x1", 0, (4, 5), 1.0, (0, 0), 0.0, None),
            ("x3", -15, (0, 0), 0.8, (0, 0), 0.3, None), ("x3", 0, (0, 0), 1.0, (25, 0), 0.0, None),
            ("x3", 0, (0, 0), 1.0, (0, -20), 0.0, None), ("x3", 40, (2.5, -1.5), 1.1, (-8, 12), 1.0, [4, 6]),
            ("xb", 10, (1, 1), 0.9, (5, 0), 0.0, None)]
    for k, (xn, a, t, s, sh, fill, c) in enumerate(affs):
        x = INPUTS[xn]
        for interp in ("nearest", "bilinear"):
            out = F.affine(x, a, list(t), s, list(sh), interpolation=INTERP[interp], fill=[fill] * x.shape[-3],
                           center=c)
            cfg = (f"op=affine in={xn} angle={a} tx={t[0]} ty={t[1]} scale={s} shx={sh[0]} shy={sh[1]} "
                   f"interp={interp} fill={fill}")
            if c:
                cfg += f" center={c[0]},{c[1]}"
            G.add(f"affine{k}_{interp}", out, cfg)
    G.save("aug_geometry.safetensors")


def color():
    G = Golden()
    for xn in ("x1", "x3", "xb"):
        x = INPUTS[xn]
        for f in (0.0, 0.5, 1.6):
            G.add(f"brightness_{xn}_{f}", F.adjust_brightness(x, f), f"op=brightness in={xn} f={f}")
        for f in (0.0, 0.3, 1.8):
            G.add(f"contrast_{xn}_{f}", F.adjust_contrast(x, f), f"op=contrast in={xn} f={f}")
        for f in (0.0, 0.4, 2.0):
            G.add(f"saturation_{xn}_{f}", F.adjust_saturation(x, f), f"op=saturation in={xn} f={f}")
        for f in (-0.5, -0.3, 0.0, 0.1, 0.5):
            G.add(f"hue_{xn}_{f}", F.adjust_hue(x, f), f"op=hue in={xn} f={f}")
        for n in (1, 3):
            if x.shape[-3] == 1 and n == 3:
                continue  # torchvision's tensor path keeps 1 channel here; nabla gives the 3 asked for
            G.add(f"grayscale_{xn}_{n}", F.rgb_to_grayscale(x, n), f"op=grayscale in={xn} n={n}")
    # hue on colours with ties (max of two channels equal), greys and pure colours
    ties = torch.tensor([[0.2, 0.5, 0.5, 1.0, 0.0, 0.3, 0.7, 1.0], [0.5, 0.5, 0.2, 0.0, 1.0, 0.3, 0.7, 1.0],
                         [0.5, 0.2, 0.5, 0.0, 0.0, 0.3, 0.1, 1.0]]).reshape(3, 2, 4)
    G.t["ties"] = ties
    for f in (-0.5, -0.25, 0.2, 0.5):
        G.add(f"hue_ties_{f}", F.adjust_hue(ties, f), f"op=hue in=ties f={f}")
    G.add("normalize_x3", F.normalize(x3, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
          "op=normalize in=x3 mean=0.485,0.456,0.406 std=0.229,0.224,0.225")
    G.add("normalize_x1", F.normalize(x1, [0.2860], [0.3530]), "op=normalize in=x1 mean=0.2860 std=0.3530")
    G.save("aug_color.safetensors")


def cutout_ref(x, cy, cx, length, value):
    """DeVries & Taylor's Cutout with the hole filled with value instead of 0."""
    h, w = x.shape[-2], x.shape[-1]
    y1, y2 = np.clip(cy - length // 2, 0, h), np.clip(cy + length // 2, 0, h)
    x1_, x2 = np.clip(cx - length // 2, 0, w), np.clip(cx + length // 2, 0, w)
    out = x.clone()
    out[..., y1:y2, x1_:x2] = value
    return out


def erase_and_mix():
    G = Golden()
    G.add("erase_scalar", F.erase(x1, 3, 4, 10, 7, torch.tensor([0.0])[:, None, None]),
          "op=erase in=x1 top=3 left=4 h=10 w=7 v=0")
    G.add("erase_channels", F.erase(x3, 2, 5, 6, 9, torch.tensor([0.25, 0.5, 0.75])[:, None, None]),
          "op=erase in=x3 top=2 left=5 h=6 w=9 v=0.25,0.5,0.75")
    patch = torch.empty(3, 4, 5).normal_(generator=g)
    G.t["patch"] = patch
    G.add("erase_patch", F.erase(x3, 12, 17, 4, 5, patch), "op=erase in=x3 top=12 left=17 h=4 w=5 v=patch")
    G.add("erase_empty", F.erase(x3, 0, 0, 0, 0, torch.tensor([1.0])[:, None, None]),
          "op=erase in=x3 top=0 left=0 h=0 w=0 v=1")
    G.add("erase_batch", F.erase(xb, 1, 1, 15, 21, torch.tensor([0.5])[:, None, None]),
          "op=erase in=xb top=1 left=1 h=15 w=21 v=0.5")
    for k, (xn, cy, cx, L, v) in enumerate([("x1", 14, 14, 8, 0.0), ("x1", 1, 26, 10, 0.0), ("x3", 8, 11, 7, 0.5),
                                            ("x3", 16, 0, 16, 1.0), ("xb", 3, 20, 12, 0.0), ("x1", 5, 5, 0, 0.0)]):
        G.add(f"cutout{k}", cutout_ref(INPUTS[xn], cy, cx, L, v), f"op=cutout in={xn} cy={cy} cx={cx} length={L} v={v}")

    # batch mixing (torchvision references/classification/transforms.py RandomMixup, RandomCutmix)
    xm = torch.rand(4, 3, 5, 6, generator=g)
    ym = torch.tensor([2, 0, 4, 2])
    K = 5
    G.t["xm"] = xm
    G.t["ym"] = ym
    for lam in (0.3, 0.0, 1.0, 0.77):
        b, t = xm.clone(), torch.nn.functional.one_hot(ym, K).to(torch.float32)
        br, tr = b.roll(1, 0), t.roll(1, 0)
        br.mul_(1.0 - lam)
        b.mul_(lam).add_(br)
        tr.mul_(1.0 - lam)
        t.mul_(lam).add_(tr)
        G.add(f"mixup_x_{lam}", b, f"op=mixup lambda={lam} K={K}")
        G.add(f"mixup_y_{lam}", t, f"op=mixup_y lambda={lam} K={K}")
    for lam, rx, ry in ((0.6, 1, 4), (0.1, 3, 2), (0.95, 5, 0), (0.0, 2, 2), (1.0, 0, 0)):
        b, t = xm.clone(), torch.nn.functional.one_hot(ym, K).to(torch.float32)
        br, tr = b.roll(1, 0), t.roll(1, 0)
        H, W = b.shape[-2:]
        r = 0.5 * math.sqrt(1.0 - lam)
        rw, rh = int(r * W), int(r * H)
        x1_, y1 = max(rx - rw, 0), max(ry - rh, 0)
        x2, y2 = min(rx + rw, W), min(ry + rh, H)
        b[:, :, y1:y2, x1_:x2] = br[:, :, y1:y2, x1_:x2]
        adj = float(1.0 - (x2 - x1_) * (y2 - y1) / (W * H))
        tr.mul_(1.0 - adj)
        t.mul_(adj).add_(tr)
        G.add(f"cutmix_x_{lam}", b, f"op=cutmix lambda={lam} cx={rx} cy={ry} K={K} adj={adj!r}")
        G.add(f"cutmix_y_{lam}", t, f"op=cutmix_y lambda={lam} cx={rx} cy={ry} K={K} adj={adj!r}")
    G.save("aug_erase_mix.safetensors")


def pipelines():
    """Deterministic pipelines written as SPEC strings: the parser and Compose."""
    import torchvision.transforms as T
    G = Golden()
    cases = [
        ("x1", "resize(20)", T.Resize(20)),
        ("x3", "Resize(10)", T.Resize(10)),
        ("x3", "resize(9, max_size=12)", T.Resize(9, max_size=12)),
        ("x3", "resize((30, 12), antialias=true)", T.Resize((30, 12), antialias=True)),
        ("x3", "resize(8, interpolation=nearest)", T.Resize(8, interpolation=IM.NEAREST)),
        ("x1", "pad(2), center_crop(26)", T.Compose([T.Pad(2), T.CenterCrop(26)])),
        ("x1", "Pad((1, 2), padding_mode='reflect'), CenterCrop((20, 24))",
         T.Compose([T.Pad((1, 2), padding_mode="reflect"), T.CenterCrop((20, 24))])),
        ("x3", "pad(padding=(1, 2, 3, 4), fill=0.25)", T.Pad((1, 2, 3, 4), fill=0.25)),
        ("x3", "pad(3, padding_mode=symmetric), grayscale(num_output_channels=3)",
         T.Compose([T.Pad(3, padding_mode="symmetric"), T.Grayscale(3)])),
        ("x3", "normalize(mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3))", T.Normalize((0.5, 0.4, 0.3), (0.2, 0.25, 0.3))),
        ("x3", "to_tensor, grayscale, normalize((0.5,), (0.5,))",
         T.Compose([T.Grayscale(), T.Normalize((0.5,), (0.5,))])),
        ("x1", "random_crop(28)", T.RandomCrop(28)),
        ("x3", "random_rotation((30, 30), interpolation=bilinear, expand=true, fill=0.5)",
         T.RandomRotation((30, 30), interpolation=IM.BILINEAR, expand=True, fill=0.5)),
        ("x3", "RandomAffine(degrees=(10, 10), scale=(1.2, 1.2), shear=(5, 5, -3, -3))",
         T.RandomAffine(degrees=(10, 10), scale=(1.2, 1.2), shear=(5, 5, -3, -3))),
        ("x3", "color_jitter(brightness=(1.3, 1.3))", T.ColorJitter(brightness=(1.3, 1.3))),
        ("x3", "random_horizontal_flip(p=1), random_vertical_flip(1.0), random_grayscale(p=1)",
         T.Compose([T.RandomHorizontalFlip(1), T.RandomVerticalFlip(1.0), T.RandomGrayscale(1)])),
        ("x1", "hflip(p=0), vflip(p=0)", T.Compose([T.RandomHorizontalFlip(0), T.RandomVerticalFlip(0)])),
        ("x3", "random_resized_crop(12, scale=(1, 1), ratio=(1.3529411764705883, 1.3529411764705883))",
         T.RandomResizedCrop(12, scale=(1, 1), ratio=(23 / 17, 23 / 17))),
    ]
    for k, (xn, spec, tf) in enumerate(cases):
        G.add(f"pipe{k}", tf(INPUTS[xn]), f"op=pipeline in={xn} spec={spec}")
    G.save("aug_pipeline.safetensors")


if __name__ == "__main__":
    geometry()
    color()
    erase_and_mix()
    pipelines()
