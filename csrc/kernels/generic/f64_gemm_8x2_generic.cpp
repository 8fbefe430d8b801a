// f64_gemm_8x2_generic: C[8x2] (+)= A[8xk] * B[kx2] (double), the narrow tile: one vector of columns, for GEMMs with
// few columns (a dense layer's units, a convolution with few output channels). Registers: 8 accumulators + 1
// for B + 1 broadcast = 10 of 16.
#include "fastconv/kernel_table.h"
#include "kernels/gemm_tile.h"

namespace fastconv {

void f64_gemm_8x2_generic(int64_t k, const GemmTileA<double>& a, const double* b, const GemmTileC<double>& c) {
  gemm_tile<double, 2, 8, 1>(k, a, b, c);
}

}  // namespace fastconv
