// OpenMP helpers: every parallel region takes its thread count from the caller (set_num_threads/threadpoolctl).
#pragma once
#include <cstdint>

#include <xmmintrin.h>  // MXCSR access: part of the x86-64 baseline (SSE), not an ISA-specific path

#ifdef _OPENMP
#include <omp.h>
#endif

namespace fastconv {

// Flush-to-zero and denormals-are-zero on the calling thread while in scope. A denormal operand costs an x86 core a
// microcode assist (a 3x3 convolution of denormal inputs ran 108x slower); values that small (< 1.2e-38 in float32)
// are far below the resolution of anything they are added to. MXCSR is per thread: every parallel region sets it.
class FlushDenormals {
 public:
  FlushDenormals() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | FTZ_DAZ); }
  ~FlushDenormals() { _mm_setcsr(saved_); }
  FlushDenormals(const FlushDenormals&) = delete;
  FlushDenormals& operator=(const FlushDenormals&) = delete;

 private:
  static constexpr unsigned FTZ_DAZ = 0x8040;  // bit 15 flush-to-zero, bit 6 denormals-are-zero
  unsigned saved_;
};

// Runs body(unit) for unit in [0, units), statically split over `threads` threads: a fixed unit-to-thread
// mapping keeps results bitwise repeatable for a fixed thread count.
template <class Body>
void parallel_for(int64_t units, int threads, Body&& body) {
#ifdef _OPENMP
  if (threads > 1 && units > 1) {
#pragma omp parallel num_threads(threads)
    {
      FlushDenormals ftz;
#pragma omp for schedule(static)
      for (int64_t u = 0; u < units; ++u) body(u);
    }
    return;
  }
#endif
  (void)threads;
  FlushDenormals ftz;
  for (int64_t u = 0; u < units; ++u) body(u);
}

// The calling thread's number in its parallel region (0 outside one).
inline int thread_index() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
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
