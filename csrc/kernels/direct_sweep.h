// The 3x3 plane sweep: the direct kernels' path for NCHW rows of one output channel, one input channel, 3x3 taps,
// stride 1 and dilation 1 (depthwise layers without a channel multiplier, and their input gradients). The row
// kernels (direct_rows.h) load 9 shifted x vectors per output vector, most of them line-crossing; the sweep goes
// down a band's columns one input row at a time, loads that row's 3 shifted vectors once and adds them into the 3
// output rows that read it (rows h, h - 1 and h - 2 for input row h, kept in a ring of accumulators): 3 loads per
// 9 FMAs. The weight gradient sweeps the same way with the gy rows in the ring instead.
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

// Whether the sweep pays on this ISA: on 32 vector registers (AVX-512) the 9 weights and a ring of 3 rows x
// SWEEP_COLUMNS column vectors of sums (4 independent chains per FMA latency) fit beside each other. With 16, one
// column vector at a time would wait on its 3 chained FMAs per step; the row kernels run those rows instead.
template <typename T, int W>
constexpr bool sweep_fits() {
  return sizeof(typename RowVec<T, W>::V) == 64;
}

// Whether the rows are what the sweep computes: a 3x3 window at unit stride and dilation over one input channel
// (tap t at row t / 3, column t % 3 of the scratch) into one output channel.
template <typename T>
bool sweeps_3x3(const DirectRows<T>& r) {
  if (!r.one_weight_per_tap || r.outer != 1 || r.ntaps != 9) return false;
  for (int64_t t = 0; t < 9; ++t)
    if (r.tap_off[t] != t / 3 * r.x_step + t % 3) return false;
  return true;
}

constexpr int SWEEP_COLUMNS = 4;  // column vectors swept together

// s in every lane: s - 0 is s exactly (-0 included, where s + 0 would give +0), and compiles to one broadcast.
template <typename V, typename T>
__attribute__((always_inline)) inline V splat(T s) {
  return s - V{};
}

// NB column vectors from vector v0 of every row of the band: input row h (of inner + 2) completes output row h - 2,
// adds to h - 1 and starts h. J = h % 3 names the ring slot of row h, so that the ring stays in registers; the
// first two input rows complete no row (peeled: a test in every step let the compiler sink the completed row's
// FMAs into its store and keep the step's x vectors alive past it, spilled).
template <typename T, int W, int NB>
__attribute__((noinline)) void fwd_sweep_columns(const DirectRows<T>& r, const T* w9, const T* ba, T* out,
                                                 int64_t v0, bool relu) {
  using V = typename RowVec<T, W>::V;
  V w[9];
#pragma GCC unroll 9
  for (int t = 0; t < 9; ++t) w[t] = splat<V>(w9[t]);
  const V bias = ba ? load_vec<V>(ba) : V{};
  V acc[3][NB] = {};
  // Locals: the output stores (memcpy) may alias r as far as the compiler knows.
  const int64_t x_step = r.x_step, out_inner = r.out_inner, left = r.len - v0 * W, steps = r.inner + 2;
  const T* x = r.x + v0 * W;
  T* o = out + v0 * W;
  auto step = [&](auto J, auto COMPLETES, int64_t h) __attribute__((always_inline)) {
    constexpr int row = decltype(J)::value, prev = (row + 2) % 3, done = (row + 1) % 3;
    const T* xr = x + h * x_step;
#pragma GCC unroll 8
    for (int i = 0; i < NB; ++i) {
      acc[row][i] = bias;
#pragma GCC unroll 3
      for (int c = 0; c < 3; ++c) {
        const V xv = load_vec<V>(xr + i * W + c);
        if constexpr (decltype(COMPLETES)::value) acc[done][i] += xv * w[6 + c];
        acc[prev][i] += xv * w[3 + c];
        acc[row][i] += xv * w[c];
      }
    }
    if constexpr (decltype(COMPLETES)::value) {
#pragma GCC unroll 8
      for (int i = 0; i < NB; ++i) store_output(o + (h - 2) * out_inner + i * W, acc[done][i], left - i * W, relu);
    }
  };
  using Slot0 = std::integral_constant<int, 0>;
  using Slot1 = std::integral_constant<int, 1>;
  using Slot2 = std::integral_constant<int, 2>;
  step(Slot0{}, std::false_type{}, 0);
  step(Slot1{}, std::false_type{}, 1);
  int64_t h = 2;
  for (; h + 3 <= steps; h += 3) {
    step(Slot2{}, std::true_type{}, h);
    step(Slot0{}, std::true_type{}, h + 1);
    step(Slot1{}, std::true_type{}, h + 2);
  }
  if (h < steps) step(Slot2{}, std::true_type{}, h++);
  if (h < steps) step(Slot0{}, std::true_type{}, h);
}

template <typename T>
using SweepFwdFn = void (*)(const DirectRows<T>&, const T*, const T*, T*, int64_t, bool);

template <typename T, int W, int... NB>
constexpr std::array<SweepFwdFn<T>, sizeof...(NB)> sweep_fwd_table(std::integer_sequence<int, NB...>) {
  return {fwd_sweep_columns<T, W, NB + 1>...};
}

// The forward over a band (rows as sweeps_3x3 describes them): the row's vectors in even groups of at most
// SWEEP_COLUMNS.
template <typename T, int W>
void fwd_sweep(const DirectRows<T>& r, const T* wtab, const T* btab, bool relu, T* out) {
  constexpr int NB = SWEEP_COLUMNS;
  static constexpr auto groups = sweep_fwd_table<T, W>(std::make_integer_sequence<int, NB>{});
  const int64_t nvec = div_up(r.len, W), size = div_up(nvec, div_up(nvec, NB));
  for (int64_t v = 0; v < nvec; v += size) groups[std::min(size, nvec - v) - 1](r, wtab, btab, out, v, relu);
}

// The weight gradient's sweep of NB column vectors: input row h meets gy rows h, h - 1 and h - 2 (taps of kernel
// rows 0, 1 and 2), the gy rows kept in a ring; rows past the band's gy are zeros. sum[t] gathers tap t over the
// column vectors (lanes folded by the caller), gsum the gy vectors themselves (the bias gradient).
template <typename T, int W, int NB, bool BIAS>
__attribute__((noinline)) void wgrad_sweep_columns(const DirectRows<T>& r, const T* gy, int64_t v0, T* acc,
                                                   T* bias) {
  using V = typename RowVec<T, W>::V;
  V sum[9] = {}, gsum{}, g[3][NB] = {};
  const T* x = r.x + v0 * W;
  const T* gp = gy + v0 * W;
  auto step = [&](auto J, int64_t h) __attribute__((always_inline)) {
    constexpr int row = decltype(J)::value, prev = (row + 2) % 3, done = (row + 1) % 3;
    const T* xr = x + h * r.x_step;
#pragma GCC unroll 8
    for (int i = 0; i < NB; ++i) {
      const int64_t left = r.len - (v0 + i) * W;
      if (h >= r.inner) {
        g[row][i] = V{};
      } else if (left >= W) {
        g[row][i] = load_vec<V>(gp + h * r.out_inner + i * W);
      } else {
        g[row][i] = load_first<V>(gp + h * r.out_inner + i * W, left);
      }
      if (BIAS) gsum += g[row][i];
#pragma GCC unroll 3
      for (int c = 0; c < 3; ++c) {
        const V xv = load_vec<V>(xr + i * W + c);
        sum[c] += xv * g[row][i];
        sum[3 + c] += xv * g[prev][i];
        sum[6 + c] += xv * g[done][i];
      }
    }
  };
  const int64_t steps = r.inner + 2;
  int64_t h = 0;
  for (; h + 3 <= steps; h += 3) {
    step(std::integral_constant<int, 0>{}, h);
    step(std::integral_constant<int, 1>{}, h + 1);
    step(std::integral_constant<int, 2>{}, h + 2);
  }
  if (h < steps) step(std::integral_constant<int, 0>{}, h++);
  if (h < steps) step(std::integral_constant<int, 1>{}, h);
#pragma GCC unroll 9
  for (int t = 0; t < 9; ++t) store_vec(acc + t * W, load_vec<V>(acc + t * W) + sum[t]);
  if (BIAS) store_vec(bias, load_vec<V>(bias) + gsum);
}

template <typename T>
using SweepWgradFn = void (*)(const DirectRows<T>&, const T*, int64_t, T*, T*);

template <typename T, int W, bool BIAS, int... NB>
constexpr std::array<SweepWgradFn<T>, sizeof...(NB)> sweep_wgrad_table(std::integer_sequence<int, NB...>) {
  return {wgrad_sweep_columns<T, W, NB + 1, BIAS>...};
}

// The weight gradient over a band: the row's vectors in even groups of at most SWEEP_COLUMNS, the bias gradient
// summed by every group (each adds its own columns' gy).
template <typename T, int W>
void wgrad_sweep(const DirectRows<T>& r, const T* gy, T* acc, T* bias) {
  constexpr int NB = SWEEP_COLUMNS;
  static constexpr auto plain = sweep_wgrad_table<T, W, false>(std::make_integer_sequence<int, NB>{});
  static constexpr auto with_bias = sweep_wgrad_table<T, W, true>(std::make_integer_sequence<int, NB>{});
  const int64_t nvec = div_up(r.len, W), size = div_up(nvec, div_up(nvec, NB));
  const auto& groups = bias ? with_bias : plain;
  for (int64_t v = 0; v < nvec; v += size) groups[std::min(size, nvec - v) - 1](r, gy, v, acc, bias);
}

}  // namespace
}  // namespace fastconv
