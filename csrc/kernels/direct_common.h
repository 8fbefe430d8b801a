// What the direct kernels (direct_rows.h, direct_sweep.h) share: their vector type, and how a row's output
// vector is stored. Internal linkage, as everything compiled once per ISA (see gemm_tile.h).
#pragma once
#include <cstdint>

#include "kernels/vector_io.h"

namespace fastconv {
namespace {

template <typename T, int W>
struct RowVec {
  typedef T V __attribute__((vector_size(W * sizeof(T))));
  typedef typename LaneIndex<T>::type I __attribute__((vector_size(W * sizeof(T))));
};

// parallel.h's ceil_div, with this header's internal linkage: an inline function with external linkage compiled
// under each ISA's flags may be linked into the other ISAs' kernels.
inline int64_t div_up(int64_t a, int64_t b) { return (a + b - 1) / b; }

// One output vector: relu where asked (NaN stays NaN, as in the reference), then all lanes or the first `left`.
template <typename T, typename V>
__attribute__((always_inline)) inline void store_output(T* op, V acc, int64_t left, bool relu) {
  if (relu) acc = acc < V{} ? V{} : acc;
  if (left >= int64_t(sizeof(V) / sizeof(T))) {
    store_vec(op, acc);
  } else {
    store_first(op, acc, left);
  }
}

}  // namespace
}  // namespace fastconv
