"""Central finite differences in float64: checks an analytic gradient of L = <f(args), g> entry by entry."""
import numpy as np


def numeric_grad(loss, a, h=1e-6):
    """dL/da by central differences, perturbing `a` in place one entry at a time."""
    grad = np.zeros_like(a)
    flat, gflat = a.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        up = loss()
        flat[i] = old - h
        down = loss()
        flat[i] = old
        gflat[i] = (up - down) / (2 * h)
    return grad


def assert_grad(analytic, loss, a, rtol=1e-6, atol=1e-7):
    np.testing.assert_allclose(analytic, numeric_grad(loss, a), rtol=rtol, atol=atol)
