// f32_fma_peak_avx512: 12 independent 16-lane FMA chains per step (24 x 16 flops), for fastconv bench's peak figure.
#include "fastconv/kernel_table.h"
#include "kernels/fma_peak.h"

namespace fastconv {

float f32_fma_peak_avx512(int64_t steps) { return fma_peak<16, 12>(steps); }

}  // namespace fastconv
