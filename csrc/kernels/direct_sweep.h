// The 3x3 plane sweep (DirectPlane in fastconv/kernel_table.h): one-channel 3x3 planes at unit stride, read in
// place. The row kernels (direct_rows.h) load 9 shifted x vectors per output vector, most of them line-crossing,
// from a scratch copy of the input rows; the sweep goes down a band's columns one input row at a time, loads that
// row's 3 shifted vectors once and adds them into the 3 output rows that read it (rows h, h - 1 and h - 2 for input
// row h, kept in a ring of accumulators): 3 loads per 9 FMAs. It reads x where it lies, so that reading x and
// writing y run together as in a copy (a scratch fill first read each band alone: 40% of the depthwise forward);
// vectors whose taps reach past the plane's sides load with masks (zeros outside), rows above or below it add
// nothing. The weight gradient sweeps the same way with the gy rows in the ring instead.
// Internal linkage, as everything compiled once per ISA (see gemm_tile.h).
#pragma once
#include <algorithm>
#include <array>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "fastconv/kernel_table.h"
#include "kernels/direct_common.h"

namespace fastconv {
namespace {

// Whether the sweep pays on this ISA: on 32 vector registers (AVX-512) the 9 weights and a ring of 3 rows x up to
// SWEEP_COLUMNS column vectors of sums fit beside each other, and masked loads read the planes' edges. With 16,
// one column vector at a time would wait on its 3 chained FMAs per step; the row kernels run those planes instead.
template <typename T, int W>
constexpr bool sweep_fits() {
  return sizeof(typename RowVec<T, W>::V) == 64;
}

// Column vectors swept together: a whole row of up to 7 vectors (112 float columns) in one pass, so that the sweep
// reads x and writes y row after row, as a copy does. Groups of at most 4 inner vectors plus 2 at a time for the
// edges (three passes down each band of a 112-column plane, each reading and writing a few lines of every row)
// took 0.59 ms against 0.48 for one pass (depthwise_32_3x3 NCHW, all three passes of the convolution). 7 vectors:
// 21 sums and 9 weights.
constexpr int SWEEP_COLUMNS = 7;

// s in every lane: s - 0 is s exactly (-0 included, where s + 0 would give +0), and compiles to one broadcast.
template <typename V, typename T>
__attribute__((always_inline)) inline V splat(T s) {
  return s - V{};
}

template <int J>
using Slot = std::integral_constant<int, J>;

// Calls step(Slot<h % 3>, h) for h in [h0, steps), S = h0 % 3: unrolled by 3, so that each step's ring slot
// is a compile-time constant and the ring stays in registers.
template <int S, class Step>
__attribute__((always_inline)) inline void ring_steps(int64_t h0, int64_t steps, Step&& step) {
  int64_t h = h0;
  for (; h + 3 <= steps; h += 3) {
    step(Slot<S>{}, h);
    step(Slot<(S + 1) % 3>{}, h + 1);
    step(Slot<(S + 2) % 3>{}, h + 2);
  }
  if (h < steps) step(Slot<S>{}, h++);
  if (h < steps) step(Slot<(S + 1) % 3>{}, h);
}

// NB column vectors of a band (vector cols[i] of every output row) and their loads: lane l of vector i and tap
// column c reads input column cols[i] * W + l + c - left; MASKED: the first and the last vector read only the
// lanes whose bit is set in mask[i * 3 + c] (the others zeros), the vectors between them lie inside. Masked loads
// of whole vectors ran the depthwise_32_3x3 sweeps 1.3-1.7x slower on an AMD EPYC (Zen 5) than plain ones.
template <typename T, int W, int NB, bool MASKED>
struct SweepColumns {
  using V = typename RowVec<T, W>::V;
  int64_t in[NB], out[NB], left[NB];  // input column of lane 0 (tap column 0), output column, values left in a row
  uint32_t mask[NB][3];

  SweepColumns(const DirectPlane<T>& pl, const int64_t* cols, const uint32_t* masks) {
    for (int i = 0; i < NB; ++i) {
      out[i] = cols[i] * W, in[i] = out[i] - pl.left, left[i] = pl.Q - out[i];
      for (int c = 0; c < 3; ++c) mask[i][c] = MASKED ? masks[i * 3 + c] : 0;
    }
  }
  __attribute__((always_inline)) V load(const T* row, int i, int c) const {
    if constexpr (MASKED) {
      if (i == 0 || i == NB - 1) return load_masked<V>(row + in[i] + c, mask[i][c]);  // (i is a constant here)
    }
    return load_vec<V>(row + in[i] + c);
  }
};

// NB column vectors of every output row of the band: input row h (of rows + 2, from output row p0's first input
// row) completes output row h - 2, adds to h - 1 and starts h. J = h % 3 names the ring slot of row h (ring_steps);
// the first two input rows complete no row (peeled: a test in every step let the compiler sink the completed row's
// FMAs into its store and keep the step's x vectors alive past it, spilled).
template <typename T, int W, int NB, bool MASKED>
__attribute__((noinline)) void fwd_plane_columns(const DirectPlane<T>& pl, const T* w9, const T* ba, bool relu,
                                                 T* out, const int64_t* cols, const uint32_t* masks) {
  using V = typename RowVec<T, W>::V;
  const SweepColumns<T, W, NB, MASKED> sc(pl, cols, masks);
  V w[9];
#pragma GCC unroll 9
  for (int t = 0; t < 9; ++t) w[t] = splat<V>(w9[t]);
  const V bias = ba ? load_vec<V>(ba) : V{};
  V acc[3][NB] = {};
  // Locals: the output stores (memcpy) may alias pl as far as the compiler knows.
  const int64_t first = pl.p0 - pl.top, H = pl.H, width = pl.W, Q = pl.Q, steps = pl.rows + 2;
  const T* x = pl.x;
  auto step = [&](auto J, auto COMPLETES, int64_t h) __attribute__((always_inline)) {
    constexpr int row = decltype(J)::value, prev = (row + 2) % 3, done = (row + 1) % 3;
    const int64_t ih = first + h;
#pragma GCC unroll 8
    for (int i = 0; i < NB; ++i) acc[row][i] = bias;
    if (ih >= 0 && ih < H) {  // else a row of zeros
      const T* xr = x + ih * width;
#pragma GCC unroll 8
      for (int i = 0; i < NB; ++i) {
#pragma GCC unroll 3
        for (int c = 0; c < 3; ++c) {
          const V xv = sc.load(xr, i, c);
          if constexpr (decltype(COMPLETES)::value) acc[done][i] += xv * w[6 + c];
          acc[prev][i] += xv * w[3 + c];
          acc[row][i] += xv * w[c];
        }
      }
    }
    if constexpr (decltype(COMPLETES)::value) {
#pragma GCC unroll 8
      for (int i = 0; i < NB; ++i) store_output(out + (h - 2) * Q + sc.out[i], acc[done][i], sc.left[i], relu);
    }
  };
  step(Slot<0>{}, std::false_type{}, 0);
  step(Slot<1>{}, std::false_type{}, 1);
  ring_steps<2>(2, steps, [&](auto J, int64_t h) __attribute__((always_inline)) { step(J, std::true_type{}, h); });
}

// The weight gradient's sweep of NB column vectors: input row h meets gy rows h, h - 1 and h - 2 (taps of kernel
// rows 0, 1 and 2), the gy rows kept in a ring. sum[t] gathers tap t over the column vectors (lanes folded by the
// caller), gsum the gy vectors themselves (the bias gradient). LIVE (bit j: gy row h - j is one of the band's) is
// known for each step: the first two and last two input rows skip the gy rows outside the band, rather than
// multiply them as zeros (their x values are real input, and 0 x an infinite one would be NaN).
template <typename T, int W, int NB, bool MASKED, bool BIAS>
__attribute__((noinline)) void wgrad_plane_columns(const DirectPlane<T>& pl, const T* gy, T* acc, T* bias,
                                                   const int64_t* cols, const uint32_t* masks) {
  using V = typename RowVec<T, W>::V;
  const SweepColumns<T, W, NB, MASKED> sc(pl, cols, masks);
  V sum[9] = {}, gsum{}, g[3][NB] = {};
  const int64_t first = pl.p0 - pl.top, H = pl.H, width = pl.W, Q = pl.Q, rows = pl.rows;
  const T* x = pl.x;
  auto step = [&](auto J, auto LIVE, int64_t h) __attribute__((always_inline)) {
    constexpr int row = decltype(J)::value, prev = (row + 2) % 3, done = (row + 1) % 3;
    constexpr int live = decltype(LIVE)::value;
    const int64_t ih = first + h;
#pragma GCC unroll 8
    for (int i = 0; i < NB && (live & 1); ++i) {
      if (sc.left[i] >= W) {
        g[row][i] = load_vec<V>(gy + h * Q + sc.out[i]);
      } else {
        g[row][i] = load_first<V>(gy + h * Q + sc.out[i], sc.left[i]);
      }
      if (BIAS) gsum += g[row][i];
    }
    if (ih < 0 || ih >= H) return;  // a row of zeros
    const T* xr = x + ih * width;
#pragma GCC unroll 8
    for (int i = 0; i < NB; ++i) {
#pragma GCC unroll 3
      for (int c = 0; c < 3; ++c) {
        const V xv = sc.load(xr, i, c);
        if constexpr ((live & 1) != 0) sum[c] += xv * g[row][i];
        if constexpr ((live & 2) != 0) sum[3 + c] += xv * g[prev][i];
        if constexpr ((live & 4) != 0) sum[6 + c] += xv * g[done][i];
      }
    }
  };
  using Head = std::integral_constant<int, 1>;  // gy row 0 only
  using All = std::integral_constant<int, 7>;
  using Last2 = std::integral_constant<int, 6>;  // gy rows h - 1 and h - 2 (h = rows)
  using Last = std::integral_constant<int, 4>;   // gy row h - 2 (h = rows + 1)
  step(Slot<0>{}, Head{}, 0);
  if (rows == 1) {
    step(Slot<1>{}, std::integral_constant<int, 2>{}, 1);
    step(Slot<2>{}, Last{}, 2);
  } else {
    step(Slot<1>{}, std::integral_constant<int, 3>{}, 1);
    ring_steps<2>(2, rows, [&](auto J, int64_t h) __attribute__((always_inline)) { step(J, All{}, h); });
    auto tail = [&](auto J0, auto J1) __attribute__((always_inline)) {
      step(J0, Last2{}, rows);
      step(J1, Last{}, rows + 1);
    };
    switch (rows % 3) {
      case 0: tail(Slot<0>{}, Slot<1>{}); break;
      case 1: tail(Slot<1>{}, Slot<2>{}); break;
      default: tail(Slot<2>{}, Slot<0>{});
    }
  }
#pragma GCC unroll 9
  for (int t = 0; t < 9; ++t) store_vec(acc + t * W, load_vec<V>(acc + t * W) + sum[t]);
  if (BIAS) store_vec(bias, load_vec<V>(bias) + gsum);
}

// The lanes of column vector v that are output columns and whose tap column c lies inside the plane (bit l: lane
// l). Lanes past the row's Q outputs read zeros: the weight gradient's gy is zero there, and 0 x an infinite input
// value would be NaN.
template <typename T, int W>
uint32_t inside_lanes(const DirectPlane<T>& pl, int64_t v, int c) {
  const int64_t at = v * W + c - pl.left;  // input column of lane 0
  const int64_t lo = std::clamp<int64_t>(-at, 0, W);
  const int64_t hi = std::clamp<int64_t>(std::min(pl.W - at, pl.Q - v * W), lo, W);
  return uint32_t((uint64_t(1) << hi) - (uint64_t(1) << lo));
}

// Calls run(NB, MASKED, cols, masks) for the band's column vectors, in consecutive groups of at most SWEEP_COLUMNS
// (sizes within one of each other); a group holding a vector that reaches past a side or past the row's last output
// (those outside [lo, hi)) loads with masks, at its first and last vectors (SweepColumns). Where one between them is
// outside too (padding wider than a vector), the group runs vector by vector.
template <typename T, int W, class Run>
void for_each_column_group(const DirectPlane<T>& pl, Run&& run) {
  const int64_t nvec = div_up(pl.Q, W);
  const int64_t lo = std::clamp<int64_t>(div_up(std::max<int64_t>(pl.left, 0), W), 0, nvec);
  const int64_t reach = pl.W + pl.left - W - 2;  // vector v is inside on the right where v * W <= reach
  const int64_t hi = std::clamp<int64_t>(std::min(reach < 0 ? 0 : reach / W + 1, pl.Q / W), lo, nvec);
  const int64_t groups = div_up(nvec, SWEEP_COLUMNS);
  int64_t cols[SWEEP_COLUMNS];
  uint32_t masks[SWEEP_COLUMNS * 3];
  for (int64_t g = 0, v = 0; g < groups; ++g) {
    const int64_t n = (nvec - v) / (groups - g);
    const bool masked = v < lo || v + n > hi;
    for (int64_t i = 0; i < n; ++i) {
      cols[i] = v + i;
      for (int c = 0; c < 3 && masked; ++c) masks[i * 3 + c] = inside_lanes<T, W>(pl, v + i, c);
    }
    if (n > 2 && (v + 1 < lo || v + n - 1 > hi)) {  // an inner vector is outside
      for (int64_t i = 0; i < n; ++i) run(1, true, cols + i, masks + i * 3);
    } else {
      run(n, masked, cols, masks);
    }
    v += n;
  }
}

template <typename T>
using PlaneFwdFn = void (*)(const DirectPlane<T>&, const T*, const T*, bool, T*, const int64_t*, const uint32_t*);
template <typename T>
using PlaneWgradFn = void (*)(const DirectPlane<T>&, const T*, T*, T*, const int64_t*, const uint32_t*);

template <typename T, int W, bool MASKED, int... NB>
constexpr std::array<PlaneFwdFn<T>, sizeof...(NB)> plane_fwd_table(std::integer_sequence<int, NB...>) {
  return {fwd_plane_columns<T, W, NB + 1, MASKED>...};
}

template <typename T, int W, bool MASKED, bool BIAS, int... NB>
constexpr std::array<PlaneWgradFn<T>, sizeof...(NB)> plane_wgrad_table(std::integer_sequence<int, NB...>) {
  return {wgrad_plane_columns<T, W, NB + 1, MASKED, BIAS>...};
}

template <typename T, int W>
void plane_fwd(const DirectPlane<T>& pl, const T* w9, const T* bias, bool relu, T* out) {
  constexpr auto columns = std::make_integer_sequence<int, SWEEP_COLUMNS>{};
  static constexpr auto inner = plane_fwd_table<T, W, false>(columns);
  static constexpr auto edge = plane_fwd_table<T, W, true>(columns);
  for_each_column_group<T, W>(pl, [&](int64_t n, bool masked, const int64_t* cols, const uint32_t* masks) {
    (masked ? edge[n - 1] : inner[n - 1])(pl, w9, bias, relu, out, cols, masks);
  });
}

template <typename T, int W>
void plane_wgrad(const DirectPlane<T>& pl, const T* gy, T* acc, T* bias) {
  constexpr auto columns = std::make_integer_sequence<int, SWEEP_COLUMNS>{};
  static constexpr auto inner = plane_wgrad_table<T, W, false, false>(columns);
  static constexpr auto inner_bias = plane_wgrad_table<T, W, false, true>(columns);
  static constexpr auto edge = plane_wgrad_table<T, W, true, false>(columns);
  static constexpr auto edge_bias = plane_wgrad_table<T, W, true, true>(columns);
  for_each_column_group<T, W>(pl, [&](int64_t n, bool masked, const int64_t* cols, const uint32_t* masks) {
    const PlaneWgradFn<T> run = masked ? (bias ? edge_bias : edge)[n - 1] : (bias ? inner_bias : inner)[n - 1];
    run(pl, gy, acc, bias, cols, masks);
  });
}

}  // namespace
}  // namespace fastconv
