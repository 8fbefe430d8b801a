// f32_direct_generic: the direct row kernels (kernels/direct_rows.h) on 4-lane float vectors,
// for the "direct" algorithm of dense convolutions with few channels on the generic path.
#include "fastconv/kernel_table.h"
#include "kernels/direct_rows.h"

namespace fastconv {

DirectKernel<float> f32_direct_generic() { return direct_kernel<float, 4>(); }

}  // namespace fastconv
