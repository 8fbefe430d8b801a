"""Every layer's backward checked by central finite differences in float64, and a whole-model gradient check."""
import numpy as np
import pytest

from fastconv.nn import layers as L
from fastconv.nn import losses
from fastconv.nn.models import Sequential
from gradcheck import assert_grad


def float64(layer):
    """The layer's weights as float64 copies, so finite differences are exact to ~1e-9."""
    for attr in ("kernel", "bias"):
        if getattr(layer, attr, None) is not None:
            setattr(layer, attr, getattr(layer, attr).astype(np.float64))
    if hasattr(layer, "kernel"):
        layer.params = [layer.kernel] + ([layer.bias] if layer.use_bias else [])
    return layer


def check_layer(layer, input_shape, rng, batch=2):
    layer.build(input_shape)
    float64(layer)
    for p in layer.params:
        p[...] = rng.standard_normal(p.shape)
    x = rng.standard_normal((batch, *input_shape))
    y = layer.forward(x, training=True)
    assert y.shape == (batch, *layer.output_shape)
    g = rng.standard_normal(y.shape)

    def loss():
        return float(np.vdot(layer.forward(x, training=True), g))

    layer.forward(x, training=True)
    gx = layer.backward(g)
    grads = list(layer.grads)
    assert_grad(gx, loss, x)
    for p, gp in zip(layer.params, grads):
        assert_grad(gp, loss, p)


CONV = [
    ("valid", dict(filters=3, kernel_size=2), (5, 6, 2)),
    ("same_stride2_relu", dict(filters=4, kernel_size=3, strides=2, padding="same", activation="relu"), (7, 6, 3)),
    ("dilation_groups", dict(filters=4, kernel_size=2, dilation_rate=2, groups=2, use_bias=False), (6, 6, 4)),
    ("channels_first", dict(filters=3, kernel_size=(2, 3), data_format="channels_first", activation="tanh"),
     (2, 5, 6)),
    ("softmax", dict(filters=3, kernel_size=1, activation="softmax"), (3, 3, 2)),
]


@pytest.mark.parametrize("id,kwargs,shape", CONV, ids=[c[0] for c in CONV])
def test_conv2d_layer_gradients(id, kwargs, shape, rng):
    check_layer(L.Conv2D(**kwargs), shape, rng)


@pytest.mark.parametrize("kwargs", [dict(units=4), dict(units=3, activation="relu"),
                                    dict(units=5, activation="sigmoid", use_bias=False)], ids=str)
def test_dense_layer_gradients(kwargs, rng):
    check_layer(L.Dense(**kwargs), (6,), rng, batch=3)


@pytest.mark.parametrize("layer,shape", [
    (L.MaxPool2D(), (6, 5, 3)),
    (L.MaxPool2D(pool_size=3, strides=1), (5, 5, 2)),
    (L.MaxPool2D(padding="same"), (5, 7, 2)),
    (L.MaxPooling2D(data_format="channels_first"), (2, 6, 6)),
    (L.Activation("relu"), (4, 3)),
    (L.Activation("softmax"), (5,)),
    (L.Activation("sigmoid"), (5,)),
    (L.Activation("tanh"), (5,)),
    (L.Activation("linear"), (5,)),
    (L.ReLU(), (7,)),
    (L.Flatten(), (3, 2, 2)),
], ids=lambda v: type(v).__name__ if isinstance(v, L.Layer) else str(v))
def test_parameter_free_layer_gradients(layer, shape, rng):
    check_layer(layer, shape, rng)


def test_dropout_gradient_uses_the_forward_mask(rng):
    layer = L.Dropout(0.5, seed=3)
    layer.build((20,))
    x = rng.standard_normal((4, 20))
    y = layer.forward(x, training=True)
    kept = y != 0
    assert 0.2 < kept.mean() < 0.8
    np.testing.assert_allclose(y[kept], 2 * x[kept])
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), np.where(kept, 2.0, 0.0))
    np.testing.assert_array_equal(layer.forward(x, training=False), x)


@pytest.mark.parametrize("relu", ["in_conv", "own_layer"])  # both fuse into the pooling's backward
@pytest.mark.parametrize("backend", ["fastconv", "reference"])
@pytest.mark.parametrize("loss", ["sparse_categorical_crossentropy", "categorical_crossentropy", "mse"])
def test_whole_model_gradient(loss, backend, relu, rng):
    """d(loss)/d(every weight) of a tiny CNN through the model's own training path, by finite differences."""
    first = ([L.Conv2D(3, 2, activation="relu", input_shape=(6, 5, 1))] if relu == "in_conv" else
             [L.Conv2D(3, 2, input_shape=(6, 5, 1)), L.Activation("relu")])
    model = Sequential(first + [L.MaxPool2D(), L.Conv2D(2, 1, padding="same"), L.Flatten(), L.Dense(4),
                                L.Activation("softmax")], backend=backend)
    model.compile(optimizer="sgd", loss=loss)
    for layer in model.layers:
        float64(layer)
        for p in layer.params:
            p[...] = rng.standard_normal(p.shape) * 0.7
    x = rng.standard_normal((3, 6, 5, 1))
    labels = rng.integers(0, 4, 3)
    y = labels if loss.startswith("sparse") else np.eye(4)[labels]

    def loss_value():
        return model._loss_and_grad(model._forward(x, True, logits=True), y)[0]

    model._compute_gradients(x, y)
    params, grads = model._params_and_grads()
    assert len(params) == 6
    for p, g in zip(params, grads):
        assert_grad(g, loss_value, p, rtol=1e-5, atol=1e-7)


def test_losses_are_their_definitions(rng):
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    assert np.isclose(losses.get("sparse_categorical_crossentropy")(np.array([0, 2]), p),
                      -(np.log(0.7) + np.log(0.8)) / 2)
    assert np.isclose(losses.get("categorical_crossentropy")(np.eye(3)[[1, 2]], p), -(np.log(0.2) + np.log(0.8)) / 2)
    assert np.isclose(losses.get("mse")(np.zeros((2, 3)), p), (p ** 2).mean())
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        losses.get("hinge")
