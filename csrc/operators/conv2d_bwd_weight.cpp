// conv2d_bwd_weight: gw = d<conv(x, w), gy>/dw. Differentiates y[k, pixel] = sum_tap W[k, tap] * Patch[tap, pixel]:
// gW[k, tap] = sum over images and pixels of gy[k, pixel] * Patch[tap, pixel], one GEMM per (image, pixel chunk)
// accumulating into the group's block. The sum is split into a fixed number of parts per group (from the thread
// count only), each summed into private memory and then added in part order: deterministic, no atomics. Some
// shapes compute the transpose gW^T instead (channel_rows), and NCHW 3x3-style layers run on NHWC copies.
// conv2d_bwd_bias sums gy the same way.
#include <algorithm>
#include <type_traits>
#include <vector>

#include "fastconv/cpu.h"
#include "fastconv/parallel.h"
#include "operators/conv2d.h"
#include "operators/gemm.h"
#include "operators/patch.h"
#include "operators/scratch.h"
#include "operators/transpose.h"

namespace fastconv {
namespace {

constexpr int64_t PIXEL_CHUNK = 4096;  // reduction steps per GEMM call: long enough to amortize packing gy.

// Whether the GEMM computes gW^T[k, tap] (output channels as rows, taps as columns) rather than gW[tap, k].
// The operand that must be transposed while packing should be the smaller one. NCHW: gy's rows are read in place
// and the patch is transposed, except for 1x1 layers with more input than output channels, whose input rows are
// read in place and gy transposed (256 -> 64: a quarter of the values; the small result is transposed at the end).
// NHWC does where the input has channel runs to copy and few output channels: each packed patch value then feeds
// only Kg columns, and packing taps as B panels (nr consecutive channels per pixel) costs a quarter of packing them
// as A panels (mr per pixel). The transpose back to HWIO at the end must stay cheap against the long reduction.
// Not NHWC 1x1 layers: their patch is x^T, which the microkernel reads in place (StepMajor) with no packing at all
// (256 -> 64: 2.85 -> 2.32 ms; 512 -> 128 at 28x28: 2.51 -> 2.30 ms).
bool channel_rows(const ConvShape& s) {
  if (!s.nhwc) return !(is_pointwise(s) && s.Cg() > s.Kg());
  if (is_pointwise(s)) return false;
  return s.Cg() >= MIN_CHANNEL_RUN && s.Kg() <= 128 && s.N * s.pixels() >= 16 * s.Kg();
}

// NCHW inputs with channel runs to copy: NHWC copies of x and gy cost less than packing the NCHW patch, whose taps
// lie in separate planes (a transpose per packed value): resnet 3x3 layers ran 1.2-1.5x faster that way. Not 1x1
// layers, whose NCHW patch is a plain matrix read in place (the copies made them slower).
bool nhwc_is_faster(const ConvShape& s) { return !s.nhwc && s.Cg() >= MIN_CHANNEL_RUN && !is_pointwise(s); }

template <typename T>
void bwd_weight_via_nhwc(const ConvShape& s, int threads, const T* gy, const T* x, T* gw) {
  ConvShape t = s;
  t.nhwc = true;
  const ScratchBuffer<T> xt(Scratch::LayoutIn, s.N * s.C * s.H * s.W), gyt(Scratch::LayoutOut, s.N * s.K * s.pixels());
  const ScratchBuffer<T> hwio(Scratch::Reordered, s.taps() * s.K);
  transpose_planes(x, xt.get(), s.N, s.C, s.H * s.W, threads);
  transpose_planes(gy, gyt.get(), s.N, s.K, s.pixels(), threads);
  conv2d_bwd_weight<T>(t, Algorithm::Gemm, threads, gyt.get(), xt.get(), hwio.get(), nullptr);
  hwio_to_oihw(hwio.get(), s.K, s.Cg(), s.R * s.S, gw, threads);
}

}  // namespace

template <typename T>
void conv2d_bwd_weight(const ConvShape& s, Algorithm alg, int threads, const T* gy, const T* x, T* gw, T* gb) {
  const int bias_threads = threads;
  threads = threads_for(s.flops(), threads);
  const Algorithm chosen = choose_algorithm(s, alg, Pass::WeightGrad);
  const bool direct = chosen == Algorithm::Direct;
  if (direct && direct_rows_apply(s)) return conv2d_direct_bwd_weight(s, threads, gy, x, gw, gb);
  if (chosen == Algorithm::Gemm && skinny_applies(s, std::is_same_v<T, double>))
    return conv2d_skinny_bwd<T>(s, threads, gy, x, nullptr, nullptr, gw, gb);
  if (gb) conv2d_bwd_bias(s, bias_threads, gy, gb);
  if (chosen == Algorithm::SpaceToDepth) return conv2d_space_to_depth_bwd_weight(s, threads, gy, x, gw);
  if (chosen == Algorithm::Winograd) return conv2d_winograd_bwd_weight(s, threads, gy, x, gw);
  if (direct) return conv2d_depthwise_bwd_weight(s, threads, gy, x, gw);
  if (nhwc_is_faster(s)) return bwd_weight_via_nhwc(s, threads, gy, x, gw);
  const int64_t Kg = s.Kg(), taps = s.taps(), pixels = s.pixels(), block = Kg * taps;
  const bool by_channel = channel_rows(s);  // each part holds gW^T[k, tap] (else gW[tap, k])
  const int64_t grows = by_channel ? Kg : taps, gcols = by_channel ? taps : Kg;
  // The in-place x^T of NHWC 1x1 layers is read once per column panel: the wide tile's fewer panels (here 6x64
  // ran 256 -> 64 in 2.32 ms, 8x32 in 2.46 ms).
  const bool x_by_steps = s.nhwc && is_pointwise(s);
  const GemmKernel<T>& kr =
      x_by_steps ? active_kernels().gemm_for_forward<T>(gcols) : active_kernels().gemm_for<T>(gcols);
  const int64_t images = batches_images(s) ? s.N : 1, span = images * pixels;  // pixels of one GEMM's patch
  const PatchIndex idx(s, images);
  const int64_t image = s.C * s.H * s.W, group_offset = s.nhwc ? s.Cg() : s.Cg() * s.H * s.W;
  // A batch's reduction is split over the threads where it is longer than the GEMM's rows: several parts each
  // pack their own pixels, where bands of rows would each pack all of them.
  const int64_t pchunk = images > 1 && span > grows ? std::min(PIXEL_CHUNK, ceil_div(span, threads)) : PIXEL_CHUNK;
  const int64_t pchunks = ceil_div(span, pchunk), items = s.N / images * pchunks;
  const int64_t parts = std::clamp<int64_t>(ceil_div(threads, s.G), 1, std::max<int64_t>(items, 1));
  // Too few (image, pixel chunk) items for the threads (a dense layer is one image): each part's GEMM is also
  // split into bands of its rows, whole register panels each.
  const int64_t bands = std::clamp<int64_t>(ceil_div(threads, s.G * parts), 1, ceil_div(grows, kr.mr));
  const int64_t band = ceil_div(ceil_div(grows, bands), kr.mr) * kr.mr;
  // Every element is written by its part's first GEMM (or zeroed for a part without items): no zeroing here, and
  // a kept buffer (a 512-channel layer's 9 MB, fresh each call, cost page faults and a memset).
  const ScratchBuffer<T> partial(Scratch::Partials, parts * s.G * block);

#ifdef _OPENMP
#pragma omp parallel num_threads(threads) if (threads > 1)
#endif
  {
    FlushDenormals ftz;
    const int64_t chunk = std::min(span, pchunk);
    GemmWorkspace<T> ws(kr, std::min(grows, band), gcols, chunk);
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
    for (int64_t u = 0; u < s.G * parts * bands; ++u) {
      const int64_t g = u / (parts * bands), part = u / bands % parts, r0 = u % bands * band;
      const int64_t nr = std::min(band, grows - r0);
      if (nr <= 0) continue;
      T* c = partial.get() + (g * parts + part) * block + r0 * gcols;
      const int64_t first = items * part / parts, last = items * (part + 1) / parts;
      if (first == last) std::fill_n(c, nr * gcols, T(0));
      for (int64_t it = first; it < last; ++it) {
        const int64_t n = it / pchunks, j0 = it % pchunks * pchunk, np = std::min(pchunk, span - j0);
        with_patch(s, idx, x + n * image + g * group_offset, j0, [&](const auto& patch) {
          using Patch = std::decay_t<decltype(patch)>;
          if (!s.nhwc && images > 1) {  // gW[k, tap] += gy[k, pixel] * Patch[tap, pixel]^T, pixels of a batch
            const ImageColumns<T> a{gy + (g * Kg + r0) * pixels, pixels, s.K * pixels, pixels, j0};
            gemm(kr, nr, taps, np, a, Transposed<Patch>{patch}, c, taps, it > first, ws);
          } else if (!s.nhwc && by_channel) {
            const MatrixView<T> a{gy + (n * s.K + g * Kg + r0) * pixels + j0, pixels, 1};
            gemm(kr, nr, taps, np, a, Transposed<Patch>{patch}, c, taps, it > first, ws);
          } else if (by_channel) {  // gW^T[k, tap] += gy[pixel, k]^T * Patch[tap, pixel]^T
            const MatrixView<T> gy_t{gy + (n * pixels + j0) * s.K + g * Kg + r0, s.K, 1};
            gemm(kr, nr, taps, np, Transposed<MatrixView<T>>{gy_t}, Transposed<Patch>{patch}, c, taps, it > first,
                 ws);
          } else if (s.nhwc) {  // gW[tap, k] += Patch[tap, pixel] * gy[pixel, k]
            const MatrixView<T> b{gy + (n * pixels + j0) * s.K + g * Kg, s.K, 1};
            if constexpr (std::is_same_v<Patch, MatrixView<T>>)  // pointwise: x^T, read in place
              gemm(kr, nr, Kg, np, StepMajor<T>{patch.p + r0, patch.cs}, b, c, Kg, it > first, ws);
            else
              gemm(kr, nr, Kg, np, RowOffset<Patch>{patch, r0}, b, c, Kg, it > first, ws);
          } else {  // NCHW 1x1: gW[c, k] += x[c, pixel] * gy[k, pixel]^T
            const MatrixView<T> gy_k{gy + (n * s.K + g * Kg) * pixels + j0, pixels, 1};
            gemm(kr, nr, Kg, np, RowOffset<Patch>{patch, r0}, Transposed<MatrixView<T>>{gy_k}, c, Kg, it > first,
                 ws);
          }
        });
      }
    }
  }

  parallel_for(s.G, threads, [&](int64_t g) {
    T* sum = partial.get() + g * parts * block;
    if (s.nhwc == by_channel) {  // the parts hold the transpose of gw's layout: sum them, then transpose
      for (int64_t part = 1; part < parts; ++part) {
        const T* src = sum + part * block;
        for (int64_t j = 0; j < block; ++j) sum[j] += src[j];
      }
      // HWIO: row `tap` holds K values, the group's Kg of them; OIHW: the group's block is Kg rows of taps.
      if (s.nhwc) transpose(sum, Kg, taps, gw + g * Kg, s.K);
      else transpose(sum, taps, Kg, gw + g * block, taps);
      return;
    }
    // NCHW/OIHW: group g's block is contiguous; NHWC/HWIO: row `tap` holds K values, the group's Kg of them.
    T* dst = s.nhwc ? gw + g * Kg : gw + g * block;
    const int64_t rows = s.nhwc ? taps : 1, cols = s.nhwc ? Kg : block, ld = s.nhwc ? s.K : block;
    for (int64_t r = 0; r < rows; ++r) {
      T* out = dst + r * ld;
      std::copy_n(sum + r * cols, cols, out);
      for (int64_t part = 1; part < parts; ++part) {
        const T* src = sum + part * block + r * cols;
        for (int64_t j = 0; j < cols; ++j) out[j] += src[j];
      }
    }
  });
}

template <typename T>
void conv2d_bwd_bias(const ConvShape& s, int threads, const T* gy, T* gb) {
  // An add streams its value from memory: weigh it like a few flops when deciding whether to wake threads.
  threads = threads_for(4 * s.N * s.K * s.pixels(), threads);
  const int64_t pixels = s.pixels();
  if (!s.nhwc) {  // gy[n, k, :] is contiguous: one channel per unit.
    parallel_for(s.K, threads, [&](int64_t k) {
      double sum = 0;  // double: the sum runs over N * P * Q values
      for (int64_t n = 0; n < s.N; ++n) {
        const T* row = gy + (n * s.K + k) * pixels;
        for (int64_t j = 0; j < pixels; ++j) sum += row[j];
      }
      gb[k] = T(sum);
    });
    return;
  }
  // NHWC: rows of K values; each part sums a fixed range of rows, parts are added in order. Within a part, blocks
  // of ROWS rows are summed in T as one flat run of ROWS * K values (vectorizable whatever K is), then into double.
  constexpr int64_t ROWS = 8, BLOCK = 256;  // rows per flat run; runs per T-sum before it joins the double sum
  const int64_t rows = s.N * pixels, parts = std::clamp<int64_t>(threads, 1, std::max<int64_t>(rows, 1));
  const int64_t run = ROWS * s.K;
  std::vector<double> partial(parts * s.K, 0.0);
  parallel_for(parts, threads, [&](int64_t part) {
    double* acc = partial.data() + part * s.K;
    std::vector<T> lanes(run);
    int64_t r = rows * part / parts;
    const int64_t end = rows * (part + 1) / parts;
    while (r + ROWS <= end) {
      std::fill(lanes.begin(), lanes.end(), T(0));
      const int64_t runs = std::min<int64_t>(BLOCK, (end - r) / ROWS);
      for (int64_t i = 0; i < runs; ++i, r += ROWS) {
        const T* src = gy + r * s.K;
        for (int64_t j = 0; j < run; ++j) lanes[j] += src[j];
      }
      for (int64_t j = 0; j < run; ++j) acc[j % s.K] += lanes[j];
    }
    for (; r < end; ++r)
      for (int64_t k = 0; k < s.K; ++k) acc[k] += gy[r * s.K + k];
  });
  for (int64_t k = 0; k < s.K; ++k) {
    double sum = 0;
    for (int64_t part = 0; part < parts; ++part) sum += partial[part * s.K + k];
    gb[k] = T(sum);
  }
}

template void conv2d_bwd_weight<float>(const ConvShape&, Algorithm, int, const float*, const float*, float*,
                                       float*);
template void conv2d_bwd_weight<double>(const ConvShape&, Algorithm, int, const double*, const double*, double*,
                                        double*);
template void conv2d_bwd_bias<float>(const ConvShape&, int, const float*, float*);
template void conv2d_bwd_bias<double>(const ConvShape&, int, const double*, double*);

}  // namespace fastconv
