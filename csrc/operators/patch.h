// The convolution's patch ("im2col") matrix as a view, never materialized: entry (tap, pixel) is the input value
// that kernel tap `tap` sees at output pixel `pixel`, or 0 where it falls in the padding.
// Taps follow the weight layout: (c, r, s) for NCHW/OIHW, (r, s, c) for NHWC/HWIO, so that row t of the patch
// matrix meets column t of the weight matrix. Pixels are (p, q) of one image.
#pragma once
#include <algorithm>
#include <vector>

#include "operators/gemm.h"

#include "fastconv/shapes.h"

namespace fastconv {

struct Tap {
  int64_t offset;  // channel offset within the group's first channel
  int32_t dh, dw;  // displacement of this tap from the window's top-left corner
};

struct Pixel {
  int32_t h, w;  // top-left corner of the window in input coordinates (negative inside the top/left padding)
};

// Index tables of one call: taps of one group, pixels of one image.
struct PatchIndex {
  std::vector<Tap> taps;
  std::vector<Pixel> pixels;
  int64_t row_stride, col_stride;  // input strides of h and w

  explicit PatchIndex(const ConvShape& s) : taps(s.taps()), pixels(s.pixels()) {
    const int64_t channel_stride = s.nhwc ? 1 : s.H * s.W;
    row_stride = s.nhwc ? s.W * s.C : s.W;
    col_stride = s.nhwc ? s.C : 1;
    int64_t t = 0;
    for (int64_t a = 0; a < (s.nhwc ? s.R : s.Cg()); ++a)
      for (int64_t b = 0; b < (s.nhwc ? s.S : s.R); ++b)
        for (int64_t d = 0; d < (s.nhwc ? s.Cg() : s.S); ++d) {
          const int64_t c = s.nhwc ? d : a, r = s.nhwc ? a : b, q = s.nhwc ? b : d;
          taps[t++] = {c * channel_stride, int32_t(r * s.dil_h), int32_t(q * s.dil_w)};
        }
    for (int64_t p = 0; p < s.P; ++p)
      for (int64_t q = 0; q < s.Q; ++q)
        pixels[p * s.Q + q] = {int32_t(p * s.stride_h - s.pad_top), int32_t(q * s.stride_w - s.pad_left)};
  }

  // Input offset of (tap, pixel) within the group's image, or -1 in the padding.
  int64_t offset(const ConvShape& s, int64_t tap, int64_t pixel) const {
    const Tap& t = taps[tap];
    const Pixel& px = pixels[pixel];
    const int64_t h = px.h + t.dh, w = px.w + t.dw;
    if (static_cast<uint64_t>(h) >= static_cast<uint64_t>(s.H) || static_cast<uint64_t>(w) >= static_cast<uint64_t>(s.W))
      return -1;
    return t.offset + h * row_stride + w * col_stride;
  }
};

// Patch matrix of one (image, group): rows = taps, columns = pixels starting at pixel0.
template <typename T>
struct PatchView {
  const ConvShape* s;
  const PatchIndex* idx;
  const T* x;  // the group's first channel of the image
  int64_t pixel0;
  T at(int64_t tap, int64_t pixel) const {
    const int64_t o = idx->offset(*s, tap, pixel0 + pixel);
    return o < 0 ? T(0) : x[o];
  }

  // dst[0:n] = row `tap`, columns [pixel, pixel + n): the packers' fast path. The run is cut where output rows
  // end; within one output row the input row is fixed, so the valid columns form one interval: zeros, a strided
  // (for NCHW and stride 1, contiguous) copy, zeros.
  void gather(int64_t tap, int64_t pixel, int64_t n, T* dst) const {
    const Tap t = idx->taps[tap];
    const int64_t Q = s->Q, H = s->H, W = s->W, sw = s->stride_w;
    const int64_t rs = idx->row_stride, cs = idx->col_stride;
    int64_t pix = pixel0 + pixel;
    for (int64_t done = 0; done < n;) {
      const int64_t len = std::min(n - done, Q - pix % Q);
      const Pixel px = idx->pixels[pix];
      const int64_t ih = px.h + t.dh, iw = px.w + t.dw;  // input column of the run's first pixel
      T* d = dst + done;
      if (ih < 0 || ih >= H) {
        std::fill_n(d, len, T(0));
      } else {
        // columns j with 0 <= iw + j * sw < W
        const int64_t lo = std::min(len, iw >= 0 ? int64_t(0) : (-iw + sw - 1) / sw);
        const int64_t hi = std::max(lo, std::min(len, W - iw <= 0 ? int64_t(0) : (W - 1 - iw) / sw + 1));
        const T* src = x + t.offset + ih * rs + iw * cs;
        std::fill_n(d, lo, T(0));
        const int64_t step = sw * cs;
        if (step == 1) {
          std::copy(src + lo, src + hi, d + lo);
        } else {
          for (int64_t j = lo; j < hi; ++j) d[j] = src[j * step];
        }
        std::fill(d + hi, d + len, T(0));
      }
      done += len;
      pix += len;
    }
  }

  // dst[i * stride] = column `pixel`, rows [tap, tap + n): the packers' path along taps. In NHWC the taps of one
  // kernel position are consecutive channels, so each run of them is one bounds check and a contiguous read.
  void gather_taps(int64_t pixel, int64_t tap, int64_t n, T* dst, int64_t stride) const {
    const Pixel px = idx->pixels[pixel0 + pixel];
    const uint64_t H = s->H, W = s->W;
    const int64_t rs = idx->row_stride, cs = idx->col_stride, Cg = s->Cg();
    for (int64_t i = 0; i < n;) {
      const Tap t = idx->taps[tap + i];
      const int64_t h = px.h + t.dh, w = px.w + t.dw;
      const int64_t run = s->nhwc ? std::min(n - i, Cg - (tap + i) % Cg) : 1;  // same kernel position
      const bool inside = static_cast<uint64_t>(h) < H && static_cast<uint64_t>(w) < W;
      const T* src = x + t.offset + h * rs + w * cs;
      for (int64_t j = 0; j < run; ++j) dst[(i + j) * stride] = inside ? src[j] : T(0);
      i += run;
    }
  }
};

// A pointwise convolution (1x1 kernel, stride 1, no padding) reads its input as it lies: patch row c, column
// pixel is x[c * H * W + pixel] (NCHW) or x[pixel * C + c] (NHWC).
inline bool is_pointwise(const ConvShape& s) {
  return s.R == 1 && s.S == 1 && s.stride_h == 1 && s.stride_w == 1 && s.pad_top == 0 && s.pad_left == 0 &&
         s.P == s.H && s.Q == s.W;
}

// Calls f(view) with the patch matrix of one (image, group) from pixel0 on: a plain strided matrix for pointwise
// convolutions, the indexed PatchView otherwise. xg points at the group's first channel of the image.
template <typename T, class F>
void with_patch(const ConvShape& s, const PatchIndex& idx, const T* xg, int64_t pixel0, F&& f) {
  if (is_pointwise(s)) {
    const int64_t pixel_stride = s.nhwc ? s.C : 1, tap_stride = s.nhwc ? 1 : s.H * s.W;
    f(MatrixView<T>{xg + pixel0 * pixel_stride, tap_stride, pixel_stride});
  } else {
    f(PatchView<T>{&s, &idx, xg, pixel0});
  }
}

// Channel runs shorter than this are packed element by element: per-run bookkeeping would cost more than it saves.
constexpr int64_t MIN_CHANNEL_RUN = 8;

// The packers of gemm.h for patch views: each packed step is one tap over a run of consecutive pixels.
template <typename T>
void pack_b(const PatchView<T>& b, int64_t p0, int64_t kc, int64_t j0, int64_t nc, int nr, T* dst) {
  for (int64_t jr = 0; jr < nc; jr += nr) {
    const int64_t n = std::min<int64_t>(nr, nc - jr);
    for (int64_t p = 0; p < kc; ++p, dst += nr) {
      b.gather(p0 + p, j0 + jr, n, dst);
      std::fill(dst + n, dst + nr, T(0));
    }
  }
}

template <typename T>
void pack_a(const Transposed<PatchView<T>>& a, int64_t i0, int64_t mc, int64_t p0, int64_t kc, int mr, T* dst) {
  for (int64_t ir = 0; ir < mc; ir += mr, dst += kc * mr) {
    const int64_t m = std::min<int64_t>(mr, mc - ir);
    if (a.v.s->nhwc && a.v.s->Cg() >= MIN_CHANNEL_RUN) {  // rows are pixels: each pixel's channel runs, down the panel
      for (int64_t i = 0; i < m; ++i) a.v.gather_taps(i0 + ir + i, p0, kc, dst + i, mr);
      for (int64_t i = m; i < mr; ++i)
        for (int64_t p = 0; p < kc; ++p) dst[p * mr + i] = T(0);
    } else {
      for (int64_t p = 0; p < kc; ++p) {
        a.v.gather(p0 + p, i0 + ir, m, dst + p * mr);
        std::fill(dst + p * mr + m, dst + (p + 1) * mr, T(0));
      }
    }
  }
}

// Rows taps, columns pixels, packed as row panels (bwd_weight NHWC's A): each step is one pixel's run of taps.
template <typename T>
void pack_a(const PatchView<T>& a, int64_t i0, int64_t mc, int64_t p0, int64_t kc, int mr, T* dst) {
  if (!a.s->nhwc || a.s->Cg() < MIN_CHANNEL_RUN) return pack_a<T, PatchView<T>>(a, i0, mc, p0, kc, mr, dst);
  for (int64_t ir = 0; ir < mc; ir += mr) {
    const int64_t m = std::min<int64_t>(mr, mc - ir);
    for (int64_t p = 0; p < kc; ++p, dst += mr) {
      a.gather_taps(p0 + p, i0 + ir, m, dst, 1);
      std::fill(dst + m, dst + mr, T(0));
    }
  }
}

}  // namespace fastconv
