// f64_winograd_avx512: Winograd F(4x4, 3x3) and F(6x6, 3x3) tile transforms (kernels/winograd_tiles.h)
// on 8-lane double vectors.
#include "fastconv/kernel_table.h"
#include "kernels/winograd_tiles.h"

namespace fastconv {

WinogradKernel<double> f64_winograd_avx512(int tile) { return winograd_kernel<double, 8>(tile); }

}  // namespace fastconv
