// conv2d_bwd_data: gx = d<conv(x, w), gy>/dx. Differentiates y[k, pixel] = sum_tap W[k, tap] * Patch[tap, pixel]:
// Col[tap, pixel] = sum_k W[k, tap] * gy[k, pixel] (one GEMM per block of pixels), then each Col entry is added
// to the input element its (tap, pixel) pair read (col2im). Work units are (image, group, channel block); a unit
// owns its slice of gx, so the scatter needs no atomics and its order is fixed. The direct and Winograd
// algorithms instead run the input gradient of a stride-1 dense convolution as a forward convolution of gy.
#include <algorithm>
#include <vector>

#include "fastconv/cpu.h"
#include "fastconv/parallel.h"
#include "operators/conv2d.h"
#include "operators/gemm.h"
#include "operators/patch.h"

namespace fastconv {
namespace {

constexpr int64_t COL_ELEMENTS = 1 << 16;  // Col block (256 KiB of float) stays in L2 between GEMM and scatter.

// The input gradient as the forward convolution input_grad_as_forward(s) of gy with the flipped kernel, run by
// `alg` (direct or Winograd).
template <typename T>
void bwd_data_as_forward(const ConvShape& s, Algorithm alg, int threads, const T* gy, const T* w, T* gx) {
  std::vector<T> flipped(s.K * s.Cg() * s.R * s.S);
  parallel_for(s.K, threads, [&](int64_t k) {
    if (is_depthwise(s)) {  // (K, 1, R, S) or (R, S, 1, K): each channel's kernel flipped, channels unchanged
      for (int64_t r = 0; r < s.R; ++r)
        for (int64_t q = 0; q < s.S; ++q) {
          const int64_t fr = s.R - 1 - r, fq = s.S - 1 - q;
          if (s.nhwc) flipped[(fr * s.S + fq) * s.K + k] = w[(r * s.S + q) * s.K + k];
          else flipped[(k * s.R + fr) * s.S + fq] = w[(k * s.R + r) * s.S + q];
        }
      return;
    }
    for (int64_t c = 0; c < s.C; ++c)
      for (int64_t r = 0; r < s.R; ++r)
        for (int64_t q = 0; q < s.S; ++q) {
          const int64_t fr = s.R - 1 - r, fq = s.S - 1 - q;
          if (s.nhwc) flipped[((fr * s.S + fq) * s.K + k) * s.C + c] = w[((r * s.S + q) * s.C + c) * s.K + k];
          else flipped[((c * s.K + k) * s.R + fr) * s.S + fq] = w[((k * s.C + c) * s.R + r) * s.S + q];
        }
  });
  const ConvShape t = input_grad_as_forward(s);
  const T* no_bias = nullptr;
  if (alg == Algorithm::Winograd) return conv2d_winograd_fwd(t, threads, gy, flipped.data(), no_bias, false, gx);
  conv2d_direct_fwd(t, threads, gy, flipped.data(), no_bias, false, gx);
}

}  // namespace

template <typename T>
void conv2d_bwd_data(const ConvShape& s, Algorithm alg, int threads, const T* gy, const T* w, T* gx) {
  if (s.N == 0) return;
  threads = threads_for(s.flops(), threads);
  const Algorithm chosen = choose_algorithm(s, alg, Pass::InputGrad);
  if (chosen == Algorithm::Direct && is_depthwise(s)) {
    // One channel per group in and out, stride 1: the transposed convolution is the same kind of depthwise
    // forward, which the row kernels run.
    const bool as_forward = s.K == s.C && s.stride_h == 1 && s.stride_w == 1 && direct_rows_apply(s);
    if (!as_forward) return conv2d_depthwise_bwd_data(s, threads, gy, w, gx);
  }
  if (chosen != Algorithm::Gemm) return bwd_data_as_forward(s, chosen, threads, gy, w, gx);
  const int64_t Kg = s.Kg(), Cg = s.Cg(), RS = s.R * s.S, taps = s.taps(), pixels = s.pixels();
  // GEMM columns: NHWC the input channels (pointwise) or taps, NCHW the pixels.
  const GemmKernel<T>& kr = active_kernels().gemm_for<T>(s.nhwc ? (is_pointwise(s) ? Cg : taps) : pixels);
  const PatchIndex idx(s);
  const int64_t plane = s.H * s.W, image = s.C * plane;
  // NCHW taps are (c, r, s): a block of channels is a block of Col rows. NHWC taps interleave channels.
  // NHWC pointwise GEMMs write column blocks of gx: split them when there are fewer images than threads (a dense
  // layer is one image); other NHWC taps interleave channels and keep whole images.
  const int64_t split = ceil_div(int64_t(threads) * 2, s.N * s.G);
  const int64_t cblocks = !s.nhwc                ? std::clamp<int64_t>(split, 1, Cg)
                          : is_pointwise(s) && s.N * s.G < threads ? std::clamp<int64_t>(threads, 1, ceil_div(Cg, kr.nr))
                                                                    : 1;
  const int64_t cblock = s.nhwc ? ceil_div(ceil_div(Cg, cblocks), kr.nr) * kr.nr : ceil_div(Cg, cblocks);
  const int64_t pblock = std::clamp<int64_t>(COL_ELEMENTS / (cblock * RS), kr.nr, std::max<int64_t>(pixels, 1));

#ifdef _OPENMP
#pragma omp parallel num_threads(threads) if (threads > 1)
#endif
  {
    FlushDenormals ftz;
    const int64_t span = std::max(pblock, pixels);  // pointwise GEMMs cover all pixels at once
    GemmWorkspace<T> ws(kr, s.nhwc ? span : cblock * RS, s.nhwc ? taps : span, Kg);
    AlignedBuffer<T> col(is_pointwise(s) ? 1 : std::min(pblock, pixels) * cblock * RS);
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
    for (int64_t u = 0; u < s.N * s.G * cblocks; ++u) {
      const int64_t n = u / (s.G * cblocks), g = u / cblocks % s.G, c0 = u % cblocks * cblock;
      const int64_t nc = std::min(cblock, Cg - c0);
      if (nc <= 0) continue;
      const int64_t t0 = c0 * RS, nt = nc * RS;  // this unit's taps (all of them for NHWC)
      T* gxg = gx + n * image + (s.nhwc ? g * Cg : g * Cg * plane);
      if (is_pointwise(s)) {  // Col is gx itself: no scatter
        if (s.nhwc) {  // gx[pixel, c] = gy[pixel, k] * W[c, k]^T, columns [c0, c0 + nc)
          gemm(kr, pixels, nc, Kg, MatrixView<T>{gy + n * pixels * s.K + g * Kg, s.K, 1},
               MatrixView<T>{w + g * Kg + c0 * s.K, 1, s.K}, gxg + c0, s.C, false, ws);
        } else {  // gx[c, pixel] = W[k, c]^T * gy[k, pixel]
          gemm(kr, nc, pixels, Kg, MatrixView<T>{w + g * Kg * taps + c0, 1, taps},
               MatrixView<T>{gy + (n * s.K + g * Kg) * pixels, pixels, 1}, gxg + c0 * plane, plane, false, ws);
        }
        continue;
      }
      if (s.nhwc) {
        for (int64_t i = 0; i < plane; ++i) std::fill_n(gxg + i * s.C, Cg, T(0));
      } else {
        std::fill_n(gxg + c0 * plane, nc * plane, T(0));
      }
      for (int64_t j0 = 0; j0 < pixels; j0 += pblock) {
        const int64_t np = std::min(pblock, pixels - j0);
        if (s.nhwc) {  // Col[pixel, tap] = gy[pixel, k] * W[tap, k]^T
          const MatrixView<T> a{gy + (n * pixels + j0) * s.K + g * Kg, s.K, 1};
          const MatrixView<T> b{w + g * Kg, 1, s.K};
          gemm(kr, np, taps, Kg, a, b, col.get(), taps, false, ws);
        } else {  // Col[tap, pixel] = W[k, tap]^T * gy[k, pixel]
          const MatrixView<T> a{w + g * Kg * taps + t0, 1, taps};
          const MatrixView<T> b{gy + (n * s.K + g * Kg) * pixels + j0, pixels, 1};
          gemm(kr, nt, np, Kg, a, b, col.get(), np, false, ws);
        }
        // col2im: each Col entry goes back to the input element its (tap, pixel) read. NHWC with enough
        // channels walks Col row by row in runs of channels; otherwise each tap walks its runs of pixels.
        if (s.nhwc && Cg >= MIN_CHANNEL_RUN) {
          for (int64_t p = 0; p < np; ++p) {
            const T* src = col.get() + p * taps;
            for_each_tap_run(s, idx, j0 + p, 0, taps, [&](int64_t i, int64_t len, int64_t offset) {
              for (int64_t j = 0; j < len; ++j) gxg[offset + j] += src[i + j];
            });
          }
        } else {
          const int64_t col_tap = s.nhwc ? 1 : np, col_pixel = s.nhwc ? taps : 1;
          for (int64_t t = 0; t < nt; ++t) {
            const T* src = col.get() + t * col_tap;
            for_each_run(s, idx, t0 + t, j0, np, [&](int64_t j, int64_t len, int64_t offset, int64_t step) {
              for (int64_t i = 0; i < len; ++i) gxg[offset + i * step] += src[(j + i) * col_pixel];
            });
          }
        }
      }
    }
  }
}

template void conv2d_bwd_data<float>(const ConvShape&, Algorithm, int, const float*, const float*, float*);
template void conv2d_bwd_data<double>(const ConvShape&, Algorithm, int, const double*, const double*, double*);

}  // namespace fastconv
