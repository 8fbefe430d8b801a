// The direct row kernels (DirectRows in fastconv/kernel_table.h): a convolution with few channels computed along
// output rows, one vector of W lanes at a time, straight from a planar scratch copy of the input, with no patch
// packing and no register tile to fill. Forward and weight gradient share the row description: the forward sums
// taps into a lane vector, the weight gradient sums lane vectors into per-tap accumulators.
// Written once with GCC vector extensions; each kernels/<isa>/ file instantiates it with its lane count and is
// compiled with its own -m flags (internal linkage, as in gemm_tile.h).
#pragma once
#include <cstdint>
#include <cstring>

#include "fastconv/kernel_table.h"
#include "kernels/vector_io.h"

namespace fastconv {
namespace {

template <typename T>
struct LaneIndex;  // __builtin_shuffle wants integer lanes as wide as T's
template <>
struct LaneIndex<float> {
  using type = int32_t;
};
template <>
struct LaneIndex<double> {
  using type = int64_t;
};

template <typename T, int W>
struct RowVec {
  typedef T V __attribute__((vector_size(W * sizeof(T))));
  typedef typename LaneIndex<T>::type I __attribute__((vector_size(W * sizeof(T))));
};

// The lane pattern of one phase: a shuffle mask for Permute and the raw offsets for Scalar.
template <typename T, int W>
struct Lanes {
  typename RowVec<T, W>::I perm;
  const int32_t* idx = nullptr;

  Lanes() : perm{} {}
  explicit Lanes(const int32_t* phase_idx) : idx(phase_idx) {
    if constexpr (sizeof(T) == sizeof(int32_t)) {
      std::memcpy(&perm, idx, sizeof perm);
    } else {
      for (int l = 0; l < W; ++l) perm[l] = idx[l];
    }
  }
};

// The x values of a vector's lanes for one tap; p points at the vector's first lane.
template <typename T, int W, Gather G>
inline typename RowVec<T, W>::V gather(const T* p, const Lanes<T, W>& lanes) {
  using V = typename RowVec<T, W>::V;
  if constexpr (G == Gather::Contiguous) {
    return load_vec<V>(p);
  } else if constexpr (G == Gather::Broadcast) {
    return V{} + p[0];
  } else if constexpr (G == Gather::Permute) {
    return __builtin_shuffle(load_vec<V>(p), lanes.perm);
  } else {
    V v;
    for (int l = 0; l < W; ++l) v[l] = p[lanes.idx[l]];
    return v;
  }
}

// Walks the vectors of a batch of rows in order: row (a, b), vector v of the row, its phase v % P. Kept
// incrementally: a division per vector would cost as much as a short convolution's taps.
struct RowCursor {
  int64_t a = 0, b = 0, v = 0, phase = 0;

  template <typename T>
  static RowCursor at(const DirectRows<T>& r, int64_t nvec, int64_t job) {
    const int64_t row = job / nvec;
    RowCursor c;
    c.a = row / r.inner, c.b = row % r.inner, c.v = job % nvec, c.phase = c.v % r.phases;
    return c;
  }

  template <typename T>
  void advance(const DirectRows<T>& r, int64_t nvec) {
    if (++v == nvec) {
      v = phase = 0;
      if (++b == r.inner) b = 0, ++a;
    } else if (++phase == r.phases) {
      phase = 0;
    }
  }
};

// NB vectors from the cursor on (in any rows): every tap, then bias, relu and the (possibly partial) store.
template <typename T, int W, Gather G, int NB>
__attribute__((always_inline)) inline void fwd_vectors(const DirectRows<T>& r, RowCursor& c, int64_t nvec,
                                                       const T* wtab, const T* btab, bool relu, T* out) {
  using V = typename RowVec<T, W>::V;
  V acc[NB];
  const T* xp[NB];
  const T* wp[NB];
  T* op[NB];
  int64_t left[NB];
  Lanes<T, W> lanes[NB];
  for (int b = 0; b < NB; ++b) {
    const int64_t table = c.a * r.phases + c.phase;
    acc[b] = btab ? load_vec<V>(btab + table * W) : V{};
    xp[b] = r.x + c.b * r.x_step + r.vbase[c.v];
    wp[b] = wtab + table * r.ntaps * W;
    lanes[b] = Lanes<T, W>(r.idx + c.phase * W);
    op[b] = out + c.a * r.out_outer + c.b * r.out_inner + c.v * W;
    left[b] = r.len - c.v * W;
    c.advance(r, nvec);
  }
  for (int64_t t = 0; t < r.ntaps; ++t) {
    const int64_t off = r.tap_off[t];
#pragma GCC unroll 4
    for (int b = 0; b < NB; ++b) acc[b] += gather<T, W, G>(xp[b] + off, lanes[b]) * load_vec<V>(wp[b] + t * W);
  }
  for (int b = 0; b < NB; ++b) {
    if (relu) acc[b] = acc[b] < V{} ? V{} : acc[b];  // NaN stays NaN, as in the reference
    if (left[b] >= W) {
      store_vec(op[b], acc[b]);
    } else {
      for (int64_t l = 0; l < left[b]; ++l) op[b][l] = acc[b][l];
    }
  }
}

template <typename T, int W, Gather G>
void fwd_rows(const DirectRows<T>& r, const T* wtab, const T* btab, bool relu, T* out) {
  constexpr int NB = 4;  // independent accumulators: hides the FMA latency
  const int64_t nvec = (r.len + W - 1) / W, jobs = r.outer * r.inner * nvec;
  RowCursor c;
  int64_t j = 0;
  for (; j + NB <= jobs; j += NB) fwd_vectors<T, W, G, NB>(r, c, nvec, wtab, btab, relu, out);
  if (j == jobs) return;
  if (jobs >= NB) {  // recompute a few vectors rather than run the rest one at a time: the stores are idempotent
    c = RowCursor::at(r, nvec, jobs - NB);
    fwd_vectors<T, W, G, NB>(r, c, nvec, wtab, btab, relu, out);
  } else {
    for (; j < jobs; ++j) fwd_vectors<T, W, G, 1>(r, c, nvec, wtab, btab, relu, out);
  }
}

// TB taps from t of weight table (a, phase): sums gather * gy over the phase's vectors of every row b.
template <typename T, int W, Gather G, int TB>
__attribute__((always_inline)) inline void wgrad_taps(const DirectRows<T>& r, int64_t a, int64_t phase, int64_t t,
                                                      const T* gy, T* acc) {
  using V = typename RowVec<T, W>::V;
  const Lanes<T, W> lanes(r.idx + phase * W);
  const int64_t nvec = (r.len + W - 1) / W, full = r.len / W;
  int64_t off[TB];
  V sum[TB];
  for (int b = 0; b < TB; ++b) {
    off[b] = r.tap_off[t + b];
    sum[b] = V{};
  }
  for (int64_t row = 0; row < r.inner; ++row) {
    const T* x = r.x + row * r.x_step;
    const T* g = gy + a * r.out_outer + row * r.out_inner;
    int64_t v = phase;
    for (; v < full; v += r.phases) {
      const V gv = load_vec<V>(g + v * W);
#pragma GCC unroll 4
      for (int b = 0; b < TB; ++b) sum[b] += gather<T, W, G>(x + r.vbase[v] + off[b], lanes) * gv;
    }
    if (v < nvec) {  // the row's partial last vector, zero-padded: its extra lanes add nothing
      T tail[W] = {};
      std::memcpy(tail, g + v * W, (r.len - v * W) * sizeof(T));
      const V gv = load_vec<V>(tail);
      for (int b = 0; b < TB; ++b) sum[b] += gather<T, W, G>(x + r.vbase[v] + off[b], lanes) * gv;
    }
  }
  for (int b = 0; b < TB; ++b) {
    T* dst = acc + ((a * r.phases + phase) * r.ntaps + t + b) * W;
    store_vec(dst, load_vec<V>(dst) + sum[b]);
  }
}

template <typename T, int W, Gather G>
void wgrad_rows(const DirectRows<T>& r, const T* gy, T* acc) {
  constexpr int TB = 4;  // taps per pass over the rows: TB accumulators share each gy load
  for (int64_t a = 0; a < r.outer; ++a)
    for (int64_t phase = 0; phase < r.phases; ++phase) {
      int64_t t = 0;
      for (; t + TB <= r.ntaps; t += TB) wgrad_taps<T, W, G, TB>(r, a, phase, t, gy, acc);
      for (; t < r.ntaps; ++t) wgrad_taps<T, W, G, 1>(r, a, phase, t, gy, acc);
    }
}

template <typename T, int W>
void direct_fwd(const DirectRows<T>& r, const T* wtab, const T* btab, bool relu, T* out) {
  switch (r.gather) {
    case Gather::Contiguous: return fwd_rows<T, W, Gather::Contiguous>(r, wtab, btab, relu, out);
    case Gather::Broadcast: return fwd_rows<T, W, Gather::Broadcast>(r, wtab, btab, relu, out);
    case Gather::Permute: return fwd_rows<T, W, Gather::Permute>(r, wtab, btab, relu, out);
    case Gather::Scalar: return fwd_rows<T, W, Gather::Scalar>(r, wtab, btab, relu, out);
  }
}

template <typename T, int W>
void direct_wgrad(const DirectRows<T>& r, const T* gy, T* acc) {
  switch (r.gather) {
    case Gather::Contiguous: return wgrad_rows<T, W, Gather::Contiguous>(r, gy, acc);
    case Gather::Broadcast: return wgrad_rows<T, W, Gather::Broadcast>(r, gy, acc);
    case Gather::Permute: return wgrad_rows<T, W, Gather::Permute>(r, gy, acc);
    case Gather::Scalar: return wgrad_rows<T, W, Gather::Scalar>(r, gy, acc);
  }
}

template <typename T, int W>
DirectKernel<T> direct_kernel() {
  return {direct_fwd<T, W>, direct_wgrad<T, W>, W};
}

}  // namespace
}  // namespace fastconv
