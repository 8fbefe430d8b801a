// Runs the active ISA's FMA probe for `steps` steps on each of `threads` threads; returns the flops executed.
#pragma once
#include <cstdint>

namespace fastconv {

double fma_peak_run(int threads, int64_t steps);

}  // namespace fastconv
