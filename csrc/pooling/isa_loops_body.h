/* Loop bodies of fastconv._pooling compiled once per ISA: isa_loops.h includes this file three times, with
 * FC_TARGET (a target attribute) and FC_NAME(name) (a per-ISA suffix) defined. No include guard on purpose.
 *
 * Plain C loops with restrict and branch-free selects (or GCC vector extensions), so the compiler vectorizes them
 * for each target. Not inlined: inside the OpenMP-outlined caller the compiler loses restrict and keeps the loops
 * scalar.
 * The pooling rule "take": a larger value, or the first NaN (NaN then sticks, as in PyTorch). */

/* pool_row_s2's outputs: y[q] = ev[q], idx[q] = base + 2q + et[q] for q < n (ev, et readable to n rounded up to
 * whole vectors). AVX-512 floats: 16 at a time, the last part vector by masked stores (value by value, the 13
 * outputs of a MNIST pooling row took most of the row's time). Whole vectors take plain stores: masked ones ran the
 * ResNet stem's NCHW forward at 1.55-1.65 ms instead of 0.96-0.99 on an AMD EPYC (Zen 5). */
#define FC_S2_OUTPUTS_LOOP(T, S)                                                                                 \
  FC_TARGET static inline void FC_NAME(pool_s2_outputs_##S)(T* restrict y, int64_t* restrict idx,                \
                                                            const T* restrict ev, const T* restrict et,          \
                                                            int64_t base, int64_t n) {                           \
    for (int64_t q = 0; q < n; ++q) {                                                                           \
      y[q] = ev[q];                                                                                             \
      idx[q] = base + 2 * q + (int64_t)et[q];                                                                   \
    }                                                                                                           \
  }
#if FC_VECTOR_BYTES == 64
FC_TARGET static inline void FC_NAME(pool_s2_outputs_f)(float* restrict y, int64_t* restrict idx,
                                                        const float* restrict ev, const float* restrict et,
                                                        int64_t base, int64_t n) {
  const __m512i pair = _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14);
  for (int64_t q = 0; q < n; q += 16) {
    const __m512 v = _mm512_loadu_ps(ev + q), t = _mm512_loadu_ps(et + q);
    const __m512i lo = _mm512_add_epi64(_mm512_set1_epi64(base + 2 * q), pair);
    const __m512i ilo = _mm512_add_epi64(_mm512_cvttps_epi64(_mm512_castps512_ps256(t)), lo);
    const __m512i ihi = _mm512_add_epi64(_mm512_cvttps_epi64(_mm512_extractf32x8_ps(t, 1)),
                                         _mm512_add_epi64(lo, _mm512_set1_epi64(16)));
    if (n - q >= 16) {
      _mm512_storeu_ps(y + q, v);
      _mm512_storeu_si512(idx + q, ilo);
      _mm512_storeu_si512(idx + q + 8, ihi);
    } else {
      const __mmask16 k = (__mmask16)((1u << (n - q)) - 1);
      _mm512_mask_storeu_ps(y + q, k, v);
      _mm512_mask_storeu_epi64(idx + q, (__mmask8)k, ilo);
      _mm512_mask_storeu_epi64(idx + q + 8, (__mmask8)(k >> 8), ihi);
    }
  }
}
#else
FC_S2_OUTPUTS_LOOP(float, f)
#endif
FC_S2_OUTPUTS_LOOP(double, d)
#undef FC_S2_OUTPUTS_LOOP

/* pool_scatter's adds for NHWC images of 16+ channels, AVX-512 floats, where fc_vector_scatter is on: per pixel,
 * 16 channels at a time by a gather and a scatter of gx (its lanes are distinct channels, so distinct addresses: no
 * conflicts within a vector). Value by value, the ResNet stem's backward was bound by the scalar loop on an Intel
 * Xeon. Returns 0 where it does not apply or is off;
 * FC_SCATTER_VECTORS_f/_d call it where it is built, else are 0 (other ISAs, doubles). Skipping an add (pooled <= 0)
 * equals adding 0: gx starts at +0 and never becomes -0. */
#if FC_VECTOR_BYTES == 64
FC_TARGET static inline int FC_NAME(pool_scatter_vectors_f)(float* restrict gx, const float* restrict gy,
                                                            const int64_t* restrict idx, const float* restrict pooled,
                                                            int64_t o0, int64_t o1, int64_t C, int64_t HW,
                                                            int64_t* bad) {
  if (!fc_vector_scatter || C < 16 || HW * C >= ((int64_t)1 << 31)) return 0;
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i size = _mm512_set1_epi64(HW), none = _mm512_set1_epi64(-1), channels = _mm512_set1_epi32((int)C);
  int64_t count = 0;
  for (int64_t o = o0; o < o1; ++o)
    for (int64_t c = 0; c < C; c += 16) {
      const int64_t e = o * C + c;
      const __mmask16 tail = C - c >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (C - c)) - 1);
      const __mmask8 t_lo = (__mmask8)tail, t_hi = (__mmask8)(tail >> 8);
      const __m512i i_lo = _mm512_maskz_loadu_epi64(t_lo, idx + e);
      const __m512i i_hi = _mm512_maskz_loadu_epi64(t_hi, idx + e + 8);
      const __mmask8 ok_lo = _mm512_mask_cmplt_epu64_mask(t_lo, i_lo, size);
      const __mmask8 ok_hi = _mm512_mask_cmplt_epu64_mask(t_hi, i_hi, size);
      count += __builtin_popcount(_mm512_mask_cmpneq_epi64_mask(t_lo & ~ok_lo, i_lo, none)) +
               __builtin_popcount(_mm512_mask_cmpneq_epi64_mask(t_hi & ~ok_hi, i_hi, none));
      __mmask16 ok = (__mmask16)(ok_lo | (ok_hi << 8));
      if (pooled) ok &= _mm512_mask_cmp_ps_mask(ok, _mm512_maskz_loadu_ps(ok, pooled + e), _mm512_setzero_ps(),
                                                _CMP_GT_OQ);
      const __m512i i32 = _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi64_epi32(i_lo)),
                                             _mm512_cvtepi64_epi32(i_hi), 1);
      const __m512i at =
          _mm512_add_epi32(_mm512_mullo_epi32(i32, channels), _mm512_add_epi32(lane, _mm512_set1_epi32((int)c)));
      const __m512 sum = _mm512_add_ps(_mm512_mask_i32gather_ps(_mm512_setzero_ps(), ok, at, gx, 4),
                                       _mm512_maskz_loadu_ps(ok, gy + e));
      _mm512_mask_i32scatter_ps(gx, ok, at, sum, 4);
    }
  *bad += count;
  return 1;
}
#define FC_SCATTER_VECTORS_f(...) FC_NAME(pool_scatter_vectors_f)(__VA_ARGS__)
#else
#define FC_SCATTER_VECTORS_f(...) 0
#endif
#define FC_SCATTER_VECTORS_d(...) 0

#define FC_POOL_LOOPS(T, S)                                                                                      \
  /* The maximum over a whole window for n consecutive values (n and nv multiples of the vector width): best[e]  \
   * and the in-plane offset tap[e] of the window element that takes it, for windows of taps (i, j) at            \
   * x + i * row_step + j * col_step + e with offsets i * tap_row + j * tap_col. Separable: first down the kh      \
   * rows for nv >= n + (kw - 1) * col_step values (into vb, vt), then across the kw columns of that. The result   \
   * is the reference's (taps in row-major order, the first maximum or the first NaN wins): ties across columns   \
   * go to the smaller offset, which is the earlier tap in row-major order inside the input. */                    \
  FC_TARGET __attribute__((noinline)) static void FC_NAME(pool_window_##S)(                                      \
      T* restrict best, T* restrict tap, T* restrict vb, T* restrict vt, const T* restrict x, int64_t row_step,  \
      int64_t col_step, int64_t kh, int64_t kw, T tap_row, T tap_col, int64_t n, int64_t nv) {                  \
    typedef T V __attribute__((vector_size(FC_VECTOR_BYTES), aligned(sizeof(T))));                              \
    typedef FC_INT_##S VI __attribute__((vector_size(FC_VECTOR_BYTES)));                                        \
    enum { L = FC_VECTOR_BYTES / sizeof(T) };                                                                   \
    /* One vector at a time, every tap in registers; the out-of-order core overlaps the next vectors' chains. No  \
     * arrays of vectors: addressable vector locals would need 64-byte aligned stack slots. */                    \
    for (int64_t e = 0; e < nv; e += L) { /* down the rows */                                                   \
      V b = *(const V*)(x + e), t = {0};                                                                        \
      for (int64_t i = 1; i < kh; ++i) {                                                                        \
        const V a = *(const V*)(x + i * row_step + e);                                                          \
        const VI take = FC_TAKES(a, b);                                                                         \
        const V ti = (V){0} + (T)i * tap_row;                                                                   \
        b = FC_SELECT(take, a, b);                                                                              \
        t = FC_SELECT(take, ti, t);                                                                             \
      }                                                                                                         \
      *(V*)(vb + e) = b;                                                                                        \
      *(V*)(vt + e) = t;                                                                                        \
    }                                                                                                           \
    for (int64_t e = 0; e < n; e += L) { /* across the columns: equal maxima to the smaller offset */           \
      V b = *(const V*)(vb + e), t = *(const V*)(vt + e);                                                       \
      for (int64_t j = 1; j < kw; ++j) {                                                                        \
        const V a = *(const V*)(vb + j * col_step + e);                                                         \
        const V ta = *(const V*)(vt + j * col_step + e) + (T)j * tap_col;                                       \
        const VI take = FC_TAKES_TIED(a, b, ta < t);                                                            \
        b = FC_SELECT(take, a, b);                                                                              \
        t = FC_SELECT(take, ta, t);                                                                             \
      }                                                                                                         \
      *(V*)(best + e) = b;                                                                                      \
      *(V*)(tap + e) = t;                                                                                       \
    }                                                                                                           \
  }                                                                                                             \
  /* The windows of one output row that lie inside the input, NHWC with at least one vector of channels: each   \
   * channel vector's maximum over the taps is kept in registers (the per-window loops read and wrote theirs in   \
   * memory at every tap). off[k]: tap k's offset from the window's first value; tap[k]: its in-plane offset. The  \
   * taps go in row-major order, so the pooling rule alone gives the reference's ties. Window q starts at          \
   * x + q * sw * C; writes y[q * C + c] and idx[q * C + c] = base + q * sw + tap for q < n, c < C (C >= L: a     \
   * pixel's last vector overlaps the one before when C is not a multiple of L, writing the same values twice).   \
   * Each x vector is loaded once per tap into a register: folded into the compare, the select would load it     \
   * again, a line-splitting load on NumPy's 16-byte aligned arrays. */                                             \
  FC_TARGET __attribute__((noinline)) static void FC_NAME(pool_pixels_##S)(                                      \
      T* restrict y, int64_t* restrict idx, const T* restrict x, const int64_t* restrict off,                   \
      const FC_INT_##S* restrict tap, int64_t taps, int64_t C, int64_t sw, int64_t base, int64_t n) {            \
    typedef T V __attribute__((vector_size(FC_VECTOR_BYTES), aligned(sizeof(T))));                              \
    typedef FC_INT_##S VI __attribute__((vector_size(FC_VECTOR_BYTES)));                                        \
    enum { L = FC_VECTOR_BYTES / sizeof(T) };                                                                   \
    typedef int64_t VL __attribute__((vector_size(L * sizeof(int64_t)), aligned(sizeof(int64_t))));            \
    for (int64_t q = 0; q < n; ++q) {                                                                           \
      const T* xq = x + q * sw * C;                                                                             \
      const int64_t at = base + q * sw;                                                                         \
      for (int64_t c = 0; c < C; c += L) {                                                                      \
        const int64_t e = c + L <= C ? c : C - L;                                                               \
        V b = *(const V*)(xq + off[0] + e);                                                                     \
        VI t = (VI){0} + tap[0];                                                                                \
        for (int64_t k = 1; k < taps; ++k) {                                                                    \
          V a = *(const V*)(xq + off[k] + e);                                                                   \
          __asm__("" : "+v"(a));                                                                                \
          const VI take = FC_TAKES(a, b);                                                                       \
          b = FC_SELECT(take, a, b);                                                                            \
          t = (take & tap[k]) | (t & ~take);                                                                    \
        }                                                                                                       \
        *(V*)(y + q * C + e) = b;                                                                               \
        *(VL*)(idx + q * C + e) = __builtin_convertvector(t, VL) + at;                                          \
      }                                                                                                         \
    }                                                                                                           \
  }                                                                                                             \
  /* One output row of stride-2 windows over one-channel rows (NCHW planes), dilation 1: the maxima down the kh   \
   * rows are split into even and odd input columns as they are made (ev[k] = column 2k, od[k] = column 2k + 1), \
   * so that window q's column j is ev[q + j / 2] or od[q + j / 2]: contiguous vectors, no work at columns where   \
   * no window starts and nothing to pick. Writes y[q] and idx[q] = base + 2q + offset for q < n (vector-rounded  \
   * scratch: ev, od, et, ot hold nb values each, nb >= n + kw / 2 rounded up to the vector width; x is read up   \
   * to column 2 * nb of each row). Same rule as pool_window: ties go to the earlier tap. Columns outside [lo, hi) \
   * are padding: -inf, with a tap after every real one, so that any real value of the window takes them (ties   \
   * included; every window holds one). */                                                                      \
  FC_TARGET __attribute__((noinline)) static void FC_NAME(pool_row_s2_##S)(                                      \
      T* restrict y, int64_t* restrict idx, T* restrict ev, T* restrict od, T* restrict et, T* restrict ot,       \
      const T* restrict x, int64_t row_step, int64_t kh, int64_t kw, T tap_row, int64_t base, int64_t n,         \
      int64_t nb, int64_t lo, int64_t hi) {                                                                     \
    typedef T V __attribute__((vector_size(FC_VECTOR_BYTES), aligned(sizeof(T))));                              \
    typedef FC_INT_##S VI __attribute__((vector_size(FC_VECTOR_BYTES)));                                        \
    enum { L = FC_VECTOR_BYTES / sizeof(T) };                                                                   \
    VI even, odd;                                                                                               \
    for (int l = 0; l < L; ++l) {                                                                               \
      even[l] = 2 * l;                                                                                          \
      odd[l] = 2 * l + 1;                                                                                       \
    }                                                                                                           \
    for (int64_t k = 0; k < nb; k += L) { /* down the rows, input columns [2k, 2k + 2L) */                      \
      V a = *(const V*)(x + 2 * k), b = *(const V*)(x + 2 * k + L), ta = {0}, tb = {0};                         \
      for (int64_t i = 1; i < kh; ++i) {                                                                        \
        const V ti = (V){0} + (T)i * tap_row;                                                                   \
        const V u = *(const V*)(x + i * row_step + 2 * k), w = *(const V*)(x + i * row_step + 2 * k + L);      \
        const VI take_a = FC_TAKES(u, a), take_b = FC_TAKES(w, b);                                              \
        a = FC_SELECT(take_a, u, a);                                                                            \
        ta = FC_SELECT(take_a, ti, ta);                                                                         \
        b = FC_SELECT(take_b, w, b);                                                                            \
        tb = FC_SELECT(take_b, ti, tb);                                                                         \
      }                                                                                                         \
      *(V*)(ev + k) = __builtin_shuffle(a, b, even);                                                            \
      *(V*)(od + k) = __builtin_shuffle(a, b, odd);                                                             \
      *(V*)(et + k) = __builtin_shuffle(ta, tb, even);                                                          \
      *(V*)(ot + k) = __builtin_shuffle(ta, tb, odd);                                                           \
    }                                                                                                           \
    const int64_t reach = 2 * (n - 1) + kw; /* the columns the windows read */                                  \
    for (int64_t c = 0; c < reach; ++c) {                                                                       \
      if (c == lo) c = hi > lo ? hi : lo; /* skip [lo, hi) */                                                    \
      if (c >= reach) break;                                                                                    \
      ((c & 1) ? od : ev)[c / 2] = -INFINITY;                                                                   \
      ((c & 1) ? ot : et)[c / 2] = (T)1e30;                                                                     \
    }                                                                                                           \
    for (int64_t q = 0; q < n; q += L) { /* across the columns: j even from ev, j odd from od */                 \
      V b = *(const V*)(ev + q), t = *(const V*)(et + q);                                                       \
      for (int64_t j = 1; j < kw; ++j) {                                                                        \
        const T* vals = (j & 1) ? od : ev;                                                                      \
        const T* taps = (j & 1) ? ot : et;                                                                      \
        const V a = *(const V*)(vals + q + j / 2);                                                              \
        const V ta = *(const V*)(taps + q + j / 2) + (T)j;                                                      \
        const VI take = FC_TAKES_TIED(a, b, ta < t);                                                            \
        b = FC_SELECT(take, a, b);                                                                              \
        t = FC_SELECT(take, ta, t);                                                                             \
      }                                                                                                         \
      *(V*)(ev + q) = b; /* later blocks read ev, et from q + L on only */                                       \
      *(V*)(et + q) = t;                                                                                        \
    }                                                                                                           \
    FC_NAME(pool_s2_outputs_##S)(y, idx, ev, et, base, n);                                                      \
  }                                                                                                             \
  /* One tap of a row of windows (maxpool_nchw): y[q], bt[q] = v, tap where v = x[q * step] takes them (or no  \
   * element was seen yet: bt[q] < 0), for q < n. */                                                            \
  FC_TARGET __attribute__((noinline)) static void FC_NAME(pool_row_take_##S)(                                    \
      T* restrict y, T* restrict bt, const T* restrict x, int64_t step, T tap, int64_t n) {                     \
    for (int64_t q = 0; q < n; ++q) {                                                                           \
      const T v = x[q * step], b = y[q], t = bt[q];                                                             \
      const int take = (t < 0) | (v > b) | ((v != v) & (b == b));                                               \
      y[q] = take ? v : b;                                                                                      \
      bt[q] = take ? tap : t;                                                                                   \
    }                                                                                                           \
  }                                                                                                             \
  /* The outputs of one pooled row from its full-width maxima: y[e] = best[src[e]], and the flat input position    \
   * idx[e] = base + col[e] + tap[src[e]] (taps hold in-plane offsets, exact as floats; see maxpool_inside). */  \
  FC_TARGET __attribute__((noinline)) static void FC_NAME(pool_pick_##S)(                                        \
      T* restrict y, int64_t* restrict idx, const T* restrict best, const T* restrict tap,                       \
      const int32_t* restrict src, const int64_t* restrict col, int64_t base, int64_t n) {                       \
    for (int64_t e = 0; e < n; ++e) {                                                                           \
      y[e] = best[src[e]];                                                                                      \
      idx[e] = base + col[e] + (int64_t)tap[src[e]];                                                            \
    }                                                                                                           \
  }                                                                                                             \
  /* gx[idx[e] * C + e % C] += gy[e] for outputs [o0, o1) (see pool_scatter), counting indices outside [-1, HW). */ \
  FC_TARGET __attribute__((always_inline)) static inline int64_t FC_NAME(pool_scatter_part_##S)(               \
      T* restrict gx, const T* restrict gy, const int64_t* restrict idx, const T* restrict pooled, int64_t o0,   \
      int64_t o1, int64_t C, int64_t HW) {                                                                      \
    int64_t bad = 0;                                                                                            \
    if (FC_SCATTER_VECTORS_##S(gx, gy, idx, pooled, o0, o1, C, HW, &bad)) return bad;                          \
    if (C == 1) { /* NCHW planes: one loop (the general one spends a loop's setup on each value) */             \
      for (int64_t e = o0; e < o1; ++e) {                                                                       \
        const int64_t i = idx[e];                                                                               \
        if ((uint64_t)i >= (uint64_t)HW) {                                                                      \
          bad += i != -1;                                                                                       \
          continue;                                                                                             \
        }                                                                                                       \
        gx[i] += (pooled == 0 || pooled[e] > 0) ? gy[e] : (T)0;                                                 \
      }                                                                                                         \
      return bad;                                                                                               \
    }                                                                                                           \
    for (int64_t o = o0; o < o1; ++o)                                                                           \
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
  /* gx[idx[e] * C + e % C] += gy[e] (only where pooled[e] > 0 when pooled is not null) for the PQ * C outputs   \
   * of one NHWC image, or of one NCHW plane with C == 1, into gx's HW * C values, which it zeroes. Indices       \
   * outside [-1, HW) are skipped; returns how many. The pooled test is a select, not a branch: on real data it is \
   * a coin toss. gx is zeroed a little ahead of the adds, not all first: before each block of ~1024 outputs,     \
   * every value up to the block's largest index and FC_ZERO_AHEAD beyond (any order of indices works; they      \
   * mostly increase). Zeroed whole first, an image larger than the cache (the ResNet stem's 3.2 MB) went to      \
   * memory and came back for the adds. */                                                                        \
  FC_TARGET __attribute__((noinline)) static int64_t FC_NAME(pool_scatter_##S)(                                  \
      T* restrict gx, const T* restrict gy, const int64_t* restrict idx, const T* restrict pooled, int64_t PQ,   \
      int64_t C, int64_t HW) {                                                                                  \
    const int64_t size = HW * C, block = C < 1024 ? 1024 / C : 1;                                               \
    int64_t bad = 0, zeroed = 0;                                                                                \
    for (int64_t o0 = 0; o0 < PQ; o0 += block) {                                                                \
      const int64_t o1 = o0 + block < PQ ? o0 + block : PQ;                                                     \
      int64_t top = 0;                                                                                          \
      for (int64_t e = o0 * C; e < o1 * C; ++e) top = idx[e] > top ? idx[e] : top;                              \
      top = top < HW ? top : HW - 1;                                                                            \
      const int64_t need = (top + 1) * C + FC_ZERO_AHEAD < size ? (top + 1) * C + FC_ZERO_AHEAD : size;         \
      if (need > zeroed) {                                                                                      \
        memset(gx + zeroed, 0, (size_t)(need - zeroed) * sizeof(T));                                            \
        zeroed = need;                                                                                          \
      }                                                                                                         \
      bad += FC_NAME(pool_scatter_part_##S)(gx, gy, idx, pooled, o0, o1, C, HW);                                \
    }                                                                                                           \
    memset(gx + zeroed, 0, (size_t)(size - zeroed) * sizeof(T));                                                \
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
#undef FC_SCATTER_VECTORS_f
#undef FC_SCATTER_VECTORS_d
