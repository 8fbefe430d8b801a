// f32_gemm_6x16_avx2: C[6x16] (+)= A[6xk] * B[kx16] (float); A packed or read in place
// (GemmTileA), B in rows of 16.
// Used by every conv2d pass on the avx2 path. Registers: 12 ymm accumulators + 2 for B + 1 broadcast = 15 of 16.
#include "fastconv/kernel_table.h"
#include "kernels/gemm_tile.h"

namespace fastconv {

void f32_gemm_6x16_avx2(int64_t k, const GemmTileA<float>& a, const float* b, const GemmTileC<float>& c) {
  gemm_tile<float, 8, 6, 2>(k, a, b, c);
}

}  // namespace fastconv
