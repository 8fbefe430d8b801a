"""Benchmark implementations and the `fastconv bench` runner.

Each implementation (fastconv, the NumPy reference, PyTorch when installed) prepares a zero-argument callable per
(shape, pass, layout) outside the timing; the runner times medians of repeats side by side and reports time,
GFLOP/s, % of this machine's measured FMA peak and speed-ups against the reference and PyTorch.
"""
import json
import statistics
import time

import numpy as np

from . import _C
from . import functional as F
from . import reference as R
from ._bench_shapes import PoolShape, select
from .runtime import get_num_threads

PASSES = ("fwd", "bwd_data", "bwd_weight")
LAYOUTS = ("NCHW", "NHWC")


def conv_callable(module, shape, which, layout):
    """A callable running one pass of `shape` through fastconv.functional or fastconv.reference."""
    x, w, b, gy = shape.arrays(layout)
    kw = dict(shape.kwargs, layout=layout)
    if which == "fwd":
        return lambda: module.conv2d(x, w, b, **kw)
    need = dict(need_input=which == "bwd_data", need_weight=which == "bwd_weight", need_bias=False)
    return lambda: module.conv2d_backward(gy, x, w, **kw, **need)


def torch_conv_callable(shape, which, layout):
    """The same pass through PyTorch's CPU convolution (oneDNN); None without torch."""
    try:
        import torch
    except ImportError:
        return None
    x, w, b, gy = shape.arrays("NCHW")
    fmt = torch.channels_last if layout == "NHWC" else torch.contiguous_format
    xt = torch.from_numpy(x).contiguous(memory_format=fmt)
    wt = torch.from_numpy(w).contiguous(memory_format=fmt)
    gyt = torch.from_numpy(gy).contiguous(memory_format=fmt)
    bt = torch.from_numpy(b)
    stride = shape.kwargs.get("stride", 1)
    pad = shape.kwargs.get("padding", 0)
    stride, pad = (stride, stride) if isinstance(stride, int) else stride, (pad, pad) if isinstance(pad, int) else pad
    groups = shape.groups
    if which == "fwd":
        return lambda: torch.nn.functional.conv2d(xt, wt, bt, stride, pad, 1, groups)
    mask = [which == "bwd_data", which == "bwd_weight", False]
    return lambda: torch.ops.aten.convolution_backward(gyt, xt, wt, None, list(stride), list(pad), [1, 1], False,
                                                       [0, 0], groups, mask)


SETTLE_S = 0.05  # see time_median
# Calls made, untimed, before timing: a CPU left idle for the settle pause runs short calls slowly for the next
# ~10 ms of work (small_1x32's 0.037 ms forward measured 0.050 ms over its first 50 calls; PyTorch's 0.110 ms
# 0.118), so a few warm-up calls measured the faster implementation less warmed up than the slower one.
WARMUP_S = 0.03


def warm_up(fn, calls=2, seconds=WARMUP_S):
    """Calls fn() at least `calls` times and for at least `seconds`."""
    start = time.perf_counter()
    done = 0
    while done < calls or time.perf_counter() - start < seconds:
        fn()
        done += 1


def time_median(fn, repeats=None, budget=1.0, warmup=2):
    """Median seconds of fn() over repeats (chosen to fill about `budget` seconds, at least 3, at most 50).

    Starts after a short pause: the thread pool of the implementation timed before (PyTorch's OpenMP, NumPy's BLAS)
    keeps its threads spinning for a while after its last call, and on a 2-core machine they would take the cores
    from a short call timed right after (the MNIST pooling row measured 2x slower in some runs). Then warms up
    (warm_up: at least `warmup` calls and WARMUP_S seconds)."""
    time.sleep(SETTLE_S)
    warm_up(fn, warmup)
    if repeats is None:
        t = time.perf_counter()
        fn()
        once = max(time.perf_counter() - t, 1e-6)
        repeats = int(min(50, max(3, budget / once)))
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def fma_peak_gflops(threads):
    """This machine's FMA peak in GFLOP/s on `threads` threads with the ISA in use (best of 5 short runs)."""
    best = 0.0
    steps = 2_000_000
    for _ in range(5):
        t = time.perf_counter()
        flops = _C.fma_peak(threads, steps)
        best = max(best, flops / (time.perf_counter() - t) / 1e9)
    return best


def run_conv(shapes, layouts=LAYOUTS, passes=PASSES, with_reference=True, with_torch=True, budget=1.0):
    """Times every (shape, layout, pass); returns a list of result dicts."""
    rows = []
    for shape in shapes:
        for layout in layouts:
            for which in passes:
                row = dict(shape=shape.id, layout=layout, op=which, gflop=shape.flops / 1e9)
                row["fastconv_s"] = time_median(conv_callable(F, shape, which, layout), budget=budget)
                if with_reference:
                    row["reference_s"] = time_median(conv_callable(R, shape, which, layout), budget=budget,
                                                     warmup=1)
                torch_fn = torch_conv_callable(shape, which, layout) if with_torch else None
                if torch_fn is not None:
                    row["torch_s"] = time_median(torch_fn, budget=budget)
                rows.append(row)
    return rows


def torch_pool_callables(shape, layout, y, idx):
    """PyTorch's max pooling forward (with indices) and backward on the same data; (None, None) without torch."""
    try:
        import torch
    except ImportError:
        return None, None
    fmt = torch.channels_last if layout == "NHWC" else torch.contiguous_format
    xt = torch.from_numpy(shape.arrays("NCHW")).contiguous(memory_format=fmt)
    kernel, stride, pad = [shape.kernel] * 2, [shape.stride] * 2, [shape.padding] * 2
    yt, it = torch.nn.functional.max_pool2d(xt, kernel, stride, pad, return_indices=True)
    gyt = torch.ones_like(yt)

    def fwd():
        return torch.nn.functional.max_pool2d(xt, kernel, stride, pad, return_indices=True)

    def bwd():
        return torch.ops.aten.max_pool2d_with_indices_backward(gyt, xt, kernel, stride, pad, [1, 1], False, it)

    return fwd, bwd


def run_pool(shapes, layouts=LAYOUTS, with_torch=True, budget=0.5):
    """Times max pooling forward (with indices) and backward per (shape, layout); GB/s from shape.bytes."""
    rows = []
    for shape in shapes:
        for layout in layouts:
            x = shape.arrays(layout)
            y, idx = F.max_pool2d(x, shape.kernel, layout=layout, return_indices=True, **shape.kwargs)
            fwd = lambda: F.max_pool2d(x, shape.kernel, layout=layout, return_indices=True, **shape.kwargs)  # noqa
            bwd = lambda: F.max_pool2d_backward(y, idx, x.shape, layout=layout)  # noqa
            torch_fns = torch_pool_callables(shape, layout, y, idx) if with_torch else (None, None)
            for op, fn, torch_fn in (("pool_fwd", fwd, torch_fns[0]), ("pool_bwd", bwd, torch_fns[1])):
                row = dict(shape=shape.id, layout=layout, op=op, gbytes=shape.bytes / 1e9,
                           fastconv_s=time_median(fn, budget=budget))
                if torch_fn is not None:
                    row["torch_s"] = time_median(torch_fn, budget=budget)
                rows.append(row)
    return rows


def format_table(rows, peak):
    """Plain-text table: time, GFLOP/s (or GB/s), % of FMA peak, speed-ups."""
    head = (f"{'shape':<24}{'layout':<7}{'op':<11}{'fastconv ms':>12}{'GFLOP/s':>9}{'%peak':>7}"
            f"{'ref ms':>10}{'x ref':>8}{'torch ms':>10}{'x torch':>9}")
    lines = [head, "-" * len(head)]
    for r in rows:
        t = r["fastconv_s"]
        if "gflop" in r:
            rate = r["gflop"] / t
            rate_s, pct = f"{rate:9.1f}", f"{100 * rate / peak:6.0f}%"
        else:
            rate_s, pct = f"{r['gbytes'] / t:7.1f}GB", "      -"
        ref = f"{r['reference_s'] * 1e3:10.2f}{r['reference_s'] / t:8.1f}" if "reference_s" in r else " " * 18
        tor = f"{r['torch_s'] * 1e3:10.2f}{r['torch_s'] / t:9.2f}" if "torch_s" in r else ""
        lines.append(f"{r['shape']:<24}{r['layout']:<7}{r['op']:<11}{t * 1e3:12.3f}{rate_s}{pct}{ref}{tor}")
    return "\n".join(lines)


def plot(rows, path):
    try:
        import matplotlib
    except ImportError:
        raise SystemExit("fastconv bench: --plot needs matplotlib: pip install 'fastconv[bench]'") from None

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    conv = [r for r in rows if "gflop" in r]
    labels = [f"{r['shape']}\n{r['layout']} {r['op']}" for r in conv]
    fig, ax = plt.subplots(figsize=(max(8, len(conv) * 0.5), 5))
    xs = np.arange(len(conv))
    for i, (key, name) in enumerate((("fastconv_s", "fastconv"), ("reference_s", "NumPy reference"),
                                     ("torch_s", "PyTorch"))):
        vals = [r["gflop"] / r[key] if key in r else 0 for r in conv]
        ax.bar(xs + (i - 1) * 0.27, vals, 0.27, label=name)
    ax.set_xticks(xs, labels, rotation=90, fontsize=6)
    ax.set_ylabel("GFLOP/s")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(args):
    """`fastconv bench`: see cli.py for the flags."""
    from . import set_num_threads, cpu_info

    if args.threads:
        set_num_threads(args.threads)
    threads = get_num_threads()
    try:
        import torch

        torch.set_num_threads(threads)
        torch_version = torch.__version__
    except ImportError:
        torch_version = None
    info = cpu_info()
    peak = fma_peak_gflops(threads)
    print(f"fastconv bench: {info['cpu']}, isa {info['isa']}, {threads} threads, FMA peak {peak:.0f} GFLOP/s "
          f"(measured), PyTorch {torch_version or 'not installed'}")
    layouts = [args.layout] if args.layout else list(LAYOUTS)
    shapes = select(args.shapes)
    conv = [s for s in shapes if not isinstance(s, PoolShape)]
    pool = [s for s in shapes if isinstance(s, PoolShape)]
    rows = run_conv(conv, layouts, with_reference=not args.no_reference, budget=args.budget)
    rows += run_pool(pool, layouts, budget=args.budget)
    print(format_table(rows, peak))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(machine=info, threads=threads, fma_peak_gflops=peak, torch=torch_version, results=rows),
                      f, indent=1)
        print(f"wrote {args.json}")
    if args.plot:
        plot(rows, args.plot)
        print(f"wrote {args.plot}")
    return 0
