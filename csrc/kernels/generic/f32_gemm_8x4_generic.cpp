// f32_gemm_8x4_generic: C[8x4] (+)= A[8xk] * B[kx4] (float), the narrow tile: one vector of columns, for GEMMs with
// few columns (a dense layer's units, a convolution with few output channels). Registers: 8 accumulators + 1
// for B + 1 broadcast = 10 of 16.
#include "fastconv/kernel_table.h"
#include "kernels/gemm_tile.h"

namespace fastconv {

void f32_gemm_8x4_generic(int64_t k, const GemmTileA<float>& a, const float* b, const GemmTileC<float>& c) {
  gemm_tile<float, 4, 8, 1>(k, a, b, c);
}

}  // namespace fastconv
