// Winograd F(4x4, 3x3) tile transforms (Lavin & Gray, interpolation points 0, +-1, +-2, infinity), vectorized
// across channels: channels are contiguous in NHWC, so each of a tile's 36 (input) or 16 (output) pixels is one
// vector load or store per W channels. Y = A^T [(G g G^T) . (B^T d B)] A; the weight transform G g G^T is done
// once per call by the operator. Instantiated per ISA like gemm_tile.h (internal linkage).
#pragma once
#include <cstdint>

#include "fastconv/kernel_table.h"
#include "kernels/vector_io.h"

namespace fastconv {
namespace {

// out = B^T in, for one column (or row) of six values.
template <typename V>
inline void bt_apply(const V in[6], V out[6]) {
  out[0] = 4 * in[0] - 5 * in[2] + in[4];
  out[1] = -4 * in[1] - 4 * in[2] + in[3] + in[4];
  out[2] = 4 * in[1] - 4 * in[2] - in[3] + in[4];
  out[3] = -2 * in[1] - in[2] + 2 * in[3] + in[4];
  out[4] = 2 * in[1] - in[2] - 2 * in[3] + in[4];
  out[5] = 4 * in[1] - 5 * in[3] + in[5];
}

// out = A^T in: six values to four.
template <typename V>
inline void at_apply(const V in[6], V out[4]) {
  const V s12 = in[1] + in[2], d12 = in[1] - in[2], s34 = in[3] + in[4], d34 = in[3] - in[4];
  out[0] = in[0] + s12 + s34;
  out[1] = d12 + 2 * d34;
  out[2] = s12 + 4 * s34;
  out[3] = d12 + 8 * d34 + in[5];
}

// One vector (V = T: one channel) of a tile: d = the 6x6 input pixels (offset < 0: padding, zero), v[xi] = B^T d B.
template <typename V, typename T>
inline void input_tile(const T* x, const int64_t* off, T* v, int64_t v_stride) {
  V d[6][6], t[6][6];
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 6; ++j) d[i][j] = off[i * 6 + j] < 0 ? V{} : load_vec<V>(x + off[i * 6 + j]);
  for (int j = 0; j < 6; ++j) {  // columns: t = B^T d
    V col[6], out[6];
    for (int i = 0; i < 6; ++i) col[i] = d[i][j];
    bt_apply(col, out);
    for (int i = 0; i < 6; ++i) t[i][j] = out[i];
  }
  for (int i = 0; i < 6; ++i) {  // rows: (B^T d) B
    V out[6];
    bt_apply(t[i], out);
    for (int j = 0; j < 6; ++j) store_vec(v + (i * 6 + j) * v_stride, out[j]);
  }
}

// One vector of output channels of a tile: y = A^T m A (+ bias) (relu); pixels with offset < 0 lie outside y.
template <typename V, typename T>
inline void output_tile(const T* m, int64_t m_stride, const T* bias, bool relu, const int64_t* off, T* y) {
  V t[4][6];
  for (int j = 0; j < 6; ++j) {  // columns: A^T m
    V col[6], out[4];
    for (int i = 0; i < 6; ++i) col[i] = load_vec<V>(m + (i * 6 + j) * m_stride);
    at_apply(col, out);
    for (int i = 0; i < 4; ++i) t[i][j] = out[i];
  }
  const V b = bias ? load_vec<V>(bias) : V{};
  for (int i = 0; i < 4; ++i) {  // rows: (A^T m) A
    V out[4];
    at_apply(t[i], out);
    for (int j = 0; j < 4; ++j) {
      if (off[i * 4 + j] < 0) continue;
      V r = out[j] + b;
      if (relu) r = r < V{} ? V{} : r;  // NaN stays NaN, as in the reference
      store_vec(y + off[i * 4 + j], r);
    }
  }
}

template <typename T, int W>
void winograd_input(const T* x, const int64_t* off, int64_t channels, T* v, int64_t v_stride) {
  typedef T V __attribute__((vector_size(W * sizeof(T))));
  int64_t c = 0;
  for (; c + W <= channels; c += W) input_tile<V>(x + c, off, v + c, v_stride);
  for (; c < channels; ++c) input_tile<T>(x + c, off, v + c, v_stride);
}

template <typename T, int W>
void winograd_output(const T* m, int64_t m_stride, int64_t channels, const T* bias, bool relu, const int64_t* off,
                     T* y) {
  typedef T V __attribute__((vector_size(W * sizeof(T))));
  int64_t k = 0;
  for (; k + W <= channels; k += W) output_tile<V>(m + k, m_stride, bias ? bias + k : nullptr, relu, off, y + k);
  for (; k < channels; ++k) output_tile<T>(m + k, m_stride, bias ? bias + k : nullptr, relu, off, y + k);
}

template <typename T, int W>
WinogradKernel<T> winograd_kernel() {
  return {winograd_input<T, W>, winograd_output<T, W>};
}

}  // namespace
}  // namespace fastconv
