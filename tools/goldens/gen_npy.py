"""gen_npy.py - .npy files written by numpy.save, which nabla's nb_save_npy must
reproduce byte for byte (tests/test_npy.c). Run: /usr/bin/python3 tools/goldens/gen_npy.py"""
import os

import numpy as np

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "goldens")
np.save(os.path.join(OUT, "npy_f32_2x3.npy"), np.array([[1.5, -2.0, 0.0], [3.25, 1e-8, -7.0]], dtype="<f4"))
np.save(os.path.join(OUT, "npy_i64_4.npy"), np.array([-1, 0, 2**40, -(2**63)], dtype="<i8"))
np.save(os.path.join(OUT, "npy_f32_scalar.npy"), np.array(2.5, dtype="<f4"))
np.save(os.path.join(OUT, "npy_f32_2x0x3.npy"), np.zeros((2, 0, 3), dtype="<f4"))
print("numpy", np.__version__)
