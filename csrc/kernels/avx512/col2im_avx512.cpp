// The avx512 col2im gathers (kernels/col2im_rows.h): 16-float / 8-double vectors along gx rows.
#include "fastconv/kernel_table.h"
#include "kernels/col2im_rows.h"

namespace fastconv {

void f32_col2im_avx512(const Col2imPlanes<float>& c, float* gx) { col2im_rows<float, 16>(c, gx); }
void f64_col2im_avx512(const Col2imPlanes<double>& c, double* gx) { col2im_rows<double, 8>(c, gx); }

}  // namespace fastconv
