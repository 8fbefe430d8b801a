// Shifted rows (DirectShiftRows in fastconv/kernel_table.h): the input rows of a one-channel image, cut to the
// output's columns and shifted by a kernel column's offset, for the shifted planes of operators/conv2d_direct.cpp.
// Rows of 28 values (LeNet) are 1 whole vector and 1 partial one: std::copy_n and std::fill compiled to calls of
// memmove and memset, several a row, each longer than the row's own work. Internal linkage, as everything compiled
// once per ISA (see gemm_tile.h).
#pragma once
#include <algorithm>
#include <cstdint>

#include "kernels/direct_common.h"

namespace fastconv {
namespace {

template <typename T, int W>
void shift_rows(const T* x, int64_t H, int64_t width, int64_t h0, int64_t rows, int64_t col0, int64_t Q, T* dst) {
  using V = typename RowVec<T, W>::V;
  const int64_t nvec = div_up(Q, W);
  const int64_t first = std::clamp<int64_t>(-h0, 0, rows), end = std::clamp<int64_t>(H - h0, first, rows);
  // A vector position at a time, down the rows, with its lane mask made once (the input columns it reads are the
  // same in every row). Whole vectors only: a row's last one runs into the next row's first values, which that
  // row's first vector, stored later (the positions go last to first), overwrites; past the last row, the W
  // zeros stored at the end do.
  for (int64_t v = nvec - 1; v >= 0; --v) {
    const int64_t c = col0 + v * W;  // the input column of lane 0
    const LaneRange<V, T> range(std::clamp<int64_t>(-c, 0, W), std::clamp<int64_t>(width - c, 0, W));
    T* d = dst + v * W;
    int64_t i = 0;
    for (; i < first; ++i) store_vec(d + i * Q, V{});  // rows above the image
    const T* src = x + (h0 + first) * width + c;
    for (; i < end; ++i, src += width) store_vec(d + i * Q, range.load(src));
    for (; i < rows; ++i) store_vec(d + i * Q, V{});  // rows below it
  }
  store_vec(dst + rows * Q, V{});
}

}  // namespace
}  // namespace fastconv
