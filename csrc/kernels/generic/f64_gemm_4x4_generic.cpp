// f64_gemm_4x4_generic: C[4x4] (+)= A[4xk] * B[kx4] (double); A packed or read in place
// (GemmTileA), B in rows of 4.
// Used by every conv2d pass on the generic path. Registers: 8 xmm accumulators + 2 for B + 1 broadcast = 11 of 16
// (SSE2 baseline).
#include "fastconv/kernel_table.h"
#include "kernels/gemm_tile.h"

namespace fastconv {

void f64_gemm_4x4_generic(int64_t k, const GemmTileA<double>& a, const double* b, const GemmTileC<double>& c) {
  gemm_tile<double, 2, 4, 2>(k, a, b, c);
}

}  // namespace fastconv
