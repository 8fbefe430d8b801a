// Blocked matrix transposes: NCHW <-> NHWC copies of whole tensors, and weight-gradient layouts.
#pragma once
#include <algorithm>
#include <cstdint>

#include "fastconv/cpu.h"
#include "fastconv/parallel.h"

namespace fastconv {

// dst[j * dst_ld + i] = src[i * src_ld + j] for a rows x cols src, by the active ISA's kernel (register tiles in
// cache blocks).
template <typename T>
void transpose(const T* src, int64_t rows, int64_t cols, int64_t src_ld, T* dst, int64_t dst_ld) {
  active_kernels().transpose<T>()(src, rows, cols, src_ld, dst, dst_ld);
}

// The same for a src of rows stored one after another (src_ld = cols).
template <typename T>
void transpose(const T* src, int64_t rows, int64_t cols, T* dst, int64_t ld) {
  transpose(src, rows, cols, cols, dst, ld);
}

// dst (N, cols, rows) = src (N, rows, cols) transposed per image: NCHW <-> NHWC. Units are bands of 32 rows.
template <typename T>
void transpose_planes(const T* src, T* dst, int64_t N, int64_t rows, int64_t cols, int threads) {
  constexpr int64_t B = 32;
  const int64_t bands = ceil_div(rows, B);
  parallel_for(N * bands, threads, [&](int64_t u) {
    const int64_t n = u / bands, i0 = u % bands * B;
    transpose(src + n * rows * cols + i0 * cols, std::min(B, rows - i0), cols, dst + n * rows * cols + i0, rows);
  });
}

// A weight gradient computed in HWIO (R, S, Cg, K) written as OIHW (K, Cg, R, S), in blocks of 16 output channels:
// each HWIO cache line is read once, each OIHW row written in order.
template <typename T>
void hwio_to_oihw(const T* hwio, int64_t K, int64_t Cg, int64_t RS, T* oihw, int threads) {
  constexpr int64_t KB = 16;
  parallel_for(ceil_div(K, KB), threads, [&](int64_t kb) {
    const int64_t k0 = kb * KB, k1 = std::min(K, k0 + KB);
    for (int64_t c = 0; c < Cg; ++c)
      for (int64_t rs = 0; rs < RS; ++rs) {
        const T* src = hwio + (rs * Cg + c) * K;
        for (int64_t k = k0; k < k1; ++k) oihw[(k * Cg + c) * RS + rs] = src[k];
      }
  });
}

}  // namespace fastconv
