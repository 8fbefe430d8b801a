"""Sequential end to end: the DESIGN.md Keras program, summary, fit/evaluate/predict, backends, weights,
optimizers, and one epoch on full MNIST."""
import numpy as np
import pytest

from fastconv.nn import callbacks, optimizers, set_random_seed, zoo
from fastconv.nn.layers import Activation, Conv2D, Dense, Dropout, Flatten, MaxPool2D
from fastconv.nn.models import Sequential
from mnist_data import load_or_skip


def seed_model(backend="fastconv"):
    model = Sequential(backend=backend)
    model.add(Conv2D(6, (2, 2), input_shape=(28, 28, 1)))
    model.add(Activation("relu"))
    model.add(MaxPool2D())
    model.add(Flatten())
    model.add(Dense(10))
    model.add(Activation("softmax"))
    return model


def synthetic(n, rng):
    """Digits-like data: class k lights up a k-dependent block, as uint8 like MNIST."""
    y = rng.integers(0, 10, n).astype(np.uint8)
    x = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
    for k in range(10):
        x[y == k, 2 * k:2 * k + 8, 4:20] = 250
    return x[..., None], y


def test_summary_matches_keras(capsys):
    seed_model().summary()
    out = capsys.readouterr().out
    for shape in ["(None, 27, 27, 6)", "(None, 13, 13, 6)", "(None, 1014)", "(None, 10)"]:
        assert shape in out
    assert "Total params: 10,180" in out and "Trainable params: 10,180" in out
    assert "conv2d (Conv2D)" in out and "max_pooling2d (MaxPool2D)" in out and "activation_1 (Activation)" in out
    assert zoo.lenet5().count_params() == 61706


def test_keras_program_runs_with_raw_uint8_pixels(rng, capsys):
    (x_train, y_train), (x_test, y_test) = [synthetic(640, rng), synthetic(200, rng)]
    model = seed_model()
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["acc"])
    history = model.fit(x_train, y_train, batch_size=32, epochs=3, validation_data=(x_test, y_test))
    out = capsys.readouterr().out
    assert "Epoch 3/3" in out and "20/20 [==============================]" in out and "val_acc" in out
    h = history.history
    assert set(h) == {"loss", "acc", "val_loss", "val_acc"} and len(h["loss"]) == 3
    assert all(np.isfinite(h["loss"])) and h["val_acc"][-1] > 0.9
    loss, acc = model.evaluate(x_test, y_test, verbose=0)
    assert np.isclose(loss, h["val_loss"][-1]) and np.isclose(acc, h["val_acc"][-1])
    probs = model.predict(x_test)
    assert probs.shape == (200, 10) and np.allclose(probs.sum(1), 1, atol=1e-5)
    assert np.isclose((probs.argmax(1) == y_test).mean(), acc)


def test_verbose0_prints_nothing_and_verbose2_one_line_per_epoch(rng, capsys):
    x, y = synthetic(64, rng)
    model = seed_model()
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    model.fit(x, y, epochs=2, verbose=0)
    assert capsys.readouterr().out == ""
    model.fit(x, y, epochs=2, verbose=2)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4 and lines[1].startswith("2/2 - ") and "accuracy:" in lines[1]


def test_reference_backend_gives_the_same_first_losses(rng):
    x, y = synthetic(320, rng)
    per_step = {}
    for backend in ("fastconv", "reference"):
        set_random_seed(7)
        model = seed_model(backend)
        model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
        losses = []
        model.fit(x, y, batch_size=32, epochs=1, seed=1, verbose=0,
                  callbacks=[callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: losses.append(logs["loss"]))])
        per_step[backend] = losses
    assert len(per_step["fastconv"]) == 10
    np.testing.assert_allclose(per_step["fastconv"], per_step["reference"], rtol=2e-4)


def test_evaluate_without_metrics_returns_a_scalar_and_validation_split_works(rng):
    x, y = synthetic(100, rng)
    model = seed_model()
    model.compile(loss="sparse_categorical_crossentropy", optimizer="sgd")
    h = model.fit(x, y, epochs=1, validation_split=0.2, verbose=0)
    assert set(h.history) == {"loss", "val_loss"}
    assert isinstance(model.evaluate(x, y, verbose=0), float)


def test_channels_first_dropout_and_categorical_targets(rng):
    x, y = synthetic(128, rng)
    x = x.transpose(0, 3, 1, 2)
    model = Sequential([Conv2D(4, 3, activation="relu", data_format="channels_first", input_shape=(1, 28, 28)),
                        MaxPool2D(data_format="channels_first"), Flatten(), Dropout(0.25), Dense(10, activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer=optimizers.SGD(0.05, momentum=0.9, nesterov=True),
                  metrics=["acc"])
    h = model.fit(x, np.eye(10)[y], epochs=3, seed=0, verbose=0)
    assert h.history["loss"][-1] < h.history["loss"][0]


def test_save_and_load_weights_round_trip_and_refuse_other_architectures(tmp_path, rng):
    model = seed_model()
    path = tmp_path / "w.npz"
    model.save_weights(path)
    other = seed_model()
    other.load_weights(path)
    for a, b in zip(model.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert [p.name for p in tmp_path.iterdir()] == ["w.npz"]  # no temporary file left
    wrong = Sequential([Conv2D(8, (2, 2), input_shape=(28, 28, 1)), Flatten(), Dense(10)])
    with pytest.raises(ValueError, match=r"layer 0 'conv2d' has weights of shapes \[\(2, 2, 1, 8\), \(8,\)\]"):
        wrong.load_weights(path)


def test_optimizers_follow_keras_update_rules():
    p, g = np.array([1.0, -2.0]), np.array([0.5, 0.25])
    adam = optimizers.Adam()
    q = p.copy()
    adam.apply([q], [g])
    # first Adam step: m = 0.1 g, v = 0.001 g^2, lr_t = lr sqrt(0.001) / 0.1 -> step = lr * g / (|g| + eps')
    expected = p - 0.001 * np.sqrt(1 - 0.999) / (1 - 0.9) * (0.1 * g) / (np.sqrt(0.001 * g * g) + 1e-7)
    np.testing.assert_allclose(q, expected)
    sgd = optimizers.SGD(0.1, momentum=0.9)
    q = p.copy()
    sgd.apply([q], [g])
    sgd.apply([q], [g])
    np.testing.assert_allclose(q, p - 0.1 * g - (0.9 * 0.1 * g + 0.1 * g))


def test_bad_configuration_is_reported():
    with pytest.raises(RuntimeError, match="compile the model first"):
        seed_model().fit(np.zeros((2, 28, 28, 1)), np.zeros(2))
    model = seed_model()
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    with pytest.raises(ValueError, match="x has 3 samples but y has 2"):
        model.fit(np.zeros((3, 28, 28, 1)), np.zeros(2))
    with pytest.raises(ValueError, match=r"expects inputs of shape \(None, \*\(28, 28, 1\)\)"):
        model.fit(np.zeros((2, 28, 27, 1)), np.zeros(2))
    with pytest.raises(ValueError, match="unknown optimizer 'adamw'"):
        model.compile(loss="mse", optimizer="adamw")
    with pytest.raises(ValueError, match="backend must be one of"):
        Sequential(backend="torch")


def test_one_epoch_on_full_mnist_passes_90_percent():
    (x_train, y_train), (x_test, y_test) = load_or_skip()
    set_random_seed(0)
    model = seed_model()
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["acc"])
    model.fit(x_train[..., None], y_train, batch_size=32, epochs=1, seed=0, verbose=0)
    loss, acc = model.evaluate(x_test[..., None], y_test, batch_size=500, verbose=0)
    assert acc > 0.90, (loss, acc)


def test_batch_hooks_of_callback_subclasses_see_running_logs(rng):
    class Recorder(callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.begins, self.ends = [], []

        def on_train_batch_begin(self, batch, logs=None):
            self.begins.append(batch)

        def on_train_batch_end(self, batch, logs=None):
            self.ends.append((batch, dict(logs)))

    x, y = synthetic(96, rng)
    model = seed_model()
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["acc"])
    recorder = Recorder()
    h = model.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[recorder])
    assert recorder.begins == [0, 1, 2] and [b for b, _ in recorder.ends] == [0, 1, 2]
    last = recorder.ends[-1][1]
    assert set(last) == {"loss", "acc", "batch_loss"}
    assert last["loss"] == pytest.approx(h.history["loss"][0]) and last["acc"] == pytest.approx(h.history["acc"][0])


def test_adam_on_a_strided_parameter_matches_the_fused_update(rng):
    base = rng.standard_normal((4, 6)).astype(np.float32)
    grads = [rng.standard_normal((4, 3)).astype(np.float32) for _ in range(3)]
    strided = base.copy()
    contiguous = np.ascontiguousarray(base[:, ::2])
    fused, fallback = optimizers.Adam(0.01), optimizers.Adam(0.01)
    for g in grads:
        fused.apply([contiguous], [g])
        fallback.apply([strided[:, ::2]], [g])  # a view: updated in place through NumPy, not the kernel
    np.testing.assert_allclose(strided[:, ::2], contiguous, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(strided[:, 1::2], base[:, 1::2])


def test_adam_group_steps_every_parameter_as_its_own_update(rng):
    """One AdamGroup call per step over float32 and float64 parameters, a frozen one (gradient None), an empty one
    and a strided one (NumPy's update): each must equal the single-parameter kernel applied in turn."""
    from fastconv import _pooling
    shapes = [((3, 4), np.float32), ((10140,), np.float32), ((5,), np.float64), ((0,), np.float32), ((2, 3), np.float32)]
    params = [rng.standard_normal(s).astype(d) for s, d in shapes]
    want = [p.copy() for p in params]
    moments = [(np.zeros_like(p), np.zeros_like(p)) for p in params]
    adam = optimizers.Adam(0.01)
    base = rng.standard_normal((2, 6)).astype(np.float32)
    strided = base.copy()
    want_strided = np.ascontiguousarray(base[:, ::2])
    strided_moments = (np.zeros_like(want_strided), np.zeros_like(want_strided))
    for t in range(1, 4):
        grads = [rng.standard_normal(p.shape).astype(p.dtype) for p in params]
        grads[2] = None if t == 2 else grads[2]  # frozen for one step
        g_strided = rng.standard_normal(want_strided.shape).astype(np.float32)
        adam.apply(params + [strided[:, ::2]], grads + [g_strided])
        lr_t = 0.01 * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
        for p, g, (m, v) in zip(want + [want_strided], grads + [g_strided], moments + [strided_moments]):
            if g is not None:
                _pooling.adam_update(p.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1), lr_t, 0.9, 0.999,
                                     1e-7, 2)
    for got, expected in zip(params, want):
        np.testing.assert_array_equal(got, expected)
    np.testing.assert_allclose(strided[:, ::2], want_strided, rtol=1e-5, atol=1e-6)
    resumed = optimizers.Adam(0.01)
    resumed.set_state(adam.get_state())
    g = [rng.standard_normal(p.shape).astype(p.dtype) for p in params]
    a, b = [p.copy() for p in params], [p.copy() for p in params]
    adam.apply(a, g)  # new arrays: the group is made again for them
    resumed.apply(b, g)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
