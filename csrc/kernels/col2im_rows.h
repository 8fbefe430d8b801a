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

template <typename T, int W>
void col2im_rows(const Col2imPlanes<T>& c, T* gx) {
  using V = typename RowVec<T, W>::V;
  using Range = LaneRange<V, T>;
  const int64_t H = c.H, Wd = c.W, P = c.P, Q = c.Q, R = c.R, S = c.S, ld = c.tap_ld, dh = c.dil_h;
  const int64_t nvec = div_up(Wd, W);
  for (int64_t ch = 0; ch < c.planes; ++ch, gx += H * Wd) {
    const T* taps = c.col + ch * R * S * ld;
    for (int64_t v = 0; v < nvec; ++v) {
      const int64_t w0 = v * W;  // gx column of lane 0
      // Kernel column s reads gy column q = w + left - s * dil_w: the lanes where 0 <= q < Q (and w < W), the
      // same in every row. Masked loads read nothing outside them, so a row's first and last taps may point
      // before or past Col's ends.
      std::array<Range, COL2IM_MAX_S> lanes;  // (trivially constructed: only the first S are set)
      std::array<int64_t, COL2IM_MAX_S> shift;
      for (int64_t s = 0; s < S; ++s) {
        shift[s] = w0 + c.left - s * c.dil_w;
        const int64_t end = std::min(Q - shift[s], Wd - w0);
        lanes[s] = Range(std::clamp<int64_t>(-shift[s], 0, W), std::clamp<int64_t>(end, 0, W));
      }
      for (int64_t h = 0; h < H; ++h) {
        // Kernel row r reads gy row p = h + top - r * dil_h: the r with 0 <= p < P.
        const int64_t top = h + c.top;
        const int64_t r0 = top < P ? 0 : dh == 1 ? top - P + 1 : (top - P) / dh + 1;
        const int64_t r1 = std::min(R, (dh == 1 ? top : top / dh) + 1);
        V even{}, odd{};  // two sums: half the chain of dependent adds
        for (int64_t r = r0; r < r1; ++r) {
          const T* row = taps + r * S * ld + (top - r * dh) * Q;
          int64_t s = 0;
          for (; s + 1 < S; s += 2) {
            even += lanes[s].load(row + s * ld + shift[s]);
            odd += lanes[s + 1].load(row + (s + 1) * ld + shift[s + 1]);
          }
          if (s < S) even += lanes[s].load(row + s * ld + shift[s]);
        }
        store_output(gx + h * Wd + w0, even + odd, Wd - w0, false);
      }
    }
  }
}

}  // namespace
}  // namespace fastconv
