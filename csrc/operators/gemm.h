// BLIS-style GEMM driver for one work unit: C[M x N] (+)= A[M x K] * B[K x N], with A and B read through views
// (a plain matrix, or the convolution's patch matrix without materializing it) and packed block by block.
// Loop order (outer to inner): jc over N by NC, pc over K by KC (pack B), ic over M by MC (pack A),
// jr over NR columns, ir over MR rows -> microkernel. Edge tiles go through a small scratch tile.
#pragma once
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <type_traits>

#include "fastconv/kernel_table.h"
#include "fastconv/parallel.h"

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

// A matrix whose columns lie contiguously, columns ld apart: element (i, p) at p[i + p * ld]. As gemm's A (x^T of
// an NHWC 1x1 layer's weight gradient: row = input channel, step = pixel), the microkernel reads its steps in place
// and prefetches the next block: packing it would copy all of x once more (25% of that pass's time).
template <typename T>
struct StepMajor {
  const T* p;
  int64_t ld;
  T at(int64_t i, int64_t j) const { return p[i + j * ld]; }
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

// Packing buffers for one thread: an A block, a B block and one edge tile (with its share of a bias), sized for
// GEMMs of at most M x N x K (small convolutions then touch kilobytes, not the full cache blocks).
template <typename T>
struct GemmWorkspace {
  GemmWorkspace(const GemmKernel<T>& kr, int64_t M, int64_t N, int64_t K)
      : a(round_up(std::min<int64_t>(kr.mc, M), kr.mr) * std::min<int64_t>(kr.kc, K)),
        b(round_up(std::min<int64_t>(kr.nc, N), kr.nr) * std::min<int64_t>(kr.kc, K)),
        tile(int64_t(kr.mr) * kr.nr),
        tile_bias(std::max(kr.mr, kr.nr)) {}
  AlignedBuffer<T> a, b, tile, tile_bias;

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

// dst[0:mr] = src[0:mr], with the common panel heights and widths known to the compiler (a few vector moves, no call).
template <typename T>
inline void copy_panel_step(const T* src, T* dst, int mr) {
  switch (mr) {
    case 4: std::memcpy(dst, src, 4 * sizeof(T)); return;
    case 6: std::memcpy(dst, src, 6 * sizeof(T)); return;
    case 8: std::memcpy(dst, src, 8 * sizeof(T)); return;
    case 12: std::memcpy(dst, src, 12 * sizeof(T)); return;
    case 16: std::memcpy(dst, src, 16 * sizeof(T)); return;
    case 32: std::memcpy(dst, src, 32 * sizeof(T)); return;
    default: std::copy_n(src, mr, dst);
  }
}

// Plain matrices whose panel steps are contiguous in memory (A down its rows: rs == 1; B along its columns:
// cs == 1) are packed with one copy per step; the element-wise packers above cannot know the stride is 1.
// (Partial steps are element loops that GCC must not turn into memmove/memset calls: a dense layer's 10 of 16
// columns per step paid two library calls per step.)
template <typename T>
__attribute__((optimize("no-tree-loop-distribute-patterns"))) void pack_contiguous_steps(
    const T* src, int64_t step_stride, int64_t len, int64_t steps, int width, T* dst) {
  for (int64_t p = 0; p < steps; ++p, src += step_stride, dst += width) {
    if (len == width) {
      copy_panel_step(src, dst, width);
      continue;
    }
    for (int64_t j = 0; j < len; ++j) dst[j] = src[j];
    for (int64_t j = len; j < width; ++j) dst[j] = T(0);
  }
}

template <typename T>
void pack_a(const MatrixView<T>& a, int64_t i0, int64_t mc, int64_t p0, int64_t kc, int mr, T* dst) {
  if (a.rs != 1) return pack_a<T, MatrixView<T>>(a, i0, mc, p0, kc, mr, dst);
  for (int64_t ir = 0; ir < mc; ir += mr, dst += kc * mr)
    pack_contiguous_steps(a.p + (i0 + ir) + p0 * a.cs, a.cs, std::min<int64_t>(mr, mc - ir), kc, mr, dst);
}

template <typename T>
void pack_a(const Transposed<MatrixView<T>>& a, int64_t i0, int64_t mc, int64_t p0, int64_t kc, int mr, T* dst) {
  if (a.v.cs != 1) return pack_a<T, Transposed<MatrixView<T>>>(a, i0, mc, p0, kc, mr, dst);
  for (int64_t ir = 0; ir < mc; ir += mr, dst += kc * mr)
    pack_contiguous_steps(a.v.p + (i0 + ir) + p0 * a.v.rs, a.v.rs, std::min<int64_t>(mr, mc - ir), kc, mr, dst);
}

template <typename T>
void pack_a(const StepMajor<T>& a, int64_t i0, int64_t mc, int64_t p0, int64_t kc, int mr, T* dst) {
  pack_a(Transposed<MatrixView<T>>{{a.p, a.ld, 1}}, i0, mc, p0, kc, mr, dst);  // the same layout, viewed as x^T
}

template <typename T>
void pack_b(const MatrixView<T>& b, int64_t p0, int64_t kc, int64_t j0, int64_t nc, int nr, T* dst) {
  if (b.cs != 1) return pack_b<T, MatrixView<T>>(b, p0, kc, j0, nc, nr, dst);
  for (int64_t jr = 0; jr < nc; jr += nr, dst += kc * nr)
    pack_contiguous_steps(b.p + p0 * b.rs + (j0 + jr), b.rs, std::min<int64_t>(nr, nc - jr), kc, nr, dst);
}

template <typename T>
void pack_b(const Transposed<MatrixView<T>>& b, int64_t p0, int64_t kc, int64_t j0, int64_t nc, int nr, T* dst) {
  if (b.v.rs != 1) return pack_b<T, Transposed<MatrixView<T>>>(b, p0, kc, j0, nc, nr, dst);
  for (int64_t jr = 0; jr < nc; jr += nr, dst += kc * nr)
    pack_contiguous_steps(b.v.p + p0 * b.v.cs + (j0 + jr), b.v.cs, std::min<int64_t>(nr, nc - jr), kc, nr, dst);
}

// A matrix packed once for every work unit of a call (the weights): for each KC block of K, all rows in panels
// of mr (A) or all columns in panels of nr (B). Block (i0, p0) then starts at padded * p0 + i0 * kb. A unit may
// use the rows (A) or columns (B) from `first` on, a multiple of the panel width.
template <typename T>
struct Prepacked {
  const T* data;
  int64_t padded;  // rows (A) or columns (B) rounded up to the panel width
  int64_t first = 0;
};

template <class View>
struct is_prepacked : std::false_type {};
template <typename T>
struct is_prepacked<Prepacked<T>> : std::true_type {};

// Packs all of A (M x K, as the A operand) or B (K x N, as the B operand) for gemm; dst holds
// round_up(M, mr) * K or round_up(N, nr) * K elements. Large matrices (a 512-channel 3x3 layer's 9 MB of weights)
// are packed by up to `threads` threads, one KC block each.
constexpr int64_t PARALLEL_PACK_ELEMENTS = 1 << 16;

template <typename T, class View>
Prepacked<T> prepack_a(const GemmKernel<T>& kr, const View& a, int64_t M, int64_t K, T* dst, int threads = 1) {
  const int64_t padded = (M + kr.mr - 1) / kr.mr * kr.mr;
  parallel_for(ceil_div(K, kr.kc), padded * K >= PARALLEL_PACK_ELEMENTS ? threads : 1, [&](int64_t block) {
    const int64_t pc = block * kr.kc;
    pack_a(a, 0, M, pc, std::min<int64_t>(kr.kc, K - pc), kr.mr, dst + padded * pc);
  });
  return {dst, padded};
}

template <typename T, class View>
Prepacked<T> prepack_b(const GemmKernel<T>& kr, const View& b, int64_t K, int64_t N, T* dst, int threads = 1) {
  const int64_t padded = (N + kr.nr - 1) / kr.nr * kr.nr;
  parallel_for(ceil_div(K, kr.kc), padded * K >= PARALLEL_PACK_ELEMENTS ? threads : 1, [&](int64_t block) {
    const int64_t pc = block * kr.kc;
    pack_b(b, pc, std::min<int64_t>(kr.kc, K - pc), 0, N, kr.nr, dst + padded * pc);
  });
  return {dst, padded};
}

// Rows [r0, ...) of a view: lets a work unit own a band of a GEMM's rows. Packing forwards to the view's own
// packer with the rows shifted, so patch views keep their fast packers.
template <class View>
struct RowOffset {
  View v;
  int64_t r0;
  auto at(int64_t i, int64_t j) const { return v.at(r0 + i, j); }
};

template <typename T, class View>
void pack_a(const RowOffset<View>& a, int64_t i0, int64_t mc, int64_t p0, int64_t kc, int mr, T* dst) {
  pack_a(a.v, a.r0 + i0, mc, p0, kc, mr, dst);
}

// The row stride of an A view the microkernel can read in place (unit stride along K), or 0 if it must be packed.
template <typename T>
int64_t in_place_rows(const MatrixView<T>& a) { return a.cs == 1 && a.rs > 0 ? a.rs : 0; }
template <typename T>
int64_t in_place_rows(const Transposed<MatrixView<T>>& a) { return a.v.rs == 1 && a.v.cs > 0 ? a.v.cs : 0; }
template <class View>
int64_t in_place_rows(const RowOffset<View>& a) { return in_place_rows(a.v); }
template <class View>
int64_t in_place_rows(const View&) { return 0; }

template <typename T>
const T* row_at(const MatrixView<T>& a, int64_t i, int64_t p) { return a.p + i * a.rs + p; }
template <typename T>
const T* row_at(const Transposed<MatrixView<T>>& a, int64_t i, int64_t p) { return a.v.p + i * a.v.cs + p; }
template <typename T, class View>
const T* row_at(const RowOffset<View>& a, int64_t i, int64_t p) { return row_at<T>(a.v, a.r0 + i, p); }
template <typename T, class View>
const T* row_at(const View&, int64_t, int64_t) { return nullptr; }
// Where a StepMajor A's row i meets step p.
template <typename T>
const T* step_at(const StepMajor<T>& a, int64_t i, int64_t p) { return a.p + i + p * a.ld; }
template <typename T, class View>
const T* step_at(const View&, int64_t, int64_t) { return nullptr; }

// A B whose rows are already one packed column panel (nr values each, one after another: an NHWC gy of nr
// channels) is read in place rather than copied.
template <typename T>
bool is_one_panel(const MatrixView<T>& b, int64_t N, int nr) { return b.cs == 1 && b.rs == nr && N == nr; }
template <class View>
bool is_one_panel(const View&, int64_t, int) { return false; }

// An A read in place is re-read from its strided rows by every column panel; past a few panels a packed copy
// (contiguous, one cache-friendly stream) is faster: NHWC 3x3 backward-data (N = taps, 18+ panels) ran 25% slower
// in place, 1x1 layers and dense layers (<= 8 panels) up to 40% faster.
constexpr int64_t IN_PLACE_MAX_PANELS = 8;
constexpr int64_t L1_B_PANEL = 32 << 10;

// C[M x N] = (accumulate ? C : 0) + A[M x K] * B[K x N] (then the epilogue, which each register tile applies
// before its last store: as a pass over the whole of C afterwards it re-read C from memory, 10% of a 1x1 layer's
// time) on the calling thread. C is row-major
// with ldc. A or B may be Prepacked (then it is read in place, not packed again). An A with unit stride along K is
// read in place by the microkernel when N spans few column panels (packing it would copy as much as the product
// reads); a StepMajor A always is, as one block of rows, each tile prefetching its share of the next block of steps.
template <typename T, class ViewA, class ViewB>
void gemm(const GemmKernel<T>& kr, int64_t M, int64_t N, int64_t K, const ViewA& a, const ViewB& b, T* c,
          int64_t ldc, bool accumulate, GemmWorkspace<T>& ws, const GemmEpilogue<T>& epilogue = {}) {
  if (M <= 0 || N <= 0) return;
  const int mr = kr.mr, nr = kr.nr;
  constexpr bool by_steps = std::is_same_v<ViewA, StepMajor<T>>;
  // Row blocks of equal size (whole panels, at most MC): 196 rows as 192 + 4 ran the 4-row block over every B
  // panel for a fraction of the work. A StepMajor A is not packed, so there is no A block to keep in L2.
  const int64_t mblocks = by_steps ? 1 : ceil_div(M, kr.mc), mcb = ceil_div(ceil_div(M, mblocks), mr) * mr;
  // A StepMajor A streams through L1, so the B panel it meets must stay there: at most L1_B_PANEL bytes (the 6x64
  // tile's 1x1 256 -> 64 weight gradient: 2.33 ms at 128 steps, 2.55 ms at 256).
  const int64_t kc = by_steps && !is_prepacked<ViewB>::value
                         ? std::clamp<int64_t>(L1_B_PANEL / (nr * int64_t(sizeof(T))), 1, kr.kc)
                         : kr.kc;
  for (int64_t jc = 0; jc < N; jc += kr.nc) {
    const int64_t nb = std::min<int64_t>(kr.nc, N - jc);
    for (int64_t pc = 0; pc < K; pc += kc) {
      const int64_t kb = std::min<int64_t>(kc, K - pc);
      const bool acc = accumulate || pc > 0, last = pc + kb >= K;
      const T* b_block;
      if constexpr (is_prepacked<ViewB>::value) {
        b_block = b.data + b.padded * pc + (b.first + jc) * kb;
      } else {
        if (is_one_panel(b, N, nr)) {
          b_block = row_at<T>(b, pc, 0);
        } else {
          pack_b(b, pc, kb, jc, nb, nr, ws.b.get());
          b_block = ws.b.get();
        }
      }
      // A StepMajor A's next block of steps (whole rows of memory) is prefetched while this one is multiplied:
      // each full row panel's tile fetches an equal slice of it, spread over its kb steps.
      const char* next = nullptr;
      int64_t slice = 0, pf_step = 0;
      if constexpr (by_steps) {
        const int64_t kn = std::min<int64_t>(kc, K - pc - kb);
        if (kn > 0 && M >= mr) {
          next = reinterpret_cast<const char*>(step_at<T>(a, 0, pc + kb));
          slice = ceil_div(int64_t(sizeof(T)) * ((kn - 1) * a.ld + M), M / mr);
          pf_step = ceil_div(slice, kb);
        }
      }
      for (int64_t ic = 0; ic < M; ic += mcb) {
        const int64_t mb = std::min<int64_t>(mcb, M - ic);
        const T* a_block;  // packed panels of rows [ic + packed_from, ic + mb)
        int64_t lda = 0, step_ld = 0, packed_from = 0;
        if constexpr (is_prepacked<ViewA>::value) {
          a_block = a.data + a.padded * pc + (a.first + ic) * kb;
        } else {
          if constexpr (by_steps) step_ld = a.ld;
          else lda = N <= IN_PLACE_MAX_PANELS * nr ? in_place_rows(a) : 0;
          packed_from = lda || step_ld ? mb / mr * mr : 0;  // in place: only a partial last panel is packed
          if (packed_from < mb) pack_a(a, ic + packed_from, mb - packed_from, pc, kb, mr, ws.a.get());
          a_block = ws.a.get();
        }
        for (int64_t jr = 0; jr < nb; jr += nr) {
          const int64_t n = std::min<int64_t>(nr, nb - jr);
          const T* bp = b_block + jr * kb;
          for (int64_t ir = 0; ir < mb; ir += mr) {
            const int64_t m = std::min<int64_t>(mr, mb - ir);
            GemmTileA<T> at{a_block + (ir - packed_from) * kb, 1, mr};
            if (m == mr && lda) {
              at = {row_at<T>(a, ic + ir, pc), lda, 1};
            } else if (m == mr && step_ld) {
              at = {step_at<T>(a, ic + ir, pc), 1, step_ld};
              if (next && jr == 0) at.prefetch = next + (ic + ir) / mr * slice, at.prefetch_step = pf_step;
            }
            T* ct = c + (ic + ir) * ldc + jc + jr;
            GemmTileC<T> tc{ct, ldc, acc};
            if (last) {
              tc.epilogue = epilogue;
              if (epilogue.bias) tc.epilogue.bias += epilogue.bias_by_row ? ic + ir : jc + jr;
            }
            if (m == mr && n == nr) {
              kr.run(kb, at, bp, tc);
              continue;
            }
            // An edge tile runs whole in scratch (C's m x n copied in when it accumulates), then its m x n is copied
            // out; a bias is padded to the tile's width, as the microkernel reads it in whole vectors.
            T* tile = ws.tile.get();
            if (acc)
              for (int64_t i = 0; i < m; ++i) std::copy_n(ct + i * ldc, n, tile + i * nr);
            GemmEpilogue<T>& e = tc.epilogue;
            if (e.bias) {
              const int64_t len = e.bias_by_row ? m : n;
              T* padded = ws.tile_bias.get();
              std::copy_n(e.bias, len, padded);
              std::fill(padded + len, padded + (e.bias_by_row ? mr : nr), T(0));
              e.bias = padded;
            }
            tc.p = tile, tc.ld = nr;
            kr.run(kb, at, bp, tc);
            for (int64_t i = 0; i < m; ++i) std::copy_n(tile + i * nr, n, ct + i * ldc);
          }
        }
      }
    }
  }
}

}  // namespace fastconv
