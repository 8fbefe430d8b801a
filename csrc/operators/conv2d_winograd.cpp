// The Winograd F(4x4, 3x3) forward convolution (3x3, stride 1, no dilation, groups == 1): each 4x4 output tile
// costs 36 multiply-adds per (input, output) channel pair instead of 144. Per block of tiles, all threads:
//   1. transform the input tiles: V[xi] (tiles x C) = B^T d B, vectorized over channels (NHWC);
//   2. multiply, one GEMM per xi of the 36: M[xi] (tiles x K) = V[xi] * U[xi] (U = G g G^T, packed once a call);
//   3. transform back: y = A^T M A (+ bias) (relu).
// Blocks bound the workspace (V and M hold 36 * block * (C + K) values). NCHW runs on NHWC copies of x and y.
// float32 error: a few 1e-4 relative to the largest output (the transforms scale values by up to 8 x 5 / 24);
// benchmarks/RESULTS.md states the measured error.
#include <algorithm>
#include <vector>

#include "fastconv/cpu.h"
#include "fastconv/parallel.h"
#include "operators/conv2d.h"
#include "operators/gemm.h"
#include "operators/scratch.h"
#include "operators/transpose.h"

namespace fastconv {
namespace {

constexpr int64_t TILE = 4, ALPHA = 6, POINTS = ALPHA * ALPHA;
constexpr int64_t BLOCK_BYTES = 4 << 20;  // V + M of one block of tiles

// U[xi] = (G g G^T)[xi] for every (c, k) (w is OIHW or HWIO, as s.nhwc says), written straight into the GEMM's
// packed B layout (C x K per xi, as prepack_b lays it out: per KC block of rows, panels of nr columns; columns past
// K zero). In parallel over c; G g then (G g) G^T, each a short loop over k that vectorizes.
template <typename T>
void transform_weights(const ConvShape& s, const T* w, const GemmKernel<T>& kr, int64_t padded, T* packed,
                       int threads) {
  static const T G[ALPHA][3] = {{T(0.25), 0, 0},
                                {T(-1.0 / 6), T(-1.0 / 6), T(-1.0 / 6)},
                                {T(-1.0 / 6), T(1.0 / 6), T(-1.0 / 6)},
                                {T(1.0 / 24), T(1.0 / 12), T(1.0 / 6)},
                                {T(1.0 / 24), T(-1.0 / 12), T(1.0 / 6)},
                                {0, 0, 1}};
  // Input channel c's 3 x 3 x K weights, output channels consecutive: in place for (R, S, C, K); for (K, C, R, S)
  // gathered first, each output channel's 9 values one cache line (the transform below reads every (r, q) row of
  // them 6 times: straight from OIHW, 18 passes of K lines 9 C values apart thrashed L1 and took 40% of a
  // 256-channel NCHW forward).
  const int64_t sr = s.nhwc ? 3 * s.C * s.K : 3 * s.K, sq = s.nhwc ? s.C * s.K : s.K;
  parallel_for(s.C, threads, [&](int64_t c) {
    std::vector<T> gw(ALPHA * 3 * padded, T(0)), u(padded, T(0)), slice(s.nhwc ? 0 : 9 * s.K);
    const T* wc = w + c * s.K;
    if (!s.nhwc) {
      for (int64_t k = 0; k < s.K; ++k)
        for (int64_t rq = 0; rq < 9; ++rq) slice[rq * s.K + k] = w[(k * s.C + c) * 9 + rq];
      wc = slice.data();
    }
    for (int i = 0; i < ALPHA; ++i)
      for (int q = 0; q < 3; ++q) {
        T* dst = gw.data() + (i * 3 + q) * padded;
        for (int r = 0; r < 3; ++r) {
          const T* src = wc + r * sr + q * sq;
          const T coef = G[i][r];
          for (int64_t k = 0; k < s.K; ++k) dst[k] += coef * src[k];
        }
      }
    const int64_t pc = c / kr.kc * kr.kc, kb = std::min<int64_t>(kr.kc, s.C - pc);
    for (int i = 0; i < ALPHA; ++i)
      for (int j = 0; j < ALPHA; ++j) {
        const T *g0 = gw.data() + (i * 3) * padded, *g1 = g0 + padded, *g2 = g1 + padded;
        for (int64_t k = 0; k < s.K; ++k) u[k] = g0[k] * G[j][0] + g1[k] * G[j][1] + g2[k] * G[j][2];
        T* block = packed + (i * ALPHA + j) * padded * s.C + padded * pc + (c - pc) * kr.nr;
        for (int64_t panel = 0; panel < padded / kr.nr; ++panel)
          std::copy_n(u.data() + panel * kr.nr, kr.nr, block + panel * kr.nr * kb);
      }
  });
}

// x and y are NHWC whatever s.nhwc says; w is in s's layout.
template <typename T>
void winograd_nhwc(const ConvShape& s, int threads, const T* x, const T* w, const T* b, bool relu, T* y) {
  const WinogradKernel<T>& wk = active_kernels().winograd<T>();
  const GemmKernel<T>& kr = active_kernels().gemm_for<T>(s.K);
  const int64_t padded = ceil_div(s.K, kr.nr) * kr.nr;
  const ScratchBuffer<T> packed(Scratch::PackedWeights, POINTS * padded * s.C);
  transform_weights(s, w, kr, padded, packed.get(), threads);

  const int64_t tiles_h = ceil_div(s.P, TILE), tiles_w = ceil_div(s.Q, TILE), tiles = s.N * tiles_h * tiles_w;
  const int64_t fit = BLOCK_BYTES / (POINTS * (s.C + s.K) * int64_t(sizeof(T)));
  const int64_t block = std::min(tiles, std::clamp<int64_t>(fit / kr.mr * kr.mr, 4 * kr.mr, 512));
  const ScratchBuffer<T> v(Scratch::TileInputs, POINTS * block * s.C), m(Scratch::TileProducts, POINTS * block * s.K);

  // The 36 input pixels (6x6) or 16 output pixels (4x4) of tile t: offsets in x or y, -1 outside.
  auto tile_offsets = [&](int64_t t, bool input, int64_t* off) {
    const int64_t n = t / (tiles_h * tiles_w), th = t / tiles_w % tiles_h, tw = t % tiles_w;
    const int64_t side = input ? ALPHA : TILE, rows = input ? s.H : s.P, cols = input ? s.W : s.Q;
    const int64_t h0 = th * TILE - (input ? s.pad_top : 0), w0 = tw * TILE - (input ? s.pad_left : 0);
    const int64_t channels = input ? s.C : s.K;
    for (int64_t i = 0; i < side; ++i)
      for (int64_t j = 0; j < side; ++j) {
        const int64_t h = h0 + i, c = w0 + j;
        off[i * side + j] = h < 0 || h >= rows || c < 0 || c >= cols ? -1 : ((n * rows + h) * cols + c) * channels;
      }
  };

#ifdef _OPENMP
#pragma omp parallel num_threads(threads) if (threads > 1)
#endif
  {
    FlushDenormals ftz;
    GemmWorkspace<T> ws(kr, block, s.K, s.C);
    int64_t off[POINTS];
    for (int64_t t0 = 0; t0 < tiles; t0 += block) {
      const int64_t nt = std::min(block, tiles - t0);
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
      for (int64_t t = 0; t < nt; ++t) {
        tile_offsets(t0 + t, true, off);
        wk.input(x, off, s.C, v.get() + t * s.C, block * s.C);
      }
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
      for (int64_t xi = 0; xi < POINTS; ++xi)
        gemm(kr, nt, s.K, s.C, MatrixView<T>{v.get() + xi * block * s.C, s.C, 1},
             Prepacked<T>{packed.get() + xi * padded * s.C, padded}, m.get() + xi * block * s.K, s.K, false, ws);
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
      for (int64_t t = 0; t < nt; ++t) {
        tile_offsets(t0 + t, false, off);
        wk.output(m.get() + t * s.K, block * s.K, s.K, b, relu, off, y);
      }
    }
  }
}

}  // namespace

bool winograd_applies(const ConvShape& s) {
  return s.G == 1 && s.R == 3 && s.S == 3 && s.stride_h == 1 && s.stride_w == 1 && s.dil_h == 1 && s.dil_w == 1;
}

template <typename T>
void conv2d_winograd_fwd(const ConvShape& s, int threads, const T* x, const T* w, const T* b, bool relu, T* y) {
  if (s.nhwc) return winograd_nhwc(s, threads, x, w, b, relu, y);
  // NCHW: the tiles run on NHWC copies of x and y; the weights are read in place.
  const ScratchBuffer<T> xt(Scratch::LayoutIn, s.N * s.C * s.H * s.W), yt(Scratch::LayoutOut, s.N * s.K * s.P * s.Q);
  transpose_planes(x, xt.get(), s.N, s.C, s.H * s.W, threads);
  winograd_nhwc(s, threads, xt.get(), w, b, relu, yt.get());
  transpose_planes(yt.get(), y, s.N, s.P * s.Q, s.K, threads);
}

template void conv2d_winograd_fwd<float>(const ConvShape&, int, const float*, const float*, const float*, bool,
                                         float*);
template void conv2d_winograd_fwd<double>(const ConvShape&, int, const double*, const double*, const double*, bool,
                                          double*);

}  // namespace fastconv
