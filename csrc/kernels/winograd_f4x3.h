// Winograd F(4x4, 3x3) tile transforms (Lavin & Gray, interpolation points 0, +-1, +-2, infinity), vectorized
// across channels: channels are contiguous in NHWC, so each of a tile's 36 (input) or 16 (output) pixels is one
// vector load or store per W channels. Y = A^T [(G g G^T) . (B^T d B)] A; the weight transform G g G^T is done
// once per call by the operator. The weight gradient is that formula differentiated in g: for each tile the
// product's gradient is (A gy A^T) . (B^T d B), summed over tiles, and gw = G^T (that sum) G.
// Instantiated per ISA like gemm_tile.h (internal linkage).
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

// out = B in: six values to six, the transpose of bt_apply's B^T (how a transformed tile's gradient reaches the
// tile's input pixels).
template <typename V>
inline void b_apply(const V in[6], V out[6]) {
  const V s12 = in[1] + in[2], d12 = in[1] - in[2], s34 = in[3] + in[4], d34 = in[3] - in[4];
  out[0] = 4 * in[0];
  out[1] = -4 * d12 - 2 * d34 + 4 * in[5];
  out[2] = -5 * in[0] - 4 * s12 - s34;
  out[3] = d12 + 2 * d34 - 5 * in[5];
  out[4] = in[0] + s12 + s34;
  out[5] = in[5];
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

// out = G in: three values to six (the weight transform).
template <typename V, typename T>
inline void g_apply(const V in[3], V out[6]) {
  const V a = in[0] * T(0.25), s02 = in[0] + in[2], e = in[0] * T(1.0 / 24) + in[2] * T(1.0 / 6);
  const V o = in[1] * T(1.0 / 12);
  out[0] = a;
  out[1] = -(s02 + in[1]) * T(1.0 / 6);
  out[2] = (in[1] - s02) * T(1.0 / 6);
  out[3] = e + o;
  out[4] = e - o;
  out[5] = in[2];
}

// out = A in: four values to six, the transpose of at_apply (how an output tile's gradient reaches the products).
template <typename V>
inline void a_apply(const V in[4], V out[6]) {
  const V s02 = in[0] + in[2], s13 = in[1] + in[3], e = in[0] + 4 * in[2], o = 2 * in[1] + 8 * in[3];
  out[0] = in[0];
  out[1] = s02 + s13;
  out[2] = s02 - s13;
  out[3] = e + o;
  out[4] = e - o;
  out[5] = in[3];
}

// out = G^T in: six values to three, the transpose of g_apply's G.
template <typename V, typename T>
inline void gt_apply(const V in[6], V out[3]) {
  const V s12 = in[1] + in[2], d21 = in[2] - in[1], s34 = in[3] + in[4], d34 = in[3] - in[4];
  out[0] = in[0] * T(0.25) - s12 * T(1.0 / 6) + s34 * T(1.0 / 24);
  out[1] = d21 * T(1.0 / 6) + d34 * T(1.0 / 12);
  out[2] = (s34 - s12) * T(1.0 / 6) + in[5];
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

// One vector of input channels of a tile's input gradient: g = B m B^T, the 36 pixels of the tile's 6x6 input
// window at gx + off[i] (off < 0: padding, dropped). Neighbouring windows overlap by two rows or columns: the
// pixels of the first add_rows rows or add_cols columns already hold an earlier tile's share and are added to, the
// others stored.
template <typename V, typename T>
inline void input_grad_tile(const T* m, int64_t m_stride, const int64_t* off, int add_rows, int add_cols, T* gx) {
  V t[6][6];
  for (int j = 0; j < 6; ++j) {  // columns: B m
    V col[6], out[6];
    for (int i = 0; i < 6; ++i) col[i] = load_vec<V>(m + (i * 6 + j) * m_stride);
    b_apply(col, out);
    for (int i = 0; i < 6; ++i) t[i][j] = out[i];
  }
  for (int i = 0; i < 6; ++i) {  // rows: (B m) B^T
    V out[6];
    b_apply(t[i], out);
    for (int j = 0; j < 6; ++j) {
      const int64_t o = off[i * 6 + j];
      if (o < 0) continue;
      store_vec(gx + o, i < add_rows || j < add_cols ? load_vec<V>(gx + o) + out[j] : out[j]);
    }
  }
}

// One vector of output channels of one input channel's 3x3 kernel (tap t at g + t * g_stride): u[xi] = (G g G^T)[xi].
template <typename V, typename T>
inline void weight_tile(const T* g, int64_t g_stride, T* u, int64_t u_stride) {
  V t[6][3];
  for (int q = 0; q < 3; ++q) {  // columns: t = G g
    V col[3], out[6];
    for (int r = 0; r < 3; ++r) col[r] = load_vec<V>(g + (r * 3 + q) * g_stride);
    g_apply<V, T>(col, out);
    for (int i = 0; i < 6; ++i) t[i][q] = out[i];
  }
  for (int i = 0; i < 6; ++i) {  // rows: (G g) G^T
    V out[6];
    g_apply<V, T>(t[i], out);
    for (int j = 0; j < 6; ++j) store_vec(u + (i * 6 + j) * u_stride, out[j]);
  }
}

// One vector of output-gradient channels of a tile: g = the 4x4 gy pixels (offset < 0: outside gy, zero),
// u[xi] = (A g A^T)[xi].
template <typename V, typename T>
inline void grad_tile(const T* gy, const int64_t* off, T* u, int64_t u_stride) {
  V g[4][4], t[6][4];
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) g[i][j] = off[i * 4 + j] < 0 ? V{} : load_vec<V>(gy + off[i * 4 + j]);
  for (int j = 0; j < 4; ++j) {  // columns: t = A g
    V col[4], out[6];
    for (int i = 0; i < 4; ++i) col[i] = g[i][j];
    a_apply(col, out);
    for (int i = 0; i < 6; ++i) t[i][j] = out[i];
  }
  for (int i = 0; i < 6; ++i) {  // rows: (A g) A^T
    V out[6];
    a_apply(t[i], out);
    for (int j = 0; j < 6; ++j) store_vec(u + (i * 6 + j) * u_stride, out[j]);
  }
}

// One vector of output channels of one input channel's summed products: gw[tap] = (G^T m G)[tap], 9 taps.
template <typename V, typename T>
inline void weight_grad_tile(const T* m, int64_t m_stride, T* gw, int64_t gw_stride) {
  V t[3][6];
  for (int j = 0; j < 6; ++j) {  // columns: G^T m
    V col[6], out[3];
    for (int i = 0; i < 6; ++i) col[i] = load_vec<V>(m + (i * 6 + j) * m_stride);
    gt_apply<V, T>(col, out);
    for (int i = 0; i < 3; ++i) t[i][j] = out[i];
  }
  for (int i = 0; i < 3; ++i) {  // rows: (G^T m) G
    V out[3];
    gt_apply<V, T>(t[i], out);
    for (int j = 0; j < 3; ++j) store_vec(gw + (i * 3 + j) * gw_stride, out[j]);
  }
}

// Calls f(V{}, c) for each whole vector of W channels from c = 0 on, then f(T{}, c) for each channel left: the tile
// functions above instantiated for a vector of channels or one channel.
template <typename T, int W, class F>
inline void over_channels(int64_t channels, F&& f) {
  typedef T V __attribute__((vector_size(W * sizeof(T))));
  int64_t c = 0;
  for (; c + W <= channels; c += W) f(V{}, c);
  for (; c < channels; ++c) f(T{}, c);
}

template <typename T, int W>
void winograd_input(const T* x, const int64_t* off, int64_t channels, T* v, int64_t v_stride) {
  over_channels<T, W>(channels, [&](auto lanes, int64_t c) {
    input_tile<decltype(lanes)>(x + c, off, v + c, v_stride);
  });
}

template <typename T, int W>
void winograd_output(const T* m, int64_t m_stride, int64_t channels, const T* bias, bool relu, const int64_t* off,
                     T* y) {
  over_channels<T, W>(channels, [&](auto lanes, int64_t k) {
    output_tile<decltype(lanes)>(m + k, m_stride, bias ? bias + k : nullptr, relu, off, y + k);
  });
}

template <typename T, int W>
void winograd_input_grad(const T* m, int64_t m_stride, int64_t channels, const int64_t* off, int add_rows,
                         int add_cols, T* gx) {
  over_channels<T, W>(channels, [&](auto lanes, int64_t c) {
    input_grad_tile<decltype(lanes), T>(m + c, m_stride, off, add_rows, add_cols, gx + c);
  });
}

// Output channel k's values go to u[xi * u_stride + k / nr * panel_stride + k % nr] (the GEMM's packed B panels of
// nr columns; nr is a multiple of W on every ISA, so no vector straddles two panels); columns from `channels` to
// the end of the last panel are zeroed.
template <typename T, int W>
void winograd_weights(const T* g, int64_t g_stride, int64_t channels, int64_t nr, int64_t panel_stride, T* u,
                      int64_t u_stride) {
  over_channels<T, W>(channels, [&](auto lanes, int64_t k) {
    weight_tile<decltype(lanes), T>(g + k, g_stride, u + k / nr * panel_stride + k % nr, u_stride);
  });
  for (int64_t k = channels; k % nr; ++k)
    for (int xi = 0; xi < 36; ++xi) u[xi * u_stride + k / nr * panel_stride + k % nr] = T(0);
}

template <typename T, int W>
void winograd_output_grad(const T* gy, const int64_t* off, int64_t channels, T* u, int64_t u_stride) {
  over_channels<T, W>(channels, [&](auto lanes, int64_t k) {
    grad_tile<decltype(lanes)>(gy + k, off, u + k, u_stride);
  });
}

template <typename T, int W>
void winograd_weight_grad(const T* m, int64_t m_stride, int64_t channels, T* gw, int64_t gw_stride) {
  over_channels<T, W>(channels, [&](auto lanes, int64_t k) {
    weight_grad_tile<decltype(lanes), T>(m + k, m_stride, gw + k, gw_stride);
  });
}

template <typename T, int W>
WinogradKernel<T> winograd_kernel() {
  return {winograd_weights<T, W>, winograd_input<T, W>, winograd_output<T, W>, winograd_output_grad<T, W>,
          winograd_weight_grad<T, W>, winograd_input_grad<T, W>};
}

}  // namespace
}  // namespace fastconv
