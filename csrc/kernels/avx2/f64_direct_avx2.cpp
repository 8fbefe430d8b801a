// f64_direct_avx2: the direct row kernels (kernels/direct_rows.h) on 4-lane double vectors, for the "direct" algorithm
// of dense convolutions with few channels on the avx2 path.
#include "fastconv/kernel_table.h"
#include "kernels/direct_rows.h"

namespace fastconv {

DirectKernel<double> f64_direct_avx2() { return direct_kernel<double, 4>(); }

}  // namespace fastconv
