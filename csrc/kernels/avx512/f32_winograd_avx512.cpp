// f32_winograd_avx512: Winograd F(4x4, 3x3) tile transforms (kernels/winograd_f4x3.h) on 16-lane float vectors.
#include "fastconv/kernel_table.h"
#include "kernels/winograd_f4x3.h"

namespace fastconv {

WinogradKernel<float> f32_winograd_avx512() { return winograd_kernel<float, 16>(); }

}  // namespace fastconv
