// conv2d_fwd: y = conv(x, w) (+ b) (relu) as one GEMM per work unit, reading x through the patch view (no im2col copy).
// NCHW: Y_g[K/G x pixels] = W_g[K/G x taps] * Patch[taps x pixels]; NHWC: Y_g[pixels x K/G] = Patch^T * W_g.
// Work units are (image, group, pixel chunk), or (group, chunk of a batch of small images), split statically over
// threads; each writes a disjoint block of y.
#include <algorithm>
#include <type_traits>

#include "fastconv/cpu.h"
#include "fastconv/parallel.h"
#include "operators/conv2d.h"
#include "operators/gemm.h"
#include "operators/patch.h"
#include "operators/scratch.h"

namespace fastconv {
namespace {

// Pixel chunks per image (or per batch of images): enough units to keep every thread busy (per image: a few per
// thread; a batch has no imbalance to spread), each chunk at least two A row panels (NHWC: pixels are GEMM rows)
// or one B panel of at least 64 columns (NCHW: pixels are columns).
template <typename T>
int64_t pixel_chunks(const ConvShape& s, int threads, const GemmKernel<T>& kr, int64_t images) {
  const int64_t per_image = images == 1;
  const int64_t wanted = ceil_div(int64_t(threads) * (per_image ? 4 : 1), (per_image ? s.N : 1) * s.G);
  const int64_t most = std::max<int64_t>(1, images * s.pixels() / (s.nhwc ? 2 * kr.mr : std::max(kr.nr, 64)));
  return std::clamp<int64_t>(wanted, 1, most);
}

// NCHW output columns [j0, j0 + np) of a batch, each image's run of pixels to its own block: block is Kg x np.
template <typename T>
void store_columns(const ConvShape& s, const T* block, int64_t j0, int64_t np, T* y_group) {
  const int64_t pixels = s.pixels();
  for (int64_t j = j0; j < j0 + np;) {
    const int64_t n = j / pixels, pixel = j % pixels, len = std::min(pixels - pixel, j0 + np - j);
    T* dst = y_group + n * s.K * pixels + pixel;
    for (int64_t k = 0; k < s.Kg(); ++k) std::copy_n(block + k * np + (j - j0), len, dst + k * pixels);
    j += len;
  }
}

template <typename T>
void conv2d_fwd_gemm(const ConvShape& s, int threads, const T* x, const T* w, const T* b, bool relu, T* y) {
  if (s.N == 0) return;
  threads = threads_for(s.flops(), threads);
  if (skinny_applies(s, std::is_same_v<T, double>)) return conv2d_skinny_fwd(s, threads, x, w, b, relu, y);
  const int64_t Kg = s.Kg(), taps = s.taps(), pixels = s.pixels();
  // GEMM columns: NHWC the output channels, NCHW the pixels.
  const GemmKernel<T>& kr = active_kernels().gemm_for_forward<T>(s.nhwc ? Kg : pixels);
  const int64_t images = batches_images(s) ? s.N : 1, span = images * pixels;  // pixels of one GEMM's patch
  const PatchIndex idx(s, images);
  const int64_t chunks = pixel_chunks(s, threads, kr, images), chunk = ceil_div(span, chunks);
  const int64_t units = s.N / images * s.G * chunks;
  threads = static_cast<int>(std::min<int64_t>(threads, units));  // no thread woken without a unit
  const int64_t image = s.C * s.H * s.W, group_offset = s.nhwc ? s.Cg() : s.Cg() * s.H * s.W;

  // The weights are packed once per group and shared by every unit (NCHW: the A operand, NHWC: B).
  const int64_t panel = s.nhwc ? kr.nr : kr.mr, padded = ceil_div(Kg, panel) * panel;
  const ScratchBuffer<T> packed_w(Scratch::PackedWeights, s.G * padded * taps);
  for (int64_t g = 0; g < s.G; ++g) {
    T* dst = packed_w.get() + g * padded * taps;
    if (s.nhwc) prepack_b(kr, MatrixView<T>{w + g * Kg, s.K, 1}, taps, Kg, dst, threads);
    else prepack_a(kr, MatrixView<T>{w + g * Kg * taps, taps, 1}, Kg, taps, dst, threads);
  }

#ifdef _OPENMP
#pragma omp parallel num_threads(threads) if (threads > 1)
#endif
  {
    FlushDenormals ftz;
    GemmWorkspace<T> ws(kr, s.nhwc ? chunk : Kg, s.nhwc ? Kg : chunk, taps);
    AlignedBuffer<T> batch_block(images > 1 && !s.nhwc ? Kg * chunk : 1);
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
    for (int64_t u = 0; u < units; ++u) {
      const int64_t n = u / (s.G * chunks), g = u / chunks % s.G, j0 = u % chunks * chunk;
      const int64_t np = std::min(chunk, span - j0);
      if (np <= 0) continue;
      const T* bg = b ? b + g * Kg : nullptr;
      const Prepacked<T> wg{packed_w.get() + g * padded * taps, padded};
      with_patch(s, idx, x + n * image + g * group_offset, j0, [&](const auto& patch) {
        using Patch = std::decay_t<decltype(patch)>;
        const GemmEpilogue<T> finish{bg, !s.nhwc, relu};  // bias by output channel: NHWC columns, NCHW rows
        if (s.nhwc) {  // a batch's rows are consecutive in y too
          T* c = y + (n * pixels + j0) * s.K + g * Kg;
          gemm(kr, np, Kg, taps, Transposed<Patch>{patch}, wg, c, s.K, false, ws, finish);
        } else if (images > 1) {
          T* c = batch_block.get();
          gemm(kr, Kg, np, taps, wg, patch, c, np, false, ws, finish);
          store_columns(s, c, j0, np, y + g * Kg * pixels);
        } else {
          T* c = y + (n * s.K + g * Kg) * pixels + j0;
          gemm(kr, Kg, np, taps, wg, patch, c, pixels, false, ws, finish);
        }
      });
    }
  }
}

}  // namespace

template <typename T>
void conv2d_fwd(const ConvShape& s, Algorithm alg, int threads, const T* x, const T* w, const T* b, bool relu, T* y) {
  if (s.N == 0) return;
  const Algorithm chosen = choose_algorithm(s, alg, Pass::Forward);
  if (chosen == Algorithm::SpaceToDepth) return conv2d_space_to_depth_fwd(s, threads, x, w, b, relu, y);
  if (chosen == Algorithm::Winograd) return conv2d_winograd_fwd(s, threads_for(s.flops(), threads), x, w, b, relu, y);
  if (chosen == Algorithm::Direct) {
    threads = threads_for(s.flops(), threads);
    if (direct_rows_apply(s)) return conv2d_direct_fwd(s, threads, x, w, b, relu, y);
    return conv2d_depthwise_fwd(s, threads, x, w, b, relu, y);
  }
  conv2d_fwd_gemm(s, threads, x, w, b, relu, y);
}

template void conv2d_fwd<float>(const ConvShape&, Algorithm, int, const float*, const float*, const float*, bool,
                                float*);
template void conv2d_fwd<double>(const ConvShape&, Algorithm, int, const double*, const double*, const double*, bool,
                                 double*);

}  // namespace fastconv
