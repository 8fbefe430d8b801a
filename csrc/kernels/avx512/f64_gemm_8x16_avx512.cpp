// f64_gemm_8x16_avx512: C[8x16] (+)= A[8xk] * B[kx16] (double); A packed or read in place
// (GemmTileA), B in rows of 16.
// Used by every conv2d pass on the avx512 path. Registers: 16 zmm accumulators + 2 for B + 1 broadcast = 19 of 32.
#include "fastconv/kernel_table.h"
#include "kernels/gemm_tile.h"

namespace fastconv {

void f64_gemm_8x16_avx512(int64_t k, const GemmTileA<double>& a, const double* b, const GemmTileC<double>& c) {
  gemm_tile<double, 8, 8, 2>(k, a, b, c);
}

}  // namespace fastconv
