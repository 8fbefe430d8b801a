"""Threads: the knob (set_num_threads, OMP_NUM_THREADS, threadpoolctl), determinism, and concurrent callers."""
import threading

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import fastconv
from cases import CASES, case
from fastconv import reference
from helpers import assert_close, run_python

BIG = [c for c in CASES if c.id in ("lenet_c2", "taps_gt_kc", "pixels_gt_nc", "mnist_seed", "depthwise")]
# Winograd's buffers under concurrent callers: each thread on its own tiles (64 -> 64, 32 tiles), and the weights
# transformed block by block (150 -> 72, 18 tiles).
WINOGRAD = [case("winograd_parts", c=64, h=16, w=16, k=64, padding=1, algorithm="winograd"),
            case("winograd_streamed", c=150, h=9, w=10, k=72, padding=1, algorithm="winograd")]


@pytest.fixture
def restore_threads():
    before = fastconv.get_num_threads()
    yield
    fastconv.set_num_threads(before)


def test_set_num_threads_is_read_back(restore_threads):
    fastconv.set_num_threads(1)
    assert fastconv.get_num_threads() == 1
    fastconv.set_num_threads(3)
    assert fastconv.get_num_threads() == 3


def test_set_num_threads_applies_to_other_python_threads(restore_threads):
    fastconv.set_num_threads(1)
    seen = []
    t = threading.Thread(target=lambda: seen.append(fastconv.get_num_threads()))
    t.start()
    t.join()
    assert seen == [1]


def test_default_follows_omp_num_threads():
    out = run_python("-c", "import fastconv; print(fastconv.get_num_threads())", env={"OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1"


def test_threadpoolctl_sees_and_limits_the_pool(restore_threads):
    fastconv.conv2d(np.ones((1, 1, 4, 4)), np.ones((1, 1, 2, 2)))
    assert any(info["user_api"] == "openmp" for info in threadpool_info())
    with threadpool_limits(limits=1, user_api="openmp"):
        assert fastconv.get_num_threads() == 1
    assert fastconv.get_num_threads() == fastconv.cpu_info()["threads"]


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("case", BIG, ids=lambda c: c.id)
def test_results_do_not_depend_on_thread_count_beyond_rounding(case, layout, rng, restore_threads):
    x, w, b = case.arrays(rng, np.float32, layout)
    kw = dict(case.kwargs, layout=layout)
    g = rng.standard_normal(reference.conv2d(x, w, **kw).shape).astype(np.float32)
    runs = {}
    for threads in (1, 2, 3):
        fastconv.set_num_threads(threads)
        y = fastconv.conv2d(x, w, b, **kw)
        grads = fastconv.conv2d_backward(g, x, w, **kw)
        assert all(np.array_equal(a, c) for a, c in zip(grads, fastconv.conv2d_backward(g, x, w, **kw))), \
            "not bitwise repeatable at a fixed thread count"
        runs[threads] = (y, grads)
    for threads in (2, 3):
        np.testing.assert_array_equal(runs[threads][0], runs[1][0])  # forward: each output computed by one thread
        np.testing.assert_array_equal(runs[threads][1][0], runs[1][1][0])  # bwd data: one owner per element
        assert_close(runs[threads][1][1], runs[1][1][1], g.size)  # reductions split by thread count
        assert_close(runs[threads][1][2], runs[1][1][2], g.size)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_pooling_is_bitwise_equal_across_thread_counts(layout, rng, restore_threads):
    x = rng.standard_normal((4, 9, 17, 13)).astype(np.float32)
    out = []
    for threads in (1, 2):
        with threadpool_limits(limits=threads, user_api="openmp"):
            y, idx = fastconv.max_pool2d(x, 3, stride=2, padding=1, layout=layout, return_indices=True)
            out.append((y, idx, fastconv.max_pool2d_backward(y, idx, x.shape, layout=layout)))
    for a, b in zip(*out):
        np.testing.assert_array_equal(a, b)


def test_concurrent_calls_from_python_threads_match_serial_calls(rng):
    cases = [(c, rng) for c in BIG + WINOGRAD]
    inputs = [c.arrays(np.random.default_rng(i), np.float32, "NCHW" if i % 2 else "NHWC") + (c,)
              for i, c in enumerate(c for c, _ in cases * 2)]

    def work(i):
        x, w, b, case = inputs[i]
        kw = dict(case.kwargs, layout="NCHW" if i % 2 else "NHWC")
        y = fastconv.conv2d(x, w, b, **kw)
        gx, gw, gb = fastconv.conv2d_backward(y, x, w, **kw)
        p = fastconv.max_pool2d(x, 2, layout=kw["layout"])
        return y, gx, gw, gb, p

    serial = [work(i) for i in range(len(inputs))]
    results = [None] * len(inputs)
    errors = []

    def run(i):
        try:
            for _ in range(3):
                results[i] = work(i)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for got, want in zip(results, serial):
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)


def _child_conv(x, w, queue):
    queue.put(fastconv.conv2d(x, w, padding=1))
    queue.put(fastconv.max_pool2d(x, 2))


def test_forked_child_can_call_the_kernels_without_hanging(rng):
    """GNU OpenMP's pool does not survive fork; fastconv runs a forked child's kernels on one thread."""
    import multiprocessing

    x = rng.standard_normal((4, 8, 20, 20)).astype(np.float32)
    w = rng.standard_normal((8, 8, 3, 3)).astype(np.float32)
    want = fastconv.conv2d(x, w, padding=1)  # uses (and so creates) the OpenMP pool before forking
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_child_conv, args=(x, w, queue))
    child.start()
    try:  # read before joining: the child cannot exit while its results still fill the pipe
        got_conv, got_pool = queue.get(timeout=60), queue.get(timeout=60)
    except Exception:  # noqa: BLE001 - queue.Empty: the child is stuck
        child.kill()
        pytest.fail("the forked child hung in a kernel")
    child.join(60)
    assert child.exitcode == 0
    np.testing.assert_allclose(got_conv, want, rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(got_pool, fastconv.max_pool2d(x, 2))


def test_set_num_threads_while_another_thread_computes(rng, restore_threads):
    x = rng.standard_normal((8, 16, 24, 24)).astype(np.float32)
    w = rng.standard_normal((16, 16, 3, 3)).astype(np.float32)
    want = fastconv.conv2d(x, w, padding=1)
    stop = threading.Event()
    results, errors = [], []

    def compute():
        try:
            while not stop.is_set():
                results.append(fastconv.conv2d(x, w, padding=1))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    t = threading.Thread(target=compute)
    t.start()
    for i in range(200):
        fastconv.set_num_threads(1 + i % 3)
    stop.set()
    t.join()
    assert not errors and results
    for got in results:  # forward results do not depend on the thread count
        np.testing.assert_array_equal(got, want)
