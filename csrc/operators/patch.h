// The convolution's patch ("im2col") matrix as a view, never materialized: entry (tap, pixel) is the input value
// that kernel tap `tap` sees at output pixel `pixel`, or 0 where it falls in the padding.
// Taps follow the weight layout: (c, r, s) for NCHW/OIHW, (r, s, c) for NHWC/HWIO, so that row t of the patch
// matrix meets column t of the weight matrix. Pixels are (p, q) of one image, or (n, p, q) of several images when
// an index spans them (small images batched into one GEMM).
#pragma once
#include <algorithm>
#include <cstring>
#include <vector>

#include "operators/gemm.h"

#include "fastconv/shapes.h"

namespace fastconv {

// A pointwise convolution (1x1 kernel, stride 1, no padding) reads its input as it lies: patch row c, column
// pixel is x[c * H * W + pixel] (NCHW) or x[pixel * C + c] (NHWC).
inline bool is_pointwise(const ConvShape& s) {
  return s.R == 1 && s.S == 1 && s.stride_h == 1 && s.stride_w == 1 && s.pad_top == 0 && s.pad_left == 0 &&
         s.P == s.H && s.Q == s.W;
}

struct Tap {
  int64_t offset;  // channel offset within the group's first channel
  int32_t dh, dw;  // displacement of this tap from the window's top-left corner
};

struct Pixel {
  int32_t h, w;   // top-left corner of the window in input coordinates (negative inside the top/left padding)
  int64_t image;  // offset of the pixel's image from the first one's
};

// Index tables of one call: taps of one group, pixels of `images` consecutive images. Left empty for pointwise
// convolutions, whose patch views never read them (a dense layer's 1014 taps cost a microsecond per call).
struct PatchIndex {
  std::vector<Tap> taps;
  std::vector<Pixel> pixels;
  int64_t row_stride, col_stride;  // input strides of h and w

  explicit PatchIndex(const ConvShape& s, int64_t images = 1) {
    const int64_t channel_stride = s.nhwc ? 1 : s.H * s.W;
    row_stride = s.nhwc ? s.W * s.C : s.W;
    col_stride = s.nhwc ? s.C : 1;
    if (is_pointwise(s)) return;
    taps.resize(s.taps());
    pixels.resize(images * s.pixels());
    int64_t t = 0;
    for (int64_t a = 0; a < (s.nhwc ? s.R : s.Cg()); ++a)
      for (int64_t b = 0; b < (s.nhwc ? s.S : s.R); ++b)
        for (int64_t d = 0; d < (s.nhwc ? s.Cg() : s.S); ++d) {
          const int64_t c = s.nhwc ? d : a, r = s.nhwc ? a : b, q = s.nhwc ? b : d;
          taps[t++] = {c * channel_stride, int32_t(r * s.dil_h), int32_t(q * s.dil_w)};
        }
    for (int64_t n = 0; n < images; ++n)
      for (int64_t p = 0; p < s.P; ++p)
        for (int64_t q = 0; q < s.Q; ++q)
          pixels[(n * s.P + p) * s.Q + q] = {int32_t(p * s.stride_h - s.pad_top), int32_t(q * s.stride_w - s.pad_left),
                                             n * s.C * s.H * s.W};
  }

  // Input offset of (tap, pixel) within the group's image, or -1 in the padding.
  int64_t offset(const ConvShape& s, int64_t tap, int64_t pixel) const {
    const Tap& t = taps[tap];
    const Pixel& px = pixels[pixel];
    const int64_t h = px.h + t.dh, w = px.w + t.dw;
    const auto outside = [](int64_t v, int64_t n) { return static_cast<uint64_t>(v) >= static_cast<uint64_t>(n); };
    if (outside(h, s.H) || outside(w, s.W)) return -1;
    return px.image + t.offset + h * row_stride + w * col_stride;
  }
};

// Calls f(j, len, offset, step) for each run of the patch row `tap`, columns [pixel, pixel + n), that lies inside
// the input: columns j .. j+len-1 read input offsets offset, offset + step, ... Runs are cut where output rows end;
// within one output row the input row is fixed, so its valid columns form one interval (for NCHW and stride 1, a
// contiguous one). Shared by the packers (gather) and col2im (scatter).
template <class F>
void for_each_run(const ConvShape& s, const PatchIndex& idx, int64_t tap, int64_t pixel, int64_t n, F&& f) {
  const Tap t = idx.taps[tap];
  const int64_t Q = s.Q, sw = s.stride_w, W = s.W;
  for (int64_t done = 0; done < n;) {
    const int64_t len = std::min(n - done, Q - pixel % Q);
    const Pixel px = idx.pixels[pixel];
    const int64_t ih = px.h + t.dh, iw = px.w + t.dw;  // input position of the run's first pixel
    if (ih >= 0 && ih < s.H) {
      const int64_t lo = std::min(len, iw >= 0 ? int64_t(0) : (-iw + sw - 1) / sw);
      const int64_t hi = std::max(lo, std::min(len, W - iw <= 0 ? int64_t(0) : (W - 1 - iw) / sw + 1));
      if (hi > lo)
        f(done + lo, hi - lo, px.image + t.offset + ih * idx.row_stride + (iw + lo * sw) * idx.col_stride,
          sw * idx.col_stride);
    }
    done += len;
    pixel += len;
  }
}

// Calls f(i, len, offset) for each run of the patch column `pixel`, rows [tap, tap + n), that lies inside the
// input: rows i .. i+len-1 read consecutive input offsets from `offset`. In NHWC the taps of one kernel position
// are consecutive channels, so a run is up to C/G long; in NCHW every tap is its own run.
template <class F>
void for_each_tap_run(const ConvShape& s, const PatchIndex& idx, int64_t pixel, int64_t tap, int64_t n, F&& f) {
  const Pixel px = idx.pixels[pixel];
  const int64_t Cg = s.Cg();
  for (int64_t i = 0; i < n;) {
    const Tap t = idx.taps[tap + i];
    const int64_t h = px.h + t.dh, w = px.w + t.dw;
    const int64_t run = s.nhwc ? std::min(n - i, Cg - (tap + i) % Cg) : 1;
    if (h >= 0 && h < s.H && w >= 0 && w < s.W)
      f(i, run, px.image + t.offset + h * idx.row_stride + w * idx.col_stride);
    i += run;
  }
}

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

  // dst[0:n] = row `tap`, columns [pixel, pixel + n): the packers' fast path along pixels.
  void gather(int64_t tap, int64_t pixel, int64_t n, T* dst) const {
    std::fill_n(dst, n, T(0));
    for_each_run(*s, *idx, tap, pixel0 + pixel, n, [&](int64_t j, int64_t len, int64_t offset, int64_t step) {
      const T* src = x + offset;
      if (step == 1) {
        std::copy(src, src + len, dst + j);
      } else {
        for (int64_t i = 0; i < len; ++i) dst[j + i] = src[i * step];
      }
    });
  }

  // dst[i * stride] = column `pixel`, rows [tap, tap + n): the packers' path along taps.
  void gather_taps(int64_t pixel, int64_t tap, int64_t n, T* dst, int64_t stride) const {
    for (int64_t i = 0; i < n; ++i) dst[i * stride] = T(0);
    for_each_tap_run(*s, *idx, pixel0 + pixel, tap, n, [&](int64_t i, int64_t len, int64_t offset) {
      const T* src = x + offset;
      for (int64_t j = 0; j < len; ++j) dst[(i + j) * stride] = src[j];
    });
  }
};

// Images with few output pixels run as one GEMM over the pixels of consecutive images (a PatchIndex spanning them):
// per image, each work unit would stream all of the packed weights (forward) or the whole weight gradient (its
// reduction over pixels) for a handful of pixels; a 512-channel 7x7 layer spent its time there. NCHW pointwise
// views cannot cross images.
constexpr int64_t BATCH_PIXELS = 256;

inline bool batches_images(const ConvShape& s) {
  return s.N > 1 && s.pixels() < BATCH_PIXELS && (s.nhwc || !is_pointwise(s));
}

// Rows of NCHW channels, columns the pixels of consecutive images from pixel0 on: (i, j) is image
// (pixel0 + j) / pixels's channel i at pixel (pixel0 + j) % pixels; channels at stride rs, images at image_stride.
template <typename T>
struct ImageColumns {
  const T* p;
  int64_t rs, image_stride, pixels, pixel0;
  T at(int64_t i, int64_t j) const {
    const int64_t pixel = pixel0 + j;
    return p[pixel / pixels * image_stride + i * rs + pixel % pixels];
  }
};

// Packs as gemm.h's pack_a, walking the columns' images without a division per step.
template <typename T>
void pack_a(const ImageColumns<T>& a, int64_t i0, int64_t mc, int64_t p0, int64_t kc, int mr, T* dst) {
  for (int64_t ir = 0; ir < mc; ir += mr) {
    const int64_t m = std::min<int64_t>(mr, mc - ir);
    int64_t pixel = (a.pixel0 + p0) % a.pixels;
    const T* image = a.p + (a.pixel0 + p0) / a.pixels * a.image_stride + (i0 + ir) * a.rs;
    for (int64_t p = 0; p < kc; ++p, dst += mr) {
      for (int64_t i = 0; i < m; ++i) dst[i] = image[i * a.rs + pixel];
      std::fill(dst + m, dst + mr, T(0));
      if (++pixel == a.pixels) pixel = 0, image += a.image_stride;
    }
  }
}

// Packs as gemm.h's pack_b (the columns as B: the GEMM input gradient's gy). A panel within one image is a plain
// one (pack_contiguous_steps); one that crosses images goes element by element, in runs of one image's pixels, with
// no library calls (a call per run cost more than LeNet's runs of 4 to 32 values).
template <typename T>
__attribute__((optimize("no-tree-loop-distribute-patterns"))) void pack_b(const ImageColumns<T>& b, int64_t p0,
                                                                          int64_t kc, int64_t j0, int64_t nc, int nr,
                                                                          T* dst) {
  for (int64_t jr = 0; jr < nc; jr += nr, dst += kc * nr) {
    const int64_t n = std::min<int64_t>(nr, nc - jr), first = b.pixel0 + j0 + jr, pixel0 = first % b.pixels;
    const T* image0 = b.p + first / b.pixels * b.image_stride + p0 * b.rs;
    if (pixel0 + n <= b.pixels) {
      pack_contiguous_steps(image0 + pixel0, b.rs, n, kc, nr, dst);
      continue;
    }
    for (int64_t p = 0; p < kc; ++p) {
      T* step = dst + p * nr;
      const T* image = image0 + p * b.rs;
      for (int64_t j = 0, pixel = pixel0; j < n; pixel = 0, image += b.image_stride) {
        const int64_t end = std::min(n, j + b.pixels - pixel);
        for (const T* src = image + pixel - j; j < end; ++j) step[j] = src[j];
      }
      for (int64_t j = n; j < nr; ++j) step[j] = T(0);
    }
  }
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

// Rows pixels, columns taps, packed as column panels (bwd_weight's B). NCHW: each tap's row of the patch matrix is
// gathered along pixels (contiguous runs for stride 1) and written down its panel column. NHWC: each step is one
// pixel's run of taps (one copy where the panel's taps are consecutive channels of one kernel position).
template <typename T>
void pack_b(const Transposed<PatchView<T>>& b, int64_t p0, int64_t kc, int64_t j0, int64_t nc, int nr, T* dst) {
  if (b.v.s->nhwc && b.v.s->Cg() >= MIN_CHANNEL_RUN) return pack_a(b.v, j0, nc, p0, kc, nr, dst);
  const PatchView<T>& v = b.v;
  for (int64_t jr = 0; jr < nc; jr += nr, dst += kc * nr) {
    const int64_t n = std::min<int64_t>(nr, nc - jr);
    std::fill_n(dst, kc * nr, T(0));  // padding and missing taps; the runs below overwrite the rest
    for (int64_t j = 0; j < n; ++j) {
      const auto scatter = [&](int64_t p, int64_t len, int64_t offset, int64_t step) {
        const T* src = v.x + offset;
        T* out = dst + p * nr + j;
        for (int64_t i = 0; i < len; ++i) out[i * nr] = src[i * step];
      };
      for_each_run(*v.s, *v.idx, j0 + jr + j, v.pixel0 + p0, kc, scatter);
    }
  }
}

// Rows taps, columns pixels, packed as row panels (bwd_weight NHWC's A): each step is one pixel's run of taps.
// A full panel whose taps are consecutive channels of one kernel position (the usual case: C/G a multiple of mr)
// is one contiguous copy per pixel, or zeros where that position falls in the padding.
template <typename T>
void pack_a(const PatchView<T>& a, int64_t i0, int64_t mc, int64_t p0, int64_t kc, int mr, T* dst) {
  if (!a.s->nhwc || a.s->Cg() < MIN_CHANNEL_RUN) return pack_a<T, PatchView<T>>(a, i0, mc, p0, kc, mr, dst);
  const PatchIndex& idx = *a.idx;
  const int64_t H = a.s->H, W = a.s->W;
  for (int64_t ir = 0; ir < mc; ir += mr) {
    const int64_t m = std::min<int64_t>(mr, mc - ir);
    const Tap first = idx.taps[i0 + ir], last = idx.taps[i0 + ir + m - 1];
    if (m == mr && last.offset - first.offset == m - 1 && last.dh == first.dh && last.dw == first.dw) {
      for (int64_t p = 0; p < kc; ++p, dst += mr) {
        const Pixel px = idx.pixels[a.pixel0 + p0 + p];
        const int64_t h = px.h + first.dh, w = px.w + first.dw;
        if (static_cast<uint64_t>(h) < static_cast<uint64_t>(H) && static_cast<uint64_t>(w) < static_cast<uint64_t>(W))
          copy_panel_step(a.x + px.image + first.offset + h * idx.row_stride + w * idx.col_stride, dst, mr);
        else
          std::fill_n(dst, mr, T(0));
      }
      continue;
    }
    for (int64_t p = 0; p < kc; ++p, dst += mr) {
      a.gather_taps(p0 + p, i0 + ir, m, dst, 1);
      std::fill(dst + m, dst + mr, T(0));
    }
  }
}

}  // namespace fastconv
