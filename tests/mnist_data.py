"""Access to the real MNIST files for tests: through FASTCONV_DATA, required in CI, skipped elsewhere if absent."""
import os

import pytest

from fastconv.datasets import mnist


def load_or_skip():
    try:
        return mnist.load_data()
    except mnist.MNISTError as e:
        if os.environ.get("CI"):
            raise  # CI must run the full-MNIST tests: .ci/run sets FASTCONV_DATA
        pytest.skip(f"MNIST not available here (set FASTCONV_DATA): {e}")
