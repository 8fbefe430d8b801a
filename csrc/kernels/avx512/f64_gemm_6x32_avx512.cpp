// f64_gemm_6x32_avx512: C[6x32] (+)= A[6xk] * B[kx32] (double); A packed or read in place
// (GemmTileA), B in rows of 32.
// The wide tile of the forward-style passes (forward, input gradient) whose GEMMs have a multiple of 32 columns,
// and of NHWC 1x1 weight gradients (x^T read in place once per column panel).
// Registers: 24 zmm accumulators + 4 for B + 1 broadcast = 29 of 32.
#include "fastconv/kernel_table.h"
#include "kernels/gemm_tile.h"

namespace fastconv {

void f64_gemm_6x32_avx512(int64_t k, const GemmTileA<double>& a, const double* b, const GemmTileC<double>& c) {
  gemm_tile<double, 8, 6, 4>(k, a, b, c);
}

}  // namespace fastconv
