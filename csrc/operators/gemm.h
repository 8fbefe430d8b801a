// BLIS-style GEMM driver for one work unit: C[M x N] (+)= A[M x K] * B[K x N], with A and B read through views
// (a plain matrix, or the convolution's patch matrix without materializing it) and packed block by block.
// Loop order (outer to inner): jc over N by NC, pc over K by KC (pack B), ic over M by MC (pack A),
// jr over NR columns, ir over MR rows -> microkernel. Edge tiles go through a small scratch tile.
#pragma once
#include <algorithm>
#include <cstdlib>
#include <memory>

#include "fastconv/kernel_table.h"

namespace fastconv {

// Row-major or strided matrix: element (i, j) at p[i * rs + j * cs].
template <typename T>
struct MatrixView {
  const T* p;
  int64_t rs, cs;
  T at(int64_t i, int64_t j) const { return p[i * rs + j * cs]; }
};

// The same view with rows and columns swapped.
template <class View>
struct Transposed {
  View v;
  auto at(int64_t i, int64_t j) const { return v.at(j, i); }
};

// Cache-line aligned scratch owned by one thread of one call.
template <typename T>
class AlignedBuffer {
 public:
  explicit AlignedBuffer(int64_t n) : p_(static_cast<T*>(std::aligned_alloc(64, bytes(n)))) {
    if (!p_) throw std::bad_alloc();
  }
  T* get() const { return p_.get(); }

 private:
  static size_t bytes(int64_t n) { return (static_cast<size_t>(std::max<int64_t>(n, 1)) * sizeof(T) + 63) / 64 * 64; }
  struct Free {
    void operator()(T* p) const { std::free(p); }
  };
  std::unique_ptr<T, Free> p_;
};

// Packing buffers for one thread: an A block, a B block and one edge tile, sized for GEMMs of at most M x N x K
// (small convolutions then touch kilobytes, not the full cache blocks).
template <typename T>
struct GemmWorkspace {
  GemmWorkspace(const GemmKernel<T>& kr, int64_t M, int64_t N, int64_t K)
      : a(round_up(std::min<int64_t>(kr.mc, M), kr.mr) * std::min<int64_t>(kr.kc, K)),
        b(round_up(std::min<int64_t>(kr.nc, N), kr.nr) * std::min<int64_t>(kr.kc, K)),
        tile(int64_t(kr.mr) * kr.nr) {}
  AlignedBuffer<T> a, b, tile;

 private:
  static int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }
};

// A rows [i0, i0+mc) x columns [p0, p0+kc) -> row panels of mr: panel r holds kc steps of mr values.
// Rows past mc are zero so the microkernel never needs a row tail.
template <typename T, class View>
void pack_a(const View& a, int64_t i0, int64_t mc, int64_t p0, int64_t kc, int mr, T* dst) {
  for (int64_t ir = 0; ir < mc; ir += mr) {
    const int64_t m = std::min<int64_t>(mr, mc - ir);
    for (int64_t p = 0; p < kc; ++p) {
      for (int64_t i = 0; i < m; ++i) dst[i] = a.at(i0 + ir + i, p0 + p);
      for (int64_t i = m; i < mr; ++i) dst[i] = T(0);
      dst += mr;
    }
  }
}

// B rows [p0, p0+kc) x columns [j0, j0+nc) -> column panels of nr: panel c holds kc steps of nr values.
template <typename T, class View>
void pack_b(const View& b, int64_t p0, int64_t kc, int64_t j0, int64_t nc, int nr, T* dst) {
  for (int64_t jr = 0; jr < nc; jr += nr) {
    const int64_t n = std::min<int64_t>(nr, nc - jr);
    for (int64_t p = 0; p < kc; ++p) {
      for (int64_t j = 0; j < n; ++j) dst[j] = b.at(p0 + p, j0 + jr + j);
      for (int64_t j = n; j < nr; ++j) dst[j] = T(0);
      dst += nr;
    }
  }
}

// C[M x N] = (accumulate ? C : 0) + A[M x K] * B[K x N] on the calling thread. C is row-major with ldc.
template <typename T, class ViewA, class ViewB>
void gemm(const GemmKernel<T>& kr, int64_t M, int64_t N, int64_t K, const ViewA& a, const ViewB& b, T* c,
          int64_t ldc, bool accumulate, GemmWorkspace<T>& ws) {
  const int mr = kr.mr, nr = kr.nr;
  for (int64_t jc = 0; jc < N; jc += kr.nc) {
    const int64_t nb = std::min<int64_t>(kr.nc, N - jc);
    for (int64_t pc = 0; pc < K; pc += kr.kc) {
      const int64_t kb = std::min<int64_t>(kr.kc, K - pc);
      const bool acc = accumulate || pc > 0;
      pack_b(b, pc, kb, jc, nb, nr, ws.b.get());
      for (int64_t ic = 0; ic < M; ic += kr.mc) {
        const int64_t mb = std::min<int64_t>(kr.mc, M - ic);
        pack_a(a, ic, mb, pc, kb, mr, ws.a.get());
        for (int64_t jr = 0; jr < nb; jr += nr) {
          const int64_t n = std::min<int64_t>(nr, nb - jr);
          const T* bp = ws.b.get() + jr * kb;
          for (int64_t ir = 0; ir < mb; ir += mr) {
            const int64_t m = std::min<int64_t>(mr, mb - ir);
            const T* ap = ws.a.get() + ir * kb;
            T* ct = c + (ic + ir) * ldc + jc + jr;
            if (m == mr && n == nr) {
              kr.run(kb, ap, bp, ct, ldc, acc);
              continue;
            }
            T* tile = ws.tile.get();
            kr.run(kb, ap, bp, tile, nr, false);
            for (int64_t i = 0; i < m; ++i) {
              T* crow = ct + i * ldc;
              const T* trow = tile + i * nr;
              if (acc) {
                for (int64_t j = 0; j < n; ++j) crow[j] += trow[j];
              } else {
                for (int64_t j = 0; j < n; ++j) crow[j] = trow[j];
              }
            }
          }
        }
      }
    }
  }
}

}  // namespace fastconv
