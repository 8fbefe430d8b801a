"""Argument normalization and validation for every public kernel, done once in Python before any kernel runs.

Pure functions: padding rules, output sizes, shape checks. Messages name the function, the argument, what was
expected and what was given.
"""
import math
import operator
from typing import NamedTuple

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
LAYOUTS = ("NCHW", "NHWC")
# direct: dense (groups == 1) or depthwise (C/groups == 1); winograd: 3x3, stride 1, dilation 1, groups 1
ALGORITHMS = {"auto": 0, "gemm": 1, "direct": 2, "winograd": 3}
MAX_DIM = 2**31 - 1  # spatial sizes and offsets within one axis are 32-bit inside the kernels


def as_int(fn, name, v):
    """v as a Python int (accepting NumPy integers), else TypeError."""
    if isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{fn}: {name} must be an integer, got {v!r}")
    try:
        return operator.index(v)
    except TypeError:
        raise TypeError(f"{fn}: {name} must be an integer, got {type(v).__name__} {v!r}") from None


def pair(fn, name, v, minimum):
    """An int or a pair of ints -> (h, w), each >= minimum."""
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise ValueError(f"{fn}: {name} must be an int or a pair (h, w), got {v!r}")
        out = (as_int(fn, name, v[0]), as_int(fn, name, v[1]))
    else:
        i = as_int(fn, name, v)
        out = (i, i)
    if min(out) < minimum or max(out) > MAX_DIM:
        raise ValueError(f"{fn}: {name} must be in [{minimum}, {MAX_DIM}], got {v!r}")
    return out


def fused_relu(fn, activation):
    """Whether the fused epilogue applies relu (activation is None or "relu")."""
    if activation not in (None, "relu"):
        raise ValueError(f"{fn}: activation must be None or 'relu', got {activation!r}")
    return activation == "relu"


def algorithm_id(fn, algorithm, shape):
    """The kernel's number for a named convolution algorithm that applies to a convolution (ConvParams.shape)."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"{fn}: algorithm must be one of {sorted(ALGORITHMS)}, got {algorithm!r}")
    c, groups = shape[1], shape[9]
    if algorithm == "winograd":
        r, s, stride, dilation = shape[5], shape[6], shape[10:12], shape[14:16]
        if (r, s) != (3, 3) or tuple(stride) != (1, 1) or tuple(dilation) != (1, 1) or groups != 1:
            raise ValueError(f"{fn}: algorithm 'winograd' applies to 3x3 kernels with stride 1, dilation 1 and "
                             f"groups 1, got kernel {(r, s)}, stride {tuple(stride)}, dilation {tuple(dilation)}, "
                             f"groups {groups}")
    if algorithm == "direct" and groups != 1 and c // groups != 1:
        raise ValueError(f"{fn}: algorithm 'direct' applies to dense (groups == 1) and depthwise (groups == input "
                         f"channels) convolutions, got {c} channels in {groups} groups; use 'auto' or 'gemm'")
    return ALGORITHMS[algorithm]


def check_layout(fn, layout):
    if layout not in LAYOUTS:
        raise ValueError(f"{fn}: layout must be 'NCHW' or 'NHWC', got {layout!r}")
    return layout == "NHWC"


def kernel_ready(a, dtype=None):
    """a as a C-contiguous, element-aligned array (copied once if it is not): what the kernels' pointers need."""
    if a.flags.c_contiguous and a.flags.aligned and (dtype is None or a.dtype == dtype):
        return a
    return np.array(a, dtype=dtype, order="C", copy=True)


def check_meta(fn, name, shape, dtype, ndim, want_dtype=None):
    """The dtype and rank checks of check_array, from an array's shape and dtype alone."""
    if dtype not in FLOAT_DTYPES:
        raise TypeError(f"{fn}: {name} must be float32 or float64, got {dtype}")
    if want_dtype is not None and dtype != want_dtype:
        raise TypeError(f"{fn}: {name} has dtype {dtype} but x has dtype {want_dtype}; both must be the same")
    if len(shape) != ndim:
        raise ValueError(f"{fn}: {name} must have {ndim} dimensions, got shape {shape}")


def check_type(fn, name, a):
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{fn}: {name} must be a numpy.ndarray, got {type(a).__name__}")


def check_array(fn, name, a, ndim, dtype=None):
    """a as a C-contiguous, aligned float32/float64 array of rank ndim (copied once if it was not)."""
    check_type(fn, name, a)
    check_meta(fn, name, a.shape, a.dtype, ndim, dtype)
    return kernel_ready(a)


def nchw(shape, nhwc):
    """(N, C, H, W) of an activation shape in either layout."""
    return (shape[0], shape[3], shape[1], shape[2]) if nhwc else tuple(shape)


def to_layout(n, c, h, w, nhwc):
    return (n, h, w, c) if nhwc else (n, c, h, w)


def conv_padding(fn, padding, size, kernel, stride, dilation):
    """Normalized padding ((top, bottom), (left, right)) for any accepted form (see DESIGN.md section 2)."""
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return (0, 0), (0, 0)
        if mode == "same":  # TensorFlow: output = ceil(input / stride), odd extra padding bottom/right
            out = []
            for n, k, s, d in zip(size, kernel, stride, dilation):
                total = max((math.ceil(n / s) - 1) * s + d * (k - 1) + 1 - n, 0)
                out.append((total // 2, total - total // 2))
            return tuple(out)
        raise ValueError(f"{fn}: padding must be 'valid', 'same', an int or pairs, got {padding!r}")
    if isinstance(padding, (tuple, list)):
        if len(padding) != 2:
            raise ValueError(f"{fn}: padding must be an int, (ph, pw) or ((top, bottom), (left, right)), "
                             f"got {padding!r}")
        if all(isinstance(p, (tuple, list)) for p in padding):
            if any(len(p) != 2 for p in padding):
                raise ValueError(f"{fn}: padding must be ((top, bottom), (left, right)), got {padding!r}")
            pads = tuple((as_int(fn, "padding", p[0]), as_int(fn, "padding", p[1])) for p in padding)
        else:
            ph, pw = pair(fn, "padding", padding, 0)
            pads = ((ph, ph), (pw, pw))
    else:
        p = as_int(fn, "padding", padding)
        pads = ((p, p), (p, p))
    if min(min(p) for p in pads) < 0 or max(max(p) for p in pads) > MAX_DIM:
        raise ValueError(f"{fn}: padding must be non-negative, got {padding!r}")
    return pads


def out_size(size, pad_total, kernel, stride, dilation, ceil_mode=False, pad_begin=0):
    """Output length along one axis (DESIGN.md section 2); ceil_mode follows PyTorch's pooling rule."""
    span = size + pad_total - dilation * (kernel - 1) - 1
    if span < 0:
        return 0
    if not ceil_mode:
        return span // stride + 1
    out = -(-span // stride) + 1
    if (out - 1) * stride >= size + pad_begin:  # the last window must start inside the input or left padding
        out -= 1
    return out


class ConvParams(NamedTuple):
    x: np.ndarray
    w: np.ndarray
    b: object  # np.ndarray or None
    shape: tuple  # the 17 ints csrc/bindings.cpp unpacks into a ConvShape
    y_shape: tuple
    nhwc: bool


_GEOMETRY_CACHE = {}  # argument key -> (shape tuple, y_shape, nhwc): training repeats the same calls thousands of times
_GEOMETRY_CACHE_SIZE = 1024


def _typed(v):
    """v as a hashable key that also tells 1 from 1.0 and True (which validate differently), in tuples too. Ints,
    strings, None and pairs of ints (the common cases, first) are their own keys; every other key is a tuple
    starting with a type, so no two cases collide."""
    t = type(v)
    if t is int or t is str or v is None:
        return v
    if t is tuple and len(v) == 2 and type(v[0]) is int and type(v[1]) is int:
        return v
    if isinstance(v, (tuple, list)):
        return t, tuple(map(_typed, v))
    return t, v


def _cached(geometry, meta, user_args):
    """geometry(*meta, *user_args), remembered by meta (function name, shapes, dtypes: hashable as they are) and the
    user's arguments' typed values. Errors are raised again on every call, never cached."""
    try:
        key = (geometry, meta, *map(_typed, user_args))
        result = _GEOMETRY_CACHE.get(key)
    except TypeError:  # an unhashable argument: validate without the cache
        return geometry(*meta, *user_args)
    if result is None:
        result = geometry(*meta, *user_args)
        if len(_GEOMETRY_CACHE) >= _GEOMETRY_CACHE_SIZE:
            _GEOMETRY_CACHE.clear()
        _GEOMETRY_CACHE[key] = result
    return result


def conv2d_params(fn, x, w, b, stride, padding, dilation, groups, layout):
    """Validates a convolution's arguments; returns contiguous operands and the kernel's shape tuple. The checks
    depend only on shapes, dtypes and the arguments, so their result is cached by those."""
    check_type(fn, "x", x)
    check_type(fn, "w", w)
    if b is not None:
        check_type(fn, "b", b)
    meta = (fn, x.shape, x.dtype, w.shape, w.dtype, None if b is None else (b.shape, b.dtype))
    shape, y_shape, nhwc = _cached(_conv_geometry, meta, (stride, padding, dilation, groups, layout))
    return ConvParams(kernel_ready(x), kernel_ready(w), None if b is None else kernel_ready(b), shape, y_shape, nhwc)


def _conv_geometry(fn, x_shape, x_dtype, w_shape, w_dtype, b_meta, stride, padding, dilation, groups, layout):
    """Every check of a convolution call and its geometry, from shapes and dtypes: (shape tuple, y_shape, nhwc)."""
    nhwc = check_layout(fn, layout)
    check_meta(fn, "x", x_shape, x_dtype, 4)
    check_meta(fn, "w", w_shape, w_dtype, 4, x_dtype)
    n, c, h, wd = nchw(x_shape, nhwc)
    if nhwc:
        r, s, cg, k = w_shape
    else:
        k, cg, r, s = w_shape
    g = as_int(fn, "groups", groups)
    wname = "(R, S, C/groups, K)" if nhwc else "(K, C/groups, R, S)"
    if min(c, h, wd) <= 0:
        raise ValueError(f"{fn}: x must have positive channel and spatial sizes, got x.shape={x_shape} ({layout})")
    if min(k, cg, r, s) <= 0:
        raise ValueError(f"{fn}: w must have positive sizes, got w.shape={w_shape} {wname}")
    if g <= 0 or c % g or k % g:
        raise ValueError(f"{fn}: groups={g} must be positive and divide both input channels ({c}) and "
                         f"output channels ({k}) (x.shape={x_shape}, w.shape={w_shape})")
    if cg * g != c:
        raise ValueError(f"{fn}: x has {c} channels but w expects {cg * g} (w.shape={w_shape} {wname}, "
                         f"groups={g})")
    if b_meta is not None:
        b_shape, b_dtype = b_meta
        check_meta(fn, "b", b_shape, b_dtype, 1, x_dtype)
        if b_shape[0] != k:
            raise ValueError(f"{fn}: b must have shape ({k},) to match w.shape={w_shape}, got {b_shape}")
    sh, sw = pair(fn, "stride", stride, 1)
    dh, dw = pair(fn, "dilation", dilation, 1)
    (pt, pb), (pl, pr) = conv_padding(fn, padding, (h, wd), (r, s), (sh, sw), (dh, dw))
    p = out_size(h, pt + pb, r, sh, dh)
    q = out_size(wd, pl + pr, s, sw, dw)
    if p <= 0 or q <= 0:
        raise ValueError(f"{fn}: the dilated kernel ({dh * (r - 1) + 1}, {dw * (s - 1) + 1}) is larger than the "
                         f"padded input ({h + pt + pb}, {wd + pl + pr}) (x.shape={x_shape}, w.shape={w_shape})")
    shape = (n, c, h, wd, k, r, s, p, q, g, sh, sw, pt, pl, dh, dw, int(nhwc))
    return shape, to_layout(n, k, p, q, nhwc), nhwc


def conv2d_grad_y(fn, grad_y, p):
    """grad_y checked against the forward output shape of ConvParams p."""
    grad_y = check_array(fn, "grad_y", grad_y, 4, p.x.dtype)
    if grad_y.shape != p.y_shape:
        raise ValueError(f"{fn}: grad_y must have the convolution's output shape {p.y_shape}, got {grad_y.shape}")
    return grad_y


def output(fn, out, shape, dtype, inputs=()):
    """out= checked (shape, dtype, C-contiguous, writeable, not aliasing an input), or a new array."""
    if out is None:
        return np.empty(shape, dtype)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{fn}: out must be a numpy.ndarray, got {type(out).__name__}")
    if out.shape != tuple(shape) or out.dtype != dtype:
        raise ValueError(f"{fn}: out must have shape {tuple(shape)} and dtype {np.dtype(dtype)}, "
                         f"got {out.shape} {out.dtype}")
    if not (out.flags.c_contiguous and out.flags.aligned and out.flags.writeable):
        raise ValueError(f"{fn}: out must be C-contiguous, aligned and writeable")
    if any(a is not None and np.may_share_memory(out, a) for a in inputs):
        raise ValueError(f"{fn}: out must not overlap an input")
    return out


class PoolParams(NamedTuple):
    x: np.ndarray
    geometry: tuple  # (N, C, H, W, P, Q, kh, kw, sh, sw, ph, pw, dh, dw)
    y_shape: tuple
    nhwc: bool


def pool2d_params(fn, x, kernel_size, stride, padding, dilation, ceil_mode, layout):
    """Validates a max-pooling call; returns the contiguous input and the window geometry (checks cached like
    conv2d_params')."""
    check_type(fn, "x", x)
    geometry, y_shape, nhwc = _cached(_pool_geometry, (fn, x.shape, x.dtype),
                                      (kernel_size, stride, padding, dilation, ceil_mode, layout))
    return PoolParams(kernel_ready(x), geometry, y_shape, nhwc)


def _pool_geometry(fn, x_shape, x_dtype, kernel_size, stride, padding, dilation, ceil_mode, layout):
    """Every check of a pooling call and its geometry, from the input's shape and dtype."""
    nhwc = check_layout(fn, layout)
    check_meta(fn, "x", x_shape, x_dtype, 4)
    n, c, h, wd = nchw(x_shape, nhwc)
    if min(c, h, wd) <= 0:
        raise ValueError(f"{fn}: x must have positive channel and spatial sizes, got x.shape={x_shape} ({layout})")
    kh, kw = pair(fn, "kernel_size", kernel_size, 1)
    sh, sw = pair(fn, "stride", kernel_size if stride is None else stride, 1)
    dh, dw = pair(fn, "dilation", dilation, 1)
    ph, pw = pair(fn, "padding", padding, 0)
    if ph > kh // 2 or pw > kw // 2:
        raise ValueError(f"{fn}: padding {(ph, pw)} must be at most half the kernel size {(kh, kw)}")
    if not isinstance(ceil_mode, (bool, np.bool_)):
        raise TypeError(f"{fn}: ceil_mode must be a bool, got {ceil_mode!r}")
    p = out_size(h, 2 * ph, kh, sh, dh, ceil_mode, ph)
    q = out_size(wd, 2 * pw, kw, sw, dw, ceil_mode, pw)
    if p <= 0 or q <= 0:
        raise ValueError(f"{fn}: the dilated window ({dh * (kh - 1) + 1}, {dw * (kw - 1) + 1}) is larger than the "
                         f"padded input ({h + 2 * ph}, {wd + 2 * pw}) (x.shape={x_shape})")
    return (n, c, h, wd, p, q, kh, kw, sh, sw, ph, pw, dh, dw), to_layout(n, c, p, q, nhwc), nhwc


def pool2d_backward_params(fn, grad_y, indices, input_shape, layout, pooled=None, check_range=True):
    """Validates max_pool2d_backward's arguments; indices must point inside their (n, c) plane or be -1 (checked
    here, or with check_range=False by the kernel as it scatters: one pass over them instead of three)."""
    nhwc = check_layout(fn, layout)
    grad_y = check_array(fn, "grad_y", grad_y, 4)
    if not isinstance(indices, np.ndarray) or indices.dtype != np.int64:
        raise TypeError(f"{fn}: indices must be an int64 numpy.ndarray (as max_pool2d returns it), "
                        f"got {getattr(indices, 'dtype', type(indices).__name__)}")
    if indices.shape != grad_y.shape:
        raise ValueError(f"{fn}: indices.shape {indices.shape} must equal grad_y.shape {grad_y.shape}")
    indices = kernel_ready(indices)
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 4:
        raise ValueError(f"{fn}: input_shape must be a 4-tuple, got {input_shape!r}")
    input_shape = tuple(as_int(fn, "input_shape", v) for v in input_shape)
    n, c, h, wd = nchw(input_shape, nhwc)
    gn, gc, _, _ = nchw(grad_y.shape, nhwc)
    if min(c, h, wd) <= 0 or n < 0 or (n, c) != (gn, gc):
        raise ValueError(f"{fn}: input_shape {input_shape} does not match grad_y.shape {grad_y.shape} ({layout})")
    if check_range:
        pool_indices_in_range(fn, indices, h, wd)
    if pooled is not None:
        pooled = check_array(fn, "pooled", pooled, 4, grad_y.dtype)
        if pooled.shape != grad_y.shape:
            raise ValueError(f"{fn}: pooled.shape {pooled.shape} must equal grad_y.shape {grad_y.shape}")
    return grad_y, indices, input_shape, nhwc, pooled


def pool_indices_in_range(fn, indices, h, wd):
    """Raises ValueError unless every index is -1 or a position inside an h x wd plane."""
    if indices.size and (indices.min() < -1 or indices.max() >= h * wd):
        raise ValueError(f"{fn}: indices must lie in [-1, {h * wd}) for input planes of {h}x{wd}, "
                         f"got values in [{indices.min()}, {indices.max()}]")


def any_float(fn, name, a, dtype=None):
    """a as a C-contiguous float32/float64 array of any rank."""
    return check_array(fn, name, a, np.ndim(a) if isinstance(a, np.ndarray) else -1, dtype)


def channels_last(fn, name, a, k, dtype):
    """a (..., k) as a C-contiguous float array and its (rows, k) view."""
    a = any_float(fn, name, a, dtype)
    if a.ndim < 1 or a.shape[-1] != k:
        raise ValueError(f"{fn}: {name} must have shape (..., {k}), got {a.shape}")
    return a, a.reshape(-1, k)


def class_labels(fn, labels, n, k, check_range=True):
    """labels as int64 (n,), each in [0, k) (checked here, or with check_range=False by the kernel, which counts
    labels outside [0, k) without reading past a row and returns that count; labels_in_range then raises)."""
    if not isinstance(labels, np.ndarray) or labels.dtype.kind not in "iu":
        raise TypeError(f"{fn}: labels must be an integer numpy.ndarray, got "
                        f"{getattr(labels, 'dtype', type(labels).__name__)}")
    if labels.shape != (n,):
        raise ValueError(f"{fn}: labels must have shape ({n},) to match logits, got {labels.shape}")
    labels = kernel_ready(labels, np.int64)
    if check_range:
        labels_in_range(fn, labels, k)
    return labels


def labels_in_range(fn, labels, k):
    """Raises ValueError unless every label lies in [0, k)."""
    if labels.size and (labels.min() < 0 or labels.max() >= k):
        raise ValueError(f"{fn}: labels must lie in [0, {k}), got values in [{labels.min()}, {labels.max()}]")


def logits2d(fn, logits):
    logits = check_array(fn, "logits", logits, 2)
    if logits.shape[1] == 0:
        raise ValueError(f"{fn}: logits must have at least one class, got shape {logits.shape}")
    return logits
