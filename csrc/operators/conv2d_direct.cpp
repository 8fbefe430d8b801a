// The direct algorithm for dense convolutions (groups == 1): every output row is computed by the per-ISA row
// kernels (kernels/direct_rows.h) from a zero-padded, planar scratch copy of the input rows it reads. There is no
// patch packing and no register tile to fill, which is where a GEMM spends most of its time on convolutions with
// few channels. Work units are (image, band of output rows); the weight gradient is summed into one table per
// thread and the tables are added in thread order (deterministic for a fixed thread count).
#include <algorithm>
#include <numeric>
#include <vector>

#include "fastconv/cpu.h"
#include "fastconv/parallel.h"
#include "operators/conv2d.h"
#include "operators/gemm.h"
#include "operators/scratch.h"
#include "operators/transpose.h"

namespace fastconv {
namespace {

// Everything about the rows that depends on the shape only. A row holds Q * interleave lanes (lane j: output
// column j / interleave, channel j % interleave). Two scratch layouts:
// - planar (dense convolutions): scratch row = C runs of `width` columns; tap t = (r * C + ci) * S + c (kernel
//   columns fastest: at unit dilation a row's S taps read consecutive columns, DirectRows::run); every lane of a
//   vector reads the same input channel;
// - channelwise (NHWC depthwise, one channel per group): scratch row = `width` pixels of C channels, as NHWC
//   lies; tap t = r * S + c; lane (q, k) reads channel k.
// Scratch column c (pixel c for channelwise) holds input column c - pad_left.
struct RowPlan {
  bool channelwise;
  int64_t interleave;  // channels interleaved in one output row: K for NHWC, 1 for NCHW (one row per channel)
  int64_t len;         // lanes of a row
  int64_t phases;      // vectors repeat their gather pattern and weights with this period
  int64_t width;       // scratch columns per (input row, channel) (planar) or pixels per input row (channelwise)
  int64_t pitch;       // scratch values per input row: C * width
  std::vector<int64_t> tap_off;
  std::vector<int32_t> vbase, idx;
  Gather gather;

  RowPlan(const ConvShape& s, int lanes)
      : channelwise(s.nhwc && is_depthwise(s)), interleave(s.nhwc ? s.K : 1), len(s.Q * interleave) {
    // Per input column, a lane moves stride_w columns (planar) or stride_w pixels of C values (channelwise).
    const int64_t column = channelwise ? s.stride_w * s.C : s.stride_w;
    phases = interleave / std::gcd<int64_t>(interleave, lanes);
    vbase.resize(ceil_div(len, lanes));
    for (int64_t v = 0; v < int64_t(vbase.size()); ++v) {
      const int64_t j = v * lanes;
      vbase[v] = int32_t(j / interleave * column + (channelwise ? j % interleave : 0));
    }
    idx.resize(phases * lanes);
    int64_t most = 0;
    bool identity = true, zero = true;
    for (int64_t k = 0; k < phases; ++k) {
      const int64_t first = k * lanes % interleave;  // channel of the phase's first lane
      for (int64_t l = 0; l < lanes; ++l) {
        const int64_t at = (first + l) / interleave * column + (channelwise ? (first + l) % interleave - first : 0);
        idx[k * lanes + l] = int32_t(at);
        most = std::max(most, at);
        identity = identity && at == l;
        zero = zero && at == 0;
      }
    }
    gather = identity ? Gather::Contiguous : zero ? Gather::Broadcast : most < lanes ? Gather::Permute : Gather::Scalar;
    // Contiguous and Permute load a whole vector from each lane group's first value; reads past the row's last
    // input column must land on zeros (a NaN there would poison the weight gradient's zero-padded lanes).
    // Broadcast reads one value: rows as wide as its columns need (LeNet 6 -> 16: 14 columns a channel, not 29, of
    // which the fill zeroed 15; NCHW forward 0.063 -> 0.059 ms, weight gradient 0.068 -> 0.064).
    const int64_t reach = vbase.back() + (gather == Gather::Broadcast ? 1 : std::max<int64_t>(most + 1, lanes));
    if (channelwise) {
      width = ceil_div(reach, s.C) + (s.S - 1) * s.dil_w;
      pitch = width * s.C;
      for (int64_t r = 0; r < s.R; ++r)
        for (int64_t c = 0; c < s.S; ++c) tap_off.push_back(r * s.dil_h * pitch + c * s.dil_w * s.C);
      return;
    }
    width = reach + (s.S - 1) * s.dil_w;
    pitch = s.C * width;
    for (int64_t r = 0; r < s.R; ++r)
      for (int64_t ci = 0; ci < s.C; ++ci)
        for (int64_t c = 0; c < s.S; ++c) tap_off.push_back(r * s.dil_h * pitch + ci * width + c * s.dil_w);
  }

  int64_t ntaps() const { return int64_t(tap_off.size()); }
  // Weight tables: NHWC rows mix channels, one table per phase; NCHW rows have one channel, one table each.
  int64_t tables(const ConvShape& s) const { return s.nhwc ? phases : s.K; }
  int64_t input_rows(const ConvShape& s, int64_t out_rows) const {
    return (out_rows - 1) * s.stride_h + (s.R - 1) * s.dil_h + 1;
  }

  // The rows of one band: NHWC rows p (one per output row), NCHW rows (k, p); out_* are offsets in y (or gy).
  template <typename T>
  DirectRows<T> band(const ConvShape& s, const T* scratch, int64_t rows) const {
    const int64_t outer = s.nhwc ? 1 : s.K, out_inner = s.nhwc ? s.Q * s.K : s.Q;
    return {scratch, s.stride_h * pitch, outer, rows, s.P * s.Q, out_inner, tap_off.data(), ntaps(), vbase.data(),
            len, phases, idx.data(), gather, one_weight_per_tap(s), channelwise || s.dil_w != 1 ? 1 : s.S};
  }
  // NCHW rows whose lanes are consecutive columns (unit stride) take their weights as one value per tap: an
  // expanded table (lanes copies) of a 6-channel, 400-tap layer would not fit L1 beside the rows.
  bool one_weight_per_tap(const ConvShape& s) const { return !s.nhwc && gather == Gather::Contiguous; }
  int64_t weights_per_tap(const ConvShape& s, int lanes) const { return one_weight_per_tap(s) ? 1 : lanes; }
};

// The output channel of each lane l < lanes of weight table g (NCHW: table g is output channel g), worked out once
// per table: a division per (tap, lane) was 2400 of them for LeNet 6 -> 16's NHWC rows, most of its weight
// gradient's fixed cost (one image: 0.028 -> 0.016 ms).
constexpr int MAX_LANES = 64;
void table_channels(const ConvShape& s, int lanes, int64_t g, int64_t* k) {
  for (int64_t l = 0; l < lanes; ++l) k[l] = s.nhwc ? (g * lanes + l) % s.K : g;
}

// Where (tap t, output channel k) lies in the user's weights, (K, C, R, S) or (R, S, C, K): tap[t] + k * channel
// (per-tap offsets computed once: the tables hold ntaps x lanes values per table).
struct WeightIndex {
  std::vector<int64_t> tap;
  int64_t channel;

  WeightIndex(const ConvShape& s, bool nhwc, int64_t ntaps) : tap(ntaps), channel(nhwc ? 1 : s.C * s.R * s.S) {
    // Tap t is (kernel row r, input channel ci, kernel column c), c fastest (RowPlan; channelwise plans have one
    // channel a group); in nested loops, as three divisions per tap were a microsecond of a 150-tap layer's call.
    const int64_t cg = s.C / s.G;
    for (int64_t r = 0, t = 0; r < s.R; ++r)
      for (int64_t ci = 0; ci < cg; ++ci)
        for (int64_t c = 0; c < s.S && t < ntaps; ++c, ++t)
          tap[t] = nhwc ? ((r * s.S + c) * cg + ci) * s.K : (ci * s.R + r) * s.S + c;
  }
  int64_t operator()(int64_t t, int64_t k) const { return tap[t] + k * channel; }
};

// Offset in y of image n's output row p0 (of channel 0).
int64_t first_output(const ConvShape& s, int64_t n, int64_t p0) {
  return s.nhwc ? (n * s.P + p0) * s.Q * s.K : (n * s.K * s.P + p0) * s.Q;
}

// Input rows [h0, h0 + rows) of one image into the scratch (planar or channelwise); zero outside the image.
template <typename T>
void fill_scratch(const ConvShape& s, const RowPlan& plan, bool x_nhwc, const T* image, int64_t h0, int64_t rows,
                  T* dst) {
  const int64_t lo = std::clamp<int64_t>(s.pad_left, 0, plan.width);
  const int64_t hi = std::clamp<int64_t>(s.pad_left + s.W, lo, plan.width), w0 = lo - s.pad_left;
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t h = h0 + i;
    T* row = dst + i * plan.pitch;
    if (h < 0 || h >= s.H) {
      std::fill_n(row, plan.pitch, T(0));
      continue;
    }
    if (plan.channelwise) {  // NHWC rows as they lie, between zero columns
      std::fill(row, row + lo * s.C, T(0));
      std::fill(row + hi * s.C, row + plan.pitch, T(0));
      std::copy_n(image + (h * s.W + w0) * s.C, (hi - lo) * s.C, row + lo * s.C);
      continue;
    }
    if (x_nhwc && s.C > 1)  // pixels x channels -> channels x pixels
      transpose(image + (h * s.W + w0) * s.C, hi - lo, s.C, s.C, row + lo, plan.width);
    for (int64_t ci = 0; ci < s.C; ++ci) {
      T* d = row + ci * plan.width;
      std::fill(d, d + lo, T(0));
      std::fill(d + hi, d + plan.width, T(0));
      if (x_nhwc && s.C > 1) continue;  // transposed above
      if (x_nhwc) {  // one channel: NHWC rows are NCHW rows
        std::copy_n(image + h * s.W + w0, hi - lo, d + lo);
      } else {
        std::copy_n(image + (ci * s.H + h) * s.W + w0, hi - lo, d + lo);
      }
    }
  }
}

constexpr int64_t SCRATCH_BYTES = 256 << 10;  // a band's input rows, per thread: in L2
constexpr int64_t L1_SCRATCH_BYTES = 16 << 10;  // the same in L1, where narrow rows allow it

// Output rows per band: as many as the scratch holds, in L1 where that leaves bands 8x taller than the rows they
// share with the next band (narrow rows: one-channel NCHW planes), else in L2. Each band's fill reads x from
// memory and its kernel then writes y; L1-sized bands alternate the two in short steps, and the kernel's reads hit
// L1 (NCHW depthwise 3x3 on 112 x 112 planes, 50 KB each, from the scratch: AVX-512 forward 0.84-0.90 -> 0.76-0.80
// ms before the plane sweep read x in place; AVX2 weight gradient 1.17-1.18 -> 1.06-1.12 ms, forward unchanged).
// The in-place sweep is indifferent to the band size (4 to 256 KB: within noise).
int64_t band_rows(const ConvShape& s, const RowPlan& plan, size_t value_bytes) {
  const int64_t shared = (s.R - 1) * s.dil_h, row_bytes = plan.pitch * int64_t(value_bytes);
  const int64_t l1_rows = L1_SCRATCH_BYTES / row_bytes;
  const int64_t rows = l1_rows - shared >= 8 * std::max<int64_t>(shared, 1) ? l1_rows : SCRATCH_BYTES / row_bytes;
  return std::max<int64_t>(1, (std::max<int64_t>(rows, 1) - shared) / s.stride_h);
}

// The output rows of for_each_band's bands (the last one may have fewer): enough bands to keep every thread busy,
// and bands small enough that their scratch stays in cache while the kernels read it (a whole 112 x 112 x 32 image
// would not).
int64_t band_height(const ConvShape& s, const RowPlan& plan, int threads, size_t value_bytes) {
  const int64_t out_rows_in_cache = band_rows(s, plan, value_bytes);
  const int64_t wanted = std::max(ceil_div(4 * int64_t(threads), std::max<int64_t>(s.N, 1)),
                                  ceil_div(s.P, out_rows_in_cache));
  return ceil_div(s.P, std::clamp<int64_t>(wanted, 1, s.P));
}

// Calls body(thread, n, p0, p1, scratch) for each (image, band of output rows [p0, p1)) with the band's input rows
// (x in NHWC where x_nhwc, else NCHW) in the calling thread's scratch, or with no scratch where in_place (the
// plane sweeps read x where it lies; shifted planes make their own copies); units are split statically over
// threads.
template <typename T, class Body>
void for_each_band(const ConvShape& s, const RowPlan& plan, int threads, int lanes, bool x_nhwc, bool in_place,
                   const T* x, Body&& body) {
  const int64_t band = band_height(s, plan, threads, sizeof(T)), bands = ceil_div(s.P, band), image = s.C * s.H * s.W;
#ifdef _OPENMP
#pragma omp parallel num_threads(threads) if (threads > 1)
#endif
  {
    FlushDenormals ftz;
#ifdef _OPENMP
    const int thread = omp_get_thread_num();
#else
    const int thread = 0;
#endif
    ScratchBuffer<T> scratch(Scratch::RowInput, in_place ? 0 : plan.input_rows(s, band) * plan.pitch + lanes);
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
    for (int64_t u = 0; u < s.N * bands; ++u) {
      const int64_t n = u / bands, p0 = u % bands * band, p1 = std::min(s.P, p0 + band);
      if (p0 >= p1) continue;
      if (!in_place)
        fill_scratch(s, plan, x_nhwc, x + n * image, p0 * s.stride_h - s.pad_top, plan.input_rows(s, p1 - p0),
                     scratch.get());
      body(thread, n, p0, p1, scratch.get());
    }
  }
}

// One-channel layers at unit stride with rows of fewer than 4 vectors: as NCHW rows, they run as shifted planes
// (ShiftedPlanes below).
bool shifted_planes_fit(const ConvShape& s, int lanes) {
  return s.C == 1 && s.stride_h == 1 && s.stride_w == 1 && s.Q < 4 * lanes;
}

// Whether the rows are computed as NHWC rows (a vector of output channels per pixel, or lanes spanning pixels of
// fewer channels) rather than NCHW rows (one output channel, lanes along the row), whatever the user's layout; a
// band whose layout differs is transposed to or from the user's y or gy in cache (in SIMD register tiles).
// - NCHW layers with a vector of output channels: NCHW rows leave ceil(Q / lanes) * lanes - Q lanes of each row
//   empty in every tap's FMA (2 FMAs a cycle do 2 * lanes of a tap's multiply-adds).
// - NHWC layers with 2 to lanes - 1 output channels and reductions of 16+ taps, at unit stride: NHWC rows permute
//   x for every FMA (one shuffle port; with one channel they are NCHW rows already), NCHW rows share each x vector
//   across up to 6 channels (input gradient of LeNet's 6 -> 16 5x5 layer, 400 taps: 315 -> 160 us; its 1 -> 6
//   forward, 25 taps: 90 -> 79 us). The weight gradient too, since its NCHW channel blocks take 6 channels x 4 taps
//   (LeNet 1 -> 6: 95 -> 80 us; 28x28 batch 32, 3x3 and 5x5 layers of 1-6 input and 3-14 output channels:
//   0.79-1.0x the time), but where two pixels of lanes / 2 channels fill a vector with one permutation, up to 64
//   taps (2 -> 8 3x3: 85 us as NHWC rows, 103 as NCHW rows). One-channel layers whose NCHW rows are shifted planes
//   take them from one tap on (the MNIST layer's 4 taps: NHWC weight gradient 0.029-0.034 -> 0.022-0.026 ms,
//   forward 0.029-0.034 -> 0.025-0.029).
bool nhwc_rows(const ConvShape& s, int lanes, bool weight_grad) {
  if (is_depthwise(s)) return s.nhwc;
  const int64_t min_taps = weight_grad && 2 * s.K == lanes ? 64 : shifted_planes_fit(s, lanes) ? 1 : 16;
  if (s.nhwc) return s.K >= lanes || s.K == 1 || s.taps() < min_taps || s.stride_w != 1;
  const int64_t empty = ceil_div(s.Q, int64_t(lanes)) * lanes - s.Q;
  return s.K >= lanes && s.taps() * empty > 2 * lanes * s.Q;
}

// The problem the row kernels see. Dense and NHWC depthwise: the shape itself, in the layout nhwc_rows picks for
// its rows (each band transposed to or from the user's y or gy where that differs from the user's). Depthwise
// NCHW: every (image, group) plane is a one-channel image whose K/G output channels use that group's weight tables
// (planes and their outputs are consecutive in NCHW, so plane n is image n / G, group n % G).
struct RowProblem {
  ConvShape shape;  // in the layout the rows are computed in
  bool user_nhwc;   // the layout of the user's x, w and y
  int64_t groups;   // weight-table sets: plane n uses set n % groups

  RowProblem(const ConvShape& s, int lanes, bool weight_grad) : shape(s), user_nhwc(s.nhwc), groups(1) {
    if (!is_depthwise(s)) {
      shape.nhwc = nhwc_rows(s, lanes, weight_grad);
      return;
    }
    if (s.nhwc) return;  // NHWC depthwise: the channelwise plan over the whole image
    shape.N = s.N * s.G, shape.C = 1, shape.K = s.K / s.G, shape.G = 1;
    groups = s.G;
  }
  bool transposed() const { return shape.nhwc != user_nhwc; }
  // The values of a band of `rows` output rows, in the buffer a transposed band goes through.
  int64_t band_values(int64_t rows) const { return rows * shape.Q * shape.K; }
  int64_t tables(const RowPlan& plan) const { return groups * plan.tables(shape); }
  int64_t first_table(const RowPlan& plan, int64_t n) const { return n % groups * plan.tables(shape); }
  // Whether the kernel's plane sweep computes the rows, reading x in place (DirectPlane in kernel_table.h):
  // one-channel 3x3 NCHW planes at unit stride and dilation, one output channel each.
  bool plane_sweep(bool has_sweep) const {
    const ConvShape& t = shape;
    return has_sweep && !t.nhwc && !transposed() && t.C == 1 && t.K == 1 && t.R == 3 && t.S == 3 && t.stride_h == 1 &&
           t.stride_w == 1 && t.dil_h == 1 && t.dil_w == 1;
  }
  // Whether the kernel's pixel sweep computes the rows, reading x in place (DirectPixelsFwd in kernel_table.h):
  // NHWC depthwise 3x3 layers without a channel multiplier at unit stride and dilation.
  bool pixel_sweep() const {
    const ConvShape& t = shape;
    return t.nhwc && groups == 1 && is_depthwise(t) && t.K == t.C && t.R == 3 && t.S == 3 && t.stride_h == 1 &&
           t.stride_w == 1 && t.dil_h == 1 && t.dil_w == 1;
  }
  // The band [p0, p1) of image n (a one-channel plane for the plane sweep), for either sweep.
  template <typename T>
  DirectPlane<T> plane(const T* x, int64_t n, int64_t p0, int64_t p1) const {
    const ConvShape& t = shape;
    return {x + n * t.H * t.W * t.C, t.H, t.W, t.C, t.pad_top, t.pad_left, p0, p1 - p0, t.Q};
  }
};

// Shifted planes: one-channel NCHW rows at unit stride and of fewer than 4 vectors, a band taken as one row of
// rows x Q lanes (the band's outputs, as they lie in NCHW y or gy). Copy c (c < S) of the band's input rows holds
// their columns c * dil_w .. c * dil_w + Q - 1, Q a row, so that tap (r, c) reads x at the output's own index plus
// c * plane + r * dil_h * Q. Rows of Q columns would otherwise be computed one at a time, each 1 whole vector and
// a partial one (LeNet 1 -> 6: 28 columns, 56 vectors a plane where shifted planes take 49), and short rows spend
// as long between rows as in them (a C++ harness around the LeNet 1 -> 6 weight gradient's kernel on L1-resident
// data: 3.6 FMAs a ns by rows, 5.3 over one long row; 2 a cycle is 7.4).
struct ShiftedPlanes {
  bool on;        // the layer runs as shifted planes (applies, and the plane sweep does not take it)
  int64_t plane;  // values a copy: a band's input rows of Q columns, then `lanes` zeros (a tail vector reads them)
  std::vector<int64_t> tap_off;
  std::vector<int32_t> vbase;

  static bool apply(const RowProblem& pb, int lanes) { return !pb.shape.nhwc && shifted_planes_fit(pb.shape, lanes); }
  ShiftedPlanes(const RowProblem& pb, const RowPlan& plan, bool in_place, int threads, int lanes, size_t bytes)
      : on(!in_place && apply(pb, lanes)) {
    const ConvShape& t = pb.shape;
    const int64_t band = on ? band_height(t, plan, threads, bytes) : 0;
    plane = plan.input_rows(t, band) * t.Q + lanes;
    vbase.resize(ceil_div(band * t.Q, int64_t(lanes)));
    for (int64_t r = 0; r < t.R && on; ++r)
      for (int64_t c = 0; c < t.S; ++c) tap_off.push_back(c * plane + r * t.dil_h * t.Q);
    for (int64_t v = 0; v < int64_t(vbase.size()); ++v) vbase[v] = int32_t(v * lanes);
  }
  // The calling thread's buffer for a band's copies (empty where the planes are off).
  template <typename T>
  ScratchBuffer<T> buffer(const ConvShape& t) const {
    return ScratchBuffer<T>(Scratch::RowPlanes, on ? t.S * plane : 0);
  }
  // The rows of band [p0, p1) of image x for the kernels: with the planes on, its copies (S x plane values at
  // planes, by the kernel's shift_rows); otherwise the band's scratch rows.
  template <typename T>
  DirectRows<T> rows(const DirectKernel<T>& kr, const ConvShape& t, const RowPlan& plan, const T* x, int64_t p0,
                     int64_t p1, T* planes, const T* scratch) const {
    if (!on) return plan.band(t, scratch, p1 - p0);
    const int64_t in_rows = plan.input_rows(t, p1 - p0);
    for (int64_t c = 0; c < t.S; ++c)
      kr.shift_rows(x, t.H, t.W, p0 - t.pad_top, in_rows, c * t.dil_w - t.pad_left, t.Q, planes + c * plane);
    DirectRows<T> r = plan.band(t, planes, p1 - p0);
    r.x_step = 0, r.inner = 1, r.len = (p1 - p0) * t.Q;
    r.tap_off = tap_off.data(), r.vbase = vbase.data(), r.run = 1;
    return r;
  }
};

// v holds `threads` consecutive parts of `part` values: adds parts 1.. into part 0, in thread order.
template <typename T>
void add_thread_parts(std::vector<T>& v, int threads, int64_t part) {
  for (int thread = 1; thread < threads; ++thread)
    for (int64_t i = 0; i < part; ++i) v[i] += v[thread * part + i];
}

// The weight gradient of the pixel sweep: per thread 9 x C sums (HWIO, as gw) and C bias sums, added in thread
// order (deterministic for a fixed thread count).
template <typename T>
void pixels_bwd_weight(const RowProblem& pb, const RowPlan& plan, const DirectKernel<T>& kr, int threads,
                       const T* gy, const T* x, T* gw, T* gb) {
  const ConvShape& t = pb.shape;
  const int64_t taps = 9 * t.C;
  std::vector<T> acc(threads * taps, T(0)), bias(gb ? threads * t.C : 0, T(0));
  for_each_band(t, plan, threads, kr.lanes, true, true, x, [&](int thread, int64_t n, int64_t p0, int64_t p1,
                                                               const T*) {
    kr.pixels_wgrad(pb.plane(x, n, p0, p1), gy + first_output(t, n, p0), acc.data() + thread * taps,
                    gb ? bias.data() + thread * t.C : nullptr);
  });
  add_thread_parts(acc, threads, taps);
  add_thread_parts(bias, threads, gb ? t.C : 0);
  std::copy_n(acc.data(), taps, gw);
  if (gb) std::copy_n(bias.data(), t.C, gb);
}

}  // namespace

bool direct_rows_apply(const ConvShape& s) { return s.G == 1 || (is_depthwise(s) && (!s.nhwc || s.K == s.C)); }

bool direct_rows_nhwc(const ConvShape& s, bool weight_grad) {
  return nhwc_rows(s, active_kernels().direct<float>().lanes, weight_grad);
}

template <typename T>
void conv2d_direct_fwd(const ConvShape& s, int threads, const T* x, const T* w, const T* b, bool relu, T* y) {
  const DirectKernel<T>& kr = active_kernels().direct<T>();
  const int W = kr.lanes;
  const RowProblem pb(s, W, false);
  const ConvShape& t = pb.shape;
  const RowPlan plan(t, W);
  if (pb.pixel_sweep()) {  // the user's weights and bias as they lie: no tables
    for_each_band(t, plan, threads, W, true, true, x, [&](int, int64_t n, int64_t p0, int64_t p1, const T*) {
      kr.pixels_fwd(pb.plane(x, n, p0, p1), w, b, relu, y + first_output(t, n, p0));
    });
    return;
  }
  const int64_t ntaps = plan.ntaps(), tables = pb.tables(plan);
  const WeightIndex at(t, pb.user_nhwc, ntaps);
  const int64_t wl = plan.weights_per_tap(t, W);
  AlignedBuffer<T> wtab(tables * ntaps * wl), btab(tables * W);
  for (int64_t g = 0; g < tables; ++g) {
    int64_t k[MAX_LANES];
    table_channels(t, W, g, k);
    for (int64_t l = 0; l < W; ++l) btab.get()[g * W + l] = b ? b[k[l]] : T(0);
    T* table = wtab.get() + g * ntaps * wl;
    for (int64_t tap = 0; tap < ntaps; ++tap)
      for (int64_t l = 0; l < wl; ++l) table[tap * wl + l] = w[at(tap, k[l])];
  }
  const T* bias = b ? btab.get() : nullptr;
  const bool in_place = pb.plane_sweep(kr.plane_fwd != nullptr);
  const ShiftedPlanes sp(pb, plan, in_place, threads, W, sizeof(T));
  for_each_band(t, plan, threads, W, pb.user_nhwc, in_place || sp.on, x, [&](int, int64_t n, int64_t p0,
                                                                               int64_t p1, const T* scratch) {
    const int64_t first = pb.first_table(plan, n);
    const T* wt = wtab.get() + first * ntaps * wl;
    const T* bt = bias ? bias + first * W : nullptr;
    if (in_place) return kr.plane_fwd(pb.plane(x, n, p0, p1), wt, bt, relu, y + first_output(t, n, p0));
    const ScratchBuffer<T> planes = sp.buffer<T>(t);
    DirectRows<T> rows = sp.rows(kr, t, plan, x + n * t.H * t.W, p0, p1, planes.get(), scratch);
    if (!pb.transposed()) return kr.fwd(rows, wt, bt, relu, y + first_output(t, n, p0));
    const ScratchBuffer<T> band(Scratch::RowBand, pb.band_values(p1 - p0));
    const int64_t pixels = (p1 - p0) * t.Q;
    if (t.nhwc) {  // NHWC rows into NCHW y
      kr.fwd(rows, wt, bt, relu, band.get());
      transpose(band.get(), pixels, t.K, y + (n * t.K * t.P + p0) * t.Q, t.P * t.Q);
    } else {  // NCHW rows (channel planes of the band's pixels) into NHWC y
      rows.out_outer = pixels;
      kr.fwd(rows, wt, bt, relu, band.get());
      transpose(band.get(), t.K, pixels, y + (n * t.P + p0) * t.Q * t.K, t.K);
    }
  });
}

template <typename T>
void conv2d_direct_bwd_weight(const ConvShape& s, int threads, const T* gy, const T* x, T* gw, T* gb) {
  const DirectKernel<T>& kr = active_kernels().direct<T>();
  const int W = kr.lanes;
  const RowProblem pb(s, W, true);
  const ConvShape& t = pb.shape;
  const RowPlan plan(t, W);
  if (pb.pixel_sweep()) return pixels_bwd_weight(pb, plan, kr, threads, gy, x, gw, gb);
  const int64_t ntaps = plan.ntaps(), tables = pb.tables(plan), table = ntaps * W;
  std::vector<T> acc(threads * tables * table, T(0)), bias(gb ? threads * tables * W : 0, T(0));
  const bool in_place = pb.plane_sweep(kr.plane_wgrad != nullptr);
  const ShiftedPlanes sp(pb, plan, in_place, threads, W, sizeof(T));
  for_each_band(t, plan, threads, W, pb.user_nhwc, in_place || sp.on, x, [&](int thread, int64_t n, int64_t p0,
                                                                               int64_t p1, const T* scratch) {
    const int64_t first = thread * tables + pb.first_table(plan, n);
    T* part = acc.data() + first * table;
    T* part_bias = gb ? bias.data() + first * W : nullptr;
    const T* g = gy + first_output(t, n, p0);
    if (in_place) return kr.plane_wgrad(pb.plane(x, n, p0, p1), g, part, part_bias);
    const ScratchBuffer<T> planes = sp.buffer<T>(t);
    DirectRows<T> rows = sp.rows(kr, t, plan, x + n * t.H * t.W, p0, p1, planes.get(), scratch);
    const ScratchBuffer<T> band(Scratch::RowBand, pb.transposed() ? pb.band_values(p1 - p0) : 0);
    if (pb.transposed()) {  // the band's gy in the rows' layout
      const int64_t pixels = (p1 - p0) * t.Q;
      if (t.nhwc) {  // NCHW gy: K planes of the band's pixels
        transpose(gy + (n * t.K * t.P + p0) * t.Q, t.K, pixels, t.P * t.Q, band.get(), t.K);
      } else {  // NHWC gy: the band's pixels, K channels each
        transpose(gy + (n * t.P + p0) * t.Q * t.K, pixels, t.K, t.K, band.get(), pixels);
        rows.out_outer = pixels;
      }
      g = band.get();
    }
    kr.wgrad(rows, g, part, part_bias);
  });
  // Fold threads, then lanes (each lane holds one output channel's share), into the user's layout. Serial, while
  // the other threads wait: the threads' tables are added as whole arrays (vector adds), and an NCHW row table's
  // lanes all belong to its one channel (LeNet 1 -> 6 weight gradient: lane by lane, thread by thread, through
  // the weight index, this fold was ~7% of the call).
  add_thread_parts(acc, threads, tables * table);
  add_thread_parts(bias, threads, gb ? tables * W : 0);
  const WeightIndex at(t, pb.user_nhwc, ntaps);
  std::fill_n(gw, s.K * ntaps, T(0));
  std::vector<double> bias_sum(gb ? s.K : 0, 0.0);
  for (int64_t g = 0; g < tables; ++g) {
    int64_t k[MAX_LANES];
    table_channels(t, W, g, k);
    for (int64_t l = 0; l < (gb ? W : 0); ++l) bias_sum[k[l]] += bias[g * W + l];
    for (int64_t tap = 0; tap < ntaps; ++tap) {
      const T* a = acc.data() + g * table + tap * W;
      if (!t.nhwc) {  // one channel per table
        gw[at(tap, k[0])] += std::accumulate(a, a + W, T(0));
        continue;
      }
      for (int64_t l = 0; l < W; ++l) gw[at(tap, k[l])] += a[l];
    }
  }
  for (int64_t k = 0; k < (gb ? s.K : 0); ++k) gb[k] = T(bias_sum[k]);
}

template void conv2d_direct_fwd<float>(const ConvShape&, int, const float*, const float*, const float*, bool, float*);
template void conv2d_direct_fwd<double>(const ConvShape&, int, const double*, const double*, const double*, bool,
                                        double*);
template void conv2d_direct_bwd_weight<float>(const ConvShape&, int, const float*, const float*, float*, float*);
template void conv2d_direct_bwd_weight<double>(const ConvShape&, int, const double*, const double*, double*,
                                               double*);

}  // namespace fastconv
