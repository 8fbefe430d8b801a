// f32_winograd_generic: Winograd F(4x4, 3x3) tile transforms (kernels/winograd_f4x3.h) on 4-lane float vectors.
#include "fastconv/kernel_table.h"
#include "kernels/winograd_f4x3.h"

namespace fastconv {

WinogradKernel<float> f32_winograd_generic() { return winograd_kernel<float, 4>(); }

}  // namespace fastconv
