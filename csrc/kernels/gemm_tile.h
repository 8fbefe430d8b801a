// The broadcast-FMA outer product behind every GEMM microkernel: acc[MR][NV vectors] += a[i] * b[0:NR] per k step.
// Written once with GCC vector extensions; each kernels/<isa>/ file instantiates it with its own vector width
// and tile and is compiled with its own -m flags, so the same source becomes SSE2, AVX2+FMA or AVX-512 code.
// Everything here has internal linkage: a copy compiled with -mavx512f must never be linked into another ISA's path.
#pragma once
#include <cstdint>
#include <cstring>

#include "fastconv/kernel_table.h"
#include "kernels/vector_io.h"

namespace fastconv {
namespace {

// C[MR x W*NV] (+)= A[MR x k] * B[k x W*NV], then c's epilogue; a_at(p, i) reads A, and step(p) runs at the start
// of step p; b: k steps of W*NV values. acc lives in MR*NV vector registers; the tile sizes of each ISA are chosen
// so that acc + NV loads + 1 broadcast fit its register file.
template <typename T, int W, int MR, int NV, class AAt, class Step>
inline void gemm_tile_body(int64_t k, AAt a_at, Step step, const T* __restrict b, const GemmTileC<T>& c) {
  typedef typename SimdVec<T, W>::type V;
  constexpr int NR = W * NV;
  V acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 16
    for (int j = 0; j < NV; ++j) acc[i][j] = V{};

  for (int64_t p = 0; p < k; ++p) {
    step(p);
    V bv[NV];
#pragma GCC unroll 16
    for (int j = 0; j < NV; ++j) std::memcpy(&bv[j], b + p * NR + j * W, sizeof(V));
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const T ai = a_at(p, i);
#pragma GCC unroll 16
      for (int j = 0; j < NV; ++j) acc[i][j] += ai * bv[j];
    }
  }

  T* __restrict cp = c.p;
  const int64_t ld = c.ld;
  if (c.accumulate) {
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 16
      for (int j = 0; j < NV; ++j) {
        V old;
        std::memcpy(&old, cp + i * ld + j * W, sizeof(V));
        acc[i][j] += old;
      }
  }
  const GemmEpilogue<T>& e = c.epilogue;
  if (e.bias) {
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 16
      for (int j = 0; j < NV; ++j) {
        V bias;
        if (e.bias_by_row) bias = V{} + e.bias[i];
        else std::memcpy(&bias, e.bias + j * W, sizeof(V));
        acc[i][j] += bias;
      }
  }
  if (e.relu) {
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 16
      for (int j = 0; j < NV; ++j) acc[i][j] = acc[i][j] < V{} ? V{} : acc[i][j];
  }
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 16
    for (int j = 0; j < NV; ++j) std::memcpy(cp + i * ld + j * W, &acc[i][j], sizeof(V));
}

// The microkernel behind a GemmUkernel entry (GemmTileA in kernel_table.h): one specialization per way A is laid
// out, so that each inner loop addresses A with a fixed pattern.
template <typename T, int W, int MR, int NV>
inline void gemm_tile(int64_t k, const GemmTileA<T>& a, const T* __restrict b, const GemmTileC<T>& c) {
  const T* __restrict ap = a.p;
  const auto no_step = [](int64_t) {};
  if (a.row != 1) {
    const int64_t row = a.row;
    gemm_tile_body<T, W, MR, NV>(k, [ap, row](int64_t p, int i) { return ap[i * row + p]; }, no_step, b, c);
    return;
  }
  if (a.step == MR && !a.prefetch) {  // packed: the step a constant, as the compiler's unrolled loop wants it
    gemm_tile_body<T, W, MR, NV>(k, [ap](int64_t p, int i) { return ap[p * MR + i]; }, no_step, b, c);
    return;
  }
  const int64_t step = a.step;
  const auto by_steps = [ap, step](int64_t p, int i) { return ap[p * step + i]; };
  if (!a.prefetch) return gemm_tile_body<T, W, MR, NV>(k, by_steps, no_step, b, c);
  const char* pf = a.prefetch;
  const int64_t pf_step = a.prefetch_step;
  const auto prefetch = [pf, pf_step](int64_t p) { __builtin_prefetch(pf + p * pf_step, 0, 2); };
  gemm_tile_body<T, W, MR, NV>(k, by_steps, prefetch, b, c);
}

}  // namespace
}  // namespace fastconv
