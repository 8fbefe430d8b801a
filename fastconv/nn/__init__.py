"""Keras-like models on fastconv kernels: `from fastconv.nn.models import Sequential` and friends."""
from . import callbacks, initializers, layers, losses, models, optimizers
from .utils import set_random_seed

__all__ = ["callbacks", "initializers", "layers", "losses", "models", "optimizers", "set_random_seed"]
