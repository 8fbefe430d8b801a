// Strided convolutions run as stride-1 ones ("space to depth"). With stride s, input row h * s + dy of x becomes
// row h of channel block dy of x', and the same for columns:
//   x'[n, h', w', (dy * s + dx) * C + c] = x[n, c, h' s + dy - pad_top, w' s + dx - pad_left]  (0 outside x)
//   w'[r', q', (dy * s + dx) * C + c, k] = w[k, c, r' s + dy, q' s + dx]                         (0 past the kernel)
// and y = conv(x', w') with stride 1 and no padding. The stride-1 layer reads its patches in contiguous channel runs
// instead of gathering every s-th value, and a 3x3 result (AlexNet's 11x11 stride 4 becomes 3x3 over 48 channels)
// runs Winograd. It pays a few zero taps (9 x 16 for 121) and copies of x (and of y or gy for NCHW: the stride-1
// layer runs NHWC whatever the layout).
#include <algorithm>
#include <vector>

#include "fastconv/parallel.h"
#include "operators/conv2d.h"
#include "operators/scratch.h"
#include "operators/transpose.h"

namespace fastconv {
namespace {

ConvShape stride_one_shape(const ConvShape& s) {
  const int64_t st = s.stride_h;
  ConvShape t = s;
  t.C = s.C * st * st;
  t.R = ceil_div(s.R, st), t.S = ceil_div(s.S, st);
  t.H = s.P + t.R - 1, t.W = s.Q + t.S - 1;
  t.stride_h = t.stride_w = 1;
  t.pad_top = t.pad_left = 0;
  t.nhwc = true;
  return t;
}

// x' (NHWC, t's shape) from x in s's layout; one unit per output row of x'.
template <typename T>
void build_input(const ConvShape& s, const ConvShape& t, int threads, const T* x, T* xt) {
  const int64_t st = s.stride_h;
  parallel_for(s.N * t.H, threads, [&](int64_t u) {
    const int64_t n = u / t.H, h2 = u % t.H;
    T* row = xt + u * t.W * t.C;
    for (int64_t dy = 0; dy < st; ++dy) {
      const int64_t h = h2 * st + dy - s.pad_top;
      const bool inside = h >= 0 && h < s.H;
      for (int64_t c = 0; c < s.C; ++c) {
        // NCHW: one input row of channel c, read along w; NHWC: channel c of each pixel.
        const T* src = !inside ? nullptr
                       : s.nhwc ? x + ((n * s.H + h) * s.W) * s.C + c
                                : x + ((n * s.C + c) * s.H + h) * s.W;
        const int64_t step = s.nhwc ? s.C : 1;
        for (int64_t w2 = 0; w2 < t.W; ++w2)
          for (int64_t dx = 0; dx < st; ++dx) {
            const int64_t w = w2 * st + dx - s.pad_left;
            row[w2 * t.C + (dy * st + dx) * s.C + c] = inside && w >= 0 && w < s.W ? src[w * step] : T(0);
          }
      }
    }
  });
}

// Index of w'[r', q', (dy, dx, c), k] (HWIO) for kernel tap (r, q) of channel c: the one place that maps taps.
inline int64_t transformed_tap(const ConvShape& s, const ConvShape& t, int64_t c, int64_t r, int64_t q) {
  const int64_t st = s.stride_h;
  return ((r / st * t.S + q / st) * t.C + ((r % st) * st + q % st) * s.C + c) * s.K;
}

// w in s's layout (OIHW or HWIO) at (k, c, r, q).
inline int64_t weight_index(const ConvShape& s, int64_t k, int64_t c, int64_t r, int64_t q) {
  return s.nhwc ? ((r * s.S + q) * s.C + c) * s.K + k : ((k * s.C + c) * s.R + r) * s.S + q;
}

}  // namespace

bool space_to_depth_pays(const ConvShape& s) {
  const int64_t st = s.stride_h;
  if (s.G != 1 || st < 2 || s.stride_w != st || s.dil_h != 1 || s.dil_w != 1 || s.R < st || s.S < st) return false;
  const ConvShape t = stride_one_shape(s);
  // Enough channels for the stride-1 layer's GEMM or Winograd, and at most 25% more taps (zeros past the kernel).
  return t.C >= 16 && s.K >= 16 && 4 * t.R * t.S * st * st <= 5 * s.R * s.S;
}

template <typename T>
void conv2d_space_to_depth_fwd(const ConvShape& s, int threads, const T* x, const T* w, const T* b, bool relu, T* y) {
  const ConvShape t = stride_one_shape(s);
  const ScratchBuffer<T> xt(Scratch::LayoutIn, t.N * t.H * t.W * t.C);
  const ScratchBuffer<T> yt(Scratch::LayoutOut, s.nhwc ? 1 : s.N * s.pixels() * s.K);
  std::vector<T> wt(t.R * t.S * t.C * t.K, T(0));
  build_input(s, t, threads_for(t.N * t.H * t.W * t.C, threads), x, xt.get());
  for (int64_t k = 0; k < s.K; ++k)
    for (int64_t c = 0; c < s.C; ++c)
      for (int64_t r = 0; r < s.R; ++r)
        for (int64_t q = 0; q < s.S; ++q) wt[transformed_tap(s, t, c, r, q) + k] = w[weight_index(s, k, c, r, q)];
  T* out = s.nhwc ? y : yt.get();
  conv2d_fwd(t, Algorithm::Auto, threads, xt.get(), wt.data(), b, relu, out);
  if (!s.nhwc) transpose_planes(out, y, s.N, s.pixels(), s.K, threads);
}

template <typename T>
void conv2d_space_to_depth_bwd_weight(const ConvShape& s, int threads, const T* gy, const T* x, T* gw) {
  const ConvShape t = stride_one_shape(s);
  const ScratchBuffer<T> xt(Scratch::LayoutIn, t.N * t.H * t.W * t.C);
  const ScratchBuffer<T> gyt(Scratch::LayoutOut, s.nhwc ? 1 : s.N * s.pixels() * s.K);
  const ScratchBuffer<T> gwt(Scratch::Reordered, t.R * t.S * t.C * t.K);
  build_input(s, t, threads_for(t.N * t.H * t.W * t.C, threads), x, xt.get());
  if (!s.nhwc) transpose_planes(gy, gyt.get(), s.N, s.K, s.pixels(), threads);
  T* no_bias = nullptr;
  conv2d_bwd_weight(t, Algorithm::Auto, threads, s.nhwc ? gy : gyt.get(), xt.get(), gwt.get(), no_bias);
  parallel_for(s.K, threads, [&](int64_t k) {
    for (int64_t c = 0; c < s.C; ++c)
      for (int64_t r = 0; r < s.R; ++r)
        for (int64_t q = 0; q < s.S; ++q)
          gw[weight_index(s, k, c, r, q)] = gwt.get()[transformed_tap(s, t, c, r, q) + k];
  });
}

template void conv2d_space_to_depth_fwd<float>(const ConvShape&, int, const float*, const float*, const float*, bool,
                                               float*);
template void conv2d_space_to_depth_fwd<double>(const ConvShape&, int, const double*, const double*, const double*,
                                                bool, double*);
template void conv2d_space_to_depth_bwd_weight<float>(const ConvShape&, int, const float*, const float*, float*);
template void conv2d_space_to_depth_bwd_weight<double>(const ConvShape&, int, const double*, const double*, double*);

}  // namespace fastconv
