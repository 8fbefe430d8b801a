// Peak-FMA probe shared by every ISA: ACC independent vector accumulators, each updated by one FMA per step, so
// the loop is bound by FMA throughput, not latency (ACC >= latency x ports = 4 x 2 on current x86 cores).
// Instantiated per ISA like gemm_tile.h; internal linkage for the same reason.
#pragma once
#include <cstdint>

namespace fastconv {
namespace {

template <int W, int ACC>
inline float fma_peak(int64_t steps) {
  typedef float V __attribute__((vector_size(W * sizeof(float))));
  V acc[ACC];
  const V a = V{} + 0.999999f, b = V{} + 1e-7f;
#pragma GCC unroll 16
  for (int i = 0; i < ACC; ++i) acc[i] = V{} + float(i);
  for (int64_t s = 0; s < steps; ++s) {
#pragma GCC unroll 16
    for (int i = 0; i < ACC; ++i) acc[i] = acc[i] * a + b;
  }
  float sum = 0;  // returned so the loop cannot be optimized away
#pragma GCC unroll 16
  for (int i = 0; i < ACC; ++i)
    for (int l = 0; l < W; ++l) sum += acc[i][l];
  return sum;
}

}  // namespace
}  // namespace fastconv
