"""Bad input raises TypeError/ValueError naming the argument and shapes, before any kernel runs."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastconv
from fastconv import functional as F
from fastconv import reference
from fastconv.nn import layers as L

X = np.zeros((2, 3, 8, 8), np.float32)
W = np.zeros((4, 3, 3, 3), np.float32)
B = np.zeros(4, np.float32)

CONV_ERRORS = [
    ("x_int", dict(x=X.astype(np.int32)), TypeError, "x must be float32 or float64, got int32"),
    ("x_float16", dict(x=X.astype(np.float16)), TypeError, "float16"),
    ("x_complex", dict(x=X.astype(np.complex64)), TypeError, "complex64"),
    ("x_bool", dict(x=X.astype(bool)), TypeError, "bool"),
    ("x_list", dict(x=X.tolist()), TypeError, "x must be a numpy.ndarray"),
    ("mixed_dtypes", dict(w=W.astype(np.float64)), TypeError, "w has dtype float64 but x has dtype float32"),
    ("b_dtype", dict(b=B.astype(np.float64)), TypeError, "b has dtype float64"),
    ("x_rank3", dict(x=X[0]), ValueError, "x must have 4 dimensions, got shape (3, 8, 8)"),
    ("w_rank5", dict(w=W[None]), ValueError, "w must have 4 dimensions"),
    ("channels", dict(w=np.zeros((4, 2, 3, 3), np.float32)), ValueError, "x has 3 channels but w expects 2"),
    ("b_shape", dict(b=np.zeros(3, np.float32)), ValueError, "b must have shape (4,)"),
    ("zero_channels", dict(x=np.zeros((2, 0, 8, 8), np.float32)), ValueError, "positive channel and spatial"),
    ("zero_height", dict(x=np.zeros((2, 3, 0, 8), np.float32)), ValueError, "positive channel and spatial"),
    ("zero_k", dict(w=np.zeros((0, 3, 3, 3), np.float32)), ValueError, "w must have positive sizes"),
    ("kernel_too_big", dict(w=np.zeros((4, 3, 9, 3), np.float32)), ValueError, "larger than the padded input"),
    ("dilated_too_big", dict(dilation=4), ValueError, "larger than the padded input"),
    ("groups_not_dividing", dict(groups=2), ValueError, "groups=2 must be positive and divide"),
    ("groups_zero", dict(groups=0), ValueError, "groups=0"),
    ("groups_float", dict(groups=1.5), TypeError, "groups must be an integer"),
    ("stride_zero", dict(stride=0), ValueError, "stride must be in [1,"),
    ("stride_negative", dict(stride=(1, -2)), ValueError, "stride"),
    ("stride_triple", dict(stride=(1, 1, 1)), ValueError, "stride must be an int or a pair"),
    ("stride_huge", dict(stride=2**40), ValueError, "stride must be in"),
    ("stride_float", dict(stride=1.0), TypeError, "stride must be an integer"),
    ("dilation_zero", dict(dilation=0), ValueError, "dilation"),
    ("padding_negative", dict(padding=-1), ValueError, "padding must be non-negative"),
    ("padding_word", dict(padding="full"), ValueError, "padding must be 'valid', 'same'"),
    ("padding_bad_pairs", dict(padding=((1, 2, 3), (0, 0))), ValueError, "padding"),
    ("layout", dict(layout="CHWN"), ValueError, "layout must be 'NCHW' or 'NHWC'"),
    ("activation", dict(activation="gelu"), ValueError, "activation must be None or 'relu'"),
    ("algorithm", dict(algorithm="fft"), ValueError, "algorithm must be one of"),
    ("out_shape", dict(out=np.zeros((2, 4, 5, 5), np.float32)), ValueError, "out must have shape (2, 4, 6, 6)"),
    ("out_dtype", dict(out=np.zeros((2, 4, 6, 6), np.float64)), ValueError, "dtype float32"),
    ("out_noncontig", dict(out=np.zeros((2, 4, 6, 12), np.float32)[..., ::2]), ValueError, "C-contiguous"),
    ("out_misaligned", dict(out=np.frombuffer(bytearray(4 * 288 + 1), np.uint8)[1:].view(np.float32)
                            .reshape(2, 4, 6, 6)), ValueError, "aligned"),
    ("out_aliases_x", dict(x=np.zeros((2, 4, 8, 8), np.float32), w=np.zeros((4, 4, 1, 1), np.float32)),
     ValueError, "must not overlap"),
]


@pytest.mark.parametrize("impl", [fastconv, reference], ids=["fastconv", "reference"])
@pytest.mark.parametrize("id,override,exc,message", CONV_ERRORS, ids=[c[0] for c in CONV_ERRORS])
def test_conv2d_rejects(id, override, exc, message, impl):
    args = dict(x=X, w=W, b=B)
    args.update(override)
    if id == "out_aliases_x":
        args.update(b=None, out=args["x"])
    x, w, b = args.pop("x"), args.pop("w"), args.pop("b")
    with pytest.raises(exc) as err:
        impl.conv2d(x, w, b, **args)
    assert message in str(err.value)
    assert str(err.value).startswith("conv2d:")


def test_conv2d_backward_rejects_wrong_grad_shape():
    with pytest.raises(ValueError, match=r"grad_y must have the convolution's output shape \(2, 4, 6, 6\)"):
        fastconv.conv2d_backward(np.zeros((2, 4, 6, 5), np.float32), X, W)
    with pytest.raises(TypeError, match="grad_y has dtype float64"):
        fastconv.conv2d_backward(np.zeros((2, 4, 6, 6)), X, W)


POOL_ERRORS = [
    ("x_int", dict(x=X.astype(np.int64)), TypeError, "x must be float32 or float64"),
    ("x_rank", dict(x=X[0]), ValueError, "x must have 4 dimensions"),
    ("kernel_zero", dict(kernel_size=0), ValueError, "kernel_size must be in [1,"),
    ("kernel_too_big", dict(kernel_size=9), ValueError, "larger than the padded input"),
    ("padding_over_half", dict(kernel_size=2, padding=2), ValueError, "at most half the kernel size"),
    ("stride_zero", dict(stride=0), ValueError, "stride"),
    ("ceil_mode_str", dict(ceil_mode="yes"), TypeError, "ceil_mode must be a bool"),
    ("layout", dict(layout="nchw"), ValueError, "layout"),
]


@pytest.mark.parametrize("impl", [fastconv, reference], ids=["fastconv", "reference"])
@pytest.mark.parametrize("id,override,exc,message", POOL_ERRORS, ids=[c[0] for c in POOL_ERRORS])
def test_max_pool2d_rejects(id, override, exc, message, impl):
    args = dict(x=X, kernel_size=2)
    args.update(override)
    with pytest.raises(exc) as err:
        impl.max_pool2d(args.pop("x"), args.pop("kernel_size"), **args)
    assert message in str(err.value) and str(err.value).startswith("max_pool2d:")


@pytest.mark.parametrize("impl", [fastconv, reference], ids=["fastconv", "reference"])
def test_max_pool2d_backward_rejects(impl):
    y, idx = fastconv.max_pool2d(X, 2, return_indices=True)
    with pytest.raises(ValueError, match="indices must lie in"):
        impl.max_pool2d_backward(y, idx + 100, X.shape)
    with pytest.raises(ValueError, match="indices must lie in"):
        impl.max_pool2d_backward(y, idx - 5, X.shape)
    with pytest.raises(TypeError, match="indices must be an int64"):
        impl.max_pool2d_backward(y, idx.astype(np.int32), X.shape)
    with pytest.raises(ValueError, match="must equal grad_y.shape"):
        impl.max_pool2d_backward(y, idx[:, :, :2], X.shape)
    with pytest.raises(ValueError, match="does not match grad_y.shape"):
        impl.max_pool2d_backward(y, idx, (2, 5, 8, 8))
    with pytest.raises(ValueError, match="input_shape must be a 4-tuple"):
        impl.max_pool2d_backward(y, idx, (2, 3, 8))


def test_set_num_threads_rejects_bad_values():
    with pytest.raises(ValueError, match="n must be >= 1"):
        fastconv.set_num_threads(0)
    with pytest.raises(TypeError, match="n must be an integer"):
        fastconv.set_num_threads(1.5)


def test_misaligned_and_object_arrays():
    raw = bytearray(X.nbytes + 1)
    misaligned = np.frombuffer(raw, np.uint8)[1:].view(np.float32).reshape(X.shape)
    assert not misaligned.flags.aligned
    misaligned[...] = np.random.default_rng(0).standard_normal(X.shape)
    np.testing.assert_allclose(fastconv.conv2d(misaligned, W + 1), reference.conv2d(misaligned, W + 1), rtol=1e-4,
                               atol=1e-4)
    y, idx = fastconv.max_pool2d(misaligned, 2, return_indices=True)
    np.testing.assert_array_equal(y, reference.max_pool2d(misaligned, 2))
    with pytest.raises(TypeError, match="x must be float32 or float64, got object"):
        fastconv.conv2d(X.astype(object), W)


def test_nan_and_inf_propagate_like_the_reference():
    x = np.random.default_rng(1).standard_normal(X.shape).astype(np.float32)
    x[0, 0, 2, 2], x[1, 2, 5, 5] = np.nan, np.inf
    for kw in (dict(), dict(padding=1)):
        got, want = fastconv.conv2d(x, W + 1, **kw), reference.conv2d(x, W + 1, **kw)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        np.testing.assert_array_equal(np.isinf(got), np.isinf(want))


_arg = st.one_of(st.integers(-3, 5), st.just(2**40), st.floats(-1, 3), st.text(max_size=5),
                 st.tuples(st.integers(-1, 3), st.integers(-1, 3)),
                 st.tuples(st.integers(-1, 3), st.integers(-1, 3), st.integers(0, 2)),
                 st.tuples(st.tuples(st.integers(-1, 2), st.integers(0, 2)), st.tuples(st.integers(0, 2),
                                                                                       st.integers(0, 2))))


def outcomes(call):
    """call(impl) for fastconv and the reference: each a result or the type of the TypeError/ValueError raised."""
    results = []
    for impl in (fastconv, reference):
        try:
            results.append(call(impl))
        except (TypeError, ValueError) as e:
            results.append(type(e))
    return results


@settings(max_examples=150, deadline=None)
@given(stride=_arg, padding=st.one_of(_arg, st.sampled_from(["same", "valid", "SAME"])), dilation=_arg,
       groups=st.one_of(st.integers(-1, 4), st.floats(0, 2)), kernel=st.tuples(st.integers(0, 4), st.integers(0, 4)),
       layout=st.sampled_from(["NCHW", "NHWC", "nchw"]), dtype=st.sampled_from([np.float32, np.float64, np.int32]))
def test_fastconv_and_reference_agree_on_any_arguments(stride, padding, dilation, groups, kernel, layout, dtype):
    """Valid or not: both raise the same exception type, or both compute the same result."""
    x = np.random.default_rng(0).standard_normal((2, 4, 6, 5)).astype(dtype)
    w = np.random.default_rng(1).standard_normal((4, 2, *kernel)).astype(dtype)
    if layout == "NHWC":
        x, w = x.transpose(0, 2, 3, 1), w.transpose(2, 3, 1, 0)
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups, layout=layout)
    got, want = outcomes(lambda impl: impl.conv2d(x, w, **kw))
    if isinstance(want, type):
        assert got is want
    else:
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


LAYER_ERRORS = [
    (lambda: L.Conv2D(0, 3), "filters (0) must be a positive multiple of groups"),
    (lambda: L.Conv2D(6, 3, groups=4), "filters (6) must be a positive multiple of groups (4)"),
    (lambda: L.Conv2D(4, 3, data_format="NCHW"), "data_format must be 'channels_last' or 'channels_first'"),
    (lambda: L.Dense(0), "units must be positive"),
    (lambda: L.Dropout(1.5), "rate must be in [0, 1)"),
    (lambda: L.Activation("gelu"), "unknown activation 'gelu'"),
    (lambda: L.MaxPool2D(padding="full"), "padding must be 'valid' or 'same'"),
    (lambda: L.Conv2D(4, 5, input_shape=(3, 3, 1)).build((3, 3, 1)), "does not fit input"),
    (lambda: L.Conv2D(4, 3, groups=2).build((8, 8, 3)), "input channels (3) must be a multiple of groups (2)"),
    (lambda: L.MaxPool2D(pool_size=4).build((3, 3, 2)), "does not fit input"),
]


@pytest.mark.parametrize("make,message", LAYER_ERRORS, ids=[m for _, m in LAYER_ERRORS])
def test_layers_reject_bad_configuration(make, message):
    with pytest.raises(ValueError) as err:
        make()
    assert message in str(err.value)


@settings(max_examples=150, deadline=None)
@given(kernel=_arg, stride=st.one_of(st.none(), _arg), padding=_arg, dilation=_arg,
       ceil_mode=st.one_of(st.booleans(), st.integers(0, 1)), layout=st.sampled_from(["NCHW", "NHWC", "CHW"]),
       dtype=st.sampled_from([np.float32, np.float64, np.float16]))
def test_max_pool2d_and_reference_agree_on_any_arguments(kernel, stride, padding, dilation, ceil_mode, layout, dtype):
    x = np.random.default_rng(2).standard_normal((2, 3, 7, 6)).astype(dtype)
    kw = dict(stride=stride, padding=padding, dilation=dilation, ceil_mode=ceil_mode, layout=layout,
              return_indices=True)
    got, want = outcomes(lambda impl: impl.max_pool2d(x, kernel, **kw))
    if isinstance(want, type):
        assert got is want
    else:
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])


@settings(max_examples=100, deadline=None)
@given(filters=st.integers(-1, 5), kernel=st.one_of(st.integers(-1, 6), st.tuples(st.integers(0, 4), st.integers(0, 4))),
       strides=st.integers(0, 3), padding=st.sampled_from(["valid", "same", "full"]), groups=st.integers(0, 3),
       dilation=st.integers(0, 2), units=st.integers(-1, 4), pool=st.integers(0, 5),
       data_format=st.sampled_from(["channels_last", "channels_first"]), hw=st.integers(1, 7))
def test_any_layer_configuration_builds_trains_or_raises_cleanly(filters, kernel, strides, padding, groups, dilation,
                                                                  units, pool, data_format, hw):
    """Random layer arguments: the model either trains a step with finite numbers or raises ValueError/TypeError."""
    from fastconv.nn.models import Sequential

    shape = (hw, hw, 2) if data_format == "channels_last" else (2, hw, hw)
    try:
        model = Sequential([L.Conv2D(filters, kernel, strides=strides, padding=padding, groups=groups,
                                     dilation_rate=dilation, data_format=data_format, activation="relu",
                                     input_shape=shape),
                            L.MaxPool2D(pool, data_format=data_format), L.Flatten(), L.Dense(units),
                            L.Activation("softmax")])
    except (ValueError, TypeError):
        return
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    x = np.random.default_rng(0).standard_normal((3, *shape)).astype(np.float32)
    loss, _ = model.train_on_batch(x, np.array([0, 1, 2]) % units)
    assert np.isfinite(loss)


TRAINING_HELPER_ERRORS = [
    (lambda: F.relu(np.zeros(3, np.int32)), TypeError, "relu: x must be float32 or float64"),
    (lambda: F.relu_backward(np.zeros(3), np.zeros(4)), ValueError, "y.shape (4,) must equal grad_y.shape (3,)"),
    (lambda: F.relu_backward(np.zeros(3), np.zeros(3, np.float32)), TypeError, "y has dtype float32"),
    (lambda: F.bias_add(np.zeros((2, 3)), np.zeros((3, 1))), ValueError, "b must have 1 dimensions"),
    (lambda: F.bias_grad(np.float64(1.0)), TypeError, "grad_y must be a numpy.ndarray"),
    (lambda: F.softmax_cross_entropy(np.zeros((2, 0)), np.zeros(2, int)), ValueError, "at least one class"),
    (lambda: F.softmax_cross_entropy(np.zeros(3), np.zeros(3, int)), ValueError, "logits must have 2 dimensions"),
    (lambda: F.softmax_cross_entropy_backward(np.zeros((2, 3)), [0, 1]), TypeError, "labels must be an integer"),
]


@pytest.mark.parametrize("call,exc,message", TRAINING_HELPER_ERRORS, ids=[m for _, _, m in TRAINING_HELPER_ERRORS])
def test_training_helpers_reject_bad_input(call, exc, message):
    with pytest.raises(exc) as err:
        call()
    assert message in str(err.value)


def test_cached_argument_checks_still_tell_equal_values_of_other_types():
    """conv2d caches its checks by argument; 1.0, True and (1.0, 1) equal 1 and (1, 1) but must still be refused."""
    for good, bad, exc in [(dict(stride=1), dict(stride=1.0), TypeError), (dict(groups=1), dict(groups=True), TypeError),
                           (dict(dilation=(1, 1)), dict(dilation=(1.0, 1)), TypeError),
                           (dict(padding=1), dict(padding=np.float64(1)), TypeError)]:
        fastconv.conv2d(X, W, **good)
        with pytest.raises(exc):
            fastconv.conv2d(X, W, **bad)
        fastconv.conv2d(X, W, **good)


def test_cached_pooling_checks_still_tell_equal_values_of_other_types():
    fastconv.max_pool2d(X, 2, ceil_mode=False)
    with pytest.raises(TypeError, match="ceil_mode must be a bool"):
        fastconv.max_pool2d(X, 2, ceil_mode=0)
    with pytest.raises(TypeError, match="kernel_size must be an integer"):
        fastconv.max_pool2d(X, 2.0)
