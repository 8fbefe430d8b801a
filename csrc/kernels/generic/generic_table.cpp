// The generic kernel table: microkernels of kernels/generic/ with their tile and cache-block sizes.
#include "fastconv/kernel_table.h"

namespace fastconv {

void f32_transpose_generic(const float* src, int64_t rows, int64_t cols, int64_t src_ld, float* dst, int64_t dst_ld);
void f64_transpose_generic(const double* src, int64_t rows, int64_t cols, int64_t src_ld, double* dst,
                           int64_t dst_ld);
void f32_col2im_generic(const Col2imPlanes<float>& c, float* gx);
void f64_col2im_generic(const Col2imPlanes<double>& c, double* gx);
float f32_fma_peak_generic(int64_t steps);
void f32_gemm_8x4_generic(int64_t k, const GemmTileA<float>& a, const float* b, const GemmTileC<float>& c);
void f64_gemm_8x2_generic(int64_t k, const GemmTileA<double>& a, const double* b, const GemmTileC<double>& c);
DirectKernel<float> f32_direct_generic();
SkinnyKernel<float> f32_skinny_generic();
SkinnyKernel<double> f64_skinny_generic();
WinogradKernel<float> f32_winograd_generic(int tile);
WinogradKernel<double> f64_winograd_generic(int tile);
DirectKernel<double> f64_direct_generic();
void f32_gemm_4x8_generic(int64_t k, const GemmTileA<float>& a, const float* b, const GemmTileC<float>& c);
void f64_gemm_4x4_generic(int64_t k, const GemmTileA<double>& a, const double* b, const GemmTileC<double>& c);

// KC: a B panel of 256 x 8 floats (8 KiB) + A panel (4 KiB) fit any L1.
constexpr int KC = 256;
constexpr int MC = 128;    // A block (MC x KC) stays in L2 while B panels stream through L1.
constexpr int NC = 2048;  // B block (KC x NC) is reused by every A block of a work unit.

KernelTable generic_table() {
  KernelTable t;
  t.isa = "generic";
  t.f32_gemm = {f32_gemm_4x8_generic, 4, 8, KC, MC, NC};
  t.f64_gemm = {f64_gemm_4x4_generic, 4, 4, KC, MC, NC};
  t.f32_gemm_narrow = {f32_gemm_8x4_generic, 8, 4, KC, MC, NC};
  t.f64_gemm_narrow = {f64_gemm_8x2_generic, 8, 2, KC, MC, NC};
  t.f32_gemm_wide = t.f32_gemm;  // no wider tile here
  t.f64_gemm_wide = t.f64_gemm;
  t.f32_direct = f32_direct_generic();
  t.f64_direct = f64_direct_generic();
  t.f32_skinny = f32_skinny_generic();
  t.f64_skinny = f64_skinny_generic();
  t.f32_winograd = f32_winograd_generic(4);
  t.f32_winograd6 = f32_winograd_generic(6);
  t.f64_winograd = f64_winograd_generic(4);
  t.f64_winograd6 = f64_winograd_generic(6);
  t.f32_transpose = f32_transpose_generic;
  t.f64_transpose = f64_transpose_generic;
  t.f32_col2im = f32_col2im_generic;
  t.f64_col2im = f64_col2im_generic;
  t.f32_fma_peak = f32_fma_peak_generic;
  t.f32_peak_flops_per_step = 2 * 12 * 4;
  return t;
}

}  // namespace fastconv
