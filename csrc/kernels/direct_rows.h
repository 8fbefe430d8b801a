// The direct row kernels (DirectRows in fastconv/kernel_table.h): a convolution with few channels computed along
// output rows, one vector of W lanes at a time, straight from a planar scratch copy of the input, with no patch
// packing and no register tile to fill. Forward and weight gradient share the row description: the forward sums
// taps into a lane vector, the weight gradient sums lane vectors into per-tap accumulators.
// Written once with GCC vector extensions; each kernels/<isa>/ file instantiates it with its lane count and is
// compiled with its own -m flags (internal linkage, as in gemm_tile.h).
#pragma once
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <utility>

#include "fastconv/kernel_table.h"
#include "kernels/direct_common.h"
#include "kernels/direct_pixels.h"
#include "kernels/direct_sweep.h"
#include "kernels/shift_rows.h"

namespace fastconv {
namespace {

// The lane pattern of one phase: a shuffle mask for Permute and the raw offsets for Scalar.
template <typename T, int W>
struct Lanes {
  typename RowVec<T, W>::I perm;
  const int32_t* idx = nullptr;

  Lanes() : perm{} {}
  explicit Lanes(const int32_t* phase_idx) : idx(phase_idx) {
    if constexpr (sizeof(T) == sizeof(int32_t)) {
      std::memcpy(&perm, idx, sizeof perm);
    } else {
      for (int l = 0; l < W; ++l) perm[l] = idx[l];
    }
  }
};

// The x values of a vector's lanes for one tap; p points at the vector's first lane. Broadcast returns the one
// value itself: scalar x vector compiles to an FMA with a broadcast operand, where V{} + x would add a zero first
// (an exact -0.0 forbids dropping it), a scalar add in every FMA's dependency chain.
template <typename T, int W, Gather G>
inline auto gather(const T* p, const Lanes<T, W>& lanes) {
  using V = typename RowVec<T, W>::V;
  if constexpr (G == Gather::Contiguous) {
    return load_vec<V>(p);
  } else if constexpr (G == Gather::Broadcast) {
    return p[0];
  } else if constexpr (G == Gather::Permute) {
    return __builtin_shuffle(load_vec<V>(p), lanes.perm);
  } else {
    V v;
    for (int l = 0; l < W; ++l) v[l] = p[lanes.idx[l]];
    return v;
  }
}

// A row's partial last vector's x values for the weight gradient: its first n lanes, zeros in the others. Their
// gy lanes are zero, but the x values there are real input (the row's last columns read by the next taps, or the
// rows below in shifted planes, operators/conv2d_direct.cpp), and 0 x an infinite one would be NaN.
template <typename T, int W, Gather G>
inline auto x_tail(const T* p, const Lanes<T, W>& lanes, int64_t n) {
  using V = typename RowVec<T, W>::V;
  using I = typename RowVec<T, W>::I;
  if constexpr (G == Gather::Contiguous) {
    return load_first<V>(p, n);
  } else {
    I lane{};
    for (int l = 0; l < W; ++l) lane[l] = l;
    const V v = gather<T, W, G>(p, lanes) - V{};  // a vector of Broadcast's scalar (s - 0 is s, -0 included)
    return lane < I{} + typename LaneIndex<T>::type(n) ? v : V{};
  }
}

// Upper bound on a group's vectors: their accumulators, the group's weight vectors and a gather temporary must
// fit the register file (32 vector registers with AVX-512, 16 otherwise). 6 for AVX-512 doubles as well: every
// group size is a function of its own, and double precision is not where the speed is wanted.
template <typename T, int W>
constexpr int max_group() {
  return W >= 16 ? 12 : 6;
}

// Calls group(b, v, n) for consecutive groups of `size` vectors of a segment of `count` (the last one shorter where
// size does not divide count), (b, v): the group's first vector, vector v of row b, nvec vectors a row.
template <class Group>
__attribute__((always_inline)) inline void for_each_group(int64_t count, int64_t size, int64_t nvec, Group&& group) {
  int64_t f = 0, b = 0, v = 0;
  for (; f + size <= count; f += size) {
    group(b, v, size);
    for (v += size; v >= nvec; v -= nvec) ++b;
  }
  if (f < count) group(b, v, count - f);
}

// Calls block(a, n) for blocks [a, a + n) covering [0, count) in as few as hold at most `most` each, of near-equal
// sizes (32 channels by up to 6: 5, 5, 5, 5, 6, 6 rather than five 6s and a 2, whose short block pays a whole
// block's loads for a third of the work).
template <class Block>
__attribute__((always_inline)) inline void for_each_even_block(int64_t count, int64_t most, Block&& block) {
  const int64_t blocks = div_up(count, most);
  for (int64_t i = 0, a = 0; i < blocks; ++i) {
    const int64_t n = (count - a) / (blocks - i);
    block(a, n);
    a += n;
  }
}

// Where the NB vectors from vector v0 of row b0 go in the output: offset (row b * out_inner + v * W) and valid
// lanes. Worked out before a group's stores, not between them: a store through memcpy may alias r, and the compiler
// then loads r's fields again after each one (the MNIST 1 -> 6 NHWC forward: 0.031-0.033 -> 0.027-0.028 ms).
template <int W, int NB, typename T>
__attribute__((always_inline)) inline void store_places(const DirectRows<T>& r, int64_t b0, int64_t v0, int64_t nvec,
                                                        int64_t* out_off, int64_t* left) {
  int64_t b = b0, v = v0;
#pragma GCC unroll 12
  for (int i = 0; i < NB; ++i) {
    out_off[i] = b * r.out_inner + v * W;
    left[i] = r.len - v * W;
    if (++v == nvec) v = 0, ++b;
  }
}

// NB consecutive vectors of a segment (a run of rows of one weight table set, taken as one list of vectors, nvec
// per row), from vector v0 of row b0, computed together so that each tap's weights are loaded once for the group,
// not once per vector. Vector v of a row uses the weights and gather pattern of phase v % phases (a segment spans
// several rows only where nvec is a multiple of the phases). PH: the phases, known at compile time (1 to 3), or
// 0: any, each vector then loads its own weights. `repeat` > 1: the same group in that many consecutive rows (a
// group of one whole row, row after row), its weights, patterns and offsets set up once: a 2x2 layer has only 4
// taps to spread that setup over. UNIT: the group's vectors lie in one row, the first at phase 0, vector i reading
// x at the first one's column + i / PH (PH vectors of channels per pixel at unit stride): one base register for
// all of them, where NB pointers spilled, and a pixel's PH vectors share one broadcast of its value (small_1x32
// NHWC forward, 2 vectors a pixel: 19 loads per 12 FMAs a tap, with the spilled pointers, before).
template <typename T, int W, Gather G, int PH, int NB, bool REPEAT, bool UNIT = false>
__attribute__((noinline)) void fwd_group(const DirectRows<T>& r, const T* xs, const T* wa, const T* ba, T* os,
                                         int64_t b0, int64_t v0, int64_t nvec, bool relu, int64_t repeat) {
  using V = typename RowVec<T, W>::V;
  // Distinct weight tables in the group: vector i uses table i % NW (a group shorter than its phases loads no more
  // tables than it has vectors).
  constexpr int NW = PH == 0 || PH > NB ? NB : PH;
  const T* wp[NW];
  Lanes<T, W> lanes[NW];
  V bias[NW];
  int64_t v = v0;
  for (int j = 0; j < NW; ++j) {
    const int64_t ph = PH == 0 ? v % r.phases : v % PH;  // a constant divisor where the phases are known
    wp[j] = wa + ph * r.ntaps * W;
    lanes[j] = Lanes<T, W>(r.idx + ph * W);
    bias[j] = ba ? load_vec<V>(ba + ph * W) : V{};
    if (++v == nvec) v = 0;
  }
  const T* xp[NB];
  int64_t b = b0;
  v = v0;
  for (int i = 0; i < NB; ++i) {
    xp[i] = xs + b * r.x_step + r.vbase[v];
    if (++v == nvec) v = 0, ++b;
  }
  // r's fields in locals, and the stores' offsets worked out once (store_places)
  const int64_t ntaps = r.ntaps, x_step = r.x_step, out_inner = r.out_inner;
  const int64_t* tap_off = r.tap_off;
  int64_t out_off[NB], left[NB];
  store_places<W, NB>(r, b0, v0, nvec, out_off, left);
  const int64_t reps = REPEAT ? repeat : 1;  // a loop the compiler drops: it cost 10% where rows are long
  for (int64_t rep = 0, row = 0; rep < reps; ++rep, row += x_step, os += out_inner) {
    V acc[NB];
#pragma GCC unroll 12
    for (int i = 0; i < NB; ++i) acc[i] = bias[i % NW];
    for (int64_t t = 0; t < ntaps; ++t) {
      const int64_t off = tap_off[t] + row;
      V w[NW];
#pragma GCC unroll 12
      for (int j = 0; j < NW; ++j) w[j] = load_vec<V>(wp[j] + t * W);
#pragma GCC unroll 12
      for (int i = 0; i < NB; ++i)
        acc[i] += gather<T, W, G>((UNIT ? xp[0] + i / std::max(PH, 1) : xp[i]) + off, lanes[i % NW]) * w[i % NW];
    }
#pragma GCC unroll 12
    for (int i = 0; i < NB; ++i) store_output(os + out_off[i], acc[i], left[i], relu);
  }
}

template <typename T>
using GroupFn = void (*)(const DirectRows<T>&, const T*, const T*, const T*, T*, int64_t, int64_t, int64_t, bool,
                         int64_t);

template <typename T, int W, Gather G, int PH, bool REPEAT, bool UNIT, int... NB>
constexpr std::array<GroupFn<T>, sizeof...(NB)> group_table(std::integer_sequence<int, NB...>) {
  return {fwd_group<T, W, G, PH, NB + 1, REPEAT, UNIT>...};
}

// fwd_group's whole-pixel groups of NHWC rows (Broadcast, the group's NB / PH pixels in consecutive columns, PH
// vectors of channels each, rows down `repeat` rows) over the taps RUN at a time: a kernel row's RUN columns of one
// input channel are consecutive taps reading consecutive x columns (DirectRows::run), so the run's RUN x PH weight
// vectors stay in registers while each of its pixels + RUN - 1 x values is broadcast once for up to RUN x PH FMAs.
// Tap by tap, every FMA took its own broadcast (LeNet 6 -> 16: 12 loads per 10 FMAs, load-bound).
template <typename T, int W, int PH, int RUN, int NB>
__attribute__((noinline)) void fwd_run_group(const DirectRows<T>& r, const T* xs, const T* wa, const T* ba, T* os,
                                             int64_t v0, int64_t nvec, bool relu, int64_t repeat) {
  using V = typename RowVec<T, W>::V;
  static_assert(NB % PH == 0, "whole pixels");
  constexpr int PIX = NB / PH, XS = PIX + RUN - 1;
  const T* wp[PH];
  V bias[PH];
  for (int j = 0; j < PH; ++j) {  // v0 is a pixel's first vector: vector i has phase i % PH
    wp[j] = wa + j * r.ntaps * W;
    bias[j] = ba ? load_vec<V>(ba + j * W) : V{};
  }
  const T* x0 = xs + r.vbase[v0];
  const int64_t ntaps = r.ntaps, x_step = r.x_step, out_inner = r.out_inner;
  const int64_t* tap_off = r.tap_off;
  int64_t out_off[NB], left[NB];
  store_places<W, NB>(r, 0, v0, nvec, out_off, left);
  for (int64_t rep = 0, row = 0; rep < repeat; ++rep, row += x_step, os += out_inner) {
    V acc[NB];
#pragma GCC unroll 12
    for (int i = 0; i < NB; ++i) acc[i] = bias[i % PH];
    for (int64_t t = 0; t < ntaps; t += RUN) {
      const T* xp = x0 + tap_off[t] + row;
      V w[RUN][PH];
#pragma GCC unroll 8
      for (int s = 0; s < RUN; ++s)
#pragma GCC unroll 4
        for (int j = 0; j < PH; ++j) w[s][j] = load_vec<V>(wp[j] + (t + s) * W);
#pragma GCC unroll 16
      for (int c = 0; c < XS; ++c) {
        const V xb = splat<V>(xp[c]);
#pragma GCC unroll 8
        for (int s = 0; s < RUN; ++s) {
          const int p = c - s;
          if (p < 0 || p >= PIX) continue;
#pragma GCC unroll 4
          for (int j = 0; j < PH; ++j) acc[p * PH + j] += xb * w[s][j];
        }
      }
    }
#pragma GCC unroll 12
    for (int i = 0; i < NB; ++i) store_output(os + out_off[i], acc[i], left[i], relu);
  }
}

template <typename T>
using RunGroupFn = void (*)(const DirectRows<T>&, const T*, const T*, const T*, T*, int64_t, int64_t, bool, int64_t);

template <typename T, int W, int PH, int RUN, int... PIX>
constexpr std::array<RunGroupFn<T>, sizeof...(PIX)> run_group_table(std::integer_sequence<int, PIX...>) {
  return {fwd_run_group<T, W, PH, RUN, (PIX + 1) * PH>...};
}

// Vector registers: 32 with AVX-512, 16 otherwise.
template <typename T, int W>
constexpr int vector_registers() {
  return W * int(sizeof(T)) >= 64 ? 32 : 16;
}

// The most pixels a run group takes: its accumulators, the run's weights and a broadcast in the register file, at
// most max_group vectors; 0 where fewer than 4 pixels would fit (the run then saves too few loads to pay for the
// weights it holds).
template <typename T, int W, int PH, int RUN>
constexpr int run_pixels() {
  const int pixels = std::min(max_group<T, W>(), vector_registers<T, W>() - RUN * PH - 2) / PH;
  return pixels >= 4 ? pixels : 0;
}

// Rows of `pixels` whole pixels (nvec vectors, PH a pixel) down `rows` rows by run groups of RUN taps, in groups
// of equal size; false where RUN's groups do not apply (nothing done).
template <typename T, int W, int PH, int RUN>
bool fwd_run_rows(const DirectRows<T>& r, const T* xs, const T* wa, const T* ba, T* os, int64_t nvec, bool relu,
                  int64_t rows) {
  constexpr int MOST = run_pixels<T, W, PH, RUN>();
  if constexpr (MOST == 0) {
    return false;
  } else {
    if (r.run != RUN || r.ntaps % RUN != 0) return false;
    static constexpr auto groups = run_group_table<T, W, PH, RUN>(std::make_integer_sequence<int, MOST>{});
    const int64_t pixels = nvec / PH, size = div_up(pixels, div_up(pixels, MOST));
    for (int64_t p = 0; p < pixels; p += size)
      groups[std::min(size, pixels - p) - 1](r, xs, wa, ba, os, p * PH, nvec, relu, rows);
    return true;
  }
}

// Whether vector v of every row reads x at column vbase[0] + v / phases (NHWC rows of `phases` vectors of channels
// per pixel, at unit stride).
template <typename T>
bool unit_columns(const DirectRows<T>& r, int64_t nvec, int64_t phases = 1) {
  for (int64_t v = 0; v < nvec; ++v)
    if (r.vbase[v] != r.vbase[0] + v / phases) return false;
  return true;
}

// A segment of `count` vectors in groups of equal size (at most max_group; 4 where the phases are not known, whose
// vectors share no weight loads: 4 chains still cover the FMA latency), the rest in one smaller group; `repeat`
// times, in consecutive rows (a segment of one row: one group, set up once for all of them).
template <typename T, int W, Gather G, int PH>
void fwd_segment(const DirectRows<T>& r, const T* xs, const T* wa, const T* ba, T* os, int64_t count,
                 int64_t nvec, bool relu, int64_t repeat = 1) {
  constexpr int MAX = PH == 0 ? 4 : max_group<T, W>();
  static constexpr auto groups = group_table<T, W, G, PH, false, false>(std::make_integer_sequence<int, MAX>{});
  if constexpr (PH == 2 || PH == 3) {  // rows of a vector count the phases do not divide: taken one at a time
    static constexpr auto row_groups = group_table<T, W, G, PH, true, false>(std::make_integer_sequence<int, MAX>{});
    if (count == nvec && nvec <= MAX) return row_groups[nvec - 1](r, xs, wa, ba, os, 0, 0, nvec, relu, repeat);
  }
  if constexpr (G == Gather::Broadcast && PH >= 1) {  // groups of whole pixels within a row, each down all the rows
    if (count % nvec == 0 && nvec % PH == 0 && unit_columns(r, nvec, PH)) {
      static constexpr auto unit_groups = group_table<T, W, G, PH, true, true>(std::make_integer_sequence<int, MAX>{});
      const int64_t rows = count / nvec * repeat, pixels = nvec / PH, most = MAX / PH;
      if constexpr (PH <= 2) {
        if (fwd_run_rows<T, W, PH, 5>(r, xs, wa, ba, os, nvec, relu, rows)) return;
        if (fwd_run_rows<T, W, PH, 3>(r, xs, wa, ba, os, nvec, relu, rows)) return;
      }
      const int64_t size = PH * div_up(pixels, div_up(pixels, most));
      for (int64_t v = 0; v < nvec; v += size)
        unit_groups[std::min(size, nvec - v) - 1](r, xs, wa, ba, os, 0, v, nvec, relu, rows);
      return;
    }
  }
  for (int64_t rep = 0; rep < repeat; ++rep, xs += r.x_step, os += r.out_inner)
    for_each_group(count, div_up(count, div_up(count, MAX)), nvec, [&](int64_t b, int64_t v, int64_t n) {
      groups[n - 1](r, xs, wa, ba, os, b, v, nvec, relu, 1);
    });
}

// KB table sets of one phase (NCHW rows: output channels a .. a + KB - 1, wa and ba at the first; one weight per
// tap) over NB consecutive vectors from vector v0 of row b0, all rows forming one segment: each x vector is loaded
// once for the KB channels and each channel's tap weights once for the NB vectors. Where few output channels meet
// a long reduction (a 6-channel input gradient of 400 taps), this halves the loads per FMA, most of them
// line-crossing. TAPWISE: wa holds the block's weights tap by tap (tap t's KB values at wa + t * KB: one pointer
// walks them all), else channel by channel as the tables lie (channel k's taps at wa + k * ntaps: KB pointers).
template <typename T, int W, int KB, int NB, bool TAPWISE>
__attribute__((noinline)) void fwd_channels(const DirectRows<T>& r, const T* wa, const T* ba, T* oa, int64_t b0,
                                            int64_t v0, int64_t nvec, bool relu) {
  using V = typename RowVec<T, W>::V;
  const T* xp[NB];
  int64_t b = b0, v = v0;
  for (int i = 0; i < NB; ++i) {
    xp[i] = r.x + b * r.x_step + r.vbase[v];
    if (++v == nvec) v = 0, ++b;
  }
  V acc[KB][NB];
#pragma GCC unroll 12
  for (int k = 0; k < KB; ++k) {
    const V bias = ba ? load_vec<V>(ba + k * W) : V{};
#pragma GCC unroll 12
    for (int i = 0; i < NB; ++i) acc[k][i] = bias;
  }
  for (int64_t t = 0; t < r.ntaps; ++t) {
    const int64_t off = r.tap_off[t];
    V xv[NB];
#pragma GCC unroll 12
    for (int i = 0; i < NB; ++i) xv[i] = load_vec<V>(xp[i] + off);
#pragma GCC unroll 12
    for (int k = 0; k < KB; ++k) {
      const T w = TAPWISE ? wa[t * KB + k] : wa[k * r.ntaps + t];
#pragma GCC unroll 12
      for (int i = 0; i < NB; ++i) acc[k][i] += xv[i] * w;
    }
  }
  int64_t out_off[NB], left[NB];  // (store_places)
  const int64_t out_outer = r.out_outer;
  store_places<W, NB>(r, b0, v0, nvec, out_off, left);
#pragma GCC unroll 12
  for (int k = 0; k < KB; ++k) {
#pragma GCC unroll 12
    for (int i = 0; i < NB; ++i) store_output(oa + k * out_outer + out_off[i], acc[k][i], left[i], relu);
  }
}

template <typename T>
using ChannelsFn = void (*)(const DirectRows<T>&, const T*, const T*, T*, int64_t, int64_t, int64_t, bool);

template <typename T, int W, int KB, bool TAPWISE, int... NB>
constexpr std::array<ChannelsFn<T>, sizeof...(NB)> channels_table(std::integer_sequence<int, NB...>) {
  return {fwd_channels<T, W, KB, NB + 1, TAPWISE>...};
}

// The most weights a channel block copies tap by tap on its stack (fwd_channel_block): 8 channels of up to 256
// taps (3x3 kernels over up to 28 input channels, 5x5 over 10).
constexpr int64_t TAPWISE_WEIGHTS = 2048;

// Accumulators of a channel block's group. With AVX-512 floats and several channels, 24 of the 32 registers: each
// tap's weights then serve twice the vectors and a group's setup and stores twice the rows (LeNet 1 -> 6 5x5
// forward, 2 rows of 6 channels a group: 44 -> 40 us; the 6 -> 16 layer's input gradient 134 -> 125 us). One
// channel keeps max_group: one x load per FMA bounds it, not the setup.
template <typename T, int W, int KB>
constexpr int channel_group() {
  return W >= 16 && KB > 1 ? 24 : max_group<T, W>();
}

// KB channels from table set a: their rows as one segment, in groups of channel_group / KB vectors. The block's
// weights are copied tap by tap first where they fit TAPWISE_WEIGHTS: read channel by channel, the group kept KB
// weight pointers besides its x pointers, more than the 16 general registers, and reloaded spilled ones every tap.
template <typename T, int W, int KB>
void fwd_channel_block(const DirectRows<T>& r, const T* wa, const T* ba, T* oa, bool relu) {
  constexpr int NB = channel_group<T, W, KB>() / KB;
  static constexpr auto groups = channels_table<T, W, KB, false>(std::make_integer_sequence<int, NB>{});
  const int64_t nvec = div_up(r.len, W), ntaps = r.ntaps;
  if constexpr (KB > 1) {  // (one channel's taps are tap by tap already)
    static constexpr auto tapwise = channels_table<T, W, KB, true>(std::make_integer_sequence<int, NB>{});
    if (KB * ntaps <= TAPWISE_WEIGHTS) {
      T by_tap[TAPWISE_WEIGHTS];
      for (int64_t t = 0; t < ntaps; ++t)
        for (int k = 0; k < KB; ++k) by_tap[t * KB + k] = wa[k * ntaps + t];
      for_each_group(r.inner * nvec, NB, nvec, [&](int64_t b, int64_t v, int64_t n) {
        tapwise[n - 1](r, by_tap, ba, oa, b, v, nvec, relu);
      });
      return;
    }
  }
  for_each_group(r.inner * nvec, NB, nvec, [&](int64_t b, int64_t v, int64_t n) {
    groups[n - 1](r, wa, ba, oa, b, v, nvec, relu);
  });
}

template <typename T, int W, int... KB>
constexpr std::array<void (*)(const DirectRows<T>&, const T*, const T*, T*, bool), sizeof...(KB)> blocks_table(
    std::integer_sequence<int, KB...>) {
  return {fwd_channel_block<T, W, KB + 1>...};
}

// NCHW rows with one weight per tap (unit stride: one phase, Contiguous): even blocks of channels, so that every x
// vector feeds that many FMAs (one channel: a group of vectors), of up to half a group's accumulators, with AVX-512
// floats up to 8 channels x 3 vectors (small_1x32 NCHW forward, 32 channels, alternating builds: blocks of 6, 6, 6,
// 6, 6 and 2 channels x 4 vectors, the last at 12 loads per 24 FMAs, -> 5, 5, 5, 5, 6, 6 ran 1.04x faster, -> 4 x
// 8 channels x 3 vectors 1.16x: 0.064 -> 0.055 ms).
template <typename T, int W>
void fwd_channel_rows(const DirectRows<T>& r, const T* wtab, const T* btab, bool relu, T* out) {
  constexpr int KB = W >= 16 ? 8 : max_group<T, W>() / 2;
  static constexpr auto blocks = blocks_table<T, W>(std::make_integer_sequence<int, KB>{});
  for_each_even_block(r.outer, KB, [&](int64_t a, int64_t n) {
    blocks[n - 1](r, wtab + a * r.ntaps, btab ? btab + a * W : nullptr, out + a * r.out_outer, relu);
  });
}

// NCHW rows at unit stride: channel blocks (fwd_channel_rows). Otherwise per table set a (strided NCHW rows:
// output channel a), its rows as one segment where the phases allow, else row by row.
template <typename T, int W, Gather G, int PH>
void fwd_rows(const DirectRows<T>& r, const T* wtab, const T* btab, bool relu, T* out) {
  if constexpr (G == Gather::Contiguous && PH == 1) {
    if (r.one_weight_per_tap) return fwd_channel_rows<T, W>(r, wtab, btab, relu, out);
  }
  const int64_t nvec = div_up(r.len, W), table = r.phases * r.ntaps * W;
  for (int64_t a = 0; a < r.outer; ++a) {
    const T* wa = wtab + a * table;
    const T* ba = btab ? btab + a * r.phases * W : nullptr;
    T* oa = out + a * r.out_outer;
    if (nvec % r.phases == 0) {
      fwd_segment<T, W, G, PH>(r, r.x, wa, ba, oa, r.inner * nvec, nvec, relu);
      continue;
    }
    fwd_segment<T, W, G, PH>(r, r.x, wa, ba, oa, nvec, nvec, relu, r.inner);  // row by row
  }
}

// Taps per pass over the rows of the weight gradient: TB accumulators share each gy load (TB + 1 loads per TB
// FMAs), and enough independent sums to cover the FMA latency.
constexpr int WGRAD_TAPS = 8;

// TB taps from t of weight table (a, phase): sums gather * gy over the phase's vectors of every row b; with BIAS
// also the gy vectors themselves into bias (the bias gradient: a tap whose input is 1), in the same pass. A row's
// last vector loads only its len values (the lanes past them read zeros).
template <typename T, int W, Gather G, int TB, bool BIAS, bool UNIT = false>
__attribute__((noinline)) void wgrad_taps(const DirectRows<T>& r, int64_t a, int64_t phase, int64_t t, const T* gy,
                                          T* acc, T* bias) {
  using V = typename RowVec<T, W>::V;
  const Lanes<T, W> lanes(r.idx + phase * W);
  int64_t off[TB];
  V sum[TB], gsum{};
#pragma GCC unroll 8
  for (int b = 0; b < TB; ++b) {
    off[b] = r.tap_off[t + b];
    sum[b] = V{};
  }
  // The rows' whole vectors, then their partial last ones where this phase has them (a second loop: a test per
  // vector, or per row, cost rows of whole vectors 6-10%).
  const int64_t whole = r.len / W, rest = r.len % W;
  const bool has_rest = rest && whole % r.phases == phase;
  for (int64_t row = 0; row < r.inner; ++row) {
    const T* x = r.x + row * r.x_step;
    const T* g = gy + a * r.out_outer + row * r.out_inner;
    for (int64_t v = phase; v < whole; v += r.phases) {
      const V gv = load_vec<V>(g + v * W);
      if (BIAS) gsum += gv;
      const T* xv = UNIT ? x + r.vbase[0] + v : x + r.vbase[v];  // UNIT: see fwd_group
#pragma GCC unroll 8
      for (int b = 0; b < TB; ++b) sum[b] += gather<T, W, G>(xv + off[b], lanes) * gv;
    }
  }
  for (int64_t row = 0; has_rest && row < r.inner; ++row) {
    const V gv = load_first<V>(gy + a * r.out_outer + row * r.out_inner + whole * W, rest);
    if (BIAS) gsum += gv;
    const T* xv = r.x + row * r.x_step + r.vbase[whole];
#pragma GCC unroll 8
    for (int b = 0; b < TB; ++b) sum[b] += x_tail<T, W, G>(xv + off[b], lanes, rest) * gv;
  }
#pragma GCC unroll 8
  for (int b = 0; b < TB; ++b) {
    T* dst = acc + ((a * r.phases + phase) * r.ntaps + t + b) * W;
    store_vec(dst, load_vec<V>(dst) + sum[b]);
  }
  if (BIAS) {
    T* dst = bias + (a * r.phases + phase) * W;
    store_vec(dst, load_vec<V>(dst) + gsum);
  }
}

template <typename T>
using TapsFn = void (*)(const DirectRows<T>&, int64_t, int64_t, int64_t, const T*, T*, T*);

template <typename T, int W, Gather G, bool BIAS, bool UNIT, int... TB>
constexpr std::array<TapsFn<T>, sizeof...(TB)> taps_table(std::integer_sequence<int, TB...>) {
  return {wgrad_taps<T, W, G, TB + 1, BIAS, UNIT>...};
}

// Runs a weight-gradient run group takes beside PIX gy vectors, a broadcast and a spare register: 1 to
// MAX_RUN_GROUP.
constexpr int MAX_RUN_GROUP = 4;

template <typename T, int W, int RUN, int PIX>
constexpr int wgrad_run_group() {
  return std::clamp((vector_registers<T, W>() - 3 - PIX) / RUN, 1, MAX_RUN_GROUP);
}

// The weight gradient's runs (DirectRows::run) over NHWC rows of one vector per pixel (Broadcast, one phase): RG
// runs of RUN taps from run u0 (taps u0 * RUN ..) over pixels [p0, p0 + PIX) of every row, the PIX gy vectors of a
// row loaded once for all RG x RUN taps and each of a run's PIX + RUN - 1 x values broadcast once for up to RUN
// FMAs (tap by tap: a broadcast per FMA, 9 loads per 8). Runs below `keep` are summed but not added to acc (the
// last group of a layer whose runs RG does not divide overlaps the one before); BIAS also sums the gy vectors.
template <typename T, int W, int RUN, int PIX, bool BIAS>
__attribute__((noinline)) void wgrad_run_taps(const DirectRows<T>& r, int64_t u0, int64_t keep, int64_t p0,
                                              const T* gy, T* acc, T* bias) {
  using V = typename RowVec<T, W>::V;
  constexpr int RG = wgrad_run_group<T, W, RUN, PIX>();
  int64_t off[RG];
  V sum[RG][RUN], gsum{};
#pragma GCC unroll 4
  for (int u = 0; u < RG; ++u) {
    off[u] = r.tap_off[(u0 + u) * RUN] + r.vbase[0] + p0;
#pragma GCC unroll 8
    for (int s = 0; s < RUN; ++s) sum[u][s] = V{};
  }
  const int64_t rows = r.inner, x_step = r.x_step, out_inner = r.out_inner;
  for (int64_t row = 0; row < rows; ++row) {
    const T* x = r.x + row * x_step;
    const T* g = gy + row * out_inner + p0 * W;
    V gv[PIX];
#pragma GCC unroll 12
    for (int p = 0; p < PIX; ++p) {
      gv[p] = load_vec<V>(g + p * W);
      if (BIAS) gsum += gv[p];
    }
    // Columns outer, runs inside: the RG x RUN sums' FMA chains advance side by side, where a run at a time left
    // RUN chains against the FMA latency (LeNet 6 -> 16 weight gradient 0.063 -> 0.060 ms NHWC, 0.068 -> 0.064 NCHW).
#pragma GCC unroll 16
    for (int c = 0; c < PIX + RUN - 1; ++c) {
#pragma GCC unroll 4
      for (int u = 0; u < RG; ++u) {
        const V xb = splat<V>(x[off[u] + c]);
#pragma GCC unroll 8
        for (int s = 0; s < RUN; ++s) {
          const int p = c - s;
          if (p >= 0 && p < PIX) sum[u][s] += xb * gv[p];
        }
      }
    }
  }
#pragma GCC unroll 4
  for (int u = 0; u < RG; ++u) {
    if (u0 + u < keep) continue;
#pragma GCC unroll 8
    for (int s = 0; s < RUN; ++s) {
      T* dst = acc + ((u0 + u) * RUN + s) * W;
      store_vec(dst, load_vec<V>(dst) + sum[u][s]);
    }
  }
  if (BIAS) store_vec(bias, load_vec<V>(bias) + gsum);
}

template <typename T>
using RunTapsFn = void (*)(const DirectRows<T>&, int64_t, int64_t, int64_t, const T*, T*, T*);

template <typename T, int W, int RUN, bool BIAS, int... PIX>
constexpr std::array<RunTapsFn<T>, sizeof...(PIX)> run_taps_table(std::integer_sequence<int, PIX...>) {
  return {wgrad_run_taps<T, W, RUN, PIX + 1, BIAS>...};
}

template <typename T, int W, int RUN, int... PIX>
constexpr std::array<int, sizeof...(PIX)> run_group_sizes(std::integer_sequence<int, PIX...>) {
  return {wgrad_run_group<T, W, RUN, PIX + 1>()...};
}

// The weight gradient of NHWC rows of one vector per pixel by runs of RUN taps (NHWC rows have one table set):
// each band of pixels of the rows (max_group of them, the last band shorter), its runs in groups; false where
// RUN's runs do not apply or the layer has fewer runs than a group may take (nothing done).
template <typename T, int W, int RUN>
bool wgrad_run_rows(const DirectRows<T>& r, const T* gy, T* acc, T* bias) {
  constexpr int MOST = max_group<T, W>();
  const int64_t runs = r.ntaps / RUN, pixels = r.len / W;
  if (r.run != RUN || r.ntaps % RUN != 0 || r.outer != 1 || runs < MAX_RUN_GROUP) return false;
  static constexpr auto plain = run_taps_table<T, W, RUN, false>(std::make_integer_sequence<int, MOST>{});
  static constexpr auto with_bias = run_taps_table<T, W, RUN, true>(std::make_integer_sequence<int, MOST>{});
  static constexpr auto group = run_group_sizes<T, W, RUN>(std::make_integer_sequence<int, MOST>{});
  const int64_t size = div_up(pixels, div_up(pixels, MOST));
  for (int64_t p0 = 0; p0 < pixels; p0 += size) {
    const int64_t n = std::min(size, pixels - p0), rg = group[n - 1];
    for (int64_t u = 0; u < runs; u += rg) {
      const int64_t u0 = std::min(u, runs - rg);  // the last group overlaps the one before where rg does not divide
      (bias && u == 0 ? with_bias : plain)[n - 1](r, u0, u, p0, gy, acc, bias);
      u = u0;
    }
  }
  return true;
}

// NCHW rows at unit stride (one phase, Contiguous): KB channels from a x TB taps from t in one pass over the rows,
// each x vector loaded once for the KB channels and each gy vector once for the TB taps (KB + TB loads per
// KB x TB FMAs, where one channel at a time loads 1 + TB); with BIAS also the channels' gy sums.
template <typename T, int W, int KB, int TB, bool BIAS>
__attribute__((noinline)) void wgrad_channels(const DirectRows<T>& r, int64_t a, int64_t /*phase: one*/, int64_t t,
                                              const T* gy, T* acc, T* bias) {
  using V = typename RowVec<T, W>::V;
  const int64_t whole = r.len / W, rest = r.len % W;
  int64_t off[TB];
  V sum[KB][TB], gsum[KB];
#pragma GCC unroll 12
  for (int k = 0; k < KB; ++k) {
    gsum[k] = V{};
#pragma GCC unroll 12
    for (int b = 0; b < TB; ++b) sum[k][b] = V{};
  }
#pragma GCC unroll 12
  for (int b = 0; b < TB; ++b) off[b] = r.tap_off[t + b];
  // r's fields in locals, and vector v of a row at column v * W (vbase[v]: unit-stride NCHW rows): through r, each
  // vector's x address waited on two dependent loads (r.vbase, then vbase[v]) the compiler would not keep in
  // registers (LeNet 1 -> 6 on L1-resident rows: 3.0-3.3 FMAs a ns, ~40% of 2 a cycle).
  const int64_t rows = r.inner, x_step = r.x_step, out_outer = r.out_outer, out_inner = r.out_inner;
  for (int64_t row = 0; row < rows; ++row) {
    const T* x = r.x + row * x_step;
    const T* g = gy + a * out_outer + row * out_inner;
    const T* xt[TB];
#pragma GCC unroll 12
    for (int b = 0; b < TB; ++b) xt[b] = x + off[b];
    auto add = [&](int64_t v, auto load) __attribute__((always_inline)) {
      V xs[TB];  // past len, x too reads zeros (x_tail)
#pragma GCC unroll 12
      for (int b = 0; b < TB; ++b) xs[b] = load(xt[b] + v * W);
#pragma GCC unroll 12
      for (int k = 0; k < KB; ++k) {
        const V gv = load(g + k * out_outer + v * W);
        if (BIAS) gsum[k] += gv;
#pragma GCC unroll 12
        for (int b = 0; b < TB; ++b) sum[k][b] += xs[b] * gv;
      }
    };
    for (int64_t v = 0; v < whole; ++v) add(v, [](const T* p) { return load_vec<V>(p); });
    if (rest) add(whole, [rest](const T* p) { return load_first<V>(p, rest); });  // the row's partial last vector
  }
#pragma GCC unroll 12
  for (int k = 0; k < KB; ++k) {
#pragma GCC unroll 12
    for (int b = 0; b < TB; ++b) {
      T* dst = acc + ((a + k) * r.ntaps + t + b) * W;
      store_vec(dst, load_vec<V>(dst) + sum[k][b]);
    }
    if (BIAS) {
      T* dst = bias + (a + k) * W;
      store_vec(dst, load_vec<V>(dst) + gsum[k]);
    }
  }
}

// Even channel blocks of up to wgrad_channels_per_block (small_1x32 NCHW weight gradient, 32 channels: 5 x 6 and
// 2 -> 4 x 5 and 2 x 6, 0.053 -> 0.050 ms), each over the taps in passes of as
// many as fill a group's accumulators and leave registers for a pass's x vectors (one per tap) and a gy vector.
// AVX-512 floats: 6 channels x 4 taps (10 loads per 24 FMAs, where 3 x 4 took 7 per 12: LeNet 1 -> 6 5x5 weight
// gradient 62-64 -> 59-62 us). Measured slower on small_1x32 (Zen 5): 8 channels x 3 taps (0.053 -> 0.10 ms) and
// its 9 taps as 3 + 3 + 3 rather than 4 + 4 + 1 (0.053 -> 0.075).
template <typename T, int W>
constexpr int wgrad_channels_per_block() {
  return W >= 16 ? 6 : 3;
}

template <typename T, int W, int KB>
constexpr int wgrad_taps_per_pass() {
  constexpr int registers = W >= 16 ? 32 : 16, by_accumulators = channel_group<T, W, KB>() / KB;
  return std::min(by_accumulators, (registers - 1) / (KB + 1));
}

template <typename T, int W, int KB, bool BIAS, int... TB>
constexpr std::array<TapsFn<T>, sizeof...(TB)> channel_taps_table(std::integer_sequence<int, TB...>) {
  return {wgrad_channels<T, W, KB, TB + 1, BIAS>...};
}

template <typename T, int W, int KB>
void wgrad_channel_block(const DirectRows<T>& r, int64_t a, const T* gy, T* acc, T* bias) {
  constexpr int TB = wgrad_taps_per_pass<T, W, KB>();
  static constexpr auto plain = channel_taps_table<T, W, KB, false>(std::make_integer_sequence<int, TB>{});
  static constexpr auto with_bias = channel_taps_table<T, W, KB, true>(std::make_integer_sequence<int, TB>{});
  for (int64_t t = 0; t < r.ntaps; t += TB) {
    const int64_t n = std::min<int64_t>(TB, r.ntaps - t);
    (bias && t == 0 ? with_bias : plain)[n - 1](r, a, 0, t, gy, acc, bias);
  }
}

template <typename T, int W, int... KB>
constexpr std::array<void (*)(const DirectRows<T>&, int64_t, const T*, T*, T*), sizeof...(KB)> wgrad_blocks_table(
    std::integer_sequence<int, KB...>) {
  return {wgrad_channel_block<T, W, KB + 1>...};
}

template <typename T, int W>
void wgrad_channel_rows(const DirectRows<T>& r, const T* gy, T* acc, T* bias) {
  constexpr int KB = wgrad_channels_per_block<T, W>();
  static constexpr auto blocks = wgrad_blocks_table<T, W>(std::make_integer_sequence<int, KB>{});
  for_each_even_block(r.outer, KB, [&](int64_t a, int64_t n) { blocks[n - 1](r, a, gy, acc, bias); });
}

// Per (table set, phase): the taps in passes of WGRAD_TAPS, the rest in one shorter pass; the first pass also
// sums the bias gradient. NCHW rows of several channels at unit stride: channel blocks (wgrad_channels).
template <typename T, int W, Gather G>
void wgrad_rows(const DirectRows<T>& rows, const T* gy, T* acc, T* bias) {
  constexpr int TB = WGRAD_TAPS;
  static constexpr auto plain = taps_table<T, W, G, false, false>(std::make_integer_sequence<int, TB>{});
  static constexpr auto with_bias = taps_table<T, W, G, true, false>(std::make_integer_sequence<int, TB>{});
  const DirectRows<T> r = rows;  // a local copy: the accumulator stores cannot alias it
  if constexpr (G == Gather::Contiguous) {
    if (r.one_weight_per_tap && r.outer > 1) return wgrad_channel_rows<T, W>(r, gy, acc, bias);
  }
  if constexpr (G == Gather::Broadcast) {  // one vector per pixel at unit stride: one x pointer, offsets in registers
    static constexpr auto unit = taps_table<T, W, G, false, true>(std::make_integer_sequence<int, TB>{});
    static constexpr auto unit_bias = taps_table<T, W, G, true, true>(std::make_integer_sequence<int, TB>{});
    if (r.phases == 1 && unit_columns(r, r.len / W)) {
      if (r.len % W == 0 && (wgrad_run_rows<T, W, 5>(r, gy, acc, bias) || wgrad_run_rows<T, W, 3>(r, gy, acc, bias)))
        return;
      for (int64_t a = 0; a < r.outer; ++a)
        for (int64_t t = 0; t < r.ntaps; t += TB)
          (bias && t == 0 ? unit_bias : unit)[std::min<int64_t>(TB, r.ntaps - t) - 1](r, a, 0, t, gy, acc, bias);
      return;
    }
  }
  for (int64_t a = 0; a < r.outer; ++a)
    for (int64_t phase = 0; phase < r.phases; ++phase)
      for (int64_t t = 0; t < r.ntaps; t += TB) {
        const int64_t n = std::min<int64_t>(TB, r.ntaps - t);
        (bias && t == 0 ? with_bias : plain)[n - 1](r, a, phase, t, gy, acc, bias);
      }
}

// The phases as a compile-time constant where they are small (NHWC rows of 16, 32 or 48 channels, or of 6 or 12;
// NHWC depthwise rows of 32 or 48 channels), else any (each vector loads its own weights). Lane-by-lane gathers
// (strided rows) always take the general code: their loads, not the weights', bound them, and fewer
// combinations keep each ISA's kernel file quick to compile.
template <typename T, int W, Gather G>
void fwd_phases(const DirectRows<T>& r, const T* wtab, const T* btab, bool relu, T* out) {
  if constexpr (G != Gather::Scalar) {
    switch (r.phases) {
      case 1: return fwd_rows<T, W, G, 1>(r, wtab, btab, relu, out);
      case 2: return fwd_rows<T, W, G, 2>(r, wtab, btab, relu, out);
      case 3: return fwd_rows<T, W, G, 3>(r, wtab, btab, relu, out);
    }
  }
  return fwd_rows<T, W, G, 0>(r, wtab, btab, relu, out);
}

template <typename T, int W>
void direct_fwd(const DirectRows<T>& r, const T* wtab, const T* btab, bool relu, T* out) {
  switch (r.gather) {
    case Gather::Contiguous: return fwd_phases<T, W, Gather::Contiguous>(r, wtab, btab, relu, out);
    case Gather::Broadcast: return fwd_phases<T, W, Gather::Broadcast>(r, wtab, btab, relu, out);
    case Gather::Permute: return fwd_phases<T, W, Gather::Permute>(r, wtab, btab, relu, out);
    case Gather::Scalar: return fwd_phases<T, W, Gather::Scalar>(r, wtab, btab, relu, out);
  }
}

template <typename T, int W>
void direct_wgrad(const DirectRows<T>& r, const T* gy, T* acc, T* bias) {
  switch (r.gather) {
    case Gather::Contiguous: return wgrad_rows<T, W, Gather::Contiguous>(r, gy, acc, bias);
    case Gather::Broadcast: return wgrad_rows<T, W, Gather::Broadcast>(r, gy, acc, bias);
    case Gather::Permute: return wgrad_rows<T, W, Gather::Permute>(r, gy, acc, bias);
    case Gather::Scalar: return wgrad_rows<T, W, Gather::Scalar>(r, gy, acc, bias);
  }
}

template <typename T, int W>
DirectKernel<T> direct_kernel() {
  if constexpr (sweep_fits<T, W>()) {
    return {direct_fwd<T, W>, direct_wgrad<T, W>, W, plane_fwd<T, W>, plane_wgrad<T, W>, pixels_fwd<T, W>,
            pixels_wgrad<T, W>, shift_rows<T, W>};
  } else {
    return {direct_fwd<T, W>, direct_wgrad<T, W>, W, nullptr, nullptr, pixels_fwd<T, W>, pixels_wgrad<T, W>,
            shift_rows<T, W>};
  }
}

}  // namespace
}  // namespace fastconv
