"""gen_safetensors_interop.py - golden file for nabla's safetensors dtype conversions.

Run with Debian's PyTorch: /usr/bin/python3 tools/goldens/gen_safetensors_interop.py
Writes tests/goldens/safetensors_dtypes.safetensors with stio.py: each stored dtype
(F16, BF16, F64, I32, I16, I8, U8, BOOL) next to what PyTorch converts it to
(`.float()` for floats -> "<name>.want" F32, `.long()` for integers -> I64), plus a
BatchNorm1d state_dict (num_batches_tracked is I64 with shape []).
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stio  # noqa: E402

# stio knows F32/F64/I64/I32/U8/F16; teach it the other dtypes safetensors defines.
# BF16 has no numpy dtype: its raw bits travel as a uint16 array labelled BF16.
stio._DT[np.dtype("int16")] = "I16"
stio._DT[np.dtype("int8")] = "I8"
stio._DT[np.dtype("bool")] = "BOOL"
stio._DT[np.dtype("uint16")] = "BF16"


class _KeepZeroDim:
    """stio.save calls np.ascontiguousarray, which makes 0-d arrays shape (1,); PyTorch's
    num_batches_tracked has shape [], so keep the shape (everything else is numpy's)."""

    def __getattr__(self, name):
        return getattr(np, name)

    @staticmethod
    def ascontiguousarray(a):
        return np.ascontiguousarray(a).reshape(np.shape(a))


stio.np = _KeepZeroDim()

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "goldens", "safetensors_dtypes.safetensors")

torch.manual_seed(0)
floats = torch.cat([torch.randn(2, 3, 4) * 3,
                    torch.tensor([0.0, -0.0, 1e-6, -6e-8, 65504.0, 1e5, float("inf"), -float("inf")])
                    .reshape(2, 1, 4).expand(2, 3, 4)[:1]], 0)  # (3, 3, 4)
t = {}
f16 = floats.half()
t["f16"] = f16
t["f16.want"] = f16.float()
bf16 = floats.bfloat16()
t["bf16"] = bf16.view(torch.int16).numpy().view(np.uint16)
t["bf16.want"] = bf16.float()
f64 = floats.double() * 1.000000123
t["f64"] = f64
t["f64.want"] = f64.float()
i32 = torch.tensor([[0, 1, -1], [2147483647, -2147483648, 12345]], dtype=torch.int32)
t["i32"] = i32
t["i32.want"] = i32.long()
i16 = torch.tensor([0, 32767, -32768, -5], dtype=torch.int16)
t["i16"] = i16
t["i16.want"] = i16.long()
i8 = torch.tensor([0, 127, -128, -1], dtype=torch.int8)
t["i8"] = i8
t["i8.want"] = i8.long()
u8 = torch.tensor([[0, 1, 128, 255]], dtype=torch.uint8)
t["u8"] = u8
t["u8.want"] = u8.long()
b = torch.tensor([True, False, True])
t["bool"] = b
t["bool.want"] = b.long()
t["scalar.f16"] = torch.tensor(2.5).half()
bn = torch.nn.BatchNorm1d(3)
bn.train()
bn(torch.randn(8, 3))
bn(torch.randn(8, 3))
for k, v in bn.state_dict().items():
    t["bn." + k] = v
stio.save(OUT, t, metadata={"generator": "gen_safetensors_interop.py", "torch": torch.__version__})
print("wrote", os.path.normpath(OUT), os.path.getsize(OUT), "bytes")
