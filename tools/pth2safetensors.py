#!/usr/bin/python3
"""pth2safetensors.py - convert a PyTorch .pth/.pt state_dict to safetensors.

nabla reads weights only as safetensors (it never parses pickle). Users with
torchvision's pretrained weights, or their own torch.save(model.state_dict())
files, convert them once with PyTorch installed:

    /usr/bin/python3 tools/pth2safetensors.py resnet18-f37072fd.pth resnet18.safetensors
    nabla train --model resnet18 --pretrained resnet18.safetensors --num-classes 10 ...

Accepted inputs: a state_dict (name -> tensor); a checkpoint dict holding one
under "state_dict", "model_state_dict", "model" or "net"; or a pickled nn.Module
(its .state_dict()). Names are kept as PyTorch's state_dict keys, buffers included
(bn.running_mean, bn.running_var, bn.num_batches_tracked as I64 shape []), so the
file loads with nb_load_safetensors strictly. Tensors are written little-endian,
row-major, in the stored dtype (F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL),
or converted with --dtype f32 (floating tensors only). Entries that are not
tensors are reported and skipped. Shared or non-contiguous tensors are copied.

Options:
    --strip-prefix P   drop P from the start of every key (e.g. "module." of DataParallel)
    --dtype f32        store floating tensors as F32
    --unsafe-pickle    allow full unpickling (torch.load weights_only=False) for files
                       that hold more than tensors; only for files you trust
"""
import argparse
import json
import os
import struct
import sys

import torch

DTYPES = {
    torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
    torch.uint8: "U8", torch.bool: "BOOL",
}


def find_state_dict(obj):
    if isinstance(obj, torch.nn.Module):
        return obj.state_dict()
    if isinstance(obj, dict):
        for key in ("state_dict", "model_state_dict", "model", "net"):
            if key in obj and isinstance(obj[key], (dict, torch.nn.Module)):
                inner = obj[key]
                return inner.state_dict() if isinstance(inner, torch.nn.Module) else inner
        return obj
    raise SystemExit("pth2safetensors: the file holds a %s, not a state_dict" % type(obj).__name__)


def tensor_bytes(t):
    t = t.detach().cpu().contiguous()
    if t.dtype == torch.bfloat16:
        a = t.view(torch.int16).numpy()
    elif t.dtype == torch.bool:
        a = t.to(torch.uint8).numpy()
    else:
        a = t.numpy()
    return a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()


def write_safetensors(path, tensors, metadata):
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, t in tensors.items():
        b = tensor_bytes(t)
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "wb") as f:  # atomic like nabla's writer: temp file, fsync, rename
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def convert(src, dst, strip_prefix="", dtype=None, unsafe=False, quiet=False):
    try:
        obj = torch.load(src, map_location="cpu", weights_only=not unsafe)
    except Exception as e:  # weights_only refuses arbitrary objects
        raise SystemExit("pth2safetensors: cannot read %s: %s%s" % (
            src, e, "" if unsafe else " (if you trust the file, retry with --unsafe-pickle)"))
    sd = find_state_dict(obj)
    out, skipped = {}, []
    for name, t in sd.items():
        if not torch.is_tensor(t):
            skipped.append(name)
            continue
        if t.dtype not in DTYPES:
            raise SystemExit("pth2safetensors: %s has dtype %s, which safetensors cannot store" % (name, t.dtype))
        key = name[len(strip_prefix):] if strip_prefix and name.startswith(strip_prefix) else name
        if key in out:
            raise SystemExit("pth2safetensors: two tensors become '%s' after --strip-prefix" % key)
        if dtype == "f32" and t.is_floating_point():
            t = t.float()
        out[key] = t
    if not out:
        raise SystemExit("pth2safetensors: %s holds no tensors" % src)
    write_safetensors(dst, out, {"format": "pt", "source": os.path.basename(src)})
    if not quiet:
        n = sum(t.numel() for k, t in out.items() if not k.endswith("num_batches_tracked"))
        print("wrote %s: %d tensors, %d values%s" % (dst, len(out), n,
              (", skipped non-tensors: " + ", ".join(skipped)) if skipped else ""))
    return out


def main():
    ap = argparse.ArgumentParser(description="Convert a PyTorch state_dict (.pth) to safetensors for nabla.")
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--strip-prefix", default="")
    ap.add_argument("--dtype", choices=["f32"], default=None)
    ap.add_argument("--unsafe-pickle", action="store_true")
    a = ap.parse_args()
    convert(a.src, a.dst, a.strip_prefix, a.dtype, a.unsafe_pickle)


if __name__ == "__main__":
    sys.exit(main())
