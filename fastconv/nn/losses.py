"""Losses with Keras names. Each gives the mean loss over the batch and its gradient; the cross-entropies also
have a fused path taking the logits before a final softmax, which is exact and stable where log(softmax) is not."""
import numpy as np

_EPS = 1e-7  # Keras's clip for probabilities fed to a cross-entropy


class Loss:
    name = "loss"
    fuses_softmax = False  # has fused(logits, y_true, backend) for a final softmax: (loss, probabilities or None,
    # gradient, right predictions or None)
    from_logits = False

    def __call__(self, y_true, y_pred):
        return self.value_and_grad(y_true, y_pred)[0]

    def value_and_grad(self, y_true, y_pred):
        """(mean loss, d loss / d y_pred)."""
        raise NotImplementedError


class SparseCategoricalCrossentropy(Loss):
    """-log p[label], labels as integers (N,)."""

    name = "sparse_categorical_crossentropy"
    fuses_softmax = True

    def __init__(self, from_logits=False):
        self.from_logits = from_logits

    @staticmethod
    def labels(y_true):
        return np.asarray(y_true).reshape(-1).astype(np.int64, copy=False)

    def value_and_grad(self, y_true, y_pred):
        labels = self.labels(y_true)
        n = len(labels)
        rows = np.arange(n)
        p = np.clip(y_pred[rows, labels], _EPS, 1 - _EPS)
        grad = np.zeros_like(y_pred)
        grad[rows, labels] = -1.0 / (n * p)
        return float(-np.log(p).mean()), grad

    def fused(self, logits, y_true, backend):
        """(mean loss, None, d loss / d logits, rows predicted right) through the backend's fused kernel."""
        loss, grad, hits = backend.softmax_cross_entropy_step(logits, self.labels(y_true))
        return loss, None, grad, hits


class CategoricalCrossentropy(Loss):
    """-sum y log p over classes, targets as one-hot (or soft) rows (N, K)."""

    name = "categorical_crossentropy"
    fuses_softmax = True

    def __init__(self, from_logits=False):
        self.from_logits = from_logits

    def value_and_grad(self, y_true, y_pred):
        y = np.asarray(y_true, y_pred.dtype)
        p = np.clip(y_pred, _EPS, 1 - _EPS)
        n = len(y)
        return float(-(y * np.log(p)).sum() / n), (-y / (p * n)).astype(y_pred.dtype)

    def fused(self, logits, y_true, backend):
        y = np.asarray(y_true, logits.dtype)
        z = logits - logits.max(axis=1, keepdims=True)
        log_sum = np.log(np.exp(z).sum(axis=1, keepdims=True))
        probs = np.exp(z - log_sum)
        n = len(y)
        loss = float(-(y * (z - log_sum)).sum() / n)
        # differentiates -sum_k y_k (z_k - logsumexp(z)): softmax(z) * sum(y) - y
        grad = ((probs * y.sum(axis=1, keepdims=True) - y) / n).astype(logits.dtype)
        return loss, probs.astype(logits.dtype), grad, None  # the model counts the right predictions from probs


class MeanSquaredError(Loss):
    name = "mean_squared_error"

    def value_and_grad(self, y_true, y_pred):
        diff = y_pred - np.asarray(y_true, y_pred.dtype).reshape(y_pred.shape)
        return float((diff * diff).mean()), (2.0 / diff.size) * diff


_BY_NAME = {
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "mse": MeanSquaredError,
    "mean_squared_error": MeanSquaredError,
}


def get(loss):
    """A loss from its Keras name or a Loss object."""
    if isinstance(loss, Loss):
        return loss
    if loss not in _BY_NAME:
        raise ValueError(f"unknown loss {loss!r}; known: {', '.join(sorted(_BY_NAME))}")
    return _BY_NAME[loss]()
