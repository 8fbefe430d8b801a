"""max_pool2d forward and backward: fastconv vs the NumPy reference vs PyTorch, per shape and layout."""
import numpy as np
import pytest

import fastconv
from conftest import IMPLS, skip_unless_available
from fastconv import bench, reference
from shapes import POOL_SHAPES


def make(impl, shape, layout, backward):
    x = shape.arrays(layout)
    if impl == "torch":
        import torch

        xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)) if layout == "NHWC" else x)
        if layout == "NHWC":
            xt = xt.contiguous(memory_format=torch.channels_last)
        xt.requires_grad_(backward)
        if not backward:
            return lambda: torch.nn.functional.max_pool2d(xt, shape.kernel, **shape.kwargs)
        y = torch.nn.functional.max_pool2d(xt, shape.kernel, **shape.kwargs)
        g = torch.ones_like(y)
        return lambda: torch.autograd.grad(y, xt, g, retain_graph=True)
    module = fastconv.functional if impl == "fastconv" else reference
    y, idx = fastconv.max_pool2d(x, shape.kernel, layout=layout, return_indices=True, **shape.kwargs)
    if backward:
        return lambda: module.max_pool2d_backward(y, idx, x.shape, layout=layout)
    return lambda: module.max_pool2d(x, shape.kernel, layout=layout, **shape.kwargs)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("backward", [False, True], ids=["fwd", "bwd"])
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("shape", POOL_SHAPES, ids=lambda s: s.id)
def test_max_pool2d(benchmark, shape, impl, backward, layout):
    skip_unless_available(impl)
    benchmark.extra_info.update(bytes=shape.bytes, threads=fastconv.get_num_threads())
    fn = make(impl, shape, layout, backward)
    bench.warm_up(fn, calls=1)
    benchmark.pedantic(fn, rounds=10)
