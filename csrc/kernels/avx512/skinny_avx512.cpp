// skinny_avx512: the skinny products (kernels/skinny_rows.h) on 16-lane float and 8-lane double vectors, 16 rows a
// block with one vector a row, 12 with two.
#include "fastconv/kernel_table.h"
#include "kernels/skinny_rows.h"

namespace fastconv {

SkinnyKernel<float> f32_skinny_avx512() { return skinny_product<float, 16, 16, 12>; }
SkinnyKernel<double> f64_skinny_avx512() { return skinny_product<double, 8, 16, 12>; }

}  // namespace fastconv
