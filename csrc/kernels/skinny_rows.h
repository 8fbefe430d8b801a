// The skinny products (SkinnyProduct in fastconv/kernel_table.h): output rows of at most NV vectors, a block of RB
// rows held in registers while the reduction streams past, neither operand packed. A blocked GEMM packs both,
// which at a dense layer's sizes (32 x 1014 times 1014 x 10) costs more than the product itself, and its tile
// wastes the lanes past 10 of 16 in every FMA where the columns are that few.
// Written once with GCC vector extensions; each kernels/<isa>/ file instantiates it with its lanes and row blocks
// and is compiled with its own -m flags (internal linkage, as in gemm_tile.h).
#pragma once
#include <algorithm>
#include <cstdint>

#include "fastconv/kernel_table.h"
#include "kernels/gemm_tile.h"
#include "kernels/vector_io.h"

namespace fastconv {
namespace {

// Rows [r0, r0 + n) of the product, n <= RB. A short block repeats its last row in the spare accumulators (same
// loads, results dropped): compile-time register indices without an instantiation per block size. UNIT: a whole
// block (n == RB) of rows that are adjacent values (ar == 1: the weight gradient's x columns), each broadcast at a
// constant offset; otherwise RB row offsets, which spill to the stack.
template <typename T, int W, int NV, int RB, bool UNIT>
__attribute__((noinline)) void skinny_block(const SkinnyProduct<T>& p, int64_t r0, int64_t n) {
  typedef typename SimdVec<T, W>::type V;
  const T* a = p.a + r0 * p.ar;
  int64_t row_off[RB];
  for (int i = 0; i < RB; ++i) row_off[i] = std::min<int64_t>(i, n - 1) * p.ar;
  V acc[RB][NV];
#pragma GCC unroll 16
  for (int v = 0; v < NV; ++v) {
    const V b = p.bias ? load_vec<V>(p.bias + v * W) : V{};
#pragma GCC unroll 16
    for (int i = 0; i < RB; ++i) acc[i][v] = b;
  }
  auto steps = [&](const T* m, int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; ++j, m += p.ldm) {
      V mv[NV];
#pragma GCC unroll 16
      for (int v = 0; v < NV; ++v) mv[v] = load_vec<V>(m + v * W);
      const T* aj = a + j * p.aj;
#pragma GCC unroll 16
      for (int i = 0; i < RB; ++i) {
        const T ai = aj[UNIT ? i : row_off[i]];
#pragma GCC unroll 16
        for (int v = 0; v < NV; ++v) acc[i][v] += ai * mv[v];
      }
    }
  };
  steps(p.m, 0, p.j_safe);
  steps(p.m_tail, p.j_safe, p.J);
#pragma GCC unroll 16
  for (int i = 0; i < RB; ++i) {
    if (i >= n) break;
    T* out = p.out + (r0 + i) * p.ldo;
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) {
      V y = acc[i][v];
      if (p.relu) y = y < V{} ? V{} : y;  // NaN stays NaN, as in the reference
      const int64_t left = p.width - v * W;
      if (left >= W) store_vec(out + v * W, y);
      else store_first(out + v * W, y, left);
    }
  }
}

template <typename T, int W, int NV, int RB>
void skinny_rows(const SkinnyProduct<T>& p) {
  for (int64_t r0 = 0; r0 < p.rows; r0 += RB) {
    const int64_t n = std::min<int64_t>(RB, p.rows - r0);
    if (p.ar == 1 && n == RB) skinny_block<T, W, NV, RB, true>(p, r0, n);
    else skinny_block<T, W, NV, RB, false>(p, r0, n);
  }
}

// RB1 / RB2: rows per block for one / two vectors a row (accumulators + a row of m + a broadcast within the
// register file).
template <typename T, int W, int RB1, int RB2>
void skinny_product(const SkinnyProduct<T>& p) {
  if (p.width <= W) skinny_rows<T, W, 1, RB1>(p);
  else skinny_rows<T, W, 2, RB2>(p);
}

}  // namespace
}  // namespace fastconv
