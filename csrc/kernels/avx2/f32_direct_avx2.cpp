// f32_direct_avx2: the direct row kernels (kernels/direct_rows.h) on 8-lane float vectors, for the "direct" algorithm
// of dense convolutions with few channels on the avx2 path.
#include "fastconv/kernel_table.h"
#include "kernels/direct_rows.h"

namespace fastconv {

DirectKernel<float> f32_direct_avx2() { return direct_kernel<float, 8>(); }

}  // namespace fastconv
