/* The contiguous runs of fastconv._pooling's max pooling (maxpool_inside in fastconv/_pooling.pyx), in C so that
 * restrict and branch-free selects let the compiler vectorize them (Cython's conditional expressions become
 * branches). Tap numbers are kept as floats beside the values: float-on-float selects vectorize.
 * Not inlined: inside the OpenMP-outlined caller the compiler loses restrict and keeps the loops scalar.
 * "take" is the pooling rule: a larger value, or the first NaN (NaN then sticks, as in PyTorch). */
#ifndef FASTCONV_POOL_RUNS_H
#define FASTCONV_POOL_RUNS_H
#include <stdint.h>

#define FASTCONV_POOL_RUNS(T, SUFFIX)                                                                            \
  /* best[e], tap[e] = v[e], tap0 */                                                                            \
  static __attribute__((noinline)) void pool_run_start_##SUFFIX(T* restrict best, T* restrict tap, const T* restrict v, T tap0,    \
                                             int64_t n) {                                                       \
    for (int64_t e = 0; e < n; ++e) {                                                                           \
      best[e] = v[e];                                                                                           \
      tap[e] = tap0;                                                                                            \
    }                                                                                                           \
  }                                                                                                             \
  /* where v[e] takes best[e]: best[e] = v[e], tap[e] = vtap (+ vtaps[e] when vtaps is not null) */             \
  static __attribute__((noinline)) void pool_run_take_##SUFFIX(T* restrict best, T* restrict tap, const T* restrict v,             \
                                            const T* restrict vtaps, T vtap, int64_t n) {                       \
    if (vtaps) {                                                                                                \
      for (int64_t e = 0; e < n; ++e) {                                                                         \
        const T a = v[e], b = best[e], t = vtap + vtaps[e]; /* loaded whether taken or not: no branch */       \
        const int take = (a > b) | ((a != a) & (b == b));                                                       \
        best[e] = take ? a : b;                                                                                 \
        tap[e] = take ? t : tap[e];                                                                             \
      }                                                                                                         \
    } else {                                                                                                    \
      for (int64_t e = 0; e < n; ++e) {                                                                         \
        const T a = v[e], b = best[e];                                                                          \
        const int take = (a > b) | ((a != a) & (b == b));                                                       \
        best[e] = take ? a : b;                                                                                 \
        tap[e] = take ? vtap : tap[e];                                                                          \
      }                                                                                                         \
    }                                                                                                           \
  }

FASTCONV_POOL_RUNS(float, f)
FASTCONV_POOL_RUNS(double, d)

#endif
