// The run-time dispatch contract: one KernelTable per ISA, filled from csrc/kernels/<isa>/, chosen once at import.
// Operators read tile and cache-block sizes from the entries, never the ISA's name.
#pragma once
#include <cstdint>
#include <type_traits>

namespace fastconv {

// The A operand of one register tile: element (i, p) (row i < mr, step p < k) at p[i * row + p * step]. Packed, a
// row panel is k steps of mr values (row 1, step mr). Read in place: by rows (step 1; a small A is not worth
// packing) or by steps (row 1: the mr values of a step lie together, as in x^T of an NHWC 1x1 layer). prefetch (null:
// none): step p also prefetches the cache line at prefetch + p * prefetch_step bytes into L2 (A's next block, where
// A streams from memory in place).
template <typename T>
struct GemmTileA {
  const T* p;
  int64_t row, step;
  const char* prefetch = nullptr;
  int64_t prefetch_step = 0;
};

// A forward's epilogue on a finished sum: + bias (bias[j] for column j, or bias[i] for row i when bias_by_row),
// then relu (v < 0 ? 0 : v, which keeps NaN).
template <typename T>
struct GemmEpilogue {
  const T* bias = nullptr;
  bool bias_by_row = false;
  bool relu = false;
};

// The C operand of one register tile: row-major at p with leading dimension ld, overwritten or (accumulate) added
// to, then the epilogue applied while the tile is in registers (bias read from the tile's first row or column).
template <typename T>
struct GemmTileC {
  T* p;
  int64_t ld;
  bool accumulate;
  GemmEpilogue<T> epilogue = {};
};

// C = (accumulate ? C : 0) + A * B (then bias, relu), summed over k steps. b: k steps of nr values (a packed column
// panel). Never reads C when accumulate is false.
template <typename T>
using GemmUkernel = void (*)(int64_t k, const GemmTileA<T>& a, const T* b, const GemmTileC<T>& c);

template <typename T>
struct GemmKernel {
  GemmUkernel<T> run;
  int mr, nr;      // register tile
  int kc, mc, nc;  // cache blocks: A block mc x kc in L2, B panel kc x nr in L1, B block kc x nc in L2/L3
};

// The direct (row) convolution kernels: see csrc/kernels/direct_rows.h. A row of output lanes is computed one
// vector of `lanes` values at a time; lane j of a row is output column j / R of channel j % R (R = K for an NHWC
// row, 1 for an NCHW row of one channel), so a vector's gather pattern and weights repeat with period `phases`.
enum class Gather : int {
  Contiguous = 0,  // the vector's x values are consecutive (NCHW, stride 1)
  Broadcast = 1,   // every lane reads the same x value (NHWC, K a multiple of the lane count)
  Permute = 2,     // one vector load covers the lanes' x values: a fixed permutation per phase
  Scalar = 3,      // anything else: lane-by-lane loads
};

// A batch of output rows of one shape: row (a, b), a < outer, b < inner, reads x + b * x_step, writes (or, for the
// weight gradient, reads gy at) out + a * out_outer + b * out_inner, with weight table a.
template <typename T>
struct DirectRows {
  const T* x;              // planar scratch at (the first row's first input row, channel 0, column 0)
  int64_t x_step;
  int64_t outer, inner;
  int64_t out_outer, out_inner;
  const int64_t* tap_off;  // ntaps offsets from a row's x, one per tap (kernel row, kernel column, input channel)
  int64_t ntaps;
  const int32_t* vbase;    // per vector of a row: the x column of its first lane (q0 * stride)
  int64_t len;             // valid lanes of a row; vectors per row = ceil(len / lanes)
  int64_t phases;          // P: vector v of a row uses gather pattern and weights v % P
  const int32_t* idx;      // P x lanes: x column of each lane relative to vbase
  Gather gather;
  bool one_weight_per_tap;  // NCHW rows at unit stride (lane l of table a: output channel a, column l; Contiguous,
                            // one phase): the forward's weight tables hold one value per tap, not lanes copies of
                            // it, and both kernels may run several channels (table sets) at once
  int64_t run = 1;          // taps come in runs of this many, tap t + j reading x at tap_off[t] + j (a kernel row's
                            // columns of one input channel at unit dilation), t a multiple of run
};

// Forward: out[row] = relu?(bias + sum_t gather(x + tap_off[t]) * w[t]) with, for row (a, b) and vector phase k,
// w = wtab + ((a * P + k) * ntaps + t) * lanes (one_weight_per_tap: the value wtab[a * ntaps + t] in every lane)
// and bias = btab + (a * P + k) * lanes (btab may be null). Writes exactly len values per row.
template <typename T>
using DirectFwdKernel = void (*)(const DirectRows<T>& rows, const T* wtab, const T* btab, bool relu, T* out);
// Weight gradient: acc[(a * P + k) * ntaps + t] (lanes values) += sum over the rows' vectors of phase k of
// gather(x + tap_off[t]) * gy, gy rows of len values (a row's last vector is loaded partially). With bias not
// null, also bias[(a * P + k)] (lanes values) += sum of those gy vectors (the bias gradient, in the same pass).
template <typename T>
using DirectWgradKernel = void (*)(const DirectRows<T>& rows, const T* gy, T* acc, T* bias);

// A band of output rows of a 3x3 layer at unit stride and dilation, read in place, x an image of H x W pixels of C
// values: output (p, q, c) = sum over r, s < 3 of x[p - top + r][q - left + s][c] * w(r, s, c), pixels outside
// the image being zeros. The plane sweep takes one-channel planes (C == 1: depthwise NCHW layers without a channel
// multiplier, their input gradients, 1 -> 1 layers), the pixel sweep NHWC depthwise layers without a multiplier.
template <typename T>
struct DirectPlane {
  const T* x;  // the input image
  int64_t H, W, C;
  int64_t top, left;  // padding before the first input row and column
  int64_t p0, rows;   // the band: output rows [p0, p0 + rows)
  int64_t Q;          // pixels per output row (of y or gy)
};
// The plane sweep (C == 1). Forward: out (the band's first output row) = relu?(bias + the window sums), w9 the 9
// weights, bias lanes copies of one value (may be null). Weight gradient: acc[t] (lanes values) += sum of the
// tap's x vectors * gy (the band's first gy row); with bias not null, bias (lanes values) += sum of the gy vectors.
template <typename T>
using DirectPlaneFwd = void (*)(const DirectPlane<T>& plane, const T* w9, const T* bias, bool relu, T* out);
template <typename T>
using DirectPlaneWgrad = void (*)(const DirectPlane<T>& plane, const T* gy, T* acc, T* bias);

// The pixel sweep (vectors along the C channels). Forward: out = relu?(bias + the window sums), w9 9 x C weights
// (HWIO, as the user's NHWC depthwise weights lie), bias C values (may be null). Weight gradient: acc[t * C + c]
// += the tap's sums of x * gy (gy: the band's first row); with bias not null, bias[c] += the gy sums.
template <typename T>
using DirectPixelsFwd = void (*)(const DirectPlane<T>& pixels, const T* w9, const T* bias, bool relu, T* out);
template <typename T>
using DirectPixelsWgrad = void (*)(const DirectPlane<T>& pixels, const T* gy, T* acc, T* bias);

// Shifted rows: rows [h0, h0 + rows) of a one-channel image x of H rows of `width` values, columns [col0, col0 + Q)
// of each (zeros outside the image), into dst, Q values a row; then lanes zeros after them (dst holds rows x Q +
// lanes values).
template <typename T>
using DirectShiftRows = void (*)(const T* x, int64_t H, int64_t width, int64_t h0, int64_t rows, int64_t col0,
                                 int64_t Q, T* dst);

template <typename T>
struct DirectKernel {
  DirectFwdKernel<T> fwd;
  DirectWgradKernel<T> wgrad;
  int lanes;
  // The plane sweeps, where the ISA has them (null otherwise: the row kernels run those planes from a scratch).
  DirectPlaneFwd<T> plane_fwd;
  DirectPlaneWgrad<T> plane_wgrad;
  // The pixel sweeps (every ISA).
  DirectPixelsFwd<T> pixels_fwd;
  DirectPixelsWgrad<T> pixels_wgrad;
  DirectShiftRows<T> shift_rows;
};

// Winograd F(m x m, 3x3) tile transforms over NHWC channels, m = 4 or 6, alpha = m + 2 (kernels/winograd_tiles.h).
// weights: one input channel's 3x3 kernel, tap t's output channels at g + t * g_stride -> u[xi * u_stride + k / nr *
// panel_stride + k % nr] = (G g G^T)[xi] (panels of nr columns, zero past `channels`). input: the alpha x alpha
// pixels of an input tile at x + off[i] (off < 0: zero padding) -> v[xi * v_stride + c] = (B^T d B)[xi] for every
// channel c. output: m[xi * m_stride + k] -> y[off[i] + k] = (A^T m A)[i] (+ bias[k]) (relu) for the m x m pixels
// with off >= 0. The weight gradient's: output_grad: the m x m pixels of a gy tile at gy + off[i] (off < 0: outside
// gy, zero) -> u[xi * u_stride + k] = (A g A^T)[xi]; weight_grad: m[xi * m_stride + k] -> gw[tap * gw_stride + k] =
// (G^T m G)[tap] for the 9 taps of a 3x3 kernel. The input gradient's: input_grad: m[xi * m_stride + c] ->
// (B m B^T)[i] into gx[off[i] + c] for the alpha x alpha pixels of an input window with off >= 0, added to what is
// there in its first add_rows rows and add_cols columns (an earlier tile's share), stored elsewhere.
template <typename T>
struct WinogradKernel {
  void (*weights)(const T* g, int64_t g_stride, int64_t channels, int64_t nr, int64_t panel_stride, T* u,
                  int64_t u_stride);
  void (*input)(const T* x, const int64_t* off, int64_t channels, T* v, int64_t v_stride);
  void (*output)(const T* m, int64_t m_stride, int64_t channels, const T* bias, bool relu, const int64_t* off, T* y);
  void (*output_grad)(const T* gy, const int64_t* off, int64_t channels, T* u, int64_t u_stride);
  void (*weight_grad)(const T* m, int64_t m_stride, int64_t channels, T* gw, int64_t gw_stride);
  void (*input_grad)(const T* m, int64_t m_stride, int64_t channels, const int64_t* off, int add_rows, int add_cols,
                     T* gx);
};

// The skinny products of pointwise NHWC layers whose output rows are at most two vectors wide (a dense layer of
// few units, a classifier's logits; kernels/skinny_rows.h): out[r, 0:width] = bias + sum_j a(r, j) * m_j[0:width]
// for r < rows, a(r, j) = a[r * ar + j * aj], m_j = m + j * ldm for j < j_safe, else m_tail + (j - j_safe) * ldm
// (m's rows are read as whole vectors; rows whose vectors would leave the caller's array come from a padded copy).
// bias (null: 0) is read as whole vectors too. Output rows are written exactly `width` values wide (rows ldo apart).
template <typename T>
struct SkinnyProduct {
  int64_t rows, J, j_safe;
  const T* a;
  int64_t ar, aj;
  const T* m;
  const T* m_tail;
  int64_t ldm;
  const T* bias;
  bool relu;
  T* out;
  int64_t ldo, width;
};

template <typename T>
using SkinnyKernel = void (*)(const SkinnyProduct<T>& p);

// dst[j * dst_ld + i] = src[i * src_ld + j] for a rows x cols src (kernels/transpose_tiles.h): the layout changes
// of NCHW passes (NCHW <-> NHWC copies, OIHW weight slices, bands of direct rows).
template <typename T>
using TransposeKernel = void (*)(const T* src, int64_t rows, int64_t cols, int64_t src_ld, T* dst, int64_t dst_ld);

// The GEMM input gradient's col2im at unit stride, in NCHW planes (kernels/col2im_rows.h): `planes` consecutive
// gx planes of H x W values, plane c's value (h, w) the sum over kernel taps (r, s) with 0 <= p < P and 0 <= q < Q
// of Col row (c * R + r) * S + s at pixel p * Q + q, where p = h + top - r * dil_h and q = w + left - s * dil_w.
// Col rows are tap_ld apart, col at the image's first pixel of row 0. Writes every value of the planes.
constexpr int64_t COL2IM_MAX_S = 32;  // kernel columns (S <= COL2IM_MAX_S)

template <typename T>
struct Col2imPlanes {
  const T* col;
  int64_t tap_ld;
  int64_t planes;
  int64_t R, S, dil_h, dil_w;
  int64_t top, left;  // padding
  int64_t P, Q;       // gy plane
  int64_t H, W;       // gx plane
};

template <typename T>
using Col2imKernel = void (*)(const Col2imPlanes<T>& c, T* gx);

// Runs `steps` steps of independent FMA chains; each step is f32_peak_flops_per_step flops. Returns a checksum.
using FmaPeakProbe = float (*)(int64_t steps);

struct KernelTable {
  const char* isa;
  GemmKernel<float> f32_gemm;
  GemmKernel<double> f64_gemm;
  GemmKernel<float> f32_gemm_narrow;  // one vector of columns: for GEMMs with few columns (N <= nr)
  GemmKernel<double> f64_gemm_narrow;
  GemmKernel<float> f32_gemm_wide;  // four vectors of columns: forward-style GEMMs whose columns fill its panels
  GemmKernel<double> f64_gemm_wide;
  DirectKernel<float> f32_direct;
  DirectKernel<double> f64_direct;
  SkinnyKernel<float> f32_skinny;  // width <= 2 * the direct kernels' lanes
  SkinnyKernel<double> f64_skinny;
  WinogradKernel<float> f32_winograd;  // F(4x4, 3x3)
  WinogradKernel<double> f64_winograd;
  WinogradKernel<float> f32_winograd6;  // F(6x6, 3x3)
  WinogradKernel<double> f64_winograd6;
  TransposeKernel<float> f32_transpose;
  TransposeKernel<double> f64_transpose;
  Col2imKernel<float> f32_col2im;
  Col2imKernel<double> f64_col2im;
  FmaPeakProbe f32_fma_peak;
  int f32_peak_flops_per_step;

  // The entry for element type T (float or double) of each kind of kernel.
  template <typename T>
  const GemmKernel<T>& gemm() const { return of<T>(f32_gemm, f64_gemm); }
  template <typename T>
  const GemmKernel<T>& gemm_narrow() const { return of<T>(f32_gemm_narrow, f64_gemm_narrow); }
  template <typename T>
  const GemmKernel<T>& gemm_wide() const { return of<T>(f32_gemm_wide, f64_gemm_wide); }
  template <typename T>
  const DirectKernel<T>& direct() const { return of<T>(f32_direct, f64_direct); }
  template <typename T>
  SkinnyKernel<T> skinny() const { return of<T>(f32_skinny, f64_skinny); }
  // F(tile x tile, 3x3), tile 4 or 6.
  template <typename T>
  const WinogradKernel<T>& winograd(int64_t tile) const {
    return tile == 6 ? of<T>(f32_winograd6, f64_winograd6) : of<T>(f32_winograd, f64_winograd);
  }
  template <typename T>
  TransposeKernel<T> transpose() const { return of<T>(f32_transpose, f64_transpose); }
  template <typename T>
  Col2imKernel<T> col2im() const { return of<T>(f32_col2im, f64_col2im); }
  // The kernel for a GEMM with `columns` columns: the narrow tile where it covers them, else the wide one.
  template <typename T>
  const GemmKernel<T>& gemm_for(int64_t columns) const {
    const GemmKernel<T>& narrow = gemm_narrow<T>();
    return columns <= narrow.nr ? narrow : gemm<T>();
  }
  // The same for the forward and the input gradient, with the wide tile where the columns are a multiple of its
  // width: 6x64 on AVX-512 ran those passes 7-13% faster than 8x32 where both tiles fill every panel (1x1 layers,
  // Winograd's 64-channel products), but weight gradients 0-8% slower (except NHWC 1x1 ones, which read x^T in
  // place once per column panel).
  template <typename T>
  const GemmKernel<T>& gemm_for_forward(int64_t columns) const {
    const GemmKernel<T>& wide = gemm_wide<T>();
    return columns >= wide.nr && columns % wide.nr == 0 ? wide : gemm_for<T>(columns);
  }

 private:
  template <typename T, class F32, class F64>
  static const auto& of(const F32& f32, const F64& f64) {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "kernels exist for float and double");
    if constexpr (std::is_same_v<T, float>) return f32;
    else return f64;
  }
};

// Per-ISA tables, defined next to their microkernels.
KernelTable generic_table();
KernelTable avx2_table();
KernelTable avx512_table();

}  // namespace fastconv
