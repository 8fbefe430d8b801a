// Buffers kept between calls, per calling thread, for a call's large buffers (the slots below: layout copies, partial
// sums, packed weights, Winograd tile blocks): fresh memory on every call costs a first-touch page fault per 4 KiB,
// as much time again as a copy into it (a 6 MB ResNet activation: ~1.5 ms). A call's calling thread owns its
// buffers and may hand them to its worker threads; the slots that one call uses at the same time must differ.
// Worker threads keep their own (the Row* slots: per-thread buffers of the direct bands), which for small layers
// saves an allocation and, for std::vector, a zero fill per thread and call (LeNet's 18 KB bands).
// Requests larger than KEEP_BYTES (256 MiB) get a fresh buffer, freed when the call ends.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace fastconv {

enum class Scratch : int {
  LayoutIn,       // NHWC copies of x (Winograd NCHW, space to depth, NCHW weight gradients)
  LayoutOut,      // NHWC copies of y or gy
  Reordered,      // a weight gradient in another layout
  Partials,       // the weight gradient's partial sums
  PackedWeights,  // weights packed for the GEMM (or Winograd-transformed) once per call
  TileInputs,     // Winograd's transformed input tiles of one block
  TileProducts,   // Winograd's 36 GEMM results of one block
  RowInput,       // per thread: a direct band's input rows (conv2d_direct.cpp)
  RowPlanes,      // per thread: a direct band's shifted planes
  RowBand,        // per thread: a direct band of y or gy in the rows' layout, where it is transposed
  ColBlock,       // per thread: a block of the GEMM input gradient's Col (conv2d_bwd_data.cpp)
  ColGy,          // per thread: that block's gy in NCHW, for NHWC layers
  ColGx,          // per thread: an image's gx planes in NCHW, for NHWC layers
  Count
};

// 64-byte aligned memory (free with std::free); from 2 MiB, 2 MiB aligned and marked for transparent huge pages
// where the kernel has them (Linux "madvise" mode gives them only to marked memory): a kept buffer of tens of MB
// (the 36 x C x K Winograd weight-gradient sums: 38 MB at 512 channels) otherwise spans thousands of 4 KiB pages.
inline void* huge_page_alloc(size_t bytes) {
  constexpr size_t HUGE = size_t(2) << 20;
  if (bytes < HUGE) return std::aligned_alloc(64, bytes);
  void* p = std::aligned_alloc(HUGE, (bytes + HUGE - 1) / HUGE * HUGE);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (p) madvise(p, (bytes + HUGE - 1) / HUGE * HUGE, MADV_HUGEPAGE);  // advice only: failure changes nothing
#endif
  return p;
}

// The calling thread's kept buffer of one slot, at least `bytes` long (a multiple of 64), or null where the
// request is larger than what is kept (the caller then owns a fresh one).
inline void* kept_buffer(Scratch slot, size_t bytes) {
  constexpr size_t KEEP_BYTES = size_t(256) << 20;
  struct Slots {
    void* p[static_cast<int>(Scratch::Count)] = {};
    size_t bytes[static_cast<int>(Scratch::Count)] = {};
    ~Slots() {
      for (void* q : p) std::free(q);
    }
  };
  thread_local Slots kept;
  if (bytes > KEEP_BYTES) return nullptr;
  const int i = static_cast<int>(slot);
  if (kept.bytes[i] < bytes) {
    std::free(kept.p[i]);
    kept.bytes[i] = 0;
    kept.p[i] = huge_page_alloc(bytes);
    if (!kept.p[i]) throw std::bad_alloc();
    kept.bytes[i] = bytes;
  }
  return kept.p[i];
}

template <typename T>
class ScratchBuffer {
 public:
  ScratchBuffer(Scratch slot, int64_t n) {
    const size_t bytes = (static_cast<size_t>(n > 0 ? n : 1) * sizeof(T) + 63) / 64 * 64;
    p_ = kept_buffer(slot, bytes);
    if (!p_) {
      p_ = owned_ = std::aligned_alloc(64, bytes);
      if (!p_) throw std::bad_alloc();
    }
  }
  ~ScratchBuffer() { std::free(owned_); }
  ScratchBuffer(const ScratchBuffer&) = delete;
  ScratchBuffer& operator=(const ScratchBuffer&) = delete;
  T* get() const { return static_cast<T*>(p_); }

 private:
  void* p_ = nullptr;
  void* owned_ = nullptr;
};

}  // namespace fastconv
