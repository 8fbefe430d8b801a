// skinny_generic: the skinny products (kernels/skinny_rows.h) on 4-lane float and 2-lane double vectors, 8 rows a block
// with one vector a row, 6 with two.
#include "fastconv/kernel_table.h"
#include "kernels/skinny_rows.h"

namespace fastconv {

SkinnyKernel<float> f32_skinny_generic() { return skinny_product<float, 4, 8, 6>; }
SkinnyKernel<double> f64_skinny_generic() { return skinny_product<double, 2, 8, 6>; }

}  // namespace fastconv
