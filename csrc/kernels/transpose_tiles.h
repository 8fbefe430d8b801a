// Matrix transpose in register tiles (TransposeKernel in fastconv/kernel_table.h): W x W blocks of W-lane vectors
// are loaded row by row, transposed in log2(W) rounds of two-source shuffles, and stored row by row; edge blocks
// load and store only their part (masked). The value-by-value copy it replaces moved one element a cycle at best: 15%
// of a 512-channel NCHW Winograd forward (its OIHW weights gathered into slices) and 3-30% of other NCHW passes.
// Written once with GCC vector extensions; each kernels/<isa>/ file instantiates it with its own vector width and
// flags (internal linkage, as in gemm_tile.h).
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <utility>

#include "kernels/vector_io.h"

namespace fastconv {
namespace {

// The two shuffles of one round, at block size S: row pair (a, b) -> a takes the lanes of a whose bit S is clear
// and b's lanes below them; b takes a's lanes above and b's own. After the rounds S = W/2, ..., 1, row i holds
// column i: each round swaps the off-diagonal S x S blocks of every 2S x 2S block. (Masks as constant vectors:
// built at run time they cost a guarded static per round.)
template <int W, int S>
constexpr int low_lane(int j) { return (j & S) ? W + j - S : j; }
template <int W, int S>
constexpr int high_lane(int j) { return (j & S) ? W + j : j + S; }

template <typename T, int W, int S, int... J>
inline void transpose_round(typename SimdVec<T, W>::type (&v)[W], std::integer_sequence<int, J...> lanes) {
  if constexpr (S >= 1) {
    typedef typename LaneIndex<T>::type I;
    typedef I M __attribute__((vector_size(W * sizeof(I))));
    constexpr M lo{low_lane<W, S>(J)...}, hi{high_lane<W, S>(J)...};
#pragma GCC unroll 16
    for (int i = 0; i < W; ++i) {
      if (i & S) continue;
      const auto a = v[i], b = v[i + S];
      v[i] = __builtin_shuffle(a, b, lo);
      v[i + S] = __builtin_shuffle(a, b, hi);
    }
    transpose_round<T, W, S / 2>(v, lanes);
  }
}

// dst[j * dst_ld + i] = src[i * src_ld + j] for i < m, j < n of a W x W block (an edge block, where m or n < W:
// masked loads and stores, the missing rows zero). Narrow matrices are mostly edge: the 6 channels of a LeNet band.
template <typename T, int W, bool FULL>
inline void transpose_tile(const T* src, int64_t src_ld, T* dst, int64_t dst_ld, int64_t m = W, int64_t n = W) {
  typedef typename SimdVec<T, W>::type V;
  V v[W];
#pragma GCC unroll 16
  for (int i = 0; i < W; ++i) {
    if (FULL || n == W) v[i] = FULL || i < m ? load_vec<V>(src + i * src_ld) : V{};
    else v[i] = i < m ? load_first<V>(src + i * src_ld, n) : V{};
  }
  transpose_round<T, W, W / 2>(v, std::make_integer_sequence<int, W>{});
#pragma GCC unroll 16
  for (int j = 0; j < W; ++j) {
    if (FULL || m == W) {
      if (FULL || j < n) store_vec(dst + j * dst_ld, v[j]);
    } else if (j < n) {
      store_first(dst + j * dst_ld, v[j], m);
    }
  }
}

// dst[j * dst_ld + i] = src[i * src_ld + j] for a rows x cols src, in 32 x 32 cache blocks (both sides read and
// written in whole lines), each of W x W register tiles.
template <typename T, int W>
void transpose_matrix(const T* src, int64_t rows, int64_t cols, int64_t src_ld, T* dst, int64_t dst_ld) {
  constexpr int64_t B = 32;
  for (int64_t i0 = 0; i0 < rows; i0 += B)
    for (int64_t j0 = 0; j0 < cols; j0 += B)
      for (int64_t i = i0; i < std::min(rows, i0 + B); i += W)
        for (int64_t j = j0; j < std::min(cols, j0 + B); j += W) {
          const T* s = src + i * src_ld + j;
          T* d = dst + j * dst_ld + i;
          const int64_t m = std::min<int64_t>(W, rows - i), n = std::min<int64_t>(W, cols - j);
          if (m == W && n == W) transpose_tile<T, W, true>(s, src_ld, d, dst_ld);
          else transpose_tile<T, W, false>(s, src_ld, d, dst_ld, m, n);
        }
}

}  // namespace
}  // namespace fastconv
