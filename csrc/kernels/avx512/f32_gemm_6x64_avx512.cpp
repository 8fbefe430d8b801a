// f32_gemm_6x64_avx512: C[6x64] (+)= A[6xk] * B[kx64]; A packed in rows of 6, B in rows of 64 (float).
// The wide tile of the forward-style passes (forward, input gradient) whose GEMMs have a multiple of 64 columns.
// Registers: 24 zmm accumulators + 4 for B + 1 broadcast = 29 of 32.
#include "fastconv/kernel_table.h"
#include "kernels/gemm_tile.h"

namespace fastconv {

void f32_gemm_6x64_avx512(int64_t k, const float* a, int64_t lda, const float* b, float* c, int64_t ldc, bool accumulate) {
  gemm_tile<float, 16, 6, 4>(k, a, lda, b, c, ldc, accumulate);
}

}  // namespace fastconv
