// f64_gemm_12x4_avx2: C[12x4] (+)= A[12xk] * B[kx4] (double), the narrow tile: one vector of columns, for GEMMs with
// few columns (a dense layer's units, a convolution with few output channels). Registers: 12 accumulators + 1
// for B + 1 broadcast = 14 of 16.
#include "fastconv/kernel_table.h"
#include "kernels/gemm_tile.h"

namespace fastconv {

void f64_gemm_12x4_avx2(int64_t k, const GemmTileA<double>& a, const double* b, const GemmTileC<double>& c) {
  gemm_tile<double, 4, 12, 1>(k, a, b, c);
}

}  // namespace fastconv
