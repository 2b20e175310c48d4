#!/usr/bin/python3
"""reexport_check.py - ONNX backend test models (Debian's libonnx-testdata) imported by
nabla and written back at other opsets (`nabla export --model model.onnx --opset T`):
each written file must pass onnx.checker.check_model(full_check=True) and give, in
onnxruntime (tools/onnx/ort_run.js), nabla's outputs of the original file within 1e-5
of the largest output (integer and bool outputs exactly).

    reexport_check.py NABLA ORT_RUN_JS WORKDIR OPSETS TESTDIR [TESTDIR ...]

OPSETS is a comma list (13,17). A test nabla cannot run is skipped; a conversion nabla
refuses (an op or attribute the target opset does not have) is a skip with nabla's
message. One line per test and opset ("ok", "FAIL", "skip"), then the totals; exit 1 on
any failure. Needs python3-onnx and python3-numpy.
"""
import glob
import os
import subprocess
import sys

import numpy as np
import onnx
from onnx import numpy_helper


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    return r.returncode, (r.stdout + r.stderr).strip()


def outputs(d):
    files = sorted(glob.glob(os.path.join(d, "output_*.npy")), key=lambda f: int(f.rsplit("_", 1)[1][:-4]))
    return [np.load(f) for f in files]


def close(a, b):
    if a.shape != b.shape:
        return False, "shapes %s and %s" % (a.shape, b.shape)
    if a.dtype.kind == "f" or b.dtype.kind == "f":
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        if a.size == 0:
            return True, "empty"
        same_nan = np.isnan(a64) == np.isnan(b64)
        if not same_nan.all():
            return False, "NaN in different places"
        fin = ~np.isnan(a64) & (a64 != b64)  # equal values (infinities too) are no error
        err = float(np.max(np.abs(a64[fin] - b64[fin]), initial=0.0))
        top = float(np.max(np.abs(b64[np.isfinite(b64)]), initial=0.0))
        ok = err <= 1e-5 * top if top > 0 else err <= 1e-7
        return ok, "largest error %.3g (largest output %.3g)" % (err, top)
    ok = np.array_equal(a, b)
    return ok, "exact" if ok else "values differ"


def main():
    nabla, ort_js, work, opsets = sys.argv[1:5]
    tests = sys.argv[5:]
    opsets = [int(o) for o in opsets.split(",")]
    passed = failed = skipped = 0
    for t in tests:
        name = "/".join(t.rstrip("/").split("/")[-2:])
        d = os.path.join(work, name.replace("/", "_"))
        os.makedirs(d, exist_ok=True)
        model = onnx.load(os.path.join(t, "model.onnx"))
        inputs = sorted(glob.glob(os.path.join(t, "test_data_set_0", "input_*.pb")), key=lambda f: int(f.rsplit("_", 1)[1][:-3]))
        init = {i.name for i in model.graph.initializer}
        real = [i for i in model.graph.input if i.name not in init]
        if len(inputs) != len(real):
            print("skip %s: %d inputs given for %d graph inputs" % (name, len(inputs), len(real)))
            skipped += 1
            continue
        npys = []
        try:
            for k, f in enumerate(inputs):
                tp = onnx.TensorProto()
                with open(f, "rb") as fh:
                    tp.ParseFromString(fh.read())
                a = numpy_helper.to_array(tp)
                p = os.path.join(d, "in%d.npy" % k)
                np.save(p, a)
                npys.append(p)
        except Exception as e:  # noqa: BLE001 - inputs NumPy cannot hold (strings, sequences)
            print("skip %s: input not readable as an array (%s)" % (name, str(e).splitlines()[0]))
            skipped += 1
            continue
        rc, out = run([nabla, "run", os.path.join(t, "model.onnx")] + npys + ["--out", os.path.join(d, "nabla")])
        if rc:
            print("skip %s: nabla does not run it (%s)" % (name, out.splitlines()[-1] if out else "?"))
            skipped += 1
            continue
        want = outputs(os.path.join(d, "nabla"))
        for T in opsets:
            f = os.path.join(d, "m%d.onnx" % T)
            rc, out = run([nabla, "export", "--model", os.path.join(t, "model.onnx"), "--opset", str(T), "--out", f])
            if rc:
                if "cannot be written" in out or "does not exist" in out or "not supported for export" in out:
                    print("skip %s opset %d: %s" % (name, T, out.splitlines()[-1]))
                    skipped += 1
                else:
                    print("FAIL %s opset %d: export: %s" % (name, T, out))
                    failed += 1
                continue
            try:
                onnx.checker.check_model(onnx.load(f), full_check=True)
            except Exception as e:  # noqa: BLE001 - the checker's message is the report
                print("FAIL %s opset %d: check_model: %s" % (name, T, str(e).splitlines()[0]))
                failed += 1
                continue
            od = os.path.join(d, "ort%d" % T)
            rc, out = run(["node", ort_js, f] + npys + ["--out", od])
            if rc:
                print("FAIL %s opset %d: onnxruntime: %s" % (name, T, out.splitlines()[-1] if out else "?"))
                failed += 1
                continue
            got = outputs(od)
            res = [close(g, w) for g, w in zip(got, want)]
            if len(got) != len(want) or not all(r[0] for r in res):
                print("FAIL %s opset %d: onnxruntime vs nabla: %s" % (name, T, "; ".join(r[1] for r in res) or "no outputs"))
                failed += 1
            else:
                print("ok %s opset %d (from %d): %s" % (name, T, model.opset_import[0].version, "; ".join(r[1] for r in res)))
                passed += 1
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
