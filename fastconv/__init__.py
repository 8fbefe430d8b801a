"""fastconv: fast 2-D convolution and max pooling for CPUs (see DESIGN.md for the contract)."""
from . import reference
from .functional import conv2d, conv2d_backward, max_pool2d, max_pool2d_backward
from .runtime import cpu_info, get_num_threads, set_num_threads

__version__ = "0.1.0"

__all__ = [
    "conv2d", "conv2d_backward", "max_pool2d", "max_pool2d_backward",
    "set_num_threads", "get_num_threads", "cpu_info", "reference", "__version__",
]
