// f32_gemm_4x8_generic: C[4x8] (+)= A[4xk] * B[kx8] (float); A packed or read in place
// (GemmTileA), B in rows of 8.
// Used by every conv2d pass on the generic path. Registers: 8 xmm accumulators + 2 for B + 1 broadcast = 11 of 16
// (SSE2 baseline).
#include "fastconv/kernel_table.h"
#include "kernels/gemm_tile.h"

namespace fastconv {

void f32_gemm_4x8_generic(int64_t k, const GemmTileA<float>& a, const float* b, const GemmTileC<float>& c) {
  gemm_tile<float, 4, 4, 2>(k, a, b, c);
}

}  // namespace fastconv
