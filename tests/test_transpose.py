"""The kernel tables' transposes (csrc/kernels/transpose_tiles.h), which every layout change of the NCHW passes and
of the direct row bands goes through: W x W register tiles, and narrow transposes (2 to W / 2 - 1 channel rows to
contiguous pixels, or back) by blocks of W pixels with the rest in tiles. Through the test-only _C._transpose."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastconv
from fastconv import _C
from helpers import isa_and_threads


def transposed(src, dst_ld):
    """src.T by the active kernel table into a buffer whose rows are dst_ld apart (the padding stays NaN)."""
    rows, cols = src.shape
    out = np.full((cols, dst_ld), np.nan, src.dtype)
    _C._transpose(src, out)
    assert np.isnan(out[:, rows:]).all()  # nothing written past a row
    return out[:, :rows]


def source(rng, rows, cols, src_ld, dtype):
    """A rows x cols matrix whose rows are src_ld apart (a view)."""
    return rng.standard_normal((rows, src_ld)).astype(dtype)[:, :cols]


# Narrow shapes both ways (rows 2-7 to contiguous pixels, contiguous pixels of 2-7 values back), pixel counts
# around multiples of every ISA's vector, and tiles with edges; strided sides where the narrow path needs the
# other side contiguous.
@pytest.mark.parametrize("narrow", range(1, 10))
@pytest.mark.parametrize("pixels", [1, 7, 8, 15, 16, 17, 33, 48, 100])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_narrow_transposes_match_numpy(narrow, pixels, dtype, isa, rng):
    channels_first = source(rng, narrow, pixels, pixels + 3, dtype)
    np.testing.assert_array_equal(transposed(channels_first, narrow), channels_first.T)
    np.testing.assert_array_equal(transposed(channels_first, narrow + 2), channels_first.T)
    pixels_first = source(rng, pixels, narrow, narrow, dtype)
    np.testing.assert_array_equal(transposed(pixels_first, pixels + 5), pixels_first.T)
    strided = source(rng, pixels, narrow, narrow + 1, dtype)
    np.testing.assert_array_equal(transposed(strided, pixels), strided.T)


@settings(max_examples=60, deadline=None)
@given(isa=st.sampled_from(_C.available_isas()), rows=st.integers(1, 70), cols=st.integers(1, 70),
       src_pad=st.integers(0, 3), dst_pad=st.integers(0, 3), dtype=st.sampled_from([np.float32, np.float64]),
       seed=st.integers(0, 2**32 - 1))
def test_transpose_property_based(isa, rows, cols, src_pad, dst_pad, dtype, seed):
    src = source(np.random.default_rng(seed), rows, cols, cols + src_pad, dtype)
    with isa_and_threads(isa, fastconv.get_num_threads()):
        np.testing.assert_array_equal(transposed(src, rows + dst_pad), src.T)
