// Pointwise NHWC layers with few output channels (a dense layer computed as a 1x1 convolution of one-pixel rows, a
// classifier's logits): the GEMM algorithm's three passes as skinny products (kernels/skinny_rows.h), with rows =
// the N * H * W pixels, C inputs and K <= 2 vectors of outputs:
//   forward       y[r, :K]     = b + sum_c x[r, c] w[c, :K]     pixel rows split over the threads;
//   weight grad   gw[c, :K]    = sum_r x[r, c] gy[r, :K]        } input channels split over the threads, in one
//   bias grad     gb[:K]       = sum_r gy[r, :K]                } parallel region: each transposes its own
//   input grad    gx[r, c0:c1] = sum_k gy[r, k] wT[k, c0:c1]    } columns of w (K x its columns, in L1).
// Against the blocked GEMM (which packs both operands and, at 10 columns, wastes 6 of 16 lanes per FMA): a dense
// layer 1014 -> 10 at batch 32 (see benchmarks/RESULTS.md).
#include <algorithm>
#include <vector>

#include "fastconv/cpu.h"
#include "fastconv/parallel.h"
#include "operators/conv2d.h"
#include "operators/patch.h"

namespace fastconv {
namespace {

// Beyond a few thousand rows the weight gradient streams gy once per block of input channels; the GEMM blocks for
// cache there.
constexpr int64_t MAX_ROWS = 4096;

template <typename T>
int lanes() {
  return active_kernels().direct<T>().lanes;
}

// m: J rows ldm apart, each read as whole vectors of `reach` values. The rows whose reads stay inside m's J * ldm
// values are read in place; the others from a copy padded with zeros (tail).
inline int64_t rows_in_place(int64_t J, int64_t ldm, int64_t reach) {
  return reach <= ldm ? J : std::max<int64_t>(0, J - ceil_div(reach - ldm, ldm));
}

template <typename T>
std::vector<T> padded_tail(const T* m, int64_t J, int64_t j_safe, int64_t ldm, int64_t reach) {
  std::vector<T> tail((J - j_safe) * ldm + reach, T(0));
  std::copy(m + j_safe * ldm, m + J * ldm, tail.begin());
  return tail;
}

// The first index of part i of [0, n) split into `parts` parts of whole multiples of `unit` (the last may be short).
inline int64_t part_begin(int64_t n, int64_t unit, int64_t parts, int64_t i) {
  return std::min(n, ceil_div(n, unit) * i / parts * unit);
}

}  // namespace

bool skinny_applies(const ConvShape& s, bool f64) {
  const int vector = f64 ? lanes<double>() : lanes<float>();
  return s.nhwc && s.G == 1 && is_pointwise(s) && s.K <= 2 * vector && s.N * s.H * s.W <= MAX_ROWS;
}

template <typename T>
void conv2d_skinny_fwd(const ConvShape& s, int threads, const T* x, const T* w, const T* b, bool relu, T* y) {
  const int64_t rows = s.N * s.H * s.W, reach = ceil_div(s.K, lanes<T>()) * lanes<T>();
  const int64_t j_safe = rows_in_place(s.C, s.K, reach);
  const std::vector<T> tail = padded_tail(w, s.C, j_safe, s.K, reach);
  std::vector<T> bias(reach, T(0));
  if (b) std::copy(b, b + s.K, bias.begin());
  const int64_t parts = std::min<int64_t>(threads, rows);
  parallel_for(parts, int(parts), [&](int64_t i) {
    const int64_t r0 = part_begin(rows, 1, parts, i), r1 = part_begin(rows, 1, parts, i + 1);
    const SkinnyProduct<T> p{r1 - r0, s.C, j_safe, x + r0 * s.C, s.C, 1, w, tail.data(), s.K,
                             b ? bias.data() : nullptr, relu, y + r0 * s.K, s.K, s.K};
    if (r1 > r0) active_kernels().skinny<T>()(p);
  });
}

// Both backward passes (any of gx, gw, gb may be null) in one parallel region: each part takes a range of input
// channels, whole chunks of gx's columns, and its rows of gw; the last part also the bias gradient, as one more row
// of gw's product whose a is ones (a = &one, no strides).
template <typename T>
void conv2d_skinny_bwd(const ConvShape& s, int threads, const T* gy, const T* x, const T* w, T* gx, T* gw, T* gb) {
  const int64_t rows = s.N * s.H * s.W, chunk = 2 * lanes<T>(), reach = ceil_div(s.K, lanes<T>()) * lanes<T>();
  const int64_t j_safe = rows_in_place(rows, s.K, reach);
  const std::vector<T> tail = gw || gb ? padded_tail(gy, rows, j_safe, s.K, reach) : std::vector<T>();
  const int64_t parts = std::min<int64_t>(threads, ceil_div(s.C, chunk));
  const SkinnyKernel<T> product = active_kernels().skinny<T>();
  const T one = 1;
  parallel_for(parts, int(parts), [&](int64_t i) {
    const int64_t c0 = part_begin(s.C, chunk, parts, i), c1 = part_begin(s.C, chunk, parts, i + 1);
    if (gx && c1 > c0) {
      const int64_t ld = ceil_div(c1 - c0, chunk) * chunk;  // whole chunks: every vector read stays inside wt
      std::vector<T> wt(s.K * ld, T(0));
      for (int64_t c = c0; c < c1; ++c)
        for (int64_t k = 0; k < s.K; ++k) wt[k * ld + (c - c0)] = w[c * s.K + k];
      for (int64_t col = c0; col < c1; col += chunk)
        product({rows, s.K, s.K, gy, s.K, 1, wt.data() + (col - c0), nullptr, ld, nullptr, false, gx + col, s.C,
                 std::min(chunk, c1 - col)});
    }
    if (gw && c1 > c0)
      product({c1 - c0, rows, j_safe, x + c0, 1, s.C, gy, tail.data(), s.K, nullptr, false, gw + c0 * s.K, s.K, s.K});
    if (gb && i == parts - 1)
      product({1, rows, j_safe, &one, 0, 0, gy, tail.data(), s.K, nullptr, false, gb, s.K, s.K});
  });
}

template void conv2d_skinny_fwd<float>(const ConvShape&, int, const float*, const float*, const float*, bool, float*);
template void conv2d_skinny_fwd<double>(const ConvShape&, int, const double*, const double*, const double*, bool,
                                        double*);
template void conv2d_skinny_bwd<float>(const ConvShape&, int, const float*, const float*, const float*, float*,
                                       float*, float*);
template void conv2d_skinny_bwd<double>(const ConvShape&, int, const double*, const double*, const double*, double*,
                                        double*, double*);

}  // namespace fastconv
