// The generic transposes: register tiles of 4 floats / 2 doubles (kernels/transpose_tiles.h).
#include "fastconv/kernel_table.h"
#include "kernels/transpose_tiles.h"

namespace fastconv {

void f32_transpose_generic(const float* src, int64_t rows, int64_t cols, int64_t src_ld, float* dst, int64_t dst_ld) {
  transpose_matrix<float, 4>(src, rows, cols, src_ld, dst, dst_ld);
}

void f64_transpose_generic(const double* src, int64_t rows, int64_t cols, int64_t src_ld, double* dst,
                           int64_t dst_ld) {
  transpose_matrix<double, 2>(src, rows, cols, src_ld, dst, dst_ld);
}

}  // namespace fastconv
