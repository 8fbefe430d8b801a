"""Convolution and max pooling on NumPy arrays: validate once (_args), allocate, one call into a compiled kernel."""
import numpy as np

from . import _args, _C, _pooling
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
    algorithm : "auto" or "gemm"
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
    alg = _args.algorithm_id("conv2d", algorithm)
    y = _args.output("conv2d", out, p.y_shape, p.x.dtype, (p.x, p.w, p.b))
    if y.size:
        _C.conv2d_fwd(p.x, p.w, p.b, y, p.shape, relu, alg, get_num_threads())
    return y


def conv2d_backward(grad_y, x, w, *, stride=1, padding=0, dilation=1, groups=1, layout="NCHW", need_input=True,
                    need_weight=True, need_bias=True):
    """Gradients of conv2d with respect to x, w and b, given grad_y = dL/dy.

    Parameters
    ----------
    grad_y : ndarray, the forward output's shape
    x, w : ndarray, the forward call's operands
    stride, padding, dilation, groups, layout : as in conv2d
    need_input, need_weight, need_bias : bool, which gradients to compute

    Returns
    -------
    (grad_x or None, grad_w or None, grad_b or None)
        Shapes of x, w and (K,).
    """
    fn = "conv2d_backward"
    p = _args.conv2d_params(fn, x, w, None, stride, padding, dilation, groups, layout)
    grad_y = _args.conv2d_grad_y(fn, grad_y, p)
    dtype = p.x.dtype
    gx = np.empty(p.x.shape, dtype) if need_input else None
    gw = np.empty(p.w.shape, dtype) if need_weight else None
    gb = np.empty(p.shape[4], dtype) if need_bias else None
    if need_input or need_weight or need_bias:
        _C.conv2d_bwd(grad_y, p.x, p.w, gx, gw, gb, p.shape, get_num_threads())
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
    y = np.empty(p.y_shape, p.x.dtype)
    indices = np.empty(p.y_shape, np.int64) if return_indices else None
    if y.size:
        _pooling.maxpool2d_fwd(p.x, y, indices, p.geometry, p.nhwc, get_num_threads())
    return (y, indices) if return_indices else y


def max_pool2d_backward(grad_y, indices, input_shape, *, layout="NCHW", out=None):
    """Gradient of max_pool2d with respect to x: grad_y added at the positions `indices` names.

    Parameters
    ----------
    grad_y : ndarray, the pooled output's shape
    indices : ndarray of int64, as returned by max_pool2d(..., return_indices=True)
    input_shape : 4-tuple, the shape of the forward input x
    layout : "NCHW" or "NHWC"
    out : ndarray, optional

    Returns
    -------
    grad_x : ndarray of input_shape
    """
    fn = "max_pool2d_backward"
    grad_y, indices, input_shape, nhwc = _args.pool2d_backward_params(fn, grad_y, indices, input_shape, layout)
    gx = _args.output(fn, out, input_shape, grad_y.dtype, (grad_y, indices))
    if gx.size:
        _pooling.maxpool2d_bwd(grad_y, indices, gx, nhwc, get_num_threads())
    return gx
