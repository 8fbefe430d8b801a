// The 3x3 pixel sweep (DirectPixelsFwd in fastconv/kernel_table.h): NHWC depthwise layers without a channel multiplier
// at unit stride, read in place, vectors along the channels. The row kernels ran these layers from a zero-padded
// copy of each band's input rows, filled before the kernel read it: the fill (a third of the forward's time) and
// the kernel took turns with memory. Here each output row is computed straight from the 3 input rows it reads,
// PIXELS pixels at a time, every channel vector of them before the next pixels (the forward), so that memory sees
// x read and y written row after row, as in a copy. Each x vector is loaded once per kernel row and kept in a
// register for its up to 3 FMAs: folded into each FMA, an x not 64-byte aligned (NumPy's arrays are 16) split 3
// loads per vector across two lines (depthwise_32_3x3 forward 0.60 ms, 0.48 with x aligned or loaded once; a copy
// of x into y takes 0.44-0.47). The weight gradient keeps the 9 sums of two channel vectors (AVX-512; one
// elsewhere) in registers across a row's pixels, then the next two (one vector at a time: 0.58-0.62 ms; two:
// 0.47). Taps outside the image (padding) are skipped: whole input rows
// above or below it, and per pixel at its left and right edges.
// Internal linkage, as everything compiled once per ISA (see gemm_tile.h).
#pragma once
#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "fastconv/kernel_table.h"
#include "kernels/direct_common.h"

namespace fastconv {
namespace {

constexpr int PIXELS = 4;  // output (or gy) pixels taken together inside the image

// How far ahead of the pixels being computed the sweeps ask for the next ones: in x's newest input row (the two
// above it are in cache from the rows before) and in the output row written (or the gy row read). Without, one
// thread on depthwise_32_3x3 NHWC (x and y 12.8 MB each, past the caches) streamed them at half the NCHW plane
// sweep's rate: forward 1.32-1.38 -> 0.93-1.02 ms on one thread; on two, alternating builds, forward 0.49 -> 0.41,
// input gradient 0.52 -> 0.42, weight gradient 0.48 -> 0.39. 4 KB ahead (32 pixels of 32 channels) did best of 1-64
// pixels; the output row's prefetch alone was worth 1.16 -> 1.02 ms on one thread.
constexpr int64_t AHEAD_BYTES = 4096;

// Asks for PIXELS pixels from output (or gy) column q of row o (WRITE: to be written) and the x pixels under them
// in row x2 (null outside the image; none past its right edge) to be brought into cache; called pixels_ahead
// pixels before the sweep reaches them, q + PIXELS <= Q.
template <int WRITE, typename T, typename O>
__attribute__((always_inline)) inline void prefetch_pixels(const DirectPlane<T>& px, const T* x2, O* o, int64_t q) {
  const int64_t C = px.C, bytes = PIXELS * C * int64_t(sizeof(T));
  const bool x_in = x2 && q - px.left + PIXELS <= px.W;
  const char* xp = x_in ? reinterpret_cast<const char*>(x2 + (q - px.left) * C) : nullptr;
  const char* op = reinterpret_cast<const char*>(o + q * C);
  for (int64_t b = 0; b < bytes; b += 64) {
    if (xp) __builtin_prefetch(xp + b);
    __builtin_prefetch(op + b, WRITE);
  }
}

// Pixels ahead: AHEAD_BYTES of channels, at least a group.
inline int64_t pixels_ahead(int64_t C, size_t value_bytes) {
  return std::max<int64_t>(PIXELS, AHEAD_BYTES / (C * int64_t(value_bytes)));
}

// The columns of output row pixels whose 3 taps all lie inside the image: [first, last).
struct InsideColumns {
  int64_t first, last;
  template <typename T>
  explicit InsideColumns(const DirectPlane<T>& px)
      : first(std::clamp<int64_t>(px.left, 0, px.Q)), last(std::clamp<int64_t>(px.W - 2 + px.left, first, px.Q)) {}
};

// Calls group(q, NP, EDGE) over a row's Q output pixels: PIXELS at a time inside the image, one at a time elsewhere
// (NP and EDGE compile-time constants; EDGE: some of the pixel's taps lie past a side).
template <class Group>
__attribute__((always_inline)) inline void for_each_pixel_group(const InsideColumns& in, int64_t Q, Group&& group) {
  using One = std::integral_constant<int, 1>;
  int64_t q = 0;
  for (; q < in.first; ++q) group(q, One{}, std::true_type{});
  for (; q + PIXELS <= in.last; q += PIXELS) group(q, std::integral_constant<int, PIXELS>{}, std::false_type{});
  for (; q < in.last; ++q) group(q, One{}, std::false_type{});
  for (; q < Q; ++q) group(q, One{}, std::true_type{});
}

// The 3 input rows of output row p of the band (null outside the image).
template <typename T>
__attribute__((always_inline)) inline void input_rows(const DirectPlane<T>& px, int64_t p, const T* (&xr)[3]) {
  for (int r = 0; r < 3; ++r) {
    const int64_t ih = px.p0 + p - px.top + r;
    xr[r] = ih >= 0 && ih < px.H ? px.x + ih * px.W * px.C : nullptr;
  }
}

// NP output pixels from column q of one row, every channel vector (channels [c, c + W), the last one partial),
// from the x rows xr[r] (null outside the image); EDGE: taps past the image's sides are skipped. The weights of
// a channel vector are loaded (from L1) once per NP pixels, each input pixel once per kernel row.
template <typename T, int W, int NP, bool EDGE>
__attribute__((always_inline)) inline void fwd_pixels(const DirectPlane<T>& px, const T* const (&xr)[3], const T* w,
                                                      const T* bias, bool relu, T* out, int64_t q) {
  using V = typename RowVec<T, W>::V;
  const int64_t C = px.C;
  auto vector = [&](int64_t c, int64_t n, auto PARTIAL) __attribute__((always_inline)) {
    auto load = [&](const T* p) __attribute__((always_inline)) {
      if constexpr (decltype(PARTIAL)::value) return load_first<V>(p, n);
      else return load_vec<V>(p);
    };
    const V b = bias ? load(bias + c) : V{};
    V acc[NP];
#pragma GCC unroll 4
    for (int j = 0; j < NP; ++j) acc[j] = b;
#pragma GCC unroll 3
    for (int r = 0; r < 3; ++r) {
      if (!xr[r]) continue;
      const V w0 = load(w + r * 3 * C + c), w1 = load(w + (r * 3 + 1) * C + c), w2 = load(w + (r * 3 + 2) * C + c);
      const T* xp = xr[r] + (q - px.left) * C + c;  // input pixel k = q - left + k: output pixels k - 2 .. k
#pragma GCC unroll 6
      for (int k = 0; k < NP + 2; ++k) {
        if (EDGE && (q - px.left + k < 0 || q - px.left + k >= px.W)) continue;
        V xv = load(xp + k * C);
        asm("" : "+v"(xv));  // one load for its up to 3 FMAs (folded into each, a misaligned x split 3 loads)
        if (k < NP) acc[k] += xv * w0;
        if (k >= 1 && k - 1 < NP) acc[k - 1] += xv * w1;
        if (k >= 2) acc[k - 2] += xv * w2;
      }
    }
#pragma GCC unroll 4
    for (int j = 0; j < NP; ++j) store_output(out + (q + j) * C + c, acc[j], n, relu);
  };
  int64_t c = 0;
  for (; c + W <= C; c += W) vector(c, W, std::false_type{});
  if (c < C) vector(c, C - c, std::true_type{});
}

template <typename T, int W>
void pixels_fwd(const DirectPlane<T>& px, const T* w9, const T* bias, bool relu, T* out) {
  const InsideColumns in(px);
  const int64_t ahead = pixels_ahead(px.C, sizeof(T));
  for (int64_t p = 0; p < px.rows; ++p) {
    const T* xr[3];
    input_rows(px, p, xr);
    T* row = out + p * px.Q * px.C;
    for_each_pixel_group(in, px.Q, [&](int64_t q, auto NP, auto EDGE) __attribute__((always_inline)) {
      if (decltype(NP)::value == PIXELS && q + ahead + PIXELS <= px.Q) prefetch_pixels<1>(px, xr[2], row, q + ahead);
      fwd_pixels<T, W, decltype(NP)::value, decltype(EDGE)::value>(px, xr, w9, bias, relu, row, q);
    });
  }
}

// The weight gradient's: CV channel vectors from c (n <= W channels where PARTIAL, then CV = 1) of the 9 taps' sums
// (and of the gy sums, the bias gradient) over one row's pixels, in registers, added to acc (and bias) at the row's
// end.
template <typename T, int W, int CV, bool PARTIAL, bool BIAS>
__attribute__((always_inline)) inline void wgrad_pixel_row(const DirectPlane<T>& px, const T* const (&xr)[3],
                                                           const T* g, T* acc, T* bias, int64_t c, int64_t n) {
  using V = typename RowVec<T, W>::V;
  const int64_t C = px.C;
  auto load = [&](const T* p) __attribute__((always_inline)) {
    if constexpr (PARTIAL) return load_first<V>(p, n);
    else return load_vec<V>(p);
  };
  V sum[CV][9] = {}, gsum[CV] = {};
  const InsideColumns in(px);
  const int64_t ahead = c == 0 ? pixels_ahead(C, sizeof(T)) : px.Q;  // the row's first pass brings it in
  // NP gy pixels from q: each input vector loaded once per kernel row for its up to 3 taps (9 x CV independent sums).
  auto pixels = [&](int64_t q, auto NPC, auto EDGE) __attribute__((always_inline)) {
    constexpr int NP = decltype(NPC)::value;
    if (NP == PIXELS && q + ahead + PIXELS <= px.Q) prefetch_pixels<0>(px, xr[2], g, q + ahead);
    V gv[NP][CV];
#pragma GCC unroll 4
    for (int j = 0; j < NP; ++j)
#pragma GCC unroll 2
      for (int v = 0; v < CV; ++v) {
        gv[j][v] = load(g + (q + j) * C + c + v * W);
        if (BIAS) gsum[v] += gv[j][v];
      }
#pragma GCC unroll 3
    for (int r = 0; r < 3; ++r) {
      if (!xr[r]) continue;
      const T* xp = xr[r] + (q - px.left) * C + c;  // input pixel k = q - left + k: gy pixels k - 2 .. k
#pragma GCC unroll 6
      for (int k = 0; k < NP + 2; ++k) {
        if (decltype(EDGE)::value && (q - px.left + k < 0 || q - px.left + k >= px.W)) continue;
#pragma GCC unroll 2
        for (int v = 0; v < CV; ++v) {
          V xv = load(xp + k * C + v * W);
          asm("" : "+v"(xv));  // one load for its up to 3 FMAs
          if (k < NP) sum[v][r * 3] += xv * gv[k][v];
          if (k >= 1 && k - 1 < NP) sum[v][r * 3 + 1] += xv * gv[k - 1][v];
          if (k >= 2) sum[v][r * 3 + 2] += xv * gv[k - 2][v];
        }
      }
    }
  };
  for_each_pixel_group(in, px.Q, pixels);
  auto add = [&](T* dst, V v) __attribute__((always_inline)) {
    if constexpr (PARTIAL) store_first(dst, load_first<V>(dst, n) + v, n);
    else store_vec(dst, load_vec<V>(dst) + v);
  };
#pragma GCC unroll 2
  for (int v = 0; v < CV; ++v) {
#pragma GCC unroll 9
    for (int t = 0; t < 9; ++t) add(acc + t * C + c + v * W, sum[v][t]);
    if (BIAS) add(bias + c + v * W, gsum[v]);
  }
}

// Channel vectors two at a time where 32 registers hold their 18 sums and 4 pixels of gy (AVX-512): a pass over
// a row's pixels then reads whole 128-byte runs of each pixel's channels.
template <typename T, int W>
constexpr int wgrad_channel_vectors() {
  return sizeof(typename RowVec<T, W>::V) == 64 ? 2 : 1;
}

template <typename T, int W, bool BIAS>
void pixels_wgrad_rows(const DirectPlane<T>& px, const T* gy, T* acc, T* bias) {
  constexpr int CV = wgrad_channel_vectors<T, W>();
  for (int64_t p = 0; p < px.rows; ++p) {
    const T* xr[3];
    input_rows(px, p, xr);
    const T* g = gy + p * px.Q * px.C;
    int64_t c = 0;
    for (; c + CV * W <= px.C; c += CV * W) wgrad_pixel_row<T, W, CV, false, BIAS>(px, xr, g, acc, bias, c, W);
    for (; c + W <= px.C; c += W) wgrad_pixel_row<T, W, 1, false, BIAS>(px, xr, g, acc, bias, c, W);
    if (c < px.C) wgrad_pixel_row<T, W, 1, true, BIAS>(px, xr, g, acc, bias, c, px.C - c);
  }
}

template <typename T, int W>
void pixels_wgrad(const DirectPlane<T>& px, const T* gy, T* acc, T* bias) {
  return bias ? pixels_wgrad_rows<T, W, true>(px, gy, acc, bias) : pixels_wgrad_rows<T, W, false>(px, gy, acc, bias);
}

}  // namespace
}  // namespace fastconv
