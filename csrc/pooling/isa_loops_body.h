/* Loop bodies of fastconv._pooling compiled once per ISA: isa_loops.h includes this file three times, with
 * FC_TARGET (a target attribute) and FC_NAME(name) (a per-ISA suffix) defined. No include guard on purpose.
 *
 * Plain C loops with restrict and branch-free selects, so the compiler vectorizes them for each target. Not
 * inlined: inside the OpenMP-outlined caller the compiler loses restrict and keeps the loops scalar.
 * The pooling rule "take": a larger value, or the first NaN (NaN then sticks, as in PyTorch). */

#define FC_POOL_LOOPS(T, S)                                                                                      \
  /* best[e], tap[e] = v[e], tap0 */                                                                            \
  FC_TARGET __attribute__((noinline)) static void FC_NAME(pool_run_start_##S)(                                   \
      T* restrict best, T* restrict tap, const T* restrict v, T tap0, int64_t n) {                                \
    for (int64_t e = 0; e < n; ++e) {                                                                           \
      best[e] = v[e];                                                                                           \
      tap[e] = tap0;                                                                                            \
    }                                                                                                           \
  }                                                                                                             \
  /* where v[e] takes best[e]: best[e] = v[e], tap[e] = vtap (+ vtaps[e] when vtaps is not null) */             \
  FC_TARGET __attribute__((noinline)) static void FC_NAME(pool_run_take_##S)(                                    \
      T* restrict best, T* restrict tap, const T* restrict v, const T* restrict vtaps, T vtap, int64_t n) {       \
    if (vtaps) {                                                                                                \
      for (int64_t e = 0; e < n; ++e) {                                                                         \
        const T a = v[e], b = best[e], t = vtap + vtaps[e]; /* loaded whether taken or not: no branch */        \
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
  }                                                                                                             \
  /* The outputs of one pooled row from its full-width runs: y[e] = best[src[e]], and the flat input position    \
   * idx[e] = base + col[e] + tap[src[e]] (taps hold in-plane offsets, exact as floats; see maxpool_inside). */  \
  FC_TARGET __attribute__((noinline)) static void FC_NAME(pool_pick_##S)(                                        \
      T* restrict y, int64_t* restrict idx, const T* restrict best, const T* restrict tap,                       \
      const int32_t* restrict src, const int64_t* restrict col, int64_t base, int64_t n) {                       \
    for (int64_t e = 0; e < n; ++e) {                                                                           \
      y[e] = best[src[e]];                                                                                      \
      idx[e] = base + col[e] + (int64_t)tap[src[e]];                                                            \
    }                                                                                                           \
  }                                                                                                             \
  /* gx[idx[e] * C + e % C] += gy[e] (only where pooled[e] > 0 when pooled is not null) for the PQ * C outputs   \
   * of one NHWC image, or of one NCHW plane with C == 1. Indices outside [-1, HW) are skipped; returns how many. \
   * The pooled test is a select, not a branch: on real data it is a coin toss. */                               \
  FC_TARGET __attribute__((noinline)) static int64_t FC_NAME(pool_scatter_##S)(                                  \
      T* restrict gx, const T* restrict gy, const int64_t* restrict idx, const T* restrict pooled, int64_t PQ,   \
      int64_t C, int64_t HW) {                                                                                  \
    int64_t bad = 0;                                                                                            \
    for (int64_t o = 0; o < PQ; ++o)                                                                            \
      for (int64_t c = 0; c < C; ++c) {                                                                         \
        const int64_t e = o * C + c, i = idx[e];                                                                \
        if ((uint64_t)i >= (uint64_t)HW) {                                                                      \
          bad += i != -1;                                                                                       \
          continue;                                                                                             \
        }                                                                                                       \
        const T g = gy[e];                                                                                      \
        gx[i * C + c] += (pooled == 0 || pooled[e] > 0) ? g : (T)0;                                             \
      }                                                                                                         \
    return bad;                                                                                                 \
  }                                                                                                             \
  /* One Adam step in the parameter's precision (as Keras): m += (1-b1)(g-m); v += (1-b2)(g^2-v);                \
   * p -= lr_t m / (sqrt(v) + eps). */                                                                          \
  FC_TARGET __attribute__((noinline)) static void FC_NAME(adam_##S)(                                             \
      T* restrict p, const T* restrict g, T* restrict m, T* restrict v, T lr_t, T beta_1, T beta_2, T epsilon,   \
      int64_t n) {                                                                                              \
    const T a1 = 1 - beta_1, a2 = 1 - beta_2;                                                                   \
    for (int64_t i = 0; i < n; ++i) {                                                                           \
      const T gi = g[i];                                                                                        \
      const T mi = m[i] + a1 * (gi - m[i]);                                                                     \
      const T vi = v[i] + a2 * (gi * gi - v[i]);                                                                \
      m[i] = mi;                                                                                                \
      v[i] = vi;                                                                                                \
      p[i] -= lr_t * mi / (FC_SQRT_##S(vi) + epsilon);                                                          \
    }                                                                                                           \
  }

FC_POOL_LOOPS(float, f)
FC_POOL_LOOPS(double, d)
#undef FC_POOL_LOOPS
