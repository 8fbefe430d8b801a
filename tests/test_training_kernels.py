"""The small kernels training needs (ReLU, bias, fused softmax + cross-entropy) against the reference and by
finite differences."""
import numpy as np
import pytest

from fastconv import functional as F
from fastconv import reference as R
from gradcheck import assert_grad
from helpers import assert_close

DTYPES = [np.float32, np.float64]
SHAPES = [(0, 3), (1,), (7, 5), (32, 6, 27, 27), (3, 70000)]  # the last one spans several threads


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_relu_and_backward(shape, dtype, rng):
    x = rng.standard_normal(shape).astype(dtype)
    if x.size:
        x.reshape(-1)[0] = np.nan
    y = F.relu(x)
    np.testing.assert_array_equal(y, R.relu(x))
    g = rng.standard_normal(shape).astype(dtype)
    np.testing.assert_array_equal(F.relu_backward(g, y), R.relu_backward(g, y))


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("shape", [(0, 3), (4, 1), (32, 10), (5, 7, 7, 6), (9000, 16)], ids=str)
def test_bias_add_and_grad(shape, dtype, rng):
    x = rng.standard_normal(shape).astype(dtype)
    b = rng.standard_normal(shape[-1]).astype(dtype)
    np.testing.assert_array_equal(F.bias_add(x, b), R.bias_add(x, b))
    out = np.full_like(x, np.nan)
    assert F.bias_add(x, b, out=out) is out
    np.testing.assert_array_equal(out, R.bias_add(x, b))
    assert_close(F.bias_grad(x), R.bias_grad(x), max(x.size // shape[-1], 1))


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("n,k", [(0, 10), (1, 1), (32, 10), (5000, 10)])
def test_softmax_cross_entropy_matches_reference(n, k, dtype, rng):
    logits = (rng.standard_normal((n, k)) * 5).astype(dtype)
    labels = rng.integers(0, k, n)
    loss, probs = F.softmax_cross_entropy(logits, labels)
    want_loss, want_probs = R.softmax_cross_entropy(logits, labels)
    assert np.isclose(loss, want_loss, rtol=1e-12 if dtype == np.float64 else 1e-6)
    assert_close(probs, want_probs, k)
    assert_close(F.softmax_cross_entropy_backward(probs, labels),
                 R.softmax_cross_entropy_backward(probs, labels), k)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("n,k", [(0, 10), (1, 1), (32, 10), (5000, 10)])
def test_softmax_cross_entropy_step_is_forward_backward_and_hits(n, k, dtype, rng):
    logits = (rng.standard_normal((n, k)) * 5).astype(dtype)
    labels = rng.integers(0, k, n)
    if n >= 32:  # a tie (argmax takes the first), a NaN row (all NaN: argmax 0), a row right at its label
        labels[3:6] = 0, 0, 7
        logits[3, :] = 1.0
        logits[4, 2] = np.nan
        logits[5, 7] = 100
    for backend in (F, R):
        loss, grad, hits = backend.softmax_cross_entropy_step(logits, labels)
        want_loss, probs = R.softmax_cross_entropy(logits, labels)
        assert np.isclose(loss, want_loss, rtol=1e-12 if dtype == np.float64 else 1e-6, equal_nan=True)
        assert grad.dtype == dtype
        assert_close(grad, R.softmax_cross_entropy_backward(probs, labels), k)
        assert hits == np.count_nonzero(probs.argmax(axis=1) == labels)


@pytest.mark.parametrize("labels", [np.array([0, 10]), np.array([-1, 0])])
def test_softmax_cross_entropy_step_rejects_labels_out_of_range(labels):
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 10\)"):
        F.softmax_cross_entropy_step(np.zeros((2, 10), np.float32), labels)


def test_softmax_cross_entropy_is_stable_for_huge_logits():
    logits = np.array([[1e4, 0, -1e4], [-1e30, 1e30, 0]], np.float32)
    loss, probs = F.softmax_cross_entropy(logits, np.array([1, 1]))
    assert np.isfinite(loss) and np.isclose(loss, 1e4 / 2)
    np.testing.assert_allclose(probs, [[1, 0, 0], [0, 1, 0]])


def test_softmax_cross_entropy_gradient_matches_finite_differences(rng):
    logits = rng.standard_normal((4, 5))
    labels = rng.integers(0, 5, 4)
    _, probs = F.softmax_cross_entropy(logits, labels)
    assert_grad(F.softmax_cross_entropy_backward(probs, labels),
                lambda: F.softmax_cross_entropy(logits, labels)[0], logits)


def test_bias_grad_matches_finite_differences(rng):
    x = rng.standard_normal((3, 4, 5))
    b = rng.standard_normal(5)
    g = rng.standard_normal(x.shape)
    assert_grad(F.bias_grad(g), lambda: float(np.vdot(F.bias_add(x, b), g)), b)


@pytest.mark.parametrize("labels,exc,message", [
    (np.array([0, 10]), ValueError, "labels must lie in [0, 10)"),
    (np.array([-1, 0]), ValueError, "labels must lie in"),
    (np.array([0.0, 1.0]), TypeError, "labels must be an integer"),
    (np.array([0, 1, 2]), ValueError, "labels must have shape (2,)"),
])
def test_softmax_cross_entropy_rejects_bad_labels(labels, exc, message):
    with pytest.raises(exc) as err:
        F.softmax_cross_entropy(np.zeros((2, 10), np.float32), labels)
    assert message in str(err.value)


def test_bias_add_rejects_mismatched_channels():
    with pytest.raises(ValueError, match=r"x must have shape \(\.\.\., 3\)"):
        F.bias_add(np.zeros((2, 4)), np.zeros(3))


@pytest.mark.parametrize("n", [1, 6, 17, 10140, 70001])  # tails of every vector width; one call split on threads
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_adam_update_matches_keras_rule_in_float64(n, dtype, isa, rng):
    from fastconv import _pooling
    p, g = rng.standard_normal(n).astype(dtype), rng.standard_normal(n).astype(dtype)
    m, v = (0.1 * rng.standard_normal(n)).astype(dtype), rng.random(n).astype(dtype)
    want_m = m + 0.1 * (g.astype(np.float64) - m)
    want_v = v + 0.001 * (g.astype(np.float64) ** 2 - v)
    want_p = p - 0.01 * want_m / (np.sqrt(want_v) + 1e-7)
    _pooling.adam_update(p, g, m, v, 0.01, 0.9, 0.999, 1e-7, 2)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(m, want_m, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(v, want_v, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(p, want_p, rtol=rtol, atol=rtol)
