"""Tolerances and small shared helpers of the test-suite."""
import contextlib

import numpy as np


def tolerance(dtype, reduction):
    """(rtol, atol scale) for a result that sums `reduction` products: float64 tight, float32 grows with it."""
    if np.dtype(dtype) == np.float64:
        return 1e-10, 1e-10
    eps = float(np.finfo(np.float32).eps)
    return 4 * eps * reduction, 4 * eps * reduction


def assert_close(got, want, reduction=1):
    """got == want within the tolerance of their dtype for a sum of `reduction` terms."""
    assert got.shape == want.shape, (got.shape, want.shape)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    rtol, scale = tolerance(got.dtype, reduction)
    finite = np.abs(want[np.isfinite(want)])
    atol = scale * max(1.0, float(finite.max()) if finite.size else 1.0)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True)


def to_layout(x, w, layout):
    """NCHW activations and OIHW weights converted to `layout` (HWIO weights for NHWC)."""
    if layout == "NHWC":
        return (np.ascontiguousarray(x.transpose(0, 2, 3, 1)),
                None if w is None else np.ascontiguousarray(w.transpose(2, 3, 1, 0)))
    return x, w


def run_python(*args, env=None):
    """`python *args` in a fresh interpreter, run outside the checkout so it imports the installed fastconv."""
    import os
    import subprocess
    import sys
    import tempfile

    return subprocess.run([sys.executable, *args], env=dict(os.environ, **(env or {})), cwd=tempfile.gettempdir(),
                          capture_output=True, text=True)


@contextlib.contextmanager
def isa_and_threads(isa, threads):
    """Runs the block on one kernel table and thread count (for hypothesis tests, which cannot take the isa fixture);
    restores both after it."""
    import fastconv
    from fastconv import runtime
    before, before_threads = fastconv._C.isa(), fastconv.get_num_threads()
    try:
        runtime._use_isa(isa)
        fastconv.set_num_threads(threads)
        yield
    finally:
        runtime._use_isa(before)
        fastconv.set_num_threads(before_threads)
