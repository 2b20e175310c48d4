#!/usr/bin/python3
"""export_check.py - the steps of tests/onnx_export.sh that need Python (Debian's
python3-onnx and python3-numpy; no PyTorch):

  export_check.py check MODEL.onnx                 onnx.checker.check_model(full_check=True)
  export_check.py weights MODEL.onnx OUT.safetensors SEED
      weights for the model nabla exported: every initializer named as a state_dict entry
      (not onnx::...) redrawn around its value, BatchNorm statistics made non-trivial
      (running_var in [0.5, 1.5], running_mean, weight and bias spread), as safetensors
  export_check.py input OUT.npy DTYPE SEED D0 D1 ...  a random array (float32 in [-1, 1),
      int64 token ids in [0, 100))
  export_check.py first IN.npy OUT.npy            the first sample (batch 1) of an array
  export_check.py compare A.npy B.npy TOL [LABEL]
      prints the largest |a - b| and its ratio to the largest |b|; exit 1 when the ratio
      exceeds TOL or the shapes differ
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "goldens"))
import stio  # noqa: E402 (the safetensors writer of the golden generators)


def check(path):
    import onnx
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    ops = sorted({n.op_type for n in m.graph.node})
    print(f"check_model(full_check=True) ok: opset {m.opset_import[0].version}, "
          f"{len(m.graph.node)} nodes ({', '.join(ops)}), {len(m.graph.initializer)} initializers")


def weights(path, out, seed):
    import onnx
    from onnx import numpy_helper
    rng = np.random.default_rng(int(seed))
    m = onnx.load(path)
    tensors = {}
    for init in m.graph.initializer:
        if init.name.startswith("onnx::"):
            continue
        a = numpy_helper.to_array(init)
        if a.dtype != np.float32:
            tensors[init.name] = a.astype(np.int64)
            continue
        last = init.name.rsplit(".", 1)[-1]
        if last == "running_var":
            a = rng.uniform(0.5, 1.5, a.shape)
        elif last == "running_mean":
            a = rng.normal(0, 0.2, a.shape)
        elif a.ndim == 1:  # norm weights and biases, biases of layers
            a = a * rng.uniform(0.5, 1.5, a.shape) + rng.normal(0, 0.1, a.shape)
        else:
            a = a * rng.uniform(0.8, 1.2, a.shape)
        tensors[init.name] = a.astype(np.float32)
    # the buffer nabla's BatchNorm has but the graph does not use, as PyTorch's state_dict
    for name in list(tensors):
        if name.endswith(".running_mean"):
            tensors[name[: -len("running_mean")] + "num_batches_tracked"] = np.array(0, dtype=np.int64)
    stio.save(out, tensors)
    print(f"{out}: {len(tensors)} tensors")


def make_input(out, dtype, seed, dims):
    rng = np.random.default_rng(int(seed))
    shape = [int(d) for d in dims]
    if dtype == "int64":
        a = rng.integers(0, 100, shape, dtype=np.int64)
    else:
        a = rng.uniform(-1, 1, shape).astype(np.float32)
    np.save(out, a)


def compare(a_path, b_path, tol, label=""):
    a, b = np.load(a_path), np.load(b_path)
    if a.shape != b.shape:
        print(f"FAIL {label}: shapes {a.shape} and {b.shape}")
        return 1
    err = float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))) if a.size else 0.0
    scale = float(np.max(np.abs(b))) if b.size else 0.0
    ratio = err / scale if scale > 0 else err
    ok = ratio <= float(tol) and np.isfinite(a).all()
    print(f"{'ok' if ok else 'FAIL'} {label}: largest error {err:.3g}, / largest output {scale:.3g} = {ratio:.3g} "
          f"(tolerance {float(tol):g})")
    return 0 if ok else 1


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    cmd = argv[1]
    if cmd == "check":
        check(argv[2])
    elif cmd == "weights":
        weights(argv[2], argv[3], argv[4])
    elif cmd == "input":
        make_input(argv[2], argv[3], argv[4], argv[5:])
    elif cmd == "first":
        a = np.load(argv[2])
        np.save(argv[3], np.ascontiguousarray(a[:1]))
    elif cmd == "compare":
        return compare(argv[2], argv[3], argv[4], argv[5] if len(argv) > 5 else "")
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
