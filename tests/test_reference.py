"""The oracle proven, not assumed: fastconv.reference against brute-force loops and finite differences."""
import numpy as np
import pytest

from fastconv import _args, reference
from gradcheck import assert_grad
from helpers import to_layout

SMALL = [
    dict(),
    dict(stride=2, padding=1),
    dict(stride=(1, 2), padding=((0, 1), (2, 0)), dilation=(2, 1)),
    dict(padding="same", stride=2),
    dict(groups=2),
]


def brute_conv(x, w, b, stride, pads, dilation, groups):
    """Seven nested loops over NCHW/OIHW, straight from the definition."""
    n, c, h, wd = x.shape
    k, cg, r, s = w.shape
    (pt, pb), (pl, pr) = pads
    (sh, sw), (dh, dw) = stride, dilation
    p = (h + pt + pb - dh * (r - 1) - 1) // sh + 1
    q = (wd + pl + pr - dw * (s - 1) - 1) // sw + 1
    y = np.zeros((n, k, p, q))
    kg = k // groups
    for ni in range(n):
        for ki in range(k):
            g = ki // kg
            for pi in range(p):
                for qi in range(q):
                    acc = 0.0 if b is None else b[ki]
                    for ci in range(cg):
                        for ri in range(r):
                            for si in range(s):
                                ih, iw = pi * sh - pt + ri * dh, qi * sw - pl + si * dw
                                if 0 <= ih < h and 0 <= iw < wd:
                                    acc += x[ni, g * cg + ci, ih, iw] * w[ki, ci, ri, si]
                    y[ni, ki, pi, qi] = acc
    return y


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("kw", SMALL, ids=lambda kw: "-".join(f"{k}{v}" for k, v in kw.items()) or "plain")
def test_reference_conv_matches_brute_force(kw, layout, rng):
    x = rng.standard_normal((2, 4, 6, 5))
    w = rng.standard_normal((4, 4 // kw.get("groups", 1), 3, 2))
    b = rng.standard_normal(4)
    stride = _args.pair("t", "stride", kw.get("stride", 1), 1)
    dilation = _args.pair("t", "dilation", kw.get("dilation", 1), 1)
    pads = _args.conv_padding("t", kw.get("padding", 0), (6, 5), (3, 2), stride, dilation)
    want = brute_conv(x, w, b, stride, pads, dilation, kw.get("groups", 1))
    xl, wl = to_layout(x, w, layout)
    got = reference.conv2d(xl, wl, b, layout=layout, **kw)
    np.testing.assert_allclose(got, to_layout(want, None, layout)[0], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("kw", SMALL, ids=lambda kw: "-".join(f"{k}{v}" for k, v in kw.items()) or "plain")
def test_reference_conv_backward_matches_finite_differences(kw, layout, rng):
    x, w = to_layout(rng.standard_normal((2, 4, 5, 4)), rng.standard_normal((2, 4 // kw.get("groups", 1), 2, 3)),
                     layout)
    b = rng.standard_normal(2)
    g = rng.standard_normal(reference.conv2d(x, w, layout=layout, **kw).shape)

    def loss():
        return float(np.vdot(reference.conv2d(x, w, b, layout=layout, **kw), g))

    gx, gw, gb = reference.conv2d_backward(g, x, w, layout=layout, **kw)
    assert_grad(gx, loss, x)
    assert_grad(gw, loss, w)
    assert_grad(gb, loss, b)


def brute_pool(x, k, stride, pad, dilation, p, q):
    """Loops over every window; the first input element seeds the maximum, then larger values or a first NaN."""
    n, c, h, w = x.shape
    y = np.full((n, c, p, q), -np.inf)
    idx = np.full((n, c, p, q), -1)
    for ni in range(n):
        for ci in range(c):
            for pi in range(p):
                for qi in range(q):
                    for i in range(k[0]):
                        for j in range(k[1]):
                            ih = pi * stride[0] - pad[0] + i * dilation[0]
                            iw = qi * stride[1] - pad[1] + j * dilation[1]
                            if not (0 <= ih < h and 0 <= iw < w):
                                continue
                            v, best = x[ni, ci, ih, iw], y[ni, ci, pi, qi]
                            if idx[ni, ci, pi, qi] < 0 or v > best or (np.isnan(v) and not np.isnan(best)):
                                y[ni, ci, pi, qi], idx[ni, ci, pi, qi] = v, ih * w + iw
    return y, idx


@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1),
                                dict(kernel_size=(3, 2), stride=(2, 1), dilation=(1, 2), ceil_mode=True),
                                dict(kernel_size=3, stride=2, ceil_mode=True, padding=1)], ids=str)
def test_reference_pool_matches_brute_force(kw, rng):
    x = rng.standard_normal((2, 3, 7, 6))
    x[0, 0, 1, 1] = np.nan
    x[1, 2, :2, :2] = 5.0  # ties: the first one wins
    y, idx = reference.max_pool2d(x, return_indices=True, **kw)
    k = _args.pair("t", "k", kw["kernel_size"], 1)
    want_y, want_idx = brute_pool(x, k, _args.pair("t", "s", kw.get("stride", k), 1),
                                  _args.pair("t", "p", kw.get("padding", 0), 0),
                                  _args.pair("t", "d", kw.get("dilation", 1), 1), *y.shape[2:])
    np.testing.assert_array_equal(y, want_y)
    np.testing.assert_array_equal(idx, want_idx)


def test_reference_pool_backward_matches_finite_differences(rng):
    x = rng.standard_normal((2, 2, 5, 5))
    g = rng.standard_normal(reference.max_pool2d(x, 3, stride=2, padding=1).shape)
    _, idx = reference.max_pool2d(x, 3, stride=2, padding=1, return_indices=True)
    gx = reference.max_pool2d_backward(g, idx, x.shape)
    assert_grad(gx, lambda: float(np.vdot(reference.max_pool2d(x, 3, stride=2, padding=1), g)), x)
