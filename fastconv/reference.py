"""Pure NumPy versions of every fastconv kernel, same signatures and semantics: the test oracle and the
benchmark baseline. Written to be obviously right: a loop over the R x S kernel taps around np.tensordot,
accumulating in float64, computing in NCHW (NHWC arguments are transposed in and out).
"""
import sys

import numpy as np

from . import _args, _plans


def _nchw_operands(p):
    """x as NCHW and w as OIHW, in float64."""
    x, w = p.x.astype(np.float64), p.w.astype(np.float64)
    if p.nhwc:
        return x.transpose(0, 3, 1, 2), w.transpose(3, 2, 0, 1)
    return x, w


def _from_nchw(a, nhwc, dtype):
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1) if nhwc else a, dtype=dtype)


def _pad(a, top, left, rows, cols, value=0.0):
    """a (N, C, H, W) placed at (top, left) in a (N, C, rows, cols) array filled with value, cropped to fit."""
    n, c, h, w = a.shape
    out = np.full((n, c, rows, cols), value, a.dtype)
    out[:, :, top:top + h, left:left + w] = a[:, :, :rows - top, :cols - left]
    return out


def _tap(a, r, s, p, q, sh, sw, dh, dw):
    """The (P, Q) grid of positions kernel tap (r, s) reads in a padded (..., rows, cols) array."""
    return a[..., r * dh:r * dh + (p - 1) * sh + 1:sh, s * dw:s * dw + (q - 1) * sw + 1:sw]


def _conv_geometry(p):
    n, c, h, w, k, r, s, pp, q, g, sh, sw, pt, pl, dh, dw, _ = p.shape
    rows = max((pp - 1) * sh + dh * (r - 1) + 1, h + pt)  # the padded extent the windows reach
    cols = max((q - 1) * sw + dw * (s - 1) + 1, w + pl)
    return n, c, h, w, k, r, s, pp, q, g, sh, sw, pt, pl, dh, dw, rows, cols


def conv2d(x, w, b=None, *, stride=1, padding=0, dilation=1, groups=1, layout="NCHW", activation=None,
           algorithm="auto", out=None):
    """NumPy twin of fastconv.conv2d (algorithm is accepted and ignored)."""
    p = _args.conv2d_params("conv2d", x, w, b, stride, padding, dilation, groups, layout)
    relu = _args.fused_relu("conv2d", activation)
    _args.algorithm_id("conv2d", algorithm, p.shape)
    y_out = _args.output("conv2d", out, p.y_shape, p.x.dtype, (p.x, p.w, p.b)) if out is not None else None
    n, c, h, wd, k, r, s, pp, q, g, sh, sw, pt, pl, dh, dw, rows, cols = _conv_geometry(p)
    x64, w64 = _nchw_operands(p)
    xpad = _pad(x64, pt, pl, rows, cols)
    cg, kg = c // g, k // g
    y = np.zeros((n, k, pp, q))
    for gi in range(g):
        xs, ks = slice(gi * cg, (gi + 1) * cg), slice(gi * kg, (gi + 1) * kg)
        for ri in range(r):
            for si in range(s):
                patch = _tap(xpad[:, xs], ri, si, pp, q, sh, sw, dh, dw)  # (N, Cg, P, Q)
                y[:, ks] += np.tensordot(w64[ks, :, ri, si], patch, axes=([1], [1])).transpose(1, 0, 2, 3)
    if p.b is not None:
        y += p.b.astype(np.float64)[None, :, None, None]
    if relu:
        y = np.where(y < 0, 0.0, y)  # keeps NaN
    result = _from_nchw(y, p.nhwc, p.x.dtype)
    if y_out is None:
        return result
    y_out[...] = result
    return y_out


def conv2d_backward(grad_y, x, w, *, stride=1, padding=0, dilation=1, groups=1, layout="NCHW", need_input=True,
                    need_weight=True, need_bias=True, algorithm="auto"):
    """NumPy twin of fastconv.conv2d_backward: each tap's forward term y += w[:, :, r, s] . patch(r, s),
    differentiated term by term (algorithm is checked and ignored)."""
    fn = "conv2d_backward"
    p = _args.conv2d_params(fn, x, w, None, stride, padding, dilation, groups, layout)
    _args.algorithm_id(fn, algorithm, p.shape)
    gy = _args.conv2d_grad_y(fn, grad_y, p).astype(np.float64)
    n, c, h, wd, k, r, s, pp, q, g, sh, sw, pt, pl, dh, dw, rows, cols = _conv_geometry(p)
    x64, w64 = _nchw_operands(p)
    if p.nhwc:
        gy = gy.transpose(0, 3, 1, 2)
    xpad = _pad(x64, pt, pl, rows, cols)
    gxpad = np.zeros_like(xpad)
    gw = np.zeros_like(w64)
    cg, kg = c // g, k // g
    for gi in range(g):
        xs, ks = slice(gi * cg, (gi + 1) * cg), slice(gi * kg, (gi + 1) * kg)
        for ri in range(r):
            for si in range(s):
                patch = _tap(xpad[:, xs], ri, si, pp, q, sh, sw, dh, dw)
                gw[ks, :, ri, si] = np.tensordot(gy[:, ks], patch, axes=([0, 2, 3], [0, 2, 3]))
                gpatch = _tap(gxpad[:, xs], ri, si, pp, q, sh, sw, dh, dw)  # a view: += writes into gxpad
                gpatch += np.tensordot(gy[:, ks], w64[ks, :, ri, si], axes=([1], [0])).transpose(0, 3, 1, 2)
    gx = gxpad[:, :, pt:pt + h, pl:pl + wd]
    dtype = p.x.dtype
    grad_x = _from_nchw(gx, p.nhwc, dtype) if need_input else None
    grad_w = None
    if need_weight:
        grad_w = np.ascontiguousarray(gw.transpose(2, 3, 1, 0) if p.nhwc else gw, dtype=dtype)
    grad_b = gy.sum(axis=(0, 2, 3)).astype(dtype) if need_bias else None
    return grad_x, grad_w, grad_b


def max_pool2d(x, kernel_size, *, stride=None, padding=0, dilation=1, ceil_mode=False, layout="NCHW",
               return_indices=False):
    """NumPy twin of fastconv.max_pool2d. Taps are visited in row-major order; a tap replaces the running
    maximum if it is the window's first input element, is larger, or is the first NaN (PyTorch's rule)."""
    p = _args.pool2d_params("max_pool2d", x, kernel_size, stride, padding, dilation, ceil_mode, layout)
    n, c, h, w, pp, q, kh, kw, sh, sw, ph, pw, dh, dw = p.geometry
    xs = p.x.transpose(0, 3, 1, 2) if p.nhwc else p.x
    rows = max((pp - 1) * sh + dh * (kh - 1) + 1, h + ph)
    cols = max((q - 1) * sw + dw * (kw - 1) + 1, w + pw)
    xpad = _pad(xs, ph, pw, rows, cols, -np.inf)
    pos = _pad(np.arange(h * w).reshape(1, 1, h, w), ph, pw, rows, cols, -1)[0, 0]
    best = np.full((n, c, pp, q), -np.inf, xs.dtype)
    idx = np.full((n, c, pp, q), -1, np.int64)
    for i in range(kh):
        for j in range(kw):
            v = _tap(xpad, i, j, pp, q, sh, sw, dh, dw)
            where = _tap(pos, i, j, pp, q, sh, sw, dh, dw)
            take = (where >= 0) & ((idx < 0) | (v > best) | (np.isnan(v) & ~np.isnan(best)))
            best = np.where(take, v, best)
            idx = np.where(take, where, idx)
    y = _from_nchw(best, p.nhwc, xs.dtype)
    return (y, _from_nchw(idx, p.nhwc, np.int64)) if return_indices else y


def max_pool2d_backward(grad_y, indices, input_shape, *, layout="NCHW", out=None, pooled=None):
    """NumPy twin of fastconv.max_pool2d_backward: np.add.at of grad_y at the recorded positions."""
    fn = "max_pool2d_backward"
    grad_y, indices, input_shape, nhwc, pooled = _args.pool2d_backward_params(fn, grad_y, indices, input_shape,
                                                                              layout, pooled)
    if pooled is not None:  # the gradient of a ReLU before the pooling, whose output at the maximum is pooled
        grad_y = np.where(pooled > 0, grad_y, 0).astype(grad_y.dtype)
    n, c, h, w = _args.nchw(input_shape, nhwc)
    gy = grad_y.transpose(0, 3, 1, 2) if nhwc else grad_y
    idx = indices.transpose(0, 3, 1, 2) if nhwc else indices
    gx = np.zeros((n * c, h * w), np.float64)
    planes = np.broadcast_to(np.arange(n * c).reshape(n, c, 1, 1), idx.shape)
    keep = idx >= 0
    np.add.at(gx, (planes[keep], idx[keep]), gy[keep].astype(np.float64))
    result = _from_nchw(gx.reshape(n, c, h, w), nhwc, grad_y.dtype)
    if out is None:
        return result
    out = _args.output(fn, out, input_shape, grad_y.dtype, (grad_y, indices))
    out[...] = result
    return out


def relu(x, *, out=None):
    """NumPy twin of fastconv.functional.relu."""
    x = _args.any_float("relu", "x", x)
    y = _args.output("relu", out, x.shape, x.dtype)  # elementwise: out=x works in place
    y[...] = np.where(x < 0, 0, x)
    return y


def relu_backward(grad_y, y):
    """NumPy twin of fastconv.functional.relu_backward."""
    return np.where(y > 0, grad_y, 0).astype(grad_y.dtype)


def bias_add(x, b, *, out=None):
    """NumPy twin of fastconv.functional.bias_add."""
    y = np.add(x, b, dtype=x.dtype)
    if out is None:
        return y
    out[...] = y
    return out


def bias_grad(grad_y):
    """NumPy twin of fastconv.functional.bias_grad (float64 sums)."""
    return grad_y.reshape(-1, grad_y.shape[-1]).sum(axis=0, dtype=np.float64).astype(grad_y.dtype)


def softmax_cross_entropy(logits, labels):
    """NumPy twin of fastconv.functional.softmax_cross_entropy, through log-sum-exp in float64."""
    fn = "softmax_cross_entropy"
    logits = _args.logits2d(fn, logits)
    labels = _args.class_labels(fn, labels, *logits.shape)
    z = logits.astype(np.float64)
    z = z - z.max(axis=1, keepdims=True)
    lse = np.log(np.exp(z).sum(axis=1))
    probs = np.exp(z - lse[:, None]).astype(logits.dtype)
    losses = lse - z[np.arange(len(labels)), labels]
    return (float(losses.mean()) if losses.size else 0.0), probs


def softmax_cross_entropy_step(logits, labels):
    """NumPy twin of fastconv.functional.softmax_cross_entropy_step."""
    loss, probs = softmax_cross_entropy(logits, labels)
    labels = _args.class_labels("softmax_cross_entropy_step", labels, *probs.shape)
    hits = int(np.count_nonzero(probs.argmax(axis=1) == labels)) if probs.size else 0
    return loss, softmax_cross_entropy_backward(probs, labels), hits


def softmax_cross_entropy_backward(probs, labels):
    """NumPy twin of fastconv.functional.softmax_cross_entropy_backward."""
    n, k = probs.shape
    onehot = np.eye(k)[labels]
    return ((probs.astype(np.float64) - onehot) / max(n, 1)).astype(probs.dtype)


class Conv2dPlan(_plans.Conv2dPlan):
    """NumPy twin of fastconv.functional.Conv2dPlan: every call runs this module's conv2d / conv2d_backward."""


class MaxPool2dPlan(_plans.MaxPool2dPlan):
    """NumPy twin of fastconv.functional.MaxPool2dPlan."""


Conv2dPlan.backend = MaxPool2dPlan.backend = sys.modules[__name__]
