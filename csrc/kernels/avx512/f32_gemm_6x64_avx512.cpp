// f32_gemm_6x64_avx512: C[6x64] (+)= A[6xk] * B[kx64] (float); A packed or read in place
// (GemmTileA), B in rows of 64.
// The wide tile of the forward-style passes (forward, input gradient) whose GEMMs have a multiple of 64 columns,
// and of NHWC 1x1 weight gradients (x^T read in place once per column panel).
// Registers: 24 zmm accumulators + 4 for B + 1 broadcast = 29 of 32.
#include "fastconv/kernel_table.h"
#include "kernels/gemm_tile.h"

namespace fastconv {

void f32_gemm_6x64_avx512(int64_t k, const GemmTileA<float>& a, const float* b, const GemmTileC<float>& c) {
  gemm_tile<float, 16, 6, 4>(k, a, b, c);
}

}  // namespace fastconv
