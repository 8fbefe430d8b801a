// f64_gemm_16x8_avx512: C[16x8] (+)= A[16xk] * B[kx8] (double), the narrow tile: one vector of columns, for GEMMs with
// few columns (a dense layer's units, a convolution with few output channels). Registers: 16 accumulators + 1
// for B + 1 broadcast = 18 of 32.
#include "fastconv/kernel_table.h"
#include "kernels/gemm_tile.h"

namespace fastconv {

void f64_gemm_16x8_avx512(int64_t k, const GemmTileA<double>& a, const double* b, const GemmTileC<double>& c) {
  gemm_tile<double, 8, 16, 1>(k, a, b, c);
}

}  // namespace fastconv
