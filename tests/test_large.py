"""64-bit indexing: an input of more than 2**31 elements is handled without wrapping around."""
import numpy as np
import pytest

import fastconv

W = 2**30 + 2**17  # 2 rows of W float32 = 2**31 + 2**18 elements (8 GiB)
BLOCK = 2**15


def available_bytes():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


@pytest.mark.skipif(available_bytes() < 12 * 2**30, reason="needs 12 GiB of free memory for an 8 GiB input")
def test_inputs_beyond_2_to_the_31_elements():
    x = np.zeros((1, 1, 2, W), np.float32)
    col = W - BLOCK  # in the second row, at a window start: flat position W + col > 2**31 in the plane
    x[0, 0, 1, col] = 7.0
    y, idx = fastconv.max_pool2d(x, (2, BLOCK), return_indices=True)
    assert y.shape == (1, 1, 1, W // BLOCK)
    assert y[0, 0, 0, col // BLOCK] == 7.0
    assert idx[0, 0, 0, col // BLOCK] == W + col > 2**31  # the flat index did not wrap
    assert idx.min() >= 0
    w = np.array([[[[1.0], [2.0]]]], np.float32)  # (K=1, C=1, R=2, S=1): y = x[row 0] + 2 x[row 1]
    out = fastconv.conv2d(x, w, stride=(1, BLOCK))
    assert out.shape == (1, 1, 1, W // BLOCK)
    assert out[0, 0, 0, col // BLOCK] == 14.0  # read at element offset W + col of the input
    assert out[0, 0, 0, 0] == 0.0 and np.count_nonzero(out) == 1
