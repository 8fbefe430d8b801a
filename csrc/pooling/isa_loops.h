/* The vector loops of fastconv._pooling, built for AVX-512, AVX2+FMA and baseline x86-64 in one object (target
 * attributes, since the Cython module is compiled for the baseline), and picked at run time by the ISA the
 * convolution kernels use: fastconv.runtime passes it to _pooling.use_isa at import, and FASTCONV_ISA forces it
 * for both modules. Each dispatcher below forwards to one of the three copies of a loop in isa_loops_body.h. */
#ifndef FASTCONV_ISA_LOOPS_H
#define FASTCONV_ISA_LOOPS_H
#include <math.h>
#include <stdint.h>

#define FC_SQRT_f sqrtf
#define FC_SQRT_d sqrt

#define FC_TARGET __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")))
#define FC_NAME(name) name##_avx512
#include "pooling/isa_loops_body.h"
#undef FC_TARGET
#undef FC_NAME

#define FC_TARGET __attribute__((target("avx2,fma")))
#define FC_NAME(name) name##_avx2
#include "pooling/isa_loops_body.h"
#undef FC_TARGET
#undef FC_NAME

#define FC_TARGET
#define FC_NAME(name) name##_generic
#include "pooling/isa_loops_body.h"
#undef FC_TARGET
#undef FC_NAME

enum { FC_ISA_GENERIC = 0, FC_ISA_AVX2 = 1, FC_ISA_AVX512 = 2 };
static int fc_isa = FC_ISA_GENERIC;  /* set once at import (and by the tests' ISA sweep), never while loops run */

#define FC_DISPATCH(name, params, args)                                                                          \
  static inline void name params {                                                                              \
    if (fc_isa == FC_ISA_AVX512) name##_avx512 args;                                                            \
    else if (fc_isa == FC_ISA_AVX2) name##_avx2 args;                                                           \
    else name##_generic args;                                                                                   \
  }

#define FC_DISPATCH_RET(R, name, params, args)                                                                   \
  static inline R name params {                                                                                 \
    if (fc_isa == FC_ISA_AVX512) return name##_avx512 args;                                                     \
    if (fc_isa == FC_ISA_AVX2) return name##_avx2 args;                                                         \
    return name##_generic args;                                                                                 \
  }

#define FC_DISPATCH_TYPE(T, S)                                                                                   \
  FC_DISPATCH(pool_run_start_##S, (T* best, T* tap, const T* v, T tap0, int64_t n), (best, tap, v, tap0, n))     \
  FC_DISPATCH(pool_run_take_##S, (T* best, T* tap, const T* v, const T* vtaps, T vtap, int64_t n),               \
              (best, tap, v, vtaps, vtap, n))                                                                    \
  FC_DISPATCH(pool_pick_##S, (T* y, int64_t* idx, const T* best, const T* tap, const int32_t* src,              \
                              const int64_t* col, int64_t base, int64_t n),                                    \
              (y, idx, best, tap, src, col, base, n))                                                            \
  FC_DISPATCH_RET(int64_t, pool_scatter_##S, (T* gx, const T* gy, const int64_t* idx, const T* pooled,          \
                                             int64_t PQ, int64_t C, int64_t HW),                              \
                  (gx, gy, idx, pooled, PQ, C, HW))                                                             \
  FC_DISPATCH(adam_##S, (T* p, const T* g, T* m, T* v, T lr_t, T beta_1, T beta_2, T epsilon, int64_t n),        \
              (p, g, m, v, lr_t, beta_1, beta_2, epsilon, n))

FC_DISPATCH_TYPE(float, f)
FC_DISPATCH_TYPE(double, d)
#undef FC_DISPATCH_TYPE
#undef FC_DISPATCH_RET
#undef FC_DISPATCH

#endif
