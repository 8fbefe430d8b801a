// The avx2 col2im gathers (kernels/col2im_rows.h): 8-float / 4-double vectors along gx rows.
#include "fastconv/kernel_table.h"
#include "kernels/col2im_rows.h"

namespace fastconv {

void f32_col2im_avx2(const Col2imPlanes<float>& c, float* gx) { col2im_rows<float, 8>(c, gx); }
void f64_col2im_avx2(const Col2imPlanes<double>& c, double* gx) { col2im_rows<double, 4>(c, gx); }

}  // namespace fastconv
