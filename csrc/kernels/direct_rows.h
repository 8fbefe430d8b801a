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

// Vectors v0 .. v0 + NB - 1 of one row (xr: its x, wa/ba: its weight and bias tables, ph0: phase of v0): every
// tap, then bias, relu and the (possibly partial) store.
template <typename T, int W, Gather G, int NB>
__attribute__((always_inline)) inline void fwd_vectors(const DirectRows<T>& r, const T* xr, const T* wa,
                                                       const T* ba, int64_t v0, int64_t ph0, bool relu, T* orow) {
  using V = typename RowVec<T, W>::V;
  V acc[NB];
  const T* xp[NB];
  const T* wp[NB];
  Lanes<T, W> lanes[NB];
  int64_t ph = ph0;
#pragma GCC unroll 8
  for (int i = 0; i < NB; ++i) {
    acc[i] = ba ? load_vec<V>(ba + ph * W) : V{};
    xp[i] = xr + r.vbase[v0 + i];
    wp[i] = wa + ph * r.ntaps * W;
    lanes[i] = Lanes<T, W>(r.idx + ph * W);
    if (++ph == r.phases) ph = 0;
  }
  for (int64_t t = 0; t < r.ntaps; ++t) {
    const int64_t off = r.tap_off[t];
#pragma GCC unroll 8
    for (int i = 0; i < NB; ++i) acc[i] += gather<T, W, G>(xp[i] + off, lanes[i]) * load_vec<V>(wp[i] + t * W);
  }
#pragma GCC unroll 8
  for (int i = 0; i < NB; ++i) {
    if (relu) acc[i] = acc[i] < V{} ? V{} : acc[i];  // NaN stays NaN, as in the reference
    T* op = orow + (v0 + i) * W;
    const int64_t left = r.len - (v0 + i) * W;
    if (left >= W) {
      store_vec(op, acc[i]);
    } else {
      store_first(op, acc[i], left);
    }
  }
}

// Row by row, NB vectors at a time; a row's last group is moved back to end at its last vector (recomputing a
// few vectors, whose stores are idempotent) rather than run its rest one vector at a time.
template <typename T, int W, Gather G>
void fwd_rows(const DirectRows<T>& rows, const T* wtab, const T* btab, bool relu, T* out) {
  constexpr int NB = 4;  // independent accumulators: hides the FMA latency
  const DirectRows<T> r = rows;  // a local copy: the output stores cannot alias it, so its fields stay in registers
  const int64_t nvec = (r.len + W - 1) / W, table = r.phases * r.ntaps * W;
  for (int64_t a = 0; a < r.outer; ++a) {
    const T* wa = wtab + a * table;
    const T* ba = btab ? btab + a * r.phases * W : nullptr;
    for (int64_t b = 0; b < r.inner; ++b) {
      const T* xr = r.x + b * r.x_step;
      T* orow = out + a * r.out_outer + b * r.out_inner;
      if (nvec < NB) {
        for (int64_t v = 0; v < nvec; ++v) fwd_vectors<T, W, G, 1>(r, xr, wa, ba, v, v % r.phases, relu, orow);
        continue;
      }
      int64_t v = 0, ph = 0;
      for (; v + NB <= nvec; v += NB) {
        fwd_vectors<T, W, G, NB>(r, xr, wa, ba, v, ph, relu, orow);
        ph = (ph + NB) % r.phases;
      }
      if (v < nvec) fwd_vectors<T, W, G, NB>(r, xr, wa, ba, nvec - NB, (nvec - NB) % r.phases, relu, orow);
    }
  }
}

// TB taps from t of weight table (a, phase): sums gather * gy over the phase's vectors of every row b; with BIAS
// also the gy vectors themselves into bias (the bias gradient: a tap whose input is 1), in the same pass.
template <typename T, int W, Gather G, int TB, bool BIAS>
__attribute__((always_inline)) inline void wgrad_taps(const DirectRows<T>& r, int64_t a, int64_t phase, int64_t t,
                                                      const T* gy, T* acc, T* bias) {
  using V = typename RowVec<T, W>::V;
  const Lanes<T, W> lanes(r.idx + phase * W);
  const int64_t nvec = (r.len + W - 1) / W, full = r.len / W;
  int64_t off[TB];
  V sum[TB], gsum{};
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
      if (BIAS) gsum += gv;
#pragma GCC unroll 4
      for (int b = 0; b < TB; ++b) sum[b] += gather<T, W, G>(x + r.vbase[v] + off[b], lanes) * gv;
    }
    if (v < nvec) {  // the row's partial last vector, zero-padded: its extra lanes add nothing
      T tail[W] = {};
      std::memcpy(tail, g + v * W, (r.len - v * W) * sizeof(T));
      const V gv = load_vec<V>(tail);
      if (BIAS) gsum += gv;
      for (int b = 0; b < TB; ++b) sum[b] += gather<T, W, G>(x + r.vbase[v] + off[b], lanes) * gv;
    }
  }
  for (int b = 0; b < TB; ++b) {
    T* dst = acc + ((a * r.phases + phase) * r.ntaps + t + b) * W;
    store_vec(dst, load_vec<V>(dst) + sum[b]);
  }
  if (BIAS) {
    T* dst = bias + (a * r.phases + phase) * W;
    store_vec(dst, load_vec<V>(dst) + gsum);
  }
}

template <typename T, int W, Gather G>
void wgrad_rows(const DirectRows<T>& rows, const T* gy, T* acc, T* bias) {
  constexpr int TB = 4;  // taps per pass over the rows: TB accumulators share each gy load
  const DirectRows<T> r = rows;  // a local copy: the accumulator stores cannot alias it
  for (int64_t a = 0; a < r.outer; ++a)
    for (int64_t phase = 0; phase < r.phases; ++phase) {
      int64_t t = 0;
      if (bias) {  // the first pass also sums the bias gradient
        if (r.ntaps >= TB) {
          wgrad_taps<T, W, G, TB, true>(r, a, phase, 0, gy, acc, bias);
          t = TB;
        } else {
          wgrad_taps<T, W, G, 1, true>(r, a, phase, 0, gy, acc, bias);
          t = 1;
        }
      }
      for (; t + TB <= r.ntaps; t += TB) wgrad_taps<T, W, G, TB, false>(r, a, phase, t, gy, acc, nullptr);
      for (; t < r.ntaps; ++t) wgrad_taps<T, W, G, 1, false>(r, a, phase, t, gy, acc, nullptr);
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
void direct_wgrad(const DirectRows<T>& r, const T* gy, T* acc, T* bias) {
  switch (r.gather) {
    case Gather::Contiguous: return wgrad_rows<T, W, Gather::Contiguous>(r, gy, acc, bias);
    case Gather::Broadcast: return wgrad_rows<T, W, Gather::Broadcast>(r, gy, acc, bias);
    case Gather::Permute: return wgrad_rows<T, W, Gather::Permute>(r, gy, acc, bias);
    case Gather::Scalar: return wgrad_rows<T, W, Gather::Scalar>(r, gy, acc, bias);
  }
}

template <typename T, int W>
DirectKernel<T> direct_kernel() {
  return {direct_fwd<T, W>, direct_wgrad<T, W>, W};
}

}  // namespace
}  // namespace fastconv
