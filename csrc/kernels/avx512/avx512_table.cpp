// The avx512 kernel table: microkernels of kernels/avx512/ with their tile and cache-block sizes.
#include "fastconv/kernel_table.h"

namespace fastconv {

void f32_transpose_avx512(const float* src, int64_t rows, int64_t cols, int64_t src_ld, float* dst, int64_t dst_ld);
void f64_transpose_avx512(const double* src, int64_t rows, int64_t cols, int64_t src_ld, double* dst,
                          int64_t dst_ld);
void f32_col2im_avx512(const Col2imPlanes<float>& c, float* gx);
void f64_col2im_avx512(const Col2imPlanes<double>& c, double* gx);
float f32_fma_peak_avx512(int64_t steps);
void f32_gemm_16x16_avx512(int64_t k, const GemmTileA<float>& a, const float* b, const GemmTileC<float>& c);
void f64_gemm_16x8_avx512(int64_t k, const GemmTileA<double>& a, const double* b, const GemmTileC<double>& c);
DirectKernel<float> f32_direct_avx512();
SkinnyKernel<float> f32_skinny_avx512();
SkinnyKernel<double> f64_skinny_avx512();
WinogradKernel<float> f32_winograd_avx512(int tile);
WinogradKernel<double> f64_winograd_avx512(int tile);
DirectKernel<double> f64_direct_avx512();
void f32_gemm_8x32_avx512(int64_t k, const GemmTileA<float>& a, const float* b, const GemmTileC<float>& c);
void f64_gemm_8x16_avx512(int64_t k, const GemmTileA<double>& a, const double* b, const GemmTileC<double>& c);
void f32_gemm_6x64_avx512(int64_t k, const GemmTileA<float>& a, const float* b, const GemmTileC<float>& c);
void f64_gemm_6x32_avx512(int64_t k, const GemmTileA<double>& a, const double* b, const GemmTileC<double>& c);

// KC: a B panel of 256 x 32 floats (32 KiB) fits a 48 KiB L1 beside the A panel (8 KiB).
constexpr int KC = 256;
constexpr int MC = 192;    // A block (MC x KC) stays in L2 while B panels stream through L1.
constexpr int NC = 2048;  // B block (KC x NC) is reused by every A block of a work unit.

KernelTable avx512_table() {
  KernelTable t;
  t.isa = "avx512";
  t.f32_gemm = {f32_gemm_8x32_avx512, 8, 32, KC, MC, NC};
  t.f64_gemm = {f64_gemm_8x16_avx512, 8, 16, KC, MC, NC};
  t.f32_gemm_narrow = {f32_gemm_16x16_avx512, 16, 16, KC, MC, NC};
  t.f64_gemm_narrow = {f64_gemm_16x8_avx512, 16, 8, KC, MC, NC};
  t.f32_gemm_wide = {f32_gemm_6x64_avx512, 6, 64, KC, MC, NC};
  t.f64_gemm_wide = {f64_gemm_6x32_avx512, 6, 32, KC, MC, NC};
  t.f32_direct = f32_direct_avx512();
  t.f64_direct = f64_direct_avx512();
  t.f32_skinny = f32_skinny_avx512();
  t.f64_skinny = f64_skinny_avx512();
  t.f32_winograd = f32_winograd_avx512(4);
  t.f32_winograd6 = f32_winograd_avx512(6);
  t.f64_winograd = f64_winograd_avx512(4);
  t.f64_winograd6 = f64_winograd_avx512(6);
  t.f32_transpose = f32_transpose_avx512;
  t.f64_transpose = f64_transpose_avx512;
  t.f32_col2im = f32_col2im_avx512;
  t.f64_col2im = f64_col2im_avx512;
  t.f32_fma_peak = f32_fma_peak_avx512;
  t.f32_peak_flops_per_step = 2 * 12 * 16;
  return t;
}

}  // namespace fastconv
