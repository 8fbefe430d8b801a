// Winograd F(4x4, 3x3) and F(6x6, 3x3) convolutions (3x3, stride 1, no dilation, groups == 1): each 4x4 output
// tile costs 36 multiply-adds per (input, output) channel pair instead of 144, each 6x6 tile 64 instead of 324
// (winograd_tile picks the tile size; Winograd<Tile> holds every step, written below for 4x4 tiles' 36 points).
// Forward, per block of tiles:
//   1. transform the input tiles: V[xi] (tiles x C) = B^T d B, vectorized over channels (NHWC);
//   2. multiply, one GEMM per xi of the 36: M[xi] (tiles x K) = V[xi] * U[xi] (U = G g G^T, packed once a call);
//   3. transform back: y = A^T M A (+ bias) (relu).
// The input gradient is the same forward of gy, the weights read flipped, or where y has fewer tiles than gx the
// forward's adjoint over y's tiles (InputGradSteps); the weight gradient transforms tiles of x and gy and sums
// their products over the tiles (winograd_bwd_weight_nhwc). Blocks bound the workspace (36 x
// block x (C + K) values). Where 36 x C x K values are small, each thread takes whole parts of the tiles through
// every step (over_parts); where there are few tiles, the weights are transformed a block at a time and multiplied
// with every tile at once (winograd_streamed); else the threads share each block, split step by step (over_blocks).
// NCHW runs on NHWC copies of x and y (or gy): image by image in each thread's caches where by_images says so, else
// of the whole tensors.
// float32 error: F(4x4)'s transforms scale values by up to 8 x 5 / 24, F(6x6)'s by up to 32 x 5.25 x 32 / 45;
// benchmarks/RESULTS.md states the measured error (3e-6 to 1.2e-5 of the largest result on ResNet's layers and
// small_32x64, 10-40x a GEMM's; F(6x6) 1.5-2x F(4x4)'s on the same layer).
#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "fastconv/cpu.h"
#include "fastconv/parallel.h"
#include "operators/conv2d.h"
#include "operators/gemm.h"
#include "operators/scratch.h"
#include "operators/transpose.h"

namespace fastconv {
namespace {

constexpr int64_t BLOCK_BYTES = 4 << 20;  // V + M of one block of tiles (forward), the threads sharing it
// V + M of one block where each thread takes its own part of the tiles: 256 KB, an eighth of a core's L2 here,
// with its share of the transformed weights beside it. The V and M of 2 MB blocks (4 MB / 2 parts) spilled to L3
// between the transform and the GEMMs: 256 KB blocks ran small_32x64's forward and input gradient 8-12% faster
// and resnet_64's 5-10% (blocks of 64 KB to 1 MB measured; the 4 x MR tile floor decides below 256 KB).
constexpr int64_t PART_BLOCK_BYTES = 256 << 10;
// V + U of one block of tiles (weight gradient): 2 MB, the size of a core's L2 here, ran resnet_64's 10-15%
// faster than 4-16 MB (each GEMM then reads its xi's tiles from L2 or L3, not memory).
constexpr int64_t WGRAD_BLOCK_BYTES = 2 << 20;
// The weight gradient's sums made and transformed a block of channels at a time where one block of tiles holds
// them all (winograd_bwd_weight_nhwc): 36 x 64 x 128 values, 1.2 MB in float32.
constexpr int64_t SUM_C = 64, SUM_K = 128;
// Where 36 x C x K values (transformed weights, or the weight gradient's sums) fit this, each thread takes whole
// parts of the tiles (tile_parts), each part at least MIN_PART_TILES tiles: weight gradients 15-25% faster for
// small_32x64, resnet_64 and AlexNet's 48 -> 64 (36 x C x K up to 590 KB), 9% slower for resnet_128 (2.4 MB per
// thread: the sums no longer stay in cache).
constexpr int64_t PART_VALUES_BYTES = 1 << 20, MIN_PART_TILES = 16;

// Where weight (k, c, r, q) of the convolution Winograd runs lies: w[origin + k * k + c * c + r * r + q * q]. The
// forward reads the user's OIHW or HWIO weights; the input gradient the same weights flipped, input and output
// channels swapped, through negative tap strides (no flipped copy).
struct WeightLayout {
  int64_t origin, k, c, r, q;
  static WeightLayout of(const ConvShape& s) {
    return s.nhwc ? WeightLayout{0, 1, s.K, 3 * s.C * s.K, s.C * s.K} : WeightLayout{0, 9 * s.C, 9, 3, 1};
  }
  // input_grad_as_forward(s)'s weights, w(k', c', r, q) = w(c', k', 2 - r, 2 - q) of s's.
  // OIHW (the forward's NCHW weights): an output channel's taps of consecutive input channels are one run.
  bool oihw() const { return origin == 0 && c == 9 && r == 3 && q == 1; }
  // flipped(s) of OIHW weights (the NCHW input gradient's): an input channel's 9 taps of an output channel lie
  // together, reversed, and consecutive output channels one after another.
  bool flipped_oihw() const { return origin == 8 && k == 9 && r == -3 && q == -1; }
  static WeightLayout flipped(const ConvShape& s) {
    const WeightLayout l = of(s);
    return {2 * l.r + 2 * l.q, l.c, l.k, -l.r, -l.q};
  }
  // s's weights with input and output channels swapped, w(k', c', r, q) = w(c', k', r, q) of s's (the input
  // gradient's products by tiles of y: U^T).
  static WeightLayout transposed(const ConvShape& s) {
    const WeightLayout l = of(s);
    return {l.origin, l.c, l.k, l.r, l.q};
  }
};

// The distance between the 36 matrices of one kind (transformed tiles, products, sums): n values rounded up to an
// odd number of cache lines. A tile's transform touches one vector in each of the 36: a multiple of 4 KiB apart,
// all 36 fall in one L1 set (12 ways), which halved the weight gradient of 8 -> 16 channel layers.
template <typename T>
int64_t point_stride(int64_t n) {
  const int64_t line = 64 / int64_t(sizeof(T)), lines = ceil_div(n, line);
  return (lines | 1) * line;
}

// s with input and output channels swapped: the input gradient's products are a forward's of K -> C channels.
inline ConvShape swap_channels(ConvShape s) {
  std::swap(s.C, s.K);
  return s;
}

// Winograd F(Tile x Tile, 3x3), Tile = 4 or 6: every step of every pass, on tiles of Tile x Tile outputs.
template <int64_t Tile>
struct Winograd {
  static constexpr int64_t TILE = Tile, ALPHA = Tile + 2, POINTS = ALPHA * ALPHA;

  // The transform of the weights of input channels [c0, c0 + cn) (cn <= CHANNEL_RUN), output channels [k0, k0 + kn),
  // on the calling thread: channel c's U[xi] = (G g G^T)[xi] go to dest(c).first + xi * u_stride, in panels of nr
  // columns dest(c).second apart (the GEMM's packed B layout; columns past kn zero). Each input channel's 9 x kn
  // weights are vectorized over k by the ISA's kernel: read in place where output channels are consecutive and the
  // taps evenly spaced (HWIO), else gathered first into 9 rows of kn (straight from OIHW, the transform's passes
  // over them thrashed L1 and took 40% of a 256-channel NCHW forward). The gather of cn channels is one transpose
  // where w is OIHW (kn runs of 9 cn values; value by value it cost 15% of a 512-channel NCHW forward), one per tap
  // where input channels are consecutive (the input gradient's view of HWIO weights: its input channels are the
  // user's output channels), one per input channel where w is OIHW read flipped (the NCHW input gradient's), else
  // value by value.
  static constexpr int64_t CHANNEL_RUN = 32;

  template <typename T, class Dest>
  static void transform_channels(const T* w, const WeightLayout& l, int64_t c0, int64_t cn, int64_t k0, int64_t kn,
                                 int64_t nr, int64_t u_stride, Dest&& dest) {
    const WinogradKernel<T>& wk = active_kernels().winograd<T>(TILE);
    const bool in_place = l.k == 1 && l.r == 3 * l.q && l.origin == 0;
    const T* wk0 = w + l.origin + k0 * l.k;
    thread_local std::vector<T> slices;
    if (!in_place) slices.resize(cn * 9 * kn);
    if (!in_place && l.c == 1) {
      for (int64_t tap = 0; tap < 9; ++tap)
        transpose(wk0 + c0 + tap / 3 * l.r + tap % 3 * l.q, kn, cn, l.k, slices.data() + tap * kn, 9 * kn);
    } else if (!in_place && l.oihw()) {
      transpose(wk0 + c0 * 9, kn, 9 * cn, l.k, slices.data(), kn);
    } else if (!in_place && l.flipped_oihw()) {  // per input channel kn runs of 9 taps, into tap rows last to first
      for (int64_t j = 0; j < cn; ++j)
        transpose(wk0 - 8 + (c0 + j) * l.c, kn, 9, 9, slices.data() + (j * 9 + 8) * kn, -kn);
    } else if (!in_place) {
      for (int64_t j = 0; j < cn; ++j) {
        const T* wc = wk0 + (c0 + j) * l.c;
        T* slice = slices.data() + j * 9 * kn;
        for (int64_t k = 0; k < kn; ++k)
          for (int64_t tap = 0; tap < 9; ++tap) slice[tap * kn + k] = wc[k * l.k + tap / 3 * l.r + tap % 3 * l.q];
      }
    }
    for (int64_t j = 0; j < cn; ++j) {
      const auto [u, panel_stride] = dest(c0 + j);
      const T* g = in_place ? wk0 + (c0 + j) * l.c : slices.data() + j * 9 * kn;
      wk.weights(g, in_place ? l.q : kn, kn, nr, panel_stride, u, u_stride);
    }
  }

  // U for every (c, k), written straight into the GEMM's packed B layout (C x K per xi, u_stride apart, as prepack_b
  // lays it out: per KC block of rows, panels of nr columns), in parallel over input channels.
  template <typename T>
  static void transform_weights(const ConvShape& s, const T* w, const WeightLayout& l, const GemmKernel<T>& kr,
                                int64_t padded, int64_t u_stride, T* packed, int threads) {
    const int64_t cb = (l.c == 1 && l.k != 1) || l.oihw() ? CHANNEL_RUN : 1;  // runs where the gather is a transpose
    parallel_for(ceil_div(s.C, cb), threads, [&](int64_t unit) {
      const int64_t c0 = unit * cb;
      transform_channels(w, l, c0, std::min(cb, s.C - c0), 0, s.K, kr.nr, u_stride, [&](int64_t c) {
        const int64_t pc = c / kr.kc * kr.kc, kb = std::min<int64_t>(kr.kc, s.C - pc);
        return std::pair<T*, int64_t>{packed + padded * pc + (c - pc) * kr.nr, kr.nr * kb};
      });
    });
  }

  // The TILE x TILE output tiles of a convolution, image by image, row by row: the offsets in x of a tile's ALPHA x
  // ALPHA input pixels, or in y of its output pixels, -1 where a pixel lies outside (padding, or past y's edge).
  // NHWC.
  struct TileGrid {
    explicit TileGrid(const ConvShape& s)
        : s(s), tiles_h(ceil_div(s.P, TILE)), tiles_w(ceil_div(s.Q, TILE)), tiles(s.N * tiles_h * tiles_w) {}
    void input_offsets(int64_t t, int64_t* off) const { offsets(t, ALPHA, s.H, s.W, s.pad_top, s.pad_left, s.C, off); }
    void output_offsets(int64_t t, int64_t* off) const { offsets(t, TILE, s.P, s.Q, 0, 0, s.K, off); }

    const ConvShape& s;
    const int64_t tiles_h, tiles_w, tiles;

   private:
    void offsets(int64_t t, int64_t side, int64_t rows, int64_t cols, int64_t pad_top, int64_t pad_left,
                 int64_t channels, int64_t* off) const {
      const int64_t n = t / (tiles_h * tiles_w), h0 = t / tiles_w % tiles_h * TILE - pad_top;
      const int64_t w0 = t % tiles_w * TILE - pad_left;
      for (int64_t i = 0; i < side; ++i)
        for (int64_t j = 0; j < side; ++j) {
          const int64_t h = h0 + i, c = w0 + j;
          off[i * side + j] = h < 0 || h >= rows || c < 0 || c >= cols ? -1 : ((n * rows + h) * cols + c) * channels;
        }
    }
  };

  // One parallel region over the blocks of tiles: every thread runs body(t0, nt, ws, off) for each block [t0, t0 +
  // nt), the body's own `omp for` loops splitting its phases; ws is the thread's GEMM workspace (products of at most
  // M x N x K), off a buffer for a tile's offsets.
  template <typename T, class Body>
  static void over_blocks(int threads, int64_t tiles, int64_t block, const GemmKernel<T>& kr, int64_t M, int64_t N,
                          int64_t K, Body&& body) {
#ifdef _OPENMP
#pragma omp parallel num_threads(threads) if (threads > 1)
#endif
    {
      FlushDenormals ftz;
      GemmWorkspace<T> ws(kr, M, N, K);
      int64_t off[POINTS];
      for (int64_t t0 = 0; t0 < tiles; t0 += block) body(t0, std::min(block, tiles - t0), ws, off);
    }
  }

  // Each of `parts` threads takes its own range of the tiles, in blocks: body(part, t0, nt, first, ws, off) for each
  // block [t0, t0 + nt) of the part's range (first: the range's first block), all of it on that thread.
  template <typename T, class Body>
  static void over_parts(int64_t parts, int threads, int64_t tiles, int64_t block, const GemmKernel<T>& kr, int64_t M,
                         int64_t N, int64_t K, Body&& body) {
    parallel_for(parts, threads, [&](int64_t part) {
      GemmWorkspace<T> ws(kr, M, N, K);
      int64_t off[POINTS];
      const int64_t first = tiles * part / parts, last = tiles * (part + 1) / parts;
      for (int64_t t0 = first; t0 < last; t0 += block) body(part, t0, std::min(block, last - t0), t0 == first, ws, off);
    });
  }

  // Whether the transformed weights or the weight gradient's sums (36 x C x K) are small enough for every thread to
  // hold them in its caches.
  template <typename T>
  static bool weights_fit(const ConvShape& s) {
    return POINTS * s.C * s.K * int64_t(sizeof(T)) <= PART_VALUES_BYTES;
  }

  // How many parts of a call's tiles the threads take whole (over_parts), each with its own tile buffers, where the
  // weights fit; else 1 (over_blocks: the threads share each block, its phases split among them).
  template <typename T>
  static int64_t tile_parts(const ConvShape& s, int threads, int64_t tiles) {
    return weights_fit<T>(s) ? std::clamp<int64_t>(threads, 1, ceil_div(tiles, MIN_PART_TILES)) : 1;
  }

  // Whether an NCHW layer runs image by image, each thread taking whole images into NHWC in its own caches: where
  // the weights fit, an image's x and y (or gy) take at most IMAGES_BYTES, and the images split evenly enough over
  // the threads (at most a quarter of one image's worth idle). Else the layer runs on whole-tensor NHWC copies of x
  // and y, which go out to L3 and come back: 25% of small_32x64's NCHW forward in perf. resnet_64's 1.6 MB images
  // ran 0.94-1.07x the time by images (its weight gradient's sums no longer stay in L2 beside them).
  static constexpr int64_t IMAGES_BYTES = 1 << 20;

  template <typename T>
  static bool by_images(const ConvShape& s, int threads) {
    const bool image_fits = (s.C * s.H * s.W + s.K * s.P * s.Q) * int64_t(sizeof(T)) <= IMAGES_BYTES;
    return !s.nhwc && s.N > 0 && weights_fit<T>(s) && image_fits && (s.N % threads == 0 || s.N >= 4 * threads);
  }

  // Few tiles and many weights (resnet_512: 32 tiles, 38 MB of transformed weights): transformed all at once, the
  // weights go out to L3 and come back for a single use each. Instead, for each block of STREAM_C input channels,
  // each thread transforms the weights of its blocks of STREAM_K output channels one block at a time into a buffer
  // that stays in its L2 and multiplies it with every tile at once. x and y are NHWC; w is laid out as l says. The
  // transformed inputs and products of all tiles are kept, and the products are revisited once per input block:
  // past ~48 tiles that costs more than it saves. Measured on 128-512 channels, 4-256 tiles: up to 32 tiles
  // 1.1-2.1x faster than transforming all weights first, 64 tiles 0.89-0.99x, 128-256 tiles 0.76-0.94x; blocks of
  // 32 x 128 channels (590 KB of U) ran 0-25% faster than 64 x 64, 64 x 128, 128 x 64 or 32 x 256.
  static constexpr int64_t STREAM_K = 32, STREAM_C = 128, STREAM_MAX_TILES = 48;

  template <typename T>
  static void winograd_streamed(const ConvShape& s, const TileGrid& grid, int threads, const T* x, const T* w,
                                const WeightLayout& l, const T* b, bool relu, T* y) {
    const WinogradKernel<T>& wk = active_kernels().winograd<T>(TILE);
    const GemmKernel<T>& kr = active_kernels().gemm_for<T>(s.K);
    const int64_t tiles = grid.tiles, vs = point_stride<T>(tiles * s.C), ms = point_stride<T>(tiles * s.K);
    const int64_t kb = std::min(ceil_div(s.K, kr.nr) * kr.nr, ceil_div(STREAM_K, kr.nr) * kr.nr);
    const int64_t cb = std::min<int64_t>({s.C, STREAM_C, kr.kc}), us = point_stride<T>(cb * kb);
    const ScratchBuffer<T> scratch(Scratch::TileInputs, POINTS * (vs + ms));
    const ScratchBuffer<T> blocks(Scratch::PackedWeights, int64_t(threads) * POINTS * us);
    T* const v = scratch.get();
    T* const m = v + POINTS * vs;
#ifdef _OPENMP
#pragma omp parallel num_threads(threads) if (threads > 1)
#endif
    {
      FlushDenormals ftz;
      GemmWorkspace<T> ws(kr, tiles, kb, cb);
      int64_t off[POINTS];
      T* const u = blocks.get() + thread_index() * POINTS * us;
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
      for (int64_t t = 0; t < tiles; ++t) {
        grid.input_offsets(t, off);
        wk.input(x, off, s.C, v + t * s.C, vs);
      }
      // Input channel blocks outer: a block's transformed inputs stay in L2 while a thread runs its output channel
      // blocks over them (the same ones for every input block: a static schedule, so no barrier between them).
      for (int64_t c0 = 0; c0 < s.C; c0 += cb) {
        const int64_t cn = std::min(cb, s.C - c0);
#ifdef _OPENMP
#pragma omp for schedule(static) nowait
#endif
        for (int64_t k0 = 0; k0 < s.K; k0 += kb) {
          const int64_t kn = std::min(kb, s.K - k0), padded = ceil_div(kn, kr.nr) * kr.nr;
          for (int64_t j = 0; j < cn; j += CHANNEL_RUN)
            transform_channels(w, l, c0 + j, std::min(CHANNEL_RUN, cn - j), k0, kn, kr.nr, us, [&](int64_t c) {
              return std::pair<T*, int64_t>{u + (c - c0) * kr.nr, kr.nr * cn};
            });
          for (int64_t xi = 0; xi < POINTS; ++xi)
            gemm(kr, tiles, kn, cn, MatrixView<T>{v + xi * vs + c0, s.C, 1}, Prepacked<T>{u + xi * us, padded},
                 m + xi * ms + k0, s.K, c0 > 0, ws);
        }
      }
#ifdef _OPENMP
#pragma omp barrier
#pragma omp for schedule(static)
#endif
      for (int64_t t = 0; t < tiles; ++t) {
        grid.output_offsets(t, off);
        wk.output(m + t * s.K, ms, s.K, b, relu, off, y);
      }
    }
  }

  // A forward's transformed weights (packed for the GEMM, once a call) and the steps that run a block of tiles
  // through it: transform_in, the 36 multiplies, transform_out. v and m are the block's V (36 x block x C) and M
  // (36 x block x K), their matrices vs and ms apart.
  template <typename T>
  struct ForwardSteps {
    // tiles: how many tiles one thread runs (per_thread) or the threads share a block of (else) at most.
    ForwardSteps(const ConvShape& s, const T* w, const WeightLayout& l, int threads, bool per_thread, int64_t tiles)
        : s(s), wk(active_kernels().winograd<T>(TILE)), kr(active_kernels().gemm_for_forward<T>(s.K)),
          padded(ceil_div(s.K, kr.nr) * kr.nr), us(point_stride<T>(padded * s.C)),
          packed(Scratch::PackedWeights, POINTS * us) {
      transform_weights(s, w, l, kr, padded, us, packed.get(), threads);
      const int64_t most = std::min(tiles, largest_block(s, per_thread));
      // blocks of even size (an image's 36 tiles in 2 x 18, not 24 + 12: the short block's GEMMs run fewer tiles
      // per packed weight panel)
      block = std::min(most, ceil_div(ceil_div(tiles, ceil_div(tiles, most)), int64_t(kr.mr)) * kr.mr);
      vs = point_stride<T>(block * s.C), ms = point_stride<T>(block * s.K);
    }
    // The most tiles a block takes: its V and M fit BLOCK_BYTES (PART_BLOCK_BYTES where each thread has its own).
    static int64_t largest_block(const ConvShape& s, bool per_thread) {
      const int64_t mr = active_kernels().gemm_for_forward<T>(s.K).mr;
      const int64_t fit = (per_thread ? PART_BLOCK_BYTES : BLOCK_BYTES) / (POINTS * (s.C + s.K) * int64_t(sizeof(T)));
      return std::clamp<int64_t>(fit / mr * mr, 4 * mr, 512);
    }
    int64_t part_values() const { return POINTS * (vs + ms); }
    void transform_in(const TileGrid& grid, const T* x, T* v, int64_t t0, int64_t t, int64_t* off) const {
      grid.input_offsets(t0 + t, off);
      wk.input(x, off, s.C, v + t * s.C, vs);
    }
    void multiply(const T* v, T* m, int64_t xi, int64_t nt, GemmWorkspace<T>& ws) const {
      gemm(kr, nt, s.K, s.C, MatrixView<T>{v + xi * vs, s.C, 1}, Prepacked<T>{packed.get() + xi * us, padded},
           m + xi * ms, s.K, false, ws);
    }
    void transform_out(const TileGrid& grid, const T* m, const T* b, bool relu, int64_t t0, int64_t t, int64_t* off,
                       T* y) const {
      grid.output_offsets(t0 + t, off);
      wk.output(m + t * s.K, ms, s.K, b, relu, off, y);
    }
    // The block [t0, t0 + nt) of grid's tiles, every step on the calling thread.
    void run(const TileGrid& grid, const T* x, const T* b, bool relu, int64_t t0, int64_t nt, T* v,
             GemmWorkspace<T>& ws, int64_t* off, T* y) const {
      T* const m = v + POINTS * vs;
      for (int64_t t = 0; t < nt; ++t) transform_in(grid, x, v, t0, t, off);
      for (int64_t xi = 0; xi < POINTS; ++xi) multiply(v, m, xi, nt, ws);
      for (int64_t t = 0; t < nt; ++t) transform_out(grid, m, b, relu, t0, t, off, y);
    }

    const ConvShape& s;
    const WinogradKernel<T>& wk;
    const GemmKernel<T>& kr;
    const int64_t padded;
    const int64_t us;  // between U's matrices: point_stride (a multiple of 4 KiB put them in one L1 set)
    const ScratchBuffer<T> packed;
    int64_t block, vs, ms;
  };

  // x and y are NHWC whatever s.nhwc says; w is laid out as l says.
  template <typename T>
  static void winograd_nhwc(const ConvShape& s, int threads, const T* x, const T* w, const WeightLayout& l, const T* b,
                            bool relu, T* y) {
    const TileGrid grid(s);
    const int64_t tiles = grid.tiles, parts = tile_parts<T>(s, threads, tiles);
    if (parts == 1 && tiles <= STREAM_MAX_TILES) return winograd_streamed(s, grid, threads, x, w, l, b, relu, y);
    const ForwardSteps<T> steps(s, w, l, threads, parts > 1, ceil_div(tiles, parts));
    const ScratchBuffer<T> scratch(Scratch::TileInputs, parts * steps.part_values());
    if (parts > 1)
      return over_parts(parts, threads, tiles, steps.block, steps.kr, steps.block, s.K, s.C,
                        [&](int64_t part, int64_t t0, int64_t nt, bool, GemmWorkspace<T>& ws, int64_t* off) {
                          steps.run(grid, x, b, relu, t0, nt, scratch.get() + part * steps.part_values(), ws, off, y);
                        });
    T* const v = scratch.get();
    T* const m = v + POINTS * steps.vs;
    over_blocks(threads, tiles, steps.block, steps.kr, steps.block, s.K, s.C,
                [&](int64_t t0, int64_t nt, GemmWorkspace<T>& ws, int64_t* off) {
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
                  for (int64_t t = 0; t < nt; ++t) steps.transform_in(grid, x, v, t0, t, off);
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
                  for (int64_t xi = 0; xi < POINTS; ++xi) steps.multiply(v, m, xi, nt, ws);
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
                  for (int64_t t = 0; t < nt; ++t) steps.transform_out(grid, m, b, relu, t0, t, off, y);
                });
  }

  // An NCHW forward image by image (by_images): each thread transposes its images a few at a time into NHWC buffers
  // of its own and runs all of their tiles there, every step on that thread. A few: enough for 4 blocks of tiles,
  // so that the last block's part-filled GEMM tiles are a small share (small_32x64's input gradient, one image at a
  // time: blocks of 32 and 17 tiles, 8 a GEMM tile), in at most IMAGES_BYTES.
  template <typename T>
  static void winograd_nchw_images(const ConvShape& s, int threads, const T* x, const T* w, const WeightLayout& l,
                                   const T* b, bool relu, T* y) {
    const int64_t parts = std::min<int64_t>(threads, s.N), image = s.C * s.H * s.W, out = s.K * s.P * s.Q;
    ConvShape some = s;
    some.N = 1, some.nhwc = true;
    const int64_t image_tiles = TileGrid(some).tiles;
    const int64_t wanted = ceil_div(4 * ForwardSteps<T>::largest_block(some, true), image_tiles);
    const int64_t room = IMAGES_BYTES / ((image + out) * int64_t(sizeof(T)));  // >= 1 (by_images)
    some.N = std::min({wanted, room, ceil_div(s.N, parts)});
    const TileGrid grid(some);
    const ForwardSteps<T> steps(some, w, l, threads, true, grid.tiles);
    const ScratchBuffer<T> scratch(Scratch::TileInputs, parts * steps.part_values());
    parallel_for(parts, threads, [&](int64_t part) {
      GemmWorkspace<T> ws(steps.kr, steps.block, s.K, s.C);
      int64_t off[POINTS];
      const ScratchBuffer<T> xt(Scratch::LayoutIn, some.N * image), yt(Scratch::LayoutOut, some.N * out);
      const int64_t last = s.N * (part + 1) / parts;
      for (int64_t n0 = s.N * part / parts; n0 < last; n0 += some.N) {
        const int64_t images = std::min(some.N, last - n0), tiles = images * image_tiles;
        transpose_planes(x + n0 * image, xt.get(), images, s.C, s.H * s.W, 1);
        for (int64_t t0 = 0; t0 < tiles; t0 += steps.block)
          steps.run(grid, xt.get(), b, relu, t0, std::min(steps.block, tiles - t0),
                    scratch.get() + part * steps.part_values(), ws, off, yt.get());
        transpose_planes(yt.get(), y + n0 * out, images, s.P * s.Q, s.K, 1);
      }
    });
  }

  // A weight gradient's buffers and the steps that add a block of tiles into a part's sums: transform x's and gy's
  // tiles into V (36 x block x C) and U (36 x block x K), then M[xi] (C x K) += V[xi]^T U[xi]. Each part (a thread's
  // own range of tiles, or all of them where the threads share each block) has its own V, U and M.
  // Where the weights fit (weights_fit: each thread takes its own tiles), each U[xi] is laid out as the GEMM's packed
  // B (panels of nr channels, a block's tiles in each; a block is then at most the GEMM's depth block, kc tiles), and
  // V[xi]^T is an A the microkernel reads in place (StepMajor) where K spans at most 2 column panels: copying both
  // into the GEMM's buffers was 18% of small_32x64's weight gradient in perf (1.13 -> 0.86-0.90 ms; resnet_64 2.61
  // -> 2.22 ms; packed A with packed U: 0.97 and 2.42). Layers with more weights run 5-10% slower that way
  // (resnet_128 to 512: U written panel by panel, read by GEMMs of many panels), and keep U as it lies (tiles x K).
  template <typename T>
  struct WeightGradSteps {
    // tiles: how many tiles each of the parts takes at most.
    WeightGradSteps(const ConvShape& s, int64_t parts, int64_t tiles)
        : s(s), wk(active_kernels().winograd<T>(TILE)), kr(active_kernels().gemm_for<T>(s.K)), parts(parts),
          packed_u(weights_fit<T>(s)), padded(packed_u ? ceil_div(s.K, kr.nr) * kr.nr : s.K) {
      const int64_t fit = WGRAD_BLOCK_BYTES / parts / (POINTS * (s.C + s.K) * int64_t(sizeof(T)));
      block = std::min(tiles, std::clamp<int64_t>(fit, 64, packed_u ? kr.kc : 512));
      by_channels = parts == 1 && tiles <= block && !packed_u;
      vs = point_stride<T>(block * s.C), us = point_stride<T>(block * padded);
      ms = by_channels ? 0 : point_stride<T>(s.C * s.K);
      scratch.emplace(Scratch::TileInputs, parts * part_values());
    }
    int64_t part_values() const { return POINTS * (vs + us + ms); }
    T* v_of(int64_t part) const { return scratch->get() + part * part_values(); }
    T* u_of(int64_t part) const { return v_of(part) + POINTS * vs; }
    T* m_of(int64_t part) const { return u_of(part) + POINTS * us; }
    // Tile t of the block [t0, t0 + nt): its V row and U row (packed: its row of each U panel; a partial last
    // panel's columns past K are left as they are: the GEMM's edge tile computes them in its scratch and drops them).
    void transform(const TileGrid& grid, const T* x, const T* gy, int64_t part, int64_t t0, int64_t t, int64_t nt,
                   int64_t* off) const {
      grid.input_offsets(t0 + t, off);
      wk.input(x, off, s.C, v_of(part) + t * s.C, vs);
      grid.output_offsets(t0 + t, off);
      if (!packed_u) return wk.output_grad(gy, off, s.K, u_of(part) + t * s.K, us);
      for (int64_t k0 = 0; k0 < s.K; k0 += kr.nr)
        wk.output_grad(gy + k0, off, std::min<int64_t>(kr.nr, s.K - k0), u_of(part) + k0 * nt + t * kr.nr, us);
    }
    void multiply(int64_t part, int64_t xi, int64_t nt, bool accumulate, GemmWorkspace<T>& ws) const {
      const T* v = v_of(part) + xi * vs;
      const T* u = u_of(part) + xi * us;
      T* m = m_of(part) + xi * ms;
      const Transposed<MatrixView<T>> vt{{v, s.C, 1}};
      if (!packed_u) return gemm(kr, s.C, s.K, nt, vt, MatrixView<T>{u, s.K, 1}, m, s.K, accumulate, ws);
      if (padded <= 2 * kr.nr)
        return gemm(kr, s.C, s.K, nt, StepMajor<T>{v, s.C}, Prepacked<T>{u, padded}, m, s.K, accumulate, ws);
      gemm(kr, s.C, s.K, nt, vt, Prepacked<T>{u, padded}, m, s.K, accumulate, ws);
    }
    // The block [t0, t0 + nt) of grid's tiles into part's sums (overwritten unless accumulate), on the calling thread.
    void run(const TileGrid& grid, const T* x, const T* gy, int64_t part, int64_t t0, int64_t nt, bool accumulate,
             GemmWorkspace<T>& ws, int64_t* off) const {
      for (int64_t t = 0; t < nt; ++t) transform(grid, x, gy, part, t0, t, nt, off);
      for (int64_t xi = 0; xi < POINTS; ++xi) multiply(part, xi, nt, accumulate, ws);
    }
    // Values of the per-thread buffer of sums_to_gradient.
    static int64_t by_channels_values() { return POINTS * point_stride<T>(SUM_C * SUM_K) + 9 * SUM_K; }
    // gw's input channels [c0, c0 + nc) and output channels [k0, k0 + nk) from one block of nt tiles, all of the
    // call's (part 0's V and U): their 36 sums into `buf` (36 x nc x nk), then G^T M G, into gw (HWIO), or into
    // oihw (OIHW) where given, through 9 x nk values after the sums (an input channel's taps, transposed).
    void sums_to_gradient(int64_t c0, int64_t nc, int64_t k0, int64_t nk, int64_t nt, T* buf, GemmWorkspace<T>& ws,
                          T* gw, T* oihw) const {
      const int64_t stride = point_stride<T>(nc * nk);
      for (int64_t xi = 0; xi < POINTS; ++xi) {
        const Transposed<MatrixView<T>> vt{{v_of(0) + xi * vs + c0, s.C, 1}};
        gemm(kr, nc, nk, nt, vt, MatrixView<T>{u_of(0) + xi * us + k0, s.K, 1}, buf + xi * stride, nk, false, ws);
      }
      T* taps = buf + POINTS * point_stride<T>(SUM_C * SUM_K);
      for (int64_t c = 0; c < nc; ++c) {
        if (!oihw) {
          wk.weight_grad(buf + c * nk, stride, nk, gw + (c0 + c) * s.K + k0, s.C * s.K);
          continue;
        }
        wk.weight_grad(buf + c * nk, stride, nk, taps, nk);
        transpose(taps, 9, nk, oihw + k0 * s.C * 9 + (c0 + c) * 9, s.C * 9);
      }
    }
    // gw (HWIO) = G^T M G per (c, k), M the parts' sums added in order.
    void finish(int threads, T* gw) const {
      parallel_for(POINTS, threads, [&](int64_t xi) {
        T* sum = m_of(0) + xi * ms;
        for (int64_t part = 1; part < parts; ++part) {
          const T* add = m_of(part) + xi * ms;
          for (int64_t j = 0; j < s.C * s.K; ++j) sum[j] += add[j];
        }
      });
      parallel_for(s.C, threads, [&](int64_t c) {
        wk.weight_grad(m_of(0) + c * s.K, ms, s.K, gw + c * s.K, s.C * s.K);
      });
    }

    const ConvShape& s;
    const WinogradKernel<T>& wk;
    const GemmKernel<T>& kr;
    const int64_t parts;
    const bool packed_u;
    const int64_t padded;  // U's columns: K, rounded up to the GEMM's panels where packed
    int64_t block, vs, us, ms;
    // One block holds every tile and the sums do not fit: sums_to_gradient by blocks of channels, no whole sums (ms 0).
    bool by_channels;
    std::optional<ScratchBuffer<T>> scratch;
  };

  // gw (HWIO) for x and gy NHWC. Per block of tiles, WeightGradSteps; at the end gw = G^T M G per (c, k). Where the
  // 36 C x K sums are small, each thread sums its own range of tiles into its own sums, start to end in its own
  // caches, and the parts are added in order at the end (sharing each block, one thread's GEMMs read the tiles the
  // other transformed: cross-core misses, a fifth of AlexNet's weight gradient); else all threads share each block,
  // its tiles split, then its 36 GEMMs. Either way the sums' order depends only on the shape and the thread count:
  // deterministic.
  // Where oihw is given and the sums go by blocks of channels, the gradient goes straight there, in OIHW (returns
  // true): reordered whole afterwards, resnet_512's 9.4 MB gradient was a quarter of its NCHW weight gradient.
  template <typename T>
  static bool winograd_bwd_weight_nhwc(const ConvShape& s, int threads, const T* gy, const T* x, T* gw,
                                       T* oihw = nullptr) {
    const TileGrid grid(s);
    const int64_t tiles = grid.tiles;
    if (tiles == 0) {  // no images
      std::fill_n(gw, 9 * s.C * s.K, T(0));
      return false;
    }
    const int64_t parts = tile_parts<T>(s, threads, tiles);
    const WeightGradSteps<T> steps(s, parts, ceil_div(tiles, parts));
    if (parts > 1) {
      over_parts(parts, threads, tiles, steps.block, steps.kr, s.C, s.K, steps.block,
                 [&](int64_t part, int64_t t0, int64_t nt, bool first, GemmWorkspace<T>& ws, int64_t* off) {
                   steps.run(grid, x, gy, part, t0, nt, !first, ws, off);
                 });
    } else {
      // Where one block holds every tile, the sums are complete after its GEMMs, so they are made a block of channels
      // at a time (SUM_C x SUM_K, per thread) and transformed into gw while in cache. Made whole, they went to memory
      // and back (36 x 512 x 512 sums, 38 MB, for resnet_512 at batch 8: 32 tiles; 1.75x on 2 threads against 1).
      const bool by_channels = steps.by_channels;
      const int64_t kb = ceil_div(s.K, SUM_K), blocks = ceil_div(s.C, SUM_C) * kb;
      over_blocks(threads, tiles, steps.block, steps.kr, s.C, s.K, steps.block,
                  [&](int64_t t0, int64_t nt, GemmWorkspace<T>& ws, int64_t* off) {
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
                    for (int64_t t = 0; t < nt; ++t) steps.transform(grid, x, gy, 0, t0, t, nt, off);
                    if (by_channels) {
                      ScratchBuffer<T> buf(Scratch::TileProducts, WeightGradSteps<T>::by_channels_values());
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
                      for (int64_t b = 0; b < blocks; ++b) {
                        const int64_t c0 = b / kb * SUM_C, k0 = b % kb * SUM_K;
                        steps.sums_to_gradient(c0, std::min(SUM_C, s.C - c0), k0, std::min(SUM_K, s.K - k0), nt,
                                               buf.get(), ws, gw, oihw);
                      }
                      return;
                    }
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
                    for (int64_t xi = 0; xi < POINTS; ++xi) steps.multiply(0, xi, nt, t0 > 0, ws);
                  });
      if (by_channels) return oihw != nullptr;
    }
    steps.finish(threads, gw);
    return false;
  }

  // An NCHW weight gradient image by image (by_images), as winograd_nchw_images runs the forward: each thread takes
  // its images' x and gy into NHWC buffers of its own, a block's worth of images at a time, and sums their tiles
  // into its part's sums. gw is HWIO.
  template <typename T>
  static void winograd_bwd_weight_nchw_images(const ConvShape& s, int threads, const T* gy, const T* x, T* gw) {
    const int64_t parts = std::min<int64_t>(threads, s.N), image = s.C * s.H * s.W, out = s.K * s.P * s.Q;
    ConvShape one = s;  // an image in NHWC
    one.N = 1, one.nhwc = true;
    const int64_t image_tiles = TileGrid(one).tiles, per_part = ceil_div(s.N, parts);
    const WeightGradSteps<T> steps(one, parts, per_part * image_tiles);
    const int64_t room = IMAGES_BYTES / ((image + out) * int64_t(sizeof(T)));  // >= 1 (by_images)
    ConvShape some = one;  // the images a thread takes at a time
    some.N = std::min({ceil_div(steps.block, image_tiles), room, per_part});
    const TileGrid grid(some);
    parallel_for(parts, threads, [&](int64_t part) {
      GemmWorkspace<T> ws(steps.kr, s.C, s.K, steps.block);
      int64_t off[POINTS];
      const ScratchBuffer<T> xt(Scratch::LayoutIn, some.N * image), gyt(Scratch::LayoutOut, some.N * out);
      const int64_t first = s.N * part / parts, last = s.N * (part + 1) / parts;
      for (int64_t n0 = first; n0 < last; n0 += some.N) {
        const int64_t images = std::min(some.N, last - n0), tiles = images * image_tiles;
        transpose_planes(x + n0 * image, xt.get(), images, s.C, s.H * s.W, 1);
        transpose_planes(gy + n0 * out, gyt.get(), images, s.K, s.P * s.Q, 1);
        for (int64_t t0 = 0; t0 < tiles; t0 += steps.block)
          steps.run(grid, xt.get(), gyt.get(), part, t0, std::min(steps.block, tiles - t0), n0 > first || t0 > 0, ws,
                    off);
      }
    });
    steps.finish(threads, gw);
  }

  // The input gradient by tiles of y, the forward's own tiles: per tile, gy's 4x4 pixels into A gy A^T (36 x K), the
  // 36 products with U^T (36 x C), then B (product) B^T into the tile's 6x6 window of gx, neighbouring windows'
  // shares added where they overlap. As the forward of gy (input_grad_as_forward) it runs ceil(H / 4) x ceil(W / 4)
  // tiles over gx instead of ceil(P / 4) x ceil(Q / 4) over gy: 49 against 36 an image for a 3x3 valid layer on
  // 26x26 (small_32x64). The windows overlap, so each thread takes whole images, their tiles in order (a pixel's
  // first share stored, the rest added: gx needs no zeroing). gy and gx are NHWC whatever s.nhwc says.
  template <typename T>
  struct InputGradSteps {
    // s: one NHWC image (only its channels count); l: WeightLayout::transposed of the layer; tiles: how many tiles
    // one thread runs at most.
    InputGradSteps(const ConvShape& s, const T* w, const WeightLayout& l, int threads, int64_t tiles)
        : s(s), swapped(swap_channels(s)), gemm_steps(swapped, w, l, threads, true, tiles) {}
    int64_t block() const { return gemm_steps.block; }
    int64_t part_values() const { return gemm_steps.part_values(); }
    // The block [t0, t0 + nt) of grid's tiles, every step on the calling thread, after the blocks before it of the
    // same images.
    void run(const TileGrid& grid, const T* gy, int64_t t0, int64_t nt, T* v, GemmWorkspace<T>& ws, int64_t* off,
             T* gx) const {
      const WinogradKernel<T>& wk = gemm_steps.wk;
      const int64_t vs = gemm_steps.vs, ms = gemm_steps.ms;
      T* const m = v + POINTS * vs;
      for (int64_t t = 0; t < nt; ++t) {
        grid.output_offsets(t0 + t, off);
        wk.output_grad(gy, off, s.K, v + t * s.K, vs);
      }
      for (int64_t xi = 0; xi < POINTS; ++xi) gemm_steps.multiply(v, m, xi, nt, ws);
      for (int64_t t = 0; t < nt; ++t) {
        const int64_t tile = t0 + t, row = tile / grid.tiles_w % grid.tiles_h, col = tile % grid.tiles_w;
        grid.input_offsets(tile, off);
        wk.input_grad(m + t * s.C, ms, s.C, off, row > 0 ? ALPHA - TILE : 0, col > 0 ? ALPHA - TILE : 0, gx);
      }
    }

    const ConvShape s;
    const ConvShape swapped;  // gemm_steps keeps a reference to it
    const ForwardSteps<T> gemm_steps;
  };

  // gy and gx NHWC where s.nhwc, else NCHW taken a few images at a time into each thread's NHWC buffers (by_images,
  // as winograd_nchw_images); w laid out as l says.
  template <typename T>
  static void winograd_input_grad_images(const ConvShape& s, int threads, const T* gy, const T* w,
                                         const WeightLayout& l, T* gx) {
    const int64_t parts = std::min<int64_t>(threads, s.N), image = s.C * s.H * s.W, out = s.K * s.P * s.Q;
    ConvShape one = s;
    one.N = 1, one.nhwc = true;
    const int64_t image_tiles = TileGrid(one).tiles, per_part = ceil_div(s.N, parts);
    ConvShape some = one;  // the images a thread takes at a time (NCHW), or all (NHWC)
    if (s.nhwc) {
      some.N = s.N;
    } else {
      const int64_t wanted = ceil_div(4 * ForwardSteps<T>::largest_block(swap_channels(one), true), image_tiles);
      const int64_t room = IMAGES_BYTES / ((image + out) * int64_t(sizeof(T)));  // >= 1 (by_images)
      some.N = std::min({wanted, room, per_part});
    }
    const TileGrid grid(some);
    const InputGradSteps<T> steps(one, w, l, threads, s.nhwc ? per_part * image_tiles : grid.tiles);
    const ScratchBuffer<T> scratch(Scratch::TileInputs, parts * steps.part_values());
    parallel_for(parts, threads, [&](int64_t part) {
      GemmWorkspace<T> ws(steps.gemm_steps.kr, steps.block(), s.C, s.K);
      int64_t off[POINTS];
      T* const v = scratch.get() + part * steps.part_values();
      const int64_t first = s.N * part / parts, last = s.N * (part + 1) / parts;
      if (s.nhwc) {
        for (int64_t t0 = first * image_tiles; t0 < last * image_tiles; t0 += steps.block())
          steps.run(grid, gy, t0, std::min(steps.block(), last * image_tiles - t0), v, ws, off, gx);
        return;
      }
      const ScratchBuffer<T> gyt(Scratch::LayoutOut, some.N * out), gxt(Scratch::LayoutIn, some.N * image);
      for (int64_t n0 = first; n0 < last; n0 += some.N) {
        const int64_t images = std::min(some.N, last - n0), tiles = images * image_tiles;
        transpose_planes(gy + n0 * out, gyt.get(), images, s.K, s.P * s.Q, 1);
        for (int64_t t0 = 0; t0 < tiles; t0 += steps.block())
          steps.run(grid, gyt.get(), t0, std::min(steps.block(), tiles - t0), v, ws, off, gxt.get());
        transpose_planes(gxt.get(), gx + n0 * image, images, s.H * s.W, s.C, 1);
      }
    });
  }

  // The input gradient by tiles of y (input_grad_by_output_tiles); NCHW as winograd_input_grad_images takes it where
  // by_images says so, else on NHWC copies of the whole gy and gx.
  template <typename T>
  static void winograd_input_grad(const ConvShape& s, int threads, const T* gy, const T* w, T* gx) {
    const WeightLayout l = WeightLayout::transposed(s);
    if (s.nhwc || by_images<T>(s, threads)) return winograd_input_grad_images(s, threads, gy, w, l, gx);
    ConvShape nhwc = s;
    nhwc.nhwc = true;
    const ScratchBuffer<T> gyt(Scratch::LayoutOut, s.N * s.K * s.P * s.Q);
    const ScratchBuffer<T> gxt(Scratch::LayoutIn, s.N * s.C * s.H * s.W);
    transpose_planes(gy, gyt.get(), s.N, s.K, s.P * s.Q, threads);
    winograd_input_grad_images(nhwc, threads, gyt.get(), w, l, gxt.get());
    transpose_planes(gxt.get(), gx, s.N, s.H * s.W, s.C, threads);
  }

  // The forward of s with weights laid out as l says; NCHW runs on NHWC copies of x and y.
  template <typename T>
  static void winograd_fwd(const ConvShape& s, int threads, const T* x, const T* w, const WeightLayout& l, const T* b,
                           bool relu, T* y) {
    if (s.nhwc) return winograd_nhwc(s, threads, x, w, l, b, relu, y);
    if (by_images<T>(s, threads)) return winograd_nchw_images(s, threads, x, w, l, b, relu, y);
    const ScratchBuffer<T> xt(Scratch::LayoutIn, s.N * s.C * s.H * s.W), yt(Scratch::LayoutOut, s.N * s.K * s.P * s.Q);
    transpose_planes(x, xt.get(), s.N, s.C, s.H * s.W, threads);
    winograd_nhwc(s, threads, xt.get(), w, l, b, relu, yt.get());
    transpose_planes(yt.get(), y, s.N, s.P * s.Q, s.K, threads);
  }

  // The passes, F(TILE x TILE, 3x3).
  template <typename T>
  static void fwd(const ConvShape& s, int threads, const T* x, const T* w, const T* b, bool relu, T* y) {
    winograd_fwd(s, threads, x, w, WeightLayout::of(s), b, relu, y);
  }

  // The input gradient as the forward of gy (input_grad_as_forward), or by y's tiles where by_output_tiles.
  template <typename T>
  static void bwd_data(const ConvShape& s, int threads, bool by_output_tiles, const T* gy, const T* w, T* gx) {
    if (by_output_tiles) return winograd_input_grad(s, threads, gy, w, gx);
    const T* no_bias = nullptr;
    winograd_fwd(input_grad_as_forward(s), threads, gy, w, WeightLayout::flipped(s), no_bias, false, gx);
  }

  template <typename T>
  static void bwd_weight(const ConvShape& s, int threads, const T* gy, const T* x, T* gw) {
    if (s.nhwc) {
      winograd_bwd_weight_nhwc(s, threads, gy, x, gw);
      return;
    }
    // NCHW: the tiles run on NHWC copies of x and gy (image by image, or whole), and the gradient is computed in
    // HWIO, then reordered (where its sums go by blocks of channels, in OIHW block by block).
    const ScratchBuffer<T> hwio(Scratch::Reordered, 9 * s.C * s.K);
    if (by_images<T>(s, threads)) {
      winograd_bwd_weight_nchw_images(s, threads, gy, x, hwio.get());
      return hwio_to_oihw(hwio.get(), s.K, s.C, 9, gw, threads);
    }
    const ScratchBuffer<T> xt(Scratch::LayoutIn, s.N * s.C * s.H * s.W);
    const ScratchBuffer<T> gyt(Scratch::LayoutOut, s.N * s.K * s.P * s.Q);
    transpose_planes(x, xt.get(), s.N, s.C, s.H * s.W, threads);
    transpose_planes(gy, gyt.get(), s.N, s.K, s.P * s.Q, threads);
    if (!winograd_bwd_weight_nhwc(s, threads, gyt.get(), xt.get(), hwio.get(), gw))
      hwio_to_oihw(hwio.get(), s.K, s.C, 9, gw, threads);
  }
};

// F(6x6, 3x3) does 64 multiplies per 36 outputs against F(4x4)'s 36 per 16 (0.79x), where the tiles fit the
// outputs as well: small_32x64's 24x24 takes 16 tiles of 6x6 (1024 points) against 36 of 4x4 (1296), and ran every
// pass 1.09-1.20x faster (its transformed weights and blocks, 1.8x larger, take more of the caches). On sizes they
// fit worse (ResNet's 56x56: 100 tiles of 6x6, 6400 points, against 7056) the larger tiles' transforms and float32
// error (1.5-2x F(4x4)'s) are not worth it: F(6x6) where its points are at most 80% of F(4x4)'s.
int64_t winograd_points(int64_t P, int64_t Q, int64_t tile) {
  return ceil_div(P, tile) * ceil_div(Q, tile) * (tile + 2) * (tile + 2);
}

int64_t winograd_tile(int64_t P, int64_t Q) {
  return 5 * winograd_points(P, Q, 6) <= 4 * winograd_points(P, Q, 4) ? 6 : 4;
}

// Whether the input gradient runs by tiles of y (Winograd::InputGradSteps): where that takes fewer points than the
// forward of gy over gx and each thread can take whole images. Measured faster than the forward of gy wherever it
// applies, whether the weights fit the caches or not (NHWC, 8 images: 128 channels on 30x30 1.24x, 256 on 18x18
// 1.4x, 512 on 9x9 1.34x, against the streamed forward of gy there), and no faster where the tile counts are equal
// (resnet_64, padding 1).
bool input_grad_by_output_tiles(const ConvShape& s, int threads) {
  const int64_t output_points = winograd_points(s.P, s.Q, winograd_tile(s.P, s.Q));
  const int64_t input_points = winograd_points(s.H, s.W, winograd_tile(s.H, s.W));
  return output_points < input_points && s.N > 0 && (s.N % threads == 0 || s.N >= 4 * threads);
}

// Calls f(Winograd<tile>{}).
template <class F>
void with_tile(int64_t tile, F&& f) {
  if (tile == 6) return f(Winograd<6>{});
  f(Winograd<4>{});
}

}  // namespace

bool winograd_applies(const ConvShape& s) {
  return s.G == 1 && s.R == 3 && s.S == 3 && s.stride_h == 1 && s.stride_w == 1 && s.dil_h == 1 && s.dil_w == 1;
}

template <typename T>
void conv2d_winograd_fwd(const ConvShape& s, int threads, const T* x, const T* w, const T* b, bool relu, T* y) {
  with_tile(winograd_tile(s.P, s.Q), [&](auto wg) { decltype(wg)::fwd(s, threads, x, w, b, relu, y); });
}

template <typename T>
void conv2d_winograd_bwd_data(const ConvShape& s, int threads, const T* gy, const T* w, T* gx) {
  const bool by_output_tiles = input_grad_by_output_tiles(s, threads);
  const int64_t tile = by_output_tiles ? winograd_tile(s.P, s.Q) : winograd_tile(s.H, s.W);
  with_tile(tile, [&](auto wg) { decltype(wg)::bwd_data(s, threads, by_output_tiles, gy, w, gx); });
}

template <typename T>
void conv2d_winograd_bwd_weight(const ConvShape& s, int threads, const T* gy, const T* x, T* gw) {
  with_tile(winograd_tile(s.P, s.Q), [&](auto wg) { decltype(wg)::bwd_weight(s, threads, gy, x, gw); });
}

template void conv2d_winograd_fwd<float>(const ConvShape&, int, const float*, const float*, const float*, bool,
                                         float*);
template void conv2d_winograd_fwd<double>(const ConvShape&, int, const double*, const double*, const double*, bool,
                                          double*);
template void conv2d_winograd_bwd_data<float>(const ConvShape&, int, const float*, const float*, float*);
template void conv2d_winograd_bwd_data<double>(const ConvShape&, int, const double*, const double*, double*);
template void conv2d_winograd_bwd_weight<float>(const ConvShape&, int, const float*, const float*, float*);
template void conv2d_winograd_bwd_weight<double>(const ConvShape&, int, const double*, const double*, double*);

}  // namespace fastconv
