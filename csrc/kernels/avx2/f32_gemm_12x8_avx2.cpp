// f32_gemm_12x8_avx2: C[12x8] (+)= A[12xk] * B[kx8] (float), the narrow tile: one vector of columns, for GEMMs with
// few columns (a dense layer's units, a convolution with few output channels). Registers: 12 accumulators + 1
// for B + 1 broadcast = 14 of 16.
#include "fastconv/kernel_table.h"
#include "kernels/gemm_tile.h"

namespace fastconv {

void f32_gemm_12x8_avx2(int64_t k, const GemmTileA<float>& a, const float* b, const GemmTileC<float>& c) {
  gemm_tile<float, 8, 12, 1>(k, a, b, c);
}

}  // namespace fastconv
