"""fastconv.max_pool2d and max_pool2d_backward against the reference: values, indices, NaN, padding, ceil_mode."""
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import fastconv
from fastconv import _pooling, reference
from gradcheck import assert_grad
from helpers import assert_close

POOLS = [
    ("k2", (2, 3, 8, 8), dict(kernel_size=2)),
    ("k2_odd_hw", (2, 3, 9, 7), dict(kernel_size=2)),
    ("k3_s2_p1", (2, 4, 9, 10), dict(kernel_size=3, stride=2, padding=1)),
    ("k3_s1", (1, 2, 6, 5), dict(kernel_size=3, stride=1)),
    ("k_rect", (2, 3, 9, 10), dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 1))),
    ("dilation2", (2, 2, 10, 9), dict(kernel_size=3, dilation=2, stride=1)),
    ("ceil_mode", (2, 3, 8, 7), dict(kernel_size=3, stride=2, ceil_mode=True)),
    ("ceil_mode_pad", (1, 2, 6, 6), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ("window_eq_input", (2, 3, 4, 5), dict(kernel_size=(4, 5))),
    ("c_many", (2, 37, 6, 6), dict(kernel_size=2)),
    ("stem", (2, 64, 12, 11), dict(kernel_size=3, stride=2, padding=1)),  # NHWC: channel vectors in registers
    ("s2_wide", (2, 3, 7, 70), dict(kernel_size=3, stride=2, padding=1)),  # NCHW rows: 35 outputs, 2 whole vectors
    ("s2_whole", (1, 2, 4, 64), dict(kernel_size=2)),  # 32 outputs: whole vectors only
    ("batch0", (0, 3, 6, 6), dict(kernel_size=2)),
    ("mnist_seed", (32, 6, 27, 27), dict(kernel_size=2)),
]
LAYOUTS = ["NCHW", "NHWC"]
DTYPES = [np.float32, np.float64]


@pytest.fixture(params=[True, False], ids=["vector_scatter", "value_scatter"])
def vector_scatter(request, isa):
    """Runs the NHWC backward's AVX-512 float adds both ways (a channel vector at a time, or value by value: each
    CPU takes one, see _pooling.use_vector_scatter); restores the CPU's choice."""
    if not request.param and isa != "avx512":
        pytest.skip("only AVX-512 has the channel-vector adds")
    _pooling.use_vector_scatter(request.param)
    yield request.param
    _pooling.use_vector_scatter()


def make(shape, layout, dtype, rng):
    x = rng.standard_normal(shape).astype(dtype)
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if layout == "NHWC" else x


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("id,shape,kw", POOLS, ids=[p[0] for p in POOLS])
def test_max_pool2d_matches_reference(id, shape, kw, dtype, layout, isa, vector_scatter, rng):
    x = make(shape, layout, dtype, rng)
    y, idx = fastconv.max_pool2d(x, layout=layout, return_indices=True, **kw)
    want_y, want_idx = reference.max_pool2d(x, layout=layout, return_indices=True, **kw)
    np.testing.assert_array_equal(y, want_y)
    np.testing.assert_array_equal(idx, want_idx)
    np.testing.assert_array_equal(fastconv.max_pool2d(x, layout=layout, **kw), want_y)
    g = rng.standard_normal(y.shape).astype(dtype)
    got = fastconv.max_pool2d_backward(g, idx, x.shape, layout=layout)
    overlap = int(np.prod(np.atleast_1d(kw["kernel_size"])))  # gradients summed into one input element, at most
    assert_close(got, reference.max_pool2d_backward(g, idx, x.shape, layout=layout), overlap)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_nan_propagates_and_its_index_is_returned(layout):
    x = np.arange(2 * 16, dtype=np.float32).reshape(1, 2, 4, 4)
    x[0, 0, 1, 0] = np.nan
    x[0, 1, 3, 3] = np.nan
    xl = np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if layout == "NHWC" else x
    y, idx = fastconv.max_pool2d(xl, 2, layout=layout, return_indices=True)
    if layout == "NHWC":
        y, idx = y.transpose(0, 3, 1, 2), idx.transpose(0, 3, 1, 2)
    assert np.isnan(y[0, 0, 0, 0]) and idx[0, 0, 0, 0] == 4
    assert np.isnan(y[0, 1, 1, 1]) and idx[0, 1, 1, 1] == 15
    assert np.isfinite(y[0, 0, 1, 1]) and y[0, 0, 1, 1] == 15


def test_ties_pick_the_first_maximum_and_gradient_goes_there_once():
    x = np.ones((1, 1, 2, 2))
    y, idx = fastconv.max_pool2d(x, 2, return_indices=True)
    assert idx.item() == 0
    gx = fastconv.max_pool2d_backward(np.full_like(y, 3.0), idx, x.shape)
    np.testing.assert_array_equal(gx, [[[[3.0, 0], [0, 0]]]])


def test_overlapping_windows_accumulate_gradient(rng):
    x = rng.standard_normal((2, 3, 7, 7))
    y, idx = fastconv.max_pool2d(x, 3, stride=1, return_indices=True)
    g = rng.standard_normal(y.shape)
    gx = fastconv.max_pool2d_backward(g, idx, x.shape)
    assert_grad(gx, lambda: float(np.vdot(fastconv.max_pool2d(x, 3, stride=1), g)), x)


def test_padding_counts_as_minus_infinity():
    x = -np.ones((1, 1, 3, 3), np.float32) * 5
    y = fastconv.max_pool2d(x, 3, stride=1, padding=1)
    assert (y == -5).all()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(0, 2), c=st.one_of(st.integers(1, 5), st.integers(16, 40)),  # 16+: NHWC channel vectors
       h=st.integers(1, 9), w=st.integers(1, 9), kh=st.integers(1, 4), kw=st.integers(1, 4), sh=st.integers(1, 3),
       sw=st.integers(1, 3), dh=st.integers(1, 2), dw=st.integers(1, 2), pad=st.integers(0, 2), ceil=st.booleans(),
       layout=st.sampled_from(LAYOUTS),
       seed=st.integers(0, 2**32 - 1), nan=st.integers(0, 3), ties=st.booleans(),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_pool_properties(n, c, h, w, kh, kw, sh, sw, dh, dw, pad, ceil, layout, seed, nan, ties, dtype, isa):
    assume(pad <= kh // 2 and pad <= kw // 2)
    assume(h + 2 * pad >= dh * (kh - 1) + 1 and w + 2 * pad >= dw * (kw - 1) + 1)
    rng = np.random.default_rng(seed)
    # ties: few distinct values (-inf included), so windows hold equal maxima and the first one must win
    x = rng.choice([-np.inf, -1.0, 0.0, 2.0], (n, c, h, w)) if ties else rng.standard_normal((n, c, h, w))
    x = x.astype(dtype)  # float32 takes other loops on AVX-512 (window and pick in one pass)
    if x.size:
        x.reshape(-1)[rng.integers(x.size, size=nan)] = np.nan
    xl = np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if layout == "NHWC" else x
    kwargs = dict(stride=(sh, sw), padding=pad, dilation=(dh, dw), ceil_mode=ceil, layout=layout, return_indices=True)
    y, idx = fastconv.max_pool2d(xl, (kh, kw), **kwargs)
    want_y, want_idx = reference.max_pool2d(xl, (kh, kw), **kwargs)
    np.testing.assert_array_equal(y, want_y)
    np.testing.assert_array_equal(idx, want_idx)
    if layout == "NHWC":
        y, idx = y.transpose(0, 3, 1, 2), idx.transpose(0, 3, 1, 2)
    # The pooled value is the input element its index names, and is >= every element of its window.
    planes = x.reshape(n, c, h * w)
    flat_idx = np.where(idx < 0, 0, idx).reshape(n, c, y.shape[2] * y.shape[3])
    picked = np.take_along_axis(planes, flat_idx, axis=2).reshape(y.shape)
    valid = idx >= 0
    np.testing.assert_array_equal(picked[valid], y[valid])
    for pi in range(y.shape[2]):
        for qi in range(y.shape[3]):
            rows = [pi * sh - pad + i * dh for i in range(kh) if 0 <= pi * sh - pad + i * dh < h]
            cols = [qi * sw - pad + j * dw for j in range(kw) if 0 <= qi * sw - pad + j * dw < w]
            window = x[:, :, rows][:, :, :, cols].reshape(n, c, len(rows) * len(cols))
            has_nan = np.isnan(window).any(axis=2)
            assert np.array_equal(np.isnan(y[:, :, pi, qi]), has_nan)
            ok = ~has_nan
            assert (y[:, :, pi, qi][ok][:, None] >= window[ok]).all()


@pytest.mark.parametrize("channels", [5, 37])  # NHWC 16+: vector scatter on AVX-512 floats (37: a partial vector)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_backward_through_relu_equals_relu_backward_after_pool_backward(layout, dtype, channels, isa, vector_scatter,
                                                                        rng):
    # pooled=y differentiates max_pool2d(relu(z)) in one pass: the same as pool backward, then relu backward
    z = make((3, channels, 9, 8), layout, dtype, rng)
    z.reshape(-1)[::7] = 0  # windows whose maximum is exactly 0 must pass nothing
    r = fastconv.functional.relu(z)
    y, idx = fastconv.max_pool2d(r, 3, stride=2, padding=1, layout=layout, return_indices=True)
    g = rng.standard_normal(y.shape).astype(dtype)
    two_passes = fastconv.functional.relu_backward(fastconv.max_pool2d_backward(g, idx, z.shape, layout=layout), r)
    fused = fastconv.max_pool2d_backward(g, idx, z.shape, layout=layout, pooled=y)
    assert_close(fused, two_passes, 9)
    assert_close(reference.max_pool2d_backward(g, idx, z.shape, layout=layout, pooled=y), two_passes, 9)
    with pytest.raises(ValueError, match=r"pooled.shape \(2, .*\) must equal grad_y.shape"):
        fastconv.max_pool2d_backward(g, idx, z.shape, layout=layout, pooled=y[:2])
    other = np.float64 if dtype == np.float32 else np.float32
    with pytest.raises(TypeError, match="pooled has dtype"):
        fastconv.max_pool2d_backward(g, idx, z.shape, layout=layout, pooled=y.astype(other))


@pytest.mark.parametrize("channels", [3, 37])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("bad", [-2, 36, 2**40, -(2**62)])
def test_out_of_range_indices_are_refused_by_the_kernel(layout, bad, channels, isa, vector_scatter, rng):
    x = make((2, channels, 6, 6), layout, np.float32, rng)
    y, idx = fastconv.max_pool2d(x, 2, layout=layout, return_indices=True)
    idx = idx.copy()
    idx.reshape(-1)[5 + channels] = -1  # skipped: no error, no add
    gx = fastconv.max_pool2d_backward(np.ones_like(y), idx, x.shape, layout=layout)
    assert gx.sum() == y.size - 1
    idx.reshape(-1)[12] = bad  # (lane 12: the upper half of a 16-lane vector of 64-bit indices)
    with pytest.raises(ValueError, match=r"indices must lie in \[-1, 36\) for input planes of 6x6"):
        fastconv.max_pool2d_backward(np.ones_like(y), idx, x.shape, layout=layout)
