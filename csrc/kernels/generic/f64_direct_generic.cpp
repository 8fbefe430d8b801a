// f64_direct_generic: the direct row kernels (kernels/direct_rows.h) on 2-lane double vectors,
// for the "direct" algorithm of dense convolutions with few channels on the generic path.
#include "fastconv/kernel_table.h"
#include "kernels/direct_rows.h"

namespace fastconv {

DirectKernel<double> f64_direct_generic() { return direct_kernel<double, 2>(); }

}  // namespace fastconv
