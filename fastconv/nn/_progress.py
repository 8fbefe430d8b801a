"""Keras-style progress bar: `1875/1875 [==============================] - 3s 2ms/step - loss: 0.31 - acc: 0.91`."""
import sys
import time

WIDTH = 30


def _fmt_time(seconds):
    if seconds >= 3600:
        return f"{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}:{int(seconds % 60):02d}"
    if seconds >= 60:
        return f"{int(seconds // 60)}:{int(seconds % 60):02d}"
    return f"{seconds:.0f}s"


def _fmt_values(values):
    return "".join(f" - {k}: {v:.4f}" for k, v in values.items())


class Progbar:
    """verbose=1: a bar redrawn in place on a terminal (one final line elsewhere); verbose=2: one line per epoch;
    verbose=0: nothing."""

    def __init__(self, target, verbose=1, stream=None):
        self.target = target
        self.verbose = verbose
        self.stream = stream or sys.stdout
        self.start = time.perf_counter()
        self.last_draw = 0.0
        self.dynamic = self.stream.isatty() if hasattr(self.stream, "isatty") else False

    def update(self, step, values):
        """Redraws at most 20 times a second, only on a terminal."""
        if self.verbose != 1 or not self.dynamic:
            return
        now = time.perf_counter()
        if now - self.last_draw < 0.05 and step < self.target:
            return
        self.last_draw = now
        elapsed = now - self.start
        eta = elapsed / max(step, 1) * (self.target - step)
        self.stream.write(f"\r{self._bar(step)} - ETA: {_fmt_time(eta)}{_fmt_values(values)}")
        self.stream.flush()

    def finish(self, values):
        if self.verbose == 0:
            return
        elapsed = time.perf_counter() - self.start
        per_step = elapsed / max(self.target, 1)
        unit = f"{per_step * 1e3:.0f}ms/step" if per_step >= 1e-3 else f"{per_step * 1e6:.0f}us/step"
        head = self._bar(self.target) if self.verbose == 1 else f"{self.target}/{self.target}"
        self.stream.write(f"{chr(13) if self.dynamic else ''}{head} - {_fmt_time(elapsed)} {unit}"
                          f"{_fmt_values(values)}\n")
        self.stream.flush()

    def _bar(self, step):
        digits = len(str(self.target))
        filled = int(WIDTH * step / max(self.target, 1))
        arrow = ">" if step < self.target else "="
        bar = ("=" * max(filled - 1, 0) + (arrow if filled else "")).ljust(WIDTH, ".")
        return f"{step:{digits}d}/{self.target} [{bar}]"
