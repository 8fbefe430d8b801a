// f32_gemm_16x16_avx512: C[16x16] (+)= A[16xk] * B[kx16] (float), the narrow tile: one vector of columns, for GEMMs
// with few columns (a dense layer's units, a convolution with few output channels). Registers: 16 accumulators + 1
// for B + 1 broadcast = 18 of 32.
#include "fastconv/kernel_table.h"
#include "kernels/gemm_tile.h"

namespace fastconv {

void f32_gemm_16x16_avx512(int64_t k, const GemmTileA<float>& a, const float* b, const GemmTileC<float>& c) {
  gemm_tile<float, 16, 16, 1>(k, a, b, c);
}

}  // namespace fastconv
