// f32_winograd_generic: Winograd F(4x4, 3x3) and F(6x6, 3x3) tile transforms (kernels/winograd_tiles.h)
// on 4-lane float vectors.
#include "fastconv/kernel_table.h"
#include "kernels/winograd_tiles.h"

namespace fastconv {

WinogradKernel<float> f32_winograd_generic(int tile) { return winograd_kernel<float, 4>(tile); }

}  // namespace fastconv
