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

}  // namespace fastconv
