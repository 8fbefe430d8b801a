// Depthwise convolution (one input channel per group: C/G == 1, any channel multiplier K/G) by direct loops:
// a GEMM would have one row per group. Chosen by conv2d_* for every depthwise shape ("direct" algorithm).
// NCHW loops run along output rows (contiguous in w for stride 1); NHWC loops run along channels.
// Each parallel unit owns its outputs: (image, channel) planes for NCHW, images for NHWC, and the weight
// gradient is summed over a fixed split of the images (deterministic for a fixed thread count).
#include <algorithm>
#include <vector>

#include "fastconv/parallel.h"
#include "operators/conv2d.h"

namespace fastconv {
namespace {

// Output columns q in [lo, hi) whose tap column q*sw + off lies inside [0, W).
struct ColumnRange {
  int64_t lo, hi;
};

ColumnRange valid_columns(int64_t off, int64_t sw, int64_t W, int64_t Q) {
  const int64_t lo = off >= 0 ? 0 : (-off + sw - 1) / sw;
  const int64_t hi = W - off <= 0 ? 0 : std::min<int64_t>(Q, (W - 1 - off) / sw + 1);
  return {lo, std::max(lo, hi)};
}

// NHWC: calls f(tap, pixel) for each kernel tap of output (p, q) whose input pixel lies inside the image;
// tap = r * S + s indexes the (R, S, 1, K) weights, pixel = ih * W + iw the image.
template <class F>
void for_each_window_tap(const ConvShape& s, int64_t p, int64_t q, F&& f) {
  for (int64_t r = 0; r < s.R; ++r) {
    const int64_t ih = p * s.stride_h - s.pad_top + r * s.dil_h;
    if (ih < 0 || ih >= s.H) continue;
    for (int64_t c = 0; c < s.S; ++c) {
      const int64_t iw = q * s.stride_w - s.pad_left + c * s.dil_w;
      if (iw < 0 || iw >= s.W) continue;
      f(r * s.S + c, ih * s.W + iw);
    }
  }
}

// NCHW: y[n, k] plane = b[k] + sum_{r,s} w[k, 0, r, s] * x[n, k / Kg] shifted by the tap.
template <typename T>
void dw_fwd_nchw(const ConvShape& s, int threads, const T* x, const T* w, const T* b, bool relu, T* y) {
  const int64_t Kg = s.Kg(), plane = s.H * s.W, oplane = s.pixels();
  parallel_for(s.N * s.K, threads, [&](int64_t u) {
    const int64_t n = u / s.K, k = u % s.K;
    const T* xp = x + (n * s.C + k / Kg) * plane;
    T* yp = y + u * oplane;
    std::fill_n(yp, oplane, b ? b[k] : T(0));
    for (int64_t p = 0; p < s.P; ++p) {
      T* yrow = yp + p * s.Q;
      for (int64_t r = 0; r < s.R; ++r) {
        const int64_t ih = p * s.stride_h - s.pad_top + r * s.dil_h;
        if (ih < 0 || ih >= s.H) continue;
        const T* xrow = xp + ih * s.W;
        for (int64_t c = 0; c < s.S; ++c) {
          const T wt = w[(k * s.R + r) * s.S + c];
          const int64_t off = c * s.dil_w - s.pad_left;
          const ColumnRange q = valid_columns(off, s.stride_w, s.W, s.Q);
          if (s.stride_w == 1) {
            for (int64_t j = q.lo; j < q.hi; ++j) yrow[j] += wt * xrow[j + off];
          } else {
            for (int64_t j = q.lo; j < q.hi; ++j) yrow[j] += wt * xrow[j * s.stride_w + off];
          }
        }
      }
    }
    if (relu)
      for (int64_t i = 0; i < oplane; ++i) yp[i] = yp[i] < T(0) ? T(0) : yp[i];
  });
}

// NHWC: y[n, p, q, k] = b[k] + sum_{r,s} w[r, s, 0, k] * x[n, ih, iw, k / Kg]; vectorized over k.
template <typename T>
void dw_fwd_nhwc(const ConvShape& s, int threads, const T* x, const T* w, const T* b, bool relu, T* y) {
  const int64_t Kg = s.Kg(), K = s.K, C = s.C;
  parallel_for(s.N * s.P, threads, [&](int64_t u) {
    const int64_t n = u / s.P, p = u % s.P;
    for (int64_t q = 0; q < s.Q; ++q) {
      T* yp = y + (u * s.Q + q) * K;
      for (int64_t k = 0; k < K; ++k) yp[k] = b ? b[k] : T(0);
      for_each_window_tap(s, p, q, [&](int64_t tap, int64_t pixel) {
        const T* xp = x + (n * s.H * s.W + pixel) * C;
        const T* wp = w + tap * K;
        if (Kg == 1) {
          for (int64_t k = 0; k < K; ++k) yp[k] += wp[k] * xp[k];
        } else {
          for (int64_t k = 0; k < K; ++k) yp[k] += wp[k] * xp[k / Kg];
        }
      });
      if (relu)
        for (int64_t k = 0; k < K; ++k) yp[k] = yp[k] < T(0) ? T(0) : yp[k];
    }
  });
}

// gx = d<y, gy>/dx: each tap term y[.., p, q] += w * x[.., ih, iw] sends w * gy[.., p, q] back to x[.., ih, iw].
template <typename T>
void dw_bwd_data(const ConvShape& s, int threads, const T* gy, const T* w, T* gx) {
  const int64_t Kg = s.Kg(), plane = s.H * s.W, oplane = s.pixels();
  if (!s.nhwc) {
    parallel_for(s.N * s.C, threads, [&](int64_t u) {  // one input plane per unit
      const int64_t n = u / s.C, g = u % s.C;
      T* gxp = gx + u * plane;
      std::fill_n(gxp, plane, T(0));
      for (int64_t k = g * Kg; k < (g + 1) * Kg; ++k) {
        const T* gyp = gy + (n * s.K + k) * oplane;
        for (int64_t p = 0; p < s.P; ++p)
          for (int64_t r = 0; r < s.R; ++r) {
            const int64_t ih = p * s.stride_h - s.pad_top + r * s.dil_h;
            if (ih < 0 || ih >= s.H) continue;
            for (int64_t c = 0; c < s.S; ++c) {
              const T wt = w[(k * s.R + r) * s.S + c];
              const int64_t off = c * s.dil_w - s.pad_left;
              const ColumnRange q = valid_columns(off, s.stride_w, s.W, s.Q);
              T* gxrow = gxp + ih * s.W;
              const T* gyrow = gyp + p * s.Q;
              for (int64_t j = q.lo; j < q.hi; ++j) gxrow[j * s.stride_w + off] += wt * gyrow[j];
            }
          }
      }
    });
    return;
  }
  parallel_for(s.N, threads, [&](int64_t n) {  // one image per unit: its windows overlap
    T* gxn = gx + n * plane * s.C;
    std::fill_n(gxn, plane * s.C, T(0));
    for (int64_t p = 0; p < s.P; ++p)
      for (int64_t q = 0; q < s.Q; ++q) {
        const T* gyp = gy + ((n * s.P + p) * s.Q + q) * s.K;
        for_each_window_tap(s, p, q, [&](int64_t tap, int64_t pixel) {
          T* gxp = gxn + pixel * s.C;
          const T* wp = w + tap * s.K;
          if (Kg == 1) {
            for (int64_t k = 0; k < s.K; ++k) gxp[k] += wp[k] * gyp[k];
          } else {
            for (int64_t k = 0; k < s.K; ++k) gxp[k / Kg] += wp[k] * gyp[k];
          }
        });
      }
  });
}

// gw = d<y, gy>/dw: gw[k, r, s] = sum over images and pixels of gy[.., k, p, q] * x[.., k / Kg, ih, iw].
template <typename T>
void dw_bwd_weight(const ConvShape& s, int threads, const T* gy, const T* x, T* gw) {
  const int64_t Kg = s.Kg(), plane = s.H * s.W, oplane = s.pixels(), RS = s.R * s.S;
  if (!s.nhwc) {
    parallel_for(s.K, threads, [&](int64_t k) {  // one filter per unit, images summed in order
      T* gwk = gw + k * RS;
      std::fill_n(gwk, RS, T(0));
      for (int64_t n = 0; n < s.N; ++n) {
        const T* xp = x + (n * s.C + k / Kg) * plane;
        const T* gyp = gy + (n * s.K + k) * oplane;
        for (int64_t r = 0; r < s.R; ++r)
          for (int64_t c = 0; c < s.S; ++c) {
            const int64_t off = c * s.dil_w - s.pad_left;
            const ColumnRange q = valid_columns(off, s.stride_w, s.W, s.Q);
            T acc = T(0);
            for (int64_t p = 0; p < s.P; ++p) {
              const int64_t ih = p * s.stride_h - s.pad_top + r * s.dil_h;
              if (ih < 0 || ih >= s.H) continue;
              const T* xrow = xp + ih * s.W;
              const T* gyrow = gyp + p * s.Q;
              for (int64_t j = q.lo; j < q.hi; ++j) acc += gyrow[j] * xrow[j * s.stride_w + off];
            }
            gwk[r * s.S + c] += acc;
          }
      }
    });
    return;
  }
  // NHWC: weights (R, S, 1, K); each part sums a fixed range of images over channel vectors, parts added in order.
  const int64_t parts = std::clamp<int64_t>(threads, 1, std::max<int64_t>(s.N, 1));
  std::vector<T> partial(parts * RS * s.K, T(0));
  parallel_for(parts, threads, [&](int64_t part) {
    T* acc = partial.data() + part * RS * s.K;
    for (int64_t n = s.N * part / parts; n < s.N * (part + 1) / parts; ++n)
      for (int64_t p = 0; p < s.P; ++p)
        for (int64_t q = 0; q < s.Q; ++q) {
          const T* gyp = gy + ((n * s.P + p) * s.Q + q) * s.K;
          for_each_window_tap(s, p, q, [&](int64_t tap, int64_t pixel) {
            const T* xp = x + (n * s.H * s.W + pixel) * s.C;
            T* ap = acc + tap * s.K;
            if (Kg == 1) {
              for (int64_t k = 0; k < s.K; ++k) ap[k] += gyp[k] * xp[k];
            } else {
              for (int64_t k = 0; k < s.K; ++k) ap[k] += gyp[k] * xp[k / Kg];
            }
          });
        }
  });
  for (int64_t i = 0; i < RS * s.K; ++i) {
    T sum = T(0);
    for (int64_t part = 0; part < parts; ++part) sum += partial[part * RS * s.K + i];
    gw[i] = sum;
  }
}

}  // namespace

bool is_depthwise(const ConvShape& s) { return s.Cg() == 1 && s.G > 1; }

template <typename T>
void conv2d_depthwise_fwd(const ConvShape& s, int threads, const T* x, const T* w, const T* b, bool relu, T* y) {
  if (s.nhwc) dw_fwd_nhwc(s, threads, x, w, b, relu, y);
  else dw_fwd_nchw(s, threads, x, w, b, relu, y);
}

template <typename T>
void conv2d_depthwise_bwd_data(const ConvShape& s, int threads, const T* gy, const T* w, T* gx) {
  dw_bwd_data(s, threads, gy, w, gx);
}

template <typename T>
void conv2d_depthwise_bwd_weight(const ConvShape& s, int threads, const T* gy, const T* x, T* gw) {
  dw_bwd_weight(s, threads, gy, x, gw);
}

#define FASTCONV_INSTANTIATE(T)                                                                                 \
  template void conv2d_depthwise_fwd<T>(const ConvShape&, int, const T*, const T*, const T*, bool, T*);       \
  template void conv2d_depthwise_bwd_data<T>(const ConvShape&, int, const T*, const T*, T*);                  \
  template void conv2d_depthwise_bwd_weight<T>(const ConvShape&, int, const T*, const T*, T*);
FASTCONV_INSTANTIATE(float)
FASTCONV_INSTANTIATE(double)
#undef FASTCONV_INSTANTIATE

}  // namespace fastconv
