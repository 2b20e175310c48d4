"""stio.py - read and write safetensors files without the safetensors package.

Golden generators (run with Debian's PyTorch, /usr/bin/python3) use it to write
tests/goldens/*.safetensors; nabla's tests read them with nb_safetensors_open.
"""
import json
import os
import struct

import numpy as np

_DT = {np.dtype("float32"): "F32", np.dtype("float64"): "F64", np.dtype("int64"): "I64",
       np.dtype("int32"): "I32", np.dtype("uint8"): "U8", np.dtype("float16"): "F16",
       np.dtype("bool"): "BOOL"}
_NP = {v: k for k, v in _DT.items()}


def save(path, tensors, metadata=None):
    """tensors: dict name -> numpy array or torch tensor (stored as its dtype)."""
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        a = t.detach().cpu().numpy() if hasattr(t, "detach") else np.asarray(t)
        a = np.ascontiguousarray(a).reshape(a.shape)  # ascontiguousarray makes 0-d arrays 1-d
        b = a.astype(a.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": _DT[a.dtype], "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


class CaseWriter:
    """Test cases into OUT_DIR/NAME.safetensors: case k's tensors as "k.NAME", its
    settings as metadata "casek" ("key=value ..."), their number as "cases"."""

    def __init__(self, out_dir, name):
        self.out_dir, self.name, self.t, self.meta, self.n = out_dir, name, {}, {}, 0

    def case(self, cfg, tensors):
        k = self.n
        self.n += 1
        self.meta["case%d" % k] = " ".join("%s=%s" % kv for kv in cfg.items())
        for name, v in tensors.items():
            if v is not None:
                self.t["%d.%s" % (k, name)] = v.detach().clone().contiguous()

    def save(self):
        self.meta["cases"] = str(self.n)
        path = os.path.join(self.out_dir, "%s.safetensors" % self.name)
        save(path, self.t, self.meta)
        print(path, self.n, "cases", os.path.getsize(path), "bytes")


def load(path):
    """dict name -> numpy array."""
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    header.pop("__metadata__", None)
    out = {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        out[name] = np.frombuffer(raw[8 + n + b:8 + n + end], dtype=_NP[e["dtype"]]).reshape(e["shape"])
    return out
