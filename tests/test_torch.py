"""Cross-check against torch.nn.functional when PyTorch is installed (marker `torch`; skipped otherwise)."""
import numpy as np
import pytest

import fastconv

torch = pytest.importorskip("torch")
F = torch.nn.functional
pytestmark = pytest.mark.torch


@pytest.mark.parametrize("kw", [dict(stride=1, padding=0), dict(stride=2, padding=1, dilation=2),
                                dict(stride=(1, 2), padding=(2, 1), groups=3)], ids=str)
def test_conv2d_and_grads_match_torch(kw, rng):
    x = rng.standard_normal((2, 6, 9, 8))
    w = rng.standard_normal((9, 6 // kw.get("groups", 1), 3, 2))
    b = rng.standard_normal(9)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    yt = F.conv2d(xt, wt, bt, **kw)
    g = rng.standard_normal(tuple(yt.shape))
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(fastconv.conv2d(x, w, b, **kw), yt.detach().numpy(), rtol=1e-10, atol=1e-10)
    for got, want in zip(fastconv.conv2d_backward(g, x, w, **kw), (xt.grad, wt.grad, bt.grad)):
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
                                dict(kernel_size=(3, 2), stride=1, dilation=2)], ids=str)
def test_max_pool2d_matches_torch(kw, rng):
    x = rng.standard_normal((2, 3, 9, 10))
    x[0, 1, 2, 3] = np.nan
    xt = torch.tensor(x, requires_grad=True)
    yt, it = F.max_pool2d(xt, return_indices=True, **kw)
    y, idx = fastconv.max_pool2d(x, return_indices=True, **kw)
    np.testing.assert_array_equal(y, yt.detach().numpy())
    np.testing.assert_array_equal(idx, it.numpy())
    g = rng.standard_normal(y.shape)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(fastconv.max_pool2d_backward(g, idx, x.shape), xt.grad.numpy(), rtol=1e-12)
