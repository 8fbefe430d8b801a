"""Threads and CPU facts shared by both compiled modules.

Thread count: a per-thread OpenMP limit (threadpoolctl's threadpool_limits, or omp_set_num_threads) wins; else the
process-wide value of set_num_threads; else OpenMP's default (OMP_NUM_THREADS, or the cores available).
"""
import os
import platform

from . import _C, _pooling

_OPENMP_DEFAULT = _C.omp_max_threads()  # OpenMP's default as seen at import (OMP_NUM_THREADS or cores)
_process_threads = None  # set by set_num_threads
_forked_child = False  # GNU OpenMP's thread pool does not survive fork: a forked child runs kernels on one thread


def _use_isa(isa):
    """Runs both compiled modules' kernels built for `isa` (tests sweep the ISAs with it; FASTCONV_ISA picks it at
    import). Never while kernels run."""
    _C._use_isa(isa)
    _pooling.use_isa(isa)


_pooling.use_isa(_C.isa())  # the pooling module's vector loops follow the convolution kernels' choice


def _after_fork_in_child():
    global _forked_child
    _forked_child = True


os.register_at_fork(after_in_child=_after_fork_in_child)


def set_num_threads(n):
    """Use `n` threads (>= 1) for every later kernel call, from any Python thread.

    Raises
    ------
    TypeError, ValueError
        If n is not a positive integer.
    """
    from ._args import as_int

    n = as_int("set_num_threads", "n", n)
    if n < 1:
        raise ValueError(f"set_num_threads: n must be >= 1, got {n}")
    global _process_threads
    _process_threads = n
    _C.omp_set_threads(n)  # also this thread's OpenMP limit, so threadpoolctl reads and restores it


def get_num_threads():
    """Threads the next kernel call from this Python thread will use (1 in a child forked from this process:
    its OpenMP pool cannot be used there)."""
    if _forked_child:
        return 1
    omp = _C.omp_max_threads()
    # OpenMP limits are per calling thread: a value differing from the default was set on this thread (by
    # threadpoolctl or set_num_threads) and wins; other threads still see the default and follow set_num_threads.
    if omp != _OPENMP_DEFAULT or _process_threads is None:
        return omp
    return _process_threads


def _openmp_runtime():
    """File name of the OpenMP runtime loaded into this process (libgomp, libomp, libiomp), if any."""
    try:
        with open("/proc/self/maps") as f:
            libs = {line.rsplit("/", 1)[-1].strip() for line in f if "omp" in line.rsplit("/", 1)[-1]}
    except OSError:
        return None
    return ", ".join(sorted(libs)) or None


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_info():
    """What fastconv runs with: ISA in use and available, threads, OpenMP runtime, compiler.

    Returns
    -------
    dict
        Keys: isa, available_isas, forced_isa (FASTCONV_ISA or None), threads, cores, openmp_version,
        openmp_runtime, cpu, compiler, flags.
    """
    build = _C.build_info()
    return {
        "isa": _C.isa(),
        "available_isas": list(_C.available_isas()),
        "forced_isa": os.environ.get("FASTCONV_ISA") or None,
        "threads": get_num_threads(),
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "openmp_version": build["openmp"],
        "openmp_runtime": _openmp_runtime(),
        "cpu": _cpu_model(),
        "compiler": build["compiler"],
        "flags": build.get("flags"),
    }
