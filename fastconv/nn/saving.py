"""Weights files of fastconv.nn models: .npz archives of every layer's arrays (keys "index:layer:array"), optionally
with the optimizer's state, written atomically."""
import os
import tempfile

import numpy as np


def save_weights(model, filepath, include_optimizer=False):
    """Sequential.save_weights: temporary file in the same folder, fsync, rename over the target."""
    arrays = {f"{i:03d}:{layer.name}:{j}": w for i, layer in enumerate(model.layers)
              for j, w in enumerate(layer.get_weights())}
    if include_optimizer:
        if model.optimizer is None:
            raise ValueError("save_weights: include_optimizer=True needs a compiled model")
        state = model.optimizer.get_state()
        arrays["optimizer:iterations"] = np.array(state["iterations"])
        arrays["optimizer:learning_rate"] = np.array(model.optimizer.learning_rate)
        for i, slots in state["slots"].items():
            for j, slot in enumerate(slots):
                arrays[f"optimizer:slot:{i}:{j}"] = slot
    folder = os.path.dirname(os.path.abspath(filepath))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".fastconv-weights-", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, filepath)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load_weights(model, filepath):
    """Sequential.load_weights: every layer's shapes are checked before any weight is replaced."""
    with np.load(filepath) as data:
        stored, optimizer = {}, {}
        for key in data.files:
            if key.startswith("optimizer:"):
                optimizer[key] = data[key]
                continue
            i, name, j = key.split(":")
            stored.setdefault(int(i), (name, {}))[1][int(j)] = data[key]
    for i, layer in enumerate(model.layers):
        name, arrays = stored.get(i, (None, {}))
        weights = [arrays[j] for j in sorted(arrays)]
        mine = [p.shape for p in layer.params]
        theirs = [w.shape for w in weights]
        if mine != theirs:
            raise ValueError(f"load_weights: layer {i} {layer.name!r} has weights of shapes {mine}, the file "
                             f"has {theirs} for layer {name!r}")
    extra = sorted(set(stored) - set(range(len(model.layers))))
    if extra:
        raise ValueError(f"load_weights: the file has weights for {len(stored)} layers, the model has "
                         f"{len(model.layers)}")
    for i, layer in enumerate(model.layers):
        arrays = stored.get(i, (None, {}))[1]
        layer.set_weights([arrays[j] for j in sorted(arrays)])
    if optimizer and model.optimizer is not None:
        slots = {}
        for key, value in optimizer.items():
            if key.startswith("optimizer:slot:"):
                i, j = map(int, key.split(":")[2:])
                slots.setdefault(i, {})[j] = value
        model.optimizer.set_state({"iterations": int(optimizer["optimizer:iterations"]),
                                  "slots": {i: [s[j] for j in sorted(s)] for i, s in slots.items()}})
        model.optimizer.learning_rate = float(optimizer["optimizer:learning_rate"])
