"""conv2d forward, backward-data and backward-weight: fastconv vs the NumPy reference vs PyTorch, per shape."""
import numpy as np
import pytest

import fastconv
from conftest import IMPLS, skip_unless_available
from fastconv import bench, reference
from shapes import CONV_SHAPES


def make(impl, shape, which, layout):
    if impl == "torch":
        return bench.torch_conv_callable(shape, which, layout)
    module = fastconv.functional if impl == "fastconv" else reference
    return bench.conv_callable(module, shape, which, layout)


def as_numpy(result, which, layout):
    """The pass's output as NumPy in fastconv's layout (torch returns NCHW/OIHW shapes and tuples)."""
    if isinstance(result, tuple):
        result = result[0 if which == "bwd_data" else 1]
    if not hasattr(result, "detach"):
        return np.asarray(result)
    a = result.detach().numpy()
    if layout == "NHWC":
        a = a.transpose(2, 3, 1, 0) if which == "bwd_weight" else a.transpose(0, 2, 3, 1)
    return a


def check(result, shape, which, layout):
    """After timing: the result equals the reference to float32 tolerance."""
    want = as_numpy(bench.conv_callable(reference, shape, which, layout)(), which, layout)
    got = as_numpy(result, which, layout)
    scale = max(1.0, float(np.abs(want).max()))
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-3 * scale)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("which", bench.PASSES)
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("shape", CONV_SHAPES, ids=lambda s: s.id)
def test_conv2d(benchmark, shape, impl, which, layout):
    skip_unless_available(impl)
    fn = make(impl, shape, which, layout)
    benchmark.extra_info.update(flops=shape.flops, threads=fastconv.get_num_threads(), op=which, layout=layout)
    rounds = 3 if impl == "reference" and shape.group != "small" else 10
    bench.warm_up(fn, calls=1)
    result = benchmark.pedantic(fn, rounds=rounds)
    check(result, shape, which, layout)
