// Winograd F(m x m, 3x3) tile transforms, m = 4 (Lavin & Gray; interpolation points 0, +-1, +-2, infinity) or 6
// (points 0, +-1, +-2, +-1/2, infinity), vectorized across channels: channels are contiguous in NHWC, so each of a
// tile's alpha x alpha (input, alpha = m + 2) or m x m (output) pixels is one vector load or store per W channels.
// Y = A^T [(G g G^T) . (B^T d B)] A; the weight transform G g G^T is done once per call by the operator. The input
// gradient is that formula differentiated in d: per tile of y, gd = B [sum over k of U . (A gy A^T)] B^T, the
// windows' shares added where they overlap. The weight gradient is that formula differentiated in g: for each tile
// the product's gradient is (A gy A^T) . (B^T d B), summed over tiles, and gw = G^T (that sum) G.
// Instantiated per ISA like gemm_tile.h (internal linkage).
#pragma once
#include <cstdint>

#include "fastconv/kernel_table.h"
#include "kernels/vector_io.h"

namespace fastconv {
namespace {

// F(4x4, 3x3)'s one-dimensional transforms: bt: out = B^T in (alpha values), b: out = B in (its transpose: how a
// transformed tile's gradient reaches the tile's input pixels), at: out = A^T in (alpha -> m), a: out = A in (m ->
// alpha: how an output tile's gradient reaches the products), g: out = G in (3 -> alpha, the weight transform), gt:
// out = G^T in (alpha -> 3).
struct F4x3 {
  static constexpr int m = 4, alpha = 6;
  template <typename V, typename T>
  static void bt(const V in[6], V out[6]) {
    out[0] = 4 * in[0] - 5 * in[2] + in[4];
    out[1] = -4 * in[1] - 4 * in[2] + in[3] + in[4];
    out[2] = 4 * in[1] - 4 * in[2] - in[3] + in[4];
    out[3] = -2 * in[1] - in[2] + 2 * in[3] + in[4];
    out[4] = 2 * in[1] - in[2] - 2 * in[3] + in[4];
    out[5] = 4 * in[1] - 5 * in[3] + in[5];
  }
  template <typename V, typename T>
  static void b(const V in[6], V out[6]) {
    const V s12 = in[1] + in[2], d12 = in[1] - in[2], s34 = in[3] + in[4], d34 = in[3] - in[4];
    out[0] = 4 * in[0];
    out[1] = -4 * d12 - 2 * d34 + 4 * in[5];
    out[2] = -5 * in[0] - 4 * s12 - s34;
    out[3] = d12 + 2 * d34 - 5 * in[5];
    out[4] = in[0] + s12 + s34;
    out[5] = in[5];
  }
  template <typename V, typename T>
  static void at(const V in[6], V out[4]) {
    const V s12 = in[1] + in[2], d12 = in[1] - in[2], s34 = in[3] + in[4], d34 = in[3] - in[4];
    out[0] = in[0] + s12 + s34;
    out[1] = d12 + 2 * d34;
    out[2] = s12 + 4 * s34;
    out[3] = d12 + 8 * d34 + in[5];
  }
  template <typename V, typename T>
  static void a(const V in[4], V out[6]) {
    const V s02 = in[0] + in[2], s13 = in[1] + in[3], e = in[0] + 4 * in[2], o = 2 * in[1] + 8 * in[3];
    out[0] = in[0];
    out[1] = s02 + s13;
    out[2] = s02 - s13;
    out[3] = e + o;
    out[4] = e - o;
    out[5] = in[3];
  }
  template <typename V, typename T>
  static void g(const V in[3], V out[6]) {
    const V a = in[0] * T(0.25), s02 = in[0] + in[2], e = in[0] * T(1.0 / 24) + in[2] * T(1.0 / 6);
    const V o = in[1] * T(1.0 / 12);
    out[0] = a;
    out[1] = -(s02 + in[1]) * T(1.0 / 6);
    out[2] = (in[1] - s02) * T(1.0 / 6);
    out[3] = e + o;
    out[4] = e - o;
    out[5] = in[2];
  }
  template <typename V, typename T>
  static void gt(const V in[6], V out[3]) {
    const V s12 = in[1] + in[2], d21 = in[2] - in[1], s34 = in[3] + in[4], d34 = in[3] - in[4];
    out[0] = in[0] * T(0.25) - s12 * T(1.0 / 6) + s34 * T(1.0 / 24);
    out[1] = d21 * T(1.0 / 6) + d34 * T(1.0 / 12);
    out[2] = (s34 - s12) * T(1.0 / 6) + in[5];
  }
};

// F(6x6, 3x3)'s, as F4x3's: each pair of points +-p shares its even and odd sums (s, d below).
struct F6x3 {
  static constexpr int m = 6, alpha = 8;
  template <typename V, typename T>
  static void bt(const V in[8], V out[8]) {
    out[0] = in[0] - in[6] + V(in[4] - in[2]) * T(5.25);
    out[7] = in[7] - in[1] + V(in[3] - in[5]) * T(5.25);
    V e = in[2] + in[6] - in[4] * T(4.25), o = in[1] + in[5] - in[3] * T(4.25);
    out[1] = e + o;
    out[2] = e - o;
    e = in[6] + in[2] * T(0.25) - in[4] * T(1.25), o = in[1] * T(0.5) - in[3] * T(2.5) + in[5] * 2;
    out[3] = e + o;
    out[4] = e - o;
    e = in[6] + (in[2] - in[4] * T(1.25)) * 4, o = in[1] * 2 - in[3] * T(2.5) + in[5] * T(0.5);
    out[5] = e + o;
    out[6] = e - o;
  }
  template <typename V, typename T>
  static void b(const V in[8], V out[8]) {
    const V s12 = in[1] + in[2], d12 = in[1] - in[2], s34 = in[3] + in[4], d34 = in[3] - in[4];
    const V s56 = in[5] + in[6], d56 = in[5] - in[6];
    out[0] = in[0];
    out[1] = d12 + d34 * T(0.5) + d56 * 2 - in[7];
    out[2] = s12 + s34 * T(0.25) + s56 * 4 - in[0] * T(5.25);
    out[3] = in[7] * T(5.25) - d12 * T(4.25) - (d34 + d56) * T(2.5);
    out[4] = in[0] * T(5.25) - s12 * T(4.25) - s34 * T(1.25) - s56 * 5;
    out[5] = d12 + d34 * 2 + d56 * T(0.5) - in[7] * T(5.25);
    out[6] = s12 + s34 + s56 - in[0];
    out[7] = in[7];
  }
  template <typename V, typename T>
  static void at(const V in[8], V out[6]) {
    const V s12 = in[1] + in[2], d12 = in[1] - in[2], s34 = in[3] + in[4], d34 = in[3] - in[4];
    const V s56 = in[5] + in[6], d56 = in[5] - in[6];
    out[0] = in[0] + s12 + s34 + s56;
    out[1] = d12 + d34 * 2 + d56 * T(0.5);
    out[2] = s12 + s34 * 4 + s56 * T(0.25);
    out[3] = d12 + d34 * 8 + d56 * T(0.125);
    out[4] = s12 + s34 * 16 + s56 * T(0.0625);
    out[5] = d12 + d34 * 32 + d56 * T(0.03125) + in[7];
  }
  template <typename V, typename T>
  static void a(const V in[6], V out[8]) {
    V e = in[0] + in[2] + in[4], o = in[1] + in[3] + in[5];
    out[0] = in[0];
    out[1] = e + o;
    out[2] = e - o;
    e = in[0] + in[2] * 4 + in[4] * 16, o = in[1] * 2 + in[3] * 8 + in[5] * 32;
    out[3] = e + o;
    out[4] = e - o;
    e = in[0] + in[2] * T(0.25) + in[4] * T(0.0625), o = in[1] * T(0.5) + in[3] * T(0.125) + in[5] * T(0.03125);
    out[5] = e + o;
    out[6] = e - o;
    out[7] = in[5];
  }
  template <typename V, typename T>
  static void g(const V in[3], V out[8]) {
    const V s02 = in[0] + in[2];
    out[0] = in[0];
    out[1] = (s02 + in[1]) * T(-2.0 / 9);
    out[2] = (s02 - in[1]) * T(-2.0 / 9);
    const V e1 = in[0] * T(1.0 / 90) + in[2] * T(2.0 / 45), o1 = in[1] * T(1.0 / 45);
    out[3] = e1 + o1;
    out[4] = e1 - o1;
    const V e2 = in[0] * T(32.0 / 45) + in[2] * T(8.0 / 45), o2 = in[1] * T(16.0 / 45);
    out[5] = e2 + o2;
    out[6] = e2 - o2;
    out[7] = in[2];
  }
  template <typename V, typename T>
  static void gt(const V in[8], V out[3]) {
    const V s12 = in[1] + in[2], d12 = in[1] - in[2], s34 = in[3] + in[4], d34 = in[3] - in[4];
    const V s56 = in[5] + in[6], d56 = in[5] - in[6];
    out[0] = in[0] + s12 * T(-2.0 / 9) + s34 * T(1.0 / 90) + s56 * T(32.0 / 45);
    out[1] = d12 * T(-2.0 / 9) + d34 * T(1.0 / 45) + d56 * T(16.0 / 45);
    out[2] = s12 * T(-2.0 / 9) + s34 * T(2.0 / 45) + s56 * T(8.0 / 45) + in[7];
  }
};

// One vector (V = T: one channel) of a tile: d = the alpha x alpha input pixels (offset < 0: padding, zero), v[xi] =
// B^T d B. Column by column: each column's pixels are loaded just before its transform.
template <class F, typename V, typename T>
inline void input_tile(const T* x, const int64_t* off, T* v, int64_t v_stride) {
  constexpr int N = F::alpha;
  V t[N][N];
  for (int j = 0; j < N; ++j) {  // columns: t = B^T d
    V col[N], out[N];
    for (int i = 0; i < N; ++i) col[i] = off[i * N + j] < 0 ? V{} : load_vec<V>(x + off[i * N + j]);
    F::template bt<V, T>(col, out);
    for (int i = 0; i < N; ++i) t[i][j] = out[i];
  }
  for (int i = 0; i < N; ++i) {  // rows: (B^T d) B
    V out[N];
    F::template bt<V, T>(t[i], out);
    for (int j = 0; j < N; ++j) store_vec(v + (i * N + j) * v_stride, out[j]);
  }
}

// One vector of output channels of a tile: y = A^T m A (+ bias) (relu); pixels with offset < 0 lie outside y.
template <class F, typename V, typename T>
inline void output_tile(const T* m, int64_t m_stride, const T* bias, bool relu, const int64_t* off, T* y) {
  constexpr int N = F::alpha, M = F::m;
  V t[M][N];
  for (int j = 0; j < N; ++j) {  // columns: A^T m
    V col[N], out[M];
    for (int i = 0; i < N; ++i) col[i] = load_vec<V>(m + (i * N + j) * m_stride);
    F::template at<V, T>(col, out);
    for (int i = 0; i < M; ++i) t[i][j] = out[i];
  }
  const V b = bias ? load_vec<V>(bias) : V{};
  for (int i = 0; i < M; ++i) {  // rows: (A^T m) A
    V out[M];
    F::template at<V, T>(t[i], out);
    for (int j = 0; j < M; ++j) {
      if (off[i * M + j] < 0) continue;
      V r = out[j] + b;
      if (relu) r = r < V{} ? V{} : r;  // NaN stays NaN, as in the reference
      store_vec(y + off[i * M + j], r);
    }
  }
}

// One vector of input channels of a tile's input gradient: g = B m B^T, the pixels of the tile's alpha x alpha
// input window at gx + off[i] (off < 0: padding, dropped). Neighbouring windows overlap by two rows or columns: the
// pixels of the first add_rows rows or add_cols columns already hold an earlier tile's share and are added to, the
// others stored.
template <class F, typename V, typename T>
inline void input_grad_tile(const T* m, int64_t m_stride, const int64_t* off, int add_rows, int add_cols, T* gx) {
  constexpr int N = F::alpha;
  V t[N][N];
  for (int j = 0; j < N; ++j) {  // columns: B m
    V col[N], out[N];
    for (int i = 0; i < N; ++i) col[i] = load_vec<V>(m + (i * N + j) * m_stride);
    F::template b<V, T>(col, out);
    for (int i = 0; i < N; ++i) t[i][j] = out[i];
  }
  for (int i = 0; i < N; ++i) {  // rows: (B m) B^T
    V out[N];
    F::template b<V, T>(t[i], out);
    for (int j = 0; j < N; ++j) {
      const int64_t o = off[i * N + j];
      if (o < 0) continue;
      store_vec(gx + o, i < add_rows || j < add_cols ? load_vec<V>(gx + o) + out[j] : out[j]);
    }
  }
}

// One vector of output channels of one input channel's 3x3 kernel (tap t at g + t * g_stride): u[xi] = (G g G^T)[xi].
template <class F, typename V, typename T>
inline void weight_tile(const T* g, int64_t g_stride, T* u, int64_t u_stride) {
  constexpr int N = F::alpha;
  V t[N][3];
  for (int q = 0; q < 3; ++q) {  // columns: t = G g
    V col[3], out[N];
    for (int r = 0; r < 3; ++r) col[r] = load_vec<V>(g + (r * 3 + q) * g_stride);
    F::template g<V, T>(col, out);
    for (int i = 0; i < N; ++i) t[i][q] = out[i];
  }
  for (int i = 0; i < N; ++i) {  // rows: (G g) G^T
    V out[N];
    F::template g<V, T>(t[i], out);
    for (int j = 0; j < N; ++j) store_vec(u + (i * N + j) * u_stride, out[j]);
  }
}

// One vector of output-gradient channels of a tile: g = the m x m gy pixels (offset < 0: outside gy, zero),
// u[xi] = (A g A^T)[xi].
template <class F, typename V, typename T>
inline void grad_tile(const T* gy, const int64_t* off, T* u, int64_t u_stride) {
  constexpr int N = F::alpha, M = F::m;
  V t[N][M];
  for (int j = 0; j < M; ++j) {  // columns: t = A g
    V col[M], out[N];
    for (int i = 0; i < M; ++i) col[i] = off[i * M + j] < 0 ? V{} : load_vec<V>(gy + off[i * M + j]);
    F::template a<V, T>(col, out);
    for (int i = 0; i < N; ++i) t[i][j] = out[i];
  }
  for (int i = 0; i < N; ++i) {  // rows: (A g) A^T
    V out[N];
    F::template a<V, T>(t[i], out);
    for (int j = 0; j < N; ++j) store_vec(u + (i * N + j) * u_stride, out[j]);
  }
}

// One vector of output channels of one input channel's summed products: gw[tap] = (G^T m G)[tap], 9 taps.
template <class F, typename V, typename T>
inline void weight_grad_tile(const T* m, int64_t m_stride, T* gw, int64_t gw_stride) {
  constexpr int N = F::alpha;
  V t[3][N];
  for (int j = 0; j < N; ++j) {  // columns: G^T m
    V col[N], out[3];
    for (int i = 0; i < N; ++i) col[i] = load_vec<V>(m + (i * N + j) * m_stride);
    F::template gt<V, T>(col, out);
    for (int i = 0; i < 3; ++i) t[i][j] = out[i];
  }
  for (int i = 0; i < 3; ++i) {  // rows: (G^T m) G
    V out[3];
    F::template gt<V, T>(t[i], out);
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

template <class F, typename T, int W>
void winograd_input(const T* x, const int64_t* off, int64_t channels, T* v, int64_t v_stride) {
  over_channels<T, W>(channels, [&](auto lanes, int64_t c) {
    input_tile<F, decltype(lanes)>(x + c, off, v + c, v_stride);
  });
}

template <class F, typename T, int W>
void winograd_output(const T* m, int64_t m_stride, int64_t channels, const T* bias, bool relu, const int64_t* off,
                     T* y) {
  over_channels<T, W>(channels, [&](auto lanes, int64_t k) {
    output_tile<F, decltype(lanes)>(m + k, m_stride, bias ? bias + k : nullptr, relu, off, y + k);
  });
}

template <class F, typename T, int W>
void winograd_input_grad(const T* m, int64_t m_stride, int64_t channels, const int64_t* off, int add_rows,
                         int add_cols, T* gx) {
  over_channels<T, W>(channels, [&](auto lanes, int64_t c) {
    input_grad_tile<F, decltype(lanes), T>(m + c, m_stride, off, add_rows, add_cols, gx + c);
  });
}

// Output channel k's values go to u[xi * u_stride + k / nr * panel_stride + k % nr] (the GEMM's packed B panels of
// nr columns; nr is a multiple of W on every ISA, so no vector straddles two panels); columns from `channels` to
// the end of the last panel are zeroed.
template <class F, typename T, int W>
void winograd_weights(const T* g, int64_t g_stride, int64_t channels, int64_t nr, int64_t panel_stride, T* u,
                      int64_t u_stride) {
  over_channels<T, W>(channels, [&](auto lanes, int64_t k) {
    weight_tile<F, decltype(lanes), T>(g + k, g_stride, u + k / nr * panel_stride + k % nr, u_stride);
  });
  for (int64_t k = channels; k % nr; ++k)
    for (int xi = 0; xi < F::alpha * F::alpha; ++xi) u[xi * u_stride + k / nr * panel_stride + k % nr] = T(0);
}

template <class F, typename T, int W>
void winograd_output_grad(const T* gy, const int64_t* off, int64_t channels, T* u, int64_t u_stride) {
  over_channels<T, W>(channels, [&](auto lanes, int64_t k) {
    grad_tile<F, decltype(lanes)>(gy + k, off, u + k, u_stride);
  });
}

template <class F, typename T, int W>
void winograd_weight_grad(const T* m, int64_t m_stride, int64_t channels, T* gw, int64_t gw_stride) {
  over_channels<T, W>(channels, [&](auto lanes, int64_t k) {
    weight_grad_tile<F, decltype(lanes), T>(m + k, m_stride, gw + k, gw_stride);
  });
}

template <class F, typename T, int W>
WinogradKernel<T> winograd_kernel() {
  return {winograd_weights<F, T, W>,     winograd_input<F, T, W>,       winograd_output<F, T, W>,
          winograd_output_grad<F, T, W>, winograd_weight_grad<F, T, W>, winograd_input_grad<F, T, W>};
}

// The kernels of F(tile x tile, 3x3), tile 4 or 6, on W-lane vectors of T.
template <typename T, int W>
WinogradKernel<T> winograd_kernel(int tile) {
  return tile == F6x3::m ? winograd_kernel<F6x3, T, W>() : winograd_kernel<F4x3, T, W>();
}

}  // namespace
}  // namespace fastconv
