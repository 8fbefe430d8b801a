"""Shared fixtures: random generator and the ISA sweep."""
import numpy as np
import pytest

import fastconv
from fastconv import _C, _pooling, runtime

ISAS = ["avx512", "avx2", "generic"]


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(params=ISAS)
def isa(request):
    """Runs the test once per kernel table; skips ISAs this CPU lacks. Restores the import-time choice."""
    if request.param not in _C.available_isas():
        pytest.skip(f"this CPU cannot run {request.param} (available: {', '.join(_C.available_isas())})")
    before = _C.isa()
    runtime._use_isa(request.param)
    assert fastconv.cpu_info()["isa"] == request.param
    assert _pooling.isa() == request.param
    yield request.param
    runtime._use_isa(before)


def pytest_report_header(config):
    info = fastconv.cpu_info()
    return f"fastconv {fastconv.__version__}: isa={info['isa']} available={info['available_isas']} " \
           f"threads={info['threads']} cpu={info['cpu']}"
