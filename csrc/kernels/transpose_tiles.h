// Matrix transpose in register tiles (TransposeKernel in fastconv/kernel_table.h): W x W blocks of W-lane vectors
// are loaded row by row, transposed in log2(W) rounds of two-source shuffles, and stored row by row; edge blocks
// load and store only their part (masked); matrices of 2 to W / 2 - 1 rows to or from contiguous pixels take
// narrow transposes (below). The value-by-value copy it replaces moved one element a cycle at best: 15%
// of a 512-channel NCHW Winograd forward (its OIHW weights gathered into slices) and 3-30% of other NCHW passes.
// Written once with GCC vector extensions; each kernels/<isa>/ file instantiates it with its own vector width and
// flags (internal linkage, as in gemm_tile.h).
#pragma once
#include <algorithm>
#include <array>
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

// Narrow transposes: K < W / 2 rows (channels) of W columns (pixels) to W pixels of K channels, contiguous, or
// back. The K vectors of one side each take lanes from all K vectors of the other: per output vector, one
// two-source shuffle per pair of inputs and a blend per pair after the first, ~K / W shuffles a value, where a
// W x W tile holding K rows takes log2(W) / K (LeNet's 6 channels, 16 floats: 0.38 against 0.67, and its stores
// are whole vectors, not K masked ones).
// Lane j of output vector o reads lane lane_of(o, j) of input vector source_of(o, j). Interleave (channel rows to
// pixels): output value f = o * W + j is pixel f / K, channel f % K. Deinterleave: output row o, pixel j, is input
// value j * K + o.
template <int W, int K, bool INTERLEAVE>
struct NarrowMap {
  static constexpr int source_of(int o, int j) { return INTERLEAVE ? (o * W + j) % K : (j * K + o) / W; }
  static constexpr int lane_of(int o, int j) { return INTERLEAVE ? (o * W + j) / K : (j * K + o) % W; }
};

// Pair q of output vector O: inputs 2q and 2q + 1 (2q alone for an odd K's last) shuffled into the lanes they
// feed, then blended into out over those lanes.
template <typename T, int W, int K, bool INTERLEAVE, int O, int Q, int... J>
inline void narrow_pair(typename SimdVec<T, W>::type& out, const typename SimdVec<T, W>::type (&in)[K],
                        std::integer_sequence<int, J...>) {
  typedef typename LaneIndex<T>::type I;
  typedef I M __attribute__((vector_size(W * sizeof(I))));
  using Map = NarrowMap<W, K, INTERLEAVE>;
  constexpr M pick{(Map::source_of(O, J) / 2 == Q ? Map::lane_of(O, J) + W * (Map::source_of(O, J) & 1) : 0)...};
  const auto part = __builtin_shuffle(in[2 * Q], in[std::min(2 * Q + 1, K - 1)], pick);
  if constexpr (Q == 0) {
    out = part;
  } else {
    constexpr M blend{(Map::source_of(O, J) / 2 == Q ? W + J : J)...};
    out = __builtin_shuffle(out, part, blend);
  }
}

template <typename T, int W, int K, bool INTERLEAVE, int O, int... Q>
inline typename SimdVec<T, W>::type narrow_output(const typename SimdVec<T, W>::type (&in)[K],
                                                  std::integer_sequence<int, Q...>) {
  typename SimdVec<T, W>::type out{};
  (narrow_pair<T, W, K, INTERLEAVE, O, Q>(out, in, std::make_integer_sequence<int, W>{}), ...);
  return out;
}

template <typename T, int W, int K, bool INTERLEAVE, int... O>
inline void narrow_block(const typename SimdVec<T, W>::type (&in)[K], typename SimdVec<T, W>::type (&out)[K],
                         std::integer_sequence<int, O...>) {
  ((out[O] = narrow_output<T, W, K, INTERLEAVE, O>(in, std::make_integer_sequence<int, (K + 1) / 2>{})), ...);
}

// Interleave: src K rows (ld apart) of n columns -> dst n x K, contiguous; deinterleave: src n x K, contiguous ->
// dst K rows (ld apart). Blocks of W pixels, the last one partial (masked loads and stores: the direct kernels'
// scratch rows of LeNet 6 -> 16, 14 pixels of 6 channels, are all partial block; as 16 x 16 edge tiles their fill
// took 9% of the layer's NHWC weight gradient in perf, 7% this way); returns how many pixels it did (all of them).
template <typename T, int W, int K, bool INTERLEAVE>
int64_t narrow_transpose(const T* src, int64_t ld, T* dst, int64_t n) {
  typedef typename SimdVec<T, W>::type V;
  for (int64_t j = 0; j < n; j += W) {
    const int64_t m = std::min<int64_t>(W, n - j);  // pixels in this block
    V in[K], out[K];
    if (m == W) {
#pragma GCC unroll 8
      for (int k = 0; k < K; ++k) in[k] = load_vec<V>(INTERLEAVE ? src + k * ld + j : src + j * K + k * W);
    } else {
#pragma GCC unroll 8
      for (int k = 0; k < K; ++k)  // interleaved side: the block's m x K values are its first vectors' lanes
        in[k] = INTERLEAVE ? load_first<V>(src + k * ld + j, m)
                           : load_first<V>(src + j * K + k * W, std::clamp<int64_t>(m * K - k * W, 0, W));
    }
    narrow_block<T, W, K, INTERLEAVE>(in, out, std::make_integer_sequence<int, K>{});
    if (m == W) {
#pragma GCC unroll 8
      for (int k = 0; k < K; ++k) store_vec(INTERLEAVE ? dst + j * K + k * W : dst + k * ld + j, out[k]);
    } else {
#pragma GCC unroll 8
      for (int k = 0; k < K; ++k) {
        if (INTERLEAVE) store_first(dst + j * K + k * W, out[k], std::clamp<int64_t>(m * K - k * W, 0, W));
        else store_first(dst + k * ld + j, out[k], m);
      }
    }
  }
  return n;
}

template <typename T, int W, bool INTERLEAVE, int... K>
constexpr std::array<int64_t (*)(const T*, int64_t, T*, int64_t), sizeof...(K)> narrow_table(
    std::integer_sequence<int, K...>) {
  return {narrow_transpose<T, W, K + 2, INTERLEAVE>...};
}

// dst[j * dst_ld + i] = src[i * src_ld + j] for a rows x cols src, in 32 x 32 cache blocks (both sides read and
// written in whole lines), each of W x W register tiles; narrow transposes (2 to W / 2 - 1 rows to contiguous
// pixels, or back) by blocks of W pixels instead.
template <typename T, int W>
void transpose_matrix(const T* src, int64_t rows, int64_t cols, int64_t src_ld, T* dst, int64_t dst_ld) {
  if constexpr (W / 2 - 1 >= 2) {
    constexpr auto kinds = std::make_integer_sequence<int, W / 2 - 2>{};
    static constexpr auto interleave = narrow_table<T, W, true>(kinds);
    static constexpr auto deinterleave = narrow_table<T, W, false>(kinds);
    if (rows >= 2 && rows < W / 2 && dst_ld == rows) {
      const int64_t done = interleave[rows - 2](src, src_ld, dst, cols);
      src += done, dst += done * dst_ld, cols -= done;
    } else if (cols >= 2 && cols < W / 2 && src_ld == cols) {
      const int64_t done = deinterleave[cols - 2](src, dst_ld, dst, rows);
      src += done * src_ld, dst += done, rows -= done;
    }
  }
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
