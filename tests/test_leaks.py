"""Thousands of kernel calls leak neither Python objects nor native memory."""
import gc
import resource
import tracemalloc

import numpy as np

import fastconv
from fastconv import functional as F


def one_round(x, w, b, g, labels):
    y = fastconv.conv2d(x, w, b, padding=1, activation="relu")
    fastconv.conv2d_backward(y, x, w, padding=1)
    p, idx = fastconv.max_pool2d(y, 2, return_indices=True)
    fastconv.max_pool2d_backward(p, idx, y.shape)
    loss, probs = F.softmax_cross_entropy(g, labels)
    F.softmax_cross_entropy_backward(probs, labels)
    F.relu_backward(y, y)
    F.bias_grad(g)
    try:
        fastconv.conv2d(x, w[:, :2])  # the error path too
    except ValueError:
        pass


def rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def test_repeated_calls_do_not_leak():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 12, 12)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    g = rng.standard_normal((16, 10)).astype(np.float32)
    labels = rng.integers(0, 10, 16)
    for _ in range(200):  # warm up caches and allocator pools
        one_round(x, w, b, g, labels)
    gc.collect()
    objects = len(gc.get_objects())
    rss = rss_kib()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for _ in range(3000):
        one_round(x, w, b, g, labels)
    gc.collect()
    grown = sum(s.size_diff for s in tracemalloc.take_snapshot().compare_to(before, "filename"))
    tracemalloc.stop()
    assert len(gc.get_objects()) - objects < 100
    assert grown < 256 * 1024, f"Python allocations grew by {grown} bytes over 3000 rounds"
    assert rss_kib() - rss < 16 * 1024, "resident memory grew by more than 16 MiB over 3000 rounds"
