// col2im as a gather along input-gradient rows (Col2imKernel in fastconv/kernel_table.h), for the GEMM input
// gradient at unit stride (NCHW planes; NHWC layers through copies): each vector of a gx row sums, in a register,
// the Col values of every tap that reads it, then is stored once. A scatter adds each Col value into gx in memory
// instead: with images of LeNet's 100 pixels, its runs of 10 values were shorter than the per-run bookkeeping (63%
// of that pass's time).
// Internal linkage, as everything compiled once per ISA (see gemm_tile.h).
#pragma once
#include <algorithm>
#include <array>
#include <cstdint>

#include "fastconv/kernel_table.h"
#include "kernels/direct_common.h"

namespace fastconv {
namespace {

// The planes with FS kernel columns known at compile time (FS > 0), or any number (FS = 0, c.S). Known, the column
// loop unrolls: each column's lane mask and Col offset stay in registers and each column sums into a register of
// its own (LeNet 6 -> 16's input gradient, 5 columns: the loop over them, its masks and offsets reloaded for every
// load and two sums, took a quarter of the pass).
template <typename T, int W, int FS>
void col2im_planes(const Col2imPlanes<T>& c, T* gx) {
  using V = typename RowVec<T, W>::V;
  using Range = LaneRange<V, T>;
  const int64_t H = c.H, Wd = c.W, P = c.P, Q = c.Q, R = c.R, S = FS > 0 ? FS : c.S, ld = c.tap_ld, dh = c.dil_h;
  const int64_t nvec = div_up(Wd, W), r_step = S * ld - dh * Q;  // Col offset from kernel row r to r + 1
  for (int64_t ch = 0; ch < c.planes; ++ch, gx += H * Wd) {
    const T* taps = c.col + ch * R * S * ld;
    for (int64_t v = 0; v < nvec; ++v) {
      const int64_t w0 = v * W;  // gx column of lane 0
      // Kernel column s reads gy column q = w + left - s * dil_w: the lanes where 0 <= q < Q (and w < W), the
      // same in every row, at Col offset off[s] from the kernel row's gy row. Masked loads read nothing outside
      // them, so a row's first and last taps may point before or past Col's ends.
      std::array<Range, COL2IM_MAX_S> lanes;  // (trivially constructed: only the first S are set)
      std::array<int64_t, COL2IM_MAX_S> off;
      for (int64_t s = 0; s < S; ++s) {
        const int64_t shift = w0 + c.left - s * c.dil_w, end = std::min(Q - shift, Wd - w0);
        off[s] = s * ld + shift;
        lanes[s] = Range(std::clamp<int64_t>(-shift, 0, W), std::clamp<int64_t>(end, 0, W));
      }
      for (int64_t h = 0; h < H; ++h) {
        // Kernel row r reads gy row p = h + top - r * dil_h: the r with 0 <= p < P.
        const int64_t top = h + c.top;
        const int64_t r0 = top < P ? 0 : dh == 1 ? top - P + 1 : (top - P) / dh + 1;
        const int64_t r1 = std::min(R, (dh == 1 ? top : top / dh) + 1);
        const T* row = taps + top * Q + r0 * r_step;
        V sum;
        if constexpr (FS > 0) {
          V acc[FS] = {};
          for (int64_t r = r0; r < r1; ++r, row += r_step) {
#pragma GCC unroll 32
            for (int s = 0; s < FS; ++s) acc[s] += lanes[s].load(row + off[s]);
          }
          sum = acc[0];
#pragma GCC unroll 32
          for (int s = 1; s < FS; ++s) sum += acc[s];
        } else {
          V even{}, odd{};  // two sums: half the chain of dependent adds
          for (int64_t r = r0; r < r1; ++r, row += r_step) {
            int64_t s = 0;
            for (; s + 1 < S; s += 2) {
              even += lanes[s].load(row + off[s]);
              odd += lanes[s + 1].load(row + off[s + 1]);
            }
            if (s < S) even += lanes[s].load(row + off[s]);
          }
          sum = even + odd;
        }
        store_output(gx + h * Wd + w0, sum, Wd - w0, false);
      }
    }
  }
}

// The common kernel widths (1 to 7 columns) with their column loops unrolled; wider kernels by the general loop.
template <typename T, int W>
void col2im_rows(const Col2imPlanes<T>& c, T* gx) {
  switch (c.S) {
    case 1: return col2im_planes<T, W, 1>(c, gx);
    case 2: return col2im_planes<T, W, 2>(c, gx);
    case 3: return col2im_planes<T, W, 3>(c, gx);
    case 4: return col2im_planes<T, W, 4>(c, gx);
    case 5: return col2im_planes<T, W, 5>(c, gx);
    case 6: return col2im_planes<T, W, 6>(c, gx);
    case 7: return col2im_planes<T, W, 7>(c, gx);
    default: return col2im_planes<T, W, 0>(c, gx);
  }
}

}  // namespace
}  // namespace fastconv
