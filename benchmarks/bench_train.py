"""End to end: one training epoch of the MNIST seed network (batch 32, Adam) on each backend, full MNIST."""
import pytest

import fastconv
from conftest import IMPLS, skip_unless_available
from fastconv import _bench_train
from fastconv.datasets import mnist


@pytest.fixture(scope="module")
def data():
    try:
        return _bench_train.mnist_arrays()
    except mnist.MNISTError as e:
        pytest.skip(f"MNIST not available (set FASTCONV_DATA): {e}")


@pytest.mark.parametrize("impl", IMPLS)
def test_mnist_epoch(benchmark, data, impl):
    skip_unless_available(impl)
    x, y = data
    if impl == "torch":
        import torch

        torch.set_num_threads(fastconv.get_num_threads())
        epoch = _bench_train.torch_epoch(x, y)
    else:
        epoch = _bench_train.fastconv_epoch(impl, x, y)
    benchmark.extra_info.update(threads=fastconv.get_num_threads(), steps=-(-len(x) // 32))
    benchmark.pedantic(epoch, rounds=1 if impl == "reference" else 3, warmup_rounds=0)
