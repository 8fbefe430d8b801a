"""Convolution and max pooling on NumPy arrays: validate once (_args), allocate, one call into a compiled kernel."""
import sys

import numpy as np

from . import _args, _C, _plans, _pooling
from ._plans import fits
from .runtime import get_num_threads


def conv2d(x, w, b=None, *, stride=1, padding=0, dilation=1, groups=1, layout="NCHW", activation=None,
           algorithm="auto", out=None):
    """2-D convolution (cross-correlation, as in PyTorch and Keras).

    Parameters
    ----------
    x : ndarray, float32 or float64
        (N, C, H, W) for layout "NCHW", (N, H, W, C) for "NHWC".
    w : ndarray, same dtype
        (K, C/groups, R, S) for "NCHW", (R, S, C/groups, K) for "NHWC".
    b : ndarray (K,), optional
    stride, dilation : int or (h, w)
    padding : int, (ph, pw), ((top, bottom), (left, right)), "valid" or "same"
    groups : int, dividing C and K (groups == C is depthwise)
    activation : None or "relu", applied after the bias
    algorithm : "auto" (chosen per shape), "gemm" (implicit-im2col GEMM, any shape), "direct" (loops along
        output rows: dense shapes, groups == 1, where few channels make a GEMM mostly overhead; or depthwise
        shapes, groups == C) or "winograd" (F(4x4, 3x3), or F(6x6, 3x3) where its tiles fit the output better: 3x3
        kernels, stride 1, dilation 1, groups == 1; float32 error about 1e-5 of the largest result, roughly 10x a
        GEMM's)
    out : ndarray, optional; C-contiguous, the output's shape and dtype

    Returns
    -------
    y : ndarray
        (N, K, P, Q) for "NCHW", (N, P, Q, K) for "NHWC".

    Raises
    ------
    TypeError, ValueError
        On a bad dtype, rank, shape, channel/group mismatch, a kernel larger than the padded input, or bad out.
    """
    p = _args.conv2d_params("conv2d", x, w, b, stride, padding, dilation, groups, layout)
    relu = _args.fused_relu("conv2d", activation)
    alg = _args.algorithm_id("conv2d", algorithm, p.shape)
    y = _args.output("conv2d", out, p.y_shape, p.x.dtype, (p.x, p.w, p.b))
    if y.size:
        _C.conv2d_fwd(p.x, p.w, p.b, y, p.shape, relu, alg, get_num_threads())
    return y


def conv2d_backward(grad_y, x, w, *, stride=1, padding=0, dilation=1, groups=1, layout="NCHW", need_input=True,
                    need_weight=True, need_bias=True, algorithm="auto"):
    """Gradients of conv2d with respect to x, w and b, given grad_y = dL/dy.

    Parameters
    ----------
    grad_y : ndarray, the forward output's shape
    x, w : ndarray, the forward call's operands
    stride, padding, dilation, groups, layout : as in conv2d
    need_input, need_weight, need_bias : bool, which gradients to compute
    algorithm : as in conv2d; "direct" computes the input gradient of a strided dense convolution by the GEMM;
        "winograd" computes the input gradient from transformed tiles of grad_y where they are fewer than a
        Winograd forward of grad_y would take over grad_x (valid padding), else as that forward, and the weight
        gradient from transformed tiles of x and grad_y

    Returns
    -------
    (grad_x or None, grad_w or None, grad_b or None)
        Shapes of x, w and (K,).
    """
    fn = "conv2d_backward"
    p = _args.conv2d_params(fn, x, w, None, stride, padding, dilation, groups, layout)
    grad_y = _args.conv2d_grad_y(fn, grad_y, p)
    alg = _args.algorithm_id(fn, algorithm, p.shape)
    return _conv2d_bwd(grad_y, p.x, p.w, p.shape, alg, need_input, need_weight, need_bias)


def _conv2d_bwd(grad_y, x, w, shape, alg, need_input, need_weight, need_bias):
    """The kernel call of conv2d_backward on checked operands (shape: their 17 ints), allocating what is needed."""
    gx = np.empty(x.shape, x.dtype) if need_input else None
    gw = np.empty(w.shape, x.dtype) if need_weight else None
    gb = np.empty(shape[4], x.dtype) if need_bias else None
    if need_input or need_weight or need_bias:
        _C.conv2d_bwd(grad_y, x, w, gx, gw, gb, shape, alg, get_num_threads())
    return gx, gw, gb


def max_pool2d(x, kernel_size, *, stride=None, padding=0, dilation=1, ceil_mode=False, layout="NCHW",
               return_indices=False):
    """2-D max pooling; NaN propagates, padding counts as -inf.

    Parameters
    ----------
    x : ndarray, float32 or float64, (N, C, H, W) or (N, H, W, C)
    kernel_size : int or (kh, kw)
    stride : int or (h, w), default kernel_size
    padding : int or (ph, pw), at most half the kernel
    dilation : int or (h, w)
    ceil_mode : bool, PyTorch's rule for the last window
    return_indices : bool

    Returns
    -------
    y : ndarray, (N, C, P, Q) or (N, P, Q, C)
    indices : ndarray of int64, y's shape, only with return_indices
        Flat position h * W + w of each maximum within its (n, c) plane.
    """
    p = _args.pool2d_params("max_pool2d", x, kernel_size, stride, padding, dilation, ceil_mode, layout)
    return _maxpool2d_fwd(p.x, p.geometry, p.y_shape, p.nhwc, return_indices)


def _maxpool2d_fwd(x, geometry, y_shape, nhwc, return_indices):
    """The kernel call of max_pool2d on a checked input."""
    y = np.empty(y_shape, x.dtype)
    indices = np.empty(y_shape, np.int64)  # the kernel always tracks them; writing them costs little
    if y.size:
        _pooling.maxpool2d_fwd(x, y, indices, geometry, nhwc, get_num_threads())
    return (y, indices) if return_indices else y


def max_pool2d_backward(grad_y, indices, input_shape, *, layout="NCHW", out=None, pooled=None):
    """Gradient of max_pool2d with respect to x: grad_y added at the positions `indices` names.

    Parameters
    ----------
    grad_y : ndarray, the pooled output's shape
    indices : ndarray of int64, as returned by max_pool2d(..., return_indices=True)
    input_shape : 4-tuple, the shape of the forward input x
    layout : "NCHW" or "NHWC"
    out : ndarray, optional
    pooled : ndarray, optional, the forward output y. Given, the gradient is that of max_pool2d(relu(z)) with
        respect to z: grad_y passes only where pooled > 0 (the ReLU's output at each window's maximum), so a ReLU
        before the pooling needs no backward pass of its own.

    Returns
    -------
    grad_x : ndarray of input_shape

    Raises
    ------
    TypeError, ValueError
        On bad dtypes or shapes, or an index outside [-1, H * W).
    """
    fn = "max_pool2d_backward"
    grad_y, indices, input_shape, nhwc, pooled = _args.pool2d_backward_params(fn, grad_y, indices, input_shape,
                                                                              layout, pooled, check_range=False)
    gx = _args.output(fn, out, input_shape, grad_y.dtype, (grad_y, indices) + (() if pooled is None else (pooled,)))
    return _maxpool2d_bwd(grad_y, indices, pooled, gx, nhwc)


def _maxpool2d_bwd(grad_y, indices, pooled, gx, nhwc):
    """The kernel call of max_pool2d_backward into gx; raises ValueError if the kernel met indices out of range."""
    if gx.size and _pooling.maxpool2d_bwd(grad_y, indices, pooled, gx, nhwc, get_num_threads()):
        _, _, h, w = _args.nchw(gx.shape, nhwc)
        _args.pool_indices_in_range("max_pool2d_backward", indices, h, w)  # raises, naming the range found
    return gx


def relu(x, *, out=None):
    """max(x, 0) elementwise (NaN stays NaN). x: float32/float64, any shape."""
    x = _args.any_float("relu", "x", x)
    y = _args.output("relu", out, x.shape, x.dtype)  # elementwise: out=x works in place
    if y.size:
        _pooling.relu_fwd(x.reshape(-1), y.reshape(-1), get_num_threads())
    return y


def relu_backward(grad_y, y):
    """Gradient of relu: grad_y where the forward output y > 0, else 0."""
    grad_y = _args.any_float("relu_backward", "grad_y", grad_y)
    y = _args.any_float("relu_backward", "y", y, grad_y.dtype)
    if y.shape != grad_y.shape:
        raise ValueError(f"relu_backward: y.shape {y.shape} must equal grad_y.shape {grad_y.shape}")
    gx = np.empty_like(grad_y)
    if gx.size:
        _pooling.relu_bwd(grad_y.reshape(-1), y.reshape(-1), gx.reshape(-1), get_num_threads())
    return gx


def bias_add(x, b, *, out=None):
    """x + b with b (K,) added along the last axis of x (..., K)."""
    b = _args.check_array("bias_add", "b", b, 1)
    x, _ = _args.channels_last("bias_add", "x", x, b.shape[0], b.dtype)
    y = _args.output("bias_add", out, x.shape, x.dtype, (b,))  # out=x adds in place
    if y is not x:
        np.copyto(y, x)
    if y.size:
        _pooling.bias_add(y.reshape(-1, b.shape[0]), b, get_num_threads())
    return y


def bias_grad(grad_y):
    """Gradient of bias_add with respect to b: grad_y (..., K) summed over all but its last axis."""
    grad_y = _args.any_float("bias_grad", "grad_y", grad_y)
    if grad_y.ndim < 1:
        raise ValueError(f"bias_grad: grad_y must have at least one dimension, got shape {grad_y.shape}")
    gb = np.empty(grad_y.shape[-1], grad_y.dtype)
    _pooling.bias_grad(grad_y.reshape(-1, gb.shape[0]), gb, get_num_threads())
    return gb


def softmax_cross_entropy(logits, labels):
    """Softmax of each row and the mean cross-entropy against integer labels, fused and numerically stable.

    Parameters
    ----------
    logits : ndarray (N, K), float32 or float64
    labels : integer ndarray (N,), each in [0, K)

    Returns
    -------
    loss : float, mean over the N rows (0.0 when N == 0)
    probs : ndarray (N, K), softmax(logits); pass it to softmax_cross_entropy_backward
    """
    fn = "softmax_cross_entropy"
    logits = _args.logits2d(fn, logits)
    labels = _args.class_labels(fn, labels, *logits.shape, check_range=False)
    probs = np.empty_like(logits)
    losses = np.empty(logits.shape[0])
    if not logits.shape[0]:
        return 0.0, probs
    total = _pooling.softmax_xent_fwd(logits, labels, probs, losses, get_num_threads())
    if total is None:  # a label outside [0, K): the kernel skipped its row
        _args.labels_in_range(fn, labels, logits.shape[1])
    return total / logits.shape[0], probs


def softmax_cross_entropy_step(logits, labels):
    """softmax_cross_entropy and its backward in one pass, for a training step: (mean loss, gradient of the mean
    loss with respect to the logits, number of rows whose largest probability is at their label (the first of
    equal ones, as numpy.argmax of the probabilities)). The probabilities themselves are not kept."""
    fn = "softmax_cross_entropy_step"
    logits = _args.logits2d(fn, logits)
    labels = _args.class_labels(fn, labels, *logits.shape, check_range=False)
    grad = np.empty_like(logits)
    if not logits.shape[0]:
        return 0.0, grad, 0
    result = _pooling.softmax_xent_step(logits, labels, 1.0 / logits.shape[0], grad, np.empty(logits.shape[0]),
                                        get_num_threads())
    if result is None:  # a label outside [0, K): the kernel skipped its row
        _args.labels_in_range(fn, labels, logits.shape[1])
    return result[0] / logits.shape[0], grad, result[1]


def softmax_cross_entropy_backward(probs, labels):
    """Gradient of the mean loss of softmax_cross_entropy with respect to the logits: (probs - onehot) / N."""
    fn = "softmax_cross_entropy_backward"
    probs = _args.logits2d(fn, probs)
    labels = _args.class_labels(fn, labels, *probs.shape, check_range=False)
    grad = np.empty_like(probs)
    if probs.shape[0] and _pooling.softmax_xent_bwd(probs, labels, 1.0 / probs.shape[0], grad, get_num_threads()):
        _args.labels_in_range(fn, labels, probs.shape[1])
    return grad


class Conv2dPlan(_plans.Conv2dPlan):
    """conv2d and conv2d_backward validated once, for operands shaped like x, w and b and these arguments (as in
    conv2d). forward(x, w, b) and backward(grad_y, x, w, need_input, need_weight, need_bias) return what conv2d and
    conv2d_backward return; arrays that fit the plan (aligned, C-contiguous, the planned shapes and dtype) go
    straight to the kernel, any other takes the full function. What training layers call every step.

    Attributes: x_shape, w_shape, b_shape (None without bias), y_shape, dtype.
    """

    def forward(self, x, w, b=None, out=None):
        if out is not None or not self._fit_operands(x, w, b):
            return super().forward(x, w, b, out)
        y = np.empty(self.y_shape, self.dtype)
        if y.size:
            _C.conv2d_fwd(x, w, b, y, self._shape, self._relu, self._algorithm, get_num_threads())
        return y

    def backward(self, grad_y, x, w, need_input=True, need_weight=True, need_bias=True):
        dtype = self.dtype
        if not (fits(grad_y, self.y_shape, dtype) and fits(x, self.x_shape, dtype) and fits(w, self.w_shape, dtype)):
            return super().backward(grad_y, x, w, need_input, need_weight, need_bias)
        return _conv2d_bwd(grad_y, x, w, self._shape, self._algorithm, need_input, need_weight, need_bias)


class MaxPool2dPlan(_plans.MaxPool2dPlan):
    """max_pool2d and max_pool2d_backward validated once, for inputs shaped like x and these arguments (as in
    max_pool2d). forward(x, return_indices) and backward(grad_y, indices, pooled, out) return what max_pool2d and
    max_pool2d_backward return; arrays that fit the plan go straight to the kernel, any other takes the full
    function.

    Attributes: x_shape, y_shape, dtype.
    """

    def forward(self, x, return_indices=False):
        if not fits(x, self.x_shape, self.dtype):
            return super().forward(x, return_indices)
        return _maxpool2d_fwd(x, self._geometry, self.y_shape, self._nhwc, return_indices)

    def backward(self, grad_y, indices, pooled=None, out=None):
        shape, dtype = self.y_shape, self.dtype
        if out is not None or not (fits(grad_y, shape, dtype) and fits(indices, shape, np.int64)
                                   and (pooled is None or fits(pooled, shape, dtype))):
            return super().backward(grad_y, indices, pooled, out)
        return _maxpool2d_bwd(grad_y, indices, pooled, np.empty(self.x_shape, dtype), self._nhwc)


Conv2dPlan.backend = MaxPool2dPlan.backend = sys.modules[__name__]
