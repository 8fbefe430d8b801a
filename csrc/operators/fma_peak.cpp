// fma_peak: the active ISA's FMA probe on `threads` threads at once, for `fastconv bench`'s % of peak column.
#include "fastconv/cpu.h"
#include "fastconv/parallel.h"
#include "operators/fma_peak.h"

namespace fastconv {

double fma_peak_run(int threads, int64_t steps) {
  const KernelTable& t = active_kernels();
  volatile float sink = 0;  // keeps every thread's result alive
#ifdef _OPENMP
#pragma omp parallel num_threads(threads)
#endif
  {
    const float checksum = t.f32_fma_peak(steps);
#ifdef _OPENMP
#pragma omp critical
#endif
    sink = sink + checksum;
  }
  (void)sink;
  return double(threads) * double(steps) * t.f32_peak_flops_per_step;
}

}  // namespace fastconv
