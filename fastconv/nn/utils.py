"""Random state shared by initializers (like keras.utils.set_random_seed) and small helpers."""
import numpy as np

_rng = np.random.default_rng()


def set_random_seed(seed):
    """Seed weight initialization of layers built after this call (fit takes its own seed for shuffling)."""
    global _rng
    _rng = np.random.default_rng(seed)


def rng():
    """The generator initializers draw from."""
    return _rng


def as_pair(layer, name, v, minimum=1):
    """Keras accepts an int or a pair for sizes, strides and rates; each must be >= minimum."""
    from .._args import pair

    return pair(layer, name, v, minimum)


def data_format(value):
    """'channels_last' (default, like Keras) -> layout 'NHWC'; 'channels_first' -> 'NCHW'."""
    value = value or "channels_last"
    if value not in ("channels_last", "channels_first"):
        raise ValueError(f"data_format must be 'channels_last' or 'channels_first', got {value!r}")
    return "NHWC" if value == "channels_last" else "NCHW"
