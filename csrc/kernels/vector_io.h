// Unaligned vector loads and stores for the kernels written with GCC vector extensions (memcpy compiles to one
// vector move). V may also be the element type itself, for the scalar tails of the same templates.
// Internal linkage, as everything compiled once per ISA.
#pragma once
#include <cstdint>
#include <cstring>

#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace fastconv {
namespace {

// A vector of W values of T (GCC vector extensions), and the integer lanes as wide as T's that __builtin_shuffle
// wants for its masks.
template <typename T, int W>
struct SimdVec {
  typedef T type __attribute__((vector_size(W * sizeof(T))));
};
template <typename T>
struct LaneIndex;
template <>
struct LaneIndex<float> {
  typedef int32_t type;
};
template <>
struct LaneIndex<double> {
  typedef int64_t type;
};

template <typename V, typename T>
inline V load_vec(const T* p) {
  V v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

template <typename V, typename T>
inline void store_vec(T* p, const V& v) {
  std::memcpy(p, &v, sizeof v);
}

// The first n (< lanes) values of v: one masked store where the ISA has them for V (this header is compiled with
// each ISA's flags), else lane by lane. The lane-by-lane version stays out of line of the full stores on purpose:
// indexing v's lanes in the same block would make the compiler keep v in memory for every store, the full ones
// included.
template <typename V, typename T>
__attribute__((noinline)) void store_first_lanes(T* p, V v, int64_t n) {
  T lanes[sizeof(V) / sizeof(T)];
  std::memcpy(lanes, &v, sizeof v);
  std::memcpy(p, lanes, n * sizeof(T));
}

template <typename V, typename T>
inline void store_first(T* p, V v, int64_t n) {
#if defined(__AVX512F__)
  if constexpr (sizeof(V) == 64) {
    const __mmask16 mask = __mmask16((1u << n) - 1);
    if constexpr (sizeof(T) == 4) {
      _mm512_mask_storeu_ps(p, mask, __m512(v));
    } else {
      _mm512_mask_storeu_pd(p, __mmask8(mask), __m512d(v));
    }
    return;
  }
#endif
#if defined(__AVX2__)
  if constexpr (sizeof(V) == 32) {
    if constexpr (sizeof(T) == 4) {
      const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
      _mm256_maskstore_ps(p, _mm256_cmpgt_epi32(_mm256_set1_epi32(int(n)), lane), __m256(v));
    } else {  // 4 doubles: 64-bit mask lanes, each the sign of a pair of 32-bit ones
      const __m256i pairs = _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3);
      _mm256_maskstore_pd(p, _mm256_cmpgt_epi32(_mm256_set1_epi32(int(n)), pairs), __m256d(v));
    }
    return;
  }
#endif
  store_first_lanes(p, v, n);
}

// The first n (< lanes) values at p, the other lanes zero, reading nothing past p + n (a row may end its buffer):
// one masked load where the ISA has them for V, else through a zeroed copy (out of line, as store_first_lanes).
template <typename V, typename T>
__attribute__((noinline)) V load_first_lanes(const T* p, int64_t n) {
  T lanes[sizeof(V) / sizeof(T)] = {};
  std::memcpy(lanes, p, n * sizeof(T));
  return load_vec<V>(lanes);
}

template <typename V, typename T>
inline V load_first(const T* p, int64_t n) {
#if defined(__AVX512F__)
  if constexpr (sizeof(V) == 64) {
    const __mmask16 mask = __mmask16((1u << n) - 1);
    if constexpr (sizeof(T) == 4) {
      return V(_mm512_maskz_loadu_ps(mask, p));
    } else {
      return V(_mm512_maskz_loadu_pd(__mmask8(mask), p));
    }
  }
#endif
#if defined(__AVX2__)
  if constexpr (sizeof(V) == 32) {
    if constexpr (sizeof(T) == 4) {
      const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
      return V(_mm256_maskload_ps(p, _mm256_cmpgt_epi32(_mm256_set1_epi32(int(n)), lane)));
    } else {
      const __m256i pairs = _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3);
      return V(_mm256_maskload_pd(p, _mm256_cmpgt_epi32(_mm256_set1_epi32(int(n)), pairs)));
    }
  }
#endif
  return load_first_lanes<V>(p, n);
}

// The lanes of p whose bits are set in mask, zeros elsewhere; the others are not read (no fault past an array's
// ends). AVX-512 vectors only.
template <typename V, typename T>
inline V load_masked(const T* p, uint32_t mask) {
#if defined(__AVX512F__)
  if constexpr (sizeof(V) == 64) {
    if constexpr (sizeof(T) == 4) {
      return V(_mm512_maskz_loadu_ps(__mmask16(mask), p));
    } else {
      return V(_mm512_maskz_loadu_pd(__mmask8(mask), p));
    }
  }
#endif
  static_assert(sizeof(V) == 64, "load_masked: AVX-512 vectors only");
  return V{};
}

// Loads of lanes [lo, hi) of a vector (0 <= lo, hi <= lanes; none where hi <= lo), zeros in the others, reading
// nothing outside them (p may point before an array's start or run past its end): the mask is made once, for many
// loads; one masked load each where the ISA has them, else lane by lane.
template <typename V, typename T>
__attribute__((noinline)) V load_range_lanes(const T* p, int64_t lo, int64_t hi) {
  T lanes[sizeof(V) / sizeof(T)] = {};
  for (int64_t l = lo; l < hi; ++l) lanes[l] = p[l];
  return load_vec<V>(lanes);
}

template <typename V, typename T>
struct LaneRange {
#if defined(__AVX512F__)
  static constexpr bool masked = sizeof(V) == 64;
  uint32_t mask;
  LaneRange(int64_t lo, int64_t hi)
      : mask(lo < hi ? ((uint32_t(1) << hi) - 1) & ~((uint32_t(1) << lo) - 1) : 0), lo(lo), hi(hi) {}
#elif defined(__AVX2__)
  static constexpr bool masked = sizeof(V) == 32;
  __m256i mask;  // lane l (a pair of 32-bit lanes for doubles) where lo <= l < hi
  LaneRange(int64_t lo, int64_t hi)
      : mask(_mm256_andnot_si256(_mm256_cmpgt_epi32(_mm256_set1_epi32(int(lo)), lane_numbers()),
                                 _mm256_cmpgt_epi32(_mm256_set1_epi32(int(hi)), lane_numbers()))),
        lo(lo),
        hi(hi) {}
  static __m256i lane_numbers() {
    return sizeof(T) == 4 ? _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7) : _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3);
  }
#else
  static constexpr bool masked = false;
  LaneRange(int64_t lo, int64_t hi) : lo(lo), hi(hi) {}
#endif
  LaneRange() = default;  // unset, for arrays filled later
  int64_t lo, hi;

  V load(const T* p) const {
#if defined(__AVX512F__)
    if constexpr (masked) return load_masked<V>(p, mask);
#elif defined(__AVX2__)
    if constexpr (masked && sizeof(T) == 4) return V(_mm256_maskload_ps(p, mask));
    if constexpr (masked && sizeof(T) == 8) return V(_mm256_maskload_pd(p, mask));
#endif
    return load_range_lanes<V>(p, lo, hi);
  }
};

}  // namespace
}  // namespace fastconv
