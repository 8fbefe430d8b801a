"""Sequential: a Keras-like model over fastconv.nn layers (summary, compile, fit, evaluate, predict, weights)."""
import math
import re
import sys

import numpy as np

from .. import functional as _functional
from .. import reference as _reference
from . import losses as _losses
from . import optimizers as _optimizers
from . import saving as _saving
from ._progress import Progbar
from .callbacks import Callback, History, TerminateOnNaN
from .layers import Activation, Layer, MaxPool2D, _Weighted

BACKENDS = {"fastconv": _functional, "reference": _reference}
_KERAS_NAMES = {MaxPool2D: "max_pooling2d"}  # Keras names this layer after its long alias


def _backend(name):
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {sorted(BACKENDS)}, got {name!r}")
    return BACKENDS[name]


def _default_name(layer):
    cls = type(layer)
    if cls in _KERAS_NAMES:
        return _KERAS_NAMES[cls]
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", cls.__name__)  # Keras's rule: Conv2D -> conv2d, ReLU -> re_lu
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _defines(callback, hook):
    """Whether a callback's hook does something: a method other than Callback's no-op, or a function set on it."""
    return getattr(getattr(callback, hook), "__func__", None) is not getattr(Callback, hook)


class Sequential:
    """A linear stack of layers.

    Parameters
    ----------
    layers : list of Layer, optional
    name : str, optional
    backend : "fastconv" (compiled kernels, default) or "reference" (fastconv.reference, pure NumPy)
    """

    def __init__(self, layers=None, name=None, backend="fastconv"):
        self.name = name or "sequential"
        self._layers = []
        self._backend_name = backend
        self._backend = _backend(backend)
        self.optimizer = None
        self.loss = None
        self.metrics = []
        self.stop_training = False
        for layer in layers or []:
            self.add(layer)

    @property
    def layers(self):
        return list(self._layers)

    @property
    def backend(self):
        return self._backend_name

    @property
    def built(self):
        return bool(self._layers) and all(layer.built for layer in self._layers)

    def add(self, layer):
        """Appends a layer; builds it at once when the input shape is known (input_shape on the first layer)."""
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add: expected a fastconv.nn layer, got {type(layer).__name__}")
        taken = {existing.name for existing in self._layers}
        if layer.name is None:
            base, i = _default_name(layer), 0
            layer.name = base
            while layer.name in taken:
                i += 1
                layer.name = f"{base}_{i}"
        elif layer.name in taken:
            raise ValueError(f"Sequential.add: a layer named {layer.name!r} is already in the model")
        layer.backend = self._backend
        layer.need_input_grad = bool(self._layers)
        if self._layers and self._layers[-1].built:
            layer.build(self._layers[-1].output_shape)
        elif not self._layers and layer.input_shape is not None:
            layer.build(layer.input_shape)
        self._layers.append(layer)

    def build(self, input_shape):
        """Builds every layer for inputs of input_shape (without the batch axis)."""
        shape = tuple(input_shape)
        for layer in self._layers:
            if not layer.built:
                layer.build(shape)
            elif tuple(layer.input_shape) != shape:
                raise ValueError(f"layer {layer.name!r} was built for inputs {layer.input_shape}, got {shape}")
            shape = layer.output_shape

    def count_params(self):
        return sum(layer.count_params() for layer in self._layers)

    def summary(self, print_fn=print, line_length=65):
        """Prints a Keras-style table: layer name and type, output shape (None = batch), parameter counts."""
        if not self.built:
            raise ValueError("summary: the model is not built yet; give the first layer input_shape= or call "
                             "build(input_shape) or fit first")
        cols = [int(line_length * p) for p in (0.45, 0.85, 1.0)]

        def row(fields):
            line = ""
            for field, end in zip(fields, cols):
                line = (line + " " + str(field))[:end].ljust(end)
            print_fn(line)

        print_fn(f'Model: "{self.name}"')
        print_fn("_" * line_length)
        row(["Layer (type)", "Output Shape", "Param #"])
        print_fn("=" * line_length)
        for i, layer in enumerate(self._layers):
            row([f"{layer.name} ({type(layer).__name__})", (None, *layer.output_shape), f"{layer.count_params():,}"])
            print_fn("=" * line_length if i == len(self._layers) - 1 else "")
        total = self.count_params()
        trainable = sum(layer.count_params() for layer in self._layers if layer.trainable)
        print_fn(f"Total params: {total:,}")
        print_fn(f"Trainable params: {trainable:,}")
        print_fn(f"Non-trainable params: {total - trainable:,}")
        print_fn("_" * line_length)

    def compile(self, optimizer="rmsprop", loss=None, metrics=None, backend=None):
        """Sets the optimizer (name or object), the loss (name or object) and metrics ('acc'/'accuracy')."""
        self.optimizer = _optimizers.get(optimizer)
        if loss is None:
            raise ValueError("compile: a loss is required, e.g. loss='sparse_categorical_crossentropy'")
        self.loss = _losses.get(loss)
        self.metrics = list(metrics or [])
        for m in self.metrics:
            if m not in ("acc", "accuracy"):
                raise ValueError(f"compile: unknown metric {m!r}; known: 'acc', 'accuracy'")
        if backend is not None:
            self._backend_name, self._backend = backend, _backend(backend)
            for layer in self._layers:
                layer.backend = self._backend

    # The forward/backward pipeline.
    def _ends_in_softmax(self):
        last = self._layers[-1]
        act = last if isinstance(last, Activation) else getattr(last, "activation", None)
        return isinstance(act, Activation) and act.activation == "softmax"

    def _fuses_loss(self):
        """Whether the loss takes logits: a cross-entropy after a final softmax (or declared from_logits)."""
        return self.loss.fuses_softmax and (self.loss.from_logits or self._ends_in_softmax())

    def _strips_softmax(self):
        """Whether training stops before the final softmax, which the fused loss absorbs."""
        return self.loss.fuses_softmax and not self.loss.from_logits and self._ends_in_softmax()

    @staticmethod
    def _relu_follows(layer, nxt):
        """Whether a ReLU layer right after a Conv2D/Dense without activation can run in that layer's kernel."""
        return (isinstance(layer, _Weighted) and layer.activation.activation == "linear"
                and isinstance(nxt, Activation) and nxt.activation == "relu")

    def _forward(self, x, training, logits):
        """Runs the layers; with logits=True stops before a final softmax the loss absorbs. A ReLU layer after a
        Conv2D or Dense runs fused into that layer's kernel (one pass over the output instead of two)."""
        strip = logits and self._strips_softmax()
        layers = self._layers
        i = 0
        while i < len(layers) - 1:
            layer, nxt = layers[i], layers[i + 1]
            if self._relu_follows(layer, nxt):
                x = nxt._y = layer.forward_with_relu(x)  # the ReLU layer keeps its output for its backward
                i += 2
            else:
                x = layer.forward(x, training)
                i += 1
        if i == len(layers):  # the last layer was a fused ReLU
            return x
        last = layers[-1]
        if strip and isinstance(last, Activation):
            return x
        if strip:
            return last.forward(x, training, activate=False)
        return last.forward(x, training)

    def _compute_gradients(self, x, y):
        """Forward and backward on one batch: sets every layer's grads; returns (mean loss, predictions or None,
        right predictions or None)."""
        loss, pred, grad, hits = self._loss_and_grad(self._forward(x, True, logits=True), y)
        skip_last = self._strips_softmax() and isinstance(self._layers[-1], Activation)
        layers = self._layers[:-1] if skip_last else self._layers
        relu_done = False  # the gradient already went through the ReLU ending the next layer down
        for i in range(len(layers) - 1, -1, -1):
            layer = layers[i]
            if relu_done:
                relu_done = False
                if isinstance(layer, Activation):  # its ReLU was differentiated by the pooling above
                    continue
                grad = layer.backward(grad, relu_done=True)
            elif i > 0 and isinstance(layer, MaxPool2D) and self._ends_in_relu(layers[i - 1]):
                grad = layer.backward(grad, through_relu=True)
                relu_done = True
            else:
                grad = layer.backward(grad)
        return loss, pred, hits

    @staticmethod
    def _ends_in_relu(layer):
        """Whether a layer's forward output is a ReLU's (a pooling above it can differentiate that ReLU)."""
        if isinstance(layer, Activation):
            return layer.activation == "relu"
        return isinstance(layer, _Weighted) and layer.ends_in_relu()

    def _loss_and_grad(self, out, y):
        """(mean loss, predictions or None, d loss / d out, right predictions or None): a fused sparse
        cross-entropy counts the right predictions itself and keeps no probabilities."""
        if self._fuses_loss():
            return self.loss.fused(out, y, self._backend)
        loss, grad = self.loss.value_and_grad(y, out)
        return loss, out, grad, None

    def _correct(self, pred, y):
        """Number of correct predictions in the batch, by the target's form."""
        y = np.asarray(y)
        if pred.ndim == 2 and pred.shape[1] > 1:
            if y.ndim == 2 and y.shape == pred.shape:
                return np.count_nonzero(pred.argmax(1) == y.argmax(1))
            return np.count_nonzero(pred.argmax(1) == y.reshape(-1))
        return np.count_nonzero((pred.reshape(-1) > 0.5) == (y.reshape(-1) > 0.5))

    def _params_and_grads(self):
        params, grads = [], []
        for layer in self._layers:
            if layer.trainable:
                params += layer.params
                grads += layer.grads
        return params, grads

    def train_on_batch(self, x, y):
        """One optimizer step on (x, y); returns (mean loss, number correct)."""
        loss, pred, hits = self._compute_gradients(x, y)
        self.optimizer.apply(*self._params_and_grads())
        return loss, self._correct(pred, y) if hits is None else hits

    # Keras's user-facing loop.
    def _check_compiled(self, fn):
        if self.loss is None:
            raise RuntimeError(f"{fn}: compile the model first")

    @staticmethod
    def _as_inputs(x):
        """Inputs as float32, as Keras casts integer and uint8 data (no rescaling)."""
        x = np.asarray(x)
        if x.dtype != np.float32:
            x = x.astype(np.float32)
        return x

    def _prepare(self, fn, x, y):
        x = self._as_inputs(x)
        y = np.asarray(y)
        if len(x) != len(y):
            raise ValueError(f"{fn}: x has {len(x)} samples but y has {len(y)}")
        if not self.built:
            self.build(x.shape[1:])
        elif tuple(x.shape[1:]) != tuple(self._layers[0].input_shape):
            raise ValueError(f"{fn}: the model expects inputs of shape (None, *{self._layers[0].input_shape}), "
                             f"got {x.shape}")
        return x, y

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose=1, callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, seed=None, initial_epoch=0, terminate_on_nan=True):
        """Trains for `epochs` epochs of mini-batches; returns a History whose .history holds loss, metrics and,
        with validation data, val_loss and val_ metrics per epoch.

        With a seed, each epoch's shuffle and dropout masks derive from (seed, epoch) alone, so a run resumed with
        initial_epoch=k (after load_weights of weights and optimizer state) repeats the uninterrupted run. A NaN or
        infinite loss stops training with a message unless terminate_on_nan=False."""
        self._check_compiled("fit")
        x, y = self._prepare("fit", x, y)
        batch_size = int(batch_size or 32)
        if batch_size <= 0:
            raise ValueError(f"fit: batch_size must be positive, got {batch_size}")
        if validation_data is None and validation_split:
            if not 0 < validation_split < 1:
                raise ValueError(f"fit: validation_split must be in (0, 1), got {validation_split}")
            split = len(x) - int(len(x) * validation_split)  # like Keras: the last samples, before shuffling
            x, validation_data = x[:split], (x[split:], y[split:])
            y = y[:split]
        if validation_data is not None:
            validation_data = self._prepare("fit", *validation_data[:2])
        unseeded = np.random.default_rng()
        history = History()
        nan_guard = TerminateOnNaN() if terminate_on_nan else None  # checked inline: it only needs the loss
        cbs = [history] + ([nan_guard] if nan_guard else []) + list(callbacks or [])
        for cb in cbs:
            if not isinstance(cb, Callback):
                raise TypeError(f"fit: callbacks must be fastconv.nn.callbacks.Callback objects, got {cb!r}")
            cb.set_model(self)
        self.history = history
        self.stop_training = False
        n = len(x)
        steps = math.ceil(n / batch_size)
        metric = self.metrics[0] if self.metrics else None
        # per-batch hooks of the callbacks that define them (the base class's are no-ops): none, most of the time
        batch_begin = [cb for cb in cbs if _defines(cb, "on_train_batch_begin")]
        batch_end = [cb for cb in cbs if _defines(cb, "on_train_batch_end") and cb is not nan_guard]
        for cb in cbs:
            cb.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            if verbose:
                print(f"Epoch {epoch + 1}/{epochs}", file=sys.stdout, flush=True)
            for cb in cbs:
                cb.on_epoch_begin(epoch)
            rng = unseeded if seed is None else np.random.default_rng([seed, epoch])
            for i, layer in enumerate(self._layers):
                if hasattr(layer, "rng") and seed is not None:
                    layer.rng = np.random.default_rng([seed, epoch, 1 + i])
            order = rng.permutation(n) if shuffle else np.arange(n)
            bar = Progbar(steps, verbose)
            draws = bar.verbose == 1 and bar.dynamic
            total_loss, correct, seen = 0.0, 0, 0
            for step in range(steps):
                idx = order[step * batch_size:(step + 1) * batch_size]
                for cb in batch_begin:
                    cb.on_train_batch_begin(step)
                loss, right = self.train_on_batch(x[idx], y[idx])
                total_loss += loss * len(idx)
                correct += right
                seen += len(idx)
                if nan_guard is not None and not math.isfinite(loss):
                    nan_guard.on_train_batch_end(step, {"batch_loss": loss})
                if draws or batch_end:  # the running logs, only built for someone who reads them
                    logs = self._running_logs(total_loss, correct, seen, metric)
                    bar.update(step + 1, logs)
                    for cb in batch_end:
                        cb.on_train_batch_end(step, dict(logs, batch_loss=loss))
                if self.stop_training:
                    break
            logs = self._running_logs(total_loss, correct, seen, metric) if seen else {}
            if validation_data is not None:
                val = self.evaluate(*validation_data, batch_size=batch_size, verbose=0, return_dict=True)
                logs.update({f"val_{k}": v for k, v in val.items()})
            bar.finish(logs)
            for cb in cbs:
                cb.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        for cb in cbs:
            cb.on_train_end()
        return history

    @staticmethod
    def _running_logs(total_loss, correct, seen, metric):
        logs = {"loss": total_loss / seen}
        if metric:
            logs[metric] = correct / seen
        return logs

    def evaluate(self, x=None, y=None, batch_size=None, verbose=1, return_dict=False):
        """Mean loss (and metrics) over (x, y): [loss, metric] like Keras, a scalar loss with no metrics."""
        self._check_compiled("evaluate")
        x, y = self._prepare("evaluate", x, y)
        batch_size = int(batch_size or 32)
        steps = max(math.ceil(len(x) / batch_size), 1)
        bar = Progbar(steps, verbose)
        total_loss, correct = 0.0, 0
        for step in range(steps):
            xb, yb = x[step * batch_size:(step + 1) * batch_size], y[step * batch_size:(step + 1) * batch_size]
            if not len(xb):
                break
            loss, pred, _, hits = self._loss_and_grad(self._forward(xb, False, logits=True), yb)
            total_loss += loss * len(xb)
            correct += self._correct(pred, yb) if hits is None else hits
        n = max(len(x), 1)
        results = {"loss": total_loss / n}
        if self.metrics:
            results[self.metrics[0]] = correct / n
        bar.finish(results)
        if return_dict:
            return results
        return list(results.values()) if self.metrics else results["loss"]

    def predict(self, x, batch_size=None, verbose=0):
        """The model's outputs (after any final softmax) for x, computed in batches."""
        x = self._as_inputs(x)
        if not self.built:
            self.build(x.shape[1:])
        batch_size = int(batch_size or 32)
        outs = [self._forward(x[i:i + batch_size], False, logits=False) for i in range(0, len(x), batch_size)]
        if not outs:
            return np.zeros((0, *self._layers[-1].output_shape), np.float32)
        return np.concatenate(outs)

    # Weights.
    def get_weights(self):
        return [w for layer in self._layers for w in layer.get_weights()]

    def set_weights(self, weights):
        weights = list(weights)
        expected = sum(len(layer.params) for layer in self._layers)
        if len(weights) != expected:
            raise ValueError(f"set_weights: the model has {expected} weight arrays, got {len(weights)}")
        for layer in self._layers:
            k = len(layer.params)
            layer.set_weights(weights[:k])
            weights = weights[k:]

    def save_weights(self, filepath, include_optimizer=False):
        """Writes every layer's weights (and, with include_optimizer, the optimizer's step count and slots, to
        resume training exactly) to an .npz file, atomically: a crash never leaves a half-written file."""
        _saving.save_weights(self, filepath, include_optimizer)

    def load_weights(self, filepath):
        """Reads weights written by save_weights; refuses a file of another architecture, naming the layer."""
        _saving.load_weights(self, filepath)
