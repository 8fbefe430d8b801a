"""Weight initializers with Keras names and fan rules. Kernel shapes are Keras's: (..., fan_in_part, fan_out)."""
import numpy as np

from .utils import rng


def _fans(shape):
    """(fan_in, fan_out) of a Dense kernel (in, out) or a conv kernel (kh, kw, in/groups, out)."""
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = int(np.prod(shape[:-2]))
    return shape[-2] * receptive, shape[-1] * receptive


def glorot_uniform(shape, dtype=np.float32):
    fan_in, fan_out = _fans(shape)
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng().uniform(-limit, limit, shape).astype(dtype)


def glorot_normal(shape, dtype=np.float32):
    fan_in, fan_out = _fans(shape)
    return (rng().standard_normal(shape) * np.sqrt(2.0 / (fan_in + fan_out))).astype(dtype)


def he_normal(shape, dtype=np.float32):
    fan_in, _ = _fans(shape)
    return (rng().standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(dtype)


def he_uniform(shape, dtype=np.float32):
    fan_in, _ = _fans(shape)
    limit = np.sqrt(6.0 / fan_in)
    return rng().uniform(-limit, limit, shape).astype(dtype)


def zeros(shape, dtype=np.float32):
    return np.zeros(shape, dtype)


def ones(shape, dtype=np.float32):
    return np.ones(shape, dtype)


_BY_NAME = {f.__name__: f for f in (glorot_uniform, glorot_normal, he_normal, he_uniform, zeros, ones)}


def get(init):
    """An initializer from its Keras name or a callable(shape, dtype)."""
    if callable(init):
        return init
    if init not in _BY_NAME:
        raise ValueError(f"unknown initializer {init!r}; known: {', '.join(sorted(_BY_NAME))}")
    return _BY_NAME[init]
