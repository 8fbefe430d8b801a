// f32_winograd_avx2: Winograd F(4x4, 3x3) tile transforms (kernels/winograd_f4x3.h) on 8-lane float vectors.
#include "fastconv/kernel_table.h"
#include "kernels/winograd_f4x3.h"

namespace fastconv {

WinogradKernel<float> f32_winograd_avx2() { return winograd_kernel<float, 8>(); }

}  // namespace fastconv
