// f32_direct_avx512: the direct row kernels (kernels/direct_rows.h) on 16-lane float vectors,
// for the "direct" algorithm of dense convolutions with few channels on the avx512 path.
#include "fastconv/kernel_table.h"
#include "kernels/direct_rows.h"

namespace fastconv {

DirectKernel<float> f32_direct_avx512() { return direct_kernel<float, 16>(); }

}  // namespace fastconv
