// f32_gemm_8x32_avx512: C[8x32] (+)= A[8xk] * B[kx32] (float); A packed or read in place
// (GemmTileA), B in rows of 32.
// Used by every conv2d pass on the avx512 path. Registers: 16 zmm accumulators + 2 for B + 1 broadcast = 19 of 32.
#include "fastconv/kernel_table.h"
#include "kernels/gemm_tile.h"

namespace fastconv {

void f32_gemm_8x32_avx512(int64_t k, const GemmTileA<float>& a, const float* b, const GemmTileC<float>& c) {
  gemm_tile<float, 16, 8, 2>(k, a, b, c);
}

}  // namespace fastconv
