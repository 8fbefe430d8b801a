"""Conv2dPlan / MaxPool2dPlan: validated once, then every call returns exactly what the plain functions return,
through the kernel for arrays that fit the plan and through the full function (copies, errors) otherwise."""
import numpy as np
import pytest

from fastconv import functional as F
from fastconv import reference as R

LAYOUTS = ["NCHW", "NHWC"]
DTYPES = [np.float32, np.float64]
CONVS = [  # x shape (NCHW), w shape (OIHW), conv2d arguments
    ((2, 3, 9, 8), (4, 3, 3, 3), dict(stride=2, padding=1)),
    ((3, 1, 28, 28), (6, 1, 2, 2), dict(activation="relu")),
    ((1, 4, 7, 7), (4, 1, 3, 3), dict(groups=4, padding="same", algorithm="direct")),
    ((1, 32, 1, 1), (10, 32, 1, 1), dict()),
]


def operands(xs, ws, layout, dtype, rng):
    x, w = rng.standard_normal(xs).astype(dtype), rng.standard_normal(ws).astype(dtype)
    if layout == "NHWC":
        x, w = np.ascontiguousarray(x.transpose(0, 2, 3, 1)), np.ascontiguousarray(w.transpose(2, 3, 1, 0))
    return x, w, rng.standard_normal(ws[0]).astype(dtype)


@pytest.mark.parametrize("module", [F, R], ids=["functional", "reference"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("xs,ws,kwargs", CONVS)
def test_conv_plan_returns_what_conv2d_returns(xs, ws, kwargs, layout, dtype, module, rng):
    x, w, b = operands(xs, ws, layout, dtype, rng)
    plan = module.Conv2dPlan(x, w, b, layout=layout, **kwargs)
    y = plan.forward(x, w, b)
    np.testing.assert_array_equal(y, module.conv2d(x, w, b, layout=layout, **kwargs))
    assert y.shape == plan.y_shape and y.dtype == plan.dtype
    g = rng.standard_normal(y.shape).astype(dtype)
    args = {k: v for k, v in kwargs.items() if k != "activation"}
    want = module.conv2d_backward(g, x, w, layout=layout, **args)
    for got, expected in zip(plan.backward(g, x, w), want):
        np.testing.assert_array_equal(got, expected)
    gx, gw, gb = plan.backward(g, x, w, need_input=False, need_bias=False)
    assert gx is None and gb is None
    np.testing.assert_array_equal(gw, want[1])
    # arrays that do not fit the plan take the full function: a Fortran-ordered copy computes the same, a wrong
    # shape or dtype raises what conv2d raises
    np.testing.assert_array_equal(plan.forward(np.asfortranarray(x), w, b), y)
    with pytest.raises(ValueError):
        plan.forward(x[:, :-1] if layout == "NCHW" else x[..., :-1], w, b)
    with pytest.raises(TypeError):
        plan.forward(x.astype(np.float16), w, b)


def test_conv_plan_validates_once_and_refuses_like_conv2d(rng):
    x, w, b = operands((1, 3, 8, 8), (16, 3, 3, 3), "NCHW", np.float32, rng)
    with pytest.raises(ValueError, match="Conv2dPlan: x has 3 channels but w expects 4"):
        F.Conv2dPlan(x, w[:, :2].repeat(2, axis=1), b)
    with pytest.raises(ValueError, match="activation must be None or 'relu'"):
        F.Conv2dPlan(x, w, b, activation="tanh")
    plan = F.Conv2dPlan(x, w, b, padding=1, algorithm="winograd")
    y = plan.forward(x, w, b)
    np.testing.assert_allclose(y, R.conv2d(x, w, b, padding=1), rtol=1e-4, atol=1e-4)
    gx, gw, gb = plan.backward(y, x, w)
    for got, want in zip((gx, gw, gb), R.conv2d_backward(y, x, w, padding=1)):
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-3 * np.abs(want).max())
    with pytest.raises(ValueError, match="b must have shape"):
        F.Conv2dPlan(x, w, b).forward(x, w, b[:3])  # a mismatching bias takes conv2d, which says why


@pytest.mark.parametrize("module", [F, R], ids=["functional", "reference"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_pool_plan_returns_what_max_pool2d_returns(layout, dtype, module, rng):
    x = rng.standard_normal((3, 5, 9, 8) if layout == "NCHW" else (3, 9, 8, 5)).astype(dtype)
    kwargs = dict(stride=2, padding=1, layout=layout)
    plan = module.MaxPool2dPlan(x, 3, **kwargs)
    y, idx = plan.forward(x, return_indices=True)
    want_y, want_idx = module.max_pool2d(x, 3, return_indices=True, **kwargs)
    np.testing.assert_array_equal(y, want_y)
    np.testing.assert_array_equal(idx, want_idx)
    np.testing.assert_array_equal(plan.forward(x), want_y)
    g = rng.standard_normal(y.shape).astype(dtype)
    for pooled in (None, y):
        np.testing.assert_array_equal(plan.backward(g, idx, pooled=pooled),
                                      module.max_pool2d_backward(g, idx, x.shape, layout=layout, pooled=pooled))
    bad = idx.copy()
    bad.reshape(-1)[3] = 10**6
    with pytest.raises(ValueError, match="indices must lie in"):
        plan.backward(g, bad)
    other = x[:1, :1] if layout == "NCHW" else x[:1, :, :, :1]  # another shape: the full function pools it
    np.testing.assert_array_equal(plan.forward(other), module.max_pool2d(other, 3, **kwargs))
    with pytest.raises(ValueError, match="x must have 4 dimensions"):
        plan.forward(x[0])
