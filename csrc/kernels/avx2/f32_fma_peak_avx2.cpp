// f32_fma_peak_avx2: 12 independent 8-lane FMA chains per step (24 x 8 flops), for fastconv bench's peak figure.
#include "fastconv/kernel_table.h"
#include "kernels/fma_peak.h"

namespace fastconv {

float f32_fma_peak_avx2(int64_t steps) { return fma_peak<8, 12>(steps); }

}  // namespace fastconv
