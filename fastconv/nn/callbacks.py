"""Callbacks with Keras's hooks; History records every epoch's logs and is what fit returns."""
import math
import sys


class Callback:
    def __init__(self):
        self.model = None

    def set_model(self, model):
        self.model = model

    def on_train_begin(self, logs=None): ...
    def on_train_end(self, logs=None): ...
    def on_epoch_begin(self, epoch, logs=None): ...
    def on_epoch_end(self, epoch, logs=None): ...
    def on_train_batch_begin(self, batch, logs=None): ...
    def on_train_batch_end(self, batch, logs=None): ...


class History(Callback):
    """history: metric name -> list of per-epoch values (loss, acc, val_loss, val_acc, ...)."""

    def __init__(self):
        super().__init__()
        self.epoch = []
        self.history = {}

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)


class TerminateOnNaN(Callback):
    """Stops training at the first batch whose loss is NaN or infinite, saying so on stderr. fit adds one unless
    called with terminate_on_nan=False."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("batch_loss")
        if loss is not None and not math.isfinite(loss):
            print(f"Batch {batch}: invalid loss {loss}, terminating training (fit(..., terminate_on_nan=False) "
                  f"keeps going)", file=sys.stderr)
            self.model.stop_training = True


class LambdaCallback(Callback):
    """Callback from plain functions, e.g. LambdaCallback(on_epoch_end=lambda epoch, logs: ...)."""

    def __init__(self, **hooks):
        super().__init__()
        for name, fn in hooks.items():
            if not hasattr(Callback, name):
                raise ValueError(f"LambdaCallback: unknown hook {name!r}")
            setattr(self, name, fn)


class LearningRateScheduler(Callback):
    """Sets the optimizer's learning rate at each epoch's start to schedule(epoch, current_lr), as in Keras."""

    def __init__(self, schedule):
        super().__init__()
        self.schedule = schedule

    def on_epoch_begin(self, epoch, logs=None):
        self.model.optimizer.learning_rate = float(self.schedule(epoch, self.model.optimizer.learning_rate))
