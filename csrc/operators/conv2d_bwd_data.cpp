// conv2d_bwd_data: gx = d<conv(x, w), gy>/dx. Differentiates y[k, pixel] = sum_tap W[k, tap] * Patch[tap, pixel]:
// Col[tap, pixel] = sum_k W[k, tap] * gy[k, pixel] (one GEMM per block of pixels), then each Col entry is added
// to the input element its (tap, pixel) pair read (col2im). Work units own their slice of gx (NCHW: a channel
// block of one image; NHWC: whole images), so the scatter needs no atomics and its order is fixed. The direct and
// Winograd algorithms instead run the input gradient of a stride-1 dense convolution as a forward convolution of gy.
#include <algorithm>
#include <type_traits>
#include <numeric>
#include <vector>

#include "fastconv/cpu.h"
#include "fastconv/kernel_table.h"
#include "fastconv/parallel.h"
#include "operators/conv2d.h"
#include "operators/gemm.h"
#include "operators/patch.h"
#include "operators/scratch.h"
#include "operators/transpose.h"

namespace fastconv {
namespace {

constexpr int64_t COL_ELEMENTS = 1 << 16;  // Col block (256 KiB of float) stays in L2 between GEMM and scatter.
constexpr int64_t WEIGHT_BLOCK = 1 << 18;  // packed W^T values a thread keeps in L2 (1 MiB of float) across images
constexpr int64_t COL_GATHER_ELEMENTS = 1 << 17;  // at most one image's Col in bwd_data_gather (512 KiB of float)

// The input gradient as the forward convolution input_grad_as_forward(s) of gy with the flipped kernel, run by the
// direct kernels.
template <typename T>
void bwd_data_as_forward(const ConvShape& s, int threads, const T* gy, const T* w, T* gx) {
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
  const T* no_bias = nullptr;
  conv2d_direct_fwd(input_grad_as_forward(s), threads, gy, flipped.data(), no_bias, false, gx);
}

// Pointwise convolutions: Col is gx itself, no scatter. NHWC GEMMs write column blocks of gx, split when there are
// fewer images than threads (a dense layer is one image); NCHW ones write blocks of channels.
template <typename T>
void bwd_data_pointwise(const ConvShape& s, int threads, const T* gy, const T* w, T* gx) {
  const int64_t Kg = s.Kg(), Cg = s.Cg(), pixels = s.pixels(), plane = s.H * s.W, image = s.C * plane;
  const GemmKernel<T>& kr = active_kernels().gemm_for_forward<T>(s.nhwc ? Cg : pixels);
  const int64_t split = ceil_div(int64_t(threads) * 2, s.N * s.G);
  const int64_t cblocks = !s.nhwc                 ? std::clamp<int64_t>(split, 1, Cg)
                          : s.N * s.G < threads ? std::clamp<int64_t>(threads, 1, ceil_div(Cg, kr.nr))
                                                : 1;
  const int64_t cblock = s.nhwc ? ceil_div(ceil_div(Cg, cblocks), kr.nr) * kr.nr : ceil_div(Cg, cblocks);
#ifdef _OPENMP
#pragma omp parallel num_threads(threads) if (threads > 1)
#endif
  {
    FlushDenormals ftz;
    GemmWorkspace<T> ws(kr, s.nhwc ? pixels : cblock, s.nhwc ? cblock : pixels, Kg);
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
    for (int64_t u = 0; u < s.N * s.G * cblocks; ++u) {
      const int64_t n = u / (s.G * cblocks), g = u / cblocks % s.G, c0 = u % cblocks * cblock;
      const int64_t nc = std::min(cblock, Cg - c0);
      if (nc <= 0) continue;
      T* gxg = gx + n * image + (s.nhwc ? g * Cg : g * Cg * plane);
      if (s.nhwc) {  // gx[pixel, c] = gy[pixel, k] * W[c, k]^T, columns [c0, c0 + nc)
        gemm(kr, pixels, nc, Kg, MatrixView<T>{gy + n * pixels * s.K + g * Kg, s.K, 1},
             MatrixView<T>{w + g * Kg + c0 * s.K, 1, s.K}, gxg + c0, s.C, false, ws);
      } else {  // gx[c, pixel] = W[k, c]^T * gy[k, pixel]
        gemm(kr, nc, pixels, Kg, MatrixView<T>{w + g * Kg * Cg + c0, 1, Cg},
             MatrixView<T>{gy + (n * s.K + g * Kg) * pixels, pixels, 1}, gxg + c0 * plane, plane, false, ws);
      }
    }
  }
}

// NCHW: Col[tap, pixel] = W^T[tap, k] * gy[k, pixel]. W^T is packed once per call. Units are (group, channel
// block, image), image fastest: a thread runs one block of packed rows over consecutive images while it stays in
// L2 (with few pixels per image, re-streaming all of W^T per image made a 512-channel 7x7 layer memory-bound).
template <typename T>
void bwd_data_nchw(const ConvShape& s, int threads, const T* gy, const T* w, T* gx) {
  const int64_t Kg = s.Kg(), Cg = s.Cg(), RS = s.R * s.S, taps = s.taps(), pixels = s.pixels();
  const int64_t plane = s.H * s.W, image = s.C * plane;
  const GemmKernel<T>& kr = active_kernels().gemm_for_forward<T>(pixels);
  const PatchIndex idx(s);
  const int64_t padded = ceil_div(taps, kr.mr) * kr.mr;
  const ScratchBuffer<T> packed(Scratch::PackedWeights, s.G * padded * Kg);
  for (int64_t g = 0; g < s.G; ++g)
    prepack_a(kr, MatrixView<T>{w + g * Kg * taps, 1, taps}, taps, Kg, packed.get() + g * padded * Kg, threads);
  // Enough channel blocks for the threads and for the packed rows of one to fit WEIGHT_BLOCK; each block starts on
  // a register panel (align channels make a whole number of panels).
  const int64_t align = kr.mr / std::gcd<int64_t>(RS, kr.mr);
  const int64_t wanted = std::max(ceil_div(int64_t(threads) * 2, s.N * s.G), ceil_div(taps * Kg, WEIGHT_BLOCK));
  const int64_t cblock = std::min(Cg, ceil_div(ceil_div(Cg, std::clamp<int64_t>(wanted, 1, Cg)), align) * align);
  const int64_t cblocks = ceil_div(Cg, cblock);
  // At least one register panel, at most every pixel (min last: images smaller than a panel).
  const int64_t pblock = std::min(std::max<int64_t>(COL_ELEMENTS / (cblock * RS), kr.nr), std::max<int64_t>(pixels, 1));
#ifdef _OPENMP
#pragma omp parallel num_threads(threads) if (threads > 1)
#endif
  {
    FlushDenormals ftz;
    GemmWorkspace<T> ws(kr, cblock * RS, std::min(pblock, pixels), Kg);
    AlignedBuffer<T> col(std::min(pblock, pixels) * cblock * RS);
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
    for (int64_t u = 0; u < s.G * cblocks * s.N; ++u) {
      const int64_t n = u % s.N, c0 = u / s.N % cblocks * cblock, g = u / (s.N * cblocks);
      const int64_t nc = std::min(cblock, Cg - c0), t0 = c0 * RS, nt = nc * RS;
      T* gxg = gx + n * image + g * Cg * plane;
      std::fill_n(gxg + c0 * plane, nc * plane, T(0));
      for (int64_t j0 = 0; j0 < pixels; j0 += pblock) {
        const int64_t np = std::min(pblock, pixels - j0);
        const MatrixView<T> b{gy + (n * s.K + g * Kg) * pixels + j0, pixels, 1};
        gemm(kr, nt, np, Kg, Prepacked<T>{packed.get() + g * padded * Kg, padded, t0}, b, col.get(), np, false, ws);
        // col2im: each tap's row of Col goes back along its runs of pixels.
        for (int64_t t = 0; t < nt; ++t) {
          const T* src = col.get() + t * np;
          for_each_run(s, idx, t0 + t, j0, np, [&](int64_t j, int64_t len, int64_t offset, int64_t step) {
            for (int64_t i = 0; i < len; ++i) gxg[offset + i * step] += src[j + i];
          });
        }
      }
    }
  }
}

// Unit stride (col2im_gathers): Col spans the pixels of whole consecutive images, one GEMM for all of them (gy's
// columns read across images, as the weight gradient's batched GEMMs do), and the kernels' col2im gathers each gx
// row from the Col rows that read it, in registers, writing every gx value once. Units are (group, block of
// images). NHWC takes the same path through NCHW copies: the block's gy transposed before the GEMM, each image's gx
// planes after col2im. LeNet's 6 -> 16 layer (100 pixels an image): per-image GEMMs of 100 columns and scattered
// runs of 10 values had taken 0.33 ms (NCHW) and 0.35 ms (NHWC), the direct forward of zero-padded gy (half its
// taps reading padding) 0.155 ms.
template <typename T>
void bwd_data_gather(const ConvShape& s, int threads, const T* gy, const T* w, T* gx) {
  const int64_t Kg = s.Kg(), Cg = s.Cg(), taps = s.taps(), pixels = s.pixels(), plane = s.H * s.W;
  // Images per unit: Col within COL_ELEMENTS where it can be, at least two units a thread where there are images
  // enough, blocks of equal size.
  const int64_t most = std::clamp<int64_t>(COL_ELEMENTS / (taps * pixels), 1, s.N);
  const int64_t per_group = std::max(ceil_div(s.N, most), ceil_div(2 * int64_t(threads), s.G));
  const int64_t nb = ceil_div(s.N, std::min(per_group, s.N)), blocks = ceil_div(s.N, nb);
  const KernelTable& kt = active_kernels();
  const GemmKernel<T>& kr = kt.gemm_for_forward<T>(nb * pixels);
  const Col2imKernel<T> col2im = kt.col2im<T>();
  const TransposeKernel<T> transpose = kt.transpose<T>();
  // W^T (taps in (c, r, s) order, the order of the gathered planes), packed once. NHWC (HWIO) weights are put in
  // OIHW order first.
  std::vector<T> oihw(s.nhwc ? s.K * taps : 0);
  if (s.nhwc) hwio_to_oihw(w, s.K, Cg, s.R * s.S, oihw.data(), threads);
  const T* wt = s.nhwc ? oihw.data() : w;
  const int64_t padded = ceil_div(taps, kr.mr) * kr.mr;
  const ScratchBuffer<T> packed(Scratch::PackedWeights, s.G * padded * Kg);
  for (int64_t g = 0; g < s.G; ++g)
    prepack_a(kr, MatrixView<T>{wt + g * Kg * taps, 1, taps}, taps, Kg, packed.get() + g * padded * Kg, threads);
#ifdef _OPENMP
#pragma omp parallel num_threads(threads) if (threads > 1)
#endif
  {
    FlushDenormals ftz;
    GemmWorkspace<T> ws(kr, taps, nb * pixels, Kg);
    const ScratchBuffer<T> col(Scratch::ColBlock, taps * nb * pixels);
    const ScratchBuffer<T> gy_planes(Scratch::ColGy, s.nhwc ? nb * Kg * pixels : 0);
    const ScratchBuffer<T> gx_planes(Scratch::ColGx, s.nhwc ? Cg * plane : 0);
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
    for (int64_t u = 0; u < s.G * blocks; ++u) {
      const int64_t g = u / blocks, n0 = u % blocks * nb, images = std::min(nb, s.N - n0), ncols = images * pixels;
      ImageColumns<T> b{gy + g * Kg * pixels, pixels, s.K * pixels, pixels, n0 * pixels};
      if (s.nhwc) {
        for (int64_t i = 0; i < images; ++i)
          transpose(gy + (n0 + i) * pixels * s.K + g * Kg, pixels, Kg, s.K, gy_planes.get() + i * Kg * pixels, pixels);
        b = {gy_planes.get(), pixels, Kg * pixels, pixels, 0};
      }
      gemm(kr, taps, ncols, Kg, Prepacked<T>{packed.get() + g * padded * Kg, padded}, b, col.get(), ncols, false, ws);
      for (int64_t i = 0; i < images; ++i) {
        const Col2imPlanes<T> c{col.get() + i * pixels, ncols, Cg, s.R, s.S, s.dil_h, s.dil_w, s.pad_top, s.pad_left,
                                s.P, s.Q, s.H, s.W};
        if (!s.nhwc) {
          col2im(c, gx + (n0 + i) * s.C * plane + g * Cg * plane);
          continue;
        }
        col2im(c, gx_planes.get());
        transpose(gx_planes.get(), Cg, plane, plane, gx + (n0 + i) * plane * s.C + g * Cg, s.C);
      }
    }
  }
}

// NHWC: Col[pixel, tap] = gy[pixel, k] * W^T[k, tap], W^T packed once per call. Taps interleave channels, so a
// unit owns whole images: one contiguous range of (image, group) pairs per thread, which runs each block of taps
// over all of its images while that block's packed columns stay in L2.
template <typename T>
void bwd_data_nhwc(const ConvShape& s, int threads, const T* gy, const T* w, T* gx) {
  const int64_t Kg = s.Kg(), Cg = s.Cg(), taps = s.taps(), pixels = s.pixels(), plane = s.H * s.W;
  const GemmKernel<T>& kr = active_kernels().gemm_for_forward<T>(taps);
  const PatchIndex idx(s);
  const int64_t padded = ceil_div(taps, kr.nr) * kr.nr;
  const ScratchBuffer<T> packed(Scratch::PackedWeights, s.G * padded * Kg);
  for (int64_t g = 0; g < s.G; ++g)
    prepack_b(kr, MatrixView<T>{w + g * Kg, 1, s.K}, Kg, taps, packed.get() + g * padded * Kg, threads);
  const int64_t tblock = std::clamp<int64_t>(WEIGHT_BLOCK / Kg / kr.nr * kr.nr, kr.nr, padded);
  const int64_t pblock = std::min(std::max<int64_t>(COL_ELEMENTS / tblock, kr.mr), std::max<int64_t>(pixels, 1));
  const int64_t pairs = s.N * s.G, ranges = std::clamp<int64_t>(threads, 1, pairs);
#ifdef _OPENMP
#pragma omp parallel num_threads(threads) if (threads > 1)
#endif
  {
    FlushDenormals ftz;
    GemmWorkspace<T> ws(kr, std::min(pblock, pixels), std::min(tblock, taps), Kg);
    AlignedBuffer<T> col(std::min(pblock, pixels) * std::min(tblock, taps));
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
    for (int64_t r = 0; r < ranges; ++r) {
      const int64_t first = pairs * r / ranges, last = pairs * (r + 1) / ranges;
      const auto image_of = [&](int64_t pair) { return gx + pair / s.G * s.C * plane + pair % s.G * Cg; };
      for (int64_t pair = first; pair < last; ++pair)
        for (int64_t i = 0; i < plane; ++i) std::fill_n(image_of(pair) + i * s.C, Cg, T(0));
      for (int64_t t0 = 0; t0 < taps; t0 += tblock) {
        const int64_t nt = std::min(tblock, taps - t0);
        for (int64_t pair = first; pair < last; ++pair) {
          const int64_t n = pair / s.G, g = pair % s.G;
          T* gxg = image_of(pair);
          for (int64_t j0 = 0; j0 < pixels; j0 += pblock) {
            const int64_t np = std::min(pblock, pixels - j0);
            const MatrixView<T> a{gy + (n * pixels + j0) * s.K + g * Kg, s.K, 1};
            gemm(kr, np, nt, Kg, a, Prepacked<T>{packed.get() + g * padded * Kg, padded, t0}, col.get(), nt, false,
                 ws);
            // col2im: with enough channels, each pixel's row of Col goes back in runs of channels; otherwise
            // each tap's column goes back along its runs of pixels.
            if (Cg >= MIN_CHANNEL_RUN) {
              for (int64_t p = 0; p < np; ++p) {
                const T* src = col.get() + p * nt;
                for_each_tap_run(s, idx, j0 + p, t0, nt, [&](int64_t i, int64_t len, int64_t offset) {
                  for (int64_t j = 0; j < len; ++j) gxg[offset + j] += src[i + j];
                });
              }
            } else {
              for (int64_t t = 0; t < nt; ++t) {
                for_each_run(s, idx, t0 + t, j0, np, [&](int64_t j, int64_t len, int64_t offset, int64_t step) {
                  for (int64_t i = 0; i < len; ++i) gxg[offset + i * step] += col.get()[(j + i) * nt + t];
                });
              }
            }
          }
        }
      }
    }
  }
}

}  // namespace

// NHWC layers keep bwd_data_nhwc, which reads gy in place and needs no transposes, where they have 64+ channels a
// group (its scatter then adds whole runs of channels: 8 x 64 -> 128 3x3 on 7x7, 0.34 against 0.39 ms; 16
// channels: 0.46 against 0.21) or more gy channels than taps (gy's NCHW copy would outweigh Col: 1 -> 32 3x3, 0.25
// against 0.26 ms).
bool col2im_gathers(const ConvShape& s) {
  const bool nhwc_pays = s.Cg() < 64 && s.Kg() <= s.taps();
  return (!s.nhwc || nhwc_pays) && s.stride_h == 1 && s.stride_w == 1 && s.S <= COL2IM_MAX_S &&
         s.taps() * s.Kg() <= WEIGHT_BLOCK && s.taps() * s.pixels() <= COL_GATHER_ELEMENTS;
}

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
  if (chosen == Algorithm::Winograd) return conv2d_winograd_bwd_data(s, threads, gy, w, gx);
  if (chosen != Algorithm::Gemm) return bwd_data_as_forward(s, threads, gy, w, gx);
  if (skinny_applies(s, std::is_same_v<T, double>))
    return conv2d_skinny_bwd<T>(s, threads, gy, nullptr, w, gx, nullptr, nullptr);
  if (is_pointwise(s)) return bwd_data_pointwise(s, threads, gy, w, gx);
  if (col2im_gathers(s)) return bwd_data_gather(s, threads, gy, w, gx);
  if (s.nhwc) return bwd_data_nhwc(s, threads, gy, w, gx);
  bwd_data_nchw(s, threads, gy, w, gx);
}

template void conv2d_bwd_data<float>(const ConvShape&, Algorithm, int, const float*, const float*, float*);
template void conv2d_bwd_data<double>(const ConvShape&, Algorithm, int, const double*, const double*, double*);

}  // namespace fastconv
