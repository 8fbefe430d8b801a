// OpenMP helpers: every parallel region takes its thread count from the caller (set_num_threads/threadpoolctl).
#pragma once
#include <cstdint>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace fastconv {

// Runs body(unit) for unit in [0, units), statically split over `threads` threads: a fixed unit-to-thread
// mapping keeps results bitwise repeatable for a fixed thread count.
template <class Body>
void parallel_for(int64_t units, int threads, Body&& body) {
#ifdef _OPENMP
  if (threads > 1 && units > 1) {
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t u = 0; u < units; ++u) body(u);
    return;
  }
#endif
  (void)threads;
  for (int64_t u = 0; u < units; ++u) body(u);
}

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// An OpenMP fork/join costs about a microsecond: give each woken thread at least this many flops (~2 us of work).
constexpr int64_t MIN_FLOPS_PER_THREAD = 1 << 18;

// Threads worth using for `flops` of work, at most `threads`.
inline int threads_for(int64_t flops, int threads) {
  const int64_t useful = flops / MIN_FLOPS_PER_THREAD;
  return static_cast<int>(useful < 1 ? 1 : (useful < threads ? useful : threads));
}

}  // namespace fastconv
