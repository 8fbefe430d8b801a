// The avx2 kernel table: microkernels of kernels/avx2/ with their tile and cache-block sizes.
#include "fastconv/kernel_table.h"

namespace fastconv {

void f32_transpose_avx2(const float* src, int64_t rows, int64_t cols, int64_t src_ld, float* dst, int64_t dst_ld);
void f64_transpose_avx2(const double* src, int64_t rows, int64_t cols, int64_t src_ld, double* dst,
                        int64_t dst_ld);
void f32_col2im_avx2(const Col2imPlanes<float>& c, float* gx);
void f64_col2im_avx2(const Col2imPlanes<double>& c, double* gx);
float f32_fma_peak_avx2(int64_t steps);
void f32_gemm_12x8_avx2(int64_t k, const GemmTileA<float>& a, const float* b, const GemmTileC<float>& c);
void f64_gemm_12x4_avx2(int64_t k, const GemmTileA<double>& a, const double* b, const GemmTileC<double>& c);
DirectKernel<float> f32_direct_avx2();
SkinnyKernel<float> f32_skinny_avx2();
SkinnyKernel<double> f64_skinny_avx2();
WinogradKernel<float> f32_winograd_avx2(int tile);
WinogradKernel<double> f64_winograd_avx2(int tile);
DirectKernel<double> f64_direct_avx2();
void f32_gemm_6x16_avx2(int64_t k, const GemmTileA<float>& a, const float* b, const GemmTileC<float>& c);
void f64_gemm_6x8_avx2(int64_t k, const GemmTileA<double>& a, const double* b, const GemmTileC<double>& c);

// KC: a B panel of 256 x 16 floats (16 KiB) + A panel (6 KiB) fit a 32 KiB L1.
constexpr int KC = 256;
constexpr int MC = 144;    // A block (MC x KC) stays in L2 while B panels stream through L1.
constexpr int NC = 2048;  // B block (KC x NC) is reused by every A block of a work unit.

KernelTable avx2_table() {
  KernelTable t;
  t.isa = "avx2";
  t.f32_gemm = {f32_gemm_6x16_avx2, 6, 16, KC, MC, NC};
  t.f64_gemm = {f64_gemm_6x8_avx2, 6, 8, KC, MC, NC};
  t.f32_gemm_narrow = {f32_gemm_12x8_avx2, 12, 8, KC, MC, NC};
  t.f64_gemm_narrow = {f64_gemm_12x4_avx2, 12, 4, KC, MC, NC};
  t.f32_gemm_wide = t.f32_gemm;  // the 6x16 tile already takes 15 of the 16 registers
  t.f64_gemm_wide = t.f64_gemm;
  t.f32_direct = f32_direct_avx2();
  t.f64_direct = f64_direct_avx2();
  t.f32_skinny = f32_skinny_avx2();
  t.f64_skinny = f64_skinny_avx2();
  t.f32_winograd = f32_winograd_avx2(4);
  t.f32_winograd6 = f32_winograd_avx2(6);
  t.f64_winograd = f64_winograd_avx2(4);
  t.f64_winograd6 = f64_winograd_avx2(6);
  t.f32_transpose = f32_transpose_avx2;
  t.f64_transpose = f64_transpose_avx2;
  t.f32_col2im = f32_col2im_avx2;
  t.f64_col2im = f64_col2im_avx2;
  t.f32_fma_peak = f32_fma_peak_avx2;
  t.f32_peak_flops_per_step = 2 * 12 * 8;
  return t;
}

}  // namespace fastconv
