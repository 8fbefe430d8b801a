"""Plans: a convolution or a max pooling validated once, for the shapes, dtype and arguments of example operands.

Training runs the same calls thousands of times. A plan's calls check only that the arrays they get still fit it
(an aligned, C-contiguous ndarray of the planned shape and dtype: a handful of attribute reads) and go straight to
the kernel; any other array takes the backend's full function, so a plan call always returns what that function
returns, and raises what it raises. These base classes hold the validation and that general path; each backend
(functional, reference) subclasses them, and functional's subclasses add the direct kernel calls.
"""
import numpy as np

from . import _args


def fits(a, shape, dtype):
    """Whether a can go to a kernel as it is: an aligned, C-contiguous ndarray of exactly this shape and dtype."""
    if type(a) is not np.ndarray or a.shape != shape or a.dtype != dtype:
        return False
    flags = a.flags
    return flags.c_contiguous and flags.aligned


class Conv2dPlan:
    """conv2d and conv2d_backward for operands shaped like x, w and b, with these arguments (see conv2d)."""

    backend = None  # the module whose conv2d and conv2d_backward run every call this plan does not fit

    def __init__(self, x, w, b=None, *, stride=1, padding=0, dilation=1, groups=1, layout="NCHW", activation=None,
                 algorithm="auto"):
        fn = type(self).__name__
        p = _args.conv2d_params(fn, x, w, b, stride, padding, dilation, groups, layout)
        self._relu = _args.fused_relu(fn, activation)
        self._algorithm = _args.algorithm_id(fn, algorithm, p.shape)
        self._kwargs = dict(stride=stride, padding=padding, dilation=dilation, groups=groups, layout=layout)
        self._activation, self._algorithm_name = activation, algorithm
        self._shape = p.shape  # the 17 ints the kernels take
        self.x_shape, self.w_shape, self.y_shape, self.dtype = p.x.shape, p.w.shape, p.y_shape, p.x.dtype
        self.b_shape = None if b is None else p.b.shape

    def _fit_operands(self, x, w, b):
        return (fits(x, self.x_shape, self.dtype) and fits(w, self.w_shape, self.dtype)
                and (b is None if self.b_shape is None else fits(b, self.b_shape, self.dtype)))

    def forward(self, x, w, b=None, out=None):
        """conv2d(x, w, b, out=out) with the planned arguments."""
        return self.backend.conv2d(x, w, b, activation=self._activation, algorithm=self._algorithm_name, out=out,
                                   **self._kwargs)

    def backward(self, grad_y, x, w, need_input=True, need_weight=True, need_bias=True):
        """conv2d_backward(grad_y, x, w, ...) with the planned arguments: (grad_x, grad_w, grad_b), None where
        not needed."""
        return self.backend.conv2d_backward(grad_y, x, w, need_input=need_input, need_weight=need_weight,
                                            need_bias=need_bias, algorithm=self._algorithm_name, **self._kwargs)


class MaxPool2dPlan:
    """max_pool2d and max_pool2d_backward for inputs shaped like x, with these arguments (see max_pool2d)."""

    backend = None

    def __init__(self, x, kernel_size, *, stride=None, padding=0, dilation=1, ceil_mode=False, layout="NCHW"):
        p = _args.pool2d_params(type(self).__name__, x, kernel_size, stride, padding, dilation, ceil_mode, layout)
        self._kernel_size = kernel_size
        self._kwargs = dict(stride=stride, padding=padding, dilation=dilation, ceil_mode=ceil_mode, layout=layout)
        self._layout = layout
        self._geometry, self._nhwc = p.geometry, p.nhwc
        self.x_shape, self.y_shape, self.dtype = p.x.shape, p.y_shape, p.x.dtype

    def forward(self, x, return_indices=False):
        """max_pool2d(x, ..., return_indices=return_indices) with the planned arguments."""
        return self.backend.max_pool2d(x, self._kernel_size, return_indices=return_indices, **self._kwargs)

    def backward(self, grad_y, indices, pooled=None, out=None):
        """max_pool2d_backward(grad_y, indices, x_shape, pooled=pooled, out=out) with the planned layout."""
        return self.backend.max_pool2d_backward(grad_y, indices, self.x_shape, layout=self._layout, out=out,
                                                pooled=pooled)
