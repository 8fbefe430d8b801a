// The run-time dispatch contract: one KernelTable per ISA, filled from csrc/kernels/<isa>/, chosen once at import.
// Operators read tile and cache-block sizes from the entries, never the ISA's name.
#pragma once
#include <cstdint>

namespace fastconv {

// C[mr x nr] = (accumulate ? C : 0) + A * B, summed over k steps.
// a: k steps of mr values (a packed row panel), b: k steps of nr values (a packed column panel),
// c: row-major with leading dimension ldc. Never reads C when accumulate is false.
template <typename T>
using GemmUkernel = void (*)(int64_t k, const T* a, const T* b, T* c, int64_t ldc, bool accumulate);

template <typename T>
struct GemmKernel {
  GemmUkernel<T> run;
  int mr, nr;      // register tile
  int kc, mc, nc;  // cache blocks: A block mc x kc in L2, B panel kc x nr in L1, B block kc x nc in L2/L3
};

// Runs `steps` steps of independent FMA chains; each step is f32_peak_flops_per_step flops. Returns a checksum.
using FmaPeakProbe = float (*)(int64_t steps);

struct KernelTable {
  const char* isa;
  GemmKernel<float> f32_gemm;
  GemmKernel<double> f64_gemm;
  FmaPeakProbe f32_fma_peak;
  int f32_peak_flops_per_step;

  template <typename T>
  const GemmKernel<T>& gemm() const;
};

template <>
inline const GemmKernel<float>& KernelTable::gemm<float>() const { return f32_gemm; }
template <>
inline const GemmKernel<double>& KernelTable::gemm<double>() const { return f64_gemm; }

// Per-ISA tables, defined next to their microkernels.
KernelTable generic_table();
KernelTable avx2_table();
KernelTable avx512_table();

}  // namespace fastconv
