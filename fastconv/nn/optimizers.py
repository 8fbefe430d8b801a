"""Optimizers with Keras names, arguments and update rules. State (slots, step count) is kept per parameter
position, so a model's get_state/set_state can save and resume training exactly."""
import math

import numpy as np

from .. import _pooling
from .._args import kernel_ready
from ..runtime import get_num_threads


class Optimizer:
    def __init__(self, learning_rate):
        self.learning_rate = float(learning_rate)
        self.iterations = 0
        self.slots = {}  # parameter position -> list of state arrays

    def apply(self, params, grads):
        """One step: updates each params[i] in place from grads[i] (None = frozen)."""
        self.iterations += 1
        for i, (p, g) in enumerate(zip(params, grads)):
            if g is not None:
                self._update(i, p, g)

    def _update(self, i, p, g):
        raise NotImplementedError

    def _slots(self, i, p, count):
        """The state arrays of parameter i, created (zeros like p) on its first step."""
        slots = self.slots.get(i)
        if slots is None:
            slots = self.slots[i] = [np.zeros_like(p) for _ in range(count)]
        return slots

    def get_state(self):
        return {"iterations": self.iterations, "slots": {i: [s.copy() for s in v] for i, v in self.slots.items()}}

    def set_state(self, state):
        self.iterations = int(state["iterations"])
        self.slots = {int(i): [np.array(s) for s in v] for i, v in state["slots"].items()}


class SGD(Optimizer):
    """v = momentum * v - lr * g; p += v (Nesterov: p += momentum * v - lr * g)."""

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False):
        super().__init__(learning_rate)
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)

    def _update(self, i, p, g):
        lr = self.learning_rate
        if self.momentum == 0:
            p -= lr * g
            return
        (v,) = self._slots(i, p, 1)
        v *= self.momentum
        v -= lr * g
        p += self.momentum * v - lr * g if self.nesterov else v


class Adam(Optimizer):
    """Keras's Adam: m, v moving averages of g and g^2; p -= lr_t * m / (sqrt(v) + epsilon) with
    lr_t = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
        super().__init__(learning_rate)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)
        self._flat = {}  # position -> (p, flat views of p, m, v): made once, not per step

    def apply(self, params, grads):
        t = self.iterations + 1
        self._lr_t = self.learning_rate * math.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t)
        self._threads = get_num_threads()
        super().apply(params, grads)

    def set_state(self, state):
        super().set_state(state)
        self._flat = {}

    def _flat_views(self, i, p):
        """Flat views of parameter i and its slots for the fused kernel, or None if p cannot take it in place."""
        entry = self._flat.get(i)
        if entry is not None and entry[0] is p:
            return entry[1:]
        m, v = self._slots(i, p, 2)
        if not (p.flags.c_contiguous and p.flags.aligned and p.flags.writeable and m.dtype == p.dtype):
            return None
        self._flat[i] = (p, p.reshape(-1), m.reshape(-1), v.reshape(-1))
        return self._flat[i][1:]

    def _update(self, i, p, g):
        flat = self._flat_views(i, p)
        g = kernel_ready(g, p.dtype)
        if flat is not None:  # one fused pass (the common case)
            p_flat, m_flat, v_flat = flat
            _pooling.adam_update(p_flat, g.reshape(-1), m_flat, v_flat, self._lr_t, self.beta_1, self.beta_2,
                                 self.epsilon, self._threads)
            return
        m, v = self._slots(i, p, 2)
        m += (1 - self.beta_1) * (g - m)
        v += (1 - self.beta_2) * (g * g - v)
        p -= (self._lr_t * m / (np.sqrt(v) + self.epsilon)).astype(p.dtype, copy=False)


_BY_NAME = {"sgd": SGD, "adam": Adam}


def get(optimizer):
    """An optimizer from its Keras name (default arguments) or an Optimizer object."""
    if isinstance(optimizer, Optimizer):
        return optimizer
    key = str(optimizer).lower()
    if key not in _BY_NAME:
        raise ValueError(f"unknown optimizer {optimizer!r}; known: {', '.join(sorted(_BY_NAME))}")
    return _BY_NAME[key]()
