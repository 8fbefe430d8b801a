"""Training faults: a NaN loss stops fit, and training resumes from saved weights + optimizer state exactly."""
import numpy as np

from fastconv.nn import set_random_seed
from fastconv.nn.layers import Conv2D, Dense, Dropout, Flatten, MaxPool2D
from fastconv.nn.models import Sequential


def small_model(seed=0):
    set_random_seed(seed)
    model = Sequential([Conv2D(4, 3, activation="relu", input_shape=(10, 10, 1)), MaxPool2D(), Flatten(),
                        Dropout(0.3), Dense(3, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["acc"])
    return model


def data(n=96, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 10, 10, 1)).astype(np.float32), rng.integers(0, 3, n)


def test_nan_loss_stops_fit_with_a_message(capsys):
    x, y = data()
    x[40:] = np.inf  # batches from the third on produce a NaN loss
    model = small_model()
    h = model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    err = capsys.readouterr().err
    assert "Batch 2: invalid loss nan, terminating training" in err
    assert len(h.history["loss"]) == 1 and model.stop_training


def test_terminate_on_nan_false_keeps_going(capsys):
    x, y = data()
    x[40:] = np.inf
    h = small_model().fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0, terminate_on_nan=False)
    assert len(h.history["loss"]) == 2 and "terminating" not in capsys.readouterr().err


def test_resumed_training_equals_uninterrupted_training(tmp_path):
    x, y = data()
    straight = small_model()
    straight.fit(x, y, batch_size=16, epochs=3, seed=5, verbose=0)

    first = small_model()
    first.fit(x, y, batch_size=16, epochs=1, seed=5, verbose=0)
    first.save_weights(tmp_path / "ckpt.npz", include_optimizer=True)
    resumed = small_model(seed=99)  # different initial weights: all must come from the file
    resumed.load_weights(tmp_path / "ckpt.npz")
    resumed.fit(x, y, batch_size=16, epochs=3, seed=5, verbose=0, initial_epoch=1)
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert resumed.optimizer.iterations == straight.optimizer.iterations


def test_a_crash_while_saving_leaves_the_old_file_in_place(tmp_path, monkeypatch):
    model = small_model()
    path = tmp_path / "w.npz"
    model.save_weights(path)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    import pytest

    with pytest.raises(OSError, match="disk full"):
        small_model(seed=3).save_weights(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["w.npz"]
