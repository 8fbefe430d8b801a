// f32_winograd_avx512: Winograd F(4x4, 3x3) and F(6x6, 3x3) tile transforms (kernels/winograd_tiles.h)
// on 16-lane float vectors.
#include "fastconv/kernel_table.h"
#include "kernels/winograd_tiles.h"

namespace fastconv {

WinogradKernel<float> f32_winograd_avx512(int tile) { return winograd_kernel<float, 16>(tile); }

}  // namespace fastconv
