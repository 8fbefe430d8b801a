// f64_winograd_avx512: Winograd F(4x4, 3x3) tile transforms (kernels/winograd_f4x3.h) on 8-lane double vectors.
#include "fastconv/kernel_table.h"
#include "kernels/winograd_f4x3.h"

namespace fastconv {

WinogradKernel<double> f64_winograd_avx512() { return winograd_kernel<double, 8>(); }

}  // namespace fastconv
