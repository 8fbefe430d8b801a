// f64_winograd_generic: Winograd F(4x4, 3x3) tile transforms (kernels/winograd_f4x3.h) on 2-lane double vectors.
#include "fastconv/kernel_table.h"
#include "kernels/winograd_f4x3.h"

namespace fastconv {

WinogradKernel<double> f64_winograd_generic() { return winograd_kernel<double, 2>(); }

}  // namespace fastconv
