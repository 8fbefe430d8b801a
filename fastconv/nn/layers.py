"""Keras-like layers computing through a kernel backend: fastconv.functional (default) or fastconv.reference.

Each layer has forward(x, training) and backward(grad_y) -> grad_x; backward stores the parameter gradients in
`grads`, aligned with `params`. Shapes given to build/compute_output_shape exclude the batch axis, as in Keras.
"""
import numpy as np

from .. import _args
from .. import functional as _functional
from . import initializers
from .utils import as_pair
from .utils import data_format as data_format_to_layout


class Layer:
    """Base layer: a name, weights (`params`) and their gradients (`grads`), and a kernel backend."""

    def __init__(self, name=None, input_shape=None, trainable=True):
        self.name = name
        self.input_shape = tuple(input_shape) if input_shape is not None else None
        self.output_shape = None
        self.trainable = trainable
        self.built = False
        self.backend = _functional
        self.params = []
        self.grads = []
        self.need_input_grad = True  # the model clears it for its first layer

    def build(self, input_shape):
        self.input_shape = tuple(input_shape)
        self.output_shape = tuple(self.compute_output_shape(self.input_shape))
        self.built = True

    def compute_output_shape(self, input_shape):
        return input_shape

    def count_params(self):
        return int(sum(p.size for p in self.params))

    def get_weights(self):
        return [p.copy() for p in self.params]

    def set_weights(self, weights):
        if len(weights) != len(self.params):
            raise ValueError(f"layer {self.name!r} has {len(self.params)} weight arrays, got {len(weights)}")
        for p, w in zip(self.params, weights):
            w = np.asarray(w)
            if w.shape != p.shape:
                raise ValueError(f"layer {self.name!r}: weight of shape {p.shape} cannot take an array of shape "
                                 f"{w.shape}")
            p[...] = w

    def forward(self, x, training=False):
        raise NotImplementedError

    def backward(self, grad_y):
        raise NotImplementedError


def _softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


class Activation(Layer):
    """Elementwise activation: 'relu', 'softmax' (last axis), 'sigmoid', 'tanh' or 'linear'."""

    NAMES = ("relu", "softmax", "sigmoid", "tanh", "linear")

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        activation = "linear" if activation is None else activation
        if activation not in self.NAMES:
            raise ValueError(f"unknown activation {activation!r}; known: {', '.join(self.NAMES)}")
        self.activation = activation

    def forward(self, x, training=False):
        a, be = self.activation, self.backend
        if a == "relu":
            y = be.relu(x)
        elif a == "softmax":
            y = _softmax(x)
        elif a == "sigmoid":
            y = 1.0 / (1.0 + np.exp(-x))
        elif a == "tanh":
            y = np.tanh(x)
        else:
            y = x
        self._y = y
        return y

    def backward(self, grad_y):
        a, y = self.activation, self._y
        if a == "relu":
            return self.backend.relu_backward(grad_y, y)
        if a == "softmax":  # differentiates y = exp(x) / sum(exp(x)): J^T g = y * (g - <g, y>)
            return y * (grad_y - (grad_y * y).sum(axis=-1, keepdims=True))
        if a == "sigmoid":
            return grad_y * y * (1 - y)
        if a == "tanh":
            return grad_y * (1 - y * y)
        return grad_y


class ReLU(Activation):
    def __init__(self, **kwargs):
        super().__init__("relu", **kwargs)


class _Weighted(Layer):
    """A layer with a kernel, an optional bias and an optional activation applied after them."""

    def __init__(self, activation, use_bias, kernel_initializer, bias_initializer, **kwargs):
        super().__init__(**kwargs)
        self.activation = Activation(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self._plan = self._plan_key = None

    def _make_weights(self, kernel_shape, units):
        self.kernel = self.kernel_initializer(kernel_shape, np.float32)
        self.bias = self.bias_initializer((units,), np.float32) if self.use_bias else None
        self.params = [self.kernel] + ([self.bias] if self.use_bias else [])
        self.grads = [np.zeros_like(p) for p in self.params]

    def _plan_for(self, x, kernel, fuse_relu, conv_args):
        """The backend's Conv2dPlan for these operands, made once and kept while they keep their shapes, dtypes
        and the fused activation: no per-step re-validation."""
        key = (x.shape, x.dtype, kernel.shape, kernel.dtype, fuse_relu, self.backend)
        if self._plan_key != key:
            self._plan = self.backend.Conv2dPlan(x, kernel, self.bias, activation="relu" if fuse_relu else None,
                                                 **conv_args())
            self._plan_key = key
        return self._plan

    def _set_grads(self, grad_kernel, grad_bias):
        self.grads = [grad_kernel] + ([grad_bias] if self.use_bias else [])

    def forward(self, x, training=False, activate=True):
        """activate=False returns the pre-activation (the model fuses a final softmax into its loss)."""
        self.activation.backend = self.backend
        self._activated = activate and self.activation.activation != "linear"
        y = self._linear(x, fuse_relu=self._activated and self.activation.activation == "relu")
        if not self._activated:
            return y
        if self.activation.activation == "relu":
            self.activation._y = y  # relu was fused into the kernel; keep its output for the backward mask
            return y
        return self.activation.forward(y, training)

    def forward_with_relu(self, x):
        """The linear part with a ReLU fused into the kernel: the model's fusion of a following ReLU layer (which
        then differentiates the ReLU itself)."""
        self._activated = False
        return self._linear(x, fuse_relu=True)

    def backward(self, grad_y, relu_done=False):
        """relu_done=True: grad_y is already past this layer's fused ReLU (see MaxPool2D.backward)."""
        if self._activated and not relu_done:
            grad_y = self.activation.backward(grad_y)
        return self._linear_backward(grad_y)

    def ends_in_relu(self):
        """Whether the last forward applied a ReLU inside this layer."""
        return self._activated and self.activation.activation == "relu"


class Conv2D(_Weighted):
    """2-D convolution, Keras arguments. channels_last (default): kernel (kh, kw, in/groups, filters);
    channels_first: kernel (filters, in/groups, kh, kw), the layout fastconv's NCHW kernels take."""

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(activation, use_bias, kernel_initializer, bias_initializer, **kwargs)
        self.filters = int(filters)
        self.kernel_size = as_pair("Conv2D", "kernel_size", kernel_size)
        self.strides = as_pair("Conv2D", "strides", strides)
        self.dilation_rate = as_pair("Conv2D", "dilation_rate", dilation_rate)
        self.padding = padding.lower() if isinstance(padding, str) else padding
        self.groups = int(groups)
        self.layout = data_format_to_layout(data_format)
        if self.filters <= 0 or self.groups <= 0 or self.filters % self.groups:
            raise ValueError(f"Conv2D: filters ({filters}) must be a positive multiple of groups ({groups})")

    def _conv_args(self):
        return dict(stride=self.strides, padding=self.padding, dilation=self.dilation_rate, groups=self.groups,
                    layout=self.layout)

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"Conv2D {self.name!r} expects inputs of rank 3 (without batch), got {input_shape}")
        h, w, c = input_shape if self.layout == "NHWC" else (*input_shape[1:], input_shape[0])
        (pt, pb), (pl, pr) = _args.conv_padding("Conv2D", self.padding, (h, w), self.kernel_size, self.strides,
                                                self.dilation_rate)
        p = _args.out_size(h, pt + pb, self.kernel_size[0], self.strides[0], self.dilation_rate[0])
        q = _args.out_size(w, pl + pr, self.kernel_size[1], self.strides[1], self.dilation_rate[1])
        if p <= 0 or q <= 0:
            raise ValueError(f"Conv2D {self.name!r}: kernel {self.kernel_size} does not fit input {input_shape}")
        return (p, q, self.filters) if self.layout == "NHWC" else (self.filters, p, q)

    def build(self, input_shape):
        super().build(input_shape)
        c = input_shape[-1] if self.layout == "NHWC" else input_shape[0]
        if c % self.groups:
            raise ValueError(f"Conv2D {self.name!r}: input channels ({c}) must be a multiple of groups "
                             f"({self.groups})")
        kh, kw = self.kernel_size
        shape = (kh, kw, c // self.groups, self.filters)
        self._make_weights(shape, self.filters)
        if self.layout == "NCHW":  # initialized with Keras's fans, stored as (filters, in/groups, kh, kw)
            self.kernel = np.ascontiguousarray(self.kernel.transpose(3, 2, 0, 1))
            self.params[0] = self.kernel
            self.grads[0] = np.zeros_like(self.kernel)

    def _linear(self, x, fuse_relu):
        self._x = x
        return self._plan_for(x, self.kernel, fuse_relu, self._conv_args).forward(x, self.kernel, self.bias)

    def _linear_backward(self, grad_y):
        gx, gk, gb = self._plan.backward(grad_y, self._x, self.kernel, self.need_input_grad, True, self.use_bias)
        self._set_grads(gk, gb)
        return gx


class Dense(_Weighted):
    """y = activation(x @ kernel + bias) on the last axis; kernel (in, units).

    Computed as a 1x1 channels-last convolution over a (1, rows, 1, in) "image", so the product, the bias and a
    relu run in fastconv's GEMM and thread pool (no BLAS threads competing with OpenMP's for the cores)."""

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(activation, use_bias, kernel_initializer, bias_initializer, **kwargs)
        self.units = int(units)
        if self.units <= 0:
            raise ValueError(f"Dense: units must be positive, got {units}")

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def build(self, input_shape):
        super().build(input_shape)
        self._make_weights((input_shape[-1], self.units), self.units)

    def _as_conv(self, a, width):
        """(..., width) -> (1, rows, 1, width): a view, no copy."""
        return a.reshape(1, -1, 1, width)

    def _linear(self, x, fuse_relu):
        self._x = x
        xc, wc = self._as_conv(x, x.shape[-1]), self.kernel.reshape(1, 1, *self.kernel.shape)
        y = self._plan_for(xc, wc, fuse_relu, lambda: dict(layout="NHWC")).forward(xc, wc, self.bias)
        return y.reshape(*x.shape[:-1], self.units)

    def _linear_backward(self, grad_y):
        gx, gk, gb = self._plan.backward(self._as_conv(grad_y, self.units), self._as_conv(self._x, self._x.shape[-1]),
                                         self.kernel.reshape(1, 1, *self.kernel.shape), self.need_input_grad, True,
                                         self.use_bias)
        self._set_grads(gk.reshape(self.kernel.shape), gb)
        return None if gx is None else gx.reshape(self._x.shape)


class MaxPool2D(Layer):
    """Max pooling, Keras arguments. padding 'same' is supported where it equals a pooling without leading
    padding (stride == pool_size, as in the usual 2x2 pools); other 'same' cases raise ValueError."""

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = as_pair("MaxPool2D", "pool_size", pool_size)
        self.strides = as_pair("MaxPool2D", "strides", strides if strides is not None else pool_size)
        self.padding = padding.lower()
        if self.padding not in ("valid", "same"):
            raise ValueError(f"MaxPool2D: padding must be 'valid' or 'same', got {padding!r}")
        self.layout = data_format_to_layout(data_format)
        self._plan = self._plan_key = None

    def _pool_args(self, hw):
        ceil_mode = False
        if self.padding == "same":
            pads = _args.conv_padding("MaxPool2D", "same", hw, self.pool_size, self.strides, (1, 1))
            if any(top for top, _ in pads):
                raise ValueError(f"MaxPool2D {self.name!r}: padding='same' with pool {self.pool_size}, strides "
                                 f"{self.strides} on {hw} needs leading padding, which is not supported")
            ceil_mode = True  # TensorFlow's 'same' then only extends the last windows past the end
        return dict(stride=self.strides, ceil_mode=ceil_mode, layout=self.layout)

    def compute_output_shape(self, input_shape):
        h, w, c = input_shape if self.layout == "NHWC" else (*input_shape[1:], input_shape[0])
        kw = self._pool_args((h, w))
        p = _args.out_size(h, 0, self.pool_size[0], self.strides[0], 1, kw["ceil_mode"])
        q = _args.out_size(w, 0, self.pool_size[1], self.strides[1], 1, kw["ceil_mode"])
        if p <= 0 or q <= 0:
            raise ValueError(f"MaxPool2D {self.name!r}: pool {self.pool_size} does not fit input {input_shape}")
        return (p, q, c) if self.layout == "NHWC" else (c, p, q)

    def forward(self, x, training=False):
        key = (x.shape, x.dtype, self.backend)
        if self._plan_key != key:  # validated once per input shape, not per step
            hw = x.shape[1:3] if self.layout == "NHWC" else x.shape[2:4]
            self._plan = self.backend.MaxPool2dPlan(x, self.pool_size, **self._pool_args(hw))
            self._plan_key = key
        y, self._indices = self._plan.forward(x, return_indices=True)
        self._y = y
        return y

    def backward(self, grad_y, through_relu=False):
        """through_relu=True also differentiates the ReLU that produced this layer's input (the model's fusion:
        that ReLU then skips its own backward pass)."""
        return self._plan.backward(grad_y, self._indices, pooled=self._y if through_relu else None)


MaxPooling2D = MaxPool2D

class Flatten(Layer):
    """(N, ...) -> (N, prod(...)), in the array's own (channels_last: Keras's) order."""

    def compute_output_shape(self, input_shape):
        return (int(np.prod(input_shape)),)

    def forward(self, x, training=False):
        self._shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, grad_y):
        return grad_y.reshape(self._shape)


class Dropout(Layer):
    """Zeroes a fraction `rate` of inputs while training and scales the rest by 1/(1 - rate)."""

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate < 1:
            raise ValueError(f"Dropout: rate must be in [0, 1), got {rate}")
        self.rate = float(rate)
        self.rng = np.random.default_rng(seed)  # the model replaces it with fit's generator when seeded

    def forward(self, x, training=False):
        if not training or self.rate == 0:
            self._mask = None
            return x
        self._mask = (self.rng.random(x.shape, np.float32) >= self.rate).astype(x.dtype) / (1 - self.rate)
        return x * self._mask

    def backward(self, grad_y):
        return grad_y if self._mask is None else grad_y * self._mask
