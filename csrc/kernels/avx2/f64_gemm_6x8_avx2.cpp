// f64_gemm_6x8_avx2: C[6x8] (+)= A[6xk] * B[kx8] (double); A packed or read in place
// (GemmTileA), B in rows of 8.
// Used by every conv2d pass on the avx2 path. Registers: 12 ymm accumulators + 2 for B + 1 broadcast = 15 of 16.
#include "fastconv/kernel_table.h"
#include "kernels/gemm_tile.h"

namespace fastconv {

void f64_gemm_6x8_avx2(int64_t k, const GemmTileA<double>& a, const double* b, const GemmTileC<double>& c) {
  gemm_tile<double, 4, 6, 2>(k, a, b, c);
}

}  // namespace fastconv
