/* The vector loops of fastconv._pooling, built for AVX-512, AVX2+FMA and baseline x86-64 in one object (target
 * attributes, since the Cython module is compiled for the baseline), and picked at run time by the ISA the
 * convolution kernels use: fastconv.runtime passes it to _pooling.use_isa at import, and FASTCONV_ISA forces it
 * for both modules. Each dispatcher below forwards to one of the three copies of a loop in isa_loops_body.h. */
#ifndef FASTCONV_ISA_LOOPS_H
#define FASTCONV_ISA_LOOPS_H
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define FC_SQRT_f sqrtf
#define FC_SQRT_d sqrt
/* The pooling rule on vectors (lanes of comparison results: -1 or 0), inside isa_loops_body.h's loops where V and
 * VI are the vector and its integer lanes. FC_TAKES: a replaces the running maximum b when larger, or the first
 * NaN (NaN then sticks). FC_TAKES_TIED: the same when a's tap may come before b's in row-major order (a maximum
 * reached in another order): equal values, and a second NaN, go to the earlier tap. */
#define FC_TAKES(a, b) (((a) > (b)) | (((a) != (a)) & ((b) == (b))))
#define FC_TAKES_TIED(a, b, earlier) \
  (((a) > (b)) | (((a) == (b)) & (earlier)) | (((a) != (a)) & (((b) == (b)) | (earlier))))
#define FC_SELECT(mask, a, b) ((V)(((VI)(a) & (mask)) | ((VI)(b) & ~(mask))))
#define FC_INT_f int32_t  /* the integer lanes of a float / double vector (comparison results) */
#define FC_INT_d int64_t
#define FC_ZERO_AHEAD 4096 /* values of gx pool_scatter zeroes past the one it adds to (16-32 KB) */
/* Whether pool_scatter's AVX-512 float adds go a channel vector at a time (gather, add, scatter) or value by value.
 * Set at import by the CPU (fc_vector_scatter_suits), and by the tests to run both. The ResNet stem's NHWC
 * backward: vectors 1.07x faster on an Intel Xeon (family 6 model 167), 1.45x slower on an AMD EPYC (Zen 5), where
 * a version of the vector path without the gather and scatter (lanes added one by one) was as slow as with them. */
static int fc_vector_scatter = 1;
static inline int fc_vector_scatter_suits(void) {
  __builtin_cpu_init();
  return !__builtin_cpu_is("amd");
}

#define FC_TARGET __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")))
#define FC_NAME(name) name##_avx512
#define FC_VECTOR_BYTES 64
#include "pooling/isa_loops_body.h"
#undef FC_TARGET
#undef FC_NAME
#undef FC_VECTOR_BYTES

#define FC_TARGET __attribute__((target("avx2,fma")))
#define FC_NAME(name) name##_avx2
#define FC_VECTOR_BYTES 32
#include "pooling/isa_loops_body.h"
#undef FC_TARGET
#undef FC_NAME
#undef FC_VECTOR_BYTES

#define FC_TARGET
#define FC_NAME(name) name##_generic
#define FC_VECTOR_BYTES 16
#include "pooling/isa_loops_body.h"
#undef FC_TARGET
#undef FC_NAME
#undef FC_VECTOR_BYTES

/* pool_pick_f for AVX-512: the outputs of a row are the span's elements whose mask bit is set (the first C of
 * every sw * C: each window's first column), in order. One compress per 16 elements replaces 16 gathers.
 * pool_pick16 takes one block of 16: its maxima v, their taps t (in-plane offsets as floats) and mask k; it writes
 * the block's outputs from y + *pos, idx + *pos on and advances *pos. */
__attribute__((target("avx512f,avx512vl,avx512dq,avx512bw"), always_inline)) static inline void pool_pick16(
    float* restrict y, int64_t* restrict idx, __m512 v, __m512 t, __mmask16 k, const int64_t* restrict col,
    __m512i vbase, int64_t* pos) {
  const int64_t at = *pos;
  const int count = __builtin_popcount(k);
  const __mmask16 out = (__mmask16)((1u << count) - 1);
  v = _mm512_maskz_compress_ps(k, v);
  t = _mm512_maskz_compress_ps(k, t);
  _mm512_mask_storeu_ps(y + at, out, v);
  const __mmask8 lo = (__mmask8)(out & 0xff), hi = (__mmask8)(out >> 8);
  const __m512i ilo = _mm512_cvttps_epi64(_mm512_castps512_ps256(t));
  const __m512i ihi = _mm512_cvttps_epi64(_mm512_extractf32x8_ps(t, 1));
  const __m512i clo = _mm512_maskz_loadu_epi64(lo, col + at), chi = _mm512_maskz_loadu_epi64(hi, col + at + 8);
  _mm512_mask_storeu_epi64(idx + at, lo, _mm512_add_epi64(_mm512_add_epi64(ilo, vbase), clo));
  _mm512_mask_storeu_epi64(idx + at + 8, hi, _mm512_add_epi64(_mm512_add_epi64(ihi, vbase), chi));
  *pos = at + count;
}

__attribute__((target("avx512f,avx512vl,avx512dq,avx512bw"), noinline)) static void pool_pick_f_avx512_compress(
    float* restrict y, int64_t* restrict idx, const float* restrict best, const float* restrict tap,
    const uint16_t* restrict masks, const int64_t* restrict col, int64_t base, int64_t span) {
  const __m512i vbase = _mm512_set1_epi64(base);
  int64_t pos = 0;
  for (int64_t m = 0; m * 16 < span; ++m) {
    const __mmask16 k = masks[m];
    if (!k) continue;
    pool_pick16(y, idx, _mm512_maskz_loadu_ps(k, best + m * 16), _mm512_maskz_loadu_ps(k, tap + m * 16), k, col,
                vbase, &pos);
  }
}

/* pool_window_f and pool_pick_f in one pass for AVX-512 and small windows (2x2): each block of 16 values takes
 * its maximum over the taps directly, x + off[q] for q < taps in row-major order, keeping tap[q] (the in-plane
 * offset, as a float) of the one that takes it, by the pooling rule alone: visited in the reference's order, ties
 * and NaN go as there. Then the block's outputs are compressed out (pool_pick16). The separable window pass needs
 * kh + kw loads per block where this needs kh * kw, but it stores and reloads its maxima three times. */
__attribute__((target("avx512f,avx512vl,avx512dq,avx512bw"), noinline)) static void pool_window_pick_f_avx512(
    float* restrict y, int64_t* restrict idx, const float* restrict x, const int64_t* restrict off,
    const float* restrict tap, int64_t taps, const uint16_t* restrict masks, const int64_t* restrict col,
    int64_t base, int64_t span) {
  const __m512i vbase = _mm512_set1_epi64(base);
  int64_t pos = 0;
  for (int64_t m = 0; m * 16 < span; ++m) {
    const __mmask16 k = masks[m];
    if (!k) continue;
    const float* xm = x + m * 16;
    __m512 b = _mm512_loadu_ps(xm + off[0]), t = _mm512_set1_ps(tap[0]);
    for (int64_t q = 1; q < taps; ++q) {
      const __m512 a = _mm512_loadu_ps(xm + off[q]);
      /* FC_TAKES: larger, or the first NaN (a NaN while b is not) */
      const __mmask16 take = _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ) |
                             (_mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q) & _mm512_cmp_ps_mask(b, b, _CMP_ORD_Q));
      b = _mm512_mask_mov_ps(b, take, a);
      t = _mm512_mask_mov_ps(t, take, _mm512_set1_ps(tap[q]));
    }
    pool_pick16(y, idx, b, t, k, col, vbase, &pos);
  }
}

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
  FC_DISPATCH(pool_window_##S, (T* best, T* tap, T* vb, T* vt, const T* x, int64_t row_step, int64_t col_step,  \
                                int64_t kh, int64_t kw, T tap_row, T tap_col, int64_t n, int64_t nv),           \
              (best, tap, vb, vt, x, row_step, col_step, kh, kw, tap_row, tap_col, n, nv))                       \
  FC_DISPATCH(pool_pixels_##S, (T* y, int64_t* idx, const T* x, const int64_t* off, const FC_INT_##S* tap,     \
                                int64_t taps, int64_t C, int64_t sw, int64_t base, int64_t n),                   \
              (y, idx, x, off, tap, taps, C, sw, base, n))                                                       \
  FC_DISPATCH(pool_row_s2_##S, (T* y, int64_t* idx, T* ev, T* od, T* et, T* ot, const T* x, int64_t row_step,     \
                                int64_t kh, int64_t kw, T tap_row, int64_t base, int64_t n, int64_t nb,        \
                                int64_t lo, int64_t hi),                                                       \
              (y, idx, ev, od, et, ot, x, row_step, kh, kw, tap_row, base, n, nb, lo, hi))                       \
  FC_DISPATCH(pool_row_take_##S, (T* y, T* bt, const T* x, int64_t step, T tap, int64_t n),                      \
              (y, bt, x, step, tap, n))                                                                          \
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
