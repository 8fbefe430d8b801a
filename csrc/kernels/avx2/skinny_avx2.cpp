// skinny_avx2: the skinny products (kernels/skinny_rows.h) on 8-lane float and 4-lane double vectors, 8 rows a block
// with one vector a row, 6 with two.
#include "fastconv/kernel_table.h"
#include "kernels/skinny_rows.h"

namespace fastconv {

SkinnyKernel<float> f32_skinny_avx2() { return skinny_product<float, 8, 8, 6>; }
SkinnyKernel<double> f64_skinny_avx2() { return skinny_product<double, 4, 8, 6>; }

}  // namespace fastconv
