"""pytest-benchmark suites: run with `pytest benchmarks/ --benchmark-only --benchmark-group-by=param:shape`.

Each benchmark stores flops (or bytes) and the thread count in extra_info; the hook below adds GFLOP/s (GB/s) and
% of the measured FMA peak to the JSON report. Not part of the normal test run (tests/ is the testpath).
"""
import pytest

import fastconv
from fastconv import bench

IMPLS = ["fastconv", "reference", "torch"]


@pytest.fixture(scope="session")
def fma_peak():
    return bench.fma_peak_gflops(fastconv.get_num_threads())


def pytest_benchmark_update_json(config, benchmarks, output_json):
    peak = bench.fma_peak_gflops(fastconv.get_num_threads())
    output_json["fma_peak_gflops"] = peak
    for b in output_json["benchmarks"]:
        info, median = b.get("extra_info", {}), b["stats"]["median"]
        if "flops" in info:
            info["gflops"] = info["flops"] / median / 1e9
            info["percent_of_peak"] = 100 * info["gflops"] / peak
        if "bytes" in info:
            info["gbytes_per_s"] = info["bytes"] / median / 1e9


def skip_unless_available(impl):
    if impl == "torch":
        pytest.importorskip("torch")
