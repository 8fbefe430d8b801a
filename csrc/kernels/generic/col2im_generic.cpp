// The generic col2im gathers (kernels/col2im_rows.h): 4-float / 2-double vectors along gx rows.
#include "fastconv/kernel_table.h"
#include "kernels/col2im_rows.h"

namespace fastconv {

void f32_col2im_generic(const Col2imPlanes<float>& c, float* gx) { col2im_rows<float, 4>(c, gx); }
void f64_col2im_generic(const Col2imPlanes<double>& c, double* gx) { col2im_rows<double, 2>(c, gx); }

}  // namespace fastconv
