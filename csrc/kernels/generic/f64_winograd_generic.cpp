// f64_winograd_generic: Winograd F(4x4, 3x3) and F(6x6, 3x3) tile transforms (kernels/winograd_tiles.h)
// on 2-lane double vectors.
#include "fastconv/kernel_table.h"
#include "kernels/winograd_tiles.h"

namespace fastconv {

WinogradKernel<double> f64_winograd_generic(int tile) { return winograd_kernel<double, 2>(tile); }

}  // namespace fastconv
