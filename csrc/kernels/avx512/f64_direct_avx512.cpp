// f64_direct_avx512: the direct row kernels (kernels/direct_rows.h) on 8-lane double vectors,
// for the "direct" algorithm of dense convolutions with few channels on the avx512 path.
#include "fastconv/kernel_table.h"
#include "kernels/direct_rows.h"

namespace fastconv {

DirectKernel<double> f64_direct_avx512() { return direct_kernel<double, 8>(); }

}  // namespace fastconv
