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
        self._group = None  # (the parameters, their AdamGroup, each one's place in it, its size): _group_for

    def apply(self, params, grads):
        """One step: the parameters that take the fused kernel in one call (an AdamGroup, made once for a list
        of parameters), any other one by NumPy."""
        t = self.iterations + 1
        self.iterations = t
        self._lr_t = self.learning_rate * math.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t)
        self._threads = get_num_threads()
        group, fused, size = self._group_for(params)
        flat_grads = [None] * size
        for i, (p, g) in enumerate(zip(params, grads)):
            if g is None:
                continue
            if fused[i] is None:
                self._update(i, p, g)
            else:
                flat_grads[fused[i]] = kernel_ready(g, p.dtype).reshape(-1)
        group.step(flat_grads, self._lr_t, self.beta_1, self.beta_2, self.epsilon, self._threads)

    def _group_for(self, params):
        """(AdamGroup of the parameters that take the fused kernel, each parameter's place in it or None, how
        many it holds), kept while the same parameter arrays come back."""
        cached = self._group
        if cached is not None and len(cached[0]) == len(params) and all(a is b for a, b in zip(cached[0], params)):
            return cached[1:]
        members, fused = [], []
        for i, p in enumerate(params):
            flat = self._flat_views(i, p)
            fused.append(None if flat is None else len(members))
            if flat is not None:
                members.append(flat)
        group = _pooling.AdamGroup(*(list(column) for column in zip(*members))) if members else \
            _pooling.AdamGroup([], [], [])
        self._group = (list(params), group, fused, len(members))
        return self._group[1:]

    def set_state(self, state):
        super().set_state(state)
        self._flat = {}
        self._group = None

    def _flat_views(self, i, p):
        """Flat views of parameter i and its slots for the fused kernel, or None if p cannot take it in place."""
        entry = self._flat.get(i)
        if entry is not None and entry[0] is p:
            return entry[1:]
        m, v = self._slots(i, p, 2)
        if not (p.dtype in (np.float32, np.float64) and p.flags.c_contiguous and p.flags.aligned and p.flags.writeable
                and m.dtype == p.dtype):
            return None
        self._flat[i] = (p, p.reshape(-1), m.reshape(-1), v.reshape(-1))
        return self._flat[i][1:]

    def _update(self, i, p, g):
        """NumPy's step, for a parameter the fused kernel cannot update in place (see _flat_views)."""
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
