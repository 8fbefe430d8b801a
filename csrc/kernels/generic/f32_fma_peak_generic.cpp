// f32_fma_peak_generic: 12 independent 4-lane FMA chains per step (24 x 4 flops), for fastconv bench's peak figure.
#include "fastconv/kernel_table.h"
#include "kernels/fma_peak.h"

namespace fastconv {

float f32_fma_peak_generic(int64_t steps) { return fma_peak<4, 12>(steps); }

}  // namespace fastconv
